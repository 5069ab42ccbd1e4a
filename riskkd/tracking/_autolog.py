"""Opt-in autologging of :meth:`riskkd.DistilledClassifier.fit`."""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import mlflow

from ..distill import DistilledClassifier
from ..report import evaluate
from . import _flavor
from ._logging import DATA_HASH_PARAM, log_history, log_params_and_data
from ._runs import active_or_new_run

_state: dict[str, Any] = {"original_fit": None, "log_models": True}
# Patched fits running in this process, in any thread: a fit started while another runs is
# part of it (DistilledClassifier cross-fits an assistant in joblib threads) and not logged.
_running = {"fits": 0}
_lock = threading.Lock()


def _fit_run() -> contextlib.AbstractContextManager:
    """The run to log a fit into: the active one, or a child of it once it holds a fit."""
    active = mlflow.active_run()
    if active is not None:
        params = mlflow.MlflowClient().get_run(active.info.run_id).data.params
        if DATA_HASH_PARAM in params:  # a second fit in the user's run: its own child run
            return mlflow.start_run(nested=True)
    return active_or_new_run()


def _log_fit(model: DistilledClassifier, X: Any, y: Any, sample_weight: Any) -> None:
    with _fit_run() as run:
        log_params_and_data(model, X_train=X)
        log_history(run.info.run_id, model.history_)
        evaluation = evaluate(model, X, y, latency=False, sample_weight=sample_weight)
        mlflow.log_metrics(evaluation.metrics(prefix="train_"))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "train_fidelity_report.json"
            path.write_text(json.dumps(evaluation.to_dict(), indent=2))
            mlflow.log_artifact(str(path))
        if _state["log_models"]:
            _flavor.log_model(model, "model", input_example=_flavor.input_example_of(model, X))


def _patched(original):
    signature = inspect.signature(original)

    @functools.wraps(original)
    def fit(self, *args, **kwargs):
        with _lock:
            nested = _running["fits"] > 0
            _running["fits"] += 1
        try:
            result = original(self, *args, **kwargs)
            if nested:
                return result
            bound = signature.bind(self, *args, **kwargs).arguments
            try:
                _log_fit(self, bound.get("X"), bound.get("y"), bound.get("sample_weight"))
            except Exception as exc:  # logging must never break a successful fit
                warnings.warn(
                    f"riskkd autologging failed after DistilledClassifier.fit: "
                    f"{type(exc).__name__}: {exc}. The fitted model is unaffected; log it with "
                    "riskkd.tracking.log_distillation.",
                    UserWarning,
                    stacklevel=2,
                )
        finally:
            with _lock:
                _running["fits"] -= 1
        return result

    fit.__riskkd_autolog__ = True
    return fit


def autolog(disable: bool = False, *, log_models: bool = True) -> None:
    """Log every :meth:`~riskkd.DistilledClassifier.fit` to MLflow (opt-in).

    After each successful ``fit``, into the active run (a child of it when it already
    holds a fit) or a new one: the params and training-data hash (as
    :func:`log_distillation` does), the per-epoch ``history_`` as step metrics, the
    fidelity report *on the training data* as metrics prefixed ``train_``
    (``train_auc_retention``, ``train_student_roc_auc`` ...; no validation data is seen at
    fit, so these measure fit, not generalisation) with the artifact
    ``train_fidelity_report.json``, and, with ``log_models=True``, the teacher and the
    model (:func:`log_model`). A logging failure is reported as a warning and never
    fails the fit. Fits made inside a fit, in any thread (a multi-stage assistant's
    cross-fitting) are part of it and not logged on their own; so is any fit started in
    another thread while one runs. Each fit ``tune()`` makes and each stage of a
    :class:`~riskkd.MultiStageDistiller` is a fit of its own and logs a run.

    ``fit`` is patched on the class; ``autolog(disable=True)`` restores the original.

    Parameters
    ----------
    disable : bool, default=False
        Turn autologging off and restore ``DistilledClassifier.fit``.
    log_models : bool, default=True
        Log the fitted model (and teacher) as well.

    Examples
    --------
    >>> import riskkd.tracking
    >>> riskkd.tracking.autolog()
    >>> model = riskkd.DistilledClassifier().fit(X, y)  # doctest: +SKIP
    >>> riskkd.tracking.autolog(disable=True)
    """
    if disable:
        if _state["original_fit"] is not None:
            DistilledClassifier.fit = _state["original_fit"]
            _state["original_fit"] = None
        return
    _state["log_models"] = bool(log_models)
    if _state["original_fit"] is None:
        _state["original_fit"] = DistilledClassifier.fit
        DistilledClassifier.fit = _patched(_state["original_fit"])
