"""Pipeline configs (validation, errors naming the key), data loading and splits, and a
real small end-to-end run into tmp_path with MLflow on a SQLite file."""

from __future__ import annotations

import doctest
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskkd.pipeline import (
    ConfigError,
    PipelineConfig,
    PipelineRunner,
    _build,
    _config,
    _data,
    load_config,
    run_pipeline,
    split_data,
)
from riskkd.pipeline._data import Dataset

pytest.importorskip("mlflow")

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "pipelines"
YAMLS = ["credit_scoring.yaml", "fraud_detection.yaml", "risk_rating.yaml"]


@pytest.fixture(autouse=True)
def _restore_mlflow_state(monkeypatch):
    """Runs set the process's tracking URI and experiment: restore them after each test."""
    from mlflow.tracking import fluent
    from mlflow.tracking._tracking_service import utils as tracking_utils

    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
    monkeypatch.setattr(fluent, "_active_experiment_id", fluent._active_experiment_id)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(name, raising=False)


def base(**sections):
    """A minimal valid config mapping, updated with ``sections``."""
    raw = {"name": "t", "data": {"dataset": "german_credit"}}
    raw.update(sections)
    return raw


def problems(raw, overrides=None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(raw, overrides)
    return info.value.problems


# ---------------------------------------------------------------------- configs
@pytest.mark.parametrize("name", YAMLS)
def test_each_pipeline_yaml_validates(name):
    config = load_config(PIPELINES / name)
    assert config.mlflow.registered_model_name == config.name
    assert config.report.path == "report.html"
    assert config.teacher.early_stopping_rounds is not None


def test_pipeline_yamls_describe_their_use_case():
    credit = load_config(PIPELINES / "credit_scoring.yaml")
    fraud = load_config(PIPELINES / "fraud_detection.yaml")
    rating = load_config(PIPELINES / "risk_rating.yaml")
    assert (credit.data.dataset, credit.split.kind) == ("credit_data_belanche", "stratified")
    assert (fraud.data.dataset, fraud.split.kind) == ("vehicle_insurance_fraud", "time")
    assert (fraud.split.column, fraud.split.cutoff) == ("Year", 1996)
    assert (rating.data.dataset, rating.split.kind) == ("lending_club_grades_2018q1", "stratified")


def test_defaults_fill_every_section():
    config = load_config(base())
    assert config.split.kind == "stratified" and config.split.test_size == 0.3
    assert config.teacher.kind == "lightgbm" and config.distillation.student == "mlp"
    assert config.mlflow.enabled and config.mlflow.gates is None


def test_wrong_choice_names_the_key_and_the_allowed_values():
    assert problems(base(split={"kind": "random"})) == [
        "split.kind: 'random' is not one of 'time', 'group', 'stratified'."
    ]
    (line,) = problems(base(teacher={"kind": "catboost"}))
    assert line.startswith("teacher.kind: 'catboost' is not one of 'lightgbm', 'xgboost'")
    (line,) = problems(base(distillation={"calibration": "platt"}))
    assert line.startswith("distillation.calibration: 'platt' is not one of 'auto', 'sigmoid'")
    # A key that takes null says so: "none" and false were refused without that way out.
    (line,) = problems(base(distillation={"augment": False}))
    assert line == "distillation.augment: False is not one of 'munge', 'noise'. Or null for none."


def test_unknown_keys_are_refused_with_did_you_mean():
    (line,) = problems(base(distillation={"studnet": "tree"}))
    assert line.startswith("distillation.studnet: unknown key. Did you mean 'student'?")
    assert "Allowed keys here: student, calibration" in line
    (line,) = problems(base(splitt={"kind": "time"}))
    assert line.startswith("splitt: unknown key. Did you mean 'split'?")
    lines = problems(base(split={"kind": "time", "column": "Year", "cutof": 1996}))
    assert lines[0] == "split.cutoff: required key is missing"
    assert lines[1].startswith("split.cutof: unknown key. Did you mean 'cutoff'?")
    (line,) = problems(base(teacher={"params": {"num_leave": 7}}))
    assert line.startswith("teacher.params.num_leave: not a parameter of the 'lightgbm' teacher.")
    assert "Did you mean 'num_leaves'?" in line


def test_values_out_of_range_name_the_key():
    assert problems(base(distillation={"alpha": 2})) == [
        "distillation.alpha: must be 'auto' or a number in [0, 1], got 2"
    ]
    (line,) = problems(base(distillation={"monotone_constraints": {"Age": 2}}))
    assert line.startswith("distillation.monotone_constraints: must be 'auto', null or a mapping")
    config = load_config(base(distillation={"monotone_constraints": {"Age": -1}}))
    assert _build.build_model(config, None).monotone_constraints == {"Age": -1}
    (line,) = problems(base(data={"dataset": "german_credit", "n_rows": -5}))
    assert line.startswith("data.n_rows: Input should be greater than 0")
    (line,) = problems(base(mlflow={"gates": {"auc_retention": [">", 0.99]}}))
    assert line.startswith("mlflow.gates.auc_retention[0]: '>' is not one of '>=', '<='.")
    (line,) = problems(base(data={"dataset": "credit_data"}))
    assert "Did you mean 'credit_data_belanche'?" in line
    assert problems(base(split={"kind": "time"})) == [
        "split.column: required key is missing",
        "split.cutoff: required key is missing",
    ]
    # Teacher values are checked by the teacher class's own rules, before anything runs.
    (line,) = problems(base(), ["teacher.params.num_leaves=abc"])
    assert line.startswith("teacher.params.num_leaves: The 'num_leaves' parameter of Light")
    (line,) = problems(base(teacher={"kind": "hist_gradient_boosting", "params": {"max_iter": 0}}))
    assert "teacher.params.max_iter: The 'max_iter' parameter" in line


def test_registry_and_report_settings_fail_before_training():
    """What MLflow or the report would refuse after training is refused in the config."""
    for alias in ("latest", "v2", "my alias"):
        (line,) = problems(base(mlflow={"alias": alias}))
        assert line.startswith(f"mlflow.alias: {alias!r} is not a usable registry alias")
    (line,) = problems(base(mlflow={"registered_model_name": "credit/v2"}))
    assert line.startswith("mlflow.registered_model_name: 'credit/v2' must be non-empty")
    # Names MLflow refuses as paths, refused here before training rather than after it.
    for name in (".", "..credit"):
        (line,) = problems(base(mlflow={"registered_model_name": name}))
        assert line.startswith(f"mlflow.registered_model_name: {name!r} must be non-empty")
    (line,) = problems(base(mlflow={"gates": {"auc_retenton": [">=", 0.99]}}))
    assert line.startswith("mlflow.gates: 'auc_retenton' is not a metric the pipeline logs. ")
    assert "Did you mean 'auc_retention'?" in line
    gates = {"ece_gap": ["<=", 0.01], "seconds_fit": ["<=", 60]}
    assert load_config(base(mlflow={"gates": gates})).mlflow.gates["ece_gap"] == ("<=", 0.01)
    for path in ("report.pdf", "../report.html", "/tmp/report.html"):
        (line,) = problems(base(report={"path": path}))
        assert line.startswith(f"report.path: {path!r} must be a file name ending in .html")


def test_unquoted_yaml_date_is_a_cutoff(tmp_path):
    config = tmp_path / "time.yaml"
    config.write_text(
        "name: t\ndata: {dataset: german_credit}\n"
        "split: {kind: time, column: applied, cutoff: 2020-07-01}\n"
    )
    assert load_config(config).split.cutoff == "2020-07-01"  # as if quoted


def test_zero_jobs_and_a_relative_missing_path_are_named(tmp_path, monkeypatch):
    """training.n_jobs: 0 passed validation and failed in joblib after the data was read; a
    relative data.path that did not exist did not say where it was looked for."""
    (line,) = problems(base(training={"n_jobs": 0}))
    (seed,) = problems(base(seed=True))  # YAML's "seed: yes" read as seed 1
    assert seed == "seed: True is not a seed (it would read as 1); give an integer"
    assert line.startswith("training.n_jobs: 0 jobs run nothing; give 1")
    from riskkd.pipeline import runner_for

    monkeypatch.chdir(tmp_path)
    runner = runner_for(load_config({"name": "t", "data": {"path": "loans.csv", "target": "y"}}))
    with pytest.raises(FileNotFoundError, match=r"'loans\.csv' does not exist in the working "
                       r"folder '.*'\. A relative data\.path is read from the folder riskkd runs"):  # fmt: skip
        runner.load()


def test_cross_key_rules():
    (line,) = problems(base(data={"dataset": "german_credit", "path": "x.csv"}))
    assert line.startswith("data: give exactly one of 'dataset'")
    (line,) = problems(base(data={"path": "x.csv"}))
    assert line.startswith("data: 'target' (the label column) is required")
    (line,) = problems(base(teacher={"kind": "lightgbm", "early_stopping_rounds": None}))
    assert line.startswith("teacher.early_stopping_rounds: the 'lightgbm' teacher")


def test_overrides_and_file_errors(tmp_path):
    config = load_config(PIPELINES / "credit_scoring.yaml", ["distillation.cv=2", "data.n_rows=9"])
    assert (config.distillation.cv, config.data.n_rows) == (2, 9)
    # YAML 1.1 read 2.5e-1 as text and "no" as False; --set reads them as a user means them.
    config = load_config(
        PIPELINES / "credit_scoring.yaml", ["split.test_size=2.5e-1", "data.target=no"]
    )
    assert (config.split.test_size, config.data.target) == (0.25, "no")
    with pytest.raises(ConfigError, match="is not KEY=VALUE"):
        load_config(PIPELINES / "credit_scoring.yaml", ["distillation.cv"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(tmp_path / "list.yaml")


def test_override_values_are_read_as_written(tmp_path):
    """YAML turned --set values into others: 0123 into 83 (octal), 1:30 into 90, a title's
    "#2" into a comment, "Risk: Q3" into a mapping; [>=, 0.99] (the README's gate form with
    the other operator) raised a raw ScannerError."""
    config = load_config(
        PIPELINES / "credit_scoring.yaml",
        ["data.target=0123", "report.title=Credit #2", "mlflow.experiment=Risk: Q3", "seed=010",
         "mlflow.gates.auc_retention=[>=, 0.99]", "teacher.params={learning_rate: 0.1}"],
    )  # fmt: skip
    assert (config.data.target, config.report.title) == ("0123", "Credit #2")
    assert config.mlflow.experiment == "Risk: Q3"
    quoted = load_config(PIPELINES / "credit_scoring.yaml", ['report.title="Credit #2"'])
    assert quoted.report.title == "Credit #2"  # quotes still protect a value, and go
    assert config.seed == 10  # "010" is validated as the integer 10, not octal 8
    assert config.mlflow.gates["auc_retention"] == (">=", 0.99)
    assert config.teacher.params == {"learning_rate": 0.1}
    with pytest.raises(ConfigError, match=r"--set report\.title=@x: the value is not valid YAML"):
        load_config(PIPELINES / "credit_scoring.yaml", ["report.title=@x"])
    # A key given twice in a file was silently replaced by its last value.
    (tmp_path / "twice.yaml").write_text(
        (PIPELINES / "credit_scoring.yaml").read_text() + "\ndistillation:\n  cv: 3\n"
    )
    with pytest.raises(ConfigError, match=r"found the key 'distillation' twice"):
        load_config(tmp_path / "twice.yaml")


def test_overriding_one_gate_keeps_the_other_default_gates():
    """fraud_detection.yaml lists no gates: one --set gate had dropped the two others, and
    a model failing them was promoted (a helper's reproduction)."""
    from riskkd.fidelity import DEFAULT_GATES

    config = load_config(
        PIPELINES / "fraud_detection.yaml", ['mlflow.gates.auc_retention=[">=", 0.999]']
    )
    assert config.mlflow.gates == {**DEFAULT_GATES, "auc_retention": (">=", 0.999)}
    # A config's own gates are changed one by one too; {} still means no gates.
    config = load_config(PIPELINES / "credit_scoring.yaml", ["mlflow.gates.ece_gap=[<=, 0.02]"])
    assert config.mlflow.gates["ece_gap"] == ("<=", 0.02) and len(config.mlflow.gates) == 3
    assert load_config(PIPELINES / "credit_scoring.yaml", ["mlflow.gates={}"]).mlflow.gates == {}


# ---------------------------------------------------------------------- teachers
@pytest.mark.parametrize("kind", ["lightgbm", "xgboost", "hist_gradient_boosting"])
def test_teacher_params_are_checked_against_the_teacher_class(kind):
    names = _build.teacher_param_names(kind)
    assert "random_state" not in names and "early_stopping_rounds" not in names
    assert {"learning_rate"} <= names


def test_build_teacher_sets_early_stopping():
    lgbm = _build.build_teacher(_config.TeacherConfig(early_stopping_rounds=7), seed=3)
    assert (lgbm.early_stopping_rounds, lgbm.random_state) == (7, 3)
    hgb = _build.build_teacher(
        _config.TeacherConfig(kind="hist_gradient_boosting", early_stopping_rounds=9), seed=3
    )
    assert (hgb.early_stopping, hgb.n_iter_no_change, hgb.validation_fraction) == (True, 9, 0.15)
    off = _build.build_teacher(
        _config.TeacherConfig(kind="hist_gradient_boosting", early_stopping_rounds=None), seed=3
    )
    assert off.early_stopping is False


def test_xgboost_rounds_are_early_stopped():
    from riskkd.datasets import load_german_credit

    X, y = load_german_credit(return_X_y=True)
    teacher = _build.build_teacher(
        _config.TeacherConfig(kind="xgboost", params={"n_estimators": 2000, "learning_rate": 0.3}),
        seed=0,
    )
    tuned, best = _build.early_stopped_xgboost(teacher, X, y, rounds=10, fraction=0.2, seed=0)
    # 1,000 rows at learning rate 0.3 overfit within a few dozen rounds: early stopping
    # must cut far below the 2,000-round cap.
    assert 1 <= best < 500
    assert tuned.n_estimators == round(best / 0.8)


# ---------------------------------------------------------------------- data and splits
def test_time_split_of_the_fraud_pipeline():
    config = load_config(PIPELINES / "fraud_detection.yaml")
    runner = PipelineRunner(config)
    dataset = runner.load()
    assert "Year" not in dataset.features
    split = runner.split(dataset)
    years = dataset.split_column
    assert set(years[split.X_train.index]) == {1994, 1995}
    assert set(years[split.X_test.index]) == {1996}
    assert len(split.X_train) + len(split.X_test) == len(dataset.frame)


def test_time_is_never_a_feature_of_the_bundled_fraud_data():
    config = load_config(base(data={"dataset": "vehicle_insurance_fraud"}))
    dataset = PipelineRunner(config).load()  # stratified: Year is not needed to split
    assert "Year" not in dataset.frame.columns and dataset.split_column is None


def test_risk_rating_data_passes_its_contract_and_keeps_every_grade():
    config = load_config(PIPELINES / "risk_rating.yaml")
    runner = PipelineRunner(config, base_dir=PIPELINES)
    dataset = runner.load()
    assert runner.validate(dataset) == "risk_rating"
    split = runner.split(dataset)
    assert set(split.y_train) == set(split.y_test) == set("ABCDEFG")
    # A threshold given for the grades would be ignored (top classes are compared): refused
    # at the split, before any model trains.
    config = load_config(PIPELINES / "risk_rating.yaml", ["evaluation.threshold=0.3"])
    with pytest.raises(ConfigError, match=r"evaluation.threshold 0.3 applies to binary targets; "
                       r"'grade' has 7 classes") as info:  # fmt: skip
        PipelineRunner(config, base_dir=PIPELINES).split(dataset)
    assert info.value.problems == ["evaluation.threshold: 0.3 given for a 7-class target"]


def test_group_split_keeps_groups_apart():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "y": np.tile([0, 1], 100)})
    groups = pd.Series(np.repeat(np.arange(40), 5), name="customer")
    dataset = Dataset(frame, ["x"], "y", groups, "demo")
    split = split_data(dataset, _config.GroupSplit(kind="group", column="customer"), seed=0)
    train, test = set(groups[split.X_train.index]), set(groups[split.X_test.index])
    assert not train & test and len(train | test) == 40


def test_group_split_cross_fits_on_groups_too(tmp_path):
    """A customer's soft targets come from teachers that never saw that customer, as its
    test rows' predictions do: the cross-fitting folds keep groups apart too."""
    from riskkd.datasets import load_german_credit
    from riskkd.pipeline import runner_for

    frame = load_german_credit().frame
    frame["customer"] = np.random.default_rng(0).integers(0, 300, len(frame))  # ~3 loans each
    frame.to_csv(tmp_path / "loans.csv", index=False)
    raw = {
        "name": "loans",
        "data": {"path": str(tmp_path / "loans.csv"), "target": "creditability"},
        "split": {"kind": "group", "column": "customer", "test_size": 0.3},
        "distillation": {"student": "tree", "cv": 3},
        "mlflow": {"enabled": False},
    }
    runner = runner_for(load_config(raw))
    split = runner.split(runner.load())
    model = runner.distill(runner.teacher(split), split)
    groups = split.groups_train.to_numpy()
    assert len(model.cv) == 3
    for fit_rows, held_rows in model.cv:
        assert not set(groups[fit_rows]) & set(groups[held_rows])
    assert sorted(np.concatenate([held for _, held in model.cv])) == list(range(split.n_train))


def test_stratified_split_keeps_the_class_balance():
    config = load_config(base(split={"kind": "stratified", "test_size": 0.25}))
    split = PipelineRunner(config).split(PipelineRunner(config).load())
    assert len(split.y_test) == 250
    assert split.y_train.mean() == pytest.approx(split.y_test.mean(), abs=0.01)


def test_time_split_on_dates():
    frame = pd.DataFrame({"x": range(6), "y": [0, 1] * 3})
    when = pd.Series(pd.to_datetime(["2024-01-05", "2024-02-01", "2024-03-01"] * 2), name="d")
    dataset = Dataset(frame, ["x"], "y", when, "demo")
    split = split_data(dataset, _config.TimeSplit(kind="time", column="d", cutoff="2024-02-01"), 0)
    assert split.X_train["x"].tolist() == [0, 3]
    with pytest.raises(ValueError, match=r"split\.cutoff: column 'y' holds numbers but"):
        numeric = Dataset(frame, ["x"], "y", frame["y"], "demo")
        split_data(numeric, _config.TimeSplit(kind="time", column="y", cutoff="soon"), 0)


@pytest.mark.parametrize(
    ("when", "cutoff"),
    [
        # CSV dates are text: compared as text, "07/15/2019" sorted after "07/01/2020".
        (["07/15/2019", "12/01/2019", "07/01/2020", "09/30/2020"] * 2, "07/01/2020"),
        (["2020-9-30", "2020-12-31", "2021-1-1", "2021-10-02"] * 2, "2021-1-1"),
        # Compact dates spell numbers, but the cutoff is a date: compared as dates.
        (["20190715", "20191201", "20200701", "20200930"] * 2, "2020-07-01"),
        # A Hive folder's Year=... partition column reads as an unordered category.
        (pd.Categorical(["1994", "1995", "1996", "1996"] * 2), 1996),
        # Timezone-aware times and a cutoff without a zone (read in the column's).
        (
            pd.to_datetime(["2020-01-01", "2020-06-01", "2020-07-01", "2021-01-01"] * 2, utc=True),
            "2020-07-01",
        ),
    ],
)
def test_time_split_reads_text_and_categories_as_times(when, cutoff):
    frame = pd.DataFrame({"x": range(8), "y": [0, 1] * 4})
    column = pd.Series(when, name="d")
    split = split_data(
        Dataset(frame, ["x"], "y", column, "demo"),
        _config.TimeSplit(kind="time", column="d", cutoff=cutoff),
        0,
    )
    assert split.X_test["x"].tolist() == [2, 3, 6, 7]


def test_time_split_reads_a_text_column_in_one_date_order():
    """Each value read on its own took "13/04/2020" day first and "03/04/2020" month first."""
    frame = pd.DataFrame({"x": range(6), "y": [0, 1] * 3})

    def test_rows(when, cutoff, dayfirst=None):
        column = pd.Series(when, name="d")
        config = _config.TimeSplit(kind="time", column="d", cutoff=cutoff, dayfirst=dayfirst)
        return split_data(Dataset(frame, ["x"], "y", column, "demo"), config, 0).X_test["x"]

    # 1 Jan, 1 Feb, 3 Apr, 13 Apr, 1 Jul, 15 Sep 2020.
    day_first = ["01/01/2020", "01/02/2020", "03/04/2020", "13/04/2020", "01/07/2020", "15/09/2020"]
    assert test_rows(day_first, "01/07/2020").tolist() == [4, 5]  # the cutoff read alike
    assert test_rows(day_first, "2020-04-10").tolist() == [3, 4, 5]  # ISO: one reading
    ambiguous = ["01/01/2020", "03/04/2020", "05/04/2020", "01/07/2020", "02/09/2020", "12/12/2020"]
    with pytest.raises(
        ValueError,
        match=r"'d' holds dates such as '03/04/2020', read as "
        r"2020-03-04 month first and 2020-04-03 day first\. Set split\.dayfirst",
    ):
        test_rows(ambiguous, "2020-06-01")
    assert test_rows(ambiguous, "2020-06-01", dayfirst=True).tolist() == [3, 4, 5]
    assert test_rows(ambiguous, "2020-06-01", dayfirst=False).tolist() == [5]  # 12 Dec
    # The first value reads only day first: pandas reads the column day first even when
    # asked for month first, and the cutoff was then read month first (7 January).
    assert test_rows([day_first[3], *day_first[:3], *day_first[4:]], "01/07/2020").tolist() == [
        4,
        5,
    ]
    with pytest.raises(ValueError, match=r"dates that do not all read month first"):
        test_rows(day_first, "2020-06-01", dayfirst=False)
    iso = ["2020-01-01", "2020-02-01", "2020-03-01"] * 2
    with pytest.raises(ValueError, match=r"split\.cutoff: '01/07/2020' holds dates such as"):
        test_rows(iso, "01/07/2020")  # the cutoff alone reads both ways
    with pytest.raises(ValueError, match=r"split\.cutoff: 1996 is not a time"):
        test_rows(iso, 1996)  # not 1996 nanoseconds past 1970


def test_dask_partitions_read_text_dates_in_one_order():
    """Each partition decided alone: the one with only ambiguous dates was refused, and
    partitions could read one file month first and another day first."""
    import dask.dataframe as dd

    from riskkd.pipeline._dask import _one_date_order

    def order(*parts):
        frame = pd.DataFrame({"when": [v for part in parts for v in part]})
        divisions = np.cumsum([0, *map(len, parts)])
        column = dd.from_pandas(frame, npartitions=len(parts), sort=False)["when"]
        column = column.repartition(divisions=[*divisions[:-1], divisions[-1] - 1])
        return _one_date_order(column, "01/05/2020")

    assert order(["02/01/2020", "13/04/2020"], ["03/04/2020", "05/06/2020"]) is True
    assert order(["04/13/2020"], ["03/04/2020"]) is False
    assert order(["2020-04-13"], ["2020-04-03"]) is None  # ISO: one reading
    with pytest.raises(ValueError, match=r"'when' holds dates that read month first in some"):
        order(["13/04/2020"], ["04/13/2020"])


def test_time_split_of_an_empty_partition_is_empty():
    """A Dask partition without rows (a Spark job's empty file) has no side to choose."""
    empty = pd.Series([], dtype="str", name="d")
    assert _data.time_test_mask(empty, "2020-07-01").tolist() == []
    assert _data.time_test_mask(empty.astype("category"), 1996).tolist() == []


def test_splits_refuse_rows_without_a_time_or_a_group():
    frame = pd.DataFrame({"x": range(6), "y": [0, 1] * 3})
    when = pd.Series([1994, 1995, None, 1996, 1995, 1996], name="Year")
    with pytest.raises(ValueError, match=r"split\.column: 'Year' has 1 missing value"):
        split_data(
            Dataset(frame, ["x"], "y", when, "demo"),
            _config.TimeSplit(kind="time", column="Year", cutoff=1996),
            0,
        )
    groups = pd.Series(["a", "b", None, "c", "a", None], name="customer")
    with pytest.raises(ValueError, match=r"split\.column: 'customer' has 2 missing value"):
        split_data(
            Dataset(frame, ["x"], "y", groups, "demo"),
            _config.GroupSplit(kind="group", column="customer"),
            0,
        )
    with pytest.raises(ValueError, match=r"'d' holds text that is neither a number nor a date"):
        text = pd.Series(["2020-01-01", "soon", "2021-01-01"] * 2, name="d")
        split_data(
            Dataset(frame, ["x"], "y", text, "demo"),
            _config.TimeSplit(kind="time", column="d", cutoff="2020-06-01"),
            0,
        )


def test_time_split_with_an_empty_side_is_refused():
    frame = pd.DataFrame({"x": range(4), "y": [0, 1, 0, 1]})
    dataset = Dataset(frame, ["x"], "y", pd.Series([1, 1, 2, 2], name="t"), "demo")
    with pytest.raises(ValueError, match="the test set is empty"):
        split_data(dataset, _config.TimeSplit(kind="time", column="t", cutoff=3), seed=0)


def test_one_class_data_or_training_side_is_named():
    frame = pd.DataFrame({"x": range(4), "y": np.zeros(4, dtype=np.int64)})
    dataset = Dataset(frame, ["x"], "y", pd.Series([1, 1, 2, 2], name="t"), "demo")
    with pytest.raises(ValueError, match=r"data\.target: 'y' holds one class \(0\) in every row"):
        split_data(dataset, _config.TimeSplit(kind="time", column="t", cutoff=2), seed=0)
    frame["y"] = [0, 0, 1, 1]  # both classes, but 2 is the cutoff: training rows are all 0
    with pytest.raises(ValueError, match=r"the training set holds only class 0; change the split"):
        split_data(dataset, _config.TimeSplit(kind="time", column="t", cutoff=2), seed=0)


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_a_split_the_model_cannot_be_judged_on_is_refused_before_training(tmp_path, engine):
    """A grade only in the test years, or a test set of one class, failed at the evaluation,
    after all the training, with messages that did not name the split."""
    if engine == "dask":
        pytest.importorskip("distributed")
    from riskkd.pipeline import runner_for

    frame = pd.DataFrame({"x": np.arange(60.0), "t": np.repeat([2019, 2020], 30)})
    frame["y"] = np.tile(["A", "B"], 30)
    frame.loc[55:, "y"] = "C"  # only in 2020, the test year
    cases = {
        r"class\(es\) \['C'\] of 'y' are only in the test set \(5 row\(s\)\)": frame,
        r"the test set holds only class 'A'": frame.assign(
            y=np.where(frame.t < 2020, frame.y, "A")
        ),
    }
    for match, data in cases.items():
        data.to_csv(tmp_path / "rows.csv", index=False)
        raw = {
            "name": "rows",
            "data": {"path": str(tmp_path / "rows.csv"), "target": "y"},
            "split": {"kind": "time", "column": "t", "cutoff": 2020},
            "training": {"engine": engine},
        }
        runner = runner_for(load_config(raw))
        with pytest.raises(ValueError, match=rf"split: {match}"):
            runner.split(runner.load())


def test_csv_source_with_drop_and_missing_columns(tmp_path):
    from riskkd.datasets import load_credit_data

    frame = load_credit_data().frame.assign(application_id=range(4454))
    path = tmp_path / "applications.csv"
    frame.to_csv(path, index=False)
    data = _config.DataConfig(path=str(path), target="Status", drop=["application_id"])
    dataset = _data.load_data(data, _config.StratifiedSplit(kind="stratified"), seed=0)
    assert "application_id" not in dataset.features and dataset.target == "Status"
    assert len(dataset.features) == 13
    bad = _config.DataConfig(path=str(path), target="Statu")
    with pytest.raises(ValueError, match=r"data\.target: column 'Statu' .* Did you mean 'Status'"):
        _data.load_data(bad, _config.StratifiedSplit(kind="stratified"), seed=0)


def test_a_broken_contract_stops_the_pipeline(tmp_path):
    from riskkd.datasets import load_credit_data
    from riskkd.schemas import SchemaValidationError

    frame = load_credit_data().frame
    frame.loc[0, "Age"] = 7
    path = tmp_path / "bad.parquet"
    frame.to_parquet(path)
    config = load_config(
        {
            "name": "bad",
            "data": {"path": str(path), "target": "Status"},
            "contract": "data_schemas/credit_application.yaml",
            "output": str(tmp_path / "out"),
        }
    )
    runner = PipelineRunner(config, base_dir=PIPELINES)
    with pytest.raises(SchemaValidationError, match="column 'Age'"):
        runner.run()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_contract_checks_the_id_and_time_columns_kept_out_of_the_features(tmp_path, engine):
    """The transactions contract requires a unique id and a timestamp: a pipeline that drops
    the id and splits on the time still has them checked. A dropped column the strict
    contract does not name never reaches the model and is not refused."""
    if engine == "dask":
        pytest.importorskip("distributed")
    from riskkd.datasets import make_transactions
    from riskkd.pipeline import runner_for
    from riskkd.schemas import SchemaValidationError

    frame = make_transactions(300, fraud_rate=0.1, random_state=0)
    frame["batch_note"] = "loaded"
    path = tmp_path / "transactions.parquet"
    frame.to_parquet(path)
    raw = {
        "name": "fraud",
        "data": {
            "path": str(path),
            "target": "is_fraud",
            "drop": ["transaction_id", "customer_id", "merchant_id", "batch_note"],
        },
        "contract": "fraud_transaction",
        "split": {"kind": "time", "column": "timestamp", "cutoff": "2024-10-01"},
        "training": {"engine": engine},
        "mlflow": {"enabled": False},
    }
    runner = runner_for(load_config(raw))
    dataset = runner.load()
    assert "transaction_id" not in dataset.features and "timestamp" not in dataset.features
    assert runner.validate(dataset) == "fraud_transaction"
    frame.loc[1, "transaction_id"] = frame.loc[0, "transaction_id"]
    frame.to_parquet(path)
    with pytest.raises(SchemaValidationError, match="transaction_id"):
        runner.validate(runner.load())


def test_contract_names_resolve_without_the_yaml_folder(tmp_path, monkeypatch):
    assert _data.resolve_contract("credit_application") == "credit_application"
    found = _data.resolve_contract("data_schemas/credit_application.yaml", PIPELINES)
    assert Path(found).is_file()
    monkeypatch.chdir(tmp_path)  # away from the project's data_schemas/
    # The project's path of a bundled contract, not found (an installed package): bundled.
    assert _data.resolve_contract("data_schemas/risk_rating.yaml", tmp_path) == "risk_rating"
    # A team's own contract misspelt must not quietly check the bundled one instead.
    with pytest.raises(FileNotFoundError, match=r"team_contract/risk_rating\.yaml' was not found"):
        _data.resolve_contract("team_contract/risk_rating.yaml", tmp_path)
    with pytest.raises(ValueError, match="Did you mean 'risk_rating'"):
        _data.resolve_contract("risk_ratin")


# ---------------------------------------------------------------------- end to end
def small_run(tmp_path, **extra) -> dict:
    """Overrides that shrink credit_scoring to seconds (tree student, 2 folds, 1,000 rows)."""
    return {
        "data.n_rows": 1000,
        "distillation.cv": 2,
        "distillation.student": "tree",
        "teacher.params": {"n_estimators": 200, "learning_rate": 0.1},
        "teacher.early_stopping_rounds": 20,
        "training.n_jobs": 1,
        "mlflow.tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "output": str(tmp_path / "artifacts"),
        **extra,
    }


def test_credit_scoring_runs_end_to_end(tmp_path):
    import mlflow

    import riskkd

    steps = []
    result = run_pipeline(
        PIPELINES / "credit_scoring.yaml",
        overrides=small_run(tmp_path, **{"mlflow.gates": {"auc_retention": [">=", 0.5]}}),
        on_step=lambda step, event, seconds: steps.append((step, event)),
    )
    # Every step ran, in order, and was timed.
    assert [s for s, e in steps if e == "done"] == list(result.timings)
    assert list(result.timings)[:3] == ["load", "validate", "split"]
    assert list(result.timings)[-2:] == ["mlflow", "promote"]
    # The run folder holds the model, the report, the table, the config and the result.
    run_dir = result.run_dir
    assert run_dir.parent == tmp_path / "artifacts" and run_dir.is_dir()
    assert {p.name for p in run_dir.iterdir()} == {
        "model",
        "report.html",
        "fidelity.csv",
        "config.yaml",
        "result.json",
    }
    assert not list(run_dir.parent.glob(".*partial"))
    model = riskkd.load(result.model_dir)
    assert type(model.student_).__name__ == "TreeStudent" and model.cv == 2
    page = result.report_path.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype")
    assert "Pipeline" in page and "stratified: test_size=0.3, seed=0" in page
    assert (result.n_train, result.n_test) == (700, 300)
    saved = json.loads((run_dir / "result.json").read_text())
    assert saved["version"] == result.version and saved["promoted"] is True
    # The loose gate passed: the alias points at the new version.
    client = mlflow.MlflowClient(result.tracking_uri)
    version = client.get_model_version_by_alias("credit-scoring", "champion")
    assert str(version.version) == result.version and result.gate_failures == []
    run = client.get_run(result.run_id)
    assert run.data.metrics["auc_retention"] == pytest.approx(result.metrics["auc_retention"])
    assert run.data.params["pipeline.split"] == "stratified"
    assert "seconds_distill" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "pipeline")}
    assert artifacts == {"pipeline/config.yaml", "pipeline/report.html"}
    assert run.info.experiment_id == client.get_experiment_by_name("credit-scoring").experiment_id


