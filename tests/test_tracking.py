"""MLflow tracking, flavor and registry: riskkd.tracking (alias riskkd.mlflow)."""

from __future__ import annotations

import pytest

# The MLflow integration is an optional extra: skip, do not fail, without it.
pytest.importorskip("mlflow")
pytest.importorskip("matplotlib")

import base64
import json
import math
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.tracking import fluent
from mlflow.tracking._tracking_service import utils as tracking_utils
from sklearn.datasets import make_classification
from threadpoolctl import threadpool_limits

import riskkd
import riskkd.mlflow
import riskkd.tracking as tracking
from riskkd import DistilledClassifier
from riskkd.report import evaluate
from riskkd.tracking._autolog import _state as autolog_state
from riskkd.tracking._registry import evaluate_gates

from .conftest import fast_mlp, fast_teacher, fast_tree, make_risk_frame

PLOTS = {
    "reliability_teacher.png",
    "reliability_student.png",
    "roc_curve.png",
    "pr_curve.png",
    "score_scatter.png",
    "score_distribution.png",
}
HISTORY_METRICS = {
    "student_train_loss",
    "student_val_loss",
    "student_val_kl_to_teacher",
    "student_val_teacher_agreement",
}
REGISTERED = "riskkd-test-risk"
# Subprocesses share 2 cores with the test process (and maybe a benchmark): one thread each.
SUBPROCESS_THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextmanager
def tracking_at(folder: Path | None = None, uri: str | None = None) -> Iterator[str]:
    """Point MLflow at ``sqlite:///<folder>/mlflow.db`` (artifacts under ``folder``) or at
    ``uri``; restore the tracking URI, active experiment and environment afterwards."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
        mp.setattr(fluent, "_active_experiment_id", fluent._active_experiment_id)
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID"):
            mp.delenv(name, raising=False)
        uri = uri or f"sqlite:///{folder}/mlflow.db"
        mlflow.set_tracking_uri(uri)
        if folder is not None:
            experiment = mlflow.create_experiment(
                "riskkd-tests", artifact_location=(folder / "artifacts").as_uri()
            )
            mlflow.set_experiment(experiment_id=experiment)
        try:
            yield uri
        finally:
            while mlflow.active_run() is not None:
                mlflow.end_run()


def subprocess_env(uri: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return {**env, **SUBPROCESS_THREADS, "MLFLOW_TRACKING_URI": uri}


def serving_frame(X: pd.DataFrame) -> pd.DataFrame:
    """``X`` as it arrives in a CSV file or a JSON request: categoricals as plain values."""
    return X.astype({"job": object})


@pytest.fixture(scope="module")
def binary():
    """An MLP distillation (so ``history_`` is not empty) and held-out rows."""
    X, y = make_risk_frame(600, seed=0)
    X_val, y_val = make_risk_frame(300, seed=1)
    model = DistilledClassifier(fast_teacher(), fast_mlp(max_epochs=8), cv=3, random_state=0).fit(
        X, y
    )
    return model, X, y, X_val, y_val


@pytest.fixture(scope="module")
def logged(binary, tmp_path_factory):
    """One logged and registered distillation: (tracking URI, run id, artifacts folder)."""
    model, X, _, X_val, y_val = binary
    folder = tmp_path_factory.mktemp("tracking")
    with tracking_at(folder) as uri:
        run_id = tracking.log_distillation(
            model,
            X_val,
            y_val,
            run_name="distil",
            dataset_name="synthetic-risk",
            X_train=X,
            registered_model_name=REGISTERED,
        )
    artifacts = Path(MlflowClient(uri).download_artifacts(run_id, "", str(folder / "downloaded")))
    return uri, run_id, artifacts


@pytest.fixture(scope="module")
def champion(logged):
    """Version 1 promoted to ``champion`` with gates it passes (the tiny test student is far
    from production quality; the default gates are exercised separately)."""
    uri, run_id, _ = logged
    client = MlflowClient(uri)
    metrics = client.get_run(run_id).data.metrics
    gates = {
        "auc_retention": (">=", metrics["auc_retention"] - 0.01),
        "ece_gap": ("<=", metrics["ece_gap"] + 0.01),
    }
    version = tracking.promote(REGISTERED, 1, gates=gates, client=client)
    return uri, version


# ---------------------------------------------------------------------- log_distillation
def test_log_distillation_params_and_data_hash(binary, logged):
    model, X, *_ = binary
    uri, run_id, _ = logged
    run = MlflowClient(uri).get_run(run_id)
    params, tags = run.data.params, run.data.tags
    assert tags["mlflow.runName"] == "distil"
    assert params["teacher_class"] == "riskkd.teachers.LightGBMTeacher"
    assert params["teacher.n_estimators"] == "60"
    assert params["student_class"] == "riskkd.students._mlp.MLPStudent"
    assert params["student.max_epochs"] == "8"
    for name in ("calibration", "temperature", "alpha", "loss", "cv", "random_state"):
        assert params[name] == str(getattr(model, name))
    assert params["calibration_method"] == "sigmoid"
    # What "auto" and the early-stopping bound resolved to.
    assert params["alpha_used"] == str(
        model.student_.default_alpha if model.alpha == "auto" else float(model.alpha)
    )
    assert params["teacher.n_trees_used"] == str(model.teacher_.fitted_estimator.n_trees_)
    assert params["n_synthetic"] == str(model.n_synthetic_)
    assert params["dataset_name"] == "synthetic-risk"
    for library in ("riskkd", "sklearn", "lightgbm", "xgboost", "torch"):
        assert params[f"{library}_version"]
    digest = tracking.hash_training_data(X)
    assert params["training_data_sha256"] == digest
    assert tags["riskkd.training_data_sha256"] == digest


def test_log_distillation_metrics_match_fidelity_report(binary, logged):
    model, _, _, X_val, y_val = binary
    uri, run_id, _ = logged
    metrics = MlflowClient(uri).get_run(run_id).data.metrics
    report = riskkd.fidelity_report(model, X_val, y_val)
    for metric in ("roc_auc", "pr_auc", "ks", "brier", "log_loss", "ece", "size_bytes"):
        assert metrics[f"teacher_{metric}"] == pytest.approx(report.loc[metric, "teacher"])
        assert metrics[f"student_{metric}"] == pytest.approx(report.loc[metric, "student"])
    for metric in ("auc_retention", "rank_correlation", "decision_agreement", "size_ratio"):
        assert metrics[metric] == pytest.approx(report.loc[metric, "student"])
    ece = report.loc["ece"]
    assert metrics["ece_gap"] == pytest.approx(ece["student"] - ece["teacher"])
    for who in ("student", "teacher"):
        for batch in ("1row", "1000rows"):
            assert metrics[f"{who}_latency_{batch}_ms"] > 0


def test_log_distillation_history_as_step_metrics(binary, logged):
    model, *_ = binary
    uri, run_id, _ = logged
    client = MlflowClient(uri)
    assert HISTORY_METRICS <= set(client.get_run(run_id).data.metrics)
    for name in HISTORY_METRICS:
        history = client.get_metric_history(run_id, name)
        key = name.removeprefix("student_")
        assert [m.step for m in history] == [e["epoch"] for e in model.history_]
        assert [m.value for m in history] == pytest.approx([e[key] for e in model.history_])


def test_log_distillation_artifacts(binary, logged):
    model, *_ = binary
    _, _, artifacts = logged
    assert {"fidelity_report.json", "fidelity_report.html", "input_schema.json"} <= {
        p.name for p in artifacts.iterdir()
    }
    assert {p.name for p in (artifacts / "plots").iterdir()} == PLOTS
    for png in (artifacts / "plots").iterdir():
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    report = json.loads((artifacts / "fidelity_report.json").read_text())
    assert report["classes"] == [0, 1]
    assert report["fidelity"]["roc_auc"]["student"] > 0.5
    assert report["fidelity"]["auc_retention"]["teacher"] is None  # comparison row
    schema = json.loads((artifacts / "input_schema.json").read_text())
    assert schema["names"] == model.input_schema_.names
    assert schema["levels"]["job"] == model.input_schema_.levels["job"]


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        self.links += [v for k, v in attrs.items() if k in {"src", "href"} and v]


def test_html_report_is_self_contained(logged):
    _, _, artifacts = logged
    page = (artifacts / "fidelity_report.html").read_text(encoding="utf-8")
    parser = _Page()
    parser.feed(page)
    parser.close()
    assert {img["alt"] for img in parser.images} == PLOTS
    prefix = "data:image/png;base64,"
    for img in parser.images:
        assert img["src"].startswith(prefix)
        assert base64.b64decode(img["src"][len(prefix) :]).startswith(b"\x89PNG")
    assert all(link.startswith("data:") for link in parser.links)
    assert "http://" not in page and "https://" not in page
    assert "auc_retention" in page and "ece_gap" in page


def test_multiclass_one_vs_rest(tmp_path):
    X, y = make_risk_frame(500, n_classes=3, seed=2)
    X_val, y_val = make_risk_frame(300, n_classes=3, seed=3)
    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=3, random_state=0).fit(X, y)
    with tracking_at(tmp_path) as uri:
        run_id = tracking.log_distillation(model, X_val, y_val, log_model=False)
    client = MlflowClient(uri)
    metrics = client.get_run(run_id).data.metrics
    report = riskkd.fidelity_report(model, X_val, y_val)
    assert metrics["student_roc_auc"] == pytest.approx(report.loc["roc_auc", "student"])
    assert not HISTORY_METRICS & set(metrics)  # the tree student has no training history
    assert {a.path for a in client.list_artifacts(run_id, "plots")} == {
        f"plots/{name}" for name in PLOTS
    }
    assert not client.search_logged_models(
        experiment_ids=[client.get_run(run_id).info.experiment_id]
    )


def test_log_distillation_checks_arguments(binary):
    model, _, _, X_val, y_val = binary
    with pytest.raises(ValueError, match="registered_model_name='x' needs log_model=True"):
        tracking.log_distillation(model, X_val, y_val, log_model=False, registered_model_name="x")


# ---------------------------------------------------------------------- flavor
def test_save_model_pyfunc_and_riskkd_flavor(binary, tmp_path, monkeypatch):
    model, _, _, X_val, _ = binary
    path = tmp_path / "model"
    tracking.save_model(model, str(path), input_example=X_val, include_decision=True)
    assert not list(path.rglob("*.pkl")) and not list(path.rglob("*.pickle"))
    requirements = (path / "requirements.txt").read_text()
    assert "lightgbm==" in requirements and "torch" not in requirements
    assert (path / "code" / "riskkd" / "tracking" / "_flavor.py").is_file()

    def refuse(*args, **kwargs):
        raise AssertionError("loading a riskkd MLflow model must not unpickle anything")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    expected = model.predict_proba(X_val)
    loaded = tracking.load_model(str(path))
    assert isinstance(loaded, DistilledClassifier)
    np.testing.assert_array_equal(loaded.predict_proba(X_val), expected)

    pyfunc = mlflow.pyfunc.load_model(str(path))
    assert [c.name for c in pyfunc.metadata.get_input_schema().inputs] == list(X_val.columns)
    out = pyfunc.predict(serving_frame(X_val))
    assert list(out.columns) == ["proba_0", "proba_1", "decision"]
    np.testing.assert_array_equal(out[["proba_0", "proba_1"]].to_numpy(), expected)
    np.testing.assert_array_equal(out["decision"].to_numpy(), model.predict(X_val))


def test_pyfunc_accepts_every_input_the_model_scores(tmp_path):
    """The signature must not refuse rows riskkd scores: a missing value in a column that was
    integer in training (a CSV reads it as float), whole numbers in a float column (int64),
    the training frame's own ``category`` column, a batch whose column is all missing, rows
    without the example's id column."""
    X, y = make_risk_frame(300, seed=0)
    X = X.astype({"age": "int64"})
    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=3, random_state=0).fit(X, y)
    path = tmp_path / "model"
    # An id column in the example is not a model input: the signature leaves it out.
    tracking.save_model(model, str(path), input_example=X.assign(customer_id=np.arange(len(X))))
    pyfunc = mlflow.pyfunc.load_model(str(path))
    assert [c.name for c in pyfunc.metadata.get_input_schema().inputs] == list(X.columns)
    assert all(c.required for c in pyfunc.metadata.get_input_schema().inputs)

    batch = X.head(20).copy()
    batches = {
        "missing integer": batch.assign(age=batch["age"].astype(float).mask(batch.index < 5)),
        "whole numbers in a float column": batch.assign(
            income=batch["income"].fillna(0).round().astype("int64")
        ),
        "training dtypes": batch,
        "all missing": batch.assign(home=np.nan, note=np.nan),
        # Parquet and SQL give nullable columns; MLflow's enforcement of an any-typed
        # column hands them over as objects holding pd.NA (refused as "not numbers: []").
        "nullable dtypes": batch.astype({"age": "Int64", "income": "Float64"}).assign(
            age=lambda f: f["age"].mask(f.index < 5),
            records=batch["records"].astype("boolean").mask(batch.index % 3 == 0),
        ),
    }
    for name, rows in batches.items():
        out = pyfunc.predict(rows)
        np.testing.assert_array_equal(
            out[["proba_0", "proba_1"]].to_numpy(), model.predict_proba(rows), err_msg=name
        )
    # Types are still checked, by riskkd, with a message naming the column and the fix.
    with pytest.raises(ValueError, match=r"Column 'age' must be numeric.*pd\.to_numeric"):
        pyfunc.predict(batch.assign(age="n/a"))
    # And every column is still required.
    with pytest.raises(mlflow.exceptions.MlflowException, match=r"missing inputs.*'age'"):
        pyfunc.predict(batch.drop(columns="age"))


