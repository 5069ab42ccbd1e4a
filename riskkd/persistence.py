"""Safe persistence: a folder of JSON, ``.npz`` arrays and the teacher in its native format.

Layout of a saved model::

    manifest.json      format version, riskkd version, classes, input schema, settings,
                       calibration, the SHA-256 of every other file and of its own content
    preprocessing.npz  the student's preprocessing arrays
    student.npz        the student's weights
    teacher.txt        LightGBM teacher (text model), or
    teacher.ubj        XGBoost teacher (UBJSON); a list of teachers (``TeacherEnsemble``)
                       is saved as teacher_0.txt, teacher_1.ubj, ... with its weights

Nothing is unpickled on load (``numpy.load(allow_pickle=False)``, JSON, native booster
loaders). A missing or altered file is refused. Teachers that have no native format (e.g.
HistGradientBoosting) are not saved; the loaded model's ``teacher_`` is then ``None``, as
after ``save(model, path, student_only=True)``, the deployment folder without a teacher.
A transfer object given as ``augment`` is saved by class name and parameters and rebuilt
only if it is one of riskkd's (:mod:`riskkd.transfer`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import tempfile
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

FORMAT = "riskkd-model"
# Version 2 adds manifest_sha256, the digest of the manifest itself; version 1 still loads.
FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)
_SETTINGS = (
    "calibration",
    "temperature",
    "alpha",
    "loss",
    "min_frequency",
    "max_categories",
    "augment",
    "augment_factor",
    "teacher_weights",
    "monotone_constraints",
)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _json_scalar(value: Any) -> Any:
    """``value`` with numpy scalars and arrays, also inside dicts and lists, as Python's."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _json_scalar(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_scalar(v) for v in value]
    return value


def _student_param(name: str, value: Any) -> Any:
    """A student parameter as JSON; a ``random_state`` generator is kept as None (the
    fitted weights are saved; the generator only matters when refitting)."""
    value = _json_scalar(value)
    if name == "random_state" and not isinstance(value, int | None):
        return None
    return value


