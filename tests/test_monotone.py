"""Monotone constraints: read from the teacher, mapped to the student, kept exactly by the MLP."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator

from riskkd import DistilledClassifier
from riskkd.datasets import load_taiwan_credit
from riskkd.students import MLPStudent
from riskkd.teachers import teacher_monotone_constraints

from .conftest import fast_mlp, fast_teacher, fast_tree, make_risk_frame

# More days past due never lowers the default risk; a higher credit limit never raises it.
CONSTRAINTS = {"PAY_0": 1, "LIMIT_BAL": -1}


@pytest.fixture(scope="module")
def taiwan():
    data = load_taiwan_credit()
    rows = np.random.default_rng(0).choice(len(data.data), 3000, replace=False)
    return data.data.iloc[rows].reset_index(drop=True), data.target.iloc[rows].to_numpy()


def monotone_teacher(columns):
    return lgb.LGBMClassifier(
        n_estimators=60,
        num_leaves=15,
        n_jobs=1,
        verbose=-1,
        monotone_constraints=[CONSTRAINTS.get(c, 0) for c in columns],
    )


def make(teacher, **params):
    return DistilledClassifier(teacher, fast_mlp(), cv=2, augment=None, random_state=0, **params)


def worst_violation(model, X, column, sign, n_rows=60, n_grid=41):
    """Largest decrease of ``sign * logit`` along a grid over ``column``, other columns held
    at real rows' values. The grid spans the observed range and 20% beyond it on each side."""
    lo, hi = X[column].min(), X[column].max()
    grid = np.linspace(lo - 0.2 * (hi - lo), hi + 0.2 * (hi - lo), n_grid)
    rows = X.iloc[:n_rows]
    batch = rows.loc[rows.index.repeat(n_grid)].reset_index(drop=True)
    batch[column] = np.tile(grid, n_rows)
    logits = sign * model.decision_function(batch).reshape(n_rows, n_grid)
    return float(max(0.0, -np.diff(logits, axis=1).min()))


@pytest.fixture(scope="module")
def constrained(taiwan):
    X, y = taiwan
    return make(monotone_teacher(X.columns)).fit(X, y)


def test_mlp_keeps_the_teachers_constraints_on_real_data(constrained, taiwan):
    X, _ = taiwan
    assert constrained.monotone_constraints_ == CONSTRAINTS
    for column, sign in CONSTRAINTS.items():
        # The network is monotone by construction; only float32 rounding in the matrix
        # products (summation order of BLAS kernels) can move a logit, by < 1e-5.
        assert worst_violation(constrained, X, column, sign) < 1e-5, column


def test_unconstrained_mlp_violates_them(taiwan):
    """The check above has teeth: the same student without constraints breaks them."""
    X, y = taiwan
    free = make(monotone_teacher(X.columns), monotone_constraints=None).fit(X, y)
    assert free.monotone_ is None
    assert max(worst_violation(free, X, c, s) for c, s in CONSTRAINTS.items()) > 1e-2


def test_constraints_map_to_the_student_inputs(constrained):
    names = constrained.input_schema_.numeric_names
    expected = np.zeros(constrained.preprocessor_.n_numeric_out, dtype=np.int8)
    expected[names.index("PAY_0")] = 1
    expected[names.index("LIMIT_BAL")] = -1
    np.testing.assert_array_equal(constrained.monotone_, expected)
    np.testing.assert_array_equal(constrained.student_.monotone_, expected)


def test_explicit_dict_reproducible_and_state_round_trip(taiwan):
    X, y = taiwan
    X, y = X.iloc[:1500], y[:1500]
    model = make(fast_teacher(), monotone_constraints={"PAY_0": 1, "AGE": 0}).fit(X, y)
    assert model.monotone_constraints_ == {"PAY_0": 1}
    assert worst_violation(model, X, "PAY_0", 1) < 1e-5  # float32 rounding only, as above
    again = make(fast_teacher(), monotone_constraints={"PAY_0": 1, "AGE": 0}).fit(X, y)
    np.testing.assert_array_equal(model.predict_proba(X), again.predict_proba(X))
    settings, arrays = model.student_.get_state()
    restored = MLPStudent(**model.student_.get_params()).set_state(settings, arrays)
    Xn, Xc = model._student_inputs(X)
    np.testing.assert_array_equal(
        restored.decision_logits(Xn, Xc), model.student_.decision_logits(Xn, Xc)
    )


