"""Where tracking data goes: the default tracking URI and the run to log into."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow.entities import Run

_ENV_VAR = "MLFLOW_TRACKING_URI"


def default_tracking_uri() -> str:
    """The tracking URI riskkd uses when none is configured.

    ``MLFLOW_TRACKING_URI`` when it is set, otherwise a SQLite database ``mlflow.db`` in the
    current working folder (an absolute ``sqlite:///`` URI, so that changing folders later
    keeps logging to the same database).

    Returns
    -------
    uri : str

    Examples
    --------
    >>> import os
    >>> from riskkd.tracking import default_tracking_uri
    >>> uri = default_tracking_uri()
    >>> uri == os.environ.get("MLFLOW_TRACKING_URI", uri) and uri != ""
    True
    """
    uri = os.environ.get(_ENV_VAR)
    if uri:
        return uri
    return f"sqlite:///{(Path.cwd() / 'mlflow.db').resolve().as_posix()}"


def ensure_tracking_uri() -> str:
    """Set :func:`default_tracking_uri` unless a tracking URI is already configured."""
    from mlflow.tracking._tracking_service.utils import is_tracking_uri_set

    if not is_tracking_uri_set():
        mlflow.set_tracking_uri(default_tracking_uri())
    return mlflow.get_tracking_uri()


def use_experiment(name: str) -> str:
    """Make ``name`` the active experiment; a new one keeps its artifacts beside a SQLite store.

    MLflow's default artifact root is ``./mlruns`` of the working folder, wherever the store
    is. For a ``sqlite:///<folder>/<file>`` store a new experiment gets ``<folder>/mlruns``,
    so that the database and its artifacts stay together wherever the job runs.

    Returns
    -------
    experiment_id : str
    """
    uri = mlflow.get_tracking_uri()
    if uri.startswith("sqlite:///") and mlflow.get_experiment_by_name(name) is None:
        folder = Path(uri.removeprefix("sqlite:///")).resolve().parent
        mlflow.create_experiment(name, artifact_location=(folder / "mlruns").as_uri())
    return mlflow.set_experiment(name).experiment_id


@contextmanager
def active_or_new_run(run_name: str | None = None) -> Iterator[Run]:
    """The active run, or a new one that is ended (FAILED on error) when the block exits."""
    ensure_tracking_uri()
    run = mlflow.active_run()
    if run is not None:
        yield run
        return
    with mlflow.start_run(run_name=run_name) as run:
        yield run
