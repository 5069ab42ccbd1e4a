"""Tests for riskkd.schemas: the pandera data contracts and their YAML exports."""

import doctest
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

import riskkd.schemas
from riskkd.datasets import load_credit_data, load_lending_club_grades, make_transactions
from riskkd.schemas import (
    SCHEMAS,
    CreditApplicationSchema,
    FraudTransactionSchema,
    RiskRatingSchema,
    SchemaValidationError,
    export_schemas,
    validate,
)

COMMITTED_SCHEMAS = Path(__file__).resolve().parents[1] / "data_schemas"


@pytest.fixture(scope="module")
def credit():
    return load_credit_data().frame


@pytest.fixture(scope="module")
def lending():
    return load_lending_club_grades().frame


@pytest.fixture(scope="module")
def transactions():
    return make_transactions(5_000, random_state=0)


@pytest.fixture(scope="module")
def frames(credit, lending, transactions):
    return {
        "credit_application": credit,
        "risk_rating": lending,
        "fraud_transaction": transactions,
    }


def test_schemas_registry():
    assert SCHEMAS == {
        "fraud_transaction": FraudTransactionSchema,
        "credit_application": CreditApplicationSchema,
        "risk_rating": RiskRatingSchema,
    }


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_bundled_data_validates(frames, name):
    frame = frames[name]
    pd.testing.assert_frame_equal(validate(frame, name), frame)


@pytest.mark.parametrize(
    "name, target",
    [
        ("credit_application", "Status"),
        ("risk_rating", "grade"),
        ("fraud_transaction", "is_fraud"),
    ],
)
def test_target_is_optional(frames, name, target):
    # The same contract checks unlabelled frames to score.
    validate(frames[name].drop(columns=target), name)


def test_drifting_transactions_and_parquet_validate(tmp_path):
    validate(make_transactions(2_000, drift=1.0, random_state=1), "fraud_transaction")
    folder = make_transactions(2_000, random_state=1, path=tmp_path, chunk_rows=700)
    validate(pd.read_parquet(folder), "fraud_transaction")


def test_failing_frame_names_column_and_value(credit):
    bad = credit.assign(Age=credit["Age"].where(credit.index != 3, 150))
    with pytest.raises(SchemaValidationError, match=r"column 'Age': in_range\(18, 100\)") as info:
        validate(bad, "credit_application")
    message = str(info.value)
    assert "150 (row 3)" in message
    assert "'credit_application'" in message
    assert isinstance(info.value, ValueError)
    assert info.value.schema_name == "credit_application"
    assert info.value.failure_cases["column"].tolist() == ["Age"]


def test_all_failures_reported_at_once(credit):
    bad = credit.assign(
        Home=credit["Home"].where(credit.index != 5, "castle"),
        Income=-credit["Income"],
        Records=credit["Records"].where(credit.index != 0, None),
    ).drop(columns="Job")
    with pytest.raises(SchemaValidationError) as info:
        validate(bad, "credit_application")
    message = str(info.value)
    assert "column 'Home': isin" in message
    assert "'castle' (row 5)" in message
    assert "column 'Income': greater_than_or_equal_to(0)" in message
    assert "column 'Records'" in message and "not_nullable" in message
    assert "missing column(s): 'Job'" in message


def test_text_in_a_numeric_column_and_a_missing_one_read_plainly(credit):
    bad = credit.assign(Income=credit["Income"].astype(object).where(credit.index != 2, "12,5"))
    with pytest.raises(SchemaValidationError) as info:
        validate(bad.drop(columns="Price"), "credit_application")
    lines = str(info.value).splitlines()[1:]
    # A check that cannot run on a missing or text column is a consequence, not listed.
    assert lines == [
        "  - missing column(s): 'Price'",
        "  - column 'Income': expected dtype('float64'), got '12,5' (row 2)",
    ]


def test_yaml_contract_reads_like_the_named_one(credit, tmp_path):
    from riskkd.pipeline._data import validate_contract

    bad = credit.assign(Age=credit["Age"].where(credit.index != 3, 150), leak=1)
    messages = []
    for contract in ("credit_application", COMMITTED_SCHEMAS / "credit_application.yaml"):
        with pytest.raises(SchemaValidationError) as info:
            validate_contract(bad, contract)
        messages.append(str(info.value).splitlines()[1:])
    assert messages[0] == messages[1]
    assert "  - unexpected column(s), not in the contract: 'leak'" in messages[1]


