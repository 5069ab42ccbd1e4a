"""Spark users score a logged riskkd model with ``mlflow.pyfunc.spark_udf`` (slow, optional)."""

from __future__ import annotations

import os
import shutil

import pytest

pytest.importorskip("mlflow")
pytest.importorskip("pyspark", reason="pyspark is not installed (pip install pyspark)")

import mlflow
import numpy as np
from mlflow.tracking import fluent
from mlflow.tracking._tracking_service import utils as tracking_utils

import riskkd.mlflow
from riskkd import DistilledClassifier

from .conftest import fast_teacher, fast_tree, make_risk_frame

pytestmark = pytest.mark.slow


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """MLflow at ``sqlite:///<tmp_path>/mlflow.db``, restored afterwards."""
    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
    monkeypatch.setattr(fluent, "_active_experiment_id", fluent._active_experiment_id)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(name, raising=False)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = mlflow.create_experiment(
        "riskkd-spark", artifact_location=(tmp_path / "artifacts").as_uri()
    )
    mlflow.set_experiment(experiment_id=experiment)
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def spark():
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Java is missing (pyspark needs a JVM, e.g. OpenJDK 17)")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("riskkd-test")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    yield session
    session.stop()


def test_spark_udf_scores_like_predict_proba(tracking, spark):
    X, y = make_risk_frame(600, 2, seed=1)
    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=3, random_state=0).fit(X, y)
    # As the rows arrive from a table: categoricals as plain strings (Spark has no category).
    rows = X.astype({"job": str})
    info = riskkd.mlflow.log_model(model, "model", input_example=rows.head())

    udf = mlflow.pyfunc.spark_udf(
        spark, info.model_uri, result_type="proba_0 double, proba_1 double", env_manager="local"
    )
    frame = spark.createDataFrame(rows.assign(row=np.arange(len(rows))))
    scored = frame.withColumn("scores", udf(*X.columns)).select("row", "scores.*").toPandas()
    scored = scored.sort_values("row")
    # The pyfunc output is the model's own float32 probabilities, widened to double by Spark.
    np.testing.assert_array_equal(scored[["proba_0", "proba_1"]], model.predict_proba(rows))