def test_array_fitted_model_reads_its_named_columns_by_name(tmp_path):
    """A model fitted on an array, saved without a signature, gets a frame whose columns are
    its own names in another order (a JSON client sorting keys): read by name, not position
    (0.38 against 0.15 before). A frame with other names is read by position, with a
    warning from the model."""
    X, y = make_classification(300, n_features=11, random_state=0)
    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=2, random_state=0).fit(X, y)
    tracking.save_model(model, str(tmp_path / "model"))
    pyfunc = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    frame = pd.DataFrame(X[:20], columns=[f"x{i}" for i in range(11)])
    shuffled = frame[sorted(frame.columns)]  # x0, x1, x10, x2, ...
    np.testing.assert_array_equal(pyfunc.predict(shuffled).to_numpy(), model.predict_proba(X[:20]))
    with pytest.warns(UserWarning, match="read by position, not by name"):
        pyfunc.predict(frame.set_axis([f"f{i}" for i in range(11)], axis=1))
    # With an input example (log_distillation and autolog always give one): arrays pass the
    # signature too (it named columns x0, x1 ..., and MLflow refused the array's 0, 1 ...).
    tracking.save_model(model, str(tmp_path / "example"), input_example=X[:5])
    pyfunc = mlflow.pyfunc.load_model(str(tmp_path / "example"))
    for rows in (X[:20], shuffled, pd.DataFrame(X[:20])):
        np.testing.assert_array_equal(pyfunc.predict(rows).to_numpy(), model.predict_proba(X[:20]))


