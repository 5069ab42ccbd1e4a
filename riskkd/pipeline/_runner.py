"""Run a pipeline config end to end.

load -> validate against the data contract -> split -> teacher (early stopping) -> distil
-> evaluate on the test split -> save the model and write the report -> log to MLflow ->
register, and promote only if the fidelity gates pass.
"""

from __future__ import annotations

import itertools
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from ._build import build_model, build_teacher, early_stopped_xgboost
from ._config import ConfigError, PipelineConfig, load_config
from ._data import (
    Dataset,
    TrainTestSplit,
    check_split_classes,
    load_data,
    resolve_contract,
    split_data,
)
from ._data import validate_contract as _validate_contract

if TYPE_CHECKING:
    from ..report import Report

__all__ = ["STEPS", "PipelineResult", "PipelineRunner", "run_pipeline", "runner_for"]

#: The steps of :meth:`PipelineRunner.run`, in order, with what each does.
STEPS: dict[str, str] = {
    "load": "load the data",
    "validate": "check the data contract",
    "split": "split training / test rows",
    "teacher": "early-stop the teacher",
    "distill": "cross-fit the teacher, distil the student",
    "evaluate": "fidelity on the test split",
    "save": "save the model folder",
    "report": "write the HTML report",
    "mlflow": "log the run to MLflow and register",
    "promote": "promote through the fidelity gates",
}


