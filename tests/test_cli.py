"""The ``riskkd`` command line through typer's CliRunner: every command, its exit codes and
its help, on real (small) models and data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from riskkd import DistilledClassifier, save
from riskkd.cli import EXIT_CODES, EXIT_FAILURE, app
from riskkd.datasets import DATASETS, load_credit_data

from .conftest import fast_teacher, fast_tree, make_risk_frame

pytest.importorskip("mlflow")

ROOT = Path(__file__).resolve().parents[1]
CREDIT = str(ROOT / "pipelines" / "credit_scoring.yaml")
runner = CliRunner()


@pytest.fixture(autouse=True)
def _restore_mlflow_state(monkeypatch):
    """Runs set the process's tracking URI and experiment: restore them after each test."""
    from mlflow.tracking import fluent
    from mlflow.tracking._tracking_service import utils as tracking_utils

    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
    monkeypatch.setattr(fluent, "_active_experiment_id", fluent._active_experiment_id)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(name, raising=False)


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def small(tmp_path: Path, *extra: str) -> list[str]:
    """``--set`` overrides that shrink credit_scoring to seconds (tree student, 2 folds)."""
    sets = [
        "data.n_rows=1000",
        "distillation.cv=2",
        "distillation.student=tree",
        "teacher.params={n_estimators: 200, learning_rate: 0.1}",
        "teacher.early_stopping_rounds=20",
        "training.n_jobs=1",
        f"mlflow.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}",
        f"output={tmp_path / 'artifacts'}",
        *extra,
    ]
    return [item for s in sets for item in ("--set", s)]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tree student distilled on 1,200 credit rows by `riskkd distill`."""
    folder = tmp_path_factory.mktemp("cli") / "credit-model"
    data = tmp_path_factory.getbasetemp() / "credit.csv"
    load_credit_data().frame.sample(1200, random_state=0).assign(application_id=range(1200)).to_csv(
        data, index=False
    )
    result = invoke(
        "distill", "--data", data, "--target", "Status", "--drop", "application_id",
        "--student", "tree", "--cv", "2", "--output", folder, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture(scope="module")
def holdout(tmp_path_factory):
    """Credit rows with an id column, as a CSV file."""
    path = tmp_path_factory.mktemp("data") / "holdout.csv"
    frame = load_credit_data().frame.sample(500, random_state=1)
    frame.assign(application_id=range(500)).to_csv(path, index=False)
    return path


# ---------------------------------------------------------------------- help
def test_help_lists_commands_examples_and_exit_codes():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("run", "distill", "evaluate", "report", "score", "datasets"):
        assert command in result.output
    assert "riskkd run pipelines/credit_scoring.yaml" in result.output
    for code, meaning in EXIT_CODES.items():
        assert f"{code} {meaning[:20]}" in result.output


@pytest.mark.parametrize("command", ["run", "distill", "evaluate", "report", "score", "datasets"])
def test_each_command_has_help_with_an_example(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert f"riskkd {command}" in result.output  # the Examples epilog
    assert "--quiet" in result.output


def test_score_has_exactly_the_documented_flags():
    output = invoke("score", "--help").output
    for flag in (
        "--model", "--input", "--output", "--id-cols", "--chunk-rows", "--engine",
        "--scheduler", "--resume", "--fail-fast",
    ):  # fmt: skip
        assert flag in output


def test_no_arguments_shows_help_and_unknown_options_are_usage_errors():
    assert invoke().exit_code == 2
    assert invoke("run", CREDIT, "--no-such-flag").exit_code == 2


# ---------------------------------------------------------------------- datasets
def test_datasets_lists_every_bundled_dataset():
    result = invoke("datasets")  # not a terminal, as when piped: rich cut cells to fit 80
    assert result.exit_code == 0
    for name in DATASETS:
        assert name in result.output
    assert "4,454" in result.output and "Status" in result.output  # credit rows and target
    assert "…" not in result.output
    assert "A / B / C / D / E / F / G" in result.output and "time (Year)" in result.output


# ---------------------------------------------------------------------- run
def test_run_with_a_bad_key_is_a_config_error(tmp_path):
    result = invoke("run", CREDIT, "--set", "split.kind=random")
    assert result.exit_code == 2
    assert "split.kind: 'random' is not one of 'time', 'group', 'stratified'" in result.output
    result = invoke("run", CREDIT, "--set", "distillation.studnet=tree")
    assert result.exit_code == 2 and "Did you mean 'student'?" in result.output
    result = invoke("run", tmp_path / "missing.yaml")
    assert result.exit_code == 2 and "does not exist" in result.output


def test_run_prints_the_fidelity_table_and_the_report_path(tmp_path):
    result = invoke("run", CREDIT, *small(tmp_path, 'mlflow.gates={auc_retention: [">=", 0.5]}'))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Fidelity on the test split (300 rows)" in out
    for metric in ("roc_auc", "ece", "auc_retention", "decision_agreement"):
        assert metric in out
    (report_line,) = [line for line in out.splitlines() if line.startswith("report: ")]
    assert Path(report_line.removeprefix("report: ")).is_file()
    assert "credit-scoring version 1 promoted: models:/credit-scoring@champion" in out
    assert "done distill" in result.stderr  # progress goes to stderr


def test_sigterm_ends_the_run_failed_and_leaves_no_partial_output(tmp_path):
    """``kill`` (a scheduler's timeout) during the MLflow step killed the process outright:
    its run stayed RUNNING for good (and promote took it) and the staging folder stayed."""
    import json
    import subprocess
    import sys

    from mlflow import MlflowClient

    script = f"""
import os, signal, sys
import mlflow
from riskkd import cli
real = mlflow.log_params
def log_params(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)  # delivered during the run's logging
    return real(*args, **kwargs)
mlflow.log_params = log_params
sys.argv = ["riskkd", "run", {CREDIT!r}, *{json.dumps(small(tmp_path))}]
cli.main()
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == EXIT_FAILURE, done.stderr
    assert "interrupted" in done.stderr
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.info.status == "FAILED"
    assert list((tmp_path / "artifacts").rglob("*.partial")) == []


def test_run_exits_3_when_the_gates_refuse_a_required_promotion(tmp_path):
    gates = 'mlflow.gates={auc_retention: [">=", 1.5]}'
    result = invoke(
        "run", CREDIT, "--quiet", "--require-promotion",
        *small(tmp_path / "strict", gates, "report.path=null"),
    )  # fmt: skip
    assert result.exit_code == 3
    assert result.stdout == ""  # --quiet: nothing but errors
    # The reason, and not MLflow's registry notes ("Created version ...").
    assert result.stderr.startswith("error: credit-scoring version 1 NOT promoted: auc_retention")
    assert "Created version" not in result.stderr
    # Without --require-promotion a refused promotion is reported, and the run succeeded.
    result = invoke("run", CREDIT, *small(tmp_path / "lenient", gates, "report.path=null"))
    assert result.exit_code == 0
    assert "NOT promoted to @champion" in result.stdout
    assert "auc_retention" in result.stdout.split("NOT promoted")[1]


def test_require_promotion_without_mlflow_is_a_usage_error(tmp_path):
    args = small(tmp_path / "off", "mlflow.enabled=false")
    for quiet in ([], ["--quiet"]):  # --quiet swallowed the message
        result = invoke("run", CREDIT, "--require-promotion", *args, *quiet)
        assert result.exit_code == 2  # before training: nothing could ever be promoted
        assert "--require-promotion needs the MLflow registry" in result.stderr
    assert not (tmp_path / "off" / "artifacts").exists()


def test_run_exits_1_on_a_broken_data_contract(tmp_path):
    frame = load_credit_data().frame
    frame.loc[3, "Age"] = 7
    frame.to_csv(tmp_path / "bad.csv", index=False)
    config = tmp_path / "bad.yaml"
    config.write_text(
        f"name: bad\ndata: {{path: {tmp_path / 'bad.csv'}, target: Status}}\n"
        "contract: credit_application\n"
        f"output: {tmp_path / 'out'}\n"
    )
    result = invoke("run", config, "--quiet")
    assert result.exit_code == 1
    assert "SchemaValidationError" in result.stderr and "column 'Age'" in result.stderr
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------- distill / evaluate / report
def test_distill_saved_a_loadable_model(model_dir):
    import riskkd

    model = riskkd.load(model_dir)
    assert "application_id" not in model.feature_names_in_
    assert type(model.student_).__name__ == "TreeStudent"


def test_distill_prints_the_table_and_refuses_an_existing_folder(model_dir, tmp_path):
    result = invoke("distill", "--dataset", "german_credit", "--student", "tree", "--cv", "2",
                    "--output", tmp_path / "german")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Fidelity on 300 held-out rows" in result.stdout
    assert (tmp_path / "german" / "manifest.json").is_file()
    again = invoke("distill", "--dataset", "german_credit", "--output", model_dir)
    assert again.exit_code == 2 and "already exists" in again.output
    neither = invoke("distill", "--output", tmp_path / "x")
    assert neither.exit_code == 2 and "give exactly one of --dataset NAME" in neither.output
    typo = invoke("distill", "--dataset", "german", "--output", tmp_path / "x")
    assert typo.exit_code == 2 and "Did you mean 'german_credit'?" in typo.output
    teacher = invoke("distill", "--dataset", "german_credit", "--teacher", "catboost",
                     "--output", tmp_path / "x")  # fmt: skip
    assert teacher.exit_code == 2 and "--teacher 'catboost' is not one of" in teacher.output
    # Usage errors name the flag the user typed, not the pipeline-config key behind it.
    student = invoke("distill", "--dataset", "german_credit", "--student", "trees",
                     "--output", tmp_path / "x")  # fmt: skip
    assert student.exit_code == 2 and "--student 'trees' is not one of" in student.output
    assert "Did you mean 'tree'?" in student.output
    contract = invoke("distill", "--dataset", "german_credit", "--contract", "credit",
                      "--output", tmp_path / "x")  # fmt: skip
    assert contract.exit_code == 2 and "--contract: 'credit' is neither" in contract.output
    assert not (tmp_path / "x").exists()
    (tmp_path / "notes.txt").write_text("a file")  # refused before training, not after
    under_file = invoke("distill", "--dataset", "german_credit", "--output",
                        tmp_path / "notes.txt" / "model")  # fmt: skip
    assert under_file.exit_code == 2 and "is a file, not a folder" in under_file.output


def test_distill_on_all_rows(tmp_path):
    result = invoke("distill", "--dataset", "german_credit", "--student", "tree", "--cv", "2",
                    "--test-size", "0", "--output", tmp_path / "m")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Fidelity" not in result.stdout
    assert "(trained on 1,000 rows)" in result.stdout


def test_evaluate_prints_the_fidelity_table(model_dir, holdout, tmp_path):
    csv = tmp_path / "tables" / "fidelity.csv"  # a new folder (an OSError after the work)
    result = invoke("evaluate", "--model", model_dir, "--data", holdout, "--target", "Status",
                    "--drop", "application_id", "--csv", csv)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "(500 rows)" in result.stdout and "auc_retention" in result.stdout
    table = pd.read_csv(csv, index_col=0)
    assert 0.5 < table.loc["roc_auc", "student"] <= 1


def test_evaluate_errors(model_dir, holdout, tmp_path):
    missing = invoke("evaluate", "--model", tmp_path / "nope", "--dataset", "german_credit")
    assert missing.exit_code == 2 and "no such folder" in missing.output
    # German credit has none of the credit model's columns: a data error, exit 1.
    wrong = invoke("evaluate", "--model", model_dir, "--dataset", "german_credit")
    assert wrong.exit_code == 1 and "Seniority" in wrong.output
    no_target = invoke("evaluate", "--model", model_dir, "--data", holdout)
    assert no_target.exit_code == 2 and "needs --target COLUMN" in no_target.output


def test_evaluate_refuses_data_it_cannot_judge(model_dir, holdout, tmp_path):
    frame = pd.read_csv(holdout)
    frame[frame["Status"] == 0].to_csv(tmp_path / "good.csv", index=False)
    one = invoke("evaluate", "--model", model_dir, "--data", tmp_path / "good.csv",
                 "--target", "Status", "--drop", "application_id")  # fmt: skip
    assert one.exit_code == 1 and "'Status' holds one class ([0])" in one.output
    for threshold in ("0", "1"):  # every decision alike: agreement 1.0 by construction
        edge = invoke("evaluate", "--model", model_dir, "--dataset", "credit_data_belanche",
                      "--threshold", threshold)  # fmt: skip
        assert edge.exit_code == 2
    # A repeated column: pandas renamed the second "Amount.1" and the model used the first.
    text = holdout.read_text().splitlines()
    (tmp_path / "twice.csv").write_text(
        "\n".join([text[0] + ",Amount", *(line + ",1" for line in text[1:])])
    )
    twice = invoke("evaluate", "--model", model_dir, "--data", tmp_path / "twice.csv",
                   "--target", "Status", "--drop", "application_id")  # fmt: skip
    assert twice.exit_code == 1 and "['Amount'] more than once" in twice.output
    frame.to_csv(tmp_path / "semi.csv", index=False, sep=";")
    semi = invoke("evaluate", "--model", model_dir, "--data", tmp_path / "semi.csv",
                  "--target", "Status")  # fmt: skip
    assert semi.exit_code == 1 and "looks ';'-separated" in semi.output


def test_threshold_is_refused_for_a_multi_class_model(tmp_path):
    X, y = make_risk_frame(300, n_classes=3)
    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=2, random_state=0).fit(X, y)
    save(model, tmp_path / "grades")
    X.assign(grade=y).to_csv(tmp_path / "grades.csv", index=False)
    judged = ("--model", tmp_path / "grades", "--data", tmp_path / "grades.csv",
              "--target", "grade")  # fmt: skip
    # The top-class agreement takes no threshold: a given one would be silently ignored.
    for command in (("evaluate",), ("report", "--output", tmp_path / "grades.html")):
        refused = invoke(*command, *judged, "--threshold", "0.3")
        assert refused.exit_code == 2, refused.output
        assert "--threshold 0.3 applies to binary models" in refused.output
        assert "3 classes (A, B, C)" in refused.output
    assert not (tmp_path / "grades.html").exists()
    assert invoke("evaluate", *judged).exit_code == 0