def test_load_model_refuses_other_flavors(tmp_path):
    from mlflow.models import Model

    model = Model()
    model.add_flavor("sklearn", pickled_model="model.pkl")
    tmp_path.joinpath("other").mkdir()
    model.save(str(tmp_path / "other" / "MLmodel"))
    with pytest.raises(ValueError, match=r"has no 'riskkd' flavor \(it has \['sklearn'\]\)"):
        tracking.load_model(str(tmp_path / "other"))


def test_log_model_logs_teacher_and_links_it(logged):
    uri, run_id, _ = logged
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    models = {
        m.name: m for m in client.search_logged_models(experiment_ids=[run.info.experiment_id])
    }
    assert set(models) == {"model", "teacher"}
    teacher_uri = run.data.tags["riskkd.teacher_model_uri"]
    assert teacher_uri == f"models:/{models['teacher'].model_id}"
    assert models["model"].tags["riskkd.teacher_model_uri"] == teacher_uri
    with tracking_at(uri=uri):
        booster = mlflow.lightgbm.load_model(teacher_uri)
    assert booster.num_trees() > 0


def test_log_model_teacher_flavors(tmp_path):
    import xgboost as xgb
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = make_risk_frame(300, seed=9)
    xgb_teacher = xgb.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1)
    hgb_teacher = HistGradientBoostingClassifier(max_iter=20)
    # HistGradientBoosting has no n_jobs; one OpenMP thread avoids contention with torch's pool.
    with tracking_at(tmp_path), threadpool_limits(limits=1):
        model = DistilledClassifier(xgb_teacher, fast_tree(), cv=2, random_state=0).fit(X, y)
        with mlflow.start_run() as run:
            info = tracking.log_model(model, "model", input_example=X.head(3))
        teacher_uri = MlflowClient().get_run(run.info.run_id).data.tags["riskkd.teacher_model_uri"]
        assert info.model_uri != teacher_uri
        assert mlflow.xgboost.load_model(teacher_uri).num_boosted_rounds() == 20

        # HistGradientBoosting has no pickle-free format: the student alone is logged.
        model = DistilledClassifier(hgb_teacher, fast_tree(), cv=2, random_state=0).fit(X, y)
        with mlflow.start_run() as run, pytest.warns(UserWarning, match="no pickle-free MLflow"):
            info = tracking.log_model(model, "model")
        assert "riskkd.teacher_model_uri" not in MlflowClient().get_run(run.info.run_id).data.tags
        loaded = tracking.load_model(info.model_uri)
        assert loaded.teacher_ is None
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_student_only_log_model_keeps_the_teacher_beside_it(binary, tmp_path):
    model, X, *_ = binary
    with tracking_at(tmp_path), mlflow.start_run() as run:
        info = tracking.log_model(model, "model", student_only=True)
        teacher_uri = MlflowClient().get_run(run.info.run_id).data.tags["riskkd.teacher_model_uri"]
        loaded = tracking.load_model(info.model_uri)
        pyfunc = mlflow.pyfunc.load_model(info.model_uri)
        booster = mlflow.lightgbm.load_model(teacher_uri)
    assert loaded.teacher_ is None and booster.num_trees() > 0
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(
        pyfunc.predict(X.head(20))["proba_1"].to_numpy(), model.predict_proba(X.head(20))[:, 1]
    )


