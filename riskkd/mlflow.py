"""``riskkd.mlflow``: the MLflow integration under the name MLflow users look for.

An alias of :mod:`riskkd.tracking` (``riskkd.mlflow.log_model``,
``riskkd.mlflow.load_model``, ``riskkd.mlflow.autolog`` ...), in the style of
``mlflow.sklearn``. This module does not shadow the top-level ``mlflow`` package:
riskkd imports it absolutely.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_GATES",
    "FidelityGateError",
    "autolog",
    "default_tracking_uri",
    "hash_training_data",
    "load_model",
    "log_distillation",
    "log_model",
    "promote",
    "save_model",
]

from .tracking import (
    DEFAULT_GATES,
    FidelityGateError,
    autolog,
    default_tracking_uri,
    hash_training_data,
    load_model,
    log_distillation,
    log_model,
    promote,
    save_model,
)
