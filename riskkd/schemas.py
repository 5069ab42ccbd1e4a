"""Data contracts (pandera) for the frames riskkd reads.

Three :class:`pandera.pandas.DataFrameModel` contracts, one per use case:

- :class:`FraudTransactionSchema`: the output of
  :func:`riskkd.datasets.make_transactions`.
- :class:`CreditApplicationSchema`: the Belanche credit applications of
  :func:`riskkd.datasets.load_credit_data`.
- :class:`RiskRatingSchema`: the Lending Club application features of
  :func:`riskkd.datasets.load_lending_club_grades`, leakage columns removed.

Each contract is strict (an unexpected column, such as a leakage column that
came back, is an error) and makes the target column optional, so the same
contract checks labelled training frames and unlabelled frames to score.
:func:`validate` checks a frame lazily and raises one
:class:`SchemaValidationError` listing every failing column and check;
:func:`export_schemas` writes the contracts to YAML (the copies in
``data_schemas/`` are kept equal to a fresh export by the tests).
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera import extensions
from pandera.api.checks import Check
from pandera.typing import Series

__all__ = [
    "SCHEMAS",
    "CreditApplicationSchema",
    "FraudTransactionSchema",
    "RiskRatingSchema",
    "SchemaValidationError",
    "export_schemas",
    "validate",
    "validate_with",
]


# Cross-column checks are registered with pandera's extension API so that they
# are serialised by name and arguments in the YAML export.
def _ordered_columns(df: pd.DataFrame, *, pairs: list[list[str]]) -> pd.DataFrame:
    """Each ``[smaller, larger]`` pair satisfies ``smaller <= larger`` (NaN passes)."""
    result = pd.DataFrame(True, index=df.index, columns=df.columns)
    for smaller, larger in pairs:
        ok = (df[smaller] <= df[larger]) | df[smaller].isna() | df[larger].isna()
        result[smaller] &= ok
        result[larger] &= ok
    return result


def _filled_only_when(
    df: pd.DataFrame, *, column: str, value: str, dependents: list[str]
) -> pd.DataFrame:
    """Each of ``dependents`` is filled exactly in the rows where ``column == value``."""
    result = pd.DataFrame(True, index=df.index, columns=df.columns)
    expected = df[column] == value
    for dependent in dependents:
        ok = df[dependent].notna() == expected
        result[dependent] &= ok
        result[column] &= ok
    return result


for _check, _statistics in (
    (_ordered_columns, ["pairs"]),
    (_filled_only_when, ["column", "value", "dependents"]),
):
    _name = _check.__name__.lstrip("_")
    if not hasattr(Check, _name):  # a module reload must not register twice
        _check.__name__ = _name
        extensions.register_check_method(statistics=_statistics, supported_types=pd.DataFrame)(
            _check
        )


_MERCHANT_CATEGORIES = [
    "grocery",
    "restaurants",
    "fuel",
    "pharmacy",
    "clothing",
    "department_stores",
    "electronics",
    "jewelry",
    "airlines",
    "hotels",
    "car_rental",
    "entertainment",
    "digital_goods",
    "gift_cards",
    "money_transfer",
    "gambling",
    "utilities",
    "healthcare",
    "home_improvement",
    "subscriptions",
]
_CHANNELS = ["chip", "contactless", "swipe", "online", "phone"]
_COUNTRIES = [
    "US",
    "CA",
    "MX",
    "GB",
    "DE",
    "FR",
    "ES",
    "IT",
    "NL",
    "BR",
    "IN",
    "CN",
    "JP",
    "NG",
    "PH",
]


class FraudTransactionSchema(pa.DataFrameModel):
    """Card transactions as made by :func:`riskkd.datasets.make_transactions`.

    One row per transaction: unique ids, non-negative amounts, the known
    channels, categories and countries (country may be missing), nested
    history windows (24h <= 7d <= 30d) and a 0/1 fraud label (optional).
    """

    transaction_id: Series[np.int64] = pa.Field(unique=True, ge=0)
    timestamp: Series[pd.Timestamp]
    hour: Series[np.int8] = pa.Field(in_range={"min_value": 0, "max_value": 23})
    customer_id: Series[str] = pa.Field(str_matches=r"^C\d+$")
    merchant_id: Series[str] = pa.Field(str_matches=r"^M\d+$")
    merchant_category: Series[str] = pa.Field(isin=_MERCHANT_CATEGORIES)
    channel: Series[str] = pa.Field(isin=_CHANNELS)
    country: Series[str] = pa.Field(isin=_COUNTRIES, nullable=True)
    amount: Series[np.float64] = pa.Field(ge=0)
    account_age_days: Series[np.int32] = pa.Field(ge=0)
    cust_txn_count_24h: Series[np.int32] = pa.Field(ge=0)
    cust_txn_count_7d: Series[np.int32] = pa.Field(ge=0)
    cust_txn_count_30d: Series[np.int32] = pa.Field(ge=0)
    cust_amount_sum_7d: Series[np.float64] = pa.Field(ge=0)
    cust_amount_avg_30d: Series[np.float64] = pa.Field(ge=0, nullable=True)
    hours_since_last_txn: Series[np.float64] = pa.Field(
        in_range={"min_value": 0, "max_value": 720}, nullable=True
    )
    cust_merchant_txn_count: Series[np.int32] = pa.Field(ge=0)
    is_fraud: Series[np.int8] = pa.Field(isin=[0, 1], required=False)

    class Config:
        name = "FraudTransactionSchema"
        description = "Card transactions as made by riskkd.datasets.make_transactions."
        strict = True
        ordered_columns = {
            "pairs": [
                ["cust_txn_count_24h", "cust_txn_count_7d"],
                ["cust_txn_count_7d", "cust_txn_count_30d"],
            ]
        }


class CreditApplicationSchema(pa.DataFrameModel):
    """Credit applications of the Belanche data (:func:`riskkd.datasets.load_credit_data`).

    Money fields are in thousands and non-negative; ages are 18-100 and the
    years with the current employer (``Seniority``) do not exceed the age; the
    loan does not exceed the price of the good. ``Home``, ``Marital``,
    ``Job``, ``Income``, ``Assets`` and ``Debt`` may be missing. ``Status``
    (optional) is the loader's encoding, 1 = bad.
    """

    Seniority: Series[np.int64] = pa.Field(in_range={"min_value": 0, "max_value": 80})
    Home: Series[str] = pa.Field(
        isin=["owner", "rent", "parents", "other", "priv", "ignore"], nullable=True
    )
    Time: Series[np.int64] = pa.Field(in_range={"min_value": 1, "max_value": 120})
    Age: Series[np.int64] = pa.Field(in_range={"min_value": 18, "max_value": 100})
    Marital: Series[str] = pa.Field(
        isin=["married", "single", "separated", "widow", "divorced"], nullable=True
    )
    Records: Series[str] = pa.Field(isin=["no", "yes"])
    Job: Series[str] = pa.Field(isin=["fixed", "freelance", "partime", "others"], nullable=True)
    Expenses: Series[np.int64] = pa.Field(ge=0)
    Income: Series[np.float64] = pa.Field(ge=0, nullable=True)
    Assets: Series[np.float64] = pa.Field(ge=0, nullable=True)
    Debt: Series[np.float64] = pa.Field(ge=0, nullable=True)
    Amount: Series[np.int64] = pa.Field(gt=0)
    Price: Series[np.int64] = pa.Field(gt=0)
    Status: Series[np.int64] = pa.Field(isin=[0, 1], required=False)

    class Config:
        name = "CreditApplicationSchema"
        description = "Belanche credit applications (riskkd.datasets.load_credit_data)."
        strict = True
        ordered_columns = {"pairs": [["Seniority", "Age"], ["Amount", "Price"]]}


_VERIFICATION = ["Verified", "Source Verified", "Not Verified"]
_LOAN_PURPOSES = [
    "car",
    "credit_card",
    "debt_consolidation",
    "educational",
    "home_improvement",
    "house",
    "major_purchase",
    "medical",
    "moving",
    "other",
    "renewable_energy",
    "small_business",
    "vacation",
    "wedding",
]


def _non_negative(**kwargs) -> object:
    """Field of a count or money column: non-negative."""
    return pa.Field(ge=0, **kwargs)


class RiskRatingSchema(pa.DataFrameModel):
    """Lending Club applications (:func:`riskkd.datasets.load_lending_club_grades`).

    Application data only: the sub-grade, the price of the loan and everything
    known after the decision are not allowed (the contract is strict). Counts,
    incomes and amounts are non-negative, loans are $1,000-40,000 over 36 or 60
    months, the joint-application fields are filled exactly for joint
    applications, and ``grade`` (optional) is one of A..G.
    """

    emp_length: Series[np.float64] = pa.Field(
        in_range={"min_value": 0, "max_value": 10}, nullable=True
    )
    state: Series[str] = pa.Field(str_matches=r"^[A-Z]{2}$")
    homeownership: Series[str] = pa.Field(isin=["MORTGAGE", "RENT", "OWN"])
    annual_income: Series[np.float64] = _non_negative()
    verified_income: Series[str] = pa.Field(isin=_VERIFICATION)
    debt_to_income: Series[np.float64] = _non_negative(nullable=True)
    annual_income_joint: Series[np.float64] = _non_negative(nullable=True)
    verification_income_joint: Series[str] = pa.Field(isin=_VERIFICATION, nullable=True)
    debt_to_income_joint: Series[np.float64] = _non_negative(nullable=True)
    delinq_2y: Series[np.int64] = _non_negative()
    months_since_last_delinq: Series[np.float64] = _non_negative(nullable=True)
    earliest_credit_line: Series[np.int64] = pa.Field(
        in_range={"min_value": 1900, "max_value": 2018}
    )
    inquiries_last_12m: Series[np.int64] = _non_negative()
    total_credit_lines: Series[np.int64] = _non_negative()
    open_credit_lines: Series[np.int64] = _non_negative()
    total_credit_limit: Series[np.int64] = _non_negative()
    total_credit_utilized: Series[np.int64] = _non_negative()
    num_collections_last_12m: Series[np.int64] = _non_negative()
    num_historical_failed_to_pay: Series[np.int64] = _non_negative()
    months_since_90d_late: Series[np.float64] = _non_negative(nullable=True)
    current_accounts_delinq: Series[np.int64] = _non_negative()
    total_collection_amount_ever: Series[np.int64] = _non_negative()
    current_installment_accounts: Series[np.int64] = _non_negative()
    accounts_opened_24m: Series[np.int64] = _non_negative()
    months_since_last_credit_inquiry: Series[np.float64] = _non_negative(nullable=True)
    num_satisfactory_accounts: Series[np.int64] = _non_negative()
    num_accounts_120d_past_due: Series[np.float64] = _non_negative(nullable=True)
    num_accounts_30d_past_due: Series[np.int64] = _non_negative()
    num_active_debit_accounts: Series[np.int64] = _non_negative()
    total_debit_limit: Series[np.int64] = _non_negative()
    num_total_cc_accounts: Series[np.int64] = _non_negative()
    num_open_cc_accounts: Series[np.int64] = _non_negative()
    num_cc_carrying_balance: Series[np.int64] = _non_negative()
    num_mort_accounts: Series[np.int64] = _non_negative()
    account_never_delinq_percent: Series[np.float64] = pa.Field(
        in_range={"min_value": 0, "max_value": 100}
    )
    tax_liens: Series[np.int64] = _non_negative()
    public_record_bankrupt: Series[np.int64] = _non_negative()
    loan_purpose: Series[str] = pa.Field(isin=_LOAN_PURPOSES)
    application_type: Series[str] = pa.Field(isin=["individual", "joint"])
    loan_amount: Series[np.int64] = pa.Field(in_range={"min_value": 1_000, "max_value": 40_000})
    term: Series[np.int64] = pa.Field(isin=[36, 60])
    grade: Series[str] = pa.Field(isin=list("ABCDEFG"), required=False)

    class Config:
        name = "RiskRatingSchema"
        description = (
            "Lending Club application features, leakage columns removed "
            "(riskkd.datasets.load_lending_club_grades)."
        )
        strict = True
        ordered_columns = {
            "pairs": [
                ["open_credit_lines", "total_credit_lines"],
                ["num_satisfactory_accounts", "total_credit_lines"],
                ["num_open_cc_accounts", "num_total_cc_accounts"],
            ]
        }
        filled_only_when = {
            "column": "application_type",
            "value": "joint",
            "dependents": ["annual_income_joint", "debt_to_income_joint"],
        }


#: Contract names accepted by :func:`validate`, and the file stems of :func:`export_schemas`.
SCHEMAS: dict[str, type[pa.DataFrameModel]] = {
    "fraud_transaction": FraudTransactionSchema,
    "credit_application": CreditApplicationSchema,
    "risk_rating": RiskRatingSchema,
}


class SchemaValidationError(ValueError):
    """A DataFrame broke a riskkd data contract.

    Attributes
    ----------
    schema_name : str
        The contract, a key of :data:`SCHEMAS`.
    failure_cases : DataFrame
        pandera's table of failures: one row per failing value, with the
        ``column``, the ``check`` and the ``failure_case``.
    """

    def __init__(self, message: str, *, schema_name: str, failure_cases: pd.DataFrame):
        super().__init__(message)
        self.schema_name = schema_name
        self.failure_cases = failure_cases


def _get_schema(schema_name: str) -> type[pa.DataFrameModel]:
    try:
        return SCHEMAS[schema_name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(schema_name), SCHEMAS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown schema_name={schema_name!r}.{hint} Valid names are: {', '.join(SCHEMAS)}."
        ) from None


_CRASH = re.compile(r"^\w+(Error|Exception)\(")


def _describe_failures(failure_cases: pd.DataFrame, max_examples: int = 3) -> list[str]:
    """One line per (column, check) that failed, with counts and examples."""
    # Frame-level checks report the whole row as the failure case and no real column.
    column_level = failure_cases["schema_context"] == "Column"
    cases = failure_cases.assign(column=failure_cases["column"].where(column_level, None))
    lines, crashes = [], []
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        values = group["failure_case"].tolist()
        examples = list(zip(values[:max_examples], group["index"].head(max_examples)))
        more = ", ..." if len(group) > max_examples else ""
        if group["index"].isna().all() and all(_CRASH.match(str(v)) for v in values):
            # The check could not run (a missing column, text in a numeric one): a
            # consequence of another failure, listed only when it is the only one.
            crashes.append(f"{column or check!s}: {check} could not run: {values[0]}")
        elif check == "column_in_dataframe":
            lines.append(f"missing column(s): {', '.join(map(repr, values))}")
        elif check == "column_in_schema":
            lines.append(
                f"unexpected column(s), not in the contract: {', '.join(map(repr, values))}"
            )
        elif str(check).startswith("dtype("):
            row = examples[0][1]  # None: the column's dtype; a row: a value of the wrong type
            got = values[0] if pd.isna(row) else f"{values[0]!r} (row {row})"
            lines.append(f"column {column!r}: expected {check}, got {got}")
        elif isinstance(column, str):
            shown = ", ".join(f"{value!r} (row {row})" for value, row in examples)
            lines.append(
                f"column {column!r}: {check} failed for {len(group)} value(s): {shown}{more}"
            )
        else:
            shown = ", ".join(f"row {row} {value}" for value, row in examples)
            lines.append(f"{check} failed for {len(group)} row(s): {shown}{more}")
    return lines or crashes


def validate(df: pd.DataFrame, schema_name: str) -> pd.DataFrame:
    """Check a DataFrame against a riskkd data contract.

    All checks run (lazy validation) and every failure is reported at once.

    Parameters
    ----------
    df : DataFrame
        The frame to check.

    schema_name : str
        A key of :data:`SCHEMAS`: ``"fraud_transaction"``,
        ``"credit_application"`` or ``"risk_rating"``.

    Returns
    -------
    df : DataFrame
        The validated frame (unchanged: the contracts do not coerce).

    Raises
    ------
    SchemaValidationError
        If the frame breaks the contract. The message lists each failing
        column and check with example values; ``failure_cases`` holds them all.
    ValueError
        If ``schema_name`` is unknown.

    Examples
    --------
    >>> from riskkd.datasets import load_credit_data
    >>> from riskkd.schemas import validate
    >>> frame = validate(load_credit_data().frame, "credit_application")
    >>> bad = frame.assign(Age=frame["Age"].where(frame.index != 0, 7))
    >>> validate(bad, "credit_application")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    riskkd.schemas.SchemaValidationError: DataFrame breaks the 'credit_application' contract ...
    """
    schema = _get_schema(schema_name)
    return validate_with(df, schema, schema_name, schema.__name__)


def validate_with(df: pd.DataFrame, schema: Any, name: str, described: str) -> pd.DataFrame:
    """Check ``df`` against a pandera schema (e.g. read from YAML) as :func:`validate` does.

    ``name`` is the contract's name, ``described`` what the message adds in parentheses
    (the schema's class or file).
    """
    try:
        return schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as error:
        failures = _describe_failures(error.failure_cases)
        message = (
            f"DataFrame breaks the {name!r} contract ({described}) "
            f"in {len(failures)} way(s):\n" + "\n".join(f"  - {line}" for line in failures)
        )
        raise SchemaValidationError(
            message, schema_name=name, failure_cases=error.failure_cases
        ) from error


def export_schemas(folder: str | os.PathLike) -> list[Path]:
    """Write every contract to ``<folder>/<name>.yaml`` with pandera's ``to_yaml``.

    Parameters
    ----------
    folder : str or path-like
        Destination folder, created if needed. Existing files of the same
        names are overwritten.

    Returns
    -------
    paths : list of Path
        The written files, in the order of :data:`SCHEMAS`.

    Examples
    --------
    >>> import tempfile
    >>> from riskkd.schemas import export_schemas
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     [path.name for path in export_schemas(tmp)]
    ['fraud_transaction.yaml', 'credit_application.yaml', 'risk_rating.yaml']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, schema in SCHEMAS.items():
        path = folder / f"{name}.yaml"
        path.write_text(schema.to_yaml(), encoding="utf-8")
        paths.append(path)
    return paths
