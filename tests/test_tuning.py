"""Tuning on fidelity: scorers inside GridSearchCV, the teacher cache and tune()."""

from __future__ import annotations

import numpy as np
import pytest
from lightgbm import LGBMClassifier
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.utils.estimator_checks import parametrize_with_checks

from riskkd import DistilledClassifier, fidelity_report
from riskkd.tuning import (
    FIDELITY_METRICS,
    MemoizedTeacher,
    default_param_grid,
    make_fidelity_scorer,
    tune,
)

from .conftest import fast_mlp, fast_teacher, fast_tree, make_risk_frame


@parametrize_with_checks([MemoizedTeacher(LGBMClassifier(n_estimators=10, n_jobs=1, verbose=-1))])
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def data():
    return make_risk_frame(500, 2, seed=7)


def tree_model(**params):
    return DistilledClassifier(fast_teacher(), fast_tree(), cv=2, random_state=0, **params)


@pytest.mark.parametrize("metric", FIDELITY_METRICS)
def test_scorer_matches_the_fidelity_report(data, metric):
    X, y = data
    model = tree_model().fit(X[:350], y[:350])
    score = make_fidelity_scorer(metric)(model, X[350:], y[350:])
    report = fidelity_report(model, X[350:], y[350:])["student"]
    if metric == "neg_teacher_log_loss":
        teacher = model.teacher_.predict_proba(X[350:])
        student = model.predict_proba(X[350:])
        expected = np.mean(np.sum(teacher * np.log(student), axis=1))
        # float64 arithmetic on the same arrays; the scorer clips at 1e-15 only.
        assert score == pytest.approx(expected, rel=1e-9)
    else:
        assert score == pytest.approx(report[metric], rel=1e-12)


def test_scorer_uses_each_split_teacher(data):
    """Inside a search the scorer compares with the teacher fitted on that split's rows."""
    X, y = data
    splits = list(StratifiedKFold(2, shuffle=True, random_state=0).split(X, y))
    result = cross_validate(
        tree_model(), X, y, cv=splits, scoring=make_fidelity_scorer(), return_estimator=True
    )
    for estimator, score, (_, test) in zip(result["estimator"], result["test_score"], splits):
        report = fidelity_report(estimator, X.iloc[test], y.iloc[test])
        expected = report.loc["auc_retention", "student"]
        assert score == pytest.approx(expected, rel=1e-12)


def test_scorer_inside_grid_search(data):
    X, y = data
    search = GridSearchCV(
        tree_model(),
        {"alpha": [0.5, 1.0]},
        scoring={"retention": make_fidelity_scorer(), "roc_auc": "roc_auc"},
        refit="retention",
        cv=2,
    ).fit(X, y)
    scores = search.cv_results_["mean_test_retention"]
    assert np.isfinite(scores).all() and search.best_params_["alpha"] in (0.5, 1.0)
    # Retention of a working tree student: well above chance (0.5 / 0.7 ~ 0.7) and not
    # absurdly above the teacher (small folds can let a student edge past it).
    assert ((scores > 0.75) & (scores < 1.15)).all()


def test_invalid_scorer_settings(data):
    with pytest.raises(ValueError, match="metric='accuracy' is not a fidelity metric"):
        make_fidelity_scorer("accuracy")
    with pytest.raises(ValueError, match=r"threshold=1\.5"):
        make_fidelity_scorer(threshold=1.5)
    X, y = data
    model = tree_model().fit(X, y)
    with pytest.raises(ValueError, match=r"labels the model was not fitted on: 'bad', 'good'"):
        make_fidelity_scorer("auc_retention")(model, X, np.where(y == 1, "bad", "good"))


def test_memoized_teacher_shares_fits(tmp_path):
    X, y = make_classification(n_samples=300, random_state=0)
    teacher = MemoizedTeacher(fast_teacher(), memory=str(tmp_path), random_state=0)
    first = teacher.fit(X, y)
    assert not first.from_cache_
    proba = first.predict_proba(X)
    again = MemoizedTeacher(fast_teacher(), memory=str(tmp_path), random_state=0).fit(X, y)
    assert again.from_cache_ and again.fit_seconds_ == first.fit_seconds_
    assert again.fit_cpu_seconds_ == first.fit_cpu_seconds_ > 0
    np.testing.assert_array_equal(again.predict_proba(X), proba)
    other = MemoizedTeacher(fast_teacher(), memory=str(tmp_path), random_state=1).fit(X, y)
    assert not other.from_cache_


def test_memoized_teacher_gives_identical_distillation(data, tmp_path):
    """A cached teacher changes the cost, never the result."""
    X, y = data
    plain = tree_model().fit(X, y)
    cached = DistilledClassifier(
        MemoizedTeacher(fast_teacher(), memory=str(tmp_path)), fast_tree(), cv=2, random_state=0
    )
    first = cached.fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, plain.predict_proba(X))
    assert cached.fit(X, y).teacher_.estimator.estimator.from_cache_
    np.testing.assert_array_equal(cached.predict_proba(X), first)