# ---------------------------------------------------------------------- registry
def test_registered_version_carries_fidelity_tags(binary, logged):
    _, X, *_ = binary
    uri, run_id, _ = logged
    client = MlflowClient(uri)
    version = client.get_model_version(REGISTERED, "1")
    metrics = client.get_run(run_id).data.metrics
    assert version.run_id == run_id
    assert version.tags["riskkd.teacher_run_id"] == run_id
    assert version.tags["riskkd.training_data_sha256"] == tracking.hash_training_data(X)
    assert version.tags["riskkd.teacher_model_uri"].startswith("models:/")
    for name in ("auc_retention", "ece_gap", "decision_agreement", "student_roc_auc"):
        assert float(version.tags[f"riskkd.{name}"]) == metrics[name]
    assert float(version.tags["riskkd.teacher_roc_auc"]) == metrics["teacher_roc_auc"]


def test_each_version_is_gated_on_its_own_figures(binary, tmp_path):
    """Two candidates evaluated and registered in turn in one run: the run's metrics are the
    last one's, so version 1 was judged on version 2's figures. And a model logged without
    its teacher is not tagged with the teacher the run logged for another model."""
    model, X, y, X_val, y_val = binary
    weak = DistilledClassifier(fast_teacher(), fast_tree(max_depth=1), cv=2, random_state=0)
    weak.fit(X, y)
    with tracking_at(tmp_path) as uri, mlflow.start_run():
        for candidate, teacher in ((weak, True), (model, False)):
            mlflow.log_metrics(evaluate(candidate, X_val, y_val).metrics())
            tracking.log_model(
                candidate, "model", registered_model_name="two", log_teacher_model=teacher
            )
        client = MlflowClient(uri)
        first, second = (client.get_model_version("two", v) for v in ("1", "2"))
        auc = [float(v.tags["riskkd.student_roc_auc"]) for v in (first, second)]
        assert auc[0] < auc[1]
        gates = {"student_roc_auc": (">=", (auc[0] + auc[1]) / 2)}
        with pytest.raises(tracking.FidelityGateError, match="student_roc_auc = "):
            tracking.promote("two", 1, gates=gates, client=client)
        tracking.promote("two", 2, gates=gates, client=client)
        assert "riskkd.teacher_model_uri" in first.tags
        assert "riskkd.teacher_model_uri" not in second.tags