def test_student_only_registration_scores_like_the_run_folder(tmp_path):
    import mlflow

    import riskkd

    overrides = small_run(tmp_path, **{"mlflow.student_only": True, "report.path": None})
    result = run_pipeline(PIPELINES / "credit_scoring.yaml", overrides=overrides)
    # run_pipeline points the process at the run's tracking URI.
    registered = riskkd.tracking.load_model(f"models:/credit-scoring/{result.version}")
    run = mlflow.MlflowClient(result.tracking_uri).get_run(result.run_id)
    assert mlflow.lightgbm.load_model(run.data.tags["riskkd.teacher_model_uri"]).num_trees() > 0
    assert registered.teacher_ is None
    X = riskkd.datasets.load_dataset("credit_data_belanche").data.head(200)
    np.testing.assert_array_equal(
        registered.predict_proba(X), riskkd.load(result.model_dir).predict_proba(X)
    )
    # Evaluating it says where the teacher is (riskkd evaluate / report on @champion).
    with pytest.raises(ValueError, match=r"student-only.*riskkd\.teacher_model_uri"):
        riskkd.fidelity_report(registered, X, np.zeros(len(X), dtype=int))


def test_pipeline_inside_an_active_run_is_its_child_and_quotes_in_names_work(tmp_path):
    """A notebook or an orchestrator calls run_pipeline inside its own MLflow run."""
    import mlflow

    name = "O'Neil credit"  # a quote: the registry's filter syntax would reject it unescaped
    overrides = small_run(tmp_path, **{"mlflow.registered_model_name": name, "report.path": None})
    mlflow.set_tracking_uri(overrides["mlflow.tracking_uri"])
    mlflow.set_experiment("orchestrator")  # not an experiment id left by an earlier test
    with mlflow.start_run() as parent:
        result = run_pipeline(PIPELINES / "credit_scoring.yaml", overrides=overrides)
        assert mlflow.active_run().info.run_id == parent.info.run_id  # the caller's run goes on
    client = mlflow.MlflowClient(result.tracking_uri)
    run = client.get_run(result.run_id)
    assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert run.info.status == "FINISHED"
    assert result.version == "1"
    assert client.get_model_version(name, "1").run_id == result.run_id


