"""Distillation-specific behaviour of DistilledClassifier."""

from __future__ import annotations

import logging
import pickle
import warnings

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from riskkd import DistilledClassifier, fidelity_report, load, save
from riskkd.teachers import LightGBMTeacher, correct_prior

from .conftest import fast_mlp, fast_teacher, fast_tree, make_risk_frame


@pytest.fixture(scope="module")
def binary_data():
    return make_risk_frame(600, 2, seed=1)


@pytest.fixture(scope="module")
def fitted(binary_data):
    X, y = binary_data
    return DistilledClassifier(fast_teacher(), fast_mlp(), cv=3, random_state=0).fit(X, y)


def test_fitted_attributes(fitted, binary_data):
    X, _ = binary_data
    assert fitted.n_features_in_ == X.shape[1]
    assert list(fitted.feature_names_in_) == list(X.columns)
    np.testing.assert_array_equal(fitted.classes_, [0, 1])
    assert fitted.soft_targets_.shape == (len(X), 2)
    np.testing.assert_allclose(fitted.soft_targets_.sum(axis=1), 1.0)
    assert fitted.history_ and {"train_loss", "val_loss", "val_kl_to_teacher"} <= set(
        fitted.history_[0]
    )
    assert fitted.teacher_.predict_proba(X).shape == (len(X), 2)
    proba = fitted.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(fitted.predict(X), fitted.classes_[proba.argmax(axis=1)])
    # decision_function is the log-odds of classes_[1].
    np.testing.assert_allclose(
        1 / (1 + np.exp(-fitted.decision_function(X))), proba[:, 1], rtol=1e-5, atol=1e-6
    )


def test_prediction_is_torch_free(fitted, binary_data, monkeypatch):
    """Scoring must not touch torch: batch jobs and services install riskkd without it."""
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # any `import torch` now raises
    fitted.predict_proba(binary_data[0].iloc[:5])


def test_student_learns_the_teacher(fitted, binary_data):
    X, _ = binary_data
    teacher = fitted.teacher_.predict_proba(X)[:, 1]
    student = fitted.predict_proba(X)[:, 1]
    # A small MLP trained for <= 40 epochs on 500 rows ranks like its teacher, not perfectly:
    # a Spearman correlation above 0.8 is far above what an unrelated model reaches (~0).
    from scipy.stats import spearmanr

    assert spearmanr(teacher, student).statistic > 0.8


def test_deterministic_for_a_seed(binary_data):
    X, y = binary_data
    make = lambda: DistilledClassifier(fast_teacher(), fast_mlp(), cv=3, random_state=7)  # noqa: E731
    np.testing.assert_array_equal(
        make().fit(X, y).predict_proba(X), make().fit(X, y).predict_proba(X)
    )


def test_alpha_zero_ignores_the_teacher(binary_data):
    """alpha=0 is the no-distillation baseline: the same student whatever the teacher."""
    X, y = binary_data
    a = DistilledClassifier(fast_teacher(), fast_mlp(), alpha=0.0, cv=3, random_state=3).fit(X, y)
    other_teacher = HistGradientBoostingClassifier(max_iter=30, random_state=0)
    b = DistilledClassifier(other_teacher, fast_mlp(), alpha=0.0, cv=3, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    # ... and the soft targets do change the student when alpha > 0.
    c = DistilledClassifier(fast_teacher(), fast_mlp(), alpha=1.0, cv=3, random_state=3).fit(X, y)
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


@pytest.mark.parametrize("loss", ["kl", "mse_logit"])
@pytest.mark.parametrize("calibration", ["auto", "isotonic", "sigmoid", "temperature", None])
def test_losses_and_calibrations(binary_data, loss, calibration):
    X, y = binary_data
    model = DistilledClassifier(
        fast_teacher(),
        fast_mlp(max_epochs=5),
        loss=loss,
        calibration=calibration,
        cv=2,
        random_state=0,
    ).fit(X, y)
    proba = model.predict_proba(X)
    assert np.isfinite(proba).all()
    # Calibrated soft targets keep the base rate: their mean is within 0.05 of the label mean
    # (isotonic and Platt match it by construction; temperature and None only approximately).
    assert abs(model.soft_targets_[:, 1].mean() - y.mean()) < 0.05


def test_multiclass_string_labels():
    X, y = make_risk_frame(700, 4, seed=2)
    model = DistilledClassifier(fast_teacher(), fast_mlp(), cv=3, random_state=0).fit(X, y)
    np.testing.assert_array_equal(model.classes_, ["A", "B", "C", "D"])
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 4)
    assert set(model.predict(X)) <= set(model.classes_)
    assert model.decision_function(X).shape == (len(X), 4)
    tree = DistilledClassifier(fast_teacher(), fast_tree(), cv=3, random_state=0).fit(X, y)
    np.testing.assert_allclose(tree.predict_proba(X).sum(axis=1), 1.0, rtol=1e-6)


