"""The input contract, row by row: which rows of a chunk can be scored, and why not the rest.

:meth:`riskkd.inputs.InputSchema.encode` refuses a whole ``X`` when one value is bad,
which is right for an interactive call and wrong for a nightly batch: here each row is
checked on its own and a bad row is set aside with a reason, the others are scored.

A row is rejected when

* an id column is null, or a CSV null marker (its score could not be joined back);
* a numeric column holds text that is not a number (``"12,5"``, ``"abc"``), or a
  boolean column text other than true/false/1/0;
* a numeric column holds ``+inf`` or ``-inf``.

Missing values (empty cells, ``NA``, ``n/a``, ``NaN``) are *not* rejects: the model
accepts NaN. Nor are categorical levels unseen at fit: the model scores them as
"unknown". A CSV holds text only, so its null markers (:data:`NULL_MARKERS`, what CSV
readers take for null) are missing, except in a categorical column where the marker is
one of the column's levels: a branch coded ``"NA"`` at fit stays that branch, as it does
from parquet. Parquet text is taken as written, as ``predict_proba`` takes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: Text a CSV reader takes for null (pyarrow's and pandas' defaults), and "None".
NULL_MARKERS = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
    "1.#QNAN", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null", "None",
)  # fmt: skip
# Text read as a missing value where a number is expected, in any spelling.
_MISSING_TEXT = frozenset(marker.lower() for marker in NULL_MARKERS)
_BOOLEAN_TEXT = {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0, "1.0": 1.0, "0.0": 0.0}
REASON = "reason"


@dataclass(frozen=True)
class CheckedChunk:
    """A chunk split into rows to score and rows set aside.

    Attributes
    ----------
    features : DataFrame of shape (n_valid, n_features)
        Model inputs of the valid rows, in training column order, numeric columns parsed.
    ids : DataFrame of shape (n_valid, n_id_cols)
        Id columns of the valid rows, as read.
    rejects : DataFrame of shape (n_rejected, ...)
        ``row_in_chunk``, the raw values (as text) of the id and model columns, ``reason``.
    n_rows : int
        Rows in the chunk.
    """

    features: pd.DataFrame
    ids: pd.DataFrame
    rejects: pd.DataFrame
    n_rows: int


def _is_text(series: pd.Series) -> bool:
    return not (
        pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)
    )


def _as_float(values: Any) -> np.ndarray:
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(values, dtype=np.float64)


def parse_numeric(series: pd.Series, dtype_at_fit: str) -> tuple[np.ndarray, np.ndarray]:
    """``(float64 values, mask of values that are not numbers)`` of one column.

    Parameters
    ----------
    series : Series
        The column as read (numbers, booleans or text).
    dtype_at_fit : str
        The column's dtype when the model was fitted (booleans parse true/false).

    Returns
    -------
    values : ndarray of shape (n,)
        NaN where missing or not a number.
    not_a_number : ndarray of bool of shape (n,)
    """
    if not _is_text(series):
        values = _as_float(series)
        return values, np.zeros(len(values), dtype=bool)
    if dtype_at_fit in ("bool", "boolean"):
        # As "string": a parquet boolean column with nulls arrives as objects True/None.
        lowered = series.astype("string").str.strip().str.lower()
        values = _as_float(lowered.map(_BOOLEAN_TEXT).astype("float64"))
    else:
        values = _as_float(pd.to_numeric(series, errors="coerce"))
    present = series.notna().to_numpy()
    bad = np.isnan(values) & present
    if bad.any():
        # "nan", "NULL" ... that reached the parser as text are missing values, not errors.
        text = series[bad].astype(str).str.strip().str.lower()
        bad[np.flatnonzero(bad)[text.isin(_MISSING_TEXT).to_numpy()]] = False
    return values, bad


def csv_nulls_as_missing(series: pd.Series, keep: Sequence[str] = ()) -> pd.Series:
    """A CSV column with its :data:`NULL_MARKERS` as missing, except the markers in ``keep``
    (a categorical column's levels that spell one)."""
    if not _is_text(series):
        return series
    markers = [m for m in NULL_MARKERS if m not in keep]
    marked = series.isin(markers).to_numpy()  # a short list: no conversion of the levels
    return series.mask(marked) if marked.any() else series


def _raw_text(series: pd.Series) -> list[str | None]:
    return [
        None if v is None or (isinstance(v, float) and v != v) or v is pd.NA else str(v)
        for v in series
    ]


def check_chunk(
    raw: pd.DataFrame, schema: Any, id_cols: Sequence[str], *, from_csv: bool = False
) -> CheckedChunk:
    """Split ``raw`` (id and model columns as read) into rows to score and rejects.

    Parameters
    ----------
    raw : DataFrame
        One chunk with at least the id columns and every column of ``schema``.
    schema : riskkd.inputs.InputSchema
        The model's input schema.
    id_cols : sequence of str
    from_csv : bool, default=False
        ``raw`` is CSV text (only empty cells null): its null markers are missing values.

    Returns
    -------
    checked : CheckedChunk
    """
    n = len(raw)
    problems: dict[int, list[str]] = {}

    def flag(mask: np.ndarray, describe: Any) -> None:
        for i in np.flatnonzero(mask):
            problems.setdefault(int(i), []).append(describe(int(i)))

    for column in id_cols:
        ids = csv_nulls_as_missing(raw[column]) if from_csv else raw[column]
        flag(ids.isna().to_numpy(), lambda i, c=column: f"id column {c!r} is null")
    features: dict[str, Any] = {}
    for name, kind, dtype in zip(schema.names, schema.kinds, schema.dtypes):
        series = raw[name]
        if kind == "categorical":  # text of number levels is read by the schema
            if from_csv:
                levels = [m for m in NULL_MARKERS if schema.is_level(name, m)]
                series = csv_nulls_as_missing(series, keep=levels)
            features[name] = series
            continue
        values, not_a_number = parse_numeric(series, dtype)
        flag(
            not_a_number,
            lambda i, c=name, s=series: f"column {c!r}: {str(s.iloc[i])!r} is not a number",
        )
        flag(
            np.isinf(values),
            lambda i, c=name, v=values: (
                f"column {c!r}: {v[i]} is infinite (use an empty cell or NaN for a missing value)"
            ),
        )
        features[name] = values
    frame = pd.DataFrame(features, copy=False)
    ids = raw[list(id_cols)]
    if not problems:
        return CheckedChunk(
            frame, ids.reset_index(drop=True), empty_rejects(raw, schema, id_cols), n
        )
    bad = np.fromiter(sorted(problems), dtype=np.int64)
    keep = np.ones(n, dtype=bool)
    keep[bad] = False
    rejected = {"row_in_chunk": bad}
    for column in _raw_columns(schema, id_cols):
        rejected[column] = pd.array(_raw_text(raw[column].iloc[bad]), dtype="string")
    rejected[REASON] = pd.array(["; ".join(problems[i]) for i in bad], dtype="string")
    return CheckedChunk(
        frame[keep].reset_index(drop=True),
        ids[keep].reset_index(drop=True),
        pd.DataFrame(rejected),
        n,
    )


def _raw_columns(schema: Any, id_cols: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*id_cols, *schema.names]))


def empty_rejects(raw: pd.DataFrame, schema: Any, id_cols: Sequence[str]) -> pd.DataFrame:
    """A rejects frame with no rows (same columns as :func:`check_chunk` writes)."""
    columns: dict[str, Any] = {"row_in_chunk": np.empty(0, dtype=np.int64)}
    columns.update({c: pd.array([], dtype="string") for c in _raw_columns(schema, id_cols)})
    columns[REASON] = pd.array([], dtype="string")
    return pd.DataFrame(columns)
