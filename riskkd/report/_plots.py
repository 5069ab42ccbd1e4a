"""Fidelity plots as PNG bytes: reliability, ROC, precision-recall, score scatter, distributions.

Figures are drawn on matplotlib's Agg canvas directly (no ``pyplot``), so plotting never
changes the user's matplotlib backend or leaves figures open. Every function is vectorised
(numpy binning, no loop over rows) and caps what it draws, so a plot of a million rows costs
about as much as one of ten thousand.

Binary problems plot the probability of ``classes_[1]``. Multi-class problems plot one
one-vs-rest curve (or panel) per class. Class labels are drawn as plain text (``$`` is
no math-text delimiter).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from ..fidelity import expected_calibration_error
from ._metrics import score_columns

# Matches the binning of riskkd.fidelity.expected_calibration_error.
_N_BINS = 15
# Above this many rows the score scatter becomes a hexbin density plot.
_MAX_SCATTER_POINTS = 5000
# Rows drawn in a hexbin (a random subset beyond): the density shape is settled long before.
_MAX_HEXBIN_POINTS = 200_000
_HIST_BINS = 40
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


def _text_labels(labels: Sequence) -> list[str]:
    """Class labels as plain text: ``$`` escaped, so matplotlib never reads them as math."""
    return [str(label).replace("$", r"\$") for label in labels]


def _suffix(labels: Sequence, k: int, n_classes: int) -> str:
    """Legend suffix naming the class of a one-vs-rest curve (none for binary)."""
    return "" if n_classes == 2 else f" {labels[k]}"


def _subsample(n: int, cap: int) -> np.ndarray:
    """Sorted indices of at most ``cap`` of ``n`` rows (all of them when ``n <= cap``)."""
    if n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, cap, replace=False))


def _panels(n_panels: int, width: float = 3.6, height: float = 3.2):
    """A figure with ``n_panels`` axes on a grid of up to 3 columns (extra axes hidden)."""
    n_cols = min(n_panels, 3)
    n_rows = math.ceil(n_panels / n_cols)
    figure = _figure(width * n_cols, height * n_rows)
    axes = np.atleast_1d(figure.subplots(n_rows, n_cols, squeeze=False).ravel())
    for extra in axes[n_panels:]:
        extra.set_visible(False)
    return figure, axes[:n_panels]


def _calibration_curve(hit: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, ...]:
    bins = np.minimum((confidence * _N_BINS).astype(int), _N_BINS - 1)
    count = np.bincount(bins, minlength=_N_BINS)
    filled = count > 0
    mean_conf = np.bincount(bins, confidence, _N_BINS)[filled] / count[filled]
    mean_hit = np.bincount(bins, hit, _N_BINS)[filled] / count[filled]
    return mean_conf, mean_hit, count


def reliability_png(
    y: np.ndarray, proba: np.ndarray, title: str, labels: Sequence | None = None
) -> bytes:
    """Reliability diagram of one model, with the share of rows in each bin underneath.

    Binary: observed frequency of class 1 against its predicted probability. Multi-class:
    one one-vs-rest curve per class (observed frequency of the class against its
    predicted probability); the ECE in the title is the top-class ECE that
    :func:`riskkd.fidelity.expected_calibration_error` reports.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Class indices.
    proba : ndarray of shape (n_samples, n_classes)
    title : str
        Name of the model (``"teacher"`` or ``"student"``).
    labels : sequence of length n_classes, default=None
        Class labels, for the legend (class indices when None).

    Returns
    -------
    png : bytes
    """
    n_classes = proba.shape[1]
    labels = [str(k) for k in range(n_classes)] if labels is None else _text_labels(labels)
    ece = expected_calibration_error(y, proba, n_bins=_N_BINS)
    figure = _figure(5.0, 5.0)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    edges = np.linspace(0, 1, _N_BINS + 1)
    classes = _one_vs_rest(y, n_classes)
    for i, k in enumerate(classes):
        mean_conf, mean_hit, count = _calibration_curve((y == k).astype(float), proba[:, k])
        name = f"P({labels[k]})"
        top.plot(mean_conf, mean_hit, marker="o", markersize=3, color=f"C{i % 10}", label=name)
        bottom.stairs(count / max(len(y), 1), edges, color=f"C{i % 10}", linewidth=1)
    top.set_ylabel("observed frequency")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    kind = " (one-vs-rest)" if n_classes > 2 else ""
    top.set_title(f"Reliability of the {title}{kind}, ECE {ece:.4f}")
    top.legend(loc="upper left", fontsize="small")
    bottom.set_xlabel("predicted probability")
    bottom.set_ylabel("share of rows")
    return _png(figure)


def roc_png(y: np.ndarray, teacher: np.ndarray, student: np.ndarray, labels: Sequence) -> bytes:
    """ROC curves of teacher (dashed) and student (solid), one-vs-rest per class."""
    labels = _text_labels(labels)
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
    labels = _text_labels(labels)
    figure = _figure()
    axes = figure.subplots()
    for i, k in enumerate(_one_vs_rest(y, teacher.shape[1])):
        color = f"C{i % 10}"
        for name, proba, style in (
            ("teacher", teacher, _TEACHER_STYLE),
            ("student", student, _STUDENT_STYLE),
        ):
            precision, recall, _ = precision_recall_curve(
                y == k, proba[:, k], drop_intermediate=True
            )
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
    """Student against teacher probability of each row, one panel per scored class.

    Up to 5,000 rows are drawn as translucent points; beyond, a hexbin density (log
    colour scale) of at most 200,000 randomly chosen rows.
    """
    labels = _text_labels(labels)
    n = teacher.shape[0]
    classes = score_columns(teacher.shape[1])
    dense = n > _MAX_SCATTER_POINTS
    rows = _subsample(n, _MAX_HEXBIN_POINTS if dense else _MAX_SCATTER_POINTS)
    if len(classes) == 1:
        figure = _figure(5.0, 5.0)
        axes = [figure.subplots()]
    else:
        figure, axes = _panels(len(classes))
    for i, (axis, k) in enumerate(zip(axes, classes, strict=True)):
        axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="student = teacher")
        if dense:
            cells = axis.hexbin(
                teacher[rows, k],
                student[rows, k],
                gridsize=40,
                extent=(0, 1, 0, 1),
                bins="log",
                mincnt=1,
                cmap="viridis",
            )
            figure.colorbar(cells, ax=axis, label="rows (log scale)")
        else:
            axis.scatter(
                teacher[rows, k],
                student[rows, k],
                s=6,
                alpha=0.4,
                color=f"C{i % 10}",
                edgecolors="none",
                label="one row",
            )
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1)
        axis.set_aspect("equal")
        axis.set_xlabel(f"teacher P({labels[k]})")
        axis.set_ylabel(f"student P({labels[k]})")
        axis.set_title(f"Student against teacher: P({labels[k]})", fontsize="medium")
        axis.legend(loc="upper left", fontsize="small")
    if dense:
        figure.suptitle(f"{len(rows):,} of {n:,} rows" if len(rows) < n else f"{n:,} rows")
    return _png(figure)


def score_distribution_png(
    teacher: np.ndarray,
    student: np.ndarray,
    labels: Sequence,
    psi: Sequence[float],
    reference: np.ndarray | None = None,
    reference_psi: Sequence[float] | None = None,
) -> bytes:
    """Histograms of teacher and student scores (and the student's on reference data).

    One panel per scored class (class 1 for binary), each titled with the PSI of the
    student's scores against the teacher's (and of the evaluation scores against the
    reference scores when a reference is given).

    Parameters
    ----------
    teacher, student : ndarray of shape (n_samples, n_classes)
    labels : sequence of length n_classes
    psi : sequence of float
        PSI teacher -> student of each scored class.
    reference : ndarray of shape (n_reference, n_classes), default=None
        The student's probabilities on the reference data.
    reference_psi : sequence of float, default=None
        PSI reference -> evaluation of the student's scores, per scored class.

    Returns
    -------
    png : bytes
    """
    labels = _text_labels(labels)
    classes = score_columns(teacher.shape[1])
    if len(classes) == 1:
        figure = _figure(6.0, 4.5)
        axes = [figure.subplots()]
    else:
        figure, axes = _panels(len(classes))
    edges = np.linspace(0, 1, _HIST_BINS + 1)
    for j, (axis, k) in enumerate(zip(axes, classes, strict=True)):
        series = [("teacher", teacher[:, k], "C0"), ("student", student[:, k], "C1")]
        if reference is not None:
            series.append(("student on reference", reference[:, k], "C2"))
        for name, scores, color in series:
            share = np.histogram(scores, bins=edges)[0] / max(len(scores), 1)
            axis.stairs(share, edges, label=name, color=color, linewidth=1.4)
        title = f"P({labels[k]}): PSI teacher→student {psi[j]:.4f}"
        if reference_psi is not None:
            title += f"\nPSI reference→data {reference_psi[j]:.4f}"
        axis.set_title(title, fontsize="medium")
        axis.set_xlim(0, 1)
        axis.set_xlabel(f"predicted P({labels[k]})")
        axis.set_ylabel("share of rows")
        axis.legend(loc="upper right", fontsize="small")
    return _png(figure)
