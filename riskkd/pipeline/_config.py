"""Pipeline configuration: pydantic models of a ``pipelines/*.yaml`` file.

Every section refuses unknown keys (with a "did you mean" hint) and every error names the
key path, the value received and the allowed values, e.g.
``split.kind: 'random' is not one of 'time', 'group', 'stratified'``.
"""

from __future__ import annotations

import datetime
import difflib
import os
import re
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..fidelity import DEFAULT_GATES

__all__ = [
    "ConfigError",
    "DataConfig",
    "DistillationConfig",
    "EvaluationConfig",
    "GroupSplit",
    "MLflowConfig",
    "PipelineConfig",
    "ReportConfig",
    "StratifiedSplit",
    "TeacherConfig",
    "TimeSplit",
    "TrainingConfig",
    "apply_overrides",
    "load_config",
]


class ConfigError(ValueError):
    """A pipeline configuration is invalid.

    Attributes
    ----------
    problems : list of str
        One line per problem, each starting with the key path (``split.kind: ...``).
    """

    def __init__(self, message: str, problems: list[str]):
        super().__init__(message)
        self.problems = problems


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    """Where the rows come from: a bundled dataset, or a CSV / parquet file.

    ``dataset`` is a name of :data:`riskkd.datasets.DATASETS`; its target and time column
    are known. ``path`` is a ``.csv``, ``.csv.gz`` or ``.parquet`` file (or a folder of
    parquet files) and needs ``target``. ``drop`` lists columns that are not features (ids,
    leakage). ``n_rows`` keeps a seeded random sample of that many rows (to try a pipeline
    quickly).
    """

    dataset: str | None = None
    path: str | None = None
    target: str | None = None
    drop: list[str] = Field(default_factory=list)
    n_rows: Annotated[int, Field(gt=0)] | None = None

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str | None) -> str | None:
        from ..datasets import DATASETS

        if value is not None and value not in DATASETS:
            raise ValueError(_not_one_of(value, DATASETS))
        return value

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if (self.dataset is None) == (self.path is None):
            raise ValueError(
                "give exactly one of 'dataset' (a bundled dataset name) or 'path' (a CSV or "
                "parquet file)"
            )
        if self.path is not None and self.target is None:
            raise ValueError(f"'target' (the label column) is required with path={self.path!r}")
        return self


class StratifiedSplit(_Section):
    """Random split stratified on the target."""

    kind: Literal["stratified"]
    test_size: Annotated[float, Field(gt=0, lt=1)] = 0.3


class TimeSplit(_Section):
    """Rows with ``column >= cutoff`` are the test set; the column is not a feature."""

    kind: Literal["time"]
    column: str
    cutoff: int | float | str
    # Dates written as text (not ISO): day first (31/12/2020) or month first (12/31/2020).
    # None: the column decides, and one that reads both ways is refused.
    dayfirst: bool | None = None

    @field_validator("cutoff", mode="before")
    @classmethod
    def _date_as_text(cls, value: Any) -> Any:
        # YAML reads an unquoted 2020-07-01 as a date; it means the same as "2020-07-01".
        if isinstance(value, datetime.date):
            return value.isoformat()
        return value


class GroupSplit(_Section):
    """Whole groups (customers, merchants ...) go to one side; the column is not a feature."""

    kind: Literal["group"]
    column: str
    test_size: Annotated[float, Field(gt=0, lt=1)] = 0.3


Split = Annotated[TimeSplit | GroupSplit | StratifiedSplit, Field(discriminator="kind")]


class TeacherConfig(_Section):
    """The gradient-boosted teacher and its early stopping.

    ``params`` go to :class:`riskkd.teachers.LightGBMTeacher` (``lightgbm``),
    :class:`xgboost.XGBClassifier` (``xgboost``) or
    :class:`sklearn.ensemble.HistGradientBoostingClassifier` (``hist_gradient_boosting``).
    Early stopping holds out ``validation_fraction`` of the training rows and stops after
    ``early_stopping_rounds`` rounds without improvement; ``null`` turns it off.
    """

    kind: Literal["lightgbm", "xgboost", "hist_gradient_boosting"] = "lightgbm"
    params: dict[str, Any] = Field(default_factory=dict)
    early_stopping_rounds: Annotated[int, Field(gt=0)] | None = 100
    validation_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.15

    @model_validator(mode="after")
    def _lightgbm_stops_early(self) -> TeacherConfig:
        if self.kind == "lightgbm" and self.early_stopping_rounds is None:
            raise ValueError(
                "early_stopping_rounds: the 'lightgbm' teacher (riskkd.teachers.LightGBMTeacher) "
                "always stops early; give a number of rounds (e.g. 100), or use kind "
                "'xgboost' or 'hist_gradient_boosting' to train without early stopping"
            )
        return self


