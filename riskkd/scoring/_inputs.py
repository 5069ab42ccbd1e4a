"""Input files to score, read in chunks of a fixed number of rows with bounded memory.

An input is one CSV or parquet file (see :mod:`riskkd._files`), or a folder of them scored
in name order. A folder is scored whole: a file of another kind in it stops the job, except
names starting with ``.`` or ``_`` (Spark's ``_SUCCESS``, checksums), which are skipped as
Spark and pyarrow skip them. Columns are read by name: the id columns and the model's input
columns, nothing else.

CSV files carry no types, so every column is read as text (an empty cell as null) and
parsed by :mod:`riskkd.scoring._contract`, which reads placeholders such as ``NA`` or
``n/a`` as missing (unless one is a categorical level) and turns a malformed value into a
rejected row rather than a failed job. Parquet columns keep their types.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .._files import FILES_READ, file_kind, is_skipped, open_zip_member

# Codec of each CSV suffix, which is matched ignoring case: pyarrow's own guess from the file
# name is case-sensitive and would read "IN.CSV.GZ" without decompressing it. pyarrow has
# no zip codec: an archive's one member is read through zipfile.
_CSV_CODECS = {".csv": None, ".txt": None, ".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}
# Bytes pyarrow parses per CSV block; chunks are re-cut to exactly ``chunk_rows`` rows.
_CSV_BLOCK_BYTES = 4 << 20
# A quoted value may hold a line break (an address, a free-text note): blocks must not be
# cut inside it.
_CSV_PARSE = pacsv.ParseOptions(newlines_in_values=True)
# Block sizes tried in turn to read a CSV header (a feature-store export can be wide).
_HEADER_BLOCKS = (1 << 16, 1 << 20, 1 << 24, 1 << 28)


@dataclass(frozen=True)
class InputFile:
    """One file to score.

    Parameters
    ----------
    path : Path
    kind : {"csv", "parquet"}
    size : int
        Bytes, recorded in the manifest so that a resumed job can tell the file changed.
    mtime_ns : int
    n_rows : int or None
        Known for parquet (from the footer) and for a CSV file of a header without a
        final line break (0); None for other CSV files.
    columns : tuple of str
        Column names in the file.
    schema : pyarrow.Schema or None
        The Arrow schema of a parquet file (read once, at discovery); None for CSV.
    """

    path: Path
    kind: str
    size: int
    mtime_ns: int
    n_rows: int | None
    columns: tuple[str, ...]
    schema: pa.Schema | None = None

    @property
    def temporal(self) -> tuple[str, ...]:
        """Columns of date, time or duration type (parquet; CSV columns are text)."""
        if self.schema is None:
            return ()
        return tuple(f.name for f in self.schema if pa.types.is_temporal(f.type))

    def identity(self) -> dict[str, object]:
        """What the manifest records to recognise the file on resume."""
        return {"path": str(self.path), "size": self.size, "mtime_ns": self.mtime_ns}


def _csv_stream(path: Path) -> pa.NativeFile:
    """The text of a CSV file, decompressed according to its suffix."""
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return pa.PythonFile(open_zip_member(path), mode="r")
    return pa.input_stream(path, compression=_CSV_CODECS[suffix])


def _unreadable(path: Path, error: OSError) -> ValueError:
    """The error for a CSV file that cannot be read or decompressed (``error``)."""
    codec = _CSV_CODECS.get(path.suffix.lower(), "zip")
    advice = (
        f"its name says {codec}: check that it is complete and {codec}-compressed, or "
        "rename it to what it holds"
        if codec
        else "check that it is readable"
    )
    return ValueError(f"{path} cannot be read ({error}); {advice}.")


def _csv_header(path: Path) -> tuple[tuple[str, ...], int | None]:
    """Column names of a CSV file, and its rows if known from the header alone (else None)."""
    problem = None
    for block in _HEADER_BLOCKS:
        # One thread: the header is parsed from the first block alone, whatever the load.
        options = pacsv.ReadOptions(block_size=block, use_threads=False)
        try:
            with (
                _csv_stream(path) as stream,
                pacsv.open_csv(stream, read_options=options, parse_options=_CSV_PARSE) as reader,
            ):
                return tuple(reader.schema.names), None
        except pa.ArrowInvalid as error:
            problem = error
        with _csv_stream(path) as stream:
            text = stream.read(block + 1)
        if len(text) > block and b"\n" not in text[:block]:
            continue  # a header longer than the block: try a larger one
        if "Empty CSV file or block" not in str(problem):
            break  # a malformed file, not a block too small for its header
        # The whole file, and no line in it: empty, or a header without a final line break
        # (columns and no rows), which pyarrow does not read as a line.
        try:
            header = pacsv.read_csv(
                pa.BufferReader(text + b"\n"), read_options=options, parse_options=_CSV_PARSE
            )
        except pa.ArrowInvalid as error:
            problem = error
            break
        return tuple(header.schema.names), 0
    raise ValueError(f"{path} cannot be read as CSV ({problem}); fix or remove the file.")


def has_rows(file: InputFile) -> bool:
    """Whether the file holds at least one data row (a CSV file may hold only its header)."""
    if file.n_rows is not None:
        return file.n_rows > 0
    try:
        with (
            _csv_stream(file.path) as stream,
            pacsv.open_csv(stream, parse_options=_CSV_PARSE) as reader,
        ):
            return any(batch.num_rows for batch in reader)
    except OSError as error:  # not compressed as its suffix says, or cut short
        raise _unreadable(file.path, error) from error


def _describe(path: Path, kind: str) -> InputFile:
    stat = path.stat()
    schema = None
    if kind == "parquet":
        handle = pq.ParquetFile(path)
        schema = handle.schema_arrow  # top-level columns (not the leaves of nested ones)
        n_rows, columns = handle.metadata.num_rows, tuple(schema.names)
    else:
        try:
            columns, n_rows = _csv_header(path)
        except OSError as error:  # not compressed as its suffix says, or cut short
            raise _unreadable(path, error) from error
    return InputFile(
        path=path,
        kind=kind,
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        n_rows=n_rows,
        columns=columns,
        schema=schema,
    )


def _shown(names: list[str]) -> str:
    return ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")


def discover(source: str | os.PathLike) -> list[InputFile]:
    """The CSV / parquet files of ``source`` (a file or a folder), in name order.

    Parameters
    ----------
    source : str or path-like

    Returns
    -------
    files : list of InputFile
    """
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(
            f"input={str(source)!r} does not exist; give a CSV or parquet file or a folder of them."
        )
    if path.is_file():
        kind = file_kind(path)
        if kind is None:
            raise ValueError(
                f"input={str(source)!r} is neither {FILES_READ}; rename it or convert it."
            )
        return [_describe(path.resolve(), kind)]
    # A folder is scored whole: skipping a file or a subfolder would lose its rows unnoticed
    # (the reconciliation counts the files read).
    entries = sorted(p for p in path.iterdir() if not is_skipped(p.name))
    nested = [p.name for p in entries if p.is_dir()]
    if nested:
        raise ValueError(
            f"input={str(source)!r} holds {len(nested)} subfolder(s) ({_shown(nested)}) the job "
            "does not read: a folder is scored whole, its subfolders (such as a Hive-"
            "partitioned dataset's key=value folders) are not. Score each subfolder, move them "
            "out, or start their names with '_' to have them skipped. Nothing was written."
        )
    files = [(p, file_kind(p)) for p in entries]
    others = [p.name for p, k in files if k is None]
    if others:
        raise ValueError(
            f"input={str(source)!r} holds {len(others)} file(s) the job cannot read "
            f"({_shown(others)}): a folder is scored whole, and its files must be {FILES_READ}. "
            "Convert them, move them out, or start their names with '_' to have them skipped. "
            "Nothing was written."
        )
    if not files:
        raise ValueError(
            f"input={str(source)!r} is a folder without CSV or parquet files; point it at the "
            "files to score."
        )
    kinds = {k for _, k in files}
    if len(kinds) > 1:
        raise ValueError(
            f"input={str(source)!r} mixes CSV and parquet files; score one format per job (their "
            "column types differ)."
        )
    return [_describe(p.resolve(), k) for p, k in files]


def check_columns(
    files: Sequence[InputFile],
    required: Sequence[str],
    id_cols: Sequence[str],
    numeric: Sequence[str] = (),
) -> None:
    """Raise before anything is written if a file lacks a model input or an id column, or
    holds dates or durations in a column the model reads as numbers (``numeric``)."""
    for file in files:
        temporal = [c for c in numeric if c in file.temporal]
        if temporal:
            raise ValueError(
                f"{file.path} holds dates or durations in column(s) {temporal}, which the "
                "model reads as numbers; write them as the numbers the model was fitted on "
                "(e.g. days). Nothing was written."
            )
        twice = sorted({c for c in [*id_cols, *required] if file.columns.count(c) > 1})
        if twice:
            raise ValueError(
                f"{file.path} has column(s) {twice} more than once; which one to read is "
                "ambiguous. Give each column one name. Nothing was written."
            )
        present = set(file.columns)
        absent_ids = [c for c in id_cols if c not in present]
        if absent_ids:
            raise ValueError(
                f"id_cols {absent_ids} are not columns of {file.path}; its columns are "
                f"{list(file.columns)}. Pass id_cols that exist in every input file."
            )
        absent = [c for c in required if c not in present]
        if absent:
            shown = ", ".join(repr(c) for c in absent[:10]) + (" ..." if len(absent) > 10 else "")
            raise ValueError(
                f"{file.path} is missing {len(absent)} column(s) the model was fitted on: {shown}. "
                f"The model needs these {len(required)} columns (any order, extra columns are "
                f"ignored): {list(required)}. Nothing was written."
            )


def _csv_batches(path: Path, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
    rows = 0
    convert = pacsv.ConvertOptions(
        include_columns=list(columns),
        column_types={c: pa.string() for c in columns},
        # Only an empty cell is null: "NA" may be a categorical level (the contract reads
        # the other null markers as missing, except a column's own levels).
        null_values=[""],
        strings_can_be_null=True,
    )
    try:
        with (
            _csv_stream(path) as stream,
            pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
                convert_options=convert,
                parse_options=_CSV_PARSE,
            ) as reader,
        ):
            for batch in reader:
                rows += batch.num_rows
                yield batch
    except (pa.ArrowInvalid, OSError) as error:  # a malformed row, or a file cut short
        raise ValueError(
            f"{path} cannot be read past its first {rows:,} data rows: {error}. Parts scored "
            "before it are kept and recorded as an incomplete job. Fix or re-export the "
            "file, then score into a new output folder (a changed file cannot be resumed)."
        ) from error


def _parquet_batches(
    path: Path, columns: Sequence[str], chunk_rows: int
) -> Iterator[pa.RecordBatch]:
    yield from pq.ParquetFile(path).iter_batches(batch_size=chunk_rows, columns=list(columns))


def iter_chunks(file: InputFile, columns: Sequence[str], chunk_rows: int) -> Iterator[pa.Table]:
    """Tables of exactly ``chunk_rows`` rows (the last one shorter) of ``columns``.

    Memory holds at most one chunk plus one reader block. The same file and ``chunk_rows``
    always give the same chunks, which is what lets a job resume.
    """
    if file.n_rows == 0:
        return  # (pyarrow cannot read a CSV header without a final line break)
    batches = (
        _csv_batches(file.path, columns)
        if file.kind == "csv"
        else _parquet_batches(file.path, columns, chunk_rows)
    )
    pending: list[pa.RecordBatch] = []
    n_pending = 0
    for batch in batches:
        while batch.num_rows:
            take = min(batch.num_rows, chunk_rows - n_pending)
            pending.append(batch.slice(0, take))
            n_pending += take
            batch = batch.slice(take)
            if n_pending == chunk_rows:
                yield pa.Table.from_batches(pending).select(list(columns))
                pending, n_pending = [], 0
    if n_pending:
        yield pa.Table.from_batches(pending).select(list(columns))