def test_failing_gates_register_without_promoting(tmp_path):
    import mlflow

    result = run_pipeline(
        PIPELINES / "credit_scoring.yaml",
        overrides=small_run(
            tmp_path,
            **{"mlflow.gates": {"auc_retention": [">=", 1.5]}, "report.path": None},
        ),
    )
    assert result.promoted is False and result.report_path is None
    assert result.gate_failures == [
        f"auc_retention = {result.metrics['auc_retention']:.6g} (needs >= 1.5)"
    ]
    client = mlflow.MlflowClient(result.tracking_uri)
    assert client.get_registered_model("credit-scoring").aliases == {}


def test_a_failed_step_leaves_no_run_folder(tmp_path):
    """The MLflow step fails after the run folder was staged (a SQLite file under a file,
    which the early tracking check leaves alone): the staged folder is removed."""
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    uri = f"sqlite:///{tmp_path / 'notes.txt' / 'mlflow.db'}"
    overrides = small_run(tmp_path, **{"mlflow.tracking_uri": uri})
    with pytest.raises(Exception):  # noqa: B017 (SQLAlchemy's or MLflow's own error)
        run_pipeline(PIPELINES / "credit_scoring.yaml", overrides=overrides)
    assert list((tmp_path / "artifacts").iterdir()) == []


