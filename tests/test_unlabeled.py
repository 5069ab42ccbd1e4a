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


def make(**params):
    params = {"augment": None, **params}
    return DistilledClassifier(
        fast_teacher(), fast_mlp(max_epochs=15), cv=2, random_state=0, **params
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