def test_a_cached_teacher_keeps_its_constraints_and_is_saved_natively(tmp_path):
    """What riskkd reads from a teacher is read through the cache wrapper of tune()."""
    import riskkd

    X, y = make_risk_frame(500, 2, seed=12)
    X = X[["income", "age"]]
    teacher = LGBMClassifier(n_estimators=20, monotone_constraints=[-1, -1], verbose=-1)
    cached = DistilledClassifier(
        MemoizedTeacher(teacher, memory=str(tmp_path / "cache")), fast_tree(), cv=2
    ).fit(X, y)
    assert cached.monotone_constraints_ == {"income": -1, "age": -1}
    assert type(cached.teacher_.native_model).__name__ == "Booster"
    loaded = riskkd.load(riskkd.save(cached, tmp_path / "model"))
    assert (tmp_path / "model" / "teacher.txt").is_file()
    np.testing.assert_allclose(
        loaded.teacher_.predict_proba(X), cached.teacher_.predict_proba(X), rtol=0, atol=1e-12
    )


def test_memoized_teacher_refuses_class_weights(tmp_path):
    X, y = make_classification(n_samples=100, random_state=0)
    teacher = LGBMClassifier(n_estimators=5, class_weight="balanced")
    with pytest.raises(ValueError, match="class-weighted"):
        MemoizedTeacher(teacher, memory=str(tmp_path)).fit(X, y)


def test_class_weights_in_a_pipeline_are_neither_cached_nor_lost(tmp_path):
    """A Pipeline's class-weighted last step slipped through both checks: tune() cached
    it, and the cache hid its weights, so its probabilities stayed on the weighted prior."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = make_classification(n_samples=300, weights=[0.85], random_state=0)
    teacher = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced"))
    with pytest.raises(ValueError, match=r"class-weighted.*logisticregression__class_weight"):
        MemoizedTeacher(teacher, memory=str(tmp_path)).fit(X, y)
    model = DistilledClassifier(teacher, fast_tree(), calibration=None, cv=2, random_state=0)
    search = tune(model, X, y, {"alpha": [0.5, 1.0]}, cv=2)
    best = search.best_estimator_
    assert not isinstance(best.teacher, MemoizedTeacher)
    # "balanced": rows / (2 * rows of the class), divided back out.
    np.testing.assert_allclose(best.teacher_.class_weights, len(y) / (2 * np.bincount(y)))
    # On the true prior (15% positives), not the balanced one (50%): within 0.05.
    assert abs(best.soft_targets_[:, 1].mean() - y.mean()) < 0.05


def test_tune_finds_the_same_best_as_plain_search(data):
    X, y = data
    grid = {"alpha": [0.5, 1.0], "student": [fast_tree(max_depth=2), fast_tree(max_depth=4)]}
    search = tune(tree_model(), X, y, grid, cv=2)
    plain = GridSearchCV(tree_model(), grid, scoring=make_fidelity_scorer(), cv=2).fit(X, y)
    # The cache only skips identical teacher fits: the scores are the same numbers.
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"], rtol=1e-12
    )
    assert search.best_params_ == plain.best_params_
    assert isinstance(search.best_estimator_.teacher, MemoizedTeacher)
    assert search.best_estimator_.teacher.memory is None


def test_tune_over_teachers():
    """A grid over teacher put a plain estimator in the best model, and tune() then failed
    after the whole search ('Invalid parameter memory'), or gave LightGBM a memory setting."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = make_classification(n_samples=300, n_features=5, random_state=0)
    for teacher in (
        HistGradientBoostingClassifier(max_iter=10),
        LGBMClassifier(n_estimators=10, verbose=-1),
    ):
        search = tune(tree_model(), X, y, {"teacher": [teacher]}, cv=2)
        assert search.best_estimator_.teacher.get_params() == teacher.get_params()


def test_a_grid_over_a_student_given_by_name_is_refused(data):
    """scikit-learn failed with "'str' object has no attribute 'set_params'"."""
    X, y = data
    model = DistilledClassifier(fast_teacher(), "tree", cv=2, random_state=0)
    with pytest.raises(
        ValueError, match=r"'student__max_depth'.*given by name \('tree'\).*TreeStudent\(\)"
    ):
        tune(model, X, y, {"student__max_depth": [3, 4]}, cv=2)


def test_default_grid():
    grid = default_param_grid(DistilledClassifier())
    assert grid["alpha"] == [0.5, 0.7, 1.0] and grid["temperature"] == [1.0, 2.0, 4.0]
    assert [s.hidden_layer_sizes for s in grid["student"]] == [(32, 16), (64, 32), (128, 64)]
    tree = default_param_grid(DistilledClassifier(student="tree", loss="mse_logit"))
    assert "temperature" not in tree and [s.max_depth for s in tree["student"]] == [4, 6, 8]
    # The tree and the scorecard ignore the temperature: no duplicate grid points.
    for student in ("tree", "scorecard"):
        grid = default_param_grid(DistilledClassifier(student=student))
        assert "temperature" not in grid and grid["alpha"] == [0.3, 0.5, 0.7, 1.0]
    assert (
        default_param_grid(DistilledClassifier(student=fast_mlp()))["student"][0].max_epochs == 40
    )


def test_grid_points_share_teacher_fits(data, tmp_path):
    """4 candidates x 2 splits with a 2-fold teacher: each split fits its teacher 3 times
    (2 folds + the refit on the split's rows) whatever the number of candidates."""
    X, y = data
    model = DistilledClassifier(
        MemoizedTeacher(fast_teacher(), memory=str(tmp_path)), fast_tree(), cv=2, random_state=0
    )
    grid = {"alpha": [0.5, 1.0], "student": [fast_tree(max_depth=2), fast_tree(max_depth=4)]}
    GridSearchCV(model, grid, scoring=make_fidelity_scorer(), cv=2, refit=False).fit(X, y)
    stored = list(tmp_path.rglob("output.pkl"))
    assert len(stored) == 2 * 3