def test_tree_student_leaves_hold_soft_target_means(binary_data):
    X, y = binary_data
    model = DistilledClassifier(
        fast_teacher(), fast_tree(max_depth=3), alpha=1.0, cv=3, random_state=0
    ).fit(X, y)
    student = model.student_
    leaves = student.apply(*model._student_inputs(X))
    assert len(np.unique(leaves)) <= 2**3
    for leaf in np.unique(leaves):
        in_leaf = leaves == leaf
        # Each leaf predicts the mean calibrated soft target of its training rows.
        np.testing.assert_allclose(
            model.predict_proba(X.iloc[np.flatnonzero(in_leaf)[:1]])[0, 1],
            model.soft_targets_[in_leaf, 1].mean(),
            rtol=1e-5,
        )


@pytest.mark.parametrize(
    "teacher",
    [
        xgb.XGBClassifier(n_estimators=30, max_depth=3, n_jobs=1),
        lgb.LGBMClassifier(n_estimators=30, num_leaves=7, n_jobs=1, verbose=-1),
        HistGradientBoostingClassifier(max_iter=30),
    ],
    ids=["xgboost", "lightgbm", "hist_gradient_boosting"],
)
def test_first_class_teachers_native_categoricals(binary_data, teacher):
    X, y = binary_data
    before = teacher.get_params()
    model = DistilledClassifier(teacher, fast_mlp(max_epochs=5), cv=2, random_state=0).fit(X, y)
    assert teacher.get_params() == before  # the user's teacher is never mutated
    assert not hasattr(teacher, "classes_")  # ... nor fitted
    from sklearn.metrics import roc_auc_score

    # On this signal a GBDT teacher reaches AUC ~0.8 in-sample; 0.7 rules out a broken input.
    proba = model.teacher_.predict_proba(X)
    assert roc_auc_score(y, proba[:, 1]) > 0.7
    # XGBoost's float32 probabilities come back as float64 rows summing to one, which
    # scikit-learn's log loss in the fidelity report requires (it warns beyond 1.5e-8).
    assert proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=0, atol=1e-12)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="The y_prob values do not sum to one")
        fidelity_report(model, X, y)


def test_frozen_teacher_is_not_refit(binary_data):
    X, y = binary_data
    prefit = lgb.LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1).fit(
        X.astype({"home": "category", "note": "category"}), y
    )
    before = prefit.booster_.model_to_string()
    model = DistilledClassifier(FrozenEstimator(prefit), fast_mlp(max_epochs=5), random_state=0)
    model.fit(X.astype({"home": "category", "note": "category"}), y)
    assert prefit.booster_.model_to_string() == before
    expected = prefit.predict_proba(X.astype({"home": "category", "note": "category"}))
    np.testing.assert_allclose(
        model.teacher_.predict_proba(X.astype({"home": "category", "note": "category"})), expected
    )


def test_prefit_teacher_trained_on_other_labels_is_refused(binary_data):
    X, y = binary_data
    X = X.select_dtypes("number")
    named = np.where(y == 1, "default", "paid")  # sorted: "default" first, so inverted
    teacher = lgb.LGBMClassifier(n_estimators=10, verbose=-1, n_jobs=1).fit(X, named)
    with pytest.raises(ValueError, match=r"trained on classes \['default', 'paid'\].*\[0, 1\]"):
        DistilledClassifier(FrozenEstimator(teacher), fast_tree(), cv=2).fit(X, y)
    # Its own labels, or a teacher trained on class indices (XGBoost needs them), are fine.
    DistilledClassifier(FrozenEstimator(teacher), fast_tree(), cv=2).fit(X, named)
    indexed = lgb.LGBMClassifier(n_estimators=10, verbose=-1, n_jobs=1).fit(X, y)
    DistilledClassifier(FrozenEstimator(indexed), fast_tree(), cv=2).fit(X, np.where(y, "b", "a"))


