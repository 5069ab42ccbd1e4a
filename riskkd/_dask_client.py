"""The Dask client of riskkd's distributed jobs (training, pipelines, batch scoring)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def dask_client(scheduler: str | None, n_workers: int) -> Iterator[Any]:
    """A client of ``scheduler``, or of a LocalCluster started here and closed on exit.

    The LocalCluster has ``n_workers`` single-threaded workers on 127.0.0.1 and no
    dashboard; the scheduler's HTTP endpoints (health, metrics) listen on a free loopback
    port, so they cannot collide with another cluster's 8787.
    """
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
