"""Shared fixtures: deterministic seeds and small, fast configurations."""

from __future__ import annotations

import datetime
import decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from riskkd.students import MLPStudent, TreeStudent
from riskkd.teachers import LightGBMTeacher


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same global seeds (riskkd itself never uses them)."""
    import torch

    np.random.seed(0)  # noqa: NPY002 - legacy global seed that third-party code may read
    torch.manual_seed(0)


def fast_teacher(**params):
    """A LightGBM teacher small enough for unit tests."""
    return LightGBMTeacher(
        **{"n_estimators": 60, "early_stopping_rounds": 10, "n_jobs": 1, **params}
    )


def fast_mlp(**params):
    return MLPStudent(**{"max_epochs": 40, "patience": 5, **params})


def fast_tree(**params):
    """A small constant-leaf tree (linear and automatic leaves: tests/test_tree_student.py)."""
    return TreeStudent(**{"max_depth": 4, "min_samples_leaf": 5, "leaves": "constant", **params})


def make_risk_frame(
    n: int = 600, n_classes: int = 2, seed: int = 0
) -> tuple[pd.DataFrame, pd.Series]:
    """Mixed-type data with NaN, strings, categories and bools, and an interaction signal."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 0.6, n)
    income[rng.random(n) < 0.1] = np.nan
    age = rng.integers(18, 80, n).astype(float)
    home = rng.choice(["rent", "owner", "parents", "other"], n, p=[0.4, 0.4, 0.15, 0.05])
    job = pd.Categorical(rng.choice(["fixed", "freelance", "partime"], n))
    records = rng.random(n) < 0.2
    score = (
        -0.5 * np.log(np.nan_to_num(income, nan=20000.0) / 20000.0)
        + 1.2 * records
        + 0.8 * (home == "rent") * (age < 30)
        + 0.02 * (45 - age)
        + rng.normal(0, 0.7, n)
    )
    X = pd.DataFrame(
        {
            "income": income,
            "age": age,
            "home": pd.array(home, dtype="str"),
            "job": job,
            "records": records,
            "note": pd.Series(rng.choice(["a", "b", None], n), dtype=object),
        }
    )
    if n_classes == 2:
        y = pd.Series((score > np.quantile(score, 0.7)).astype(int), name="default")
    else:
        edges = np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1])
        y = pd.Series(np.array(list("ABCDEFG"))[np.searchsorted(edges, score)], name="grade")
    return X, y


# scikit-learn's checks that fit on y = X[:, 0].astype(int), where one class has a single
# member. DistilledClassifier refuses a class with fewer members than cv folds on purpose: its
# soft targets are out-of-fold predictions, and a fold model that never saw a class cannot
# predict it (tests/test_errors.py asserts that error message).
RARE_CLASS_CHECKS = {
    name: (
        "the check's y has a class with one member; DistilledClassifier refuses classes with "
        "fewer members than cv folds (out-of-fold soft targets need every class in every fold)"
    )
    for name in (
        "check_dict_unchanged",
        "check_dont_overwrite_parameters",
        "check_fit2d_predict1d",
        "check_f_contiguous_array_estimator",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
    )
}


def decimal_and_date_ids(X: pd.DataFrame) -> pa.Table:
    """``X`` as Arrow with two id columns pandas holds as Python objects: an Oracle-style
    decimal loan number (small in the first 100 rows, long after) and a date."""
    loan = [decimal.Decimal(i) for i in range(len(X))]
    loan[100:] = [decimal.Decimal(10**17 + i) for i in range(100, len(X))]
    ids = pa.table(
        {
            "loan_no": pa.array(loan, pa.decimal128(20, 0)),
            "as_of": pa.array([datetime.date(2026, 1, 1)] * len(X), pa.date32()),
        }
    )
    features = pa.Table.from_pandas(X, preserve_index=False).replace_schema_metadata(None)
    for name in features.column_names:
        ids = ids.append_column(name, features.column(name))
    return ids
