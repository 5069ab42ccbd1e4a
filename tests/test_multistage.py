"""Teacher-assistant (multi-stage) distillation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.utils.estimator_checks import parametrize_with_checks

import riskkd
from riskkd import DistilledClassifier, fidelity_report
from riskkd.multistage import MultiStageDistiller
from riskkd.students import MLPStudent, TreeStudent

from .conftest import RARE_CLASS_CHECKS, fast_mlp, fast_teacher, fast_tree, make_risk_frame

# A tree -> tree chain keeps scikit-learn's ~60 checks fast; the reasons below are those of
# DistilledClassifier in tests/test_common.py, which every stage is.
_EXPECTED = {
    **RARE_CLASS_CHECKS,
    "check_sample_weight_equivalence_on_dense_data": (
        "repeated rows fall into the stratified cross-fitting folds one by one, a weighted row "
        "as one: the out-of-fold soft targets differ (DistilledClassifier with a depth-6 tree "
        "student fails this check the same way)"
    ),
}


@parametrize_with_checks(
    [
        MultiStageDistiller(
            fast_teacher(),
            (TreeStudent(max_depth=6), fast_tree()),
            assistant_cv=None,
            cv=2,
            random_state=0,
        )
    ],
    expected_failed_checks=lambda estimator: _EXPECTED,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def small_chain(**params):
    """Teacher -> wide MLP -> tree, small enough for unit tests."""
    return MultiStageDistiller(
        **{
            "teacher": fast_teacher(),
            "stages": (fast_mlp(hidden_layer_sizes=(48, 24), max_epochs=15), fast_tree()),
            "assistant_cv": None,
            "cv": 2,
            "augment": None,
            "random_state": 0,
            **params,
        }
    )


@pytest.fixture(scope="module")
def data():
    return make_risk_frame(500, 2, seed=3)


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return small_chain().fit(X, y)


def test_stages_and_final_model(fitted, data):
    X, _ = data
    assert len(fitted.stages_) == 2
    assert all(isinstance(stage, DistilledClassifier) for stage in fitted.stages_)
    assert isinstance(fitted.stages_[0].student_, MLPStudent)
    assert isinstance(fitted.stages_[1].student_, TreeStudent)
    assert fitted.final_ is fitted.stages_[-1]
    # The final model's teacher is the original GBDT, not the assistant.
    assert fitted.final_.teacher_ is fitted.stages_[0].teacher_ is fitted.teacher_
    np.testing.assert_array_equal(fitted.predict_proba(X), fitted.final_.predict_proba(X))
    np.testing.assert_array_equal(fitted.predict(X), fitted.final_.predict(X))
    np.testing.assert_array_equal(fitted.classes_, [0, 1])
    assert list(fitted.feature_names_in_) == list(X.columns)


def test_second_stage_learns_from_the_assistant(fitted, data):
    """With assistant_cv=None stage 2's soft targets are the assistant's calibrated in-sample
    predictions, not the GBDT's: they rank rows exactly like the assistant does."""
    X, _ = data
    assistant = fitted.stages_[0].predict_proba(X)[:, 1]
    soft = fitted.stages_[1].soft_targets_[:, 1]
    # Sigmoid calibration is strictly increasing: the ranks are identical (ties aside).
    assert (
        np.corrcoef(np.argsort(np.argsort(assistant)), np.argsort(np.argsort(soft)))[0, 1] > 0.999
    )
    assert not np.allclose(soft, fitted.stages_[0].soft_targets_[:, 1])