def test_metric_names_lists_what_is_logged(logged):
    from riskkd.report._metrics import metric_names

    uri, run_id, _ = logged
    logged_names = set(MlflowClient(uri).get_run(run_id).data.metrics)
    history = ("student_train_", "student_val_")  # per-epoch history_ (see log_history)
    fidelity = {n for n in logged_names if not n.startswith(history)}
    assert fidelity and fidelity <= set(metric_names())


def test_promote_moves_alias(champion):
    uri, version = champion
    client = MlflowClient(uri)
    assert "champion" in version.aliases
    assert str(client.get_model_version_by_alias(REGISTERED, "champion").version) == "1"
    assert "riskkd.gates.champion" in client.get_model_version(REGISTERED, "1").tags


def test_promote_refuses_failing_gates(champion):
    uri, _ = champion
    client = MlflowClient(uri)
    gates = {
        "auc_retention": (">=", 1.5),
        "decision_agreement": (">=", 0.0),
        "latency_wish": ("<=", 1.0),
    }
    with pytest.raises(tracking.FidelityGateError) as error:
        tracking.promote(REGISTERED, 1, alias="strict", gates=gates, client=client)
    message = str(error.value)
    assert "2 fidelity gate(s) failed" in message
    assert "auc_retention = " in message and "(needs >= 1.5)" in message
    assert "latency_wish was not logged (needs <= 1)" in message
    assert "decision_agreement" not in message
    assert len(error.value.failures) == 2
    assert isinstance(error.value, ValueError)
    assert "strict" not in client.get_model_version(REGISTERED, "1").aliases