def test_missing_values_keep_the_constraint():
    """Missing-value indicators stay free; the imputed column itself stays constrained."""
    X, y = make_risk_frame(500, 2, seed=51)
    model = make(fast_teacher(), monotone_constraints={"income": -1}).fit(X, y)
    assert model.monotone_[model.input_schema_.numeric_names.index("income")] == -1
    assert model.monotone_[len(model.input_schema_.numeric_names) :].tolist() == [0]
    assert worst_violation(model, X.dropna(subset=["income"]), "income", -1) < 1e-5


def test_constraints_keyed_by_non_text_column_names():
    """Columns 0, 1, 2: {2: 1} was refused as 'not in X; the columns are ['0', '1', '2']'."""
    X, y = make_risk_frame(300, 2, seed=51)
    X = X.select_dtypes("number").fillna(0)
    X.columns = range(X.shape[1])
    model = make(fast_teacher(), monotone_constraints={1: -1}).fit(X, y)
    assert model.monotone_constraints_ == {"1": -1}


# ------------------------------------------------------------------ reading the teacher
def test_constraints_read_from_each_library():
    names = ["a", "b", "c"]
    expected = {"a": 1, "c": -1}
    read = teacher_monotone_constraints
    assert read(lgb.LGBMClassifier(monotone_constraints=[1, 0, -1]), names) == expected
    assert read(xgb.XGBClassifier(monotone_constraints="(1,0,-1)"), names) == expected
    assert read(xgb.XGBClassifier(monotone_constraints=(1, 0, -1)), names) == expected
    assert read(xgb.XGBClassifier(monotone_constraints={"a": 1, "c": -1}), names) == expected
    assert read(HistGradientBoostingClassifier(monotonic_cst=[1, 0, -1]), names) == expected
    assert read(HistGradientBoostingClassifier(monotonic_cst={"a": 1, "c": -1}), names) == expected
    assert read(fast_teacher(), names) == {}
    assert read(xgb.XGBClassifier(), names) == {}
    rng = np.random.default_rng(0)
    Xa, ya = rng.random((200, 3)), rng.integers(0, 2, 200)
    params = {"objective": "binary", "verbose": -1, "monotone_constraints": [1, 0, -1]}
    booster = lgb.train(params, lgb.Dataset(Xa, ya), 3)
    assert read(booster, names) == expected
    fitted = xgb.XGBClassifier(n_estimators=3, monotone_constraints="(1,0,-1)").fit(Xa, ya)
    assert read(fitted.get_booster(), names) == expected
    assert read(FrozenEstimator(fitted), names) == expected
    with pytest.raises(ValueError, match="monotone constraints list 2 values but X has 3"):
        read(lgb.LGBMClassifier(monotone_constraints=[1, 0]), names)