@pytest.mark.parametrize("kind", ["xgboost", "booster"])
def test_prefit_teacher_on_class_indices_of_another_coding_is_refused(binary_data, kind):
    """A teacher trained on 0/1 (XGBoost needs indices; a Booster has no classes_) is read
    by index: 0 = y's first class in sorted order. Trained with 1 = "default", which sorts
    first, it was read inverted, and the student learnt inverted scores in silence."""
    X, y = binary_data
    X = X.select_dtypes("number")
    if kind == "xgboost":
        teacher = FrozenEstimator(
            xgb.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1).fit(X, y)
        )
    else:
        teacher = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, y), 20)
    named = np.where(y == 1, "default", "paid")
    how = "trained on classes \\[0, 1\\]" if kind == "xgboost" else "a Booster"
    with pytest.raises(ValueError, match=rf"teacher \({how}.*\) is read by index: 0 = 'default', "
                       r"1 = 'paid' .* worse than chance \(ROC-AUC 0\.\d+"):  # fmt: skip
        DistilledClassifier(teacher, fast_tree(), cv=2).fit(X, named)
    # The same teacher with y coded as it was trained, or text labels in that order, are fine.
    model = DistilledClassifier(teacher, fast_tree(), cv=2).fit(X, y)
    score = model.teacher_.predict_proba(X)[:, 1]
    assert score[y == 1].mean() > score[y == 0].mean()  # read the right way round
    DistilledClassifier(teacher, fast_tree(), cv=2).fit(X, np.where(y == 1, "default", "alive"))


def test_a_teacher_of_hard_labels_warns(binary_data):
    """XGBoost's binary:hinge predicts 0 or 1: distilled without a word, its soft targets
    were the labels (a helper's probe: teacher log loss 9.5)."""
    X, y = binary_data
    X = X.select_dtypes("number")
    hinge = xgb.XGBClassifier(objective="binary:hinge", n_estimators=10, n_jobs=1)
    with pytest.warns(UserWarning, match=r"out-of-fold probabilities are all 0 or 1"):
        DistilledClassifier(hinge, fast_tree(), cv=2).fit(X, y)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*all 0 or 1")
        DistilledClassifier(fast_teacher(), fast_tree(), cv=2).fit(X, y)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_raw_booster_teacher(library):
    X, y = make_risk_frame(400, 2, seed=3)
    X = X.select_dtypes("number")
    if library == "lightgbm":
        booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, y), 20)
        expected = booster.predict(X)
    else:
        booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, y), 20)
        expected = booster.predict(xgb.DMatrix(X))
    model = DistilledClassifier(booster, fast_mlp(max_epochs=5), random_state=0).fit(X, y)
    np.testing.assert_allclose(model.teacher_.predict_proba(X)[:, 1], expected, rtol=1e-6)


def test_class_weighted_teacher_is_corrected_to_the_prior(binary_data):
    X, y = binary_data
    weighted = lgb.LGBMClassifier(
        n_estimators=40, num_leaves=7, class_weight={0: 1, 1: 5}, verbose=-1
    )
    model = DistilledClassifier(
        weighted, fast_mlp(max_epochs=5), calibration=None, cv=3, random_state=0
    )
    model.fit(X, y)
    # Without correction a 5x class weight pushes the mean P(1) far above the 30% base rate;
    # corrected out-of-fold probabilities stay within 0.06 of it.
    assert abs(model.soft_targets_[:, 1].mean() - y.mean()) < 0.06
    np.testing.assert_allclose(model.teacher_.class_weights, [1, 5])