def test_version_of_a_failed_run_is_never_promoted(binary, tmp_path):
    model, *_ = binary
    with tracking_at(tmp_path) as uri:
        with pytest.raises(OSError, match="disk quota"), mlflow.start_run():
            tracking.log_model(model, "model", registered_model_name="failed-run")
            raise OSError("disk quota exceeded")  # a later step of the run fails
        client = MlflowClient(uri)
        with pytest.raises(tracking.FidelityGateError, match=r"run \w+ ended FAILED"):
            tracking.promote("failed-run", 1, gates={}, client=client)
        assert client.get_model_version("failed-run", "1").aliases == []


def test_version_of_a_run_that_never_ended_is_not_promoted(binary, tmp_path):
    """A job killed after registering (SIGKILL, a lost node) leaves its run RUNNING for
    good; promote took it as finished. Inside the run itself, a notebook may promote."""
    model, *_ = binary
    with tracking_at(tmp_path) as uri:
        client = MlflowClient(uri)
        with mlflow.start_run() as run:
            tracking.log_model(model, "model", registered_model_name="open-run")
            tracking.promote("open-run", 1, gates={}, client=client)  # its own active run
        killed = client.create_run(run.info.experiment_id)  # never ended, as a killed job's
        version = client.create_model_version(
            "open-run", f"runs:/{run.info.run_id}/model", run_id=killed.info.run_id
        )
        with pytest.raises(tracking.FidelityGateError, match=r"has not ended \(RUNNING\)"):
            tracking.promote("open-run", version.version, alias="late", gates={}, client=client)
        assert client.get_model_version("open-run", version.version).aliases == []
        client.set_terminated(killed.info.run_id, "FINISHED")
        tracking.promote("open-run", version.version, alias="late", gates={}, client=client)


def test_promote_default_gates(champion):
    uri, _ = champion
    client = MlflowClient(uri)
    version = client.get_model_version(REGISTERED, "1")
    metrics = client.get_run(version.run_id).data.metrics
    failures = evaluate_gates(metrics, tracking.DEFAULT_GATES)
    if failures:
        with pytest.raises(tracking.FidelityGateError) as error:
            tracking.promote(REGISTERED, 1, alias="default", client=client)
        assert error.value.failures == failures
    else:
        assert "default" in tracking.promote(REGISTERED, 1, alias="default", client=client).aliases


def test_default_gates_and_gate_validation():
    good = {"auc_retention": 0.999, "ece_gap": 0.004, "decision_agreement": 0.99}
    assert evaluate_gates(good, tracking.DEFAULT_GATES) == []
    bad = {**good, "ece_gap": 0.02, "decision_agreement": math.nan}
    assert evaluate_gates(bad, tracking.DEFAULT_GATES) == [
        "ece_gap = 0.02 (needs <= 0.01)",
        "decision_agreement = nan (needs >= 0.98)",
    ]
    with pytest.raises(ValueError, match=r"Gate 'auc_retention' is \('>', 0.9\)"):
        evaluate_gates(good, {"auc_retention": (">", 0.9)})
    with pytest.raises(TypeError, match="gates must be a dict"):
        evaluate_gates(good, [("auc_retention", ">=", 0.9)])


def test_load_champion_in_memory(binary, champion):
    model, _, _, X_val, _ = binary
    uri, _ = champion
    with tracking_at(uri=uri):
        loaded = tracking.load_model(f"models:/{REGISTERED}@champion")
    np.testing.assert_array_equal(loaded.predict_proba(X_val), model.predict_proba(X_val))


_FRESH_PROCESS = """
import json, sys
import mlflow, pandas as pd
X = pd.read_parquet(sys.argv[1])
out = mlflow.pyfunc.load_model(sys.argv[2]).predict(X)
out.to_parquet(sys.argv[3])
import riskkd
print(json.dumps({"riskkd": riskkd.__file__, "torch": "torch" in sys.modules,
                  "matplotlib": "matplotlib" in sys.modules}))
"""