@pytest.mark.parametrize(
    "teacher",
    [
        {"kind": "hist_gradient_boosting", "params": {"max_iter": 50}},
        {"kind": "xgboost", "params": {"n_estimators": 300, "learning_rate": 0.3}},
    ],
)
def test_other_teachers_without_mlflow(tmp_path, teacher):
    config = load_config(
        base(
            teacher=teacher,
            distillation={"student": "tree", "cv": 2},
            mlflow={"enabled": False},
            report={"path": None},
            output=str(tmp_path),
        )
    )
    result = PipelineRunner(config).run()
    assert result.run_id is None and not result.promoted
    assert "mlflow" not in result.timings
    # A teacher the model folder cannot store natively is left out; the student is saved.
    assert (result.model_dir / "manifest.json").is_file()
    assert result.metrics["student_roc_auc"] > 0.6  # german credit: teachers reach ~0.75


def test_dask_engine_reads_a_parquet_folder_lazily(tmp_path):
    pytest.importorskip("distributed")
    from riskkd.datasets import load_german_credit
    from riskkd.pipeline import DaskPipelineRunner, runner_for

    frame = load_german_credit().frame.assign(year=np.repeat([2021, 2022, 2023], [400, 300, 300]))
    (tmp_path / "loans").mkdir()
    for year, part in frame.groupby("year"):  # one file per year, as a nightly export
        part.to_parquet(tmp_path / "loans" / f"{year}.parquet")
    config = load_config(
        {
            "name": "loans",
            "data": {"path": str(tmp_path / "loans"), "target": "creditability"},
            "split": {"kind": "time", "column": "year", "cutoff": 2023},
            "teacher": {"params": {"n_estimators": 100}, "early_stopping_rounds": 10},
            "training": {"engine": "dask", "n_workers": 2},
            "distillation": {"student": "tree", "cv": 2},
            "mlflow": {"enabled": False},
            "output": str(tmp_path / "out"),
        }
    )
    runner = runner_for(config)
    assert isinstance(runner, DaskPipelineRunner)
    result = runner.run()
    # 2021-22 train (the 2023 partition, left empty by the split, is dropped), 2023 tests.
    assert (result.n_train, result.n_test) == (700, 300)
    # A depth-6 tree keeps most of its teacher's ranking; 0.85 is a floor that also leaves
    # room for the distributed teacher's slightly different trees.
    assert result.metrics["auc_retention"] > 0.85
    assert result.report_path.is_file()


