"""The ``riskkd`` MLflow model flavor, with a pickle-free ``python_function`` flavor.

Layout of a saved MLflow model::

    MLmodel                     flavors "riskkd" and "python_function"
    data/riskkd/model/          the model as written by :func:`riskkd.save`
    data/riskkd/pyfunc.json     settings of the pyfunc output (``include_decision``)
    code/riskkd/                the riskkd source, so that a process without riskkd
                                installed can load the model
    requirements.txt, python_env.yaml, conda.yaml
                                riskkd's inference dependencies (no torch)

The pyfunc flavor is loaded through ``loader_module="riskkd.tracking._flavor"`` (its
:func:`_load_pyfunc`), which reads the folder with :func:`riskkd.load`: nothing is
pickled or unpickled.

**pyfunc output.** ``predict`` returns a DataFrame of calibrated class probabilities, one
column per class named ``proba_<class>`` (``str`` of the label: ``proba_0``,
``proba_1``, ``proba_A`` ...), in the order of ``classes_``, with the input's index. With
``include_decision=True`` a last column ``decision`` holds the predicted class
(``model.predict``).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import Model, ModelInputExample, ModelSignature, infer_signature
from mlflow.models.model import ModelInfo
from mlflow.types import ColSpec, Schema
from mlflow.types.schema import AnyType
from sklearn.utils.validation import check_is_fitted

from ..outputs import output_columns
from ._runs import active_or_new_run

FLAVOR_NAME = "riskkd"
TEACHER_URI_TAG = "riskkd.teacher_model_uri"
TEACHER_RUN_TAG = "riskkd.teacher_run_id"
_DATA = "riskkd"
_MODEL = "model"
_PYFUNC_CONFIG = "pyfunc.json"
_INFERENCE_DEPENDENCIES = ("numpy", "pandas", "scipy", "scikit-learn", "lightgbm", "xgboost")
# Not needed to score: bytecode caches and the bundled datasets.
_CODE_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.csv.gz")
_EXAMPLE_ROWS = 5


def get_default_pip_requirements() -> list[str]:
    """riskkd's inference dependencies, pinned to the installed versions (no torch).

    Returns
    -------
    requirements : list of str
    """
    requirements = []
    for name in _INFERENCE_DEPENDENCIES:
        try:
            requirements.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            requirements.append(name)
    return requirements


def _frame(model: Any, X: Any) -> pd.DataFrame:
    """``X`` as a DataFrame with the model's column names (arrays get ``x0``, ``x1`` ...)."""
    if isinstance(X, pd.DataFrame):
        return X
    array = np.asarray(X)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    return pd.DataFrame(array, columns=model.input_schema_.names)


def input_example_of(model: Any, X: Any, n_rows: int = _EXAMPLE_ROWS) -> pd.DataFrame:
    """The first ``n_rows`` rows of ``X`` as a DataFrame, to serve as input example.

    Categorical columns are given as their values (e.g. strings), the form they take in a
    CSV file or a JSON request, and in the JSON file MLflow stores the example in.
    """
    example = _frame(model, X).iloc[:n_rows].reset_index(drop=True)

    def values(column: pd.Series) -> pd.Series:
        if not isinstance(column.dtype, pd.CategoricalDtype):
            return column
        # Integer levels with a missing value: objects (an int64 column cannot hold NaN).
        return column.astype(object if column.isna().any() else column.cat.categories.dtype)

    return example.apply(values)


def predict_frame(model: Any, X: Any, include_decision: bool = False) -> pd.DataFrame:
    """The pyfunc output of ``model`` on ``X`` (see the module docstring)."""
    index = X.index if isinstance(X, pd.DataFrame) else None
    if isinstance(X, pd.DataFrame) and not model.input_schema_.from_frame:
        # A model fitted on an array has the columns x0, x1, ...: a request naming exactly
        # those (a JSON client may sort them: x0, x1, x10, x2) is read by name, an array
        # made a frame (columns 0, 1, ...) by position; other names by position, with the
        # model's warning that they are.
        names = model.input_schema_.names
        if sorted(map(str, X.columns)) == sorted(names):
            X = X.set_axis(list(map(str, X.columns)), axis=1)[names].to_numpy()
        elif list(X.columns) == list(range(X.shape[1])):
            X = X.to_numpy()
    proba = model.predict_proba(X)
    out = pd.DataFrame(proba, columns=output_columns(model.classes_), index=index)
    if include_decision:
        out["decision"] = model.classes_[np.argmax(proba, axis=1)]
    return out