def test_constraints_read_where_they_were_missed():
    """These teachers' constraints were read as none, and the student broke them (its score
    rose with a column at 991 of 6,200 grid steps where the teacher's never did)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from riskkd.teachers import LightGBMTeacher

    names, expected = ["a", "b", "c"], {"a": 1, "c": -1}
    read = teacher_monotone_constraints
    # LightGBM's aliases, on the estimator and in a Booster's settings.
    assert read(lgb.LGBMClassifier(mc=[1, 0, -1]), names) == expected
    assert read(lgb.LGBMClassifier(monotone_constraint=[1, 0, -1]), names) == expected
    rng = np.random.default_rng(0)
    params = {"objective": "binary", "verbose": -1, "mc": [1, 0, -1]}
    assert (
        read(
            lgb.train(params, lgb.Dataset(rng.random((200, 3)), rng.integers(0, 2, 200)), 3), names
        )
        == expected
    )

    class Constrained(LightGBMTeacher):  # LightGBM settings given where the class says to
        def lightgbm_params(self, seed):
            return {**super().lightgbm_params(seed), "monotone_constraints": [1, 0, -1]}

    assert read(Constrained(), names) == expected
    # A Pipeline's last step: by column name, or refused (its positions are not X's).
    step = HistGradientBoostingClassifier(monotonic_cst={"a": 1, "c": -1})
    assert read(make_pipeline(StandardScaler(), step), names) == expected
    positional = make_pipeline(
        StandardScaler(), lgb.LGBMClassifier(monotone_constraints=[1, 0, -1])
    )
    with pytest.raises(ValueError, match=r"last step has monotone constraints by position"):
        read(positional, names)


# ------------------------------------------------------------------ errors
def test_invalid_constraints():
    X, y = make_risk_frame(300, 2, seed=52)
    with pytest.raises(ValueError, match=r"constrain categorical column\(s\) \['home'\]"):
        make(fast_teacher(), monotone_constraints={"home": 1}).fit(X, y)
    with pytest.raises(ValueError, match=r"name column\(s\) \['salary'\] that are not in X"):
        make(fast_teacher(), monotone_constraints={"salary": 1}).fit(X, y)
    with pytest.raises(ValueError, match=r"monotone_constraints\['age'\] is 2; use \+1"):
        make(fast_teacher(), monotone_constraints={"age": 2}).fit(X, y)
    with pytest.raises(ValueError, match="'monotone_constraints' parameter of DistilledClassifier"):
        make(fast_teacher(), monotone_constraints="increasing").fit(X, y)
    Xm, ym = make_risk_frame(300, 3, seed=53)
    with pytest.raises(ValueError, match="y has 3 classes; monotone students support binary"):
        make(fast_teacher(), monotone_constraints={"age": -1}).fit(Xm, ym)
    conflicting = [
        lgb.LGBMClassifier(monotone_constraints=[0, 1, 0, 0, 0, 0]),
        HistGradientBoostingClassifier(monotonic_cst={"age": -1}),
    ]
    with pytest.raises(
        ValueError, match="teachers disagree on the monotone constraint of column 'age'"
    ):
        make(conflicting).fit(X, y)


def test_student_rejects_a_malformed_monotone_argument():
    from riskkd.losses import KLDistillationLoss

    rng = np.random.default_rng(0)
    Xn = rng.normal(size=(100, 3)).astype(np.float32)
    Xc = np.zeros((100, 0), dtype=np.int32)
    soft = np.column_stack([np.full(100, 0.6), np.full(100, 0.4)])
    with pytest.raises(
        ValueError, match=r"monotone must hold one of -1, 0, \+1 per numeric input \(3\)"
    ):
        MLPStudent(max_epochs=1).fit(
            Xn,
            Xc,
            n_embeddings=0,
            soft_proba=soft,
            y=rng.integers(0, 2, 100),
            sample_weight=np.ones(100),
            loss=KLDistillationLoss(alpha=1.0, temperature=1.0),
            monotone=np.array([1, 0]),
        )


def test_numpy_forward_equals_the_torch_module():
    """The exported numpy network computes what the trained torch module computes."""
    import torch

    from riskkd.students._nn import MonotoneMLP

    torch.manual_seed(0)
    module = MonotoneMLP(
        monotone=[1, 0, -1],
        d_num=3,
        n_embeddings=5,
        n_cat=2,
        d_embedding=2,
        d_out=1,
        hidden=(9, 6),
        dropout=0.0,
    ).eval()
    student = MLPStudent(storage_dtype="float32")
    student.activation_splits_ = [list(split) for split in module.splits]
    student._export(module)
    rng = np.random.default_rng(0)
    Xn = rng.normal(size=(50, 3)).astype(np.float32)
    Xc = rng.integers(0, 5, size=(50, 2)).astype(np.int32)
    with torch.no_grad():
        expected = module(torch.from_numpy(Xn), torch.from_numpy(Xc.astype(np.int64))).numpy()
    # float32 both ways; only the order of additions differs (tolerance 1e-5).
    np.testing.assert_allclose(student.decision_logits(Xn, Xc), expected, rtol=1e-5, atol=1e-5)
    # Sign constraints are visible in the exported weights.
    assert (student.coefs_[0][0] >= 0).all() and (student.coefs_[0][2] <= 0).all()
    assert all((W >= 0).all() for W in student.coefs_[1:])


def test_a_distilled_model_as_teacher_passes_on_its_constraints():
    X, y = make_risk_frame(n=400)
    first = DistilledClassifier(
        fast_teacher(), fast_tree(), monotone_constraints={"age": 1}, cv=2, random_state=0
    ).fit(X, y)
    names = list(X.columns)
    assert teacher_monotone_constraints(FrozenEstimator(first), names) == {"age": 1}
    # Unfitted, its "auto" is resolved only at its own fit: nothing to read yet.
    assert teacher_monotone_constraints(DistilledClassifier(), names) == {}