def test_dask_engine_reads_csv_labels_as_the_local_engine_does(tmp_path):
    """Integer columns stay integers (read_csv's assume_missing reads them as floats): 0/1
    labels keep classes_ [0, 1], and a contract's integer columns pass on both engines."""
    pytest.importorskip("distributed")
    from riskkd.datasets import load_german_credit
    from riskkd.pipeline import runner_for

    load_german_credit().frame.to_csv(tmp_path / "loans.csv", index=False)
    raw = {
        "name": "loans",
        "data": {"path": str(tmp_path / "loans.csv"), "target": "creditability"},
        "mlflow": {"enabled": False},
    }
    local = runner_for(load_config(raw)).load()
    dask = runner_for(load_config({**raw, "training": {"engine": "dask"}})).load()
    labels = dask.frame[dask.target].compute()
    assert labels.dtype == local.frame[local.target].dtype == np.int64
    np.testing.assert_array_equal(labels, local.frame[local.target])
    numeric = local.frame.select_dtypes("number").dtypes
    assert dask.frame[list(numeric.index)].dtypes.to_dict() == numeric.to_dict()
    # A file writing whole numbers as floats (0.0 / 1.0 labels) gave the local engine float
    # classes (outputs proba_0.0, proba_1.0) and the Dask engine integer ones.
    frame = load_german_credit().frame.astype({"creditability": float, "credit_amount": float})
    frame["huge"] = 1e20  # whole, but beyond what int64 holds exactly: stays float
    frame.to_csv(tmp_path / "floats.csv", index=False)
    raw["data"]["path"] = str(tmp_path / "floats.csv")
    local = runner_for(load_config(raw)).load().frame
    dask = runner_for(load_config({**raw, "training": {"engine": "dask"}})).load().frame
    for engine in (local, dask):
        assert engine[["creditability", "credit_amount"]].dtypes.eq(np.int64).all()
        assert engine["huge"].dtype == np.float64