def infer_model_signature(
    model: Any, input_example: Any, include_decision: bool = False
) -> ModelSignature:
    """Signature inferred from an input example and the model's output on it.

    The inputs are the model's columns in training order (other columns of the example,
    such as an id, are left out), every one required, each of type ``any``.
    MLflow's column types would refuse rows riskkd scores and validates itself: a missing
    value in a column that was integer in training (read as float), whole numbers
    (``int64``) in a float column, a ``category`` column, a batch where a text column is all
    missing. A value of the wrong kind (text in a numeric column) is refused by the model,
    with a message naming the column and the fix.

    Parameters
    ----------
    model : DistilledClassifier
    input_example : {array-like, DataFrame} of shape (n_samples, n_features)
    include_decision : bool, default=False

    Returns
    -------
    signature : mlflow.models.ModelSignature
    """
    example = _frame(model, input_example)
    # The example's own column labels (e.g. integers), under which pyfunc matches input columns.
    labels = {str(c): c for c in example.columns}
    inputs = Schema(
        [ColSpec(AnyType(), labels.get(n, n), required=True) for n in model.input_schema_.names]
    )
    if not model.input_schema_.from_frame:
        # Fitted on an array: no column names to enforce. MLflow would turn an array into
        # a frame with columns 0, 1, ... and refuse it for lacking x0, x1, ...
        inputs = None
    with warnings.catch_warnings():
        # MLflow's hint that integer columns cannot hold missing values concerns inputs; an
        # integer ``decision`` output never has any.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        outputs = infer_signature(predict_frame(model, example, include_decision)).inputs
    return ModelSignature(inputs=inputs, outputs=outputs)