@pytest.mark.parametrize("labels", [(1, 2), ("a", "b")])
def test_class_weights_of_a_pipeline_step_are_keyed_by_label(labels):
    """Teachers are fitted on class indices: a Pipeline step's class_weight dict was left
    keyed by label, so {1: 4} weighed label 2 and {"a": 4} crashed in scikit-learn."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = make_classification(n_samples=400, weights=[0.8], random_state=0)
    y = np.asarray(labels)[y]
    step = LogisticRegression(class_weight={labels[0]: 4.0})
    model = DistilledClassifier(
        make_pipeline(StandardScaler(), step), fast_tree(), cv=2, random_state=0
    ).fit(X, y)
    np.testing.assert_allclose(model.teacher_.class_weights, [4.0, 1.0])
    assert step.class_weight == {labels[0]: 4.0}  # the user's teacher is not mutated


def test_balanced_weights_count_weighted_rows_where_the_teacher_does():
    """LogisticRegression's "balanced" counts rows by sample_weight; dividing out factors
    from unweighted counts left the soft targets 0.2 off the weighted class shares."""
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(
        3000, 6, n_informative=4, n_classes=3, weights=[0.6, 0.3, 0.1], random_state=0
    )
    w = np.where(y == 2, 5.0, 1.0)
    model = DistilledClassifier(
        LogisticRegression(class_weight="balanced", max_iter=500),
        fast_tree(),
        calibration=None,
        cv=2,
        random_state=0,
    ).fit(X, y, sample_weight=w)
    shares = np.bincount(y, w) / w.sum()
    # A calibrated logistic model's mean prediction matches the class shares; 0.01 allows
    # for the cross-fitting.
    np.testing.assert_allclose(
        np.average(model.soft_targets_, axis=0, weights=w), shares, atol=0.01
    )


@pytest.mark.parametrize("teacher", ["lightgbm", "xgboost"])
def test_column_names_the_gbdt_libraries_refuse(teacher, tmp_path):
    """A CSV written with its index has "Unnamed: 0"; LightGBM refused JSON's characters
    and XGBoost [, ] and < in feature names, naming no column."""
    X, y = make_risk_frame(300, seed=3)
    X = X.rename(columns={"income": "Unnamed: 0", "age": "age[years]", "job": "x<y"})
    X["x_y"] = 1.0  # what "x<y" becomes: the teacher's name for it must differ
    model = {"lightgbm": fast_teacher(), "xgboost": xgb.XGBClassifier(n_estimators=20)}[teacher]
    model = DistilledClassifier(model, fast_tree(), cv=2, random_state=0).fit(X, y)
    loaded = load(save(model, tmp_path / "m"))
    np.testing.assert_allclose(
        loaded.teacher_.predict_proba(X), model.teacher_.predict_proba(X), rtol=1e-6
    )
    assert list(model.feature_names_in_) == list(X.columns)  # the user's names, unchanged


def test_lightgbm_teacher_without_refit_keeps_a_class_of_one_row():
    """Early stopping's validation part could take a class's only row, leaving the model
    without it: a shape error at predict_proba."""
    X, y = make_classification(300, 6, n_informative=4, random_state=0)
    y[:1] = 2
    for seed in range(10):
        teacher = LightGBMTeacher(n_estimators=20, refit=False, random_state=seed).fit(X, y)
        assert teacher.predict_proba(X).shape == (300, 3)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_weighted_raw_booster_is_corrected_like_its_estimator(library, tmp_path):
    """A Booster keeps scale_pos_weight / is_unbalance: the same correction as its estimator."""
    X, y = make_risk_frame(600, 2, seed=5)
    X = X.select_dtypes("number")
    if library == "lightgbm":
        params = {"objective": "binary", "scale_pos_weight": 4.0, "verbose": -1}
        booster = lgb.train(params, lgb.Dataset(X, y), 20)
        booster.save_model(tmp_path / "model.txt")  # a Booster read from a file
        boosters = [booster, lgb.Booster(model_file=tmp_path / "model.txt")]
        unbalanced = {**params, "scale_pos_weight": 1.0, "is_unbalance": True}
        balanced = lgb.train(unbalanced, lgb.Dataset(X, y), 20)
    else:
        params = {"objective": "binary:logistic", "scale_pos_weight": 4.0}
        boosters = [xgb.train(params, xgb.DMatrix(X, y), 20)]
        balanced = None
    for booster in boosters:
        model = DistilledClassifier(booster, fast_tree(), cv=2, random_state=0).fit(X, y)
        np.testing.assert_allclose(model.teacher_.class_weights, [1.0, 4.0])
    if balanced is not None:  # is_unbalance weighs classes by their counts, as "balanced"
        # Counts of the rows given, which may not be the teacher's training mix: it warns.
        with pytest.warns(UserWarning, match="class counts of the rows given to fit"):
            model = DistilledClassifier(balanced, fast_tree(), cv=2, random_state=0).fit(X, y)
        weights = model.teacher_.class_weights
        assert weights[1] / weights[0] == pytest.approx((y == 0).sum() / (y == 1).sum())
    with warnings.catch_warnings():  # explicit weights are what they say
        warnings.simplefilter("error")
        DistilledClassifier(boosters[0], fast_tree(), cv=2, random_state=0).fit(X, y)


@pytest.mark.parametrize(
    ("library", "objective"),
    [("lightgbm", "regression"), ("xgboost", "binary:logitraw"), ("xgboost", "multi:softmax")],
)
def test_booster_without_probabilities_is_refused(library, objective):
    X, y = make_risk_frame(300, 2, seed=6)
    X = X.select_dtypes("number")
    if library == "lightgbm":
        booster = lgb.train({"objective": objective, "verbose": -1}, lgb.Dataset(X, y), 5)
    else:
        extra = {"num_class": 2} if objective.startswith("multi") else {}
        booster = xgb.train({"objective": objective, **extra}, xgb.DMatrix(X, y), 5)
    with pytest.raises(ValueError, match=f"objective='{objective}'.*not class probabilities"):
        DistilledClassifier(booster, fast_tree(), cv=2).fit(X, y)


def test_class_weight_keyed_by_labels():
    X, y = make_risk_frame(400, 2, seed=11)
    labels = np.where(y == 1, "bad", "good")
    weighted = lgb.LGBMClassifier(n_estimators=20, class_weight={"bad": 4.0}, verbose=-1, n_jobs=1)
    model = DistilledClassifier(weighted, fast_tree(), cv=2, random_state=0).fit(X, labels)
    np.testing.assert_allclose(model.teacher_.class_weights, [4.0, 1.0])  # classes_: bad, good
    assert weighted.get_params()["class_weight"] == {"bad": 4.0}  # the user's object is intact
    with pytest.raises(
        ValueError, match=r"class_weight names classes \['ugly'\] that are not in y"
    ):
        DistilledClassifier(lgb.LGBMClassifier(class_weight={"ugly": 2.0}), cv=2).fit(X, labels)


def test_correct_prior_inverts_class_weights():
    p = np.array([[0.5, 0.5], [0.2, 0.8]])
    weighted = p * [1, 4] / (p * [1, 4]).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(correct_prior(weighted, np.array([1.0, 4.0])), p)


def test_zero_weight_rows_add_nothing_and_never_make_the_loss_nan(binary_data):
    """A mini-batch (or validation split) of zero-weight rows gave 0/0 = NaN: the NaN
    gradient stopped training silently, or in epoch 1 failed with no state to restore."""
    import torch

    from riskkd.losses import KLDistillationLoss

    logits = torch.zeros((3, 1), requires_grad=True)
    loss = KLDistillationLoss(alpha=0.7, temperature=2.0)
    value = loss(logits, torch.zeros((3, 2)), torch.tensor([0, 1, -1]), torch.zeros(3))
    value.backward()
    assert float(value) == 0.0 and torch.isfinite(logits.grad).all()
    X, y = binary_data
    w = np.where(np.arange(len(y)) % 5 == 0, 0.0, 1.0)  # a fifth of the rows weigh nothing
    model = DistilledClassifier(fast_teacher(), fast_mlp(), cv=3, random_state=0)
    history = model.fit(X, y, sample_weight=w).history_
    assert all(np.isfinite(h["train_loss"]) and np.isfinite(h["val_loss"]) for h in history)


def test_class_weights_are_read_where_the_model_applies_them():
    """In a Pipeline the last step's class_weight counts; is_unbalance weighs binary and
    one-vs-rest objectives (LightGBM ignores it for the softmax multiclass: no correction)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from riskkd.teachers import class_weight_factors

    y3 = np.array([0] * 80 + [1] * 15 + [2] * 5)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced"))
    np.testing.assert_allclose(class_weight_factors(pipe, y3, 3), 100 / (3 * np.array([80, 15, 5])))
    assert class_weight_factors(lgb.LGBMClassifier(is_unbalance=True), y3, 3) is None
    # One-vs-rest reweights each class's binary model: the balanced weights approximate it.
    ova = lgb.LGBMClassifier(objective="multiclassova", is_unbalance=True)
    np.testing.assert_allclose(class_weight_factors(ova, y3, 3), 100 / (3 * np.array([80, 15, 5])))
    np.testing.assert_allclose(
        class_weight_factors(lgb.LGBMClassifier(is_unbalance=True), y3[y3 < 2], 2),
        95 / (2 * np.array([80, 15])),
    )
    # These were not read at all: the teacher's mean P(1) was 0.41-0.44 for a rate of 0.20.
    y2, balanced = y3[y3 < 2], 95 / (2 * np.array([80, 15]))
    for teacher in (
        lgb.LGBMClassifier(unbalance=True),  # LightGBM's aliases of is_unbalance
        lgb.LGBMClassifier(unbalanced_sets=True),
        RandomForestClassifier(class_weight="balanced_subsample"),  # balanced per bootstrap
    ):
        np.testing.assert_allclose(class_weight_factors(teacher, y2, 2), balanced)

    class Weighted(LightGBMTeacher):  # LightGBM settings given where the class says to
        def lightgbm_params(self, seed):
            return {**super().lightgbm_params(seed), "scale_pos_weight": 3.0}

    np.testing.assert_allclose(class_weight_factors(Weighted(), y2, 2), [1.0, 3.0])