@pytest.mark.parametrize("suffix", [".csv.bz2", ".csv.zst", ".csv.zip", ".TXT", ".parq"])
def test_both_engines_read_the_same_files(tmp_path, suffix):
    """Every suffix of data.path reads the same rows on both engines."""
    pytest.importorskip("distributed")
    from riskkd.datasets import load_german_credit
    from riskkd.pipeline import runner_for

    frame = load_german_credit().frame
    path = tmp_path / f"loans{suffix}"
    if suffix == ".parq":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False, compression="infer" if "csv" in suffix else None)
    raw = {"name": "loans", "data": {"path": str(path), "target": "creditability"}}
    local = runner_for(load_config(raw)).load().frame
    dask = runner_for(load_config({**raw, "training": {"engine": "dask"}})).load().frame
    assert local.shape == frame.shape
    # Text is Arrow-backed on both, with a different missing-value marker (NA or NaN).
    pd.testing.assert_frame_equal(dask.compute().reset_index(drop=True), local, check_dtype=False)


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_a_file_of_another_kind_is_refused_with_the_suffixes_read(tmp_path, engine):
    pytest.importorskip("distributed")
    from riskkd.pipeline import runner_for

    (tmp_path / "loans.xlsx").write_bytes(b"PK")
    with zipfile.ZipFile(tmp_path / "two.csv.zip", "w") as archive:  # read in part by Dask
        archive.writestr("a.csv", "x,y\n1,0\n")
        archive.writestr("b.csv", "x,y\n2,1\n")
    refusals = {
        "loans.xlsx": r"is neither CSV \(\.csv, \.csv\.gz, .*\.txt\) or parquet "
        r"\(\.parquet, \.parq, \.pq\)",
        "two.csv.zip": r"data\.path: .*two\.csv\.zip holds 2 files \(a\.csv, b\.csv\)",
    }
    for name, message in refusals.items():
        raw = {"name": "t", "data": {"path": str(tmp_path / name), "target": "y"}}
        with pytest.raises(ValueError, match=message):
            runner_for(load_config({**raw, "training": {"engine": engine}})).load()


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_threshold_is_refused_for_a_class_only_the_training_years_hold(tmp_path, engine):
    """The classes are the target's over all rows: grade C exists only before the cutoff,
    so the test rows alone look binary."""
    pytest.importorskip("distributed")
    from riskkd.pipeline import runner_for

    frame = pd.DataFrame(
        {
            "x": range(60),
            "year": [2019] * 40 + [2020] * 20,
            "grade": list("ABC") * 13 + list("AB") * 10 + ["A"],
        }
    )
    frame.to_parquet(tmp_path / "grades.parquet")
    raw = {
        "name": "grades",
        "data": {"path": str(tmp_path / "grades.parquet"), "target": "grade"},
        "split": {"kind": "time", "column": "year", "cutoff": 2020},
        "evaluation": {"threshold": 0.3},
        "training": {"engine": engine},
    }
    runner = runner_for(load_config(raw))
    with pytest.raises(ConfigError, match=r"'grade' has 3 classes"):
        runner.split(runner.load())


