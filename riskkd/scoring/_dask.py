"""The Dask engine: partitions scored by ``map_partitions`` on a ``distributed`` cluster.

* **parquet**: one partition per chunk of ``chunk_rows`` rows, cut from the files' row
  groups exactly as the local engine cuts them (``dask.dataframe.from_map`` over row
  ranges), so parts, manifest and values equal the local engine's;
  A task reads the whole row groups its rows fall in: write parquet with row groups no
  larger than ``chunk_rows`` for the best speed;
* **CSV**: ``dask.dataframe.read_csv`` in blocks of about ``chunk_rows`` rows, or one
  partition per file when compressed (a block's first row is only known once earlier
  blocks are read, so the manifest's row ranges of CSV parts are filled in at the end).

Each worker writes its parts to the output folder itself (atomically, as the local
engine does); the client records them in the manifest as they finish, so a killed job
resumes. The model is scattered to every worker once, not sent with each partition.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .._dask_client import dask_client
from ._inputs import InputFile, has_rows
from ._job import Job
from ._local import to_pandas
from ._manifest import part_name
from ._parts import score_chunk

_SAMPLE_BYTES = 1 << 20
_META = pd.DataFrame({"record": pd.Series([], dtype=object)})


def read_parquet_rows(spec: tuple[str, int, int, tuple[str, ...]]) -> pd.DataFrame:
    """Rows ``[start, stop)`` of a parquet file's ``columns``, reading only their row groups."""
    path, start, stop, columns = spec
    handle = pq.ParquetFile(path)
    metadata = handle.metadata
    groups, offset, first = [], 0, None
    for i in range(metadata.num_row_groups):
        n = metadata.row_group(i).num_rows
        if offset < stop and offset + n > start:
            groups.append(i)
            first = offset if first is None else first
        offset += n
    table = handle.read_row_groups(groups, columns=list(columns))
    return to_pandas(table.slice(start - first, stop - start).combine_chunks())


def _parquet_partitions(file: InputFile, columns: Sequence[str], chunk_rows: int) -> Any:
    import dask.dataframe as dd

    starts = range(0, file.n_rows, chunk_rows)
    specs = [(str(file.path), s, min(s + chunk_rows, file.n_rows), tuple(columns)) for s in starts]
    meta = to_pandas(file.schema.empty_table().select(list(columns)))
    return dd.from_map(read_parquet_rows, specs, meta=meta, enforce_metadata=False), list(starts)


def _csv_partitions(file: InputFile, columns: Sequence[str], chunk_rows: int) -> Any:
    import dask.dataframe as dd

    # Dask infers the partitions' columns from a sample of the file's first bytes, which
    # must hold the whole header (by default 256 kB, less than a feature-store export's):
    # at most twice each name's bytes (quotes doubled), its quotes and a comma, then rows.
    header_bytes = sum(2 * len(name.encode()) + 3 for name in file.columns)
    if file.path.name.lower().endswith((".csv", ".txt")):
        with open(file.path, "rb") as handle:
            sample = handle.read(header_bytes + _SAMPLE_BYTES).split(b"\n")
        lines = sample[1:-1] or sample[:1]  # header excluded, last (maybe partial) line too
        bytes_per_row = max(1.0, sum(len(line) + 1 for line in lines) / max(len(lines), 1))
        blocksize = max(int(chunk_rows * bytes_per_row), 1 << 16)
    else:
        blocksize = None  # a compressed file cannot be split: one partition per file
    frame = dd.read_csv(
        str(file.path),
        blocksize=blocksize,
        sample=header_bytes + _SAMPLE_BYTES,
        usecols=list(columns),
        dtype=dict.fromkeys(columns, "str"),
        keep_default_na=False,  # only an empty cell is null, as the local engine reads it
        na_values=[""],
    )
    return frame[list(columns)], None