def test_a_pipeline_teacher_takes_sample_weight_in_its_last_step(binary_data):
    """Pipeline.fit refuses sample_weight=...; it goes to the last step by name."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X, y = binary_data
    X = X.select_dtypes("number").fillna(0)
    weights = np.where(np.arange(len(X)) % 3 == 0, 3.0, 1.0)
    pipe = make_pipeline(StandardScaler(), LogisticRegression())
    model = DistilledClassifier(pipe, fast_tree(), cv=2, random_state=0)
    model.fit(X, y, sample_weight=weights)
    expected = clone(pipe).fit(X, y, logisticregression__sample_weight=weights)
    np.testing.assert_allclose(
        model.teacher_.predict_proba(X), expected.predict_proba(X), atol=1e-12
    )


def test_one_vs_rest_probabilities_become_distributions():
    """LightGBM's multiclassova scores each class on its own (row sums 0.2-1.9 out of fold):
    the soft targets and the teacher's probabilities are renormalised rows."""
    X, y = make_classification(900, n_features=6, n_informative=4, n_classes=3, random_state=0)
    X = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    teacher = lgb.LGBMClassifier(n_estimators=30, objective="multiclassova", verbose=-1, n_jobs=1)
    model = DistilledClassifier(teacher, fast_tree(), calibration=None, cv=3, random_state=0)
    model.fit(X, y)
    np.testing.assert_allclose(model.soft_targets_.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(model.teacher_.predict_proba(X).sum(axis=1), 1.0, atol=1e-9)


def test_sample_weight_is_honoured(binary_data):
    X, y = binary_data
    w = np.where(y == 1, 5.0, 1.0)
    plain = DistilledClassifier(fast_teacher(), fast_mlp(), cv=3, random_state=0).fit(X, y)
    weighted = DistilledClassifier(fast_teacher(), fast_mlp(), cv=3, random_state=0).fit(
        X, y, sample_weight=w
    )
    # Up-weighting positives 5x moves the teacher, the calibration and the student towards
    # class 1: the mean predicted P(1) rises clearly (by > 0.1 from ~0.3).
    assert weighted.soft_targets_[:, 1].mean() > plain.soft_targets_[:, 1].mean() + 0.1
    assert weighted.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean() + 0.1


def test_sklearn_composition(binary_data):
    X, y = binary_data
    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=2, random_state=0)
    pipe = make_pipeline(FunctionTransformer(lambda d: d.assign(age2=d["age"] ** 2)), model)
    assert pipe.fit(X, y).predict_proba(X).shape == (len(X), 2)
    scores = cross_val_score(model, X, y, cv=2, scoring="roc_auc")
    assert scores.shape == (2,) and np.all(scores > 0.6)
    search = GridSearchCV(model, {"alpha": [0.0, 1.0]}, cv=2, scoring="roc_auc").fit(X, y)
    # Both candidates were fitted and scored: the estimator clones and refits cleanly.
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert len(search.cv_results_["params"]) == 2
    assert repr(clone(model)) == repr(model)


