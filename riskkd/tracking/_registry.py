"""Model registry: fidelity tags on registered versions and gated promotion to an alias."""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Mapping
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from ..fidelity import DEFAULT_GATES
from ._runs import ensure_tracking_uri

TAG_PREFIX = "riskkd."
# Fidelity figures copied from the run's metrics to the registered version's tags.
VERSION_TAG_METRICS = (
    "auc_retention",
    "ece_gap",
    "decision_agreement",
    "rank_correlation",
    "student_roc_auc",
    "teacher_roc_auc",
    "student_ece",
    "teacher_ece",
)
_OPERATORS = {">=": operator.ge, "<=": operator.le}


class FidelityGateError(ValueError):
    """A model version failed the fidelity gates of :func:`promote`.

    Attributes
    ----------
    failures : list of str
        One line per failing gate: the metric, its value (or that it was not logged) and the
        rule it broke.
    """

    def __init__(self, message: str, failures: list[str]):
        super().__init__(message)
        self.failures = failures


def version_tags(run_id: str, client: MlflowClient | None = None) -> dict[str, str]:
    """Tags for a model version logged from run ``run_id``.

    Every ``riskkd.*`` tag of the run (teacher model URI and run id, training-data hash)
    and ``riskkd.<metric>`` for the fidelity figures the run has logged
    (``auc_retention``, ``ece_gap``, ``decision_agreement``, ``rank_correlation``, student
    and teacher ROC-AUC and ECE).
    """
    client = client or MlflowClient()
    data = client.get_run(run_id).data
    tags = {k: v for k, v in data.tags.items() if k.startswith(TAG_PREFIX)}
    tags.update(
        {
            f"{TAG_PREFIX}{m}": repr(float(data.metrics[m]))
            for m in VERSION_TAG_METRICS
            if m in data.metrics
        }
    )
    return tags


def _check_gates(gates: Mapping[str, Any]) -> dict[str, tuple[str, float]]:
    if not isinstance(gates, Mapping):
        raise TypeError(
            f"gates must be a dict mapping a metric name to ('>=' or '<=', threshold), got "
            f"{type(gates).__name__}; e.g. {{'auc_retention': ('>=', 0.995)}}."
        )
    checked = {}
    for metric, rule in gates.items():
        if (
            not isinstance(rule, tuple | list)
            or len(rule) != 2
            or rule[0] not in _OPERATORS
            or isinstance(rule[1], bool)
            or not isinstance(rule[1], int | float)
        ):
            raise ValueError(
                f"Gate {metric!r} is {rule!r}; a gate is a pair ('>=' or '<=', number), e.g. "
                f"{{{metric!r}: ('>=', 0.99)}}."
            )
        checked[str(metric)] = (rule[0], float(rule[1]))
    return checked


def _run_status(client: MlflowClient, version: ModelVersion) -> str | None:
    """Status of the run that logged the version (``None``: no run, or it is gone)."""
    if not version.run_id:
        return None
    try:
        return client.get_run(version.run_id).info.status
    except MlflowException:
        return None


def _version_metrics(client: MlflowClient, version: ModelVersion) -> dict[str, float]:
    """The version's fidelity figures: its ``riskkd.*`` tags, else its run's metrics.

    The tags are the figures the run held when the version was registered; a run that
    registers two candidates in turn holds only the last one's metrics.
    """
    metrics: dict[str, float] = {}
    if version.run_id:
        try:
            metrics.update(client.get_run(version.run_id).data.metrics)
        except MlflowException:
            pass
    for key, value in version.tags.items():
        if key.startswith(TAG_PREFIX):
            try:
                metrics[key[len(TAG_PREFIX) :]] = float(value)
            except ValueError:
                continue
    return metrics


def evaluate_gates(metrics: Mapping[str, float], gates: Mapping[str, Any]) -> list[str]:
    """The failing gates, one readable line each (empty when all pass)."""
    failures = []
    for metric, (op, threshold) in _check_gates(gates).items():
        value = metrics.get(metric)
        if value is None:
            failures.append(f"{metric} was not logged (needs {op} {threshold:g})")
        elif math.isnan(value) or not _OPERATORS[op](value, threshold):
            failures.append(f"{metric} = {value:.6g} (needs {op} {threshold:g})")
    return failures


def promote(
    name: str,
    version: int | str,
    alias: str = "champion",
    gates: Mapping[str, Any] | None = None,
    client: MlflowClient | None = None,
) -> ModelVersion:
    """Point ``alias`` at a registered version if its fidelity passes the gates.

    The version's figures are its ``riskkd.*`` tags, the fidelity its run had logged when
    it was registered (falling back to the run's metrics for others): metrics logged to the
    run after registration, such as a later evaluation, do not change them. A version whose
    run ended ``FAILED`` or ``KILLED``, or has not ended (unless it is this process's active
    run), is never promoted, whatever the gates. Registry
    *aliases* are used, never the deprecated stages.

    Parameters
    ----------
    name : str
        Registered model name.
    version : int or str
        Version to promote.
    alias : str, default="champion"
    gates : dict of str to (str, float), default=None
        Metric name to ``(">=" | "<=", threshold)``. ``None`` is :data:`DEFAULT_GATES`:
        ``auc_retention >= 0.995``, ``ece_gap <= 0.01``, ``decision_agreement >= 0.98``.
        ``{}`` promotes without checks.
    client : mlflow.MlflowClient, default=None
        Registry client; the default one otherwise.

    Returns
    -------
    model_version : mlflow.entities.model_registry.ModelVersion
        The promoted version, its ``aliases`` including ``alias``.

    Raises
    ------
    FidelityGateError
        If a gate fails, a gated metric was not logged or the version's run failed; the
        message lists every failure with its value and threshold, and the alias is left
        where it was.

    Examples
    --------
    >>> from riskkd.tracking import promote
    >>> promote("credit-risk", 3)  # doctest: +SKIP
    >>> promote("credit-risk", 4, gates={"auc_retention": (">=", 0.99)})  # doctest: +SKIP
    """
    ensure_tracking_uri()
    client = client or MlflowClient()
    gates = DEFAULT_GATES if gates is None else _check_gates(gates)
    model_version = client.get_model_version(name, str(version))
    failures = evaluate_gates(_version_metrics(client, model_version), gates)
    status = _run_status(client, model_version)
    if status in ("FAILED", "KILLED"):
        failures.insert(0, f"the version's run {model_version.run_id} ended {status}")
    active = mlflow.active_run()
    if status in ("RUNNING", "SCHEDULED") and (
        active is None or active.info.run_id != model_version.run_id
    ):
        failures.insert(
            0,
            f"the version's run {model_version.run_id} has not ended ({status}): its job is "
            "still running or was killed (end it with MlflowClient().set_terminated(run_id, "
            "'KILLED') if so)",
        )
    if failures:
        raise FidelityGateError(
            f"Version {version} of registered model {name!r} was not promoted to alias "
            f"{alias!r}: {len(failures)} fidelity gate(s) failed: " + "; ".join(failures) + ". "
            "Improve the student (or its calibration), or pass explicit gates=... to promote.",
            failures,
        )
    client.set_registered_model_alias(name, alias, str(version))
    client.set_model_version_tag(
        name, str(version), f"{TAG_PREFIX}gates.{alias}", json.dumps(gates, sort_keys=True)
    )
    return client.get_model_version(name, str(version))