def test_stage_fidelity_is_recorded(fitted):
    table = fitted.stage_fidelity_
    assert list(table.index) == ["teacher", "stage 1", "stage 2"]
    assert {"roc_auc", "ece", "auc_retention", "rank_correlation", "decision_agreement"} <= set(
        table.columns
    )
    assert table.loc["teacher", "auc_retention"] == pytest.approx(1.0)
    assert (table.loc[["stage 1", "stage 2"], "fit_seconds"] > 0).all()
    # Every stage follows the teacher's ranking to a useful degree on this clear signal;
    # 0.5 is far below what a working student reaches (about 0.8-0.95 here).
    assert (table.loc[["stage 1", "stage 2"], "rank_correlation"] > 0.5).all()

    X_test, y_test = make_risk_frame(300, 2, seed=4)
    report = fitted.stage_report(X_test, y_test)
    assert list(report.index) == ["teacher", "stage 1", "stage 2"]
    # The last stage's report row is the fidelity report of the final model.
    full = fidelity_report(fitted.final_, X_test, y_test)
    assert report.loc["stage 2", "roc_auc"] == pytest.approx(full.loc["roc_auc", "student"])
    assert report.loc["stage 2", "auc_retention"] == pytest.approx(
        full.loc["auc_retention", "student"]
    )
    # With weights too, agreement metrics included.
    w = np.where(np.arange(len(y_test)) % 3 == 0, 4.0, 1.0)
    report = fitted.stage_report(X_test, y_test, sample_weight=w)
    full = fidelity_report(fitted.final_, X_test, y_test, sample_weight=w)
    for metric in ("roc_auc", "rank_correlation", "decision_agreement"):
        assert report.loc["stage 2", metric] == pytest.approx(full.loc[metric, "student"])


def test_reproducible_for_a_seed(fitted, data):
    X, y = data
    again = small_chain().fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))


def test_cross_fitted_assistant(data):
    """assistant_cv=2: stage 2's teacher is an unfitted copy of stage 1, cross-fitted."""
    X, y = data
    model = small_chain(assistant_cv=2, stages=(fast_mlp(max_epochs=10), fast_tree())).fit(X, y)
    second = model.stages_[1]
    assert isinstance(second.teacher, DistilledClassifier)
    assert second.cv == 2
    # Out-of-fold assistant predictions are not the in-sample ones of stages_[0].
    in_sample = model.stages_[0].predict_proba(X)[:, 1]
    assert not np.allclose(second.soft_targets_[:, 1], in_sample, atol=1e-3)
    np.testing.assert_array_equal(
        model.predict_proba(X),
        small_chain(assistant_cv=2, stages=(fast_mlp(max_epochs=10), fast_tree()))
        .fit(X, y)
        .predict_proba(X),
    )


def test_final_model_saves_and_loads(fitted, data, tmp_path):
    X, _ = data
    riskkd.save(fitted.final_, tmp_path / "model")
    loaded = riskkd.load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    # The saved teacher is the LightGBM teacher.
    np.testing.assert_allclose(
        loaded.teacher_.predict_proba(X), fitted.teacher_.predict_proba(X), rtol=1e-10
    )
    # The whole chain is not a DistilledClassifier: the error names its final_.
    with pytest.raises(TypeError, match=r"riskkd\.save\(model\.final_, \.\.\.\)"):
        riskkd.save(fitted, tmp_path / "chain")
    with pytest.raises(TypeError, match=r"fidelity_report\(model\.final_, \.\.\.\)"):
        fidelity_report(fitted, X, data[1])
    pytest.importorskip("onnx")
    from riskkd.export import onnx_inputs

    with pytest.raises(TypeError, match=r"export_onnx\(model\.final_, \.\.\.\)"):
        riskkd.export_onnx(fitted, tmp_path / "chain.onnx")
    with pytest.raises(TypeError, match=r"onnx_inputs\(model\.final_, \.\.\.\)"):
        onnx_inputs(fitted, X)


def test_clone_and_default_stages():
    model = MultiStageDistiller()
    stages = model._get_stages()
    assert stages[0].hidden_layer_sizes == (256, 128) and stages[1] == "mlp"
    assert clone(small_chain()).get_params()["assistant_cv"] is None