def test_pickle_round_trip(fitted, binary_data):
    X, _ = binary_data
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))


def test_numpy_input():
    X, y = make_risk_frame(400, 2, seed=4)
    array = X.select_dtypes("number").to_numpy(dtype=float)
    model = DistilledClassifier(fast_teacher(), fast_mlp(max_epochs=5), cv=2, random_state=0).fit(
        array, y
    )
    assert not hasattr(model, "feature_names_in_")
    assert model.predict_proba(array[:3]).shape == (3, 2)
    # Fitted without column names, a DataFrame is read by position, as in scikit-learn.
    np.testing.assert_array_equal(
        model.predict_proba(pd.DataFrame(array)), model.predict_proba(array)
    )


def test_default_teacher_is_lightgbm(binary_data):
    X, y = binary_data
    model = DistilledClassifier(student=fast_tree(), cv=2, random_state=0).fit(X, y)
    inner = model.teacher_.estimator.estimator
    assert isinstance(inner, LightGBMTeacher)
    assert 1 <= inner.best_iteration_ < inner.n_estimators  # early stopping chose the size


def test_lightgbm_params_override_reaches_both_fits():
    # The extension point for LightGBM settings LightGBMTeacher does not expose: the early
    # stopping fit and the refit both get them.
    class ExtraTrees(LightGBMTeacher):
        def lightgbm_params(self, seed):
            return {**super().lightgbm_params(seed), "extra_trees": True}

    X, y = make_classification(n_samples=600, random_state=0)
    teacher = ExtraTrees(n_estimators=50, random_state=0).fit(X, y)
    assert teacher.model_.get_params()["extra_trees"] is True
    assert teacher.model_.n_estimators == teacher.n_trees_  # the refit
    plain = LightGBMTeacher(n_estimators=50, random_state=0).fit(X, y)
    assert not np.allclose(teacher.predict_proba(X), plain.predict_proba(X))


