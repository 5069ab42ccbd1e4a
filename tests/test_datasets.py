"""Tests for riskkd.datasets: the bundled loaders and the transaction generator."""

import doctest

import numpy as np
import pandas as pd
import pytest
from sklearn.utils import Bunch

import riskkd.datasets._loaders
from riskkd.datasets import (
    DATASETS,
    load_credit_data,
    load_dataset,
    load_german_credit,
    load_lending_club_grades,
    load_taiwan_credit,
    load_vehicle_fraud,
    train_test_split_recommended,
)

# name, loader, (n_rows, n_features), target name, removed columns, positives (binary)
LOADER_CASES = [
    (
        "vehicle_insurance_fraud",
        load_vehicle_fraud,
        (15420, 29),
        "FraudFound_P",
        ["PolicyNumber", "RepNumber", "Year"],
        923,
    ),
    (
        "taiwan_credit_default",
        load_taiwan_credit,
        (30000, 23),
        "default.payment.next.month",
        ["ID"],
        6636,
    ),
    ("credit_data_belanche", load_credit_data, (4454, 13), "Status", [], 1254),
    ("german_credit", load_german_credit, (1000, 20), "creditability", [], 300),
    (
        "lending_club_grades_2018q1",
        load_lending_club_grades,
        (10000, 41),
        "grade",
        [
            "sub_grade",
            "interest_rate",
            "installment",
            "loan_status",
            "balance",
            "paid_total",
            "paid_principal",
            "paid_interest",
            "paid_late_fees",
            "issue_month",
            "initial_listing_status",
            "disbursement_method",
            "emp_title",
        ],
        None,
    ),
]
CASE_IDS = [case[0] for case in LOADER_CASES]


@pytest.fixture(scope="module")
def bunches():
    """Each dataset loaded once for the module (reading all five takes ~1 s)."""
    return {name: loader() for name, loader, *_ in LOADER_CASES}


@pytest.mark.parametrize(
    "name, loader, shape, target, removed, n_positive", LOADER_CASES, ids=CASE_IDS
)
def test_loader_bunch(bunches, name, loader, shape, target, removed, n_positive):
    bunch = bunches[name]
    assert isinstance(bunch, Bunch)
    assert set(bunch) == {
        "data",
        "target",
        "frame",
        "feature_names",
        "target_names",
        "time",
        "DESCR",
    }
    assert bunch.data.shape == shape
    assert bunch.feature_names == list(bunch.data.columns)
    assert not set(removed) & set(bunch.data.columns)
    assert target not in bunch.data.columns
    assert bunch.target.name == target
    assert len(bunch.target) == shape[0]
    assert bunch.frame.shape == (shape[0], shape[1] + 1)
    pd.testing.assert_frame_equal(bunch.frame.drop(columns=target), bunch.data)
    assert bunch.target.notna().all()
    assert name in bunch.DESCR
    for section in (":Origin:", ":Licence:", ":Recommended split:", ":Target:"):
        assert section in bunch.DESCR
    if n_positive is not None:
        assert bunch.target.dtype == np.int64
        assert set(bunch.target.unique()) == {0, 1}
        assert int(bunch.target.sum()) == n_positive
        assert f"{n_positive:,}" in bunch.DESCR
        assert len(bunch.target_names) == 2


@pytest.mark.parametrize("name, loader", [case[:2] for case in LOADER_CASES], ids=CASE_IDS)
def test_loader_dtypes_follow_read_csv(bunches, name, loader):
    # String columns stay pandas strings (not category) and numbers stay numbers.
    for column, dtype in bunches[name].data.dtypes.items():
        assert isinstance(dtype, pd.StringDtype) or pd.api.types.is_numeric_dtype(dtype), (
            column,
            dtype,
        )


def test_vehicle_fraud_time_is_year(bunches):
    bunch = bunches["vehicle_insurance_fraud"]
    assert bunch.time.name == "Year"
    assert bunch.time.index.equals(bunch.data.index)
    assert bunch.time.value_counts().sort_index().to_dict() == {
        1994: 6142,
        1995: 5195,
        1996: 4083,
    }


def test_only_vehicle_fraud_has_time(bunches):
    assert [name for name, bunch in bunches.items() if bunch.time is not None] == [
        "vehicle_insurance_fraud"
    ]


