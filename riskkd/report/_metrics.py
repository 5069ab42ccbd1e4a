"""The figures of a fidelity report: fidelity metrics, latency, PSI and grade confusion."""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..fidelity import decision_threshold, fidelity_report, label_index

# Rows of fidelity_report with a teacher and a student figure.
_PER_MODEL = ("roc_auc", "pr_auc", "ks", "gini", "brier", "log_loss", "ece", "size_bytes")
# Rows of fidelity_report that compare the two models (value in the "student" column).
_COMPARISONS = ("auc_retention", "rank_correlation", "decision_agreement", "size_ratio")
# Student-minus-teacher differences logged next to the raw figures.
_GAPS = ("ece",)
_LATENCY_BATCHES = {"1row": (1, 15), "1000rows": (1000, 5)}


def metric_names() -> list[str]:
    """Every name :meth:`FidelityEvaluation.metrics` logs (fidelity and latency figures)."""
    names = [f"{model}_{m}" for m in _PER_MODEL for model in ("teacher", "student")]
    names += [*_COMPARISONS, *(f"{m}_gap" for m in _GAPS)]
    for label in _LATENCY_BATCHES:
        names += [f"{model}_latency_{label}_ms" for model in ("student", "teacher")]
        names.append(f"latency_speedup_{label}")
    return names


# Wall-clock budget of one latency measurement; at least 3 timed calls are always made.
_LATENCY_BUDGET_S = 1.0


def _rows(X: Any, index: np.ndarray) -> Any:
    return X.iloc[index] if hasattr(X, "iloc") else np.asarray(X)[index]


def _median_ms(predict: Callable[[Any], Any], X: Any, repeats: int) -> float:
    predict(X)  # warm-up: first-call caches and lazy imports are not latency
    timings: list[float] = []
    start = time.perf_counter()
    while len(timings) < repeats and (
        len(timings) < 3 or time.perf_counter() - start < _LATENCY_BUDGET_S
    ):
        tic = time.perf_counter()
        predict(X)
        timings.append(time.perf_counter() - tic)
    return float(np.median(timings) * 1e3)


def measure_latency(model: Any, X: Any) -> dict[str, float]:
    """Median predict latency in milliseconds of student and teacher, on 1 and 1,000 rows.

    Both models score the same raw rows (the 1,000-row batch repeats ``X`` when it is
    shorter), so the teacher's figure includes its input preparation as the student's does.

    Parameters
    ----------
    model : DistilledClassifier
        A fitted model with its teacher.
    X : {array-like, DataFrame} of shape (n_samples, n_features)

    Returns
    -------
    latency : dict of str to float
        ``student_latency_1row_ms``, ``student_latency_1000rows_ms``,
        ``teacher_latency_1row_ms``, ``teacher_latency_1000rows_ms`` and the teacher/student
        ratios ``latency_speedup_1row`` and ``latency_speedup_1000rows``.
    """
    n = len(X)
    latency: dict[str, float] = {}
    for label, (size, repeats) in _LATENCY_BATCHES.items():
        batch = _rows(X, np.arange(size) % n)
        student = _median_ms(model.predict_proba, batch, repeats)
        teacher = _median_ms(model.teacher_.predict_proba, batch, repeats)
        latency[f"student_latency_{label}_ms"] = student
        latency[f"teacher_latency_{label}_ms"] = teacher
        latency[f"latency_speedup_{label}"] = teacher / student if student > 0 else math.nan
    return latency


