"""Which model scores, and the version string written next to every score.

A model is given as a fitted :class:`~riskkd.DistilledClassifier`, a folder written by
:func:`riskkd.save`, or an MLflow model URI (``models:/name@alias``,
``models:/name/3``, ``runs:/<run id>/<path>`` ...). Its version is

* ``<name>/<version>`` for a registered model (``models:/name@alias`` resolves the alias
  to the version it points at *now*, so outputs say which version really scored);
* otherwise ``riskkd-<riskkd version>+<content hash>``: the hash of everything that
  defines the student's predictions (classes, input schema, preprocessing, weights,
  calibration), identical for a model in memory and the same model saved and loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:/")
# models:/<name>@<alias> or models:/<name>/<version>
_REGISTERED = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def model_fingerprint(model: Any) -> str:
    """SHA-256 of everything that defines the student's predictions.

    Parameters
    ----------
    model : DistilledClassifier
        A fitted model.

    Returns
    -------
    digest : str
        64 hexadecimal characters; equal for a model and its :func:`riskkd.save` /
        :func:`riskkd.load` round trip.
    """
    check_is_fitted(model)
    settings, student_arrays = model.student_.get_state()
    description = {
        "classes": [_jsonable(c) if isinstance(c, np.generic) else c for c in model.classes_],
        "input_schema": model.input_schema_.to_dict(),
        "calibration": [model.calibrator_.method, model.calibrator_.get_state()],
        "student": [type(model.student_).__name__, settings],
    }
    digest = hashlib.sha256(json.dumps(description, sort_keys=True, default=_jsonable).encode())
    arrays = {**{f"student.{k}": v for k, v in student_arrays.items()}}
    arrays.update({f"preprocessing.{k}": v for k, v in model.preprocessor_.get_state().items()})
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def local_version(model: Any) -> str:
    """``riskkd-<riskkd version>+<first 12 characters of the model fingerprint>``."""
    from .. import __version__

    return f"riskkd-{__version__}+{model_fingerprint(model)[:12]}"


def _registered_version(uri: str) -> str | None:
    """``name/version`` of a ``models:/name@alias`` or ``models:/name/version`` URI."""
    match = _REGISTERED.match(uri)
    if match is None:
        return None
    if match["version"] is not None:
        return f"{match['name']}/{match['version']}"
    from mlflow import MlflowClient

    from ..tracking._runs import ensure_tracking_uri

    ensure_tracking_uri()
    version = MlflowClient().get_model_version_by_alias(match["name"], match["alias"])
    return f"{match['name']}/{version.version}"


def resolve_model(model: Any) -> tuple[Any, str]:
    """``(fitted model, version string)`` from a model, a saved folder or an MLflow URI.

    Parameters
    ----------
    model : DistilledClassifier, str or path-like
        A fitted model, a folder written by :func:`riskkd.save`, or an MLflow model URI.

    Returns
    -------
    model : DistilledClassifier
    version : str
    """
    if isinstance(model, str) and _URI.match(model) and not Path(model).exists():
        from ..tracking import load_model

        version = _registered_version(model)
        if version is None:
            # models:/<model id> or runs:/...: the URI itself plus the content hash.
            loaded = load_model(model)
            return loaded, f"{model}#{model_fingerprint(loaded)[:12]}"
        # Resolve the alias before loading so that the version and the weights agree.
        name = version.rsplit("/", 1)
        return load_model(f"models:/{name[0]}/{name[1]}"), version
    if isinstance(model, str | os.PathLike):
        from ..persistence import load

        path = Path(model)
        if not path.is_dir():
            raise FileNotFoundError(
                f"model={str(model)!r} is neither a folder written by riskkd.save nor an MLflow "
                "model URI (models:/<name>@<alias>, models:/<name>/<version>, runs:/<run id>/"
                "<path>). Check the path."
            )
        loaded = load(path)
        return loaded, local_version(loaded)
    if not hasattr(model, "predict_proba") or not hasattr(model, "input_schema_"):
        raise TypeError(
            f"model must be a fitted riskkd.DistilledClassifier, a riskkd.save folder or an "
            f"MLflow model URI; got {type(model).__name__}."
        )
    return model, local_version(model)