def test_fresh_process_loads_champion(binary, champion, tmp_path):
    model, _, _, X_val, _ = binary
    uri, _ = champion
    serving_frame(X_val).to_parquet(tmp_path / "input.parquet")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _FRESH_PROCESS,
            str(tmp_path / "input.parquet"),
            f"models:/{REGISTERED}@champion",
            str(tmp_path / "output.parquet"),
        ],
        cwd=tmp_path,
        env=subprocess_env(uri),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads(result.stdout.strip().splitlines()[-1])
    # riskkd came from the model's own code copy (code_paths), and scoring never needed torch.
    assert "/artifacts/code/riskkd/" in info["riskkd"]
    assert not info["torch"] and not info["matplotlib"]
    out = pd.read_parquet(tmp_path / "output.parquet")
    assert list(out.columns) == ["proba_0", "proba_1"]
    # Same code, same weights, same input: the probabilities are identical.
    np.testing.assert_allclose(out.to_numpy(), model.predict_proba(X_val), rtol=0, atol=1e-12)


def test_mlflow_models_predict_cli(binary, champion, tmp_path):
    model, _, _, X_val, _ = binary
    uri, _ = champion
    X_val.to_csv(tmp_path / "input.csv", index=False)
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    result = subprocess.run(
        [
            str(mlflow_cli),
            "models",
            "predict",
            "-m",
            f"models:/{REGISTERED}@champion",
            "-i",
            str(tmp_path / "input.csv"),
            "-t",
            "csv",
            "-o",
            str(tmp_path / "output.json"),
            "--env-manager",
            "local",
        ],
        cwd=tmp_path,
        env=subprocess_env(uri),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads((tmp_path / "output.json").read_text())
    out = pd.DataFrame(payload["predictions"] if isinstance(payload, dict) else payload)
    assert list(out.columns) == ["proba_0", "proba_1"]
    # Exactly the in-memory probabilities of the same CSV rows ...
    expected = model.predict_proba(pd.read_csv(tmp_path / "input.csv"))
    np.testing.assert_allclose(out.to_numpy(), expected, rtol=0, atol=1e-12)
    # ... which match the original frame up to the CSV round trip of the float inputs,
    # amplified at most to a few float32 ulps of the student's output.
    np.testing.assert_allclose(out.to_numpy(), model.predict_proba(X_val), rtol=0, atol=1e-6)


# ---------------------------------------------------------------------- autolog
@pytest.fixture
def autolog_off():
    original = DistilledClassifier.fit
    yield original
    tracking.autolog(disable=True)
    assert DistilledClassifier.fit is original


def test_autolog_logs_fit_and_disable_restores(tmp_path, autolog_off):
    X, y = make_risk_frame(400, seed=4)
    with tracking_at(tmp_path) as uri:
        tracking.autolog()
        tracking.autolog()  # idempotent: fit is wrapped once
        assert DistilledClassifier.fit is not autolog_off
        assert DistilledClassifier.fit.__wrapped__ is autolog_off
        model = DistilledClassifier(fast_teacher(), fast_tree(), cv=2, random_state=0).fit(X, y)
        client = MlflowClient(uri)
        experiment = fluent._active_experiment_id
        runs = client.search_runs([experiment])
        assert len(runs) == 1
        run = runs[0]
        assert run.info.status == "FINISHED"
        assert run.data.params["student_class"].endswith("TreeStudent")
        assert run.data.params["training_data_sha256"] == tracking.hash_training_data(X)
        report = riskkd.fidelity_report(model, X, y)
        assert run.data.metrics["train_auc_retention"] == pytest.approx(
            report.loc["auc_retention", "student"]
        )
        assert "auc_retention" not in run.data.metrics  # no validation data at fit
        logged = {m.name: m for m in client.search_logged_models(experiment_ids=[experiment])}
        assert set(logged) == {"model", "teacher"}
        loaded = tracking.load_model(f"models:/{logged['model'].model_id}")
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))

        tracking.autolog(disable=True)
        assert DistilledClassifier.fit is autolog_off
        DistilledClassifier(fast_teacher(), fast_tree(), cv=2, random_state=0).fit(X, y)
        assert len(client.search_runs([experiment])) == 1


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_autolog_logs_a_fit_once_not_the_fits_inside_it(tmp_path, autolog_off, n_jobs):
    """A cross-fitted assistant (assistant_cv=2) is fitted three times inside stage 2's fit,
    in joblib threads with n_jobs=2: one run per stage, not five (the guard was set only
    after the fit returned, and then only in the fitting thread)."""
    X, y = make_risk_frame(300, seed=6)
    chain = riskkd.MultiStageDistiller(
        fast_teacher(),
        stages=(fast_tree(), fast_tree(max_depth=3)),
        assistant_cv=2,
        cv=2,
        n_jobs=n_jobs,
    )
    with tracking_at(tmp_path) as uri:
        tracking.autolog(log_models=False)
        chain.set_params(random_state=0, augment=None).fit(X, y)
        runs = MlflowClient(uri).search_runs([fluent._active_experiment_id])
        assert len(runs) == 2
        assert {r.data.params["student.max_depth"] for r in runs} == {"4", "3"}


