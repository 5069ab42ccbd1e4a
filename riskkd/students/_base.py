"""The student interface shared by every student."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator


class Student(BaseEstimator):
    """Base class of students: a model of the preprocessed inputs ``(Xn, Xc)``.

    Students are fitted by :class:`riskkd.DistilledClassifier` on the preprocessed transfer
    set, never on raw data, and predict with numpy only. A new student subclasses this and
    implements :meth:`fit`, :meth:`decision_logits`, :meth:`get_state` and :meth:`set_state`.

    ``Xn`` is a float32 array ``(n_samples, n_numeric)``; ``Xc`` an int32 array
    ``(n_samples, n_categorical)`` of rows of an embedding table of ``n_embeddings`` rows
    (see :mod:`riskkd.preprocessing`). ``y`` is -1 for synthetic (unlabelled) rows.

    ``default_alpha`` is the soft-target weight of ``DistilledClassifier(alpha="auto")``.
    """

    default_alpha = 1.0

    def fit(
        self,
        Xn: np.ndarray,
        Xc: np.ndarray,
        *,
        n_embeddings: int,
        soft_proba: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray,
        loss: Any,
        monotone: np.ndarray | None = None,
        groups: np.ndarray | None = None,
    ) -> Student:
        """Fit on calibrated soft targets ``soft_proba`` and hard class indices ``y``.

        ``loss`` is a :class:`riskkd.losses.DistillationLoss`; its ``alpha`` weights the soft
        targets against the hard labels (0 = hard labels only). ``monotone`` is ``None`` or an
        int8 array of shape ``(Xn.shape[1],)`` with +1 (the logit of the last class never
        decreases as that column grows), -1 (never increases) or 0 (free) per numeric input;
        the preprocessing of numeric columns is increasing, so raw-column constraints carry
        over. :class:`riskkd.DistilledClassifier` passes it only when a constraint is set.
        ``groups`` (passed only when the transfer set has synthetic rows) gives each row's
        source: the training row it is or was made from. A student that holds rows out
        (early stopping, model choice) holds out whole groups, so that a held-out row is not
        judged beside its own synthetic copies.
        """
        raise NotImplementedError

    def check_classes(self, n_classes: int) -> None:
        """Raise ``ValueError`` if this student cannot learn ``n_classes`` classes.

        :class:`riskkd.DistilledClassifier` calls it before fitting the teacher, so that an
        unsuitable target fails at once rather than after cross-fitting.
        """

    def decision_logits(self, Xn: np.ndarray, Xc: np.ndarray) -> np.ndarray:
        """Logits: shape ``(n_samples, 1)`` (log-odds) for binary, ``(n_samples, n_classes)`` else."""
        raise NotImplementedError

    def predict_proba(self, Xn: np.ndarray, Xc: np.ndarray) -> np.ndarray:
        """Class probabilities from :meth:`decision_logits`."""
        return logits_to_proba(self.decision_logits(Xn, Xc))

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``(settings, arrays)``: JSON-serialisable settings and the numeric arrays to persist."""
        raise NotImplementedError

    def set_state(self, settings: dict[str, Any], arrays: dict[str, np.ndarray]) -> Student:
        """Restore what :meth:`get_state` returned."""
        raise NotImplementedError


def logits_to_proba(logits: np.ndarray) -> np.ndarray:
    """Sigmoid of a single logit column (as two class columns) or softmax over classes."""
    if logits.shape[1] == 1:
        proba = np.empty((len(logits), 2), dtype=logits.dtype)
        expit(logits[:, 0], out=proba[:, 1])
        np.subtract(1.0, proba[:, 1], out=proba[:, 0])
        return proba
    return softmax(logits, axis=1)