@dataclass
class PipelineResult:
    """What a pipeline run produced.

    Attributes
    ----------
    name : str
        The pipeline's name.
    run_dir : Path
        The run's folder: ``model/``, ``report.html``, ``fidelity.csv``, ``config.yaml``,
        ``result.json``.
    model_dir : Path
        The saved model (:func:`riskkd.load` reads it).
    report_path : Path or None
    fidelity : DataFrame
        :func:`riskkd.fidelity_report` on the test split.
    n_train, n_test : int
    run_id, tracking_uri, registered_model_name, version : str or None
        The MLflow run and registered version (None with ``mlflow.enabled: false``).
    promoted : bool
        Whether the alias now points at ``version``.
    gate_failures : list of str
        The gates that refused the promotion (empty when promoted or not gated).
    timings : dict of str to float
        Seconds per step of :data:`STEPS`.
    """

    name: str
    run_dir: Path
    model_dir: Path
    report_path: Path | None
    fidelity: pd.DataFrame
    n_train: int
    n_test: int
    run_id: str | None = None
    tracking_uri: str | None = None
    registered_model_name: str | None = None
    version: str | None = None
    alias: str | None = None
    promoted: bool = False
    gate_failures: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, float]:
        """The fidelity table flattened as MLflow logs it: ``teacher_roc_auc``,
        ``auc_retention``, ``ece_gap`` ... (undefined figures left out, e.g. ROC-AUC on a
        one-class test set)."""
        from ..report import report_metrics

        return report_metrics(self.fidelity)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (paths as strings)."""
        return {
            "name": self.name,
            "run_dir": str(self.run_dir),
            "model_dir": str(self.model_dir),
            "report_path": None if self.report_path is None else str(self.report_path),
            "n_train": self.n_train,
            "n_test": self.n_test,
            "metrics": {k: (v if v == v else None) for k, v in self.metrics.items()},
            "run_id": self.run_id,
            "tracking_uri": self.tracking_uri,
            "registered_model_name": self.registered_model_name,
            "version": None if self.version is None else str(self.version),
            "alias": self.alias,
            "promoted": self.promoted,
            "gate_failures": self.gate_failures,
            "timings": self.timings,
        }


StepCallback = Callable[[str, str, float | None], None]


class PipelineRunner:
    """Run the steps of a pipeline config; each step is a method to override.

    Parameters
    ----------
    config : PipelineConfig
    base_dir : path-like, default=None
        Folder of the config file: relative contract paths are also looked up there.
    on_step : callable, default=None
        Called as ``on_step(step, "start", None)`` and ``on_step(step, "done", seconds)``
        for every step of :data:`STEPS` that runs (progress display).

    Examples
    --------
    >>> from riskkd.pipeline import PipelineRunner, load_config
    >>> runner = PipelineRunner(load_config("pipelines/credit_scoring.yaml"))  # doctest: +SKIP
    >>> result = runner.run()  # doctest: +SKIP
    """

    def __init__(
        self,
        config: PipelineConfig,
        *,
        base_dir: str | Path | None = None,
        on_step: StepCallback | None = None,
    ):
        self.config = config
        self.base_dir = None if base_dir is None else Path(base_dir)
        self.on_step = on_step
        self.timings: dict[str, float] = {}

    #: Log the SHA-256 of the training rows (``training_data_sha256``) to MLflow.
    hash_training_rows = True

    # ------------------------------------------------------------------ steps
    def load(self) -> Dataset:
        return load_data(self.config.data, self.config.split, self.config.seed)

    def validate(self, dataset: Dataset) -> str | None:
        """Check the data against ``contract``; returns its name (None without one)."""
        if self.config.contract is None:
            return None
        contract = resolve_contract(self.config.contract, self.base_dir)
        return _validate_contract(dataset.contract_frame(contract), contract)

    def split(self, dataset: Dataset) -> TrainTestSplit:
        split = split_data(dataset, self.config.split, self.config.seed)
        check_split_classes(split.y_train.unique(), split.y_test, self.config.split)
        self.check_threshold(pd.concat([split.y_train, split.y_test]).unique(), dataset.target)
        return split

    def check_threshold(self, classes: Any, target: str) -> None:
        """Refuse ``evaluation.threshold`` for a multi-class ``target`` (the ``classes`` of
        all its rows): its decision agreement compares top classes and would ignore it."""
        threshold = self.config.evaluation.threshold
        if threshold is not None and len(classes) > 2:
            raise ConfigError(
                f"evaluation.threshold {threshold:g} applies to binary targets; {target!r} has "
                f"{len(classes)} classes, whose decision agreement compares top classes. "
                "Remove evaluation.threshold.",
                [f"evaluation.threshold: {threshold:g} given for a {len(classes)}-class target"],
            )

    def teacher(self, split: TrainTestSplit) -> Any:
        """The unfitted teacher; XGBoost's number of rounds is early-stopped here."""
        teacher_config = self.config.teacher
        teacher = build_teacher(teacher_config, self.config.seed)
        if teacher_config.kind == "xgboost" and teacher_config.early_stopping_rounds is not None:
            teacher, _ = early_stopped_xgboost(
                teacher,
                split.X_train,
                split.y_train,
                rounds=teacher_config.early_stopping_rounds,
                fraction=teacher_config.validation_fraction,
                seed=self.config.seed,
            )
        return teacher

    def distill(self, teacher: Any, split: TrainTestSplit) -> Any:
        """Fit the :class:`~riskkd.DistilledClassifier` on the training rows.

        After a group split the cross-fitting folds keep groups apart as well
        (``StratifiedGroupKFold``): a customer's soft targets then come from teachers that
        never saw that customer, as the test rows' predictions do.
        """
        model = build_model(self.config, teacher)
        if split.groups_train is not None:
            from sklearn.model_selection import StratifiedGroupKFold

            folds = StratifiedGroupKFold(model.cv, shuffle=True, random_state=self.config.seed)
            model.set_params(cv=list(folds.split(split.X_train, split.y_train, split.groups_train)))
        return model.fit(split.X_train, split.y_train)

    def reference_rows(self, split: TrainTestSplit) -> pd.DataFrame:
        """Training rows in memory: the report's PSI reference and the hashed data."""
        return split.X_train

    def evaluate(self, model: Any, split: TrainTestSplit) -> pd.DataFrame:
        from ..fidelity import fidelity_report

        return fidelity_report(
            model, split.X_test, split.y_test, threshold=self.config.evaluation.threshold
        )

    def save(self, model: Any, folder: Path) -> Path:
        from ..persistence import save

        return save(model, folder / "model")

    def report(self, model: Any, split: TrainTestSplit, folder: Path) -> Report | None:
        """Build the HTML report and write it to the run folder (MLflow logs the same one)."""
        if self.config.report.path is None:
            return None
        from ..report import build_report

        report = build_report(
            model,
            split.X_test,
            split.y_test,
            title=self.config.report.title or f"riskkd pipeline {self.config.name}",
            threshold=self.config.evaluation.threshold,
            X_reference=self.reference_rows(split),
            sections=[("Pipeline", self.summary(split))],
        )
        report.write(folder / self.config.report.path)
        return report

    def summary(self, split: TrainTestSplit) -> pd.DataFrame:
        """The run's settings and step timings so far, one row each (a report section)."""
        config = self.config
        rows = {
            "pipeline": config.name,
            "data": config.data.dataset or config.data.path,
            "contract": config.contract or "none",
            "split": self.describe_split(),
            "training / test rows": f"{split.n_train:,} / {split.n_test:,}",
            "teacher": f"{config.teacher.kind} {config.teacher.params or ''}".strip(),
            "engine": config.training.engine,
        }
        rows.update({f"seconds: {step}": f"{s:.1f}" for step, s in self.timings.items()})
        return pd.DataFrame({"value": list(rows.values())}, index=pd.Index(rows, name="setting"))

    def describe_split(self) -> str:
        """How the rows were split, in one line (the report's pipeline section)."""
        split, seed = self.config.split, self.config.seed
        if split.kind == "time":
            return f"time: {split.column} >= {split.cutoff!r} is the test set"
        if split.kind == "group":
            return f"group: whole {split.column} groups, test_size={split.test_size}"
        return f"stratified: test_size={split.test_size}, seed={seed}"

    def check_tracking_store(self) -> None:
        """Fail before training when the tracking store cannot be opened (a wrong URI, a
        store whose driver is not installed, a server that is down), not after it.

        A server is asked once for its ``/health`` (MLflow itself retries a refused
        connection for minutes); a database store is opened; a local SQLite file or folder
        is left to be created when the run logs, so a run that fails earlier leaves none.
        """
        from urllib.parse import urlparse

        from .. import tracking

        settings = self.config.mlflow
        uri = settings.tracking_uri or tracking.default_tracking_uri()
        scheme = urlparse(uri).scheme
        try:
            if scheme in ("http", "https"):
                import requests

                requests.get(f"{uri.rstrip('/')}/health", timeout=10).raise_for_status()
            elif scheme == "sqlite":
                import sqlalchemy

                # Parses and checks the URL without connecting (which would create the file).
                database = sqlalchemy.create_engine(uri).url.database
                if database and database != ":memory:" and not Path(database).is_file():
                    return  # a new store: created when the run logs
            elif scheme in ("", "file"):
                return
            from mlflow import MlflowClient

            experiment = MlflowClient(uri).get_experiment_by_name(
                settings.experiment or self.config.name
            )
        except Exception as error:
            raise RuntimeError(
                f"mlflow.tracking_uri: the tracking store {uri!r} cannot be opened "
                f"({type(error).__name__}: {error}). Fix the URI (or MLFLOW_TRACKING_URI), "
                "install the store's driver or start its server, or set mlflow.enabled: false."
            ) from error
        if experiment is not None and experiment.lifecycle_stage == "deleted":
            raise RuntimeError(
                f"mlflow.experiment: {experiment.name!r} is deleted in {uri!r}; restore it "
                "(mlflow experiments restore --experiment-id "
                f"{experiment.experiment_id}) or set mlflow.experiment to another name."
            )

    def check_output(self) -> None:
        """Fail before training when ``output`` (or a folder above it) is a file."""
        output = Path(self.config.output).absolute()
        for folder in (output, *output.parents):
            if folder.exists():
                if not folder.is_dir():
                    raise ValueError(
                        f"output: {str(self.config.output)!r} cannot hold run folders: "
                        f"{str(folder)!r} is a file. Give a folder."
                    )
                return

    def log_to_mlflow(
        self,
        model: Any,
        split: TrainTestSplit,
        dataset: Dataset,
        folder: Path,
        report: Report | None = None,
    ) -> tuple[str, str, str | None]:
        """Log params, metrics, report, config and model; register. ``(run_id, uri, version)``.

        Points the process at the tracking URI and experiment of the config (as
        ``mlflow.set_tracking_uri`` and ``mlflow.set_experiment`` do).
        """
        import mlflow

        from .. import tracking
        from ..tracking._runs import use_experiment

        settings = self.config.mlflow
        uri = settings.tracking_uri or tracking.default_tracking_uri()
        mlflow.set_tracking_uri(uri)
        use_experiment(settings.experiment or self.config.name)
        name = settings.registered_model_name or self.config.name
        # Inside a caller's run (a notebook, an orchestrator) the pipeline's is a child run.
        nested = mlflow.active_run() is not None
        run_name = f"{self.config.name}-{self.config.distillation.student}"
        with mlflow.start_run(run_name=run_name, nested=nested) as run:
            run_id = run.info.run_id
            mlflow.set_tags({"riskkd.pipeline": self.config.name, "riskkd.data": dataset.source})
            mlflow.log_params(
                {
                    "pipeline.split": self.config.split.kind,
                    "pipeline.teacher": self.config.teacher.kind,
                    "pipeline.n_train": split.n_train,
                    "pipeline.n_test": split.n_test,
                }
            )
            mlflow.log_artifact(str(folder / "config.yaml"), "pipeline")
            if report is not None:
                mlflow.log_artifact(str(folder / self.config.report.path), "pipeline")
            mlflow.log_metrics({f"seconds_{k}": v for k, v in self.timings.items()})
            # Last: a version is registered only once everything else of the run is logged.
            tracking.log_distillation(
                model,
                split.X_test,
                split.y_test,
                dataset_name=dataset.source,
                X_train=self.reference_rows(split) if self.hash_training_rows else None,
                threshold=self.config.evaluation.threshold,
                registered_model_name=name,
                student_only=settings.student_only,
                report=report,
            )
        # Filter on the run id only: a model name may hold quotes the filter syntax rejects.
        versions = mlflow.MlflowClient().search_model_versions(f"run_id='{run_id}'")
        versions = [v for v in versions if v.name == name]
        return run_id, uri, (str(versions[0].version) if versions else None)

    def promote(self, version: str) -> list[str]:
        """Move the alias to ``version`` if the gates pass; the failing gates otherwise."""
        from .. import tracking

        settings = self.config.mlflow
        name = settings.registered_model_name or self.config.name
        gates = None if settings.gates is None else dict(settings.gates)
        try:
            tracking.promote(name, version, alias=settings.alias, gates=gates)
        except tracking.FidelityGateError as error:
            return list(error.failures)
        return []

    # ------------------------------------------------------------------ driver
    def step(self, name: str, function: Callable[..., Any], *args: Any) -> Any:
        """Run ``function(*args)`` as step ``name``: timed, reported to ``on_step``."""
        if self.on_step is not None:
            self.on_step(name, "start", None)
        start = time.perf_counter()
        value = function(*args)
        self.timings[name] = round(time.perf_counter() - start, 3)
        if self.on_step is not None:
            self.on_step(name, "done", self.timings[name])
        return value

    def _run_dir(self) -> tuple[Path, Path]:
        """``(run folder, its staging folder)``, the staging folder created: creating it
        reserves the name, so two runs of a pipeline ending in the same second (two
        processes) never pick one folder (the second rename failed after the alias moved)."""
        output = Path(self.config.output)
        output.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for n in itertools.count(1):
            name = f"{self.config.name}-{stamp}" + (f"-{n}" if n > 1 else "")
            run_dir, staging = output / name, output / f".{name}.partial"
            if run_dir.exists():
                continue
            try:
                staging.mkdir()
            except FileExistsError:
                continue
            return run_dir, staging

    def run(self) -> PipelineResult:
        """Run every step; the run folder appears only when the run succeeded.

        Returns
        -------
        result : PipelineResult
        """
        config = self.config
        self.timings = {}
        self.check_output()
        if config.mlflow.enabled:
            self.check_tracking_store()
        dataset = self.step("load", self.load)
        self.step("validate", self.validate, dataset)
        split = self.step("split", self.split, dataset)
        teacher = self.step("teacher", self.teacher, split)
        model = self.step("distill", self.distill, teacher, split)
        fidelity = self.step("evaluate", self.evaluate, model, split)

        run_dir, staging = self._run_dir()
        try:
            (staging / "config.yaml").write_text(
                yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), encoding="utf-8"
            )
            fidelity.to_csv(staging / "fidelity.csv")
            self.step("save", self.save, model, staging)
            report = self.step("report", self.report, model, split, staging)
            result = PipelineResult(
                name=config.name,
                run_dir=run_dir,
                model_dir=run_dir / "model",
                report_path=None if report is None else run_dir / config.report.path,
                fidelity=fidelity,
                n_train=split.n_train,
                n_test=split.n_test,
            )
            if config.mlflow.enabled:
                run_id, uri, version = self.step(
                    "mlflow", self.log_to_mlflow, model, split, dataset, staging, report
                )
                result.run_id, result.tracking_uri, result.version = run_id, uri, version
                result.registered_model_name = config.mlflow.registered_model_name or config.name
                result.alias = config.mlflow.alias
                if version is not None:
                    result.gate_failures = self.step("promote", self.promote, version)
                    result.promoted = not result.gate_failures
            result.timings = dict(self.timings)
            (staging / "result.json").write_text(
                json.dumps(result.to_dict(), indent=2), encoding="utf-8"
            )
            staging.rename(run_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return result


def run_pipeline(
    config: PipelineConfig | str | Path | dict,
    *,
    overrides: list[str] | dict[str, Any] | None = None,
    on_step: StepCallback | None = None,
) -> PipelineResult:
    """Load (if needed) and run a pipeline config.

    Parameters
    ----------
    config : PipelineConfig, path-like or dict
        A validated config, a YAML file or its parsed mapping.
    overrides : list of str or dict, default=None
        ``"key.path=value"`` overrides (see :func:`load_config`); only when ``config`` is
        not already a :class:`PipelineConfig`.
    on_step : callable, default=None
        Progress callback, see :class:`PipelineRunner`.

    Returns
    -------
    result : PipelineResult

    Examples
    --------
    >>> from riskkd.pipeline import run_pipeline
    >>> result = run_pipeline("pipelines/credit_scoring.yaml")  # doctest: +SKIP
    >>> result.promoted, result.report_path  # doctest: +SKIP
    """
    base_dir = None
    if not isinstance(config, PipelineConfig):
        if isinstance(config, str | Path):
            base_dir = Path(config).resolve().parent
        config = load_config(config, overrides)
    elif overrides:
        raise ValueError(
            "overrides apply to a YAML file or mapping, not to a validated PipelineConfig; use "
            "config.model_copy(update=...) instead."
        )
    return runner_for(config, base_dir=base_dir, on_step=on_step).run()


def runner_for(
    config: PipelineConfig,
    *,
    base_dir: str | Path | None = None,
    on_step: StepCallback | None = None,
) -> PipelineRunner:
    """The runner of ``config``: :class:`PipelineRunner`, or the Dask one for
    ``training.engine: dask`` (:class:`riskkd.pipeline.DaskPipelineRunner`)."""
    cls = PipelineRunner
    if config.training.engine == "dask":
        from ._dask import DaskPipelineRunner

        cls = DaskPipelineRunner
    return cls(config, base_dir=base_dir, on_step=on_step)