def test_leakage_column_is_rejected(lending):
    # The contract is strict: a leakage column that came back is an error.
    raw = lending.assign(interest_rate=10.0, sub_grade="A1")
    with pytest.raises(SchemaValidationError, match="unexpected column") as info:
        validate(raw, "risk_rating")
    assert "'interest_rate'" in str(info.value)
    assert "'sub_grade'" in str(info.value)


def test_risk_rating_grade_and_dtype(lending):
    bad = lending.assign(
        grade=lending["grade"].replace("G", "H"),
        loan_amount=lending["loan_amount"].astype(float),
    )
    with pytest.raises(SchemaValidationError) as info:
        validate(bad, "risk_rating")
    message = str(info.value)
    assert "column 'grade': isin(['A', 'B', 'C', 'D', 'E', 'F', 'G']) failed for 12" in message
    assert "column 'loan_amount': expected dtype('int64'), got float64" in message


def test_risk_rating_joint_fields(lending):
    bad = lending.assign(annual_income_joint=lending["annual_income_joint"].fillna(0.0))
    with pytest.raises(SchemaValidationError, match="filled_only_when") as info:
        validate(bad, "risk_rating")
    assert "failed for 8505 row(s)" in str(info.value)


def test_fraud_contract_failures(transactions):
    bad = transactions.copy()
    bad.loc[1, "transaction_id"] = bad.loc[0, "transaction_id"]
    bad.loc[2, "amount"] = -1.0
    bad.loc[3, "channel"] = "carrier_pigeon"
    bad.loc[4, "cust_txn_count_24h"] = bad.loc[4, "cust_txn_count_7d"] + 1
    bad["is_fraud"] = bad["is_fraud"].replace({1: 2}).astype(np.int8)
    with pytest.raises(SchemaValidationError) as info:
        validate(bad, "fraud_transaction")
    message = str(info.value)
    assert "column 'transaction_id': field_uniqueness" in message
    assert "column 'amount': greater_than_or_equal_to(0) failed for 1 value(s): -1.0 (row 2)" in (
        message
    )
    assert "'carrier_pigeon' (row 3)" in message
    assert "ordered_columns" in message and "row 4" in message
    assert "column 'is_fraud': isin([0, 1])" in message


def test_unknown_schema_name_lists_valid_names(credit):
    with pytest.raises(ValueError, match="Did you mean 'risk_rating'") as info:
        validate(credit, "risk_ratings")
    for name in SCHEMAS:
        assert name in str(info.value)


def test_committed_exports_are_up_to_date(tmp_path):
    paths = export_schemas(tmp_path)
    assert [path.name for path in paths] == [f"{name}.yaml" for name in SCHEMAS]
    committed = sorted(path.name for path in COMMITTED_SCHEMAS.glob("*.yaml"))
    assert committed == sorted(path.name for path in paths)
    for path in paths:
        expected = (COMMITTED_SCHEMAS / path.name).read_text(encoding="utf-8")
        assert path.read_text(encoding="utf-8") == expected, (
            f"data_schemas/{path.name} is stale: run "
            "`python -c \"from riskkd.schemas import export_schemas; export_schemas('data_schemas')\"`"
        )


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_exported_yaml_round_trips(frames, name):
    schema = pa.DataFrameSchema.from_yaml(COMMITTED_SCHEMAS / f"{name}.yaml")
    assert schema.name == SCHEMAS[name].Config.name
    assert list(schema.columns) == list(SCHEMAS[name].to_schema().columns)
    schema.validate(frames[name])
    # The registered cross-column checks survive the round trip.
    assert len(schema.checks) == len(SCHEMAS[name].to_schema().checks) > 0


def test_schema_doctests():
    results = doctest.testmod(riskkd.schemas, optionflags=doctest.ELLIPSIS)
    assert results.attempted > 0
    assert results.failed == 0