def _manifest_digest(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest's content (all keys but ``manifest_sha256``), as canonical JSON.

    Taken after a JSON round trip, so that what :func:`save` hashes (tuples, integer keys)
    is what :func:`load` reads back (lists, text keys).
    """
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    body = json.loads(json.dumps(body, allow_nan=True))
    return hashlib.sha256(json.dumps(body, sort_keys=True, allow_nan=True).encode()).hexdigest()


def _data_files(manifest: dict[str, Any]) -> set[str]:
    """The files :func:`load` reads besides the manifest."""
    teacher = manifest.get("teacher")
    members = [] if teacher is None else teacher.get("ensemble", {}).get("members", [teacher])
    return {"student.npz", "preprocessing.npz", *(member["file"] for member in members)}


def _setting(model: Any, name: str) -> Any:
    """A constructor parameter of the model as JSON."""
    value = getattr(model, name)
    if name == "augment" and value is not None and not isinstance(value, str):
        return {"transfer": type(value).__name__, "params": value.get_params()}
    if name == "teacher_weights" and value is not None and not isinstance(value, str):
        return [float(w) for w in value]
    return _json_scalar(value)


def _restore_setting(name: str, value: Any) -> Any:
    if name == "augment" and value == "auto":  # saved before augment=None was the default
        warnings.warn(
            "The model was saved with augment='auto' (MUNGE rows for an MLP fitted on fewer "
            "than 20,000 rows), which riskkd no longer offers; the loaded model has "
            "augment=None (it only matters when refitting). Set augment='munge' to refit it "
            "with synthetic rows.",
            UserWarning,
            stacklevel=3,
        )
        return None
    if name == "augment" and isinstance(value, dict):
        from . import transfer

        known = {cls.__name__: cls for cls in (transfer.MUNGE, transfer.GaussianNoise)}
        if value["transfer"] not in known:
            warnings.warn(
                f"augment was a {value['transfer']} object, which riskkd cannot rebuild; the "
                "loaded model has augment=None (it only matters when refitting).",
                UserWarning,
                stacklevel=3,
            )
            return None
        return known[value["transfer"]](**value["params"])
    return value


def check_distilled(model: Any, caller: str) -> None:
    """Raise unless ``model`` is a fitted :class:`~riskkd.DistilledClassifier`."""
    if hasattr(model, "final_") and not hasattr(model, "input_schema_"):
        raise TypeError(
            f"{caller} takes a DistilledClassifier; a MultiStageDistiller's deployable model is "
            f"its last stage: {caller}(model.final_, ...)."
        )
    if isinstance(model, Pipeline):
        raise TypeError(
            f"{caller} takes a DistilledClassifier, not a {type(model).__name__}. Pass the "
            f"pipeline's last step, {caller}(pipe[-1], ...), and feed it pipe[:-1].transform(X): "
            "it reads the columns the steps before it output."
        )
    check_is_fitted(model)


def _members(model: Any) -> list[Any]:
    """The fitted teachers of the model: one, several (an ensemble) or none."""
    teacher = getattr(model, "teacher_", None)
    if teacher is None:
        return []
    return list(getattr(teacher, "members", [teacher]))


def _native(teacher: Any) -> tuple[str | None, Any]:
    """(library, booster) of one fitted teacher, or (None, None) without a native format."""
    booster = teacher.native_model
    library = type(booster).__module__.split(".")[0]
    if type(booster).__name__ == "Booster" and library in {"lightgbm", "xgboost"}:
        return library, booster
    return None, None


def _write_teacher(model: Any, folder: Path) -> dict[str, Any] | None:
    """Write the teacher(s) natively; the manifest entry, or None when one has no native format."""
    members = _members(model)
    natives = [_native(member) for member in members]
    if not members or any(library is None for library, _ in natives):
        if members:
            names = ", ".join(type(m.native_model).__name__ for m in members)
            warnings.warn(
                f"The teacher ({names}) has no native, pickle-free format; it is not saved and "
                "the loaded model has teacher_=None.",
                UserWarning,
                stacklevel=3,
            )
        return None
    entries = []
    for k, (member, (library, booster)) in enumerate(zip(members, natives)):
        stem = "teacher" if len(members) == 1 else f"teacher_{k}"
        file = f"{stem}.txt" if library == "lightgbm" else f"{stem}.ubj"
        booster.save_model(str(folder / file))
        weights = member.class_weights
        entries.append(
            {
                "library": library,
                "file": file,
                "native_input": bool(member.native),
                "class_weights": None if weights is None else [float(w) for w in weights],
            }
        )
    if not hasattr(model.teacher_, "members"):
        return entries[0]
    return {"ensemble": {"weights": [float(w) for w in model.teacher_.weights], "members": entries}}


def _read_teacher(entry: dict[str, Any], path: Path, schema: Any, n_classes: int) -> Any:
    from .teachers import BoosterClassifier, FittedTeacher, TeacherEnsemble

    if "ensemble" in entry:
        members = [
            _read_teacher(member, path, schema, n_classes)
            for member in entry["ensemble"]["members"]
        ]
        return TeacherEnsemble(members, np.asarray(entry["ensemble"]["weights"]))
    file = str(path / entry["file"])
    if entry["library"] == "lightgbm":
        import lightgbm as lgb

        booster = lgb.Booster(model_file=file)
    else:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(file)
    weights = entry["class_weights"]
    return FittedTeacher(
        BoosterClassifier(booster, n_classes),
        schema,
        native=entry["native_input"],
        class_weights=None if weights is None else np.asarray(weights),
    )


def _write_student(model: Any, folder: Path, student_only: bool = False) -> dict[str, Any]:
    """Write the student's arrays; return the manifest entries describing it.

    ``student_only`` keeps only the categorical levels the student tells apart (see
    :func:`save`).
    """
    schema, preprocessor = model.input_schema_, model.preprocessor_
    if student_only:
        preprocessor, kept = preprocessor.pruned()
        schema = schema.with_levels(dict(zip(schema.categorical_names, kept)))
    student_settings, student_arrays = model.student_.get_state()
    np.savez_compressed(folder / "student.npz", **student_arrays)
    np.savez_compressed(folder / "preprocessing.npz", **preprocessor.get_state())
    classes = model.classes_
    return {
        "classes": [_json_scalar(c) for c in classes],
        "classes_dtype": classes.dtype.str if classes.dtype.kind in "biufU" else "object",
        "input_schema": schema.to_dict(),
        "settings": {name: _setting(model, name) for name in _SETTINGS},
        "teacher_weights": [float(w) for w in model.teacher_weights_],
        "monotone_constraints": {k: int(v) for k, v in model.monotone_constraints_.items()},
        # cv and random_state are kept when they are plain values (not splitters/generators).
        "seeding": {
            name: value
            for name in ("cv", "random_state")
            if isinstance(value := _json_scalar(getattr(model, name)), int | None)
        },
        "calibration": {"method": model.calibrator_.method, "state": model.calibrator_.get_state()},
        "student": {
            "class": type(model.student_).__name__,
            "params": {k: _student_param(k, v) for k, v in model.student_.get_params().items()},
            "settings": student_settings,
        },
        "history": model.history_,
    }


def save(model: Any, path: str | os.PathLike, *, student_only: bool = False) -> Path:
    """Save a fitted :class:`~riskkd.DistilledClassifier` to the folder ``path``.

    The folder is written under a temporary name and renamed when complete, so an
    interrupted save never leaves a half-written model behind.

    Parameters
    ----------
    model : DistilledClassifier
        A fitted model.
    path : str or path-like
        Target folder; must not exist yet.
    student_only : bool, default=False
        Save what scoring needs and nothing more, for deployment: no teacher (the loaded
        model has ``teacher_=None``), and of each categorical column only the levels the
        student tells apart (those it does not score as "unknown"). Predictions
        are the same bit for bit; the other levels, scored as "unknown" either way, are
        then unseen to the loaded model's schema (e.g. in batch scoring's count of unseen
        levels). On an identifier-like column of thousands of levels this is most of the
        folder's size. The training history is left out too (the loaded model's
        ``history_`` is empty). Keep the full folder (or the MLflow run) for fidelity
        reports.

    Returns
    -------
    path : Path
    """
    from . import __version__

    check_distilled(model, "riskkd.save")
    path = Path(path)
    if path.exists():
        raise FileExistsError(
            f"{path} already exists; riskkd.save writes a new folder. Remove it or pick another path."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    # A plain mkdir (not tempfile's private 0700): the folder and its files get the
    # permissions of any the process writes, so that a scoring service's account can read them.
    staging = path.parent / f".{path.name}.{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "riskkd_version": __version__,
        }
        manifest.update(_write_student(model, staging, student_only))
        if student_only:  # scoring does not read the training history
            del manifest["history"]
        manifest["teacher"] = None if student_only else _write_teacher(model, staging)
        manifest["files"] = {p.name: _sha256(p) for p in sorted(staging.iterdir())}
        manifest["manifest_sha256"] = _manifest_digest(manifest)
        text = json.dumps(manifest, separators=(",", ":"), allow_nan=True)
        (staging / "manifest.json").write_text(text)
        staging.rename(path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def load(path: str | os.PathLike) -> Any:
    """Load a model saved by :func:`save`, checking the SHA-256 of every file and of the manifest.

    Parameters
    ----------
    path : str or path-like
        Folder written by :func:`save`.

    Returns
    -------
    model : DistilledClassifier
        Predictions equal those of the saved model bit for bit. ``soft_targets_`` is not
        saved.
    """
    from .calibration import make_calibrator
    from .distill import DistilledClassifier
    from .inputs import InputSchema
    from .preprocessing import StudentPreprocessor
    from .students import STUDENTS

    path = Path(path)
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{path} is not a saved riskkd model: manifest.json is missing.")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{manifest_path} cannot be read as JSON ({error}): the file is damaged or was "
            "edited. Re-save the model."
        ) from None
    if not isinstance(manifest, dict):
        raise ValueError(f"{manifest_path} holds no manifest (a JSON object). Re-save the model.")
    version = manifest.get("format_version")
    if manifest.get("format") != FORMAT or version not in _READABLE_VERSIONS:
        raise ValueError(
            f"{path} holds format {manifest.get('format')!r} version {manifest.get('format_version')!r}; "
            f"this riskkd reads {FORMAT!r} versions {_READABLE_VERSIONS}. Upgrade riskkd or re-save the model."
        )
    if version >= 2 and manifest.get("manifest_sha256") != _manifest_digest(manifest):
        raise ValueError(
            f"{path}/manifest.json was altered (its SHA-256 does not match manifest_sha256); "
            "refusing to load it. Re-save the model."
        )
    unlisted = sorted(_data_files(manifest) - set(manifest["files"]))
    if unlisted:
        raise ValueError(
            f"{path}/manifest.json lists no SHA-256 for {unlisted}; refusing to load files it "
            "cannot check. Re-save the model."
        )
    for name, digest in manifest["files"].items():
        file = path / name
        if not file.is_file():
            raise ValueError(f"{path} is incomplete: {name} is missing. Re-save the model.")
        if _sha256(file) != digest:
            raise ValueError(
                f"{path}/{name} was altered (SHA-256 mismatch); refusing to load it. Re-save the model."
            )

    def arrays(name: str) -> dict[str, np.ndarray]:
        with np.load(path / name, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    settings = {name: _restore_setting(name, value) for name, value in manifest["settings"].items()}
    # The teacher parameter is None after loading (teacher_ is the fitted one): so are its
    # weights, which a refit would refuse without a list of teachers (teacher_weights_ stays).
    settings["teacher_weights"] = None
    student_info = manifest["student"]
    student_class = {cls.__name__: cls for cls in STUDENTS.values()}[student_info["class"]]
    params = student_info["params"]
    if isinstance(params.get("hidden_layer_sizes"), list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    student = student_class(**params).set_state(student_info["settings"], arrays("student.npz"))

    model = DistilledClassifier(student=student_class(**params), **settings, **manifest["seeding"])
    dtype = manifest["classes_dtype"]
    model.classes_ = np.asarray(
        manifest["classes"], dtype=None if dtype == "object" else np.dtype(dtype)
    )
    if dtype == "object":
        model.classes_ = model.classes_.astype(object)
    schema = InputSchema.from_dict(manifest["input_schema"])
    model.input_schema_ = schema
    model.n_features_in_ = schema.n_features
    if schema.from_frame:
        model.feature_names_in_ = np.asarray(schema.names, dtype=object)
    n_classes = len(model.classes_)
    calibration = manifest["calibration"]
    model.calibrator_ = make_calibrator(calibration["method"], n_classes).set_state(
        calibration["state"]
    )
    model.preprocessor_ = StudentPreprocessor.from_state(
        arrays("preprocessing.npz"),
        min_frequency=settings["min_frequency"],
        max_categories=settings["max_categories"],
    )
    model.student_ = student
    model.history_ = manifest.get("history", [])  # none in a student-only folder
    model.teacher_weights_ = np.asarray(manifest["teacher_weights"])
    model.monotone_constraints_ = manifest["monotone_constraints"]
    model.monotone_ = model._monotone_inputs(model.monotone_constraints_, schema)
    teacher = manifest["teacher"]
    model.teacher_ = None if teacher is None else _read_teacher(teacher, path, schema, n_classes)
    return model


def student_size_bytes(model: Any) -> int:
    """Bytes on disk of everything needed to score with the student: the folder
    ``save(model, path, student_only=True)`` writes."""
    with tempfile.TemporaryDirectory() as folder:
        path = save(model, Path(folder) / "student", student_only=True)
        return sum(p.stat().st_size for p in path.iterdir())


def teacher_size_bytes(model: Any) -> int:
    """Bytes of the teacher(s) in native format (pickle size of those without one)."""
    size = 0
    for member in _members(model):
        library, booster = _native(member)
        if library == "lightgbm":
            size += len(booster.model_to_string().encode())
        elif library == "xgboost":
            size += len(booster.save_raw("ubj"))
        else:
            buffer = io.BytesIO()
            pickle.dump(member.native_model, buffer)
            size += buffer.tell()
    return size