class TrainingConfig(_Section):
    """Where the distillation is fitted: in this process, or on a Dask cluster.

    ``engine: dask`` runs the pipeline with :class:`riskkd.pipeline.DaskPipelineRunner`:
    the data is read lazily (``n_partitions`` repartitions it), checked and split partition
    by partition, and :func:`riskkd.distributed.fit_distributed` trains the teachers on the
    cluster (``lightgbm.dask`` / ``xgboost.dask``) and the student on at most
    ``max_student_rows`` rows. ``scheduler`` is the address of a running scheduler; without
    it a ``LocalCluster`` of ``n_workers`` single-threaded workers runs for the whole
    pipeline. ``n_jobs`` parallelises the cross-fitting folds of the local engine.
    """

    engine: Literal["local", "dask"] = "local"
    scheduler: str | None = None
    n_workers: Annotated[int, Field(gt=0)] = 2
    n_jobs: int | None = None
    max_student_rows: Annotated[int, Field(gt=0)] | None = None
    n_partitions: Annotated[int, Field(gt=0)] | None = None

    @field_validator("n_jobs")
    @classmethod
    def _some_jobs(cls, value: int | None) -> int | None:
        if value == 0:
            raise ValueError(
                "0 jobs run nothing; give 1, a number of jobs, -1 (every core) or null"
            )
        return value


class DistillationConfig(_Section):
    """Parameters of :class:`riskkd.DistilledClassifier` (see its docstring)."""

    student: str = "mlp"
    calibration: Literal["auto", "sigmoid", "temperature", "isotonic"] | None = "auto"
    temperature: Annotated[float, Field(gt=0)] = 2.0
    alpha: float | str = "auto"
    loss: Literal["kl", "mse_logit"] = "kl"
    cv: Annotated[int, Field(ge=2)] = 5
    min_frequency: Annotated[int, Field(ge=1)] = 5
    max_categories: Annotated[int, Field(ge=1)] = 64
    augment: Literal["munge", "noise"] | None = None
    augment_factor: Annotated[int, Field(ge=1)] = 4
    monotone_constraints: Any = "auto"

    @field_validator("monotone_constraints", mode="before")
    @classmethod
    def _monotone(cls, value: Any) -> Any:
        if value is None or value == "auto":
            return value
        if isinstance(value, dict) and all(
            isinstance(k, str) and v in (-1, 0, 1) and not isinstance(v, bool)
            for k, v in value.items()
        ):
            return value
        raise ValueError(
            f"must be 'auto', null or a mapping of column to +1 / -1 / 0 "
            f"(e.g. {{Seniority: -1}}), got {value!r}"
        )

    @field_validator("student")
    @classmethod
    def _known_student(cls, value: str) -> str:
        from ..students import STUDENTS

        if value not in STUDENTS:
            raise ValueError(_not_one_of(value, STUDENTS))
        return value

    @field_validator("alpha", mode="before")
    @classmethod
    def _alpha(cls, value: Any) -> float | str:
        if value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(f"must be 'auto' or a number in [0, 1], got {value!r}")
        return float(value)


class EvaluationConfig(_Section):
    """Decision threshold of the binary decision agreement (``null``: 0.5).

    A multi-class target compares top classes and takes no threshold (the run refuses one).
    """

    threshold: Annotated[float, Field(gt=0, lt=1)] | None = None