def test_lending_club_target_is_grade_strings(bunches):
    bunch = bunches["lending_club_grades_2018q1"]
    assert bunch.target_names.tolist() == list("ABCDEFG")
    assert bunch.target.value_counts().to_dict() == {
        "B": 3037,
        "C": 2653,
        "A": 2459,
        "D": 1446,
        "E": 335,
        "F": 58,
        "G": 12,
    }


def test_binary_targets_encode_the_bad_event():
    raw = riskkd.datasets._loaders._read_bundled_csv("credit_data_belanche.csv.gz")
    y = load_credit_data().target
    np.testing.assert_array_equal(y.to_numpy(), (raw["Status"] == "bad").to_numpy())


@pytest.mark.parametrize("name, loader", [case[:2] for case in LOADER_CASES], ids=CASE_IDS)
def test_return_X_y(bunches, name, loader):
    X, y = loader(return_X_y=True)
    pd.testing.assert_frame_equal(X, bunches[name].data)
    pd.testing.assert_series_equal(y, bunches[name].target)


def test_as_frame_false_numeric_dataset():
    bunch = load_taiwan_credit(as_frame=False)
    assert isinstance(bunch.data, np.ndarray)
    assert bunch.data.dtype == np.float64
    assert bunch.data.shape == (30000, 23)
    assert isinstance(bunch.target, np.ndarray)
    assert bunch.frame is None
    X, y = load_taiwan_credit(return_X_y=True, as_frame=False)
    np.testing.assert_array_equal(X, bunch.data)
    assert int(y.sum()) == 6636


@pytest.mark.parametrize(
    "loader",
    [load_vehicle_fraud, load_credit_data, load_german_credit, load_lending_club_grades],
)
def test_as_frame_false_with_strings_raises(loader):
    with pytest.raises(ValueError, match="as_frame=True"):
        loader(as_frame=False)


def test_load_dataset_maps_names():
    assert DATASETS == tuple(case[0] for case in LOADER_CASES)
    for name, loader, shape, *_ in LOADER_CASES:
        X, y = load_dataset(name, return_X_y=True)
        assert X.shape == shape, name
        pd.testing.assert_series_equal(y, loader(return_X_y=True)[1])


def test_load_dataset_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="german_credit") as excinfo:
        load_dataset("german")
    message = str(excinfo.value)
    assert "'german'" in message
    assert "Did you mean 'german_credit'?" in message
    for name in DATASETS:
        assert name in message


def test_split_vehicle_fraud_is_temporal(bunches):
    bunch = bunches["vehicle_insurance_fraud"]
    X_train, X_test, y_train, y_test = train_test_split_recommended(
        bunch, test_size=0.5, random_state=0
    )
    assert set(bunch.time[X_test.index]) == {1996}
    assert set(bunch.time[X_train.index]) == {1994, 1995}
    assert len(X_test) == len(y_test) == 4083
    assert len(X_train) + len(X_test) == len(bunch.data)
    assert y_test.index.equals(X_test.index)
    assert int(y_train.sum()) + int(y_test.sum()) == 923


@pytest.mark.parametrize("name", ["german_credit", "lending_club_grades_2018q1"])
def test_split_is_stratified(bunches, name):
    bunch = bunches[name]
    X_train, X_test, y_train, y_test = train_test_split_recommended(
        bunch, test_size=0.25, random_state=0
    )
    assert len(X_test) == len(bunch.data) // 4
    assert len(X_train) + len(X_test) == len(bunch.data)
    train_share = y_train.value_counts(normalize=True)
    test_share = y_test.value_counts(normalize=True)
    # Stratification keeps every class, even G (12 rows), in both parts.
    assert set(test_share.index) == set(bunch.target.unique())
    np.testing.assert_allclose(test_share[train_share.index], train_share, atol=0.01)


def test_split_rejects_tuples():
    with pytest.raises(TypeError, match="return_X_y=False"):
        train_test_split_recommended(load_german_credit(return_X_y=True))


def test_loader_doctests():
    results = doctest.testmod(riskkd.datasets._loaders, optionflags=doctest.ELLIPSIS)
    assert results.attempted > 0
    assert results.failed == 0