@pytest.mark.parametrize(
    "params, match",
    [
        ({"stages": ("mlp",)}, "needs at least two students"),
        ({"stages": ("mlp", "forest")}, r"stages\[1\].*'forest'"),
        ({"assistant_cv": 1}, "'assistant_cv' parameter"),
        ({"temperature": -1.0}, "'temperature' parameter"),
    ],
)
def test_invalid_settings(data, params, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        small_chain(**params).fit(X, y)


def test_teacher_monotone_constraints_reach_the_final_student():
    """A constraint of the GBDT teacher is kept by every stage, the final one included."""
    X, y = make_classification(
        n_samples=400, n_features=4, n_informative=3, n_redundant=0, random_state=0
    )
    X = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    direction = int(np.sign(np.corrcoef(X["a"], y)[0, 1]))
    teacher = LGBMClassifier(
        n_estimators=30, monotone_constraints=[direction, 0, 0, 0], n_jobs=1, verbose=-1
    )
    model = small_chain(teacher=teacher).fit(X, y)
    assert all(stage.monotone_ is not None for stage in model.stages_)
    # On a grid over column "a" with the other columns held at each row's values, the final
    # score never moves against the constraint (exactly: the students enforce it by design).
    grid = np.linspace(X["a"].min(), X["a"].max(), 25)
    for _, row in X.iloc[:20].iterrows():
        frame = pd.DataFrame([row] * len(grid)).assign(a=grid)
        score = model.decision_function(frame) * direction
        assert (np.diff(score) >= 0).all()


def test_multiclass():
    X, y = make_risk_frame(400, 3, seed=5)
    model = small_chain(stages=(fast_mlp(max_epochs=10), fast_mlp(max_epochs=10))).fit(X, y)
    assert model.predict_proba(X).shape == (len(X), 3)
    assert set(model.predict(X)) <= set(model.classes_)
    assert model.stage_fidelity_.shape[0] == 3


def test_cross_fitted_assistants_see_the_labels_their_teacher_knows():
    """Stage 1's copies were fitted on class indices, so a teacher's class_weight keyed by
    label, or a prefit teacher trained on the labels, failed with assistant_cv. Labels
    "bad" / "good" now give the chain that 0 / 1 give."""
    from sklearn.frozen import FrozenEstimator

    X, y = make_risk_frame(400, seed=1)
    X = X.astype({"home": "category", "note": "category"})  # LightGBM's own API reads these
    named = y.map({0: "bad", 1: "good"})

    def teachers(labels):
        weighted = LGBMClassifier(
            n_estimators=20, class_weight={labels[0]: 3.0}, verbose=-1, n_jobs=1
        )
        prefit = (
            clone(weighted).set_params(class_weight=None).fit(X, y.map(dict(enumerate(labels))))
        )
        return weighted, FrozenEstimator(prefit)

    for by_index, by_name in zip(teachers((0, 1)), teachers(("bad", "good"))):
        chains = [
            MultiStageDistiller(
                teacher, (fast_tree(), fast_tree(max_depth=2)), assistant_cv=2, cv=2,
                augment=None, random_state=0,
            ).fit(X, target)
            for teacher, target in ((by_index, y), (by_name, named))
        ]  # fmt: skip
        assert list(chains[1].classes_) == ["bad", "good"]
        np.testing.assert_array_equal(chains[0].predict_proba(X), chains[1].predict_proba(X))


def test_folds_stage_1_copies_cannot_use_are_refused_before_fitting():
    from sklearn.model_selection import StratifiedKFold

    X, y = make_risk_frame(300, seed=2)
    splits = list(StratifiedKFold(2).split(X, y))
    chain = MultiStageDistiller(fast_teacher(), (fast_tree(), fast_tree()), assistant_cv=2)
    with pytest.raises(ValueError, match=r"cv is given as list of splits.*assistant_cv=None"):
        chain.set_params(cv=splits).fit(X, y)
    y = y.astype(str).where(np.arange(300) >= 5, "rare")
    with pytest.raises(ValueError, match=r"Class 'rare' has 5 rows; with 2 stages .* 2 of"):
        chain.set_params(cv=3).fit(X, y)
    # Three stages: stage 3 cross-fits stage 2's copies, which cross-fit stage 1's.
    three = chain.set_params(stages=(fast_tree(), fast_tree(), fast_tree()), cv=2)
    with pytest.raises(ValueError, match=r"'rare' has 5 rows; with 3 stages .* 1 of them"):
        three.fit(X, y)
    y = y.where(np.arange(300) >= 4, "tiny")
    with pytest.raises(
        ValueError, match=r"'tiny' has 4 rows; .* stage 3 cross-fits .* on 5 folds of 4 of them"
    ):
        chain.set_params(assistant_cv=5).fit(X, y)


def test_assistants_cross_fitted_on_an_array_or_with_the_default_cv():
    """A nested stage 1 sliced its input with .iloc (arrays failed), and cv=None (5 folds)
    was refused as a list of splits."""
    X, y = make_classification(300, 6, random_state=0)
    for cv in (2, None):
        chain = MultiStageDistiller(
            fast_teacher(), (fast_tree(), fast_tree()), assistant_cv=2, cv=cv, augment=None
        ).fit(X, y)
        assert chain.predict_proba(X).shape == (300, 2)