class ReportConfig(_Section):
    """The HTML report, written in the run folder (``null`` path: no report)."""

    path: str | None = "report.html"
    title: str | None = None

    @field_validator("path")
    @classmethod
    def _html_in_run_folder(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if PurePosixPath(value).name != value or not value.lower().endswith(".html"):
            raise ValueError(
                f"{value!r} must be a file name ending in .html (written in the run folder), "
                "e.g. 'report.html', or null for no report"
            )
        return value


class MLflowConfig(_Section):
    """Tracking, registration and gated promotion.

    ``tracking_uri`` defaults to :func:`riskkd.mlflow.default_tracking_uri`
    (``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db`` in the working folder).
    ``gates`` maps a logged metric to ``[">=" or "<=", threshold]``; the default is
    :data:`riskkd.mlflow.DEFAULT_GATES` (``--set mlflow.gates.ece_gap=...`` changes one of
    them and keeps the others); ``{}`` promotes without checks. ``student_only``
    registers the deployment folder without the teacher (``riskkd.save(...,
    student_only=True)``); the teacher is still logged in the run and linked by tag.
    """

    enabled: bool = True
    tracking_uri: str | None = None
    experiment: str | None = None
    registered_model_name: str | None = None
    student_only: bool = False
    alias: str = "champion"
    gates: dict[str, tuple[Literal[">=", "<="], float]] | None = None

    @field_validator("registered_model_name")
    @classmethod
    def _model_name(cls, value: str | None) -> str | None:
        # MLflow's rule, checked here so that a bad name fails before training: no '/' or
        # ':', and not a name that reads as a relative path ('.', '..x').
        if value is not None and (
            not value.strip()
            or "/" in value
            or ":" in value
            or value == "."
            or value.startswith("..")
        ):
            raise ValueError(
                f"{value!r} must be non-empty, without '/' or ':', and neither '.' nor "
                "starting with '..'"
            )
        return value

    @field_validator("alias")
    @classmethod
    def _alias(cls, value: str) -> str:
        # MLflow's rules for aliases: letters, digits, '_' and '-'; 'latest' and 'v<N>'
        # are reserved (they already name versions).
        if not re.fullmatch(r"[\w\-]{1,255}", value) or re.fullmatch(r"(?i)latest|v\d+", value):
            raise ValueError(
                f"{value!r} is not a usable registry alias: use letters, digits, '_' or '-', "
                "other than 'latest' and 'v<number>' (reserved by MLflow), e.g. 'champion'"
            )
        return value

    @field_validator("gates")
    @classmethod
    def _known_metrics(cls, value: dict | None) -> dict | None:
        from ..report._metrics import metric_names

        known = metric_names()
        # Also logged: the student's training history (last epoch) and the step timings.
        patterns = ("student_train_", "student_val_", "seconds_")
        for metric in value or {}:
            if metric not in known and not metric.startswith(patterns):
                raise ValueError(
                    f"{metric!r} is not a metric the pipeline logs.{_did_you_mean(metric, known)} "
                    f"Gate on one of: {', '.join(known)}, or a history or timing metric "
                    f"({', '.join(p + '*' for p in patterns)})"
                )
        return value


class PipelineConfig(_Section):
    """A whole pipeline: one ``pipelines/*.yaml`` file.

    Examples
    --------
    >>> from riskkd.pipeline import PipelineConfig
    >>> config = PipelineConfig.model_validate(
    ...     {"name": "credit", "data": {"dataset": "credit_data_belanche"},
    ...      "split": {"kind": "stratified", "test_size": 0.25}}
    ... )
    >>> config.teacher.kind, config.distillation.cv, config.split.test_size
    ('lightgbm', 5, 0.25)
    """

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    description: str | None = None
    seed: int = 0
    data: DataConfig
    contract: str | None = None
    split: Split = Field(default_factory=lambda: StratifiedSplit(kind="stratified"))
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    distillation: DistillationConfig = Field(default_factory=DistillationConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    mlflow: MLflowConfig = Field(default_factory=MLflowConfig)
    output: str = "artifacts"

    @field_validator("seed", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(
                f"{value} is not a seed (it would read as {int(value)}); give an integer"
            )
        return value

    @model_validator(mode="after")
    def _teacher_params(self) -> PipelineConfig:
        from ._build import check_teacher_values, teacher_param_names

        if self.training.engine == "dask" and self.data.n_rows is not None:
            raise ValueError(
                "data.n_rows: sampling is for trying a pipeline in memory; remove it with "
                "training.engine 'dask' (or use engine 'local')"
            )
        training, defaults = self.training, TrainingConfig()
        given = [
            key
            for key in ("scheduler", "n_workers", "max_student_rows", "n_partitions")
            if getattr(training, key) != getattr(defaults, key)
        ]
        if training.engine == "local" and given:
            raise ValueError(
                f"training.{given[0]}: {getattr(training, given[0])!r} is used by "
                "training.engine 'dask' only, and the engine is 'local'; set "
                "training.engine: dask, or remove it"
            )
        if self.training.engine == "dask" and self.teacher.kind == "hist_gradient_boosting":
            raise ValueError(
                "training.engine: 'dask' trains 'lightgbm' or 'xgboost' teachers, not "
                "'hist_gradient_boosting'; change teacher.kind or use engine 'local'"
            )
        allowed = teacher_param_names(self.teacher.kind)
        for key in self.teacher.params:
            if key not in allowed:
                raise ValueError(
                    f"teacher.params.{key}: not a parameter of the {self.teacher.kind!r} "
                    f"teacher.{_did_you_mean(key, allowed)} Allowed: {', '.join(sorted(allowed))}"
                )
        check_teacher_values(self.teacher.kind, self.teacher.params)
        return self


# ---------------------------------------------------------------------- errors
def _quoted(values: Any) -> str:
    return ", ".join(repr(v) for v in values)


def _did_you_mean(value: str, choices: Any) -> str:
    close = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _not_one_of(value: Any, choices: Any) -> str:
    return f"{value!r} is not one of {_quoted(choices)}.{_did_you_mean(value, choices)}"


_SPLITS = {"time": TimeSplit, "group": GroupSplit, "stratified": StratifiedSplit}


class _SplitTag:
    """Marker: the next location part is the tag of the ``split`` union."""


def _walk(loc: tuple) -> tuple[Any, list[str]]:
    """The config model reached by following ``loc`` (None past a plain value) and the
    dotted key path as the YAML file spells it."""
    model: Any = PipelineConfig
    path: list[str] = []
    for part in loc:
        if model is _SplitTag:
            model = _SPLITS.get(part)
            continue  # the union tag is not a key of the file
        if isinstance(part, int):  # list index
            path[-1] = f"{path[-1]}[{part}]"
            model = None
            continue
        path.append(str(part))
        field = model.model_fields.get(part) if model is not None else None
        if field is None:
            model = None
        elif model is PipelineConfig and part == "split":
            model = _SplitTag
        else:
            annotation = field.annotation
            is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
            model = annotation if is_model else None
    return model, path


def _describe(error: dict) -> str:
    loc = tuple(error["loc"])
    kind, ctx, value = error["type"], error.get("ctx", {}), error.get("input")
    if kind == "union_tag_invalid":
        tags = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",")]
        _, path = _walk(loc)
        return f"{'.'.join([*path, 'kind'])}: {_not_one_of(ctx.get('tag'), tags)}"
    if kind == "union_tag_not_found":
        _, path = _walk(loc)
        return (
            f"{'.'.join([*path, 'kind'])}: missing; choose one of "
            f"{_quoted(['time', 'group', 'stratified'])}"
        )
    model, _ = _walk(loc[:-1])
    _, path = _walk(loc)
    key = ".".join(path) if path else "(top level)"
    if kind == "extra_forbidden":
        allowed = list(model.model_fields) if model is not None else []
        hint = _did_you_mean(loc[-1], allowed)
        return f"{key}: unknown key.{hint} Allowed keys here: {', '.join(allowed)}"
    if kind == "missing":
        return f"{key}: required key is missing"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace(" or ", ", ")
        choices = [c.strip().strip("'") for c in expected.split(",")]
        field = model.model_fields.get(path[-1]) if model is not None and path else None
        nullable = field is not None and type(None) in get_args(field.annotation)
        return f"{key}: {_not_one_of(value, choices)}" + (" Or null for none." if nullable else "")
    message = str(error["msg"]).removeprefix("Value error, ")
    if loc and kind == "value_error":
        sub = re.match(r"^([A-Za-z_][\w.]*): ", message)
        if sub:  # a section validator naming its own key
            return f"{key}.{message}"
        return f"{key}: {message}"
    if not loc:
        return message
    return f"{key}: {message} (got {value!r})"


def _format(error: ValidationError, source: str) -> ConfigError:
    seen: list[str] = []
    for item in error.errors(include_url=False):
        line = _describe(item)
        # A wrong value in a "float | 'auto'" field yields one error per alternative.
        if not any(line.split(":")[0] == s.split(":")[0] for s in seen):
            seen.append(line)
    message = f"Invalid pipeline config {source}:\n" + "\n".join(f"  - {s}" for s in seen)
    return ConfigError(message, seen)


# ---------------------------------------------------------------------- loading
class _Loader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML keeps the last:
    a second ``distillation:`` section would silently replace the first)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"found the key {key!r} twice; give each key once",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # a SafeLoader: plain data only