class RiskkdPyfuncModel:
    """What ``mlflow.pyfunc.load_model`` wraps: a loaded model scoring DataFrames.

    Parameters
    ----------
    model : DistilledClassifier
    include_decision : bool
    """

    def __init__(self, model: Any, include_decision: bool = False):
        self.model = model
        self.include_decision = include_decision

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Calibrated class probabilities (and ``decision``) as a DataFrame."""
        if isinstance(model_input, dict):
            model_input = pd.DataFrame(model_input)
        return predict_frame(self.model, model_input, self.include_decision)

    def get_raw_model(self) -> Any:
        """The :class:`~riskkd.DistilledClassifier`."""
        return self.model


def _load_pyfunc(path: str, model_config: Any = None) -> RiskkdPyfuncModel:
    """Entry point of ``mlflow.pyfunc.load_model`` (``loader_module`` protocol)."""
    from ..persistence import load

    path = Path(path)
    config = json.loads((path / _PYFUNC_CONFIG).read_text())
    return RiskkdPyfuncModel(load(path / _MODEL), include_decision=config["include_decision"])


def _copy_riskkd_source(target: Path) -> Path:
    package = Path(__file__).resolve().parents[1]
    return Path(shutil.copytree(package, target / package.name, ignore=_CODE_IGNORE))


def save_model(
    model: Any,
    path: str | os.PathLike,
    *,
    input_example: ModelInputExample | None = None,
    signature: ModelSignature | None = None,
    include_decision: bool = False,
    student_only: bool = False,
    extra_pip_requirements: list[str] | None = None,
    mlflow_model: Model | None = None,
) -> None:
    """Save a fitted model as an MLflow model with the ``riskkd`` and pyfunc flavors.

    Parameters
    ----------
    model : DistilledClassifier
        A fitted model.
    path : str or path-like
        Target folder; must not exist or be empty.
    input_example : DataFrame or array-like, default=None
        A few rows of ``X``. Stored with the model and, when ``signature`` is None, used to
        infer the signature (:func:`infer_model_signature`).
    signature : mlflow.models.ModelSignature, default=None
    include_decision : bool, default=False
        Add a ``decision`` column (the predicted class) to the pyfunc output.
    student_only : bool, default=False
        Save the deployment folder without the teacher (:func:`riskkd.save`).
    extra_pip_requirements : list of str, default=None
        Requirements added to riskkd's inference dependencies.
    mlflow_model : mlflow.models.Model, default=None
        The model configuration to add the flavors to (used by ``Model.log``).

    Examples
    --------
    >>> import mlflow
    >>> from riskkd.tracking import save_model
    >>> save_model(model, "credit_model", input_example=X.head())  # doctest: +SKIP
    >>> mlflow.pyfunc.load_model("credit_model").predict(X.head())  # doctest: +SKIP
    """
    from .. import __version__
    from ..persistence import save

    check_is_fitted(model)
    if input_example is not None:
        input_example = input_example_of(model, input_example, n_rows=len(input_example))
        if signature is None:
            signature = infer_model_signature(model, input_example, include_decision)
    mlflow_model = Model() if mlflow_model is None else mlflow_model
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / _DATA
        data.mkdir()
        save(model, data / _MODEL, student_only=student_only)
        (data / _PYFUNC_CONFIG).write_text(json.dumps({"include_decision": include_decision}))
        code = _copy_riskkd_source(Path(tmp) / "code")
        mlflow_model.add_flavor(
            FLAVOR_NAME,
            data=f"data/{_DATA}/{_MODEL}",
            riskkd_version=__version__,
            include_decision=include_decision,
            output_columns=output_columns(model.classes_)
            + (["decision"] if include_decision else []),
        )
        mlflow.pyfunc.save_model(
            str(path),
            loader_module=__name__,
            data_path=str(data),
            code_paths=[str(code)],
            mlflow_model=mlflow_model,
            signature=signature,
            input_example=input_example,
            pip_requirements=get_default_pip_requirements() + list(extra_pip_requirements or []),
        )


def log_teacher(model: Any) -> ModelInfo | None:
    """Log the teacher in its native MLflow flavor as ``teacher`` in the active run.

    LightGBM and XGBoost boosters are logged with ``mlflow.lightgbm`` / ``mlflow.xgboost``
    (native model files, no pickle); the booster reads the teacher's own input frame
    (:meth:`riskkd.teachers.FittedTeacher.prepare`). The run gets the tag
    ``riskkd.teacher_model_uri``. Other teachers have no pickle-free format: a warning is
    issued and nothing is logged.

    Returns
    -------
    model_info : mlflow.models.model.ModelInfo or None
    """
    teacher = getattr(model, "teacher_", None)
    booster = None if teacher is None else teacher.native_model
    library = type(booster).__module__.split(".")[0]
    if type(booster).__name__ != "Booster" or library not in {"lightgbm", "xgboost"}:
        warnings.warn(
            f"The teacher ({type(booster).__name__}) is neither a LightGBM nor an XGBoost "
            "Booster, so it has no pickle-free MLflow flavor; it is not logged.",
            UserWarning,
            stacklevel=3,
        )
        return None
    flavor = mlflow.lightgbm if library == "lightgbm" else mlflow.xgboost
    # Explicit requirements: inferring them would load the model in a subprocess.
    requirements = flavor.get_default_pip_requirements() + [
        r for r in get_default_pip_requirements() if r.startswith(("numpy", "pandas", "scipy"))
    ]
    info = flavor.log_model(booster, name="teacher", pip_requirements=requirements)
    mlflow.set_tags({TEACHER_URI_TAG: info.model_uri, TEACHER_RUN_TAG: info.run_id})
    return info


def log_model(
    model: Any,
    name: str,
    *,
    registered_model_name: str | None = None,
    input_example: ModelInputExample | None = None,
    include_decision: bool = False,
    log_teacher_model: bool = True,
    student_only: bool = False,
    **kwargs: Any,
) -> ModelInfo:
    """Log a fitted model (flavors ``riskkd`` and pyfunc) and its teacher to MLflow.

    Logs into the active run, or a new one. The teacher is logged first in its native
    flavor (:func:`log_teacher`) and linked by the tag ``riskkd.teacher_model_uri`` on the
    run, the logged model and the registered version.

    Parameters
    ----------
    model : DistilledClassifier
        A fitted model.
    name : str
        Name of the logged model.
    registered_model_name : str, default=None
        Register the model under this name. The version is tagged with the teacher's run
        and model URI, the training-data hash and the fidelity figures already logged in
        the run (see :func:`riskkd.tracking.promote`).
    input_example : DataFrame or array-like, default=None
        A few rows of ``X``; the signature is inferred from them and the output.
    include_decision : bool, default=False
        Add a ``decision`` column to the pyfunc output.
    log_teacher_model : bool, default=True
        Log the teacher too. With False the model and version carry no teacher link (the
        run's teacher tags may be another model's); pass ``riskkd.teacher_model_uri`` in
        ``tags`` when the run's teacher is this model's.
    student_only : bool, default=False
        Leave the teacher out of this model's folder (:func:`riskkd.save`): the logged and
        registered model is then only what scoring needs, and the teacher stays reachable
        through the ``riskkd.teacher_model_uri`` tag (with ``log_teacher_model=True``).
    **kwargs
        Passed to :meth:`mlflow.models.Model.log` (e.g. ``tags``, ``metadata``,
        ``signature``, ``await_registration_for``).

    Returns
    -------
    model_info : mlflow.models.model.ModelInfo
        ``model_uri`` is ``models:/<model id>``; ``registered_model_version`` is set when
        registered.

    Examples
    --------
    >>> from riskkd.tracking import log_model
    >>> info = log_model(model, "model", input_example=X.head())  # doctest: +SKIP
    >>> mlflow.pyfunc.load_model(info.model_uri).predict(X.head())  # doctest: +SKIP
    """
    from ._registry import version_tags

    check_is_fitted(model)
    with active_or_new_run() as run:
        if log_teacher_model:
            log_teacher(model)
        tags = version_tags(run.info.run_id)
        if not log_teacher_model:  # the run's teacher tags are another model's
            tags = {k: v for k, v in tags.items() if k not in (TEACHER_URI_TAG, TEACHER_RUN_TAG)}
        tags.update(kwargs.pop("tags", None) or {})
        return Model.log(
            artifact_path=None,
            name=name,
            flavor=sys.modules[__name__],
            flavor_name=FLAVOR_NAME,
            registered_model_name=registered_model_name,
            model=model,
            input_example=input_example,
            include_decision=include_decision,
            student_only=student_only,
            tags=tags,
            **kwargs,
        )


def load_model(model_uri: str, dst_path: str | None = None) -> Any:
    """Load a model logged with the ``riskkd`` flavor as a :class:`~riskkd.DistilledClassifier`.

    Parameters
    ----------
    model_uri : str
        Any MLflow model URI: ``models:/<name>@<alias>``, ``models:/<name>/<version>``,
        ``models:/<model id>``, ``runs:/<run id>/<path>`` or a local folder.
    dst_path : str, default=None
        Where to download the artifacts (a temporary folder by default).

    Returns
    -------
    model : DistilledClassifier
        Predictions equal those of the logged model bit for bit.
    """
    from ..persistence import load

    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=dst_path))
    flavors = Model.load(str(local / "MLmodel")).flavors
    if FLAVOR_NAME not in flavors:
        raise ValueError(
            f"The MLflow model at {model_uri!r} has no {FLAVOR_NAME!r} flavor (it has "
            f"{sorted(flavors)}); it was not logged with riskkd.tracking.log_model. Load it "
            "with mlflow.pyfunc.load_model or its own flavor instead."
        )
    return load(local / flavors[FLAVOR_NAME]["data"])
