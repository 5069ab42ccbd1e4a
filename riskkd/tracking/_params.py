"""What a distilled model is made of, as MLflow params: settings, teacher, student, versions."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from typing import Any

import numpy as np
import pandas as pd

# Old tracking servers cap param values at 500 characters.
_MAX_VALUE = 500
_SETTINGS = (
    "calibration",
    "temperature",
    "alpha",
    "loss",
    "cv",
    "min_frequency",
    "max_categories",
    "augment",
    "augment_factor",
    "teacher_weights",
    "monotone_constraints",
    "random_state",
)
_LIBRARIES = {
    "riskkd": "riskkd",
    "sklearn": "scikit-learn",
    "lightgbm": "lightgbm",
    "xgboost": "xgboost",
    "numpy": "numpy",
    "pandas": "pandas",
    "mlflow": "mlflow",
    "torch": "torch",
}


def _text(value: Any) -> str:
    text = str(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."


def _qualname(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def teacher_object(model: Any) -> Any:
    """The fitted teacher under riskkd's wrappers (an estimator or a raw Booster), or None.

    A list of teachers gives their :class:`~riskkd.teachers.TeacherEnsemble`.
    """
    from ..teachers import TeacherEnsemble

    teacher = getattr(model, "teacher_", None)
    if teacher is None or isinstance(teacher, TeacherEnsemble):
        return teacher
    return teacher_object_of(teacher)


def teacher_object_of(teacher: Any) -> Any:
    """The estimator or raw Booster under one fitted teacher's wrappers."""
    from ..teachers import BoosterClassifier

    estimator = teacher.fitted_estimator
    if isinstance(estimator, BoosterClassifier):
        return estimator.booster
    return estimator


def _teacher_params(teacher: Any) -> dict[str, Any]:
    from ..teachers import TeacherEnsemble

    if isinstance(teacher, TeacherEnsemble):
        return {
            "members": [_qualname(teacher_object_of(m)) for m in teacher.members],
            "weights": [round(float(w), 4) for w in teacher.weights],
        }
    if hasattr(teacher, "get_params"):
        return teacher.get_params(deep=False)
    library = type(teacher).__module__.split(".")[0]
    if library == "lightgbm":
        return {**teacher.params, "num_trees": teacher.num_trees()}
    if library == "xgboost":
        return {"num_boosted_rounds": teacher.num_boosted_rounds()}
    return {}


def library_versions() -> dict[str, str]:
    """Installed versions of riskkd and the libraries a model depends on.

    torch is looked up in the package metadata, never imported.
    """
    versions = {}
    for key, distribution in _LIBRARIES.items():
        if key == "torch" and importlib.util.find_spec("torch") is None:
            continue
        try:
            versions[f"{key}_version"] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def model_params(model: Any) -> dict[str, str]:
    """MLflow params describing a fitted :class:`~riskkd.DistilledClassifier`.

    Parameters
    ----------
    model : DistilledClassifier
        A fitted model.

    Returns
    -------
    params : dict of str to str
        The distillation settings (``calibration``, ``temperature``, ``alpha``, ``loss``,
        ``cv``, ``min_frequency``, ``random_state``), what they resolved to
        (``calibration_method``, ``alpha_used``, ``n_synthetic``, ``n_unlabeled``, and
        ``teacher.n_trees_used``: the trees of a LightGBMTeacher's refit, early-stopped),
        ``teacher_class`` and ``teacher.<param>``, ``student_class`` and
        ``student.<param>``, ``n_features``, ``n_classes``, ``classes`` and
        ``<library>_version`` for riskkd, scikit-learn, LightGBM, XGBoost, numpy, pandas,
        MLflow and torch (when installed).
    """
    params: dict[str, Any] = {name: getattr(model, name) for name in _SETTINGS}
    if isinstance(params["cv"], list):  # given folds (a pipeline's group split)
        params["cv"] = f"{len(params['cv'])} given folds"
    params["calibration_method"] = getattr(model.calibrator_, "method", None)
    # What the settings resolved to: "auto" and an early-stopping bound say too little.
    params["alpha_used"] = model._alpha_for(model.student_)
    params["n_synthetic"] = getattr(model, "n_synthetic_", 0)
    params["n_unlabeled"] = getattr(model, "n_unlabeled_", 0)
    teacher = teacher_object(model)
    if teacher is not None:
        params["teacher_class"] = _qualname(teacher)
        params.update({f"teacher.{k}": v for k, v in _teacher_params(teacher).items()})
        if getattr(teacher, "n_trees_", None) is not None:
            params["teacher.n_trees_used"] = teacher.n_trees_
    params["student_class"] = _qualname(model.student_)
    params.update({f"student.{k}": v for k, v in model.student_.get_params(deep=False).items()})
    params["n_features"] = model.n_features_in_
    params["n_classes"] = len(model.classes_)
    params["classes"] = [c.item() if isinstance(c, np.generic) else c for c in model.classes_]
    params.update(library_versions())
    return {key: _text(value) for key, value in params.items()}


def hash_training_data(X: Any) -> str:
    """SHA-256 of a table's column names, dtypes and row hashes.

    Rows are hashed with :func:`pandas.util.hash_pandas_object` (index excluded), so the
    digest identifies the data whatever its index, and changes with any value, column name,
    dtype or row order. pandas hashes an ``object`` column's values as text: there ``1``
    and ``"1"`` hash alike.

    Parameters
    ----------
    X : {array-like, DataFrame} of shape (n_samples, n_features)

    Returns
    -------
    digest : str
        64 hexadecimal characters.

    Examples
    --------
    >>> import pandas as pd
    >>> from riskkd.tracking import hash_training_data
    >>> a = hash_training_data(pd.DataFrame({"x": [1.0, 2.0]}))
    >>> a == hash_training_data(pd.DataFrame({"x": [1.0, 2.0]}, index=[5, 6]))
    True
    >>> a == hash_training_data(pd.DataFrame({"x": [2.0, 1.0]}))
    False
    """
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    digest = hashlib.sha256()
    for name, dtype in frame.dtypes.items():
        digest.update(f"{name!s}\x1f{dtype!s}\x1e".encode())
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
    digest.update(np.ascontiguousarray(rows).tobytes())
    return digest.hexdigest()
