"""Pipelines: a versioned YAML config per use case, validated and run end to end.

A config (``pipelines/*.yaml``) names the data and its contract, the split, the teacher,
the distillation settings, the report and the MLflow registry. :func:`load_config`
validates it (every error names the key path and the allowed values) and
:func:`run_pipeline` runs it: load -> validate -> split -> teacher -> distil -> evaluate ->
save + report -> MLflow -> gated promotion, returning a :class:`PipelineResult`.

Examples
--------
>>> from riskkd.pipeline import load_config
>>> config = load_config("pipelines/credit_scoring.yaml", ["distillation.cv=3"])  # doctest: +SKIP
>>> config.distillation.cv  # doctest: +SKIP
3
"""

from ._config import (
    ConfigError,
    DataConfig,
    DistillationConfig,
    EvaluationConfig,
    GroupSplit,
    MLflowConfig,
    PipelineConfig,
    ReportConfig,
    StratifiedSplit,
    TeacherConfig,
    TimeSplit,
    TrainingConfig,
    apply_overrides,
    load_config,
)
from ._dask import DaskPipelineRunner
from ._data import Dataset, TrainTestSplit, load_data, read_table, split_data
from ._runner import STEPS, PipelineResult, PipelineRunner, run_pipeline, runner_for

__all__ = [
    "STEPS",
    "ConfigError",
    "DaskPipelineRunner",
    "DataConfig",
    "Dataset",
    "DistillationConfig",
    "EvaluationConfig",
    "GroupSplit",
    "MLflowConfig",
    "PipelineConfig",
    "PipelineResult",
    "PipelineRunner",
    "ReportConfig",
    "StratifiedSplit",
    "TeacherConfig",
    "TimeSplit",
    "TrainTestSplit",
    "TrainingConfig",
    "apply_overrides",
    "load_config",
    "load_data",
    "read_table",
    "run_pipeline",
    "runner_for",
    "split_data",
]
