"""Fidelity report: how well the student keeps the teacher's ranking, calibration and decisions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score, roc_curve
from sklearn.utils.validation import _check_sample_weight, column_or_1d

from .inputs import check_pairing, numpy_labels

#: Fidelity a student must keep to be promoted (``riskkd.mlflow.promote(gates=None)`` and a
#: pipeline without ``mlflow.gates``): metric -> (">=" or "<=", threshold).
DEFAULT_GATES: dict[str, tuple[str, float]] = {
    "auc_retention": (">=", 0.995),
    "ece_gap": ("<=", 0.01),
    "decision_agreement": (">=", 0.98),
}


def expected_calibration_error(
    y: np.ndarray, proba: np.ndarray, n_bins: int = 15, sample_weight=None
) -> float:
    """Expected calibration error over ``n_bins`` equal-width bins.

    Binary: of the probability of class 1; multi-class: of the top-class confidence.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Class indices (0..n_classes-1).
    proba : ndarray of shape (n_samples, n_classes)
    n_bins : int, default=15
    sample_weight : ndarray of shape (n_samples,), default=None

    Returns
    -------
    ece : float
    """
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if proba.shape[1] == 2:
        confidence, correct = proba[:, 1], (y == 1).astype(float)
    else:
        confidence = proba.max(axis=1)
        correct = (proba.argmax(axis=1) == y).astype(float)
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    total = np.bincount(bins, w, n_bins)
    gap = np.abs(np.bincount(bins, w * correct, n_bins) - np.bincount(bins, w * confidence, n_bins))
    return float(gap.sum() / total.sum())


def _ks(y_binary: np.ndarray, score: np.ndarray, w) -> float:
    """Kolmogorov-Smirnov statistic as credit scoring reads it: the largest gap between the
    score distributions of positives and negatives in the score's direction, max(TPR - FPR).
    It equals the two-sample KS (``scipy.stats.ks_2samp``) when the score ranks positives
    higher; a score ranking them lower has KS 0 here, not the size of its reversed gap."""
    fpr, tpr, _ = roc_curve(y_binary, score, sample_weight=w)
    return float(np.max(tpr - fpr))


def _positive_counts(y: np.ndarray, n_classes: int, sample_weight=None) -> np.ndarray:
    """Rows of positive weight of each class (counted, so summed weights never round)."""
    positive = y if sample_weight is None else y[np.asarray(sample_weight) > 0]
    return np.bincount(positive, minlength=n_classes)


def classification_metrics(
    y: np.ndarray, proba: np.ndarray, sample_weight=None
) -> dict[str, float]:
    """ROC-AUC, PR-AUC, KS, Gini, Brier, log loss and ECE of one model.

    Multi-class figures are macro averages over one-vs-rest problems (ECE: top class) of
    the classes present: with weight above 0 and below the total weight (a class whose
    rows all weigh 0 is absent, as if its rows were dropped).
    """
    n_classes = proba.shape[1]
    onehot = np.eye(n_classes)[y]
    if n_classes == 2:
        auc = roc_auc_score(y, proba[:, 1], sample_weight=sample_weight)
        pr_auc = average_precision_score(y, proba[:, 1], sample_weight=sample_weight)
        ks = _ks(y, proba[:, 1], sample_weight)
        brier = np.average((proba[:, 1] - y) ** 2, weights=sample_weight)
    else:
        count = _positive_counts(y, n_classes, sample_weight)
        present = [k for k in range(n_classes) if 0 < count[k] < count.sum()]
        auc = np.mean(
            [roc_auc_score(onehot[:, k], proba[:, k], sample_weight=sample_weight) for k in present]
        )
        pr_auc = np.mean(
            [
                average_precision_score(onehot[:, k], proba[:, k], sample_weight=sample_weight)
                for k in present
            ]
        )
        ks = np.mean([_ks(onehot[:, k], proba[:, k], sample_weight) for k in present])
        brier = np.average(((proba - onehot) ** 2).sum(axis=1), weights=sample_weight)
    return {
        "roc_auc": float(auc),
        "pr_auc": float(pr_auc),
        "ks": float(ks),
        "gini": float(2 * auc - 1),
        "brier": float(brier),
        "log_loss": float(
            log_loss(y, proba, labels=np.arange(n_classes), sample_weight=sample_weight)
        ),
        "ece": expected_calibration_error(y, proba, sample_weight=sample_weight),
    }


def label_index(classes: np.ndarray, y: Any, X: Any = None) -> np.ndarray:
    """Position of each label of ``y`` in ``classes``; an error for labels not among them.

    Labels of another type are not among them either (``"1"`` for class ``1``), as in
    ``predict``'s output. A one-column ``y`` (DataFrame, or array of shape (n, 1)) is read
    as its column, as scikit-learn's metrics read it; pandas nullable integer and boolean
    labels as their values, as ``fit`` reads them. With ``X``, a pandas ``y`` indexed by
    ``X``'s rows in another order is refused (:func:`riskkd.inputs.check_pairing`).
    """
    check_pairing(X, y, "y")
    y = column_or_1d(numpy_labels(y))
    index = pd.Index(classes).get_indexer(y)  # -1: a label of another value or type
    unknown = index < 0
    if unknown.any():
        found = sorted({repr(v) for v in y[unknown].tolist()})[:5]
        raise ValueError(
            f"y holds labels the model was not fitted on: {', '.join(found)}; the model's "
            f"classes are {np.asarray(classes).tolist()}. Give y in the model's labels."
        )
    return index


def check_threshold(threshold: Any) -> None:
    """Raise unless ``threshold`` is a number in the open interval (0, 1).

    At 0 or 1 and beyond (or NaN), teacher and student decide every row alike and the
    decision agreement is 1 by construction.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.number):
        raise TypeError(f"threshold must be a float in (0, 1); got {threshold!r}.")
    if not 0 < float(threshold) < 1:
        raise ValueError(
            f"threshold must be in the open interval (0, 1); got {threshold!r}. Give the "
            "decision threshold as a probability of class 1, e.g. 0.5."
        )


