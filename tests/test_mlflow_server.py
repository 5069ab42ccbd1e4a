"""riskkd.tracking against a real ``mlflow server`` over HTTP: log, register, promote, load."""

from __future__ import annotations

import pytest

# The MLflow integration is an optional extra: skip, do not fail, without it.
pytest.importorskip("mlflow")
pytest.importorskip("matplotlib")

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
from mlflow import MlflowClient

import riskkd.tracking as tracking
from riskkd import DistilledClassifier

from .conftest import fast_teacher, fast_tree, make_risk_frame
from .test_tracking import serving_frame, tracking_at

# A cold server creates its SQLite tables and starts uvicorn; on a loaded 2-core machine
# that has taken 12 s, so allow ample time before declaring it broken.
STARTUP_TIMEOUT_S = 120
REGISTERED = "riskkd-server-risk"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _stop(process: subprocess.Popen) -> None:
    """Terminate the server's process group (uvicorn and job-runner children included)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real tracking server on a free local port; artifacts are proxied over HTTP
    (``mlflow-artifacts:/``) into a temporary folder."""
    folder = tmp_path_factory.mktemp("mlflow_server")
    url = f"http://127.0.0.1:{_free_port()}"
    command = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--backend-store-uri",
        f"sqlite:///{folder}/mlflow.db",
        "--default-artifact-root",
        "mlflow-artifacts:/",
        "--artifacts-destination",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        url.rsplit(":", 1)[1],
        "--workers",
        "1",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    log = open(folder / "server.log", "wb")  # closed in the finalizer
    process = subprocess.Popen(
        command,
        cwd=folder,
        env={**env, "OMP_NUM_THREADS": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = (folder / "server.log").read_text(errors="replace")[-3000:]
                pytest.fail(
                    f"mlflow server did not answer {url}/health within {STARTUP_TIMEOUT_S} s "
                    f"(exit code {process.poll()}). Log:\n{tail}"
                )
            time.sleep(0.25)
        yield url
    finally:
        _stop(process)
        log.close()


def test_log_register_promote_load_over_http(server, tmp_path):
    X, y = make_risk_frame(500, seed=7)
    X_val, y_val = make_risk_frame(300, seed=8)
    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=3, random_state=0).fit(X, y)
    expected = model.predict_proba(X_val)
    with tracking_at(uri=server):
        mlflow.set_experiment("riskkd-server")
        run_id = tracking.log_distillation(
            model, X_val, y_val, X_train=X, registered_model_name=REGISTERED
        )
        client = MlflowClient()
        run = client.get_run(run_id)
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")
        assert {"fidelity_report.html", "fidelity_report.json", "input_schema.json"} <= {
            a.path for a in client.list_artifacts(run_id)
        }
        assert run.data.metrics["auc_retention"] > 0
        version = client.get_model_version(REGISTERED, "1")
        assert version.tags["riskkd.teacher_run_id"] == run_id

        with pytest.raises(tracking.FidelityGateError, match="auc_retention"):
            tracking.promote(REGISTERED, 1, gates={"auc_retention": (">=", 1.5)})
        gates = {"decision_agreement": (">=", 0.0)}
        promoted = tracking.promote(REGISTERED, 1, gates=gates)
        assert "champion" in promoted.aliases

        loaded = tracking.load_model(f"models:/{REGISTERED}@champion", dst_path=str(tmp_path))
        np.testing.assert_array_equal(loaded.predict_proba(X_val), expected)
        pyfunc = mlflow.pyfunc.load_model(f"models:/{REGISTERED}@champion")
        out = pyfunc.predict(serving_frame(X_val))
        np.testing.assert_array_equal(out[["proba_0", "proba_1"]].to_numpy(), expected)