# A gate's operator first in a flow list, [>=, 0.99]: YAML reads ">" as a folded-text marker.
_BARE_OPERATOR = re.compile(r"(?<=[\[,])\s*(>=|<=)\s*(?=[,\]])")


def _override_value(key: str, text: str) -> Any:
    """A ``--set`` value parsed as YAML, except YAML 1.1's surprises: ``1e-2`` is a number
    (not text); ``no`` / ``on`` / ``y`` stay text (only true / false are booleans); ``0123``
    and ``1:30`` stay text (not octal 83 and sexagesimal 90); ``Credit #2`` and
    ``Risk: Q3`` stay whole text (not a comment or a mapping; a mapping or a list is
    written ``{...}`` or ``[...]``)."""
    stripped = text.strip()
    try:
        value = _load_yaml(_BARE_OPERATOR.sub(r' "\1"', stripped))
    except yaml.YAMLError as error:
        problem = str(error).splitlines()[0]
        raise ConfigError(
            f"--set {key}={text}: the value is not valid YAML ({problem}); quote it, e.g. "
            f"{key}='\"{stripped}\"', or write a list as [a, b] and a mapping as {{k: v}}.",
            [f"{key}: {text!r} is not valid YAML"],
        ) from None
    if isinstance(value, dict | list) and not stripped.startswith(("{", "[")):
        return stripped
    if isinstance(value, int | float) and not isinstance(value, bool):
        if re.fullmatch(r"[-+]?0\d+|[-+]?\d+(:\d+)+(\.\d*)?", stripped):
            return stripped
    if isinstance(value, str):
        if "#" in stripped and not stripped.startswith(("'", '"')) and value != stripped:
            return stripped  # " #" opened a YAML comment
        try:
            return float(value) if value.strip().lower() not in ("nan", "inf", "-inf") else value
        except ValueError:
            return value
    if isinstance(value, bool) and stripped.lower() not in ("true", "false"):
        return stripped
    return value


