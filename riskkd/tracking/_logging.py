"""Log a distillation to MLflow: params, history, fidelity, latency, the HTML report, model."""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric
from sklearn.utils.validation import check_is_fitted

from ..report import Report, build_report
from . import _flavor
from ._params import hash_training_data, model_params
from ._runs import active_or_new_run

DATA_HASH_PARAM = "training_data_sha256"
DATA_HASH_TAG = "riskkd.training_data_sha256"
# log_batch accepts at most 1000 metrics per call.
_BATCH = 1000


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None (strict JSON)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def log_params_and_data(
    model: Any, *, X_train: Any = None, dataset_name: str | None = None
) -> dict[str, str]:
    """Log :func:`riskkd.tracking._params.model_params`, the dataset name and data hash."""
    params = model_params(model)
    tags = {}
    if dataset_name is not None:
        params["dataset_name"] = tags["riskkd.dataset_name"] = str(dataset_name)
    if X_train is not None:
        params[DATA_HASH_PARAM] = tags[DATA_HASH_TAG] = hash_training_data(X_train)
    mlflow.log_params(params)  # first: a run holding other values refuses them, tags untouched
    mlflow.set_tags(tags)
    return params


def log_history(run_id: str, history: list[dict[str, Any]]) -> None:
    """Log each epoch of ``history_`` as step metrics ``student_<key>`` (step = epoch)."""
    now = int(time.time() * 1000)
    metrics = [
        Metric(f"student_{key}", float(value), now, int(entry.get("epoch", step)))
        for step, entry in enumerate(history)
        for key, value in entry.items()
        if key != "epoch" and value is not None and math.isfinite(float(value))
    ]
    client = MlflowClient()
    for start in range(0, len(metrics), _BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + _BATCH])


def log_distillation(
    model: Any,
    X_val: Any,
    y_val: Any,
    *,
    run_name: str | None = None,
    dataset_name: str | None = None,
    X_train: Any = None,
    threshold: float | None = None,
    log_model: bool = True,
    registered_model_name: str | None = None,
    student_only: bool = False,
    report: Report | None = None,
) -> str:
    """Log a fitted distillation and its fidelity on validation data to MLflow.

    Logs into the active run, or into a new run (named ``run_name``) that is ended
    afterwards. When no tracking URI is configured, :func:`default_tracking_uri` is used.

    What is logged:

    * **params**: distillation settings, teacher and student classes and parameters,
      library versions (:func:`riskkd.tracking._params.model_params`), ``dataset_name``
      and, when ``X_train`` is given, ``training_data_sha256`` (also the tag
      ``riskkd.training_data_sha256``; see :func:`hash_training_data`);
    * **step metrics**: each epoch of ``history_`` as ``student_train_loss``,
      ``student_val_loss``, ``student_val_kl_to_teacher`` and
      ``student_val_teacher_agreement`` (none for the tree student);
    * **metrics**: the fidelity report on ``(X_val, y_val)`` as ``teacher_<metric>`` /
      ``student_<metric>`` (``roc_auc``, ``pr_auc``, ``ks``, ``gini``, ``brier``,
      ``log_loss``, ``ece``, ``size_bytes``), ``auc_retention``, ``rank_correlation``,
      ``decision_agreement``, ``size_ratio``, ``ece_gap`` (student - teacher ECE), and
      the median predict latency ``{student,teacher}_latency_{1row,1000rows}_ms``;
    * **artifacts**: ``fidelity_report.json``, ``fidelity_report.html`` (the page of
      :func:`riskkd.report.write_report`, titled with ``dataset_name``, with ``X_train``
      as the PSI reference), its plots ``plots/roc_curve.png``,
      ``plots/pr_curve.png``, ``plots/reliability_teacher.png``,
      ``plots/reliability_student.png``, ``plots/score_scatter.png``,
      ``plots/score_distribution.png``, and ``input_schema.json``;
    * **models** (``log_model=True``): the teacher in its native flavor as ``teacher`` and
      the distilled model as ``model`` (:func:`log_model`), optionally registered.

    Parameters
    ----------
    model : DistilledClassifier
        A fitted model whose ``teacher_`` is available.
    X_val : {array-like, DataFrame} of shape (n_samples, n_features)
        Validation rows not used for fitting.
    y_val : array-like of shape (n_samples,)
        Their labels.
    run_name : str, default=None
        Name of the new run (ignored inside an active run).
    dataset_name : str, default=None
        Logged as the param ``dataset_name``.
    X_train : {array-like, DataFrame}, default=None
        The training ``X``; its SHA-256 is logged and the report shows the population
        stability of the student's scores from ``X_train`` to ``X_val``.
    threshold : float, default=None
        Decision threshold of the binary decision agreement (None: 0.5); a multi-class
        model compares top classes and takes none.
    log_model : bool, default=True
        Log the teacher and the distilled model.
    registered_model_name : str, default=None
        Register the logged model under this name; the version carries the fidelity tags
        that :func:`promote` reads.
    student_only : bool, default=False
        Log (and register) the model folder without the teacher (see :func:`log_model`).
    report : riskkd.report.Report, default=None
        The report of ``model`` on ``(X_val, y_val)`` when it was already built (with
        :func:`riskkd.report.build_report`), so that it is not computed again; its page and
        figures are logged as they are.

    Returns
    -------
    run_id : str

    Examples
    --------
    >>> from riskkd.tracking import log_distillation
    >>> run_id = log_distillation(
    ...     model, X_test, y_test, X_train=X_train, registered_model_name="credit-risk"
    ... )  # doctest: +SKIP
    """
    check_is_fitted(model)
    if registered_model_name is not None and not log_model:
        raise ValueError(
            f"registered_model_name={registered_model_name!r} needs log_model=True: only a "
            "logged model can be registered."
        )
    if report is None:
        report = build_report(
            model,
            X_val,
            y_val,
            title=f"riskkd fidelity report: {dataset_name}" if dataset_name else None,
            threshold=threshold,
            X_reference=X_train,
        )
    evaluation = report.evaluation
    with active_or_new_run(run_name) as run:
        run_id = run.info.run_id
        log_params_and_data(model, X_train=X_train, dataset_name=dataset_name)
        log_history(run_id, model.history_)
        mlflow.log_metrics(evaluation.metrics())
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "plots").mkdir()
            for name, png in report.pngs.items():
                (folder / "plots" / name).write_bytes(png)
            (folder / "fidelity_report.json").write_text(json.dumps(evaluation.to_dict(), indent=2))
            report.write(folder / "fidelity_report.html")
            (folder / "input_schema.json").write_text(
                json.dumps(_finite(model.input_schema_.to_dict()), indent=2, default=str)
            )
            mlflow.log_artifacts(tmp)
        if log_model:
            _flavor.log_model(
                model,
                "model",
                registered_model_name=registered_model_name,
                input_example=_flavor.input_example_of(model, X_val),
                student_only=student_only,
            )
    return run_id
