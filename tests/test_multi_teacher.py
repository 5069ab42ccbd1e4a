"""Several teachers combined in logit space, with equal, given or fitted weights."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score

from riskkd import DistilledClassifier
from riskkd.teachers import TeacherEnsemble, combine_logits, fit_logit_weights

from .conftest import fast_teacher, fast_tree, make_risk_frame


@pytest.fixture(scope="module")
def data():
    return make_risk_frame(500, 2, seed=41)


def teachers():
    return [
        xgb.XGBClassifier(n_estimators=25, max_depth=3, n_jobs=1),
        lgb.LGBMClassifier(n_estimators=25, num_leaves=7, n_jobs=1, verbose=-1),
        HistGradientBoostingClassifier(max_iter=25),
    ]


def make(teacher, **params):
    # The tree student is fast and deterministic: these tests are about the teachers.
    return DistilledClassifier(teacher, fast_tree(), cv=2, random_state=0, **params)


@pytest.fixture(scope="module")
def ensemble(data):
    X, y = data
    return make(teachers()).fit(X, y)


def test_teacher_is_the_logit_combination_of_its_members(ensemble, data):
    X, y = data
    teacher = ensemble.teacher_
    assert isinstance(teacher, TeacherEnsemble) and len(teacher.members) == 3
    np.testing.assert_allclose(ensemble.teacher_weights_, [1 / 3] * 3)
    members = [m.predict_proba(X) for m in teacher.members]
    combined = teacher.predict_proba(X)
    np.testing.assert_allclose(combined, combine_logits(members, teacher.weights))
    # Binary: the combined log-odds is the weighted mean of the members' log-odds.
    log_odds = np.mean([np.log(p[:, 1] / p[:, 0]) for p in members], axis=0)
    np.testing.assert_allclose(np.log(combined[:, 1] / combined[:, 0]), log_odds, rtol=1e-6)
    # The members differ (else the test is vacuous) and the combination is a sound teacher
    # (in-sample AUC of GBDTs on this signal is ~0.85; 0.75 rules out a broken combination).
    assert not np.allclose(members[0], members[1])
    assert roc_auc_score(y, combined[:, 1]) > 0.75


def test_user_teachers_are_not_fitted(data):
    X, y = data
    given = teachers()
    before = [t.get_params() for t in given]
    make(given).fit(X, y)
    assert [t.get_params() for t in given] == before
    assert not any(hasattr(t, "classes_") for t in given)


def test_reproducible_for_a_seed(ensemble, data):
    X, y = data
    again = make(teachers()).fit(X, y)
    np.testing.assert_array_equal(again.soft_targets_, ensemble.soft_targets_)
    np.testing.assert_array_equal(again.predict_proba(X), ensemble.predict_proba(X))


def test_given_weights_are_normalised(data):
    X, y = data
    model = make(teachers()[:2], teacher_weights=[3, 1]).fit(X, y)
    np.testing.assert_allclose(model.teacher_weights_, [0.75, 0.25])
    # A zero weight drops a teacher: the ensemble then predicts like that single member.
    only_first = make(teachers()[:2], teacher_weights=[1, 0]).fit(X, y)
    first = only_first.teacher_.members[0].predict_proba(X)
    np.testing.assert_allclose(only_first.teacher_.predict_proba(X), first, rtol=1e-6)


def test_fitted_weights_favour_the_informative_teacher(data):
    X, y = data
    # A teacher that learns nothing (one stump with a tiny learning rate) next to a real one:
    # out-of-fold log-loss weighting must give the real one almost all the weight.
    weak = lgb.LGBMClassifier(n_estimators=1, num_leaves=2, learning_rate=1e-3, verbose=-1)
    model = make([weak, fast_teacher()], teacher_weights="fit").fit(X, y)
    assert model.teacher_weights_.sum() == pytest.approx(1.0)
    assert model.teacher_weights_[1] > 0.8


def test_fit_logit_weights_on_known_probabilities():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    good = np.clip(np.where(y == 1, 0.8, 0.2) + rng.normal(0, 0.05, 2000), 0.01, 0.99)
    noise = rng.uniform(0.01, 0.99, 2000)
    as_proba = lambda p: np.column_stack([1 - p, p])  # noqa: E731
    weights = fit_logit_weights([as_proba(noise), as_proba(good)], y)
    # Pure noise only adds log-loss: its optimal weight is ~0 (L-BFGS stops within 0.05).
    assert weights[0] < 0.05 and weights.sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(weights, fit_logit_weights([as_proba(noise), as_proba(good)], y))


def test_prefit_and_fitted_members_mix(data):
    X, y = data
    native = X.astype({"home": "category", "note": "category"})
    prefit = lgb.LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1).fit(native, y)
    model = make([FrozenEstimator(prefit), HistGradientBoostingClassifier(max_iter=20)])
    model.fit(native, y)
    np.testing.assert_allclose(
        model.teacher_.members[0].predict_proba(native), prefit.predict_proba(native)
    )


def test_multiclass_ensemble():
    X, y = make_risk_frame(500, 3, seed=42)
    model = make(teachers()[1:], teacher_weights="fit").fit(X, y)
    proba = model.teacher_.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_invalid_teacher_lists(data):
    X, y = data
    with pytest.raises(ValueError, match="teacher is an empty list"):
        make([]).fit(X, y)
    with pytest.raises(
        ValueError, match=r"teacher\[1\] must be a classifier with fit and predict_proba"
    ):
        make([fast_teacher(), "xgboost"]).fit(X, y)
    with pytest.raises(ValueError, match=r"teacher_weights has 2 value.*lists 3 teachers"):
        make(teachers(), teacher_weights=[1, 2]).fit(X, y)
    model = make(teachers()[:2], teacher_weights=[1, -1])
    with pytest.raises(ValueError, match=r"teacher_weights=.* must be finite, >= 0"):
        model.fit(X, y)
    assert not hasattr(model, "input_schema_")  # checked before anything is fitted or set
    with pytest.raises(ValueError, match="teacher_weights='fit' needs a list of teachers"):
        make(fast_teacher(), teacher_weights="fit").fit(X, y)
    with pytest.raises(ValueError, match="'teacher_weights' parameter of DistilledClassifier"):
        make(teachers(), teacher_weights="best").fit(X, y)
