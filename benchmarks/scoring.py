"""Batch scoring benchmark: rows/s and peak memory of ``riskkd.scoring.score_files``.

Generates ``--rows`` card transactions with :func:`riskkd.datasets.make_transactions`
as parquet files in a temporary folder (written file by file, so generation itself stays
in bounded memory), fits a distilled MLP on separate transactions, and scores the files
with ``--engine local`` and ``--engine dask`` (a 2-worker ``LocalCluster``) measured the
same way: wall time of ``score_files`` (the Dask figure includes starting and closing the
cluster), rows/s, and the peak resident memory of the whole process tree (this process
and its children, e.g. Dask workers; sampled every 50 ms with psutil, shared pages
counted once per process, so an upper bound). Target: peak RSS under 2 GB at 10M rows.

Run::

    python benchmarks/scoring.py                   # 10,000,000 rows (about 400 MB of temp disk)
    python benchmarks/scoring.py --rows 200000     # a quick check

Writes ``benchmarks/results/scoring.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import psutil

import riskkd
from riskkd import DistilledClassifier
from riskkd.datasets import make_transactions
from riskkd.scoring import score_files
from riskkd.teachers import LightGBMTeacher

RESULTS = Path(__file__).parent / "results"
ID_COLS = ["transaction_id"]
# Not features: the id, the timestamp (a date), per-entity ids and the target.
NOT_FEATURES = ["transaction_id", "timestamp", "customer_id", "merchant_id", "is_fraud"]


class PeakRSS:
    """Peak summed RSS of this process and all its descendants, sampled in a thread."""

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        root = psutil.Process()
        total = 0
        for process in [root, *root.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.Error:  # a process that just ended
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self.peak = self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.sample())


def train_model(n_rows: int, folder: Path) -> Path:
    data = make_transactions(n_rows, random_state=1)
    X, y = data.drop(columns=NOT_FEATURES), data["is_fraud"]
    model = DistilledClassifier(LightGBMTeacher(n_jobs=1), random_state=0).fit(X, y)
    return riskkd.save(model, folder / "model")


def prepare(train_rows: int, rows: int, file_rows: int, work: Path) -> tuple[Path, float, float]:
    """(saved model, fit seconds, generation seconds)."""
    start = time.perf_counter()
    model = train_model(train_rows, work)
    fitted = time.perf_counter()
    make_transactions(rows, random_state=0, path=work / "input", chunk_rows=file_rows)
    return model, fitted - start, time.perf_counter() - fitted


def run(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="riskkd-scoring-", dir=args.workdir))
    result: dict = {
        "rows": args.rows,
        "chunk_rows": args.chunk_rows,
        "file_rows": args.file_rows,
        "n_workers": args.workers,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "riskkd": riskkd.__version__,
        "engines": [],
    }
    try:
        # Fitting (torch) and generating run in a child process that exits before scoring,
        # so the memory measured below is the scoring job's, as in `riskkd score`.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            model, result["train_seconds"], result["generate_seconds"] = pool.submit(
                prepare, args.train_rows, args.rows, args.file_rows, work
            ).result()
        result["input_bytes"] = sum(p.stat().st_size for p in (work / "input").iterdir())
        for engine in args.engines:
            output = work / f"scores-{engine}"
            with PeakRSS() as memory:
                baseline = memory.peak
                summary = score_files(
                    model,
                    work / "input",
                    output,
                    id_cols=ID_COLS,
                    chunk_rows=args.chunk_rows,
                    engine=engine,
                    n_workers=args.workers,
                )
            row = {
                "engine": engine,
                "seconds": summary.seconds,
                "rows_per_second": summary.rows_per_second,
                "peak_rss_mb": memory.peak / 2**20,
                "rss_before_mb": baseline / 2**20,
                "rows_in": summary.rows_in,
                "rows_scored": summary.rows_scored,
                "rows_rejected": summary.rows_rejected,
                "parts": summary.parts_written,
                "reconciled": summary.reconciled,
            }
            print(
                f"{engine:>5}: {summary.rows_in:,} rows in {summary.seconds:.1f} s = "
                f"{summary.rows_per_second:,.0f} rows/s, peak RSS {row['peak_rss_mb']:,.0f} MB; "
                f"{summary}",
                flush=True,
            )
            result["engines"].append(row)
            shutil.rmtree(output)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def markdown(result: dict) -> str:
    lines = [
        f"Batch scoring of {result['rows']:,} `make_transactions` rows (parquet, "
        f"{result['input_bytes'] / 2**20:,.0f} MB in files of {result['file_rows']:,} rows), "
        f"distilled MLP, `chunk_rows={result['chunk_rows']:,}`, {result['cpu_count']} CPUs "
        f"(load average at start {result['load_average_at_start'][0]:.1f}). "
        "Seconds are the wall time of `score_files` (Dask: with starting and closing a "
        f"{result['n_workers']}-worker LocalCluster); peak RSS is summed over the process tree.",
        "",
        "| engine | seconds | rows/s | peak RSS (MB) | rows in | scored | rejected | reconciled |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in result["engines"]:
        lines.append(
            f"| {r['engine']} | {r['seconds']:.1f} | {r['rows_per_second']:,.0f} | "
            f"{r['peak_rss_mb']:,.0f} | {r['rows_in']:,} | {r['rows_scored']:,} | "
            f"{r['rows_rejected']:,} | {'yes' if r['reconciled'] else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows to score")
    parser.add_argument("--chunk-rows", type=int, default=100_000, help="rows per part")
    # One row group per generated file: keep it no larger than --chunk-rows, since a Dask
    # task reads whole row groups to cut its chunk (the local engine streams them).
    parser.add_argument(
        "--file-rows", type=int, default=100_000, help="rows per generated parquet file"
    )
    parser.add_argument("--train-rows", type=int, default=20_000, help="rows to fit the model")
    parser.add_argument(
        "--engines", nargs="+", default=["local", "dask"], choices=["local", "dask"]
    )
    parser.add_argument("--workers", type=int, default=2, help="Dask workers")
    parser.add_argument("--workdir", default=None, help="where the temporary folder goes")
    parser.add_argument("--no-save", action="store_true", help="do not write benchmarks/results")
    args = parser.parse_args()
    result = run(args)
    table = markdown(result)
    print(table)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "scoring.json").write_text(json.dumps(result, indent=2))
        (RESULTS / "scoring.md").write_text(table)


if __name__ == "__main__":
    main()
