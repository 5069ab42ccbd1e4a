"""The input contract of a fitted model: which columns, of which kind, with which levels.

:class:`InputSchema` is recorded from the training ``X`` and turns any later ``X``
(a DataFrame with the same columns in any order, or a numpy array of the same width)
into one shared numeric encoding that both the teacher and the student read:

* ``num``: float64 array of shape ``(n_samples, n_numeric)``, NaN where missing;
* ``cat``: int32 array of shape ``(n_samples, n_categorical)`` of level indices,
  with ``MISSING`` (-1) for NaN and ``UNSEEN`` (-2) for a level not seen at fit.

Strings are hashed once per call; the teacher gets pandas categoricals rebuilt from the
codes and the student gets embedding indices, so nothing is parsed twice.

Behaviour on imperfect input, by design:

* columns are matched by name; extra columns are ignored; a missing column is an error;
* a non-numeric value in a numeric column is an error that shows the offending values;
* ``+-inf`` in a numeric column is an error;
* NaN is always accepted (the teacher handles it natively; the student imputes it, see
  :class:`riskkd.preprocessing.StudentPreprocessor`);
* a categorical level not seen at fit is encoded ``UNSEEN`` and scored as "unknown".
"""

from __future__ import annotations

import datetime
import numbers
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse

MISSING = -1
UNSEEN = -2
# Below this many rows a Python dict lookup beats pandas' factorize for categorical columns.
_SMALL_BATCH = 64


@dataclass(frozen=True)
class Encoded:
    """Numeric and categorical blocks of an encoded ``X``."""

    num: np.ndarray
    cat: np.ndarray

    @property
    def n_samples(self) -> int:
        return self.num.shape[0]


def _is_categorical_dtype(dtype: Any) -> bool:
    if isinstance(dtype, pd.CategoricalDtype):
        return True
    if pd.api.types.is_bool_dtype(dtype):
        return False
    return not pd.api.types.is_numeric_dtype(dtype)


def python_scalar(value: Any) -> Any:
    """A JSON-friendly Python scalar (numpy scalars become int/float/bool/str)."""
    return value.item() if isinstance(value, np.generic) else value


def refuse_records(X: Any) -> None:
    """A TypeError saying how to build the input when ``X`` is a Series, a dict or a list
    of dicts (one record, or records, rather than a table), or a sparse matrix."""
    if sparse.issparse(X):
        raise TypeError(
            f"X is a sparse {type(X).__name__}; sparse input is not supported (riskkd reads "
            "dense tables). Pass X.toarray() or a DataFrame."
        )
    if isinstance(X, pd.Series):
        raise TypeError(
            "X is a pandas Series; pass a DataFrame with one row per sample (one row of a "
            "frame: df.iloc[[i]], not df.iloc[i]; a Series s: s.to_frame().T)."
        )
    if isinstance(X, dict) or (isinstance(X, list) and X and isinstance(X[0], dict)):
        raise TypeError(
            f"X is a {type(X).__name__}{' of dicts' if isinstance(X, list) else ''}; pass a "
            "DataFrame: pd.DataFrame([record]) for one record, pd.DataFrame(records) for "
            "several."
        )


def check_pairing(X, values, name: str) -> None:
    """Refuse a pandas ``values`` (``y`` or ``sample_weight``) whose index holds the labels
    of ``X``'s index in another order: paired by position, as scikit-learn pairs them, every
    row would get another row's label or weight."""
    if not isinstance(X, pd.DataFrame) or not isinstance(values, pd.Series | pd.DataFrame):
        return
    rows, index = X.index, values.index
    if len(rows) != len(index) or rows.equals(index):
        return
    if rows.is_unique and index.is_unique and rows.isin(index).all():
        raise ValueError(
            f"{name}'s index holds the rows of X's index in another order; {name} is paired "
            f"with X by position, so rows would get other rows' values. Align it by label "
            f"({name}.loc[X.index]), or pass {name}.to_numpy() if its order is already X's."
        )


def numpy_labels(y):
    """``y``'s values in their numpy dtype when it is a pandas nullable integer or boolean
    column without missing values: ``column_or_1d`` would make floats of them (classes 0.0
    and 1.0, output columns ``proba_1.0``)."""
    if isinstance(y, pd.DataFrame) and y.shape[1] == 1:
        y = y.iloc[:, 0]
    if not isinstance(y, pd.Series) or not isinstance(y.dtype, pd.api.extensions.ExtensionDtype):
        return y
    numpy_dtype = getattr(y.dtype, "numpy_dtype", None)
    if numpy_dtype is None or numpy_dtype.kind not in "biu" or y.isna().any():
        return y
    return y.to_numpy(dtype=numpy_dtype)


