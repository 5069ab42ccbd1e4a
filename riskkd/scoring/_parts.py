"""One chunk in, one output part out: check rows, score the valid ones, write both atomically.

Both engines call :func:`score_chunk` (the Dask engine on its workers), so their outputs
have the same columns, types and values. A part holds, in input order,

* the id columns, as read (with the input's Arrow type where pandas holds them as Python
  objects: decimals, dates);
* ``proba_<class>`` for each class (the names of the MLflow pyfunc output,
  :func:`riskkd.outputs.output_columns`);
* ``decision`` (binary) or ``grade`` (multi-class): the most probable class;
* ``model_version``.

Rows that break the input contract go to ``_rejects/part-XXXXX.parquet`` (same number as
the part) with their raw values and a ``reason``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .._files import file_kind
from ..outputs import output_columns
from ._contract import REASON, CheckedChunk, check_chunk
from ._manifest import REJECTS, atomic_write, sha256_bytes

MODEL_VERSION = "model_version"
#: Columns a rejects file adds to the raw values: where the row was and why it was rejected.
BOOKKEEPING = ("input_file", "chunk", "row_in_chunk", REASON)


def decision_column(classes: np.ndarray) -> str:
    """``decision`` for a binary model, ``grade`` for a multi-class one."""
    return "decision" if len(classes) == 2 else "grade"


def output_frame(model: Any, checked: CheckedChunk, model_version: str) -> pd.DataFrame:
    """Ids, class probabilities, decision or grade, and model version of the valid rows."""
    features = checked.features
    if not model.input_schema_.from_frame:
        features = features.to_numpy(dtype=np.float64)
    if len(checked.features):
        proba = model.predict_proba(features)
    else:
        proba = np.empty((0, len(model.classes_)), dtype=np.float64)
    out = checked.ids.copy()
    for column, values in zip(output_columns(model.classes_), proba.T):
        out[column] = values
    out[decision_column(model.classes_)] = model.classes_[np.argmax(proba, axis=1)]
    out[MODEL_VERSION] = pd.array([model_version] * len(out), dtype="string")
    return out


def decision_type(classes: np.ndarray) -> pa.DataType:
    """Arrow type of the ``decision`` or ``grade`` column, the same in every part.

    It comes from the classes, not from a chunk's values: a chunk whose rows are all
    rejected has none, and text labels would then be written with Arrow's null type, which
    readers of the folder cannot merge with the other parts' text.
    """
    return pa.array(classes).type


def object_id_types(
    ids: pd.DataFrame, input_types: dict[str, pa.DataType] | None
) -> dict[str, pa.DataType]:
    """The input's Arrow type of each id column that pandas holds as Python objects.

    pandas reads decimals (an Oracle ``NUMBER`` id) and dates as ``object`` columns, which
    carry no type: written back, each chunk's type would be guessed from its own values (a
    decimal's precision from its largest id, Arrow's null type for a part with no rows), and
    readers could not merge the parts.
    """
    return {
        name: type_
        for name, type_ in (input_types or {}).items()
        if name in ids and ids[name].dtype == object
    }


def _parquet_bytes(frame: pd.DataFrame, types: dict[str, pa.DataType] | None = None) -> bytes:
    """``frame`` as parquet, with the given columns cast to the given Arrow types."""
    buffer = io.BytesIO()
    # Without pandas' metadata the file's types are the arrow types alone: text read by
    # either engine (pandas "str" or "string") is written, and read back, identically.
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    for name, type_ in (types or {}).items():
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, table.column(index).cast(type_))
    pq.write_table(table, buffer)
    return buffer.getvalue()


def reject_message(
    input_file: str, chunk: int, row_start: int | None, row: int, reason: str
) -> str:
    where = f"row {row_start + row}" if row_start is not None else f"row {row} of chunk {chunk}"
    return (
        f"{input_file}, {where} (0-based, header excluded) breaks the model's input contract: "
        f"{reason}. fail_fast=True stops at the first such row; fix the input, or rerun without "
        "fail_fast to set such rows aside in _rejects/ and score the rest."
    )


def score_chunk(
    raw: pd.DataFrame,
    model: Any,
    *,
    model_version: str,
    id_cols: Sequence[str],
    output: Path,
    part: str,
    input_file: str,
    chunk: int,
    row_start: int | None,
    fail_fast: bool,
    id_types: dict[str, pa.DataType] | None = None,
) -> dict[str, Any]:
    """Check, score and write one chunk; return its manifest record.

    Parameters
    ----------
    raw : DataFrame
        The chunk as read: id columns and the model's input columns.
    model : DistilledClassifier
    model_version : str
    id_cols : sequence of str
    output : Path
        The output folder.
    part : str
        File name of the part (``part-00000.parquet``).
    input_file : str
    chunk : int
        Index of the chunk within its input file.
    row_start : int or None
        Row of the input file where the chunk starts (None when unknown, as in Dask CSV
        partitions).
    fail_fast : bool
        Raise ``ValueError`` on the first rejected row instead of writing anything.
    id_types : dict of str to pyarrow.DataType, optional
        The Arrow type of each id column in the input file (see :func:`object_id_types`).

    Returns
    -------
    record : dict
    """
    from_csv = file_kind(Path(input_file)) == "csv"
    checked = check_chunk(raw, model.input_schema_, id_cols, from_csv=from_csv)
    rejects = checked.rejects
    if fail_fast and len(rejects):
        first = rejects.iloc[0]
        raise ValueError(
            reject_message(input_file, chunk, row_start, int(first["row_in_chunk"]), first[REASON])
        )
    types = object_id_types(checked.ids, id_types)
    types[decision_column(model.classes_)] = decision_type(model.classes_)
    scored = _parquet_bytes(output_frame(model, checked, model_version), types)
    record: dict[str, Any] = {
        "part": part,
        "input": input_file,
        "chunk": chunk,
        "rows": None if row_start is None else [row_start, row_start + checked.n_rows],
        "rows_in": checked.n_rows,
        "rows_scored": checked.n_rows - len(rejects),
        "rows_rejected": len(rejects),
        "sha256": sha256_bytes(scored),
        "rejects": None,
        "rejects_sha256": None,
    }
    if len(rejects):
        rejects.insert(0, "input_file", pd.array([input_file] * len(rejects), dtype="string"))
        rejects.insert(1, "chunk", np.full(len(rejects), chunk, dtype=np.int64))
        data = _parquet_bytes(rejects)
        (output / REJECTS).mkdir(exist_ok=True)
        atomic_write(output / REJECTS / part, data)
        record["rejects"] = f"{REJECTS}/{part}"
        record["rejects_sha256"] = sha256_bytes(data)
    atomic_write(output / part, scored)
    return record
