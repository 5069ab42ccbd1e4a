"""The fidelity report and its metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from riskkd import DistilledClassifier, fidelity_report
from riskkd.fidelity import expected_calibration_error

from .conftest import fast_mlp, fast_teacher, fast_tree, make_risk_frame


def _fit(n_classes: int):
    X, y = make_risk_frame(300, n_classes, seed=9)
    return DistilledClassifier(fast_teacher(), fast_tree(), cv=2, random_state=0).fit(X, y), X, y


@pytest.fixture(scope="module")
def binary():
    return _fit(2)


@pytest.fixture(scope="module")
def multiclass():
    return _fit(3)


def test_ece_of_perfect_and_constant_forecasts():
    y = np.array([0, 1] * 50)
    assert expected_calibration_error(y, np.eye(2)[y]) == 0.0
    half = np.full((100, 2), 0.5)
    assert expected_calibration_error(y, half) == pytest.approx(0.0)
    wrong = np.eye(2)[1 - y]
    assert expected_calibration_error(y, wrong) == pytest.approx(1.0)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_report_contents(n_classes):
    X, y = make_risk_frame(600, n_classes, seed=8)
    model = DistilledClassifier(fast_teacher(), fast_mlp(), cv=3, random_state=0).fit(X, y)
    report = fidelity_report(model, X, y)
    metrics = ["roc_auc", "pr_auc", "ks", "gini", "brier", "log_loss", "ece", "size_bytes"]
    comparisons = ["auc_retention", "rank_correlation", "decision_agreement", "size_ratio"]
    assert list(report.index) == metrics + comparisons
    assert list(report.columns) == ["teacher", "student"]
    assert report.loc[comparisons, "teacher"].isna().all()
    assert report.loc["auc_retention", "student"] == pytest.approx(
        report.loc["roc_auc", "student"] / report.loc["roc_auc", "teacher"]
    )
    assert report.loc["gini", "student"] == pytest.approx(2 * report.loc["roc_auc", "student"] - 1)
    if n_classes == 2:
        assert report.loc["roc_auc", "student"] == pytest.approx(
            roc_auc_score(y, model.predict_proba(X)[:, 1])
        )
    assert 0 <= report.loc["decision_agreement", "student"] <= 1
    assert report.loc["size_bytes", "student"] > 0


def test_unknown_labels_are_refused():
    X, y = make_risk_frame(300, 2, seed=9)
    model = DistilledClassifier(fast_teacher(), fast_mlp(max_epochs=3), cv=2, random_state=0).fit(
        X, y
    )
    with pytest.raises(ValueError, match=r"labels the model was not fitted on: 7;"):
        fidelity_report(model, X, np.where(np.arange(len(y)) == 0, 7, y))
    # Labels of another type (text for a model fitted on 0/1) are named, not a TypeError.
    with pytest.raises(ValueError, match=r"not fitted on: 'no', 'yes'; .* classes are \[0, 1\]"):
        fidelity_report(model, X, np.where(y == 1, "yes", "no"))


def test_agreement_metrics_honour_sample_weight():
    """Weights count in rank correlation and decision agreement as in the other metrics
    (they used to be ignored); unit weights give the unweighted figures."""
    from scipy.stats import spearmanr

    from riskkd.fidelity import agreement_metrics

    rng = np.random.default_rng(0)
    p_teacher = rng.random(200)
    p_student = np.where(np.arange(200) < 100, p_teacher, rng.random(200))  # agree on half
    teacher = np.column_stack([1 - p_teacher, p_teacher])
    student = np.column_stack([1 - p_student, p_student])
    plain = agreement_metrics(teacher, student)
    ones = agreement_metrics(teacher, student, sample_weight=np.ones(200))
    assert ones == pytest.approx(plain, abs=1e-12)
    first_half = np.where(np.arange(200) < 100, 1.0, 0.0)
    weighted = agreement_metrics(teacher, student, sample_weight=first_half)
    assert weighted == pytest.approx({"rank_correlation": 1.0, "decision_agreement": 1.0})
    # Integer weights equal repeated rows.
    w = rng.integers(1, 4, 200)
    repeated = agreement_metrics(np.repeat(teacher, w, axis=0), np.repeat(student, w, axis=0))
    assert agreement_metrics(teacher, student, sample_weight=w) == pytest.approx(repeated)
    assert plain["rank_correlation"] == pytest.approx(spearmanr(p_teacher, p_student).statistic)


def test_zero_weight_class_counts_as_absent():
    """A class whose rows all weigh 0 (exclusions) drops out of the macro averages, as when
    its rows are dropped; it used to make ROC-AUC, KS and Gini NaN and pull PR-AUC down."""
    from riskkd.fidelity import classification_metrics

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    proba = rng.dirichlet(np.ones(3), 300) + 2 * np.eye(3)[y]  # informative scores
    proba /= proba.sum(axis=1, keepdims=True)
    weight = np.where(y == 2, 0.0, rng.uniform(0.5, 2.0, 300))
    kept = weight > 0
    weighted = classification_metrics(y, proba, weight)
    dropped = classification_metrics(y[kept], proba[kept], weight[kept])
    assert all(np.isfinite(list(weighted.values())))
    assert weighted == pytest.approx(dropped, rel=1e-12)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_single_class_is_refused(request, n_classes):
    """One class in y (or one of positive weight): ROC-AUC, KS and the rest are undefined;
    they used to come out NaN, or as a made-up PR-AUC of 0 or 1."""
    model, X, y = request.getfixturevalue("binary" if n_classes == 2 else "multiclass")
    first = model.classes_.tolist()[0]
    only = (y == first).to_numpy()
    with pytest.raises(ValueError, match=rf"y holds one class \({first!r}\); .* at least two"):
        fidelity_report(model, X[only], y[only])
    with pytest.raises(ValueError, match=rf"one class \({first!r}\) among the rows of positive"):
        fidelity_report(model, X, y, sample_weight=only.astype(float))
    with pytest.raises(ValueError, match="Negative values in data passed to `sample_weight`"):
        fidelity_report(model, X, y, sample_weight=np.where(only, 1.0, -1.0))


@pytest.mark.parametrize(
    ("threshold", "error", "match"),
    [
        (
            50,
            ValueError,
            r"threshold must be in the open interval \(0, 1\); got 50\. .* e\.g\. 0\.5",
        ),
        (-1, ValueError, r"open interval \(0, 1\); got -1\."),
        (0.0, ValueError, r"open interval \(0, 1\); got 0\.0\."),
        (float("nan"), ValueError, r"open interval \(0, 1\); got nan\."),
        ("0.5", TypeError, r"threshold must be a float in \(0, 1\); got '0\.5'\."),
    ],
)
def test_bad_threshold_is_refused(binary, threshold, error, match):
    """A threshold outside (0, 1) makes every decision agree (it used to pass the
    decision_agreement gate silently); the HTML report already refused it."""
    model, X, y = binary
    with pytest.raises(error, match=match):
        fidelity_report(model, X, y, threshold=threshold)


def test_threshold_is_refused_for_a_multi_class_model(multiclass, binary, tmp_path):
    """A multi-class decision agreement compares top classes: a threshold given for one
    used to be silently ignored, by the Python API as by the CLI until it refused it."""
    from riskkd.report import evaluate, write_report
    from riskkd.tuning import make_fidelity_scorer

    model, X, y = multiclass
    match = r"threshold=0\.3 applies to binary models; this model has 3 classes \(A, B, C\)"
    with pytest.raises(ValueError, match=match):
        fidelity_report(model, X, y, threshold=0.3)
    with pytest.raises(ValueError, match=match):
        make_fidelity_scorer("decision_agreement", threshold=0.3)(model, X, y)
    with pytest.raises(ValueError, match=match):
        write_report(model, X, y, tmp_path / "grades.html", threshold=0.3, latency=False)
    assert not (tmp_path / "grades.html").exists()
    assert evaluate(model, X, y, latency=False).threshold is None  # top classes, no cut
    # Binary: None is 0.5, and a given threshold is used.
    model, X, y = binary
    assert evaluate(model, X, y, latency=False).threshold == 0.5
    at_half = fidelity_report(model, X, y).loc["decision_agreement", "student"]
    assert (
        at_half == fidelity_report(model, X, y, threshold=0.5).loc["decision_agreement", "student"]
    )


def test_y_as_one_column(binary):
    """y as a one-column DataFrame or an (n, 1) array is read as its column, as scikit-learn
    metrics read it (it failed with 'Index data must be 1-dimensional')."""
    model, X, y = binary
    expected = fidelity_report(model, X, y)
    pd.testing.assert_frame_equal(fidelity_report(model, X, y.to_frame()), expected)
    pd.testing.assert_frame_equal(fidelity_report(model, X, y.to_numpy()[:, None]), expected)
    with pytest.raises(ValueError, match=r"y should be a 1d array, got .* shape \(300, 2\)"):
        fidelity_report(model, X, np.c_[y, y])


def test_nullable_labels_are_read_as_fit_reads_them():
    """fit reads pandas 'boolean' / 'Int64' labels as their values; the evaluation refused the
    same y ('labels the model was not fitted on: 0.0, 1.0; the model's classes are [False,
    True]')."""
    X, y = make_risk_frame(300, 2, seed=9)
    for labels in (y.astype(bool).astype("boolean"), y.astype("Int64")):
        model = DistilledClassifier(fast_teacher(), fast_tree(), cv=2, random_state=0)
        model.fit(X, labels)
        expected = fidelity_report(model, X, labels.to_numpy(model.classes_.dtype))
        pd.testing.assert_frame_equal(fidelity_report(model, X, labels), expected)


def test_y_and_weights_indexed_in_another_order_are_refused(binary):
    """Paired by position, a y indexed by X's rows in another order gave ROC-AUC 0.50 for
    0.84, silently; fit already refused it."""
    model, X, y = binary
    shuffled = y.sample(frac=1, random_state=0)
    with pytest.raises(ValueError, match=r"y's index holds the rows of X's index in another"):
        fidelity_report(model, X, shuffled)
    weights = pd.Series(1.0, index=shuffled.index)
    with pytest.raises(ValueError, match=r"sample_weight's index holds the rows of X's index"):
        fidelity_report(model, X, y, sample_weight=weights)
    # Aligned by label, the same rows are scored as given in order.
    pd.testing.assert_frame_equal(
        fidelity_report(model, X, shuffled.loc[X.index]), fidelity_report(model, X, y)
    )
