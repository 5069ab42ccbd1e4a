"""The fidelity evaluation that tracking logs: metrics, latency, JSON and a self-contained HTML page."""

from __future__ import annotations

import base64
import html
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..fidelity import fidelity_report

# Rows of fidelity_report that compare the two models (value in the "student" column).
_COMPARISONS = ("auc_retention", "rank_correlation", "decision_agreement", "size_ratio")
# Student-minus-teacher differences logged next to the raw figures.
_GAPS = ("ece",)
_LATENCY_BATCHES = {"1row": (1, 15), "1000rows": (1000, 5)}
# Wall-clock budget of one latency measurement; at least 3 timed calls are always made.
_LATENCY_BUDGET_S = 1.0
_HEADLINE = (
    "auc_retention",
    "ece_gap",
    "decision_agreement",
    "rank_correlation",
    "size_ratio",
    "teacher_roc_auc",
    "student_roc_auc",
)
_PLOT_CAPTIONS = {
    "reliability_teacher.png": "Reliability diagram of the teacher",
    "reliability_student.png": "Reliability diagram of the student",
    "roc_curve.png": "ROC curves (teacher dashed, student solid)",
    "pr_curve.png": "Precision-recall curves (teacher dashed, student solid)",
    "score_scatter.png": "Student against teacher probabilities",
}


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
    threshold : float
    latency_ms : dict of str to float
        :func:`measure_latency`, empty when not measured.
    """

    report: pd.DataFrame
    y: np.ndarray
    teacher_proba: np.ndarray
    student_proba: np.ndarray
    classes: list
    threshold: float
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
    threshold: float = 0.5,
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
    threshold : float, default=0.5
        Decision threshold of the binary decision agreement.
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
    y_index = np.searchsorted(model.classes_, np.asarray(y))
    return FidelityEvaluation(
        report=report,
        y=y_index,
        teacher_proba=model.teacher_.predict_proba(X),
        student_proba=model.predict_proba(X),
        classes=classes,
        threshold=float(threshold),
        latency_ms=measure_latency(model, X) if latency else {},
    )


# ---------------------------------------------------------------------- HTML
_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; } figcaption { font-size: 0.85em; color: #555; }
img { max-width: 520px; }
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return "" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def _table(rows: Mapping[str, Any] | pd.DataFrame, header: tuple[str, ...]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    if isinstance(rows, pd.DataFrame):
        items = [(str(i), [row[c] for c in rows.columns]) for i, row in rows.iterrows()]
    else:
        items = [(str(k), [v]) for k, v in rows.items()]
    body = "".join(
        "<tr><td>"
        + html.escape(name)
        + "</td>"
        + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in values)
        + "</tr>"
        for name, values in items
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(
    evaluation: FidelityEvaluation,
    pngs: Mapping[str, bytes],
    *,
    params: Mapping[str, str] | None = None,
    title: str = "riskkd fidelity report",
) -> str:
    """A self-contained HTML page: tables, and the plots embedded as base64 PNG.

    The page references no external resource (no scripts, style sheets, fonts or URLs).

    Parameters
    ----------
    evaluation : FidelityEvaluation
    pngs : mapping of str to bytes
        Plot file name to PNG bytes (see :func:`riskkd.tracking._plots.fidelity_pngs`).
    params : mapping of str to str, default=None
        Model parameters to list at the end.
    title : str, default="riskkd fidelity report"

    Returns
    -------
    page : str
    """
    metrics = evaluation.metrics()
    headline = {name: metrics[name] for name in _HEADLINE if name in metrics}
    figures = "".join(
        f'<figure><img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" '
        f'alt="{html.escape(name)}"><figcaption>{html.escape(_PLOT_CAPTIONS.get(name, name))}'
        "</figcaption></figure>"
        for name, png in pngs.items()
    )
    classes = ", ".join(str(c) for c in evaluation.classes)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{evaluation.n_samples} evaluation rows; classes: {html.escape(classes)}; "
        f"decision threshold {evaluation.threshold:g}.</p>",
        "<h2>Headline</h2>",
        _table(headline, ("figure", "value")),
        "<h2>Fidelity report</h2>",
        _table(evaluation.report, ("metric", *map(str, evaluation.report.columns))),
    ]
    if evaluation.latency_ms:
        parts += ["<h2>Predict latency (median, ms)</h2>"]
        parts += [_table(evaluation.latency_ms, ("measure", "value"))]
    parts += ["<h2>Plots</h2>", f'<div class="plots">{figures}</div>']
    if params:
        parts += ["<h2>Parameters</h2>", _table(dict(params), ("parameter", "value"))]
    parts += ["</body></html>"]
    return "\n".join(parts)