@dataclass
class InputSchema:
    """Column names, kinds, levels and ranges recorded from the training ``X``.

    Parameters
    ----------
    names : list of str
        Feature names in training order.
    kinds : list of {"numeric", "categorical"}
        Kind of each feature.
    dtypes : list of str
        The pandas dtype of each feature at fit, for messages and the manifest.
    levels : dict of str to list
        Sorted levels of each categorical feature seen at fit (NaN excluded).
    ranges : dict of str to [min, max]
        Observed range of each numeric feature (NaN ignored).
    missing : dict of str to bool
        Whether each feature had missing values at fit.
    from_frame : bool
        Whether the model was fitted on a DataFrame (then ``feature_names_in_`` is set).
    """

    names: list[str]
    kinds: list[str]
    dtypes: list[str]
    levels: dict[str, list[Any]] = field(default_factory=dict)
    ranges: dict[str, list[float]] = field(default_factory=dict)
    missing: dict[str, bool] = field(default_factory=dict)
    from_frame: bool = True

    def __post_init__(self) -> None:
        self.numeric_names = [n for n, k in zip(self.names, self.kinds) if k == "numeric"]
        self.categorical_names = [n for n, k in zip(self.names, self.kinds) if k == "categorical"]
        self._position = {name: i for i, name in enumerate(self.names)}
        # Where each feature lands in its block: (is_categorical, column in num or cat).
        self._slot = {n: (False, j) for j, n in enumerate(self.numeric_names)}
        self._slot.update({n: (True, j) for j, n in enumerate(self.categorical_names)})
        self._lookup = {n: {v: i for i, v in enumerate(self.levels[n])} for n in self.levels}
        self._alias = {n: _level_aliases(self.levels[n]) for n in self.levels}
        # Text levels as an Arrow array, for columns of Arrow text (see _arrow_text_codes).
        self._text_levels = {
            n: pa.array(v, type=pa.string())
            for n, v in self.levels.items()
            if all(isinstance(level, str) for level in v)
        }
        # (columns Index, plan) of the last DataFrame seen: frames cut from the same source
        # share their Index object, so the name matching is done once, not per call.
        self._last_plan: tuple[pd.Index, list[tuple[int, str]]] | None = None
        # A new frame with the training columns in training order (a scoring service's
        # request) is recognised by one Index comparison (as pandas infers such names).
        self._names_index = pd.Index(self.names)
        self._in_order = list(enumerate(self.names))
        self._names_arrow = getattr(self._names_index.array, "_pa_array", None)
        # Column of num of the feature at each position, -1 for categorical features.
        self._numeric_slot = np.array(
            [-1 if self._slot[n][0] else self._slot[n][1] for n in self.names], dtype=np.intp
        )

    # ------------------------------------------------------------------ fit
    @classmethod
    def from_data(cls, X: Any) -> InputSchema:
        """Record the schema of the training ``X`` (a DataFrame or a numeric array)."""
        if isinstance(X, pd.DataFrame):
            if isinstance(X.columns, pd.MultiIndex):
                raise ValueError(
                    f"X has {X.columns.nlevels}-level column names (e.g. {X.columns[0]!r}); "
                    "give it one level of names, e.g. "
                    "X.columns = ['_'.join(map(str, c)) for c in X.columns]."
                )
            names = [str(c) for c in X.columns]
            if len(set(names)) != len(names):
                dup = sorted({n for n in names if names.count(n) > 1})
                raise ValueError(
                    f"X has duplicated column names {dup}; give each column a unique name."
                )
            temporal = [
                str(c)
                for c in X.columns
                if X[c].dtype.kind in "mM" or isinstance(X[c].dtype, pd.PeriodDtype)
            ]
            if temporal:
                raise ValueError(
                    f"Column(s) {temporal} hold dates or durations, which riskkd does not read as "
                    "features. Derive numeric features from them (e.g. hour of day, days since an "
                    "event) or use them to split the data, then drop them from X."
                )
            other = [
                f"{c} ({X[c].dtype})"
                for c in X.columns
                if X[c].dtype.kind == "c" or isinstance(X[c].dtype, pd.IntervalDtype)
            ]
            if other:
                raise ValueError(
                    f"Column(s) {other} hold complex numbers or intervals, which riskkd does not "
                    "read as features (it reads numbers, booleans, text and categories). Convert "
                    "them (e.g. an interval's midpoint) or drop them from X."
                )
            kinds = [
                "categorical" if _is_categorical_dtype(X[c].dtype) else "numeric" for c in X.columns
            ]
            dtypes = [str(X[c].dtype) for c in X.columns]
            columns = {name: X[c] for name, c in zip(names, X.columns)}
            from_frame = True
        else:
            array = _as_2d_array(X)
            if not np.issubdtype(array.dtype, np.number) and array.dtype != bool:
                raise ValueError(
                    f"X is a numpy array of dtype {array.dtype}; riskkd reads numeric arrays only. "
                    "Pass a pandas DataFrame to use categorical or string columns."
                )
            names = [f"x{i}" for i in range(array.shape[1])]
            kinds = ["numeric"] * len(names)
            dtypes = [str(array.dtype)] * len(names)
            columns = {name: pd.Series(array[:, i]) for i, name in enumerate(names)}
            from_frame = False
        levels: dict[str, list[Any]] = {}
        ranges: dict[str, list[float]] = {}
        missing: dict[str, bool] = {}
        for name, kind in zip(names, kinds):
            column = columns[name]
            missing[name] = bool(column.isna().any())
            if kind == "categorical":
                try:
                    uniques = pd.unique(column.dropna())
                except TypeError:
                    if (error := _unhashable_error(name, column)) is not None:
                        raise error from None
                    raise
                scalars = [python_scalar(v) for v in uniques]
                _check_level_types(name, scalars)
                levels[name] = sorted(scalars, key=lambda v: (str(type(v)), v))
                _warn_if_mixed(name, levels[name])
                _warn_if_dates(name, levels[name])
            else:
                values = _numeric_column(name, column)
                if np.isinf(values).any():
                    raise ValueError(_inf_message(name, values))
                finite = values[~np.isnan(values)]
                ranges[name] = (
                    [float(finite.min()), float(finite.max())] if finite.size else [np.nan, np.nan]
                )
        return cls(names, kinds, dtypes, levels, ranges, missing, from_frame)

    # ------------------------------------------------------------------ transform
    @property
    def n_features(self) -> int:
        return len(self.names)

    def encode(self, X: Any) -> Encoded:
        """Encode ``X`` into the shared numeric / categorical blocks (see module docstring)."""
        if (
            isinstance(X, np.ndarray)
            and X.ndim == 2
            and X.dtype.kind in "biuf"
            and X.shape[1] == self.n_features
            and not self.categorical_names
        ):
            # A numeric array for an all-numeric model: one conversion, no per-column work.
            return self._checked(X.astype(np.float64), np.empty((len(X), 0), dtype=np.int32))
        n_num, n_cat = len(self.numeric_names), len(self.categorical_names)
        blocks = self._one_row_numeric_blocks(X)
        if blocks is not None:  # a scoring service's request: see the method
            num, plan = blocks
            n_rows, columns = 1, _frame_columns(X, plan)
        else:
            n_rows, columns = self._columns(X)
            num = None
        # Large batches fill each column contiguously and transpose once at the end: strided
        # column writes into row-major blocks cost several times more. Same values either way.
        by_column = n_rows > _SMALL_BATCH
        if by_column:
            num = np.empty((n_num, n_rows), dtype=np.float64)
            cat = np.empty((n_cat, n_rows), dtype=np.int32)
        else:
            num = np.empty((n_rows, n_num), dtype=np.float64) if num is None else num
            cat = np.empty((n_rows, n_cat), dtype=np.int32)
        # One row: numeric values are gathered as scalars and written once (a numpy
        # assignment per column costs more than the scalar read).
        row: list[Any] | None = [0.0] * n_num if n_rows == 1 and blocks is None else None
        slot = self._slot
        for name, values in columns:
            is_cat, j = slot[name]
            if is_cat:
                try:
                    codes = self._codes(name, values, n_rows)
                except TypeError:
                    if (error := _unhashable_error(name, values)) is not None:
                        raise error from None
                    raise
                if by_column:
                    cat[j] = codes
                else:
                    cat[:, j] = codes
                continue
            if not (isinstance(values, np.ndarray) and values.dtype.kind in "biuf"):
                values = _numeric_column(name, values)
            if row is not None:
                row[j] = values[0]
            elif by_column:
                num[j] = values
            else:
                num[:, j] = values
        if row:
            num[0] = row
        if by_column:
            num, cat = np.ascontiguousarray(num.T), np.ascontiguousarray(cat.T)
        return self._checked(num, cat)

    def _one_row_numeric_blocks(self, X: Any) -> tuple[np.ndarray, list[tuple[int, str]]] | None:
        """A one-row frame in training column order (a scoring service's request): ``num``
        with each of its 2-d numeric blocks written in one assignment, and the plan of the
        other columns; None for any other input.

        pandas keeps the columns of one dtype in one 2-d block: reading them column by
        column (a scalar each) was most of the time an all-numeric row takes (taiwan: encode
        20 -> 12 us). Text columns of pandas 3 are one block each; where blocks hold fewer
        than two columns on average, reading blocks costs more than it saves (german: 42 ->
        51 us) and the column path is taken. If pandas' internals ever change shape, None
        (the column path: same values).
        """
        if not (isinstance(X, pd.DataFrame) and self.from_frame and len(X.index) == 1):
            return None
        if self._plan(X) is not self._in_order:
            return None
        try:
            manager = X._mgr
            if 2 * manager.nblocks > len(self.names):
                return None
            blocks = [(b.values, b.mgr_locs.as_array) for b in manager.blocks]
        except AttributeError:  # pragma: no cover - pandas internals changed
            return None
        num = np.empty((1, len(self.numeric_names)), dtype=np.float64)
        rest: list[tuple[int, str]] = []
        for values, positions in blocks:
            if values.ndim == 2 and values.dtype.kind in "biuf":
                slots = self._numeric_slot[positions]
                if (slots >= 0).all():
                    num[0, slots] = values[:, 0]
                    continue
            rest.extend((int(i), self.names[i]) for i in positions)
        return num, rest

    def is_level(self, name: str, value: Any) -> bool:
        """Whether ``value`` is a level of categorical column ``name``, as fitted."""
        return value in self._lookup.get(name, {})

    def _checked(self, num: np.ndarray, cat: np.ndarray) -> Encoded:
        """The encoding, or an error naming the first numeric column holding +-inf."""
        if num.size and not np.isfinite(num).all():
            bad = np.isinf(num).any(axis=0)
            if bad.any():
                name = self.numeric_names[int(np.argmax(bad))]
                raise ValueError(_inf_message(name, num[:, int(np.argmax(bad))]))
        return Encoded(num, cat)

    def unseen_counts(self, encoded: Encoded) -> dict[str, int]:
        """Rows per categorical column whose level was not seen at fit (scored as "unknown").

        Batch jobs log these counts instead of failing; a sudden rise flags upstream change.
        """
        counts = (encoded.cat == UNSEEN).sum(axis=0)
        return {name: int(c) for name, c in zip(self.categorical_names, counts) if c}

    def teacher_frame(self, encoded: Encoded) -> pd.DataFrame:
        """A DataFrame in training column order with native pandas categoricals.

        This is what riskkd hands to XGBoost, LightGBM and HistGradientBoosting teachers
        that it fits itself: unseen levels become missing, the category sets are fixed, and
        columns are named as those libraries accept (:func:`booster_names`).
        """
        data: dict[str, Any] = {}
        for name, column in zip(self.names, booster_names(self.names)):
            is_cat, j = self._slot[name]
            if is_cat:
                codes = np.maximum(encoded.cat[:, j], MISSING)
                data[column] = pd.Categorical.from_codes(codes, categories=self._categories(name))
            else:
                data[column] = encoded.num[:, j]
        return pd.DataFrame(data, copy=False)

    def decode(self, encoded: Encoded) -> Any:
        """Raw-like input rebuilt from an encoding (for a prefit teacher scoring synthetic rows).

        Categorical columns come back as their levels (``category`` dtype when they were
        categorical at fit, object otherwise), missing or unseen levels as missing. Integer
        and bool columns come back whole, within their range at fit, in their dtype at fit
        (synthetic rows fall between values; a teacher's own encoders expect valid ones).
        """
        if not self.from_frame:
            return encoded.num.copy()
        data: dict[str, Any] = {}
        for name, dtype in zip(self.names, self.dtypes):
            is_cat, j = self._slot[name]
            if not is_cat:
                data[name] = self._whole(name, dtype, encoded.num[:, j])
                continue
            codes = np.maximum(encoded.cat[:, j], MISSING)
            if dtype == "category":  # the levels' own type (integer levels stay integers)
                levels = self.levels[name]
                categories = pd.Index(levels) if levels else pd.Index([], dtype=object)
                data[name] = pd.Categorical.from_codes(codes, categories=categories)
            else:
                values = pd.Categorical.from_codes(codes, categories=self._categories(name))
                data[name] = np.asarray(values.astype(object))
        return pd.DataFrame(data)

    def raw_frame(self, X: Any) -> Any:
        """``X`` with its columns in training order (for a prefit teacher that reads raw input)."""
        if isinstance(X, pd.DataFrame) and self.from_frame:
            self._check_columns(X)
            if X.columns.tolist() == self.names:
                return X
            return X[[self._source_column(X, n) for n in self.names]]
        return _as_2d_array(X)

    # ------------------------------------------------------------------ internals
    def _whole(self, name: str, dtype: str, values: np.ndarray) -> Any:
        """``values`` of an integer or bool column rounded into its range, in its dtype."""
        if not (pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            return values
        low, high = self.ranges[name]
        whole = np.clip(np.round(values), low, high)
        kind = pd.api.types.pandas_dtype(dtype)
        if isinstance(kind, np.dtype):  # numpy integers and bools hold no missing values
            return whole if np.isnan(whole).any() else whole.astype(kind)
        return pd.array(whole, dtype=kind)  # Int64, boolean, int64[pyarrow]: NaN -> <NA>

    def _categories(self, name: str) -> pd.Index:
        """The levels of a categorical column as an Index: integers as int64 (XGBoost reads
        categories of text or integers, not integers in an object Index), others as objects."""
        levels = self.levels[name]
        if _int64_levels(levels):
            return pd.Index(levels, dtype=np.int64)
        return pd.Index(levels, dtype=object)

    def _source_column(self, X: pd.DataFrame, name: str) -> Any:
        for c in X.columns:
            if str(c) == name:
                return c
        raise KeyError(name)

    def _plan(self, X: pd.DataFrame) -> list[tuple[int, str]]:
        """(position in X, feature name) of every feature, checked against the schema."""
        columns = X.columns
        last = self._last_plan
        if last is not None and last[0] is columns:
            return last[1]
        if self._same_names(columns):
            plan = self._in_order
        else:
            given = self._check_columns(X)
            plan = [(i, name) for i, name in enumerate(given) if name in self._position]
        self._last_plan = (columns, plan)
        return plan

    def _same_names(self, columns: pd.Index) -> bool:
        """Whether ``columns`` are the training names in training order.

        pandas 3 keeps text names in Arrow: comparing the Arrow arrays directly takes a
        tenth of ``Index.equals`` (a few microseconds of a one-row call).
        """
        if isinstance(columns, pd.MultiIndex):
            return False
        arrow = getattr(getattr(columns, "array", None), "_pa_array", None)
        if (
            arrow is not None
            and self._names_arrow is not None
            and arrow.type == self._names_arrow.type
        ):
            return bool(arrow.equals(self._names_arrow))
        return columns.equals(self._names_index)

    def _check_columns(self, X: pd.DataFrame) -> list[str]:
        given = X.columns.tolist()
        if given == self.names:
            return given
        given = [str(c) for c in given]
        absent = [n for n in self.names if n not in set(given)]
        if absent:
            shown = ", ".join(repr(n) for n in absent[:10]) + (" ..." if len(absent) > 10 else "")
            raise ValueError(
                f"X is missing {len(absent)} column(s) the model was fitted on: {shown}. "
                f"The model expects these {self.n_features} columns (any order, extra columns "
                f"are ignored): {self.names}."
            )
        if len(given) > len(self._position):
            counts = Counter(n for n in given if n in self._position)
            twice = sorted(n for n, k in counts.items() if k > 1)
            if twice:
                raise ValueError(
                    f"X has more than one column named {twice} (column names compared as text); "
                    "which one to score is ambiguous. Keep one column of each name."
                )
        return given

    def _columns(self, X: Any) -> tuple[int, list[tuple[str, Any]]]:
        """(n_rows, [(feature name, 1-d values)]) for the features the model uses."""
        if isinstance(X, pd.DataFrame) and self.from_frame:
            return len(X), _frame_columns(X, self._plan(X))
        refuse_records(X)
        if not self.from_frame or not hasattr(X, "columns"):
            if isinstance(X, pd.DataFrame):
                warnings.warn(
                    "X has feature names, but the model was fitted without feature names: "
                    "its columns are read by position, not by name. Fit on a DataFrame to "
                    "match columns by name.",
                    UserWarning,
                    stacklevel=4,
                )
            array = _as_2d_array(X)
            if array.shape[1] != self.n_features:
                raise ValueError(
                    f"X has {array.shape[1]} features, but DistilledClassifier is expecting "
                    f"{self.n_features} features as input ({self.names}). Pass an array with "
                    "these columns in this order, or a DataFrame with these column names."
                )
            return array.shape[0], [(name, array[:, i]) for i, name in enumerate(self.names)]
        raise TypeError(f"X must be a pandas DataFrame or a numpy array, got {type(X).__name__}.")

    def _codes(self, name: str, values: Any, n_rows: int) -> np.ndarray:
        """Level indices of one categorical column: MISSING for NaN, UNSEEN for new levels.

        ``n_rows`` is ``len(values)``, passed in because ``len`` of a pandas extension array
        costs microseconds, as much as the rest of a one-row lookup.
        """
        lookup = self._lookup[name]
        if isinstance(values, pd.Categorical) or isinstance(
            getattr(values, "dtype", None), pd.CategoricalDtype
        ):
            values = pd.Categorical(values)
            alias = self._alias[name]
            table = np.array(
                [_level_code(lookup, alias, python_scalar(v)) for v in values.categories],
                dtype=np.int32,
            )
            codes = values.codes
            return np.where(
                codes < 0, MISSING, table[np.maximum(codes, 0)] if table.size else UNSEEN
            )
        if n_rows <= _SMALL_BATCH:
            items = _to_list(values)
            codes = [lookup.get(v, UNSEEN) for v in items]
            if UNSEEN in codes:
                alias = self._alias[name]
                codes = [
                    c
                    if c != UNSEEN
                    else MISSING
                    if _is_missing(v)
                    else _level_code(lookup, alias, v)
                    for c, v in zip(codes, items)
                ]
            return codes
        if (codes := self._arrow_text_codes(name, values)) is not None:
            return codes
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        alias = self._alias[name]
        table = np.fromiter(
            (_level_code(lookup, alias, python_scalar(v)) for v in uniques),
            dtype=np.int32,
            count=len(uniques),
        )
        return np.where(codes < 0, MISSING, table[np.maximum(codes, 0)] if table.size else UNSEEN)

    def _arrow_text_codes(self, name: str, values: Any) -> np.ndarray | None:
        """Codes of a column of Arrow text (pandas 3's default ``str``) fitted on text
        levels, by one Arrow hash lookup; None for any other column.

        Same codes as the factorize path below: a text value matches a text level only when
        equal (the aliases of text levels are numbers), and Arrow's nulls are pandas' NA.
        On vehicle fraud's 24 text columns it takes about 40% less time than ``pd.factorize``
        (old and new code timed in one process; README, Benchmarks).
        """
        levels = self._text_levels.get(name)
        if levels is None or not isinstance(values, pd.arrays.ArrowExtensionArray):
            return None
        array = values.__arrow_array__()
        kind = array.type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            return None
        codes = pc.index_in(array, value_set=levels).fill_null(UNSEEN).to_numpy().astype(np.int32)
        if array.null_count:
            codes[array.is_null().to_numpy()] = MISSING
        return codes

    def with_levels(self, kept: dict[str, np.ndarray]) -> InputSchema:
        """A copy keeping, per categorical column named in ``kept``, the levels at those positions.

        Values of a dropped level are unseen to the copy.
        """
        levels = {
            name: [values[int(k)] for k in kept[name]] if name in kept else values
            for name, values in self.levels.items()
        }
        return replace(self, levels=levels)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (stored in the saved model's manifest)."""
        return {
            "names": self.names,
            "kinds": self.kinds,
            "dtypes": self.dtypes,
            "levels": self.levels,
            "ranges": self.ranges,
            "missing": self.missing,
            "from_frame": self.from_frame,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSchema:
        return cls(**data)

    def __getstate__(self) -> dict[str, Any]:
        return self.to_dict()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)


def _as_2d_array(X: Any) -> np.ndarray:
    array = np.asarray(X)
    if array.ndim != 2:
        raise ValueError(
            f"X must be 2-dimensional (n_samples, n_features), got an array of shape {array.shape}. "
            "Reshape your data: a single sample with X.reshape(1, -1)."
        )
    return array


def _frame_columns(X: pd.DataFrame, plan: list[tuple[int, str]]) -> list[tuple[str, Any]]:
    """The planned columns of ``X`` as 1-d arrays, read through pandas' block manager.

    ``X[c]`` costs about 15 us per column in pandas 3, which would dominate one-row
    scoring; the block manager's arrays and per-column block numbers cost a few microseconds
    for the whole frame. If pandas' internals ever change shape, the public per-column path
    is used instead (same values, slower).
    """
    try:
        manager = X._mgr
        arrays, blknos, blklocs = manager.arrays, manager.blknos, manager.blklocs
    except AttributeError:  # pragma: no cover - pandas internals changed
        return [(name, X.iloc[:, i].array) for i, name in plan]
    out = []
    for i, name in plan:
        values = arrays[blknos[i]]
        out.append((name, values[blklocs[i]] if values.ndim == 2 else values))
    return out


def _check_level_types(name: str, levels: list[Any]) -> None:
    """Refuse categorical levels that are not text, numbers or booleans (dates, decimals...).

    Database drivers return ``datetime.date`` and ``decimal.Decimal`` objects in object
    columns; as levels they would be matched by identity and could not be saved as JSON.
    """
    odd = next((v for v in levels if not isinstance(v, str | int | float)), None)
    if odd is None:
        return
    kind = f"{type(odd).__module__}.{type(odd).__qualname__}".removeprefix("builtins.")
    if isinstance(odd, datetime.date | datetime.time | pd.Timestamp):
        fix = (
            "Derive numeric features from them (e.g. days since an event, via pd.to_datetime) "
            "or use them to split the data, then drop the column"
        )
    elif isinstance(odd, numbers.Number):
        fix = f"Convert them to numbers: X[{name!r}] = X[{name!r}].astype(float)"
    else:
        fix = f"Convert them to text (X[{name!r}].astype(str)) or drop the column"
    raise ValueError(
        f"Column {name!r} holds {kind} values (e.g. {str(odd)[:50]!r}); riskkd reads numbers, "
        f"booleans, text and categories. {fix}."
    )


def _int64_levels(levels: list[Any]) -> bool:
    """Whether every level is an integer within int64 (ids of 2**63 and up are not)."""
    return (
        bool(levels)
        and {type(v) for v in levels} == {int}
        and (-(2**63) <= min(levels) and max(levels) < 2**63)
    )


def _level_aliases(levels: list[Any]) -> dict[Any, int] | None:
    """How :func:`_level_code` reads a value spelled as the other type.

    Codes arrive as numbers where text was fitted, or the reverse, whenever a file or a
    request goes through CSV, JSON or a typed parquet column; they are matched to their
    level instead of scored as unseen. Text levels: ``{number: level index}`` for the
    levels that spell an integer (``1`` for ``"1"``; not ``"01"`` or ``"1.0"``). Number
    levels: ``None``, text is read as a number (``"4"``, ``"4.0"`` for ``4``). Boolean
    levels: their text (``"True"``, ``"true"``, ``"1"``; a CSV of a nullable boolean).
    Columns mixing text and numbers: ``{}`` (see :func:`_warn_if_mixed`).
    """
    kinds = {type(v) for v in levels}
    if kinds in ({int}, {float}, {int, float}):
        return None
    aliases: dict[Any, int] = {}
    if kinds == {bool}:
        for i, level in enumerate(levels):
            for text in (str(level), str(level).lower(), str(level).upper(), str(int(level))):
                aliases[text] = i
    if kinds == {str}:
        for i, level in enumerate(levels):
            try:
                number = int(level)
            except ValueError:
                continue
            if str(number) == level:
                aliases[number] = i
    return aliases


def _level_code(lookup: dict[Any, int], alias: dict[Any, int] | None, value: Any) -> int:
    """Level index of ``value``, also when spelled as the other type (:func:`_level_aliases`)."""
    code = lookup.get(value, UNSEEN)
    if code != UNSEEN:
        return code
    if alias is not None:
        return alias.get(value, UNSEEN)
    if isinstance(value, str):
        for number in (int, float):  # int first: ids beyond 2**53 are not floats
            try:
                code = lookup.get(number(value), UNSEEN)  # 4.0 finds the level 4 (equal hashes)
            except ValueError:
                continue
            if code != UNSEEN:
                return code
    return UNSEEN


def _warn_if_mixed(name: str, levels: list[Any]) -> None:
    """Warn when a categorical column's levels mix text with numbers (or other values)."""
    text = next((v for v in levels if isinstance(v, str)), None)
    other = next((v for v in levels if not isinstance(v, str)), None)
    if text is None or other is None:
        return
    warnings.warn(
        f"Column {name!r} mixes text and other values as categories (e.g. {text!r} and "
        f"{other!r}): {other!r} and {str(other)!r} are different levels, so rows whose values "
        f"arrive as text (a CSV file, a JSON request) score {str(other)!r} as unseen. Make the "
        f"column text before fit: X[{name!r}] = X[{name!r}].astype(str).where(X[{name!r}].notna()).",
        UserWarning,
        stacklevel=5,  # the caller of DistilledClassifier.fit
    )


# Dates as CSV files and JSON hold them: ISO 8601 (2020-01, 2020-01-15, 2020-01-15T10:30)
# or day/month/year with slashes.
_DATE_TEXT = r"\d{4}-\d{2}(-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?)?|\d{1,2}/\d{1,2}/\d{2,4}"


def _warn_if_dates(name: str, levels: list[Any]) -> None:
    """Warn when every level of a categorical column is a date written as text."""
    if len(levels) < 2 or not all(isinstance(v, str) for v in levels):
        return
    if not pd.Index(levels).str.fullmatch(_DATE_TEXT).all():
        return
    warnings.warn(
        f"Column {name!r} holds dates as text (e.g. {levels[0]!r}, {levels[-1]!r}), read as a "
        f"category of {len(levels)} levels: every date after the training data's scores as an "
        "unseen level. Derive numeric features from it (e.g. days since an event, month of "
        "year) or use it to split the data, then drop it from X.",
        UserWarning,
        stacklevel=5,  # the caller of DistilledClassifier.fit
    )


def _is_missing(value: Any) -> bool:
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and value != value)
    )


