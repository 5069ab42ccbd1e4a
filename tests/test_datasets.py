"""Tests for riskkd.datasets: the bundled loaders and the transaction generator."""

import doctest
import filecmp

import numpy as np
import pandas as pd
import pytest
from sklearn.utils import Bunch

import riskkd.datasets._loaders
import riskkd.datasets._transactions
from riskkd.datasets import (
    DATASETS,
    load_credit_data,
    load_dataset,
    load_german_credit,
    load_lending_club_grades,
    load_taiwan_credit,
    load_vehicle_fraud,
    make_transactions,
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


# --- make_transactions ----------------------------------------------------------------

TRANSACTION_DTYPES = {
    "transaction_id": "int64",
    "timestamp": "datetime64[us]",
    "hour": "int8",
    "customer_id": "str",
    "merchant_id": "str",
    "merchant_category": "str",
    "channel": "str",
    "country": "str",
    "amount": "float64",
    "account_age_days": "int32",
    "cust_txn_count_24h": "int32",
    "cust_txn_count_7d": "int32",
    "cust_txn_count_30d": "int32",
    "cust_amount_sum_7d": "float64",
    "cust_amount_avg_30d": "float64",
    "hours_since_last_txn": "float64",
    "cust_merchant_txn_count": "int32",
    "is_fraud": "int8",
}


@pytest.fixture(scope="module")
def transactions():
    return make_transactions(20_000, random_state=42)


def test_transactions_columns_and_dtypes(transactions):
    assert transactions.shape == (20_000, len(TRANSACTION_DTYPES))
    assert transactions.dtypes.astype(str).to_dict() == TRANSACTION_DTYPES
    assert isinstance(transactions.index, pd.RangeIndex)


def test_transactions_values_are_plausible(transactions):
    df = transactions
    assert df["transaction_id"].is_unique
    assert df["timestamp"].is_monotonic_increasing
    assert (df["hour"] == df["timestamp"].dt.hour).all()
    assert (df["amount"] > 0).all()
    assert set(df["channel"]) == {"chip", "contactless", "swipe", "online", "phone"}
    assert df["merchant_category"].nunique() == 20
    assert df["customer_id"].nunique() > 500
    assert set(df["is_fraud"].unique()) == {0, 1}
    # History windows nest, and empty windows give zero sums and missing averages.
    assert (df["cust_txn_count_24h"] <= df["cust_txn_count_7d"]).all()
    assert (df["cust_txn_count_7d"] <= df["cust_txn_count_30d"]).all()
    assert ((df["cust_amount_sum_7d"] == 0) == (df["cust_txn_count_7d"] == 0)).all()
    no_history = df["cust_txn_count_30d"] == 0
    assert (df["cust_amount_avg_30d"].isna() == no_history).all()
    assert (df["hours_since_last_txn"].isna() == no_history).all()
    assert ((df["hours_since_last_txn"] < 24) == (df["cust_txn_count_24h"] > 0)).all()
    # Missing values exist: country of some card-not-present rows.
    assert 0 < df["country"].isna().sum() < 0.05 * len(df)
    assert df.loc[df["country"].isna(), "channel"].isin(["online", "phone"]).all()


def test_transactions_deterministic_for_a_seed(transactions):
    pd.testing.assert_frame_equal(make_transactions(20_000, random_state=42), transactions)
    other = make_transactions(20_000, random_state=43)
    assert not other["amount"].equals(transactions["amount"])


def test_transactions_generator_seed():
    a = make_transactions(1_000, random_state=np.random.default_rng(0))
    b = make_transactions(1_000, random_state=np.random.default_rng(0))
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("fraud_rate", [0.01, 0.05])
def test_transactions_fraud_rate(fraud_rate):
    y = make_transactions(100_000, fraud_rate=fraud_rate, random_state=0)["is_fraud"]
    # The intercept is calibrated on a pilot sample; the binomial noise of 100k
    # rows is about 0.0003 (1%) and 0.0007 (5%), so 20% relative slack is ample.
    assert y.mean() == pytest.approx(fraud_rate, rel=0.2)


def test_transactions_drift_moves_the_distribution():
    def online_share_by_half(df):
        online = df["channel"].isin(["online", "phone"])
        return online.groupby(df.index >= len(df) // 2).mean()

    stationary = online_share_by_half(make_transactions(40_000, random_state=0))
    drifting = online_share_by_half(make_transactions(40_000, drift=1.0, random_state=0))
    assert abs(stationary[True] - stationary[False]) < 0.02
    assert drifting[True] - drifting[False] > 0.05


def test_transactions_as_frame_false(transactions):
    columns = make_transactions(20_000, random_state=42, as_frame=False)
    assert list(columns) == list(TRANSACTION_DTYPES)
    assert all(isinstance(values, np.ndarray) for values in columns.values())
    np.testing.assert_array_equal(columns["amount"], transactions["amount"].to_numpy())
    assert columns["customer_id"].dtype == object


def _read_parts(folder):
    parts = sorted(folder.glob("part-*.parquet"))
    return parts, pd.concat([pd.read_parquet(part) for part in parts], ignore_index=True)


def test_transactions_parquet_chunks_match_memory(tmp_path):
    expected = make_transactions(12_345, random_state=3)
    folder = make_transactions(12_345, random_state=3, path=tmp_path / "tx", chunk_rows=1_000)
    assert folder == tmp_path / "tx"
    parts, written = _read_parts(folder)
    assert [part.name for part in parts] == [f"part-{i:05d}.parquet" for i in range(13)]
    assert len(pd.read_parquet(parts[-1])) == 345
    pd.testing.assert_frame_equal(written, expected)


def test_transactions_parquet_independent_of_chunking(tmp_path):
    # Rows come from fixed 50,000-row blocks, so any chunk size gives the same rows.
    n_rows = riskkd.datasets._transactions._BLOCK_ROWS + 1_000
    small = make_transactions(n_rows, random_state=5, path=tmp_path / "a", chunk_rows=7_000)
    large = make_transactions(n_rows, random_state=5, path=tmp_path / "b", chunk_rows=40_000)
    pd.testing.assert_frame_equal(_read_parts(small)[1], _read_parts(large)[1])


def test_transactions_parquet_files_identical_for_a_seed(tmp_path):
    first = make_transactions(3_000, random_state=7, path=tmp_path / "a", chunk_rows=1_000)
    second = make_transactions(3_000, random_state=7, path=tmp_path / "b", chunk_rows=1_000)
    names = [part.name for part in _read_parts(first)[0]]
    match, mismatch, errors = filecmp.cmpfiles(first, second, names, shallow=False)
    assert match == names and not mismatch and not errors


def test_transactions_refuses_to_overwrite(tmp_path):
    make_transactions(100, random_state=0, path=tmp_path, chunk_rows=50)
    with pytest.raises(FileExistsError, match=r"part-00000\.parquet"):
        make_transactions(100, random_state=0, path=tmp_path)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_rows": 0}, "n_rows must be an integer >= 1, got 0"),
        ({"n_rows": 10.5}, "n_rows must be an integer"),
        ({"fraud_rate": 0.0}, r"fraud_rate must be a float in \(0, 0.5\], got 0.0"),
        ({"drift": 2}, r"drift must be a float in \[0, 1\], got 2"),
        ({"chunk_rows": 0}, "chunk_rows must be an integer >= 1"),
        ({"n_customers": 0}, "n_customers must be an integer >= 1"),
        ({"random_state": "seed"}, "random_state must be None"),
    ],
)
def test_transactions_invalid_parameters(kwargs, match):
    params = {"n_rows": 100, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_transactions(**params)


def test_transactions_reward_interactions():
    # The fraud log-odds are built from conjunctions, so a boosted model must beat
    # an additive one clearly. Here the gap is ~0.07 (0.92 vs 0.85); the AUC noise
    # with ~600 test positives is ~0.01, so the promised 0.03 leaves a wide margin.
    lightgbm = pytest.importorskip("lightgbm")
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    df = make_transactions(100_000, fraud_rate=0.02, random_state=0)
    categorical = ["merchant_category", "channel", "country"]
    numeric = [
        "hour",
        "amount",
        "account_age_days",
        "cust_txn_count_24h",
        "cust_txn_count_7d",
        "cust_txn_count_30d",
        "cust_amount_sum_7d",
        "cust_amount_avg_30d",
        "hours_since_last_txn",
        "cust_merchant_txn_count",
    ]
    X = df[categorical + numeric].astype({column: "category" for column in categorical})
    X_train, X_test, y_train, y_test = train_test_split(
        X, df["is_fraud"], test_size=0.3, stratify=df["is_fraud"], random_state=0
    )
    # One thread: OpenMP threads on a busy 2-core machine can slow LightGBM 100-fold.
    boosted = lightgbm.LGBMClassifier(
        n_estimators=200,
        learning_rate=0.05,
        min_child_samples=50,
        n_jobs=1,
        verbose=-1,
        random_state=0,
    ).fit(X_train, y_train)
    linear = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), categorical),
            (
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True),
                    FunctionTransformer(np.log1p),
                    StandardScaler(),
                ),
                numeric,
            ),
        ),
        LogisticRegression(max_iter=1_000),
    ).fit(X_train, y_train)
    auc_boosted = roc_auc_score(y_test, boosted.predict_proba(X_test)[:, 1])
    auc_linear = roc_auc_score(y_test, linear.predict_proba(X_test)[:, 1])
    assert auc_boosted - auc_linear >= 0.03, (auc_boosted, auc_linear)


def test_transactions_doctests():
    results = doctest.testmod(riskkd.datasets._transactions)
    assert results.attempted > 0
    assert results.failed == 0