def test_dask_contract_checks_uniqueness_across_files_and_names_the_partition(tmp_path):
    """Partitions are checked one by one; a unique column is checked over all of them."""
    pytest.importorskip("distributed")
    from riskkd.datasets import make_transactions
    from riskkd.pipeline import runner_for
    from riskkd.schemas import SchemaValidationError

    frame = make_transactions(400, fraud_rate=0.05, random_state=0)
    (tmp_path / "days").mkdir()
    frame.iloc[:200].to_parquet(tmp_path / "days" / "1.parquet")
    frame.iloc[150:].to_parquet(tmp_path / "days" / "2.parquet")  # 50 ids delivered twice
    raw = {
        "name": "fraud",
        "data": {"path": str(tmp_path / "days"), "target": "is_fraud"},
        "contract": "fraud_transaction",
        "training": {"engine": "dask"},
        "mlflow": {"enabled": False},
    }
    runner = runner_for(load_config(raw))
    with pytest.raises(
        SchemaValidationError, match=r"'transaction_id' must be unique.*: \d+ \(2 times\)"
    ):
        runner.validate(runner.load())
    frame.iloc[200:].assign(amount=-1.0).to_parquet(tmp_path / "days" / "2.parquet")
    with pytest.raises(SchemaValidationError, match=r"^Partition 1 \(rows numbered within it\)"):
        runner.validate(runner.load())


def test_dask_splits_are_seeded_and_keep_groups_apart():
    from riskkd.pipeline._dask import _hashed_test_mask

    groups = pd.Series(np.repeat(np.arange(500), 4))
    mask = _hashed_test_mask(groups, seed=0, test_size=0.3)
    per_group = mask.groupby(groups).nunique()
    assert (per_group == 1).all()  # a group is wholly on one side
    # Another seed draws other groups, numeric ones too (pandas keys only text hashes).
    assert not mask.equals(_hashed_test_mask(groups, seed=1, test_size=0.3))
    # 500 groups, each in the test set with probability 0.3: 150 +- 3 standard deviations.
    assert abs(mask.groupby(groups).first().sum() - 150) < 31
    # A file storing the group column as float64 (it has a NaN) puts each group alike.
    assert mask.equals(_hashed_test_mask(groups.astype("float64"), seed=0, test_size=0.3))
    rows = pd.DataFrame({"x": np.arange(10_000) / 7, "level": "a", "y": np.arange(10_000) % 2})
    first = _hashed_test_mask(rows, 0, 0.3)
    assert first.equals(_hashed_test_mask(rows, 0, 0.3))
    assert not first.equals(_hashed_test_mask(rows, 1, 0.3))
    assert abs(first.mean() - 0.3) < 0.015  # 3 standard deviations of 10,000 draws: 0.014
    # A row's draw is its own: the same however the rows are cut into partitions.
    cut = pd.concat(
        [_hashed_test_mask(rows.iloc[:3333], 0, 0.3), _hashed_test_mask(rows.iloc[3333:], 0, 0.3)]
    )
    assert cut.equals(first)