def test_report_writes_a_self_contained_page(model_dir, holdout, tmp_path):
    page = tmp_path / "credit.html"
    result = invoke("report", "--model", model_dir, "--data", holdout, "--target", "Status",
                    "--title", "Credit review", "--output", page, "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert "Credit review" in html and "data:image/png;base64," in html
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")


# ---------------------------------------------------------------------- score
def test_score_end_to_end(model_dir, holdout, tmp_path):
    out = tmp_path / "scores"
    result = invoke("score", "--model", model_dir, "--input", holdout, "--output", out,
                    "--id-cols", "application_id", "--chunk-rows", "150")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "500 rows in = 500 scored + 0 rejected (reconciled)" in result.stdout
    scores = _read_parts(out)
    assert sorted(scores["application_id"].astype(int)) == list(range(500))
    # Resuming a finished job keeps every part and scores nothing twice.
    again = invoke("score", "--model", model_dir, "--input", holdout, "--output", out,
                   "--id-cols", "application_id", "--chunk-rows", "150", "--resume")  # fmt: skip
    assert again.exit_code == 0 and "500 rows in = 500 scored" in again.stdout
    assert "0 parts written, 4 kept from an earlier run" in again.stdout
    assert len(_read_parts(out)) == 500


def _read_parts(folder: Path) -> pd.DataFrame:
    parts = sorted(p for p in folder.rglob("*.parquet") if "_rejects" not in p.parts)
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def test_score_sends_bad_rows_to_rejects(model_dir, holdout, tmp_path):
    frame = pd.read_csv(holdout)
    frame["Age"] = frame["Age"].astype(object)
    frame.loc[[4, 9], "Age"] = ["12,5", "abc"]
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    result = invoke("score", "--model", model_dir, "--input", bad, "--output", tmp_path / "s",
                    "--id-cols", "application_id")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "500 rows in = 498 scored + 2 rejected (reconciled)" in result.stdout
    stopped = invoke("score", "--model", model_dir, "--input", bad, "--output", tmp_path / "f",
                     "--id-cols", "application_id", "--fail-fast")  # fmt: skip
    assert stopped.exit_code == 1 and "Age" in stopped.output


def test_score_usage_errors(model_dir, holdout, tmp_path):
    engine = invoke("score", "--model", model_dir, "--input", holdout, "--output", tmp_path / "o",
                    "--engine", "spark")  # fmt: skip
    assert engine.exit_code == 2 and "'local', 'dask'" in engine.output
    missing = invoke("score", "--model", model_dir, "--input", tmp_path / "none.csv",
                     "--output", tmp_path / "o")  # fmt: skip
    assert missing.exit_code == 2 and "does not exist" in missing.output
    no_model = invoke("score", "--model", tmp_path / "nope", "--input", holdout,
                      "--output", tmp_path / "o")  # fmt: skip
    assert no_model.exit_code == 2 and "no such folder" in no_model.output
    scheduler = invoke("score", "--model", model_dir, "--input", holdout, "--output",
                       tmp_path / "o", "--scheduler", "tcp://127.0.0.1:8786")  # fmt: skip
    assert scheduler.exit_code == 2 and "needs --engine dask" in scheduler.output
    twice = invoke("score", "--model", model_dir, "--input", holdout, "--output",
                   tmp_path / "o", "--id-cols", "application_id,application_id")  # fmt: skip
    assert twice.exit_code == 2 and "names a column twice" in twice.output
    assert not (tmp_path / "o").exists()
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("someone else's")
    used = invoke("score", "--model", model_dir, "--input", holdout, "--output",
                  tmp_path / "used")  # fmt: skip
    assert used.exit_code == 2 and "is not empty" in used.output and "--resume" in used.output
    assert [p.name for p in (tmp_path / "used").iterdir()] == ["notes.txt"]


def test_score_a_registered_model_on_dask(tmp_path, holdout, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = invoke("run", CREDIT, "--quiet", *small(tmp_path, "mlflow.gates={}", "report.path=null"))
    assert run.exit_code == 0, run.output
    local = invoke("score", "--model", "models:/credit-scoring@champion", "--input", holdout,
                   "--output", tmp_path / "local", "--id-cols", "application_id")  # fmt: skip
    assert local.exit_code == 0, local.output
    assert "; model credit-scoring/1;" in local.stdout  # the registered version scored
    dask = invoke("score", "--model", "models:/credit-scoring@champion", "--input", holdout,
                  "--output", tmp_path / "dask", "--id-cols", "application_id",
                  "--engine", "dask", "--chunk-rows", "200", "--quiet")  # fmt: skip
    assert dask.exit_code == 0, dask.output
    by_id = [_read_parts(tmp_path / name).set_index("application_id").sort_index()
             for name in ("local", "dask")]  # fmt: skip
    pd.testing.assert_frame_equal(by_id[0], by_id[1])
    # A name the store lacks says which store was searched.
    missing = invoke("evaluate", "--model", "models:/credit-scorin@champion", "--dataset",
                     "credit_data_belanche")  # fmt: skip
    assert missing.exit_code == 1 and f"looked up in the tracking store sqlite:///{tmp_path}" in (
        missing.output.replace("\n", "")
    )


def test_a_registered_model_without_a_store_names_where_it_looked(tmp_path, monkeypatch):
    """From another folder, models:/ URIs found no ./mlflow.db, said only "not found" and
    left an empty mlflow.db behind."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    result = invoke("evaluate", "--model", "models:/credit@champion", "--dataset", "german_credit")
    assert result.exit_code == 2 and "mlflow.db" in result.output
    assert "does not exist" in result.output and not (tmp_path / "mlflow.db").exists()


def test_run_a_parquet_file_with_a_group_split_and_without_mlflow(tmp_path):
    import numpy as np

    from riskkd.datasets import load_german_credit

    frame = load_german_credit().frame.assign(customer=np.arange(1000) % 300)
    frame.to_parquet(tmp_path / "loans.parquet")
    config = tmp_path / "loans.yaml"
    config.write_text(
        "name: loans\n"
        f"data: {{path: {tmp_path / 'loans.parquet'}, target: creditability}}\n"
        "split: {kind: group, column: customer, test_size: 0.25}\n"
        "teacher: {kind: xgboost, params: {n_estimators: 300, learning_rate: 0.2}}\n"
        "distillation: {student: tree, cv: 2}\n"
        "mlflow: {enabled: false}\n"
        f"output: {tmp_path / 'out'}\n"
    )
    result = invoke("run", config)
    assert result.exit_code == 0, result.output
    assert "8/8" in result.stderr  # the bar counts only the steps that run
    assert "MLflow" not in result.stdout
    (run_dir,) = (tmp_path / "out").iterdir()
    saved = pd.read_csv(run_dir / "fidelity.csv", index_col=0)
    # 300 customers, a quarter of them in the test set: about 250 of the 1,000 rows.
    assert 200 <= int(result.stdout.split("test split (")[1].split(" rows")[0]) <= 300
    # A depth-6 tree on ~750 rows keeps most of the teacher's ranking but not all of it;
    # 0.8 only says that it learned from the teacher rather than from noise.
    assert saved.loc["auc_retention", "student"] > 0.8