def apply_overrides(raw: dict, overrides: list[str] | dict[str, Any] | None) -> dict:
    """``raw`` with ``key.path=value`` overrides applied (values parsed as YAML).

    Examples
    --------
    >>> apply_overrides({"distillation": {"cv": 5}}, ["distillation.cv=2", "data.n_rows=500"])
    {'distillation': {'cv': 2}, 'data': {'n_rows': 500}}
    """
    if not overrides:
        return raw
    if isinstance(overrides, dict):
        items = list(overrides.items())
    else:
        items = []
        for item in overrides:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError(
                    f"Override {item!r} is not KEY=VALUE; e.g. distillation.cv=2",
                    [f"{item}: not KEY=VALUE"],
                )
            items.append((key.strip(), _override_value(key.strip(), value)))
    result = yaml.safe_load(yaml.safe_dump(raw))  # deep copy of plain YAML data
    for key, value in items:
        if key.startswith("mlflow.gates."):
            if not isinstance(result.get("mlflow"), dict):
                result["mlflow"] = {}
            if result["mlflow"].get("gates") is None:  # one gate changed, the others kept
                result["mlflow"]["gates"] = {name: list(g) for name, g in DEFAULT_GATES.items()}
        node = result
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return result


def load_config(
    source: str | os.PathLike | dict, overrides: list[str] | dict[str, Any] | None = None
) -> PipelineConfig:
    """Read and validate a pipeline config.

    Parameters
    ----------
    source : str, path-like or dict
        A YAML file, or the already parsed mapping.
    overrides : list of str or dict, default=None
        ``"key.path=value"`` strings (values parsed as YAML) or a ``{"key.path": value}``
        dict, applied before validation.

    Returns
    -------
    config : PipelineConfig

    Raises
    ------
    ConfigError
        If the file is missing or not YAML, or the config is invalid; the message lists
        every problem with its key path.

    Examples
    --------
    >>> from riskkd.pipeline import load_config
    >>> load_config({"name": "x", "data": {"dataset": "german_credit"},
    ...              "split": {"kind": "random"}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    riskkd.pipeline._config.ConfigError: Invalid pipeline config ...
      - split.kind: 'random' is not one of 'time', 'group', 'stratified'.
    """
    if isinstance(source, dict):
        raw, name = source, "(mapping)"
    else:
        path = Path(source)
        name = str(path)
        if not path.is_file():
            raise ConfigError(
                f"Pipeline config {name!r} does not exist; pass a YAML file such as "
                "pipelines/credit_scoring.yaml.",
                [f"{name}: no such file"],
            )
        try:
            raw = _load_yaml(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise ConfigError(f"{name} is not valid YAML: {error}", [str(error)]) from None
        if not isinstance(raw, dict):
            raise ConfigError(
                f"{name} must hold a mapping of keys (name, data, split, ...), got "
                f"{type(raw).__name__}.",
                [f"{name}: not a mapping"],
            )
    raw = apply_overrides(raw, overrides)
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as error:
        raise _format(error, name) from None