def test_dask_stratified_split_keeps_test_rows_out_of_training(tmp_path):
    """Many small files: column projection fuses them into fewer partitions for the
    training read than for the test read. A draw seeded by partition number put 189 of 297
    test rows into training (a helper's reproduction); a draw by row values cannot."""
    pytest.importorskip("distributed")
    from riskkd.datasets import load_german_credit
    from riskkd.pipeline import runner_for

    frame = load_german_credit().frame
    frame.insert(0, "loan_id", np.arange(len(frame)))
    (tmp_path / "daily").mkdir()
    for day, rows in enumerate(np.array_split(np.arange(len(frame)), 48)):
        frame.iloc[rows].to_parquet(tmp_path / "daily" / f"{day:02d}.parquet")
    raw = {
        "name": "loans",
        "data": {"path": str(tmp_path / "daily"), "target": "creditability", "drop": ["loan_id"]},
        "split": {"kind": "stratified", "test_size": 0.3},
        "training": {"engine": "dask"},
        "mlflow": {"enabled": False},
    }
    runner = runner_for(load_config(raw))
    split = runner.split(runner.load())
    train = split.X_train.compute()
    labels = split.y_train.compute()
    assert len(train) == len(labels) == split.n_train
    assert split.n_train + len(split.X_test) == len(frame)
    key = list(train.columns)
    both = train.merge(split.X_test, on=key, how="inner")
    assert len(both) == 0
    assert abs(len(split.X_test) / len(frame) - 0.3) < 0.05  # 1,000 draws: 3.5 sd is 0.05


def test_dask_group_split_hands_the_training_groups_to_the_cross_fitting(tmp_path):
    """The Dask runner's distill passes ``groups_train`` to fit_distributed, whose folds
    keep groups apart (tests/test_distributed.py); here: the groups are the training rows'."""
    pytest.importorskip("distributed")
    from riskkd.datasets import load_german_credit
    from riskkd.pipeline import runner_for

    frame = load_german_credit().frame
    frame["customer"] = np.random.default_rng(0).integers(0, 300, len(frame))
    frame.to_parquet(tmp_path / "loans.parquet")
    raw = {
        "name": "loans",
        "data": {"path": str(tmp_path / "loans.parquet"), "target": "creditability"},
        "split": {"kind": "group", "column": "customer", "test_size": 0.3},
        "training": {"engine": "dask"},
        "mlflow": {"enabled": False},
    }
    runner = runner_for(load_config(raw))
    split = runner.split(runner.load())
    groups = split.groups_train.compute()
    assert groups.index.equals(split.X_train.compute().index)
    assert "customer" not in split.X_train.columns
    assert not set(groups) & set(frame.loc[split.X_test.index, "customer"])


def test_an_unusable_tracking_store_fails_before_training(tmp_path):
    """A store whose driver is missing (or a server that is down) is found before the
    teacher trains, not after: nothing is loaded, trained or written."""
    from riskkd.pipeline import runner_for

    raw = {
        "name": "loans",
        "data": {"dataset": "german_credit"},
        "output": str(tmp_path / "runs"),
        "mlflow": {"tracking_uri": "unknownscheme://127.0.0.1:1/db"},
    }
    runner = runner_for(load_config(raw))
    with pytest.raises(RuntimeError, match=r"mlflow\.tracking_uri: the tracking store "
                       r"'unknownscheme://127\.0\.0\.1:1/db' cannot be opened"):  # fmt: skip
        runner.run()
    assert runner.timings == {} and not (tmp_path / "runs").exists()
    raw["mlflow"]["tracking_uri"] = "http://127.0.0.1:9"  # nothing listens: refused at once
    with pytest.raises(RuntimeError, match=r"'http://127\.0\.0\.1:9' cannot be opened"):
        runner_for(load_config(raw)).run()
    # A misspelt SQLite URL, an experiment deleted in the store and an output that is a file
    # failed only after the training.
    raw["mlflow"]["tracking_uri"] = f"sqlite:/{tmp_path}/mlflow.db"  # sqlite://tmp/...: a host
    with pytest.raises(RuntimeError, match=r"sqlite://.* cannot be opened \(ArgumentError"):
        runner_for(load_config(raw)).run()
    assert not (tmp_path / "mlflow.db").exists()
    import mlflow

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = mlflow.MlflowClient(uri)
    client.delete_experiment(client.create_experiment("loans"))
    raw["mlflow"]["tracking_uri"] = uri
    with pytest.raises(RuntimeError, match=r"mlflow\.experiment: 'loans' is deleted in "):
        runner_for(load_config(raw)).run()
    (tmp_path / "file").write_text("")
    raw.update(output=str(tmp_path / "file" / "runs"), mlflow={"enabled": False})
    runner = runner_for(load_config(raw))
    with pytest.raises(ValueError, match=r"output: '.*file/runs' cannot hold run folders: "):
        runner.run()
    assert runner.timings == {}


def test_the_report_says_how_each_engine_splits():
    """The Dask engine's "stratified" split is a seeded hash draw (694 / 306 rows of 1,000 in
    a probe); its report called it stratified."""
    from riskkd.pipeline import runner_for

    local = runner_for(load_config(base()))
    dask = runner_for(load_config(base(training={"engine": "dask"})))
    assert local.describe_split() == "stratified: test_size=0.3, seed=0"
    assert dask.describe_split().startswith("random by a seeded hash of each row")


def test_run_folders_are_reserved(tmp_path, monkeypatch):
    """Two runs ending in the same second (two processes) picked one folder name: the
    second's rename failed after its alias had moved, and its folder was deleted."""
    from riskkd.pipeline import _runner, runner_for

    monkeypatch.setattr(_runner.time, "strftime", lambda _: "20261129-120000")
    runner = runner_for(load_config({**base(), "output": str(tmp_path)}))
    first, staging = runner._run_dir()
    assert staging.is_dir() and staging.name == f".{first.name}.partial"
    second, _ = runner._run_dir()  # the first still staging: its name is taken
    assert second.name == first.name + "-2"
    (tmp_path / (first.name + "-3")).mkdir()  # a finished run's folder
    assert runner._run_dir()[0].name == first.name + "-4"


def test_dask_engine_refuses_a_teacher_it_cannot_distribute_and_samples():
    (line,) = problems(
        base(training={"engine": "dask"}, teacher={"kind": "hist_gradient_boosting"})
    )
    assert line.startswith("training.engine: 'dask' trains 'lightgbm' or 'xgboost' teachers")
    (line,) = problems(
        base(training={"engine": "dask"}, data={"dataset": "german_credit", "n_rows": 100})
    )
    assert line.startswith("data.n_rows: sampling is for trying a pipeline in memory")


def test_dask_settings_with_the_local_engine_are_refused():
    """A scheduler given without ``engine: dask`` trained in this process, silently."""
    (line,) = problems(base(training={"scheduler": "tcp://127.0.0.1:8786"}))
    assert line == (
        "training.scheduler: 'tcp://127.0.0.1:8786' is used by training.engine 'dask' only, "
        "and the engine is 'local'; set training.engine: dask, or remove it"
    )
    (line,) = problems(base(training={"max_student_rows": 1000}))
    assert line.startswith("training.max_student_rows: 1000 is used by training.engine 'dask'")
    # Their defaults, written out, are no mistake.
    load_config(base(training={"scheduler": None, "n_workers": 2}))
    load_config(base(training={"engine": "dask", "n_partitions": 4}))


def test_docstring_examples():
    import riskkd.pipeline as package

    for module in (_config, _build, _data, package):
        failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert failures == 0, module.__name__


def test_config_is_frozen():
    config = PipelineConfig.model_validate(base())
    with pytest.raises(Exception, match="frozen"):
        config.seed = 3
