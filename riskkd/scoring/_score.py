"""``score_files``: batch scoring of CSV / parquet files into parquet parts, with a manifest."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from .._files import is_skipped
from ..outputs import output_columns
from ._inputs import InputFile, check_columns, discover
from ._job import Job
from ._manifest import MANIFEST, REJECTS, Manifest, job_description, remove_temporary_files
from ._model import resolve_model
from ._parts import BOOKKEEPING, MODEL_VERSION, decision_column

ENGINES = ("local", "dask")


class ReconciliationError(RuntimeError):
    """Rows in the input differ from rows scored plus rows rejected.

    Attributes
    ----------
    summary : ScoringSummary
        The figures that failed to reconcile (``reconciled`` is False).
    """

    def __init__(self, message: str, summary: ScoringSummary):
        super().__init__(message)
        self.summary = summary


@dataclass(frozen=True)
class ScoringSummary:
    """What a scoring job did.

    Attributes
    ----------
    rows_in : int
        Rows read from the input (every part of the job, including parts done by an
        earlier run that ``resume=True`` kept).
    rows_scored : int
        Rows in the output parts.
    rows_rejected : int
        Rows in ``_rejects/``.
    parts_written : int
        Parts written by this call.
    parts_skipped : int
        Parts kept from an earlier run (``resume=True``).
    seconds : float
        Wall time of this call.
    output : Path
        The output folder.
    manifest_path : Path
    model_version : str
    reconciled : bool
        ``rows_in == rows_scored + rows_rejected``, counted from the input and from the
        written files.
    """

    rows_in: int
    rows_scored: int
    rows_rejected: int
    parts_written: int
    parts_skipped: int
    seconds: float
    output: Path
    manifest_path: Path
    model_version: str
    reconciled: bool

    @property
    def rows_per_second(self) -> float:
        """Rows read per second of this call."""
        return self.rows_in / self.seconds if self.seconds > 0 else float("nan")

    def __str__(self) -> str:
        check = "reconciled" if self.reconciled else "NOT RECONCILED"
        return (
            f"{self.rows_in:,} rows in = {self.rows_scored:,} scored + {self.rows_rejected:,} "
            f"rejected ({check}); {self.parts_written} parts written, {self.parts_skipped} "
            f"kept from an earlier run, in {self.seconds:.1f} s; model {self.model_version}; "
            f"output {self.output}"
        )


def _check_parameters(
    id_cols: Any, chunk_rows: Any, engine: Any, scheduler: Any, n_workers: Any, on_chunk: Any
) -> tuple[str, ...]:
    if isinstance(id_cols, str):
        id_cols = (id_cols,)
    id_cols = tuple(id_cols)
    if not all(isinstance(c, str) for c in id_cols) or len(set(id_cols)) != len(id_cols):
        raise ValueError(f"id_cols must be distinct column names, got {list(id_cols)!r}.")
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ValueError(
            f"chunk_rows must be an int >= 1 (rows per output part), got {chunk_rows!r}."
        )
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {list(ENGINES)}, got {engine!r}.")
    if scheduler is not None and engine != "dask":
        raise ValueError(
            f"scheduler={scheduler!r} is a Dask scheduler address; it needs engine='dask' "
            f"(got engine={engine!r})."
        )
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise ValueError(f"n_workers must be an int >= 1, got {n_workers!r}.")
    if on_chunk is not None and not callable(on_chunk):
        raise TypeError(
            f"on_chunk must be a callable on_chunk(done_rows, total_rows) or None, got "
            f"{type(on_chunk).__name__}."
        )
    return id_cols


def _check_column_names(model: Any, id_cols: tuple[str, ...]) -> None:
    """Refuse names that the scores or rejects files would write twice (one value lost)."""
    outputs = [*output_columns(model.classes_), decision_column(model.classes_), MODEL_VERSION]
    clash = [c for c in id_cols if c in outputs]
    if clash:
        raise ValueError(
            f"id_cols {clash} have the names of output columns ({', '.join(outputs)}); their "
            "values would be overwritten. Rename those columns in the input (or score "
            "without them as ids)."
        )
    clash = [c for c in dict.fromkeys([*id_cols, *model.input_schema_.names]) if c in BOOKKEEPING]
    if clash:
        raise ValueError(
            f"Column(s) {clash} have the names of the rejects file's own columns "
            f"({', '.join(BOOKKEEPING)}), which would overwrite their raw values. Rename them "
            "in the input (a model column: refit the model with the new name)."
        )


def _check_output_outside(input: str | os.PathLike, output: Path) -> None:
    """Refuse an output folder inside the input folder: it would be a subfolder of the input,
    which the next job (or ``resume``) refuses, as a folder is scored whole."""
    source = Path(input).resolve()
    if not (source.is_dir() and output.is_relative_to(source) and output != source):
        return
    top = output.relative_to(source).parts[0]
    if not is_skipped(top):
        raise ValueError(
            f"output={str(output)!r} is inside input={str(input)!r}: the scores would become "
            f"a subfolder of the input ({top}). Score into a folder outside the input, or "
            "start the name of the input's subfolder with '_' to have it skipped. Nothing was "
            "written."
        )


def _check_output_apart(input: str | os.PathLike, files: Sequence[InputFile], output: Path) -> None:
    """Refuse an output folder that holds an input file, which a part could overwrite."""
    inside = [str(f.path) for f in files if f.path.is_relative_to(output)]
    if inside:
        shown = ", ".join(inside[:3]) + (" ..." if len(inside) > 3 else "")
        raise ValueError(
            f"output={str(output)!r} holds {len(inside)} file(s) of input={str(input)!r} "
            f"({shown}); the parts scored there (part-00000.parquet ...) could overwrite them. "
            "Score into a folder outside the input. Nothing was written."
        )


def _prepare_output(output: Path, resume: bool) -> None:
    if output.exists() and not output.is_dir():
        raise NotADirectoryError(f"output={str(output)!r} is a file; give a folder.")
    if output.is_dir() and any(output.iterdir()) and not resume:
        raise FileExistsError(
            f"output={str(output)!r} is not empty. Scoring never overwrites or mixes outputs: "
            "pass resume=True to finish the job that wrote it, or choose a new (or empty) folder."
        )
    if resume and output.is_dir() and not (output / MANIFEST).is_file():
        # A job killed before its first part was recorded leaves only parts and temporary
        # files; anything else belongs to someone else and must not be mixed with scores.
        foreign = [
            p.name
            for p in output.iterdir()
            if not (p.name.startswith((".", "part-")) or p.name == REJECTS)
        ]
        if foreign:
            raise FileExistsError(
                f"resume=True, but output={str(output)!r} has no {MANIFEST} and holds other "
                f"files ({sorted(foreign)[:5]}); it was not written by score_files. Choose a "
                "new (or empty) folder."
            )
    output.mkdir(parents=True, exist_ok=True)
    remove_temporary_files(output)


def _count_written(output: Path, manifest: Manifest) -> tuple[int, int]:
    """Rows in the part files and the rejects files, read from their parquet footers."""
    scored = rejected = 0
    for part in manifest.parts.values():
        scored += pq.ParquetFile(output / part["part"]).metadata.num_rows
        if part["rejects"]:
            rejected += pq.ParquetFile(output / part["rejects"]).metadata.num_rows
    return scored, rejected


def score_files(
    model: Any,
    input: str | os.PathLike,
    output: str | os.PathLike,
    *,
    id_cols: Sequence[str] = (),
    chunk_rows: int = 100_000,
    engine: str = "local",
    scheduler: str | None = None,
    n_workers: int = 2,
    resume: bool = False,
    fail_fast: bool = False,
    on_chunk: Callable[[int, int | None], Any] | None = None,
) -> ScoringSummary:
    """Score CSV or parquet files in chunks into parquet parts, with a manifest and rejects.

    Memory is bounded by ``chunk_rows`` whatever the input size. Columns are matched by
    name with the model's input schema (any order; extra columns are ignored).

    Parameters
    ----------
    model : DistilledClassifier, str or path-like
        A fitted model, a folder written by :func:`riskkd.save`, or an MLflow model URI
        (``models:/<name>@<alias>``, ``models:/<name>/<version>``, ``runs:/<run>/<path>``).
    input : str or path-like
        A CSV or parquet file, or a folder of them (one format; scored in name order).
    output : str or path-like
        Output folder: ``part-00000.parquet`` ..., ``_rejects/part-XXXXX.parquet`` for
        parts with rejected rows, and ``_manifest.json``. Must be empty or absent unless
        ``resume=True``.
    id_cols : sequence of str, default=()
        Columns copied to the output to join scores back; a row whose id is null is
        rejected.
    chunk_rows : int, default=100_000
        Rows per chunk and per output part (``engine="local"``); with ``engine="dask"``
        the target rows per partition.
    engine : {"local", "dask"}, default="local"
    scheduler : str, default=None
        Address of a Dask scheduler (``engine="dask"``). None starts a ``LocalCluster``
        of ``n_workers`` single-threaded workers on 127.0.0.1 and closes it at the end.
        Workers must see ``input`` and ``output`` at the same paths.
    n_workers : int, default=2
        Workers of the ``LocalCluster`` (``scheduler=None``).
    resume : bool, default=False
        Continue the job that wrote ``output``: parts recorded in its manifest whose file
        still matches its SHA-256 are kept, the others scored. The model version, input
        files (path, size, modification time), ``id_cols``, ``chunk_rows`` and engine
        must be those of that job.
    fail_fast : bool, default=False
        Stop with a ``ValueError`` naming the file, row, column and value at the first
        row that breaks the input contract, instead of setting it aside in ``_rejects/``.
        Parts finished before it stay recorded in the manifest.
    on_chunk : callable, default=None
        Called as ``on_chunk(done_rows, total_rows)`` after each chunk (``total_rows`` is
        None when unknown, e.g. for CSV), for progress bars.

    Returns
    -------
    summary : ScoringSummary

    Raises
    ------
    ValueError
        A model input or id column is missing from an input file, or ``output`` holds an
        input file (before anything is written), a row breaks the input contract with
        ``fail_fast=True``, or ``resume=True`` meets another job's output.
    FileExistsError
        ``output`` is not empty and ``resume`` is False.
    ReconciliationError
        Rows in differ from rows scored plus rows rejected.

    Examples
    --------
    >>> from riskkd.scoring import score_files
    >>> summary = score_files("models/credit", "applications/", "scores/",
    ...                       id_cols=["application_id"])  # doctest: +SKIP
    >>> print(summary)  # doctest: +SKIP
    1,000,000 rows in = 999,998 scored + 2 rejected (reconciled); ...
    """
    started = time.perf_counter()
    id_cols = _check_parameters(id_cols, chunk_rows, engine, scheduler, n_workers, on_chunk)
    model, model_version = resolve_model(model)
    output = Path(output).resolve()
    _check_output_outside(input, output)
    files = discover(input)
    schema = model.input_schema_
    _check_column_names(model, id_cols)
    check_columns(files, schema.names, id_cols, schema.numeric_names)
    _check_output_apart(input, files, output)
    created = [f for f in (output, *output.parents) if not f.exists()]  # deepest first
    _prepare_output(output, resume)
    description = job_description(
        model_version=model_version,
        files=files,
        id_cols=id_cols,
        chunk_rows=chunk_rows,
        engine=engine,
    )
    manifest = Manifest.resume(output, description) if resume else Manifest(output, description)
    job = Job(
        model=model,
        model_version=model_version,
        files=files,
        id_cols=id_cols,
        columns=list(dict.fromkeys([*id_cols, *schema.names])),
        chunk_rows=chunk_rows,
        output=output,
        manifest=manifest,
        fail_fast=fail_fast,
        on_chunk=on_chunk,
    )
    try:
        if engine == "local":
            from ._local import score_local

            rows_read, written, skipped = score_local(job)
        else:
            from ._dask import score_dask

            rows_read, written, skipped = score_dask(job, scheduler=scheduler, n_workers=n_workers)
    except BaseException:
        if manifest.parts:
            manifest.write()  # record the parts finished before the error (fail_fast, Ctrl-C)
        else:
            # Nothing scored: leave none of the folders this job created, so that a plain
            # rerun is not refused as not empty (rmdir keeps a folder holding anything: a
            # part written but not recorded, which resume=True picks up).
            with contextlib.suppress(OSError):
                for folder in created:
                    folder.rmdir()
        raise

    totals = manifest.totals()
    scored, rejected = _count_written(output, manifest)
    reconciled = rows_read == totals["rows_in"] == scored + rejected and (scored, rejected) == (
        totals["rows_scored"],
        totals["rows_rejected"],
    )
    manifest.complete = reconciled
    manifest.reconciliation = {
        "rows_in": rows_read,
        "rows_scored": scored,
        "rows_rejected": rejected,
        "reconciled": reconciled,
    }
    manifest.write()
    summary = ScoringSummary(
        rows_in=rows_read,
        rows_scored=scored,
        rows_rejected=rejected,
        parts_written=written,
        parts_skipped=skipped,
        seconds=time.perf_counter() - started,
        output=output,
        manifest_path=manifest.path,
        model_version=model_version,
        reconciled=reconciled,
    )
    if not reconciled:
        raise ReconciliationError(
            f"Scoring did not reconcile: {rows_read:,} rows read from the input, "
            f"{totals['rows_in']:,} recorded in {manifest.path}, {scored:,} rows in the parts "
            f"+ {rejected:,} in _rejects/ = {scored + rejected:,}. An output file was changed or "
            "removed while the job ran; score again into a new folder.",
            summary,
        )
    return summary