def test_column_sampling_per_split_reaches_lightgbm():
    X, y = make_classification(n_samples=600, n_features=20, random_state=0)
    sampled = LightGBMTeacher(n_estimators=50, colsample_bynode=0.3, random_state=0).fit(X, y)
    assert sampled.model_.get_params()["colsample_bynode"] == 0.3
    plain = LightGBMTeacher(n_estimators=50, random_state=0).fit(X, y)
    assert not np.allclose(sampled.predict_proba(X), plain.predict_proba(X))


def test_munge_transfer_set(binary_data):
    X, y = binary_data
    make = lambda **kw: DistilledClassifier(  # noqa: E731
        fast_teacher(), fast_mlp(), cv=3, random_state=0, augment_factor=2, **kw
    )
    augmented = make(augment="munge").fit(X, y)
    assert augmented.n_synthetic_ == 2 * len(X)
    np.testing.assert_array_equal(
        augmented.predict_proba(X), make(augment="munge").fit(X, y).predict_proba(X)
    )
    assert make(augment=None).fit(X, y).n_synthetic_ == 0
    # The no-distillation baseline never sees synthetic rows (they carry teacher labels only).
    assert make(augment="munge", alpha=0.0).fit(X, y).n_synthetic_ == 0
    # Off by default: over ten seeds MUNGE left the distilled MLP's ROC-AUC level (README).
    assert (
        DistilledClassifier(fast_teacher(), fast_mlp(max_epochs=2), cv=2).fit(X, y).n_synthetic_
        == 0
    )


def test_munge_rows_stay_in_the_data_domain(binary_data):
    from riskkd.inputs import InputSchema
    from riskkd.transfer import munge

    X, _ = binary_data
    schema = InputSchema.from_data(X)
    encoded = schema.encode(X)
    synthetic, source = munge(
        encoded, np.nan_to_num(encoded.num), factor=3, random_state=np.random.default_rng(0)
    )
    assert synthetic.num.shape == (3 * len(X), encoded.num.shape[1])
    np.testing.assert_array_equal(source, np.tile(np.arange(len(X)), 3))
    # Categorical values are swapped between real rows, never invented.
    for j in range(encoded.cat.shape[1]):
        assert set(np.unique(synthetic.cat[:, j])) <= set(np.unique(encoded.cat[:, j]))
    # About half the attributes (p=0.5) move; the rest are copied from the source row.
    unchanged = synthetic.cat == encoded.cat[source]
    assert 0.4 < unchanged.mean() < 0.9


def test_text_codes_are_the_same_for_every_storage_of_text():
    """Arrow text columns take their own lookup (InputSchema._arrow_text_codes); every
    storage of the same text, in batches past the one-row path, gets the same codes."""
    import pyarrow as pa

    from riskkd.inputs import MISSING, UNSEEN, InputSchema

    rng = np.random.default_rng(0)
    fitted = ["a", "b", "1", "", "é"]
    schema = InputSchema.from_data(pd.DataFrame({"c": pd.array(fitted, dtype="str")}))
    levels = schema.levels["c"]  # sorted
    values = rng.choice(np.array([*fitted, "new", "01", None], dtype=object), 500)
    expected = np.array(
        [MISSING if v is None else levels.index(v) if v in levels else UNSEEN for v in values]
    )
    chunked = pa.chunked_array([values[:200].tolist(), values[200:].tolist()], pa.large_string())
    storages = {
        "object": pd.array(values, dtype=object),
        "str (pyarrow)": pd.array(values, dtype="str"),
        "string[pyarrow]": pd.array(values, dtype="string[pyarrow]"),
        "string[python]": pd.array(values, dtype="string[python]"),
        "large_string, two chunks": pd.array(chunked, dtype=pd.ArrowDtype(pa.large_string())),
    }
    for storage, column in storages.items():
        codes = schema.encode(pd.DataFrame({"c": column})).cat[:, 0]
        np.testing.assert_array_equal(codes, expected, err_msg=storage)


