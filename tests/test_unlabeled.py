"""Unlabeled rows labelled by the teacher and added to the transfer set."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import config_context
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from riskkd import DistilledClassifier

from .conftest import fast_mlp, fast_teacher, make_risk_frame


@pytest.fixture(scope="module")
def data():
    X, y = make_risk_frame(900, 2, seed=31)
    # 400 labelled rows; the other 500 play the production rows without outcomes.
    return X.iloc[:400], y.iloc[:400], X.iloc[400:]


def make(teacher=None, **params):
    params = {"augment": None, **params}
    return DistilledClassifier(
        fast_teacher() if teacher is None else teacher,
        fast_mlp(max_epochs=15),
        cv=2,
        random_state=0,
        **params,
    )


def test_unlabeled_rows_join_the_transfer_set(data):
    X, y, X_unlabeled = data
    model = make().fit(X, y, X_unlabeled=X_unlabeled)
    assert model.n_unlabeled_ == len(X_unlabeled) and model.n_synthetic_ == 0
    again = make().fit(X, y, X_unlabeled=X_unlabeled)
    np.testing.assert_array_equal(model.predict_proba(X), again.predict_proba(X))
    plain = make().fit(X, y)
    assert plain.n_unlabeled_ == 0
    assert not np.array_equal(model.predict_proba(X), plain.predict_proba(X))
    # The teacher and its calibration never see them: both are those of the plain fit.
    np.testing.assert_array_equal(model.soft_targets_, plain.soft_targets_)


def test_unlabeled_rows_bring_the_student_closer_to_the_teacher(data):
    X, y, X_unlabeled = data
    with_rows = make().fit(X, y, X_unlabeled=X_unlabeled)
    without = make().fit(X, y)

    def gap(model):
        teacher = model.calibrator_.transform(model.teacher_.predict_proba(X_unlabeled))[:, 1]
        return np.mean(np.abs(model.predict_proba(X_unlabeled)[:, 1] - teacher))

    # On the unlabeled rows themselves the student was trained to match the calibrated
    # teacher, so its mean absolute gap there must shrink (a fixed seed; measured ~30% lower).
    assert gap(with_rows) < gap(without)


def test_alpha_zero_ignores_unlabeled_rows(data):
    X, y, X_unlabeled = data
    a = make(alpha=0.0).fit(X, y, X_unlabeled=X_unlabeled)
    b = make(alpha=0.0).fit(X, y)
    assert a.n_unlabeled_ == 0
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_unlabeled_and_munge_rows_together(data):
    X, y, X_unlabeled = data
    model = make(augment="munge", augment_factor=2).fit(X, y, X_unlabeled=X_unlabeled)
    assert (model.n_unlabeled_, model.n_synthetic_) == (len(X_unlabeled), 2 * len(X))


def test_unlabeled_columns_are_checked(data):
    X, y, X_unlabeled = data
    with pytest.raises(
        ValueError, match=r"X_unlabeled does not match X: .*missing 1 column.*'age'"
    ):
        make().fit(X, y, X_unlabeled=X_unlabeled.drop(columns="age"))
    with pytest.raises(
        ValueError, match=r"X_unlabeled does not match X: Column 'age' must be numeric"
    ):
        make().fit(X, y, X_unlabeled=X_unlabeled.assign(age="old"))
    with pytest.raises(ValueError, match="X_unlabeled must be a DataFrame with the columns of X"):
        make().fit(X, y, X_unlabeled=X_unlabeled.select_dtypes("number").to_numpy())
    with pytest.raises(ValueError, match="X_unlabeled has 0 rows"):
        make().fit(X, y, X_unlabeled=X_unlabeled.iloc[:0])
    # Column order and extra columns do not matter, as for predict.
    shuffled = X_unlabeled[list(reversed(X_unlabeled.columns))].assign(extra=1)
    np.testing.assert_array_equal(
        make().fit(X, y, X_unlabeled=shuffled).predict_proba(X),
        make().fit(X, y, X_unlabeled=X_unlabeled).predict_proba(X),
    )


def test_unlabeled_rows_are_routed_through_a_pipeline(data):
    X, y, X_unlabeled = data
    with config_context(enable_metadata_routing=True):
        model = make().set_fit_request(X_unlabeled=True)
        pipe = make_pipeline(FunctionTransformer(), model)
        pipe.fit(X, y, X_unlabeled=X_unlabeled)
        assert pipe[-1].n_unlabeled_ == len(X_unlabeled)
        direct = make().fit(X, y, X_unlabeled=X_unlabeled)
        np.testing.assert_array_equal(pipe.predict_proba(X), direct.predict_proba(X))


def test_a_prefit_teacher_labels_unlabeled_rows_from_their_own_values():
    """A prefit teacher knows a level the distillation rows lack (new in production). The
    unlabeled rows reach it as given: through X's encoding the level was missing, and the
    teacher labelled them 0.19 where it scores them 0.90."""
    import lightgbm as lgb
    import pandas as pd
    from sklearn.frozen import FrozenEstimator

    rng = np.random.default_rng(0)

    def frame(n, levels):
        segment = pd.Categorical(rng.choice(levels, n), categories=list("abcde"))
        X = pd.DataFrame({"x": rng.normal(size=n), "segment": segment})
        return X, (rng.random(n) < np.where(X["segment"] == "e", 0.9, 0.2)).astype(int)

    teacher = lgb.LGBMClassifier(n_estimators=30, n_jobs=1, verbose=-1).fit(
        *frame(2000, list("abcde"))
    )
    X, y = frame(600, list("abcd"))
    X_new, _ = frame(200, ["e"])
    model = make(teacher=FrozenEstimator(teacher)).fit(X, y, X_unlabeled=X_new)
    assert model.n_unlabeled_ == 200
    schema = model.input_schema_
    transfer, _, _ = model._transfer_set(
        schema.encode(X),
        y,
        np.ones(len(y)),
        model.student_,
        1.0,
        0,
        unlabeled=(schema.encode(X_new), X_new),
    )
    soft = transfer[2][len(X) :]
    proba = teacher.predict_proba(X_new)
    assert proba[:, 1].mean() > 0.8  # the teacher knows "e"
    np.testing.assert_allclose(soft, model.calibrator_.transform(proba), rtol=0, atol=1e-12)
    # Through X's encoding, "e" reached the teacher as missing: other probabilities.
    missing = model.teacher_.predict_proba_encoded(schema.encode(X_new))
    assert np.abs(missing - proba).max() > 0.3
