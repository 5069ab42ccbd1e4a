"""Pipeline data: load the rows, check them against a data contract, split them."""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._files import FILES_READ, file_kind, open_zip_member

__all__ = [
    "Dataset",
    "TrainTestSplit",
    "load_data",
    "read_table",
    "split_data",
    "validate_contract",
]


@dataclass
class Dataset:
    """Rows of a pipeline: the features, the target and the split column.

    Attributes
    ----------
    frame : DataFrame
        The rows as loaded: features, target, and the ``data.drop`` and split columns.
    features : list of str
    target : str
    split_column : Series or None
        The time or group column of the split (not a feature), aligned with ``frame``.
    source : str
        The dataset name or file path, for messages and MLflow.
    """

    frame: pd.DataFrame
    features: list[str]
    target: str
    split_column: pd.Series | None
    source: str

    @property
    def X(self) -> pd.DataFrame:
        return self.frame[self.features]

    @property
    def y(self) -> pd.Series:
        return self.frame[self.target]

    def contract_frame(self, contract: str | Path) -> pd.DataFrame:
        """The columns a contract checks: features and target, and the columns set aside
        (``data.drop``, the split column) that the contract names, such as an id it requires
        unique. A set-aside column the contract does not name never reaches the model, so a
        strict contract does not see it."""
        named = contract_schema(contract)[0].columns
        kept = {*self.features, self.target}
        return self.frame[[c for c in self.frame.columns if c in kept or c in named]]


@dataclass
class TrainTestSplit:
    """Training and test rows.

    With the Dask engine, ``X_train`` and ``y_train`` are Dask collections (read when the
    teacher trains) and ``n_train`` is counted once when splitting; the test rows are in
    memory. ``groups_train`` holds the group of every training row after a group split
    (a Dask series with the Dask engine), so that cross-fitting keeps groups apart too.
    """

    X_train: Any
    X_test: pd.DataFrame
    y_train: Any
    y_test: pd.Series
    n_train: int = -1
    groups_train: pd.Series | None = None

    def __post_init__(self) -> None:
        if self.n_train < 0:
            self.n_train = len(self.y_train)

    @property
    def n_test(self) -> int:
        return len(self.y_test)