def decision_threshold(threshold: Any, classes: Any) -> float | None:
    """The threshold of the binary decision agreement: ``threshold``, 0.5 when None.

    A multi-class model's decision agreement compares top classes; it takes no threshold
    (None is returned) and refuses a given one, which it would otherwise silently ignore.
    """
    if threshold is None:
        return 0.5 if len(classes) == 2 else None
    check_threshold(threshold)
    if len(classes) > 2:
        raise ValueError(multiclass_threshold_refusal(f"threshold={threshold!r}", classes))
    return float(threshold)


def multiclass_threshold_refusal(given: str, classes: Any) -> str:
    """Why a threshold (``given`` as the caller spelt it) is refused for a model of
    ``classes``, and the fix; the Python API and the command line say the same."""
    return (
        f"{given} applies to binary models; this model has {len(classes)} classes "
        f"({', '.join(map(str, classes))}) and its decision agreement compares top classes. "
        "Leave it out."
    )


def check_two_classes(classes: np.ndarray, y: np.ndarray, sample_weight=None) -> None:
    """Raise unless ``y`` (class indices) holds two classes or more with positive weight.

    ROC-AUC, PR-AUC, KS and the other figures compare classes: with one, they are undefined.
    """
    present = np.asarray(classes)[_positive_counts(y, len(classes), sample_weight) > 0]
    if len(present) >= 2:
        return
    among = "" if sample_weight is None else " among the rows of positive sample_weight"
    found = f"one class ({present.tolist()[0]!r})" if len(present) else "no labels"
    raise ValueError(
        f"y holds {found}{among}; ROC-AUC, KS and the other fidelity figures compare "
        "classes. Evaluate on rows with at least two."
    )


def agreement_metrics(
    teacher: np.ndarray, student: np.ndarray, threshold: float | None = 0.5, sample_weight=None
) -> dict[str, float]:
    """Spearman rank correlation of scores and agreement of decisions.

    Binary: scores are P(class 1), decisions are ``score >= threshold``. Multi-class: rank
    correlation is averaged over classes and decisions are the top class (``threshold``
    is not used). With ``sample_weight``, agreement is the weighted share of rows and rank
    correlation that of rows repeated as often as their (integer) weights
    (:func:`_rank_correlation`).
    """
    if teacher.shape[1] == 2:
        columns = [1]
        same = (teacher[:, 1] >= threshold) == (student[:, 1] >= threshold)
    else:
        columns = range(teacher.shape[1])
        same = teacher.argmax(axis=1) == student.argmax(axis=1)
    rho = np.mean([_rank_correlation(teacher[:, k], student[:, k], sample_weight) for k in columns])
    agree = np.average(same, weights=sample_weight)
    return {"rank_correlation": float(rho), "decision_agreement": float(agree)}