def _to_list(values: Any) -> list[Any]:
    """Python objects of a short 1-d array (arrow-backed strings read without pandas overhead)."""
    arrow = getattr(values, "_pa_array", None)
    if arrow is not None:
        return arrow.to_pylist()
    return values.tolist() if hasattr(values, "tolist") else list(values)


#: Characters LightGBM (JSON's) and XGBoost refuse in feature names.
_BOOSTER_UNSAFE = re.compile(r'[\[\]{}":,<]')


def booster_names(names: list[str]) -> list[str]:
    """Column names the GBDT libraries accept: each character LightGBM (``"`` ``,`` ``:``
    ``[`` ``]`` ``{`` ``}``) or XGBoost (``[`` ``]`` ``<``) refuses becomes ``_``, and a
    name that then repeats another gets a number (``Unnamed: 0`` -> ``Unnamed_ 0``)."""
    taken = set(names)
    out = []
    for name in names:
        safe = _BOOSTER_UNSAFE.sub("_", name)
        if safe != name:
            base, k = safe, 1
            while safe in taken:
                safe, k = f"{base}_{k}", k + 1
            taken.add(safe)
        out.append(safe)
    return out


_TEMPORAL_ARRAYS = frozenset(
    {pd.arrays.DatetimeArray, pd.arrays.TimedeltaArray, pd.arrays.PeriodArray}
)
_ANY_DTYPE_ARRAYS = frozenset({np.ndarray, pd.arrays.ArrowExtensionArray})


