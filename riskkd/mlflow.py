"""``riskkd.mlflow``: the MLflow integration under the name MLflow users look for.

An alias of :mod:`riskkd.tracking` (``riskkd.mlflow.log_model``,
``riskkd.mlflow.load_model``, ``riskkd.mlflow.autolog`` ...), in the style of
``mlflow.sklearn``. This module does not shadow the top-level ``mlflow`` package:
riskkd imports it absolutely.
"""

from __future__ import annotations

from . import tracking
from .tracking import *  # noqa: F403 - the same public names, listed once in riskkd.tracking

__all__ = tracking.__all__