def report_metrics(report: pd.DataFrame, prefix: str = "") -> dict[str, float]:
    """Flatten a :func:`riskkd.fidelity_report` into MLflow metric names.

    ``teacher_<metric>`` and ``student_<metric>`` for every per-model row,
    ``auc_retention``, ``rank_correlation``, ``decision_agreement`` and ``size_ratio`` as
    they are, and ``ece_gap`` = student ECE - teacher ECE. Non-finite values are dropped
    (MLflow stores them poorly). ``prefix`` is prepended to every name.
    """
    metrics: dict[str, float] = {}
    for metric, row in report.iterrows():
        if metric in _COMPARISONS:
            metrics[str(metric)] = float(row["student"])
        else:
            metrics[f"teacher_{metric}"] = float(row["teacher"])
            metrics[f"student_{metric}"] = float(row["student"])
    for metric in _GAPS:
        if metric in report.index:
            gap = report.loc[metric, "student"] - report.loc[metric, "teacher"]
            metrics[f"{metric}_gap"] = float(gap)
    return {f"{prefix}{k}": v for k, v in metrics.items() if math.isfinite(v)}


@dataclass
class FidelityEvaluation:
    """Everything logged about a model on one evaluation set.

    Attributes
    ----------
    report : DataFrame
        :func:`riskkd.fidelity_report` of the model.
    y : ndarray of shape (n_samples,)
        Class indices of the labels.
    teacher_proba, student_proba : ndarray of shape (n_samples, n_classes)
    classes : list
        Class labels.
    threshold : float or None
        The binary decision threshold; None for multi-class (top classes).
    latency_ms : dict of str to float
        :func:`measure_latency`, empty when not measured.
    """

    report: pd.DataFrame
    y: np.ndarray
    teacher_proba: np.ndarray
    student_proba: np.ndarray
    classes: list
    threshold: float | None
    latency_ms: dict[str, float] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return len(self.y)

    def metrics(self, prefix: str = "") -> dict[str, float]:
        """Fidelity and latency figures as MLflow metrics (see :func:`report_metrics`)."""
        latency = {f"{prefix}{k}": v for k, v in self.latency_ms.items() if math.isfinite(v)}
        return {**report_metrics(self.report, prefix), **latency}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description; NaN becomes ``None``."""

        def clean(value: Any) -> Any:
            value = value.item() if isinstance(value, np.generic) else value
            return None if isinstance(value, float) and not math.isfinite(value) else value

        return {
            "n_samples": self.n_samples,
            "classes": [clean(c) for c in self.classes],
            "threshold": self.threshold,
            "fidelity": {
                str(metric): {column: clean(row[column]) for column in self.report.columns}
                for metric, row in self.report.iterrows()
            },
            "metrics": {k: clean(v) for k, v in self.metrics().items()},
            "latency_ms": {k: clean(v) for k, v in self.latency_ms.items()},
        }


def evaluate(
    model: Any,
    X: Any,
    y: Any,
    *,
    threshold: float | None = None,
    latency: bool = True,
    sample_weight: Any = None,
) -> FidelityEvaluation:
    """Fidelity report, probabilities and (optionally) latency of ``model`` on ``(X, y)``.

    Parameters
    ----------
    model : DistilledClassifier
        A fitted model whose ``teacher_`` is available.
    X : {array-like, DataFrame} of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Labels, values of ``model.classes_``.
    threshold : float, default=None
        Decision threshold of the binary decision agreement (None: 0.5); a multi-class
        model compares top classes and takes none.
    latency : bool, default=True
        Measure predict latency (:func:`measure_latency`).
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the fidelity metrics (plots are unweighted).

    Returns
    -------
    evaluation : FidelityEvaluation
    """
    report = fidelity_report(model, X, y, threshold=threshold, sample_weight=sample_weight)
    classes = list(model.classes_)
    y_index = label_index(model.classes_, y)
    return FidelityEvaluation(
        report=report,
        y=y_index,
        teacher_proba=model.teacher_.predict_proba(X),
        student_proba=model.predict_proba(X),
        classes=classes,
        threshold=decision_threshold(threshold, model.classes_),
        latency_ms=measure_latency(model, X) if latency else {},
    )


# Floor of a bin's share in the PSI: an empty bin would make the log-ratio infinite. 1e-4
# (0.01 % of the rows) is the usual choice in credit-risk monitoring.
_PSI_FLOOR = 1e-4


def _scores(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be one-dimensional scores; got an array of shape {array.shape}. "
            "Pass one score per row, e.g. predict_proba(X)[:, 1]."
        )
    if len(array) == 0:
        raise ValueError(f"{name} is empty; the PSI needs at least one score on each side.")
    if not np.isfinite(array).all():
        raise ValueError(
            f"{name} holds {int((~np.isfinite(array)).sum())} NaN or infinite scores; "
            "drop or impute them first."
        )
    return array


def population_stability_index(expected: Any, actual: Any, bins: int = 10) -> float:
    """Population stability index (PSI) of ``actual`` scores against ``expected`` scores.

    The scores are cut at the quantiles of ``expected`` into ``bins`` bins of (nearly)
    equal expected share (tied quantiles are merged, so constant scores make one bin);
    each bin is ``[lower, upper)``, the outer bins are open. With ``e_i`` and ``a_i`` the
    shares of expected and actual scores in bin ``i``, floored at ``1e-4`` so that an
    empty bin stays finite:

    ``PSI = sum_i (a_i - e_i) * ln(a_i / e_i)``.

    Customary reading: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a
    significant shift.

    Parameters
    ----------
    expected : array-like of shape (n_expected,)
        Reference scores (e.g. the teacher's, or the student's on the training data).
    actual : array-like of shape (n_actual,)
        Scores compared with the reference.
    bins : int, default=10
        Number of quantile bins of ``expected``.

    Returns
    -------
    psi : float
        Non-negative; 0 when both have the same share in every bin.

    Examples
    --------
    >>> from riskkd.report import population_stability_index
    >>> population_stability_index([0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], bins=2)
    0.0
    >>> round(population_stability_index([0.1, 0.2, 0.3, 0.4], [0.1, 0.1, 0.1, 0.4], bins=2), 6)
    0.274653
    """
    if isinstance(bins, bool) or not isinstance(bins, numbers.Integral) or bins < 1:
        raise ValueError(f"bins must be an integer >= 1; got {bins!r}. The usual choice is 10.")
    expected = _scores(expected, "expected")
    actual = _scores(actual, "actual")
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, int(bins) + 1)[1:-1]))
    e = np.bincount(np.searchsorted(edges, expected, side="right"), minlength=len(edges) + 1)
    a = np.bincount(np.searchsorted(edges, actual, side="right"), minlength=len(edges) + 1)
    e = np.maximum(e / len(expected), _PSI_FLOOR)
    a = np.maximum(a / len(actual), _PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def score_columns(n_classes: int) -> list[int]:
    """Class indices whose probability is a score: class 1 for binary, every class otherwise."""
    return [1] if n_classes == 2 else list(range(n_classes))


def grade_confusion(
    teacher_proba: np.ndarray, student_proba: np.ndarray, classes: list
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counts and row percentages of teacher grade (rows) against student grade (columns).

    Grades are the most probable class of each model.

    Parameters
    ----------
    teacher_proba, student_proba : ndarray of shape (n_samples, n_classes)
    classes : list of length n_classes
        Class labels, in the order of the probability columns.

    Returns
    -------
    counts : DataFrame of shape (n_classes, n_classes)
        ``counts.loc[a, b]``: rows the teacher grades ``a`` and the student grades ``b``.
    row_percent : DataFrame of shape (n_classes, n_classes)
        ``counts`` divided by its row totals, in percent (NaN for a grade the teacher never
        gives).
    """
    n_classes = len(classes)
    pair = teacher_proba.argmax(axis=1) * n_classes + student_proba.argmax(axis=1)
    counts = np.bincount(pair, minlength=n_classes**2).reshape(n_classes, n_classes)
    labels = [str(c) for c in classes]
    index = pd.Index(labels, name="teacher grade")
    columns = pd.Index(labels, name="student grade")
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = np.where(totals > 0, 100.0 * counts / totals, np.nan)
    return (
        pd.DataFrame(counts, index=index, columns=columns),
        pd.DataFrame(percent, index=index, columns=columns),
    )