def _numeric_column(name: str, values: Any) -> np.ndarray:
    """``values`` as float64, or an error naming the column and the values that are not numbers."""
    if isinstance(values, pd.Series):
        values = values.array
    # Type lookups, not dtype attributes: this runs per column of every one-row request.
    kind = type(values)
    if kind in _TEMPORAL_ARRAYS or (kind in _ANY_DTYPE_ARRAYS and values.dtype.kind in "mM"):
        raise ValueError(
            f"Column {name!r} holds dates or durations ({values.dtype}), but the model reads "
            "it as a number; give it the numbers the model was fitted on (e.g. days)."
        )
    try:
        if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        # An object column of numbers and pd.NA (a nullable column passed through MLflow's
        # signature enforcement, or built by hand) is numbers with missing values.
        original = pd.Series(np.asarray(values, dtype=object))
        parsed = pd.to_numeric(original, errors="coerce")
        unparsed = parsed.isna() & original.notna()
        if not unparsed.any():
            return parsed.to_numpy(dtype=np.float64)
        if (error := _unhashable_error(name, original)) is not None:
            raise error from None
        bad = list(dict.fromkeys(str(v) for v in original[unparsed]))[:5]
        raise ValueError(
            f"Column {name!r} must be numeric (it was numeric when the model was fitted), but it "
            f"holds values that are not numbers: {bad}. Convert it with "
            "pd.to_numeric (fix decimal commas and placeholders such as 'n/a'; use NaN for "
            "missing); map boolean text such as 'true' / 'false' to True / False."
        ) from None


def _unhashable_error(name: str, values: Any) -> ValueError | None:
    """The error naming the column, if it holds values that are not scalars (lists, dicts)."""
    example = next((v for v in values if not pd.api.types.is_hashable(v)), None)
    if example is None:
        return None
    return ValueError(
        f"Column {name!r} holds values of type {type(example).__name__} (e.g. "
        f"{str(example)[:50]}); riskkd reads numbers, booleans, text and categories. "
        "Derive such features from them or drop the column."
    )


def _inf_message(name: str, values: np.ndarray) -> str:
    n_inf = int(np.isinf(values).sum())
    return (
        f"Column {name!r} holds {n_inf} infinite value(s); riskkd accepts NaN for missing values "
        "but not +-inf. Replace them, e.g. X.replace([np.inf, -np.inf], np.nan)."
    )