def _score_partition(
    frame: pd.DataFrame,
    model: Any,
    *,
    first_part: int,
    input_file: str,
    row_starts: list[int] | None,
    settings: dict[str, Any],
    id_types: dict[str, pa.DataType] | None = None,
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    chunk = partition_info["number"]
    record = score_chunk(
        frame.reset_index(drop=True),
        model,
        part=part_name(first_part + chunk),
        input_file=input_file,
        chunk=chunk,
        row_start=None if row_starts is None else row_starts[chunk],
        id_types=id_types,
        **settings,
    )
    return pd.DataFrame({"record": [json.dumps(record)]})


def _fill_csv_row_ranges(job: Job) -> None:
    """Row ranges of CSV parts, known once every earlier part of the file is done."""
    by_file: dict[str, list[dict[str, Any]]] = {}
    for record in job.manifest.parts.values():
        by_file.setdefault(record["input"], []).append(record)
    for records in by_file.values():
        start = 0
        for record in sorted(records, key=lambda r: r["chunk"]):
            record["rows"] = [start, start + record["rows_in"]]
            start += record["rows_in"]


def score_dask(job: Job, *, scheduler: str | None, n_workers: int) -> tuple[int, int, int]:
    """Score every partition not already done; return ``(rows read, parts written, skipped)``."""
    import dask
    from distributed import as_completed

    # Partitions reach score_chunk as read, as the local engine's chunks do: Dask's default
    # turns object columns (decimal or date ids) into text.
    with (
        dask.config.set({"dataframe.convert-string": False}),
        dask_client(scheduler, n_workers) as client,
    ):
        # A key of its own (hash=False): scattered by content, two jobs of one model on a
        # shared cluster share the key, and the first job's release can drop the second's
        # copy ("lost dependencies", seen in CI on the tests' shared cluster).
        model = client.scatter(job.model, broadcast=True, hash=False)
        settings = {
            "model_version": job.model_version,
            "id_cols": job.id_cols,
            "output": job.output,
            "fail_fast": job.fail_fast,
        }
        pending, sources, skipped, rows_done, first_part = [], [], 0, 0, 0
        for file in job.files:
            if not has_rows(file):  # no part for an empty file, as on the local engine
                continue
            read = _parquet_partitions if file.kind == "parquet" else _csv_partitions
            frame, row_starts = read(file, job.columns, job.chunk_rows)
            id_types = None  # CSV ids are text, a type pandas keeps
            if file.schema is not None:
                id_types = {name: file.schema.field(name).type for name in job.id_cols}
            scored = frame.map_partitions(
                _score_partition,
                model,
                first_part=first_part,
                input_file=str(file.path),
                row_starts=row_starts,
                settings=settings,
                id_types=id_types,
                meta=_META,
                enforce_metadata=False,
                align_dataframes=False,
            )
            for chunk, partition in enumerate(scored.to_delayed()):
                record = job.manifest.done(part_name(first_part + chunk))
                if record is not None and (record["input"], record["chunk"]) == (
                    str(file.path),
                    chunk,
                ):
                    skipped += 1
                    rows_done += record["rows_in"]
                else:
                    pending.append(partition)
                    sources.append(file)
            first_part += frame.npartitions
        job.progress(rows_done)
        futures = client.compute(pending)
        written = 0
        source = dict(zip((f.key for f in futures), sources))
        try:
            for future in as_completed(futures):
                try:
                    result = future.result()
                except pd.errors.ParserError as error:
                    if "inside string" not in str(error):
                        raise
                    raise ValueError(
                        f"{source[future.key].path} has line breaks inside quoted values, which "
                        "Dask's byte-range partitions of a CSV file cannot split; score it with "
                        "engine='local' or convert it to parquet."
                    ) from error
                record = json.loads(result["record"].iloc[0])
                job.manifest.record(record)
                written += 1
                rows_done += record["rows_in"]
                job.progress(rows_done)
        except BaseException:
            client.cancel(futures)
            raise
        _fill_csv_row_ranges(job)
        # Parquet footers count the input independently of the workers; CSV has no footer.
        recorded = sum(r["rows_in"] for r in job.manifest.parts.values())
        rows_in = job.total_rows if job.total_rows is not None else recorded
        return rows_in, written, skipped