def _missing_column(column: str, columns: Any, key: str) -> ValueError:
    close = difflib.get_close_matches(str(column), [str(c) for c in columns], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(map(str, list(columns)[:30]))
    return ValueError(f"{key}: column {column!r} is not in the data.{hint} Columns: {shown}")


def table_kind(path: Path) -> str:
    """``"parquet"`` (a parquet file or folder) or ``"csv"`` (see :mod:`riskkd._files`);
    otherwise an error naming ``data.path`` and the files it may be. ``path`` must exist."""
    kind = "parquet" if path.is_dir() else file_kind(path)
    if kind is None:
        raise ValueError(
            f"data.path: {str(path)!r} is neither {FILES_READ} nor a folder of parquet "
            "files; rename it or convert it."
        )
    if path.name.lower().endswith(".zip"):
        try:
            open_zip_member(path).close()
        except ValueError as error:
            raise ValueError(f"data.path: {error}") from None
    return kind


def check_exists(path: Path) -> None:
    """Refuse a ``data.path`` that does not exist, saying where a relative one was read."""
    if not path.exists():
        where = "" if path.is_absolute() else f" in the working folder {str(Path.cwd())!r}"
        raise FileNotFoundError(
            f"data.path: {str(path)!r} does not exist{where}. A relative data.path is read from "
            "the folder riskkd runs in, not the config's: run from the project folder or give "
            "an absolute path."
        )


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV file, a parquet file or a folder of parquet files (see :func:`table_kind`)."""
    path = Path(path)
    check_exists(path)
    if table_kind(path) == "parquet":
        return pd.read_parquet(path)
    return _read_csv(path)


def _read_csv(path: Path) -> pd.DataFrame:
    """A comma-separated file; a header naming a column twice is refused (pandas renames
    the second ``x.1``, so a model would be fitted on both and score neither file)."""
    try:
        header = pd.read_csv(path, header=None, nrows=1, dtype=str).iloc[0].tolist()
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(
            f"data.path: {str(path)!r} cannot be read as comma-separated CSV ({error}). riskkd "
            "reads ',' as the separator: re-export with ',' (or as parquet)."
        ) from None
    twice = sorted({str(c) for c in header if header.count(c) > 1})
    if twice:
        raise ValueError(
            f"data.path: {str(path)!r} has column(s) {twice} more than once; which one to read "
            "is ambiguous. Give each column one name."
        )
    if len(header) == 1 and ";" in str(header[0]):
        raise ValueError(
            f"data.path: {str(path)!r} reads as one column {header[0]!r}: it looks "
            "';'-separated. riskkd reads ',' as the separator: re-export with ',' (or as parquet)."
        )
    return whole_floats_as_integers(frame)


def whole_floats_as_integers(frame: Any) -> Any:
    """A CSV's float columns holding only whole numbers (no missing value), as int64.

    One rule for both engines, pandas or Dask frame (one pass over a Dask frame's float
    columns): the Dask engine reads every numeric CSV column as float (``assume_missing``),
    and a file may write ``1.0`` where another writes ``1``. Same types, same verdicts
    whatever the engine or the file: labels 0 / 1 are ``classes_`` [0, 1] with outputs
    ``proba_0``, ``proba_1``, and a contract's integer columns pass.
    """
    floats = [c for c in frame.columns if frame[c].dtype.kind == "f"]
    if not floats:
        return frame
    whole = is_whole(frame[floats]).all()
    if hasattr(whole, "compute"):  # a Dask frame
        whole = whole.compute()
    columns = [c for c in floats if whole[c]]
    return frame.astype(dict.fromkeys(columns, "int64")) if columns else frame


def is_whole(values: Any) -> Any:
    """Elementwise: a whole number that int64 holds exactly (NaN and inf are not)."""
    return (values % 1 == 0) & (values.abs() <= 2**53)


def load_data(data_config: Any, split_config: Any, seed: int) -> Dataset:
    """Load the rows a pipeline config names.

    Parameters
    ----------
    data_config : DataConfig
    split_config : TimeSplit, GroupSplit or StratifiedSplit
        Its ``column`` (time or group) is kept aside, not used as a feature.
    seed : int
        Seed of the ``n_rows`` sample.

    Returns
    -------
    dataset : Dataset
    """
    if data_config.dataset is not None:
        from ..datasets import load_dataset

        bunch = load_dataset(data_config.dataset)
        frame = bunch.frame
        target = bunch.target.name
        if bunch.time is not None and getattr(split_config, "column", None) == bunch.time.name:
            # The loader keeps time out of the features; it comes back only to split on.
            frame = frame.assign(**{bunch.time.name: bunch.time})
        source = data_config.dataset
    else:
        frame = read_table(data_config.path)
        target = data_config.target
        source = str(data_config.path)
    if data_config.dataset is not None and data_config.target not in (None, target):
        raise ValueError(
            f"data.target: the {data_config.dataset!r} dataset's target is {target!r}, "
            f"got {data_config.target!r}; leave data.target out for a bundled dataset."
        )
    if target not in frame.columns:
        raise _missing_column(target, frame.columns, "data.target")
    for column in data_config.drop:
        if column not in frame.columns:
            raise _missing_column(column, frame.columns, "data.drop")
    split_name = getattr(split_config, "column", None)
    if split_name is not None and split_name not in frame.columns:
        raise _missing_column(split_name, frame.columns, "split.column")
    if frame[target].isna().any():
        n = int(frame[target].isna().sum())
        raise ValueError(
            f"data.target: column {target!r} has {n} missing label(s); drop those rows from "
            f"{source} first."
        )
    if data_config.n_rows is not None and data_config.n_rows < len(frame):
        frame = frame.sample(n=data_config.n_rows, random_state=seed).sort_index()
    frame = frame.reset_index(drop=True)
    split_column = frame[split_name] if split_name is not None else None
    removed = {target, *data_config.drop, *([split_name] if split_name else [])}
    features = [c for c in frame.columns if c not in removed]
    return Dataset(
        frame=frame,
        features=features,
        target=target,
        split_column=split_column,
        source=source,
    )


def resolve_contract(contract: str, base: Path | None = None, key: str = "contract") -> str | Path:
    """A contract name of :data:`riskkd.schemas.SCHEMAS`, or the path of a pandera YAML file.

    A value ending in ``.yaml`` / ``.yml`` is a file path, looked for as given (relative to
    the working folder), then relative to ``base`` (the config's folder) and its parent. The
    path of a bundled contract in the project (``data_schemas/credit_application.yaml``),
    when that file is not found, falls back to the bundled contract, so a pipeline also
    runs from an installed package without the ``data_schemas/`` folder; any other missing
    file is an error (a team's own contract misspelt must not check the bundled one).
    Errors name ``key``: the config key or command-line flag the value came from.
    """
    from ..schemas import SCHEMAS

    if not contract.endswith((".yaml", ".yml")):
        if contract not in SCHEMAS:
            close = difflib.get_close_matches(contract, list(SCHEMAS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"{key}: {contract!r} is neither a YAML file nor one of "
                f"{', '.join(map(repr, SCHEMAS))}.{hint}"
            )
        return contract
    path = Path(contract)
    candidates = [path]
    if base is not None and not path.is_absolute():
        candidates += [base / path, base.parent / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if path.stem in SCHEMAS and path.as_posix() == f"data_schemas/{path.name}":
        return path.stem
    raise FileNotFoundError(
        f"{key}: {contract!r} was not found (looked in {', '.join(map(str, candidates))}); "
        f"give a pandera YAML file or one of {', '.join(map(repr, SCHEMAS))}."
    )


def validate_contract(frame: pd.DataFrame, contract: str | Path) -> str:
    """Check ``frame`` against a contract; returns the contract's name.

    Raises :class:`riskkd.schemas.SchemaValidationError` listing every broken check.
    """
    from ..schemas import validate_with

    schema, name, described = contract_schema(contract)
    validate_with(frame, schema, name, described)
    return name


def contract_schema(contract: str | Path) -> tuple[Any, str, str]:
    """``(pandera schema, contract name, its class or file)`` of a resolved contract: a name
    of :data:`riskkd.schemas.SCHEMAS` or a YAML file."""
    if isinstance(contract, str):
        from ..schemas import SCHEMAS

        model = SCHEMAS[contract]
        return model.to_schema(), contract, model.__name__
    import pandera.pandas as pa

    return pa.DataFrameSchema.from_yaml(contract), contract.stem, str(contract)


def time_test_mask(column: pd.Series, cutoff: Any, dayfirst: bool | None = None) -> pd.Series:
    """Rows of a time split's test set: ``column >= cutoff``, compared as times or numbers.

    Datetime columns compare as times (a cutoff without a time zone is read in the
    column's). Text and categories (a CSV's dates, a Hive folder's ``Year=1996``) are read
    as numbers when every value is one, else as dates (:func:`text_as_times`); text
    compared as text would put ``"07/15/2019"`` after ``"07/01/2020"``. A missing time has
    no side: refused.
    """
    name = column.name
    if len(column) == 0:  # an empty partition (a Spark job's empty file)
        return pd.Series([], dtype=bool, index=column.index)
    n_missing = int(column.isna().sum())
    if n_missing:
        raise ValueError(
            f"split.column: {name!r} has {n_missing} missing value(s), which a time split "
            "cannot place on either side; drop those rows or fill them."
        )
    values = _comparable(column, cutoff)
    if pd.api.types.is_string_dtype(values.dtype):
        values, dayfirst = text_as_times(values, dayfirst, f"split.column: {name!r}")
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        if isinstance(cutoff, str):  # read as the column is (e.g. day first)
            written = pd.Series([cutoff], dtype="string")
            bound = text_as_times(written, dayfirst, f"split.cutoff: {cutoff!r}")[0].iloc[0]
        else:
            raise ValueError(
                f"split.cutoff: {cutoff!r} is not a time, and column {name!r} holds times; "
                "give a date such as '2020-07-01'."
            )
        zone = getattr(values.dtype, "tz", None)
        if zone is not None and bound.tz is None:
            bound = bound.tz_localize(zone)
        elif zone is None and bound.tz is not None:
            raise ValueError(
                f"split.cutoff: {cutoff!r} has a time zone but column {name!r} has none; "
                "give the cutoff without one."
            )
    else:
        try:
            bound = float(cutoff)
        except (ValueError, TypeError):
            raise ValueError(
                f"split.cutoff: column {name!r} holds numbers but the cutoff is {cutoff!r}; "
                "give a number (e.g. 1996)."
            ) from None
    return values >= bound


def _comparable(column: pd.Series, cutoff: Any) -> pd.Series:
    """A time column as it compares with ``cutoff``: as it is (numbers, datetimes), as
    numbers (text that is all numbers, when the cutoff is a number too: ``"1996"``), or as
    text (dates still to read: ``"20190715"`` against ``"2020-07-01"``)."""
    if pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_datetime64_any_dtype(
        column.dtype
    ):
        return column
    text = column.astype("string")
    numbers = pd.to_numeric(text, errors="coerce")
    return numbers if numbers.notna().all() and _is_number(cutoff) else text


def text_as_times(
    text: pd.Series, dayfirst: bool | None, what: str
) -> tuple[pd.Series, bool | None]:
    """Dates written as text, read in one format for the whole column.

    ISO 8601 (``2020-07-01``, ``20200701``, with or without a time) is read as such.
    Otherwise the format pandas infers from the first value is used for every value, read
    month first or day first as ``dayfirst`` says; with ``dayfirst=None`` the column decides,
    and a column that reads both ways with different dates (``03/04/2020`` and no day past
    12) is refused rather than guessed. Reading each value on its own would take
    ``13/04/2020`` day first and ``03/04/2020`` month first in the same column.

    Parameters
    ----------
    text : Series of str
    dayfirst : bool or None
    what : str
        What the text is, for errors (``"split.column: 'when'"``).

    Returns
    -------
    times : Series of datetime64
    dayfirst : bool or None
        The order the text was read in, for reading a column's cutoff alike; ``dayfirst``
        as given for ISO 8601, and None for text that reads alike both ways (month names).
    """
    try:
        return pd.to_datetime(text, format="ISO8601"), dayfirst
    except (ValueError, TypeError):
        pass
    readings = _date_readings(text, (False, True) if dayfirst is None else (dayfirst,))
    if not readings:
        unread = pd.to_datetime(text, format="mixed", errors="coerce").isna().to_numpy()
        if unread.any():
            problem = f"text that is neither a number nor a date ({text.iloc[np.argmax(unread)]!r})"
        elif dayfirst is not None:
            order = "day" if dayfirst else "month"
            problem = (
                f"dates that do not all read {order} first in one format (e.g. {text.iloc[0]!r})"
            )
        else:
            problem = f"dates in more than one format (e.g. {text.iloc[0]!r})"
        raise ValueError(
            f"{what} holds {problem}. Write numbers (e.g. the year) or dates in one format, "
            "ideally ISO (2020-07-01)."
        )
    if len(readings) == 2:
        differ = np.flatnonzero((readings[False] != readings[True]).to_numpy())
        if len(differ):
            i = differ[0]
            raise ValueError(
                f"{what} holds dates such as {text.iloc[i]!r}, read as "
                f"{readings[False].iloc[i]:%Y-%m-%d} month first and "
                f"{readings[True].iloc[i]:%Y-%m-%d} day first. Set split.dayfirst (true or "
                "false) or write the dates as ISO (2020-07-01)."
            )
        return readings[False], None
    order = next(iter(readings))
    return readings[order], order


def date_orders(column: pd.Series, cutoff: Any) -> tuple[bool | None, ...]:
    """The date orders a time column's text reads in (False: month first, True: day first).

    ``(None,)`` where the order does not matter (numbers, datetimes, ISO 8601, no text,
    month names); ``()`` where no order reads it. The Dask runner intersects the orders of
    all partitions, so that every partition reads the column one way.
    """
    if column.isna().any() or not len(column):
        return (None,)  # refused, or no rows, in time_test_mask
    text = _comparable(column, cutoff)
    if not pd.api.types.is_string_dtype(text.dtype):
        return (None,)
    try:
        pd.to_datetime(text, format="ISO8601")
        return (None,)
    except (ValueError, TypeError):
        pass
    readings = _date_readings(text, (False, True))
    if len(readings) == 2 and readings[False].equals(readings[True]):
        return (None,)
    return tuple(readings)


def _date_readings(text: pd.Series, orders: tuple[bool, ...]) -> dict[bool, pd.Series]:
    """``text`` read in the format inferred from its first value, per date order that
    format keeps (pandas falls back to the other order when the first value needs it)."""
    from pandas.tseries.api import guess_datetime_format

    readings = {}
    for order in orders:
        with warnings.catch_warnings():  # pandas warns when it falls back to the other order
            warnings.simplefilter("ignore", UserWarning)
            written = guess_datetime_format(str(text.iloc[0]), dayfirst=order)
        if written is None or _day_first(written) not in (None, order):
            continue
        try:
            readings[order] = pd.to_datetime(text, format=written)
        except (ValueError, TypeError):
            continue
    return readings


def _day_first(written: str) -> bool | None:
    """Whether a strptime format puts the day before the month (None: not both numbers)."""
    if "%d" in written and "%m" in written:
        return written.index("%d") < written.index("%m")
    return None


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def check_groups(column: pd.Series) -> None:
    """Refuse missing group values: a row without a group cannot be kept apart."""
    n_missing = int(column.isna().sum())
    if n_missing:
        raise ValueError(
            f"split.column: {column.name!r} has {n_missing} missing value(s); a group split "
            "needs every row's group. Drop those rows or fill them."
        )


def check_split_classes(train_classes: Any, y_test: pd.Series, split_config: Any) -> None:
    """Refuse a split the model could not be fitted or judged on, before anything trains:
    a missing label, a training set of one class, a test class the training set lacks (the
    model cannot predict it), or a test set of one class (ROC-AUC, KS and the other
    fidelity figures compare classes)."""
    train_classes = pd.Series(train_classes)
    if train_classes.isna().any() or y_test.isna().any():
        raise ValueError(
            f"data.target: column {y_test.name!r} has missing label(s); drop those rows first."
        )
    if len(train_classes) < 2:
        raise ValueError(
            f"split: the training set holds only class {train_classes.tolist()[0]!r} with "
            f"{split_config!r}; change the split."
        )
    unseen = sorted(set(y_test.unique()) - set(train_classes), key=str)
    if unseen:
        rows = int(y_test.isin(unseen).sum())
        raise ValueError(
            f"split: class(es) {unseen} of {y_test.name!r} are only in the test set ({rows} "
            f"row(s)) with {split_config!r}; the model could not predict them. Move the cutoff "
            "or change the split so that the training set holds every class."
        )
    if y_test.nunique() < 2:
        raise ValueError(
            f"split: the test set holds only class {y_test.iloc[:1].tolist()[0]!r} with "
            f"{split_config!r}; ROC-AUC, KS and the other fidelity figures compare classes. "
            "Move the cutoff or change test_size."
        )


def split_data(dataset: Dataset, split_config: Any, seed: int) -> TrainTestSplit:
    """Training and test rows as ``split_config`` says (time, group or stratified).

    Examples
    --------
    >>> import pandas as pd
    >>> from riskkd.pipeline._config import TimeSplit
    >>> frame = pd.DataFrame({"x": range(6), "y": [0, 1, 0, 1, 0, 1]})
    >>> data = Dataset(frame, ["x"], "y", pd.Series([1994, 1994, 1995, 1995, 1996, 1996]), "demo")
    >>> split = split_data(data, TimeSplit(kind="time", column="Year", cutoff=1996), seed=0)
    >>> split.X_test["x"].tolist()
    [4, 5]
    """
    X, y = dataset.X, dataset.y
    kind = split_config.kind
    if kind == "stratified":
        from sklearn.model_selection import train_test_split

        counts = y.value_counts()
        if counts.min() < 2:
            raise ValueError(
                f"split: class {counts.index[-1:].tolist()[0]!r} has {counts.min()} row(s); a "
                "stratified split needs at least 2 per class. Use more rows (data.n_rows) or "
                "merge rare classes."
            )
        train, test = train_test_split(
            np.arange(len(y)), test_size=split_config.test_size, random_state=seed, stratify=y
        )
    elif kind == "time":
        is_test = time_test_mask(
            dataset.split_column, split_config.cutoff, split_config.dayfirst
        ).to_numpy()
        train, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    else:
        from sklearn.model_selection import GroupShuffleSplit

        check_groups(dataset.split_column)

        splitter = GroupShuffleSplit(
            n_splits=1, test_size=split_config.test_size, random_state=seed
        )
        train, test = next(splitter.split(X, y, groups=dataset.split_column))
    for side, rows in (("training", train), ("test", test)):
        if len(rows) == 0:
            raise ValueError(
                f"split: the {side} set is empty with {split_config!r}; move the cutoff or "
                "change test_size."
            )
    y_train = y.iloc[train]
    if y.nunique() < 2:
        raise ValueError(
            f"data.target: {y.name!r} holds one class ({y.iloc[:1].tolist()[0]!r}) in every row; a "
            "classifier needs at least two. Check the target column and the data."
        )
    if y_train.nunique() < 2:
        raise ValueError(
            f"split: the training set holds only class {y_train.iloc[:1].tolist()[0]!r}; change the split."
        )
    groups = dataset.split_column.iloc[train] if kind == "group" else None
    return TrainTestSplit(X.iloc[train], X.iloc[test], y_train, y.iloc[test], groups_train=groups)