def _rank_correlation(a: np.ndarray, b: np.ndarray, sample_weight=None) -> float:
    """Spearman's rho; with weights, the weighted Pearson correlation of weighted mid-ranks
    (integer weights give the rho of rows repeated that often)."""
    if sample_weight is None:
        return spearmanr(a, b).statistic
    weight = np.asarray(sample_weight, dtype=float)
    ranks = np.column_stack([_weighted_ranks(a, weight), _weighted_ranks(b, weight)])
    cov = np.cov(ranks, rowvar=False, aweights=weight)
    return cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])


def _weighted_ranks(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Mid-rank of each value when every row counts ``weight`` times: the weight below it
    plus half of its ties' weight plus 1/2 (ordinary mid-ranks for unit weights)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    tie_weight = np.add.reduceat(weight[order], starts)
    below = np.cumsum(tie_weight) - tie_weight
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(below + (tie_weight + 1) / 2, np.diff(np.r_[starts, len(values)]))
    return ranks


def require_teacher(model: Any, what: str) -> None:
    """Raise, saying where the teacher is, when ``model`` was saved or logged without it."""
    if getattr(model, "teacher_", None) is None:
        raise ValueError(
            f"model.teacher_ is None: the model was saved without its teacher (student-only: "
            f"riskkd.save(..., student_only=True) or mlflow.student_only; or a teacher without "
            f"a native format), and {what} compares student and teacher. Use the full model "
            "(a pipeline's run folder artifacts/<use case>/<run>/model); for a registered "
            "student-only version, its tag riskkd.teacher_model_uri names the teacher."
        )


def fidelity_report(
    model: Any, X: Any, y: Any, *, threshold: float | None = None, sample_weight=None
) -> pd.DataFrame:
    """Compare a fitted :class:`~riskkd.DistilledClassifier` with its teacher on ``(X, y)``.

    Parameters
    ----------
    model : DistilledClassifier
        A fitted model; its ``teacher_`` must be available.
    X : {array-like, DataFrame} of shape (n_samples, n_features)
        Evaluation rows, ideally not used for fitting.
    y : array-like of shape (n_samples,) or (n_samples, 1)
        True labels (values of ``model.classes_``).
    threshold : float, default=None
        Decision threshold on P(class 1) for the binary decision agreement, in (0, 1);
        None is 0.5. A multi-class model compares top classes and takes none.
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    report : DataFrame
        Index: ``roc_auc``, ``pr_auc``, ``ks``, ``gini``, ``brier``, ``log_loss``, ``ece``,
        ``size_bytes`` with columns ``teacher`` and ``student``; then the comparisons
        ``auc_retention`` (student / teacher ROC-AUC), ``rank_correlation``,
        ``decision_agreement`` and ``size_ratio`` (teacher / student bytes), whose value is
        in the ``student`` column (``teacher`` is NaN).

    Raises
    ------
    ValueError
        When ``y`` holds labels not in ``model.classes_`` or fewer than two classes (of
        positive ``sample_weight``), or ``threshold`` is outside (0, 1) or given for a
        multi-class model.
    TypeError
        When ``threshold`` is not a number.
    """
    from .persistence import check_distilled, student_size_bytes, teacher_size_bytes

    check_distilled(model, "fidelity_report")
    require_teacher(model, "a fidelity report")
    threshold = decision_threshold(threshold, model.classes_)
    index = label_index(model.classes_, y, X)
    if sample_weight is not None:
        check_pairing(X, sample_weight, "sample_weight")
        sample_weight = _check_sample_weight(sample_weight, index, ensure_non_negative=True)
    check_two_classes(model.classes_, index, sample_weight)
    p_teacher = model.teacher_.predict_proba(X)
    p_student = model.predict_proba(X)
    teacher = classification_metrics(index, p_teacher, sample_weight)
    student = classification_metrics(index, p_student, sample_weight)
    teacher["size_bytes"] = float(teacher_size_bytes(model))
    student["size_bytes"] = float(student_size_bytes(model))
    report = pd.DataFrame({"teacher": teacher, "student": student})
    comparisons = {
        "auc_retention": student["roc_auc"] / teacher["roc_auc"],
        **agreement_metrics(p_teacher, p_student, threshold, sample_weight),
        "size_ratio": teacher["size_bytes"] / student["size_bytes"],
    }
    extra = pd.DataFrame({"teacher": np.nan, "student": pd.Series(comparisons)})
    report = pd.concat([report, extra])
    report.index.name = "metric"
    return report
