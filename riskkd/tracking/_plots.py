"""Fidelity plots as PNG bytes: reliability, ROC, precision-recall and score scatter.

Figures are drawn on matplotlib's Agg canvas directly (no ``pyplot``), so plotting never
changes the user's matplotlib backend or leaves figures open.

Binary problems plot the probability of ``classes_[1]``. Multi-class problems plot one
one-vs-rest curve per class (reliability: the top-class confidence against accuracy, as
:func:`riskkd.fidelity.expected_calibration_error` measures it).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from ..fidelity import expected_calibration_error

# Matches the binning of riskkd.fidelity.expected_calibration_error.
_N_BINS = 15
_MAX_SCATTER_POINTS = 5000
_TEACHER_STYLE = {"linestyle": "--", "linewidth": 1.2}
_STUDENT_STYLE = {"linestyle": "-", "linewidth": 1.6}


def _figure(width: float = 5.5, height: float = 4.5):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _one_vs_rest(y: np.ndarray, n_classes: int) -> list[int]:
    """Class indices to draw: class 1 for binary, every class present and absent otherwise."""
    if n_classes == 2:
        return [1]
    return [k for k in range(n_classes) if 0 < np.sum(y == k) < len(y)]


def _suffix(labels: Sequence, k: int, n_classes: int) -> str:
    """Legend suffix naming the class of a one-vs-rest curve (none for binary)."""
    return "" if n_classes == 2 else f" {labels[k]}"


def reliability_png(y: np.ndarray, proba: np.ndarray, title: str) -> bytes:
    """Reliability diagram of one model, with the share of rows in each bin underneath.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Class indices.
    proba : ndarray of shape (n_samples, n_classes)
    title : str

    Returns
    -------
    png : bytes
    """
    if proba.shape[1] == 2:
        confidence, hit = proba[:, 1], (y == 1).astype(float)
        xlabel, ylabel = "predicted probability", "observed frequency"
    else:
        confidence, hit = proba.max(axis=1), (proba.argmax(axis=1) == y).astype(float)
        xlabel, ylabel = "top-class confidence", "accuracy"
    bins = np.minimum((confidence * _N_BINS).astype(int), _N_BINS - 1)
    count = np.bincount(bins, minlength=_N_BINS)
    filled = count > 0
    mean_conf = np.bincount(bins, confidence, _N_BINS)[filled] / count[filled]
    mean_hit = np.bincount(bins, hit, _N_BINS)[filled] / count[filled]
    ece = expected_calibration_error(y, proba, n_bins=_N_BINS)

    figure = _figure(5.0, 5.0)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    top.plot(mean_conf, mean_hit, marker="o", label=f"{title} (ECE {ece:.4f})")
    top.set_ylabel(ylabel)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_title(f"Reliability: {title}")
    top.legend(loc="upper left")
    edges = np.linspace(0, 1, _N_BINS + 1)
    bottom.bar(edges[:-1], count / max(len(y), 1), width=1 / _N_BINS, align="edge")
    bottom.set_xlabel(xlabel)
    bottom.set_ylabel("share of rows")
    return _png(figure)


def roc_png(y: np.ndarray, teacher: np.ndarray, student: np.ndarray, labels: Sequence) -> bytes:
    """ROC curves of teacher (dashed) and student (solid), one-vs-rest per class."""
    figure = _figure()
    axes = figure.subplots()
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":")
    for i, k in enumerate(_one_vs_rest(y, teacher.shape[1])):
        color = f"C{i % 10}"
        for name, proba, style in (
            ("teacher", teacher, _TEACHER_STYLE),
            ("student", student, _STUDENT_STYLE),
        ):
            fpr, tpr, _ = roc_curve(y == k, proba[:, k])
            auc = roc_auc_score(y == k, proba[:, k])
            label = f"{name}{_suffix(labels, k, teacher.shape[1])} (AUC {auc:.4f})"
            axes.plot(fpr, tpr, color=color, label=label, **style)
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    axes.set_title("ROC curve" + (" (one-vs-rest)" if teacher.shape[1] > 2 else ""))
    axes.legend(loc="lower right", fontsize="small")
    return _png(figure)


def pr_png(y: np.ndarray, teacher: np.ndarray, student: np.ndarray, labels: Sequence) -> bytes:
    """Precision-recall curves of teacher (dashed) and student (solid), one-vs-rest."""
    figure = _figure()
    axes = figure.subplots()
    for i, k in enumerate(_one_vs_rest(y, teacher.shape[1])):
        color = f"C{i % 10}"
        for name, proba, style in (
            ("teacher", teacher, _TEACHER_STYLE),
            ("student", student, _STUDENT_STYLE),
        ):
            precision, recall, _ = precision_recall_curve(y == k, proba[:, k])
            ap = average_precision_score(y == k, proba[:, k])
            axes.plot(
                recall,
                precision,
                color=color,
                label=f"{name}{_suffix(labels, k, teacher.shape[1])} (AP {ap:.4f})",
                drawstyle="steps-post",
                **style,
            )
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_title("Precision-recall curve" + (" (one-vs-rest)" if teacher.shape[1] > 2 else ""))
    axes.legend(loc="upper right", fontsize="small")
    return _png(figure)


def scatter_png(teacher: np.ndarray, student: np.ndarray, labels: Sequence) -> bytes:
    """Student against teacher probability of each row (class 1, or every class)."""
    n = teacher.shape[0]
    rows = np.arange(n)
    if n > _MAX_SCATTER_POINTS:
        rows = np.sort(np.random.default_rng(0).choice(n, _MAX_SCATTER_POINTS, replace=False))
    figure = _figure(5.0, 5.0)
    axes = figure.subplots()
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":")
    classes = [1] if teacher.shape[1] == 2 else range(teacher.shape[1])
    for i, k in enumerate(classes):
        axes.scatter(
            teacher[rows, k],
            student[rows, k],
            s=6,
            alpha=0.4,
            color=f"C{i % 10}",
            label=f"P({labels[k]})",
            edgecolors="none",
        )
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_aspect("equal")
    axes.set_xlabel("teacher probability")
    axes.set_ylabel("student probability")
    axes.set_title("Student against teacher scores")
    axes.legend(loc="upper left", fontsize="small", markerscale=2)
    return _png(figure)


def fidelity_pngs(
    y: np.ndarray, teacher: np.ndarray, student: np.ndarray, labels: Sequence
) -> dict[str, bytes]:
    """Every fidelity plot, keyed by file name.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Class indices (0..n_classes-1).
    teacher, student : ndarray of shape (n_samples, n_classes)
        Probabilities of the teacher and of the student.
    labels : sequence of length n_classes
        Class labels, for legends.

    Returns
    -------
    pngs : dict of str to bytes
        ``reliability_teacher.png``, ``reliability_student.png``, ``roc_curve.png``,
        ``pr_curve.png`` and ``score_scatter.png``.
    """
    labels = [str(label) for label in labels]
    return {
        "reliability_teacher.png": reliability_png(y, teacher, "teacher"),
        "reliability_student.png": reliability_png(y, student, "student"),
        "roc_curve.png": roc_png(y, teacher, student, labels),
        "pr_curve.png": pr_png(y, teacher, student, labels),
        "score_scatter.png": scatter_png(teacher, student, labels),
    }