def test_autolog_logs_a_second_fit_in_a_run_as_its_child(tmp_path, autolog_off):
    """Two fits in the user's run: the second one's params were refused by the run (a
    warning, no log), after it had overwritten the run's training-data hash tag."""
    X, y = make_risk_frame(300, seed=7)
    with tracking_at(tmp_path) as uri, mlflow.start_run() as parent:
        tracking.autolog(log_models=False)
        for depth in (2, 3):
            DistilledClassifier(fast_teacher(), fast_tree(max_depth=depth), cv=2).fit(
                X.iloc[: 100 * depth], y.iloc[: 100 * depth]
            )
    client = MlflowClient(uri)
    data = client.get_run(parent.info.run_id).data
    assert data.params["student.max_depth"] == "2"
    assert data.tags["riskkd.training_data_sha256"] == data.params["training_data_sha256"]
    (child,) = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert child.data.params["student.max_depth"] == "3"
    assert child.data.params["training_data_sha256"] == tracking.hash_training_data(X.iloc[:300])


def test_an_example_with_integer_levels_and_a_missing_value_is_logged(tmp_path):
    """``astype(int64)`` of the example's integer categories failed on the NaN."""
    X, y = make_risk_frame(300, seed=8)
    X["band"] = pd.Categorical([None if i % 7 == 0 else i % 3 for i in range(300)])  # int64
    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=2, random_state=0).fit(X, y)
    tracking.save_model(model, str(tmp_path / "model"), input_example=X.head())
    pyfunc = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    np.testing.assert_array_equal(
        pyfunc.predict(X.head(30)).to_numpy(), model.predict_proba(X.head(30))
    )


def test_autolog_failure_warns_and_keeps_the_fit(monkeypatch, autolog_off):
    def broken(*args, **kwargs):
        raise RuntimeError("tracking server unreachable")

    monkeypatch.setattr("riskkd.tracking._autolog._log_fit", broken)
    X, y = make_risk_frame(300, seed=5)
    tracking.autolog(log_models=False)
    assert autolog_state["log_models"] is False
    with pytest.warns(UserWarning, match="autologging failed .* tracking server unreachable"):
        model = DistilledClassifier(fast_teacher(), fast_tree(), cv=2, random_state=0).fit(X, y)
    assert model.predict_proba(X).shape == (300, 2)


# ---------------------------------------------------------------------- defaults, API
def test_default_tracking_uri(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.default_tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/mlflow.db")
    assert tracking.default_tracking_uri() == "sqlite:////elsewhere/mlflow.db"


def test_unset_tracking_uri_falls_back_to_working_folder(tmp_path, monkeypatch):
    from riskkd.tracking._runs import ensure_tracking_uri

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    assert ensure_tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.setattr(tracking_utils, "_tracking_uri", "sqlite:////kept/mlflow.db")
    assert ensure_tracking_uri() == "sqlite:////kept/mlflow.db"


def test_hash_training_data():
    X, _ = make_risk_frame(100, seed=0)
    digest = tracking.hash_training_data(X)
    assert len(digest) == 64
    assert tracking.hash_training_data(X.set_index(X.index + 7)) == digest
    changed = X.copy()
    changed.loc[3, "age"] += 1
    assert tracking.hash_training_data(changed) != digest
    assert tracking.hash_training_data(X.rename(columns={"age": "AGE"})) != digest
    array = np.arange(12.0).reshape(4, 3)
    assert tracking.hash_training_data(array) == tracking.hash_training_data(array.copy())


def test_riskkd_mlflow_is_an_alias():
    assert riskkd.mlflow.__all__ == tracking.__all__
    for name in tracking.__all__:
        assert getattr(riskkd.mlflow, name) is getattr(tracking, name)
    # riskkd/mlflow.py does not shadow the real package.
    assert mlflow.__name__ == "mlflow" and hasattr(mlflow, "pyfunc")


def test_a_new_experiment_keeps_its_artifacts_beside_a_sqlite_store(tmp_path):
    from riskkd.tracking._runs import use_experiment

    store = tmp_path / "store"
    store.mkdir()
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    try:
        experiment = mlflow.get_experiment(use_experiment("beside-the-store"))
    finally:
        mlflow.set_tracking_uri(previous)
    # Not ./mlruns of the working folder (MLflow's default), wherever the job runs.
    assert experiment.artifact_location == (store / "mlruns").as_uri()
