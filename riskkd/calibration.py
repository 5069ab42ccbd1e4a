"""Calibration of teacher probabilities, fitted on cross-fitted (out-of-fold) predictions.

Each calibrator maps a ``(n_samples, n_classes)`` probability matrix to calibrated
probabilities of the same shape. A new method is a subclass of :class:`Calibrator`
overriding ``fit`` and ``transform``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_softmax, logit, softmax
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

_EPS = 1e-7


def proba_to_logits(proba: np.ndarray) -> np.ndarray:
    """Log-probabilities, clipped away from 0 so they stay finite."""
    return np.log(np.clip(proba, _EPS, 1.0))


class Calibrator:
    """Identity calibration; base class of the others."""

    method: str | None = None

    def fit(
        self, proba: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> Calibrator:
        return self

    def transform(self, proba: np.ndarray) -> np.ndarray:
        return proba

    def get_state(self) -> dict[str, Any]:
        """JSON-serialisable fitted state."""
        return {}

    def set_state(self, state: dict[str, Any]) -> Calibrator:
        for key, value in state.items():
            setattr(self, key, np.asarray(value) if isinstance(value, list) else value)
        return self


class TemperatureCalibrator(Calibrator):
    """One temperature ``t`` on the logits: ``softmax(log p / t)`` (Guo et al. 2017).

    Keeps the ranking of every class; suited to multi-class teachers.
    """

    method = "temperature"

    def fit(self, proba, y, sample_weight=None):
        logits = proba_to_logits(proba)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        rows = np.arange(len(y))

        def nll(log_t: float) -> float:
            return -np.average(log_softmax(logits / np.exp(log_t), axis=1)[rows, y], weights=w)

        self.temperature_ = float(
            np.exp(minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded").x)
        )
        return self

    def transform(self, proba):
        return softmax(proba_to_logits(proba) / self.temperature_, axis=1)

    def get_state(self):
        return {"temperature_": self.temperature_}


class SigmoidCalibrator(Calibrator):
    """Platt scaling on the log-odds of each class (one-vs-rest, renormalised)."""

    method = "sigmoid"

    def fit(self, proba, y, sample_weight=None):
        n_classes = proba.shape[1]
        columns = [1] if n_classes == 2 else range(n_classes)
        self.coef_, self.intercept_ = [], []
        for k in columns:
            z = logit(np.clip(proba[:, k], _EPS, 1 - _EPS)).reshape(-1, 1)
            lr = LogisticRegression(C=1e6).fit(z, (y == k).astype(int), sample_weight=sample_weight)
            self.coef_.append(float(lr.coef_[0, 0]))
            self.intercept_.append(float(lr.intercept_[0]))
        return self

    def transform(self, proba):
        if proba.shape[1] == 2:
            z = logit(np.clip(proba[:, 1], _EPS, 1 - _EPS))
            p1 = expit(self.coef_[0] * z + self.intercept_[0])
            return np.column_stack([1 - p1, p1])
        z = logit(np.clip(proba, _EPS, 1 - _EPS))
        scaled = expit(z * np.asarray(self.coef_) + np.asarray(self.intercept_))
        return scaled / scaled.sum(axis=1, keepdims=True)

    def get_state(self):
        return {"coef_": list(self.coef_), "intercept_": list(self.intercept_)}


class IsotonicCalibrator(Calibrator):
    """Isotonic regression of each class indicator on its probability (renormalised).

    Non-parametric; it merges scores into steps, so students learn tied scores. Prefer it
    for large data where the teacher's calibration curve is far from a sigmoid.
    """

    method = "isotonic"

    def fit(self, proba, y, sample_weight=None):
        n_classes = proba.shape[1]
        columns = [1] if n_classes == 2 else range(n_classes)
        self.x_, self.y_ = [], []
        for k in columns:
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
            iso.fit(proba[:, k], (y == k).astype(float), sample_weight=sample_weight)
            self.x_.append(np.asarray(iso.X_thresholds_, dtype=float))
            self.y_.append(np.asarray(iso.y_thresholds_, dtype=float))
        return self

    def transform(self, proba):
        if proba.shape[1] == 2:
            p1 = np.interp(proba[:, 1], self.x_[0], self.y_[0])
            p1 = np.clip(p1, _EPS, 1 - _EPS)
            return np.column_stack([1 - p1, p1])
        out = np.column_stack(
            [np.interp(proba[:, k], x, v) for k, (x, v) in enumerate(zip(self.x_, self.y_))]
        )
        out = np.clip(out, _EPS, None)
        return out / out.sum(axis=1, keepdims=True)

    def get_state(self):
        return {"x_": [x.tolist() for x in self.x_], "y_": [v.tolist() for v in self.y_]}

    def set_state(self, state):
        self.x_ = [np.asarray(x) for x in state["x_"]]
        self.y_ = [np.asarray(v) for v in state["y_"]]
        return self


CALIBRATORS: dict[str | None, type[Calibrator]] = {
    None: Calibrator,
    "temperature": TemperatureCalibrator,
    "sigmoid": SigmoidCalibrator,
    "isotonic": IsotonicCalibrator,
}


def make_calibrator(method: str | None, n_classes: int) -> Calibrator:
    """The calibrator for ``method``; ``"auto"`` is sigmoid for binary and temperature otherwise."""
    if method == "auto":
        method = "sigmoid" if n_classes == 2 else "temperature"
    return CALIBRATORS[method]()