def test_max_categories_caps_identifier_like_columns():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "merchant": pd.array([f"m{i}" for i in rng.integers(0, 100, 2000)], dtype="str"),
            "amount": rng.lognormal(3, 1, 2000),
        }
    )
    y = (rng.random(2000) < 0.3).astype(int)
    model = DistilledClassifier(
        fast_teacher(), fast_tree(), cv=2, max_categories=10, random_state=0
    )
    model.fit(X, y)
    # 10 most frequent levels + the "unknown" and "missing" rows.
    np.testing.assert_array_equal(model.preprocessor_.category_sizes_, [12])
    assert len(model.input_schema_.levels["merchant"]) == 100  # the teacher still sees all


def test_progress_is_logged_per_teacher_fit_and_epoch(caplog):
    X, y = make_classification(n_samples=300, random_state=0)
    with caplog.at_level(logging.DEBUG, logger="riskkd"):
        model = DistilledClassifier(
            fast_teacher(), fast_mlp(), cv=3, augment=None, random_state=0
        ).fit(X, y)
    messages = [r.getMessage() for r in caplog.records]
    teacher = [m for m in messages if m.startswith("teacher ")]
    # Three cross-fitting folds and the final model, each once (threads may reorder them).
    assert sorted(m.split(" fitted")[0] for m in teacher) == [
        "teacher final model",
        "teacher fold 1/3",
        "teacher fold 2/3",
        "teacher fold 3/3",
    ]
    epochs = [m for m in messages if m.startswith("MLP epoch ")]
    assert len(epochs) == len(model.history_)
    assert f"kept epoch {model.student_.best_epoch_}:" in messages[-2]
    assert messages[-1].startswith("student MLPStudent fitted on ")


def test_all_missing_column_fits_without_numpy_warnings(binary_data):
    X, y = binary_data
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # numpy's "All-NaN slice encountered"
        model = DistilledClassifier(fast_teacher(), fast_tree(), cv=2, random_state=0)
        model.fit(X.assign(unused_feed=np.nan), y)
    column = model.input_schema_.numeric_names.index("unused_feed")
    assert model.preprocessor_.center_[column] == 0 and model.preprocessor_.scale_[column] == 1


def test_a_categorical_column_with_a_level_per_row_is_warned_about():
    """A CSV's text dates (or an id) read as a category tell rows apart; fit says so."""
    X, y = make_risk_frame(400, 2, seed=3)
    dates = pd.Series(pd.date_range("2020-01-01", periods=400, freq="h").strftime("%d/%m/%Y %H:%M"))
    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=2, random_state=0)
    with pytest.warns(UserWarning, match=r"Column 'applied' has 400 distinct values in 400 rows"):
        model.fit(X.assign(applied=dates.to_numpy()), y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the usual columns: no warning
        clone(model).fit(X, y)


def test_rows_of_zero_weight_are_never_the_early_stopping_rows():
    """When the held-out rows all weighed 0, the teacher kept 1 tree (test AUC 0.73 for
    0.87) and the MLP its first epoch: validation losses of no weight stop nothing."""
    from riskkd._holdout import holdout_split

    y = np.tile([0, 1], 300)
    weight = np.ones(600)
    _, held = holdout_split(y, 0.15, 7)
    weight[held] = 0.0
    fit, held = holdout_split(y, 0.15, 7, weight=weight)
    assert (weight[held] > 0).all() and len(held) == 77  # 15% of the 510 weighted rows
    assert sorted(np.concatenate([fit, held]).tolist()) == list(range(600))
    # Without zero weights the split is the unweighted one (seeded results unchanged).
    np.testing.assert_array_equal(
        holdout_split(y, 0.15, 7, weight=np.ones(600))[1], holdout_split(y, 0.15, 7)[1]
    )
    X = pd.DataFrame({"x": np.linspace(-3, 3, 600) + np.tile([0.0, 1.0], 300)})
    seed = int(np.random.RandomState(0).randint(0, 2**31 - 1))
    weight = np.ones(600)
    weight[holdout_split(y, 0.15, seed)[1]] = 0.0
    teacher = LightGBMTeacher(n_estimators=200, random_state=0).fit(X, y, sample_weight=weight)
    assert teacher.best_iteration_ > 1
