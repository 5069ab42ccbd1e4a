"""Performance benchmark: quality, inference speed, size and training cost at scale.

Compares a distilled MLP student with what a user would run instead: the LightGBM teacher
(riskkd's ``teacher_.predict_proba``, the raw booster on numpy, the booster compiled by ONNX
Runtime through onnxmltools, by tl2cgen/treelite and by lleaves when they are importable)
and the same student in ONNX Runtime (:func:`riskkd.export.export_onnx`). Data:
``riskkd.datasets.make_transactions`` (15 raw columns, 5 of them strings, two of those
high-cardinality ids) at each ``--rows`` size, and ``taiwan_credit_default`` (23 numeric).

What is measured, each step in its own Python process (``_worker`` sub-commands) so that
peak RSS and import state of one comparison never leak into another:

* **Training cost** per data set: the default :class:`~riskkd.teachers.LightGBMTeacher`
  alone (what a user trains without distilling), then ``DistilledClassifier(n_jobs=2)``
  end to end with wall time and peak RSS of its phases: cross-fitting (``cv`` fold teachers
  and the final teacher, in 2 threads), student training, and the rest (schema, encoding,
  calibration, preprocessing). Peak RSS is sampled every 20 ms (psutil) and ``ru_maxrss``.
  With ``--dask-rows N``, ``riskkd.distributed.fit_distributed`` distils N rows on a local
  2-worker Dask cluster (data written to parquet first, read back lazily).
* **Quality** on the held-out rows (the last rows in time for transactions; the
  recommended split for Taiwan): ROC-AUC, PR-AUC, ECE and AUC retention of the teacher,
  the distilled MLP and the *same* MLP (same preprocessing, split, schedule, seed) trained
  on hard labels only (``alpha=0``).
* **Inference**: one-row p50 / p99 latency (each call timed, ``--calls`` calls per
  repeat) and 1M-row throughput (rows resampled from the test set), medians over
  ``--repeat`` repeats, every runtime with ``--threads`` threads.
* **Size on disk**: the teacher's native text file, the ONNX files, the ``riskkd.save``
  folder and the student's own files.

Targets (printed pass/miss): student one-row latency >= 50x lower than the teacher's
native ``predict_proba`` and lower than the ONNX-compiled teacher's; 1M-row throughput
>= 20x the teacher's and within 2x of the student in ONNX Runtime; student >= 50x smaller
on disk; 1M rows distilled end to end in < 10 min with peak RSS < 4 GB.

Run (prints a markdown table, writes ``benchmarks/results/performance.{md,json}``)::

    python benchmarks/performance.py                        # full: 100k and 1M rows, Taiwan
    python benchmarks/performance.py --rows 100000 1000000 --dask-rows 10000000
    python benchmarks/performance.py --quick                # development: 100k rows, Taiwan,
                                                            # 1 thread, fewer repeats

Optional compiled baselines: install them anywhere and pass the folder, e.g.
``pip install --target /opt/lleaves lleaves==1.3.0 "llvmlite<0.44"`` (lleaves 1.3 needs
``llvmlite<0.44``) and ``pip install --target /opt/tl treelite tl2cgen`` (needs gcc), then
``--extra-path /opt/lleaves /opt/tl``. A baseline that fails to import or compile is
reported with its error instead of a figure.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
BATCH_ROWS = 1_000_000
TEST_ROWS = 200_000  # held-out rows per transactions size (the rows after the training ones)
ID_COLUMNS = ["transaction_id", "timestamp", "is_fraud"]
TARGET = "is_fraud"
STUDENT_PATHS = ("student_dataframe", "student_numpy", "student_forward", "student_onnx")
TEACHER_PATHS = ("teacher_native", "booster_numpy", "teacher_onnx", "tl2cgen", "lleaves")


# ====================================================================== worker side
class PeakRSS:
    """Samples this process's RSS in a thread; ``peak(since)`` is the max since a time.

    With ``children=True`` the RSS of every child process (Dask workers) is added.
    """

    def __init__(self, interval: float = 0.02, children: bool = False):
        import psutil

        self._process = psutil.Process()
        self._children = children
        self._samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _rss(self) -> int:
        import psutil

        rss = self._process.memory_info().rss
        if self._children:
            for child in self._process.children(recursive=True):
                try:
                    rss += child.memory_info().rss
                except psutil.Error:  # the child exited meanwhile
                    pass
        return rss

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self._samples.append((time.perf_counter(), self._rss()))
            self._stop.wait(interval)

    def peak(self, since: float, until: float | None = None) -> int:
        until = time.perf_counter() if until is None else until
        inside = [rss for t, rss in self._samples if since <= t <= until]
        return max(inside, default=self._rss())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Phases:
    """Wall time and peak RSS of named phases."""

    def __init__(self, sampler: PeakRSS):
        self.sampler = sampler
        self.figures: dict[str, dict[str, float]] = {}

    @contextmanager
    def phase(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            end = time.perf_counter()
            entry = self.figures.setdefault(name, {"seconds": 0.0, "peak_rss_mb": 0.0})
            entry["seconds"] += end - start
            entry["peak_rss_mb"] = max(entry["peak_rss_mb"], self.sampler.peak(start, end) / 2**20)


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_data(spec: dict):
    """(X_train, y_train, X_test, y_test) of a data spec."""
    import pandas as pd

    if spec["kind"] == "taiwan":
        from riskkd.datasets import load_dataset, train_test_split_recommended

        bunch = load_dataset("taiwan_credit_default")
        return _split_frame(*train_test_split_recommended(bunch, random_state=0))
    frame = pd.read_parquet(spec["parquet"])
    n = spec["rows"]
    y = frame.pop(TARGET).to_numpy()
    X = frame.drop(columns=[c for c in ID_COLUMNS if c in frame.columns])
    return X.iloc[:n], y[:n], X.iloc[n:].reset_index(drop=True), y[n:]


def _split_frame(X_train, X_test, y_train, y_test):
    return X_train, y_train.to_numpy(), X_test, y_test.to_numpy()


def worker_data(spec: dict) -> dict:
    """Generate ``rows + TEST_ROWS`` transactions once and write them to parquet."""
    from riskkd.datasets import make_transactions

    start = time.perf_counter()
    frame = make_transactions(spec["rows"] + TEST_ROWS, random_state=0)
    frame.to_parquet(spec["parquet"])
    return {"seconds": time.perf_counter() - start, "columns": len(frame.columns) - 3}


def worker_teacher(spec: dict) -> dict:
    """The default teacher alone, trained as a user would without distilling."""
    from riskkd.inputs import InputSchema
    from riskkd.teachers import LightGBMTeacher

    X, y, _, _ = load_data(spec)
    sampler = PeakRSS()
    start = time.perf_counter()
    schema = InputSchema.from_data(X)
    frame = schema.teacher_frame(schema.encode(X))
    teacher = LightGBMTeacher(random_state=0, n_jobs=spec["threads"]).fit(frame, y)
    seconds = time.perf_counter() - start
    sampler.stop()
    return {
        "seconds": seconds,
        "peak_rss_mb": sampler.peak(0.0) / 2**20,
        "ru_maxrss_mb": max_rss_mb(),
        "n_trees": int(teacher.model_.booster_.num_trees()),
    }


def worker_distill(spec: dict) -> dict:
    """Distil end to end with phase timings, evaluate, save the model and its ONNX files."""
    import numpy as np

    import riskkd
    from riskkd import DistilledClassifier
    from riskkd.export import export_onnx
    from riskkd.fidelity import classification_metrics
    from riskkd.losses import LOSSES
    from riskkd.persistence import student_size_bytes, teacher_size_bytes
    from riskkd.students import MLPStudent

    X, y, X_test, y_test = load_data(spec)
    sampler = PeakRSS()
    phases = Phases(sampler)

    class Timed(DistilledClassifier):
        """The default model with its cross-fitting and student training timed."""

        def _cross_fit_teacher(self, *args, **kwargs):
            with phases.phase("cross_fitting"):
                return super()._cross_fit_teacher(*args, **kwargs)

        def _get_student(self, seed):
            student = super()._get_student(seed)
            fit = student.fit

            def timed_fit(*args, **kwargs):
                with phases.phase("student"):
                    return fit(*args, **kwargs)

            student.fit = timed_fit
            return student

    model = Timed(n_jobs=2, random_state=0)
    with phases.phase("end_to_end"):
        model.fit(X, y)
    del model.student_.fit  # the instance attribute set above; the class method remains
    figures = phases.figures
    figures["other"] = {
        "seconds": figures["end_to_end"]["seconds"]
        - figures.get("cross_fitting", {}).get("seconds", 0.0)
        - figures.get("student", {}).get("seconds", 0.0)
    }

    # The same student on hard labels: same preprocessing, split, schedule and seed.
    Xn, Xc = model.preprocessor_.transform(model.input_schema_.encode(X))
    y_index = np.searchsorted(model.classes_, y)
    hard_student = MLPStudent(random_state=model.student_.random_state).fit(
        Xn,
        Xc,
        n_embeddings=model.preprocessor_.n_embeddings,
        soft_proba=model.soft_targets_,
        y=y_index,
        sample_weight=np.ones(len(y)),
        loss=LOSSES["kl"](alpha=0.0, temperature=1.0),
    )
    del Xn, Xc
    sampler.stop()

    X_eval, y_eval = X_test.iloc[:TEST_ROWS], np.searchsorted(model.classes_, y_test[:TEST_ROWS])
    p_teacher = model.teacher_.predict_proba(X_eval)
    p_student = model.predict_proba(X_eval)
    p_hard = hard_student.predict_proba(
        *model.preprocessor_.transform(model.input_schema_.encode(X_eval))
    )
    quality = {}
    for key, proba in (("teacher", p_teacher), ("distilled_mlp", p_student), ("hard_mlp", p_hard)):
        metrics = classification_metrics(y_eval, proba)
        quality[key] = {k: float(metrics[k]) for k in ("roc_auc", "pr_auc", "ece")}
    for key in ("distilled_mlp", "hard_mlp"):
        quality[key]["retention"] = quality[key]["roc_auc"] / quality["teacher"]["roc_auc"]

    folder = Path(spec["model_dir"])
    shutil.rmtree(folder, ignore_errors=True)
    riskkd.save(model, folder)
    export_onnx(model, folder.parent / f"{folder.name}_student.onnx")
    saved = {p.name: p.stat().st_size for p in folder.iterdir()}
    teacher_file = model.teacher_.native_model
    return {
        "n_train": len(X),
        "n_features": X.shape[1],
        "n_test": len(X_eval),
        "phases": figures,
        "ru_maxrss_mb": max_rss_mb(),
        "n_trees": int(teacher_file.num_trees()),
        "student_epochs": int(model.student_.best_epoch_),
        "hidden": list(w.shape[1] for w in model.student_.coefs_[:-1]),
        "quality": quality,
        "size": {
            "teacher_native_bytes": teacher_size_bytes(model),
            "student_bytes": student_size_bytes(model),
            "save_folder_bytes": sum(saved.values()),
            "save_folder_without_teacher_bytes": sum(
                v for k, v in saved.items() if not k.startswith("teacher")
            ),
        },
    }


def worker_distill_dask(spec: dict) -> dict:
    """``fit_distributed`` on parquet data read lazily by Dask (2 local workers)."""
    import dask.dataframe as dd

    from riskkd import DistilledClassifier
    from riskkd.distributed import fit_distributed
    from riskkd.teachers import LightGBMTeacher

    sampler = PeakRSS(interval=0.2, children=True)
    start = time.perf_counter()
    frame = dd.read_parquet(spec["parquet_dir"])
    y = frame[TARGET]
    X = frame.drop(columns=ID_COLUMNS)
    # The memory test of issue 6 at a cost two cores can pay: 3 folds, learning rate 0.1, and
    # the MLP trained on a stratified 1M-row sample of the 10M soft targets.
    model = DistilledClassifier(LightGBMTeacher(learning_rate=0.1), cv=3, random_state=0)
    model = fit_distributed(model, X, y, n_workers=2, max_student_rows=1_000_000)
    seconds = time.perf_counter() - start
    sampler.stop()
    return {
        "seconds": seconds,
        "peak_rss_mb_with_workers": sampler.peak(0.0) / 2**20,
        "ru_maxrss_mb": max_rss_mb(),
        "n_trees": int(model.teacher_.native_model.num_trees()),
    }


def _time_calls(func, calls: int, repeat: int) -> tuple[float, float]:
    """Median over ``repeat`` of the p50 and p99 of ``calls`` individually timed calls (us)."""
    import numpy as np

    for _ in range(max(10, calls // 20)):
        func()
    p50, p99 = [], []
    for _ in range(repeat):
        times = np.empty(calls)
        for i in range(calls):
            start = time.perf_counter_ns()
            func()
            times[i] = time.perf_counter_ns() - start
        p50.append(np.percentile(times, 50) / 1e3)
        p99.append(np.percentile(times, 99) / 1e3)
    return float(np.median(p50)), float(np.median(p99))


def _throughput(func, rows: int, repeat: int) -> float:
    import numpy as np

    func()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return float(rows / np.median(times))


def worker_infer(spec: dict) -> dict:
    """One inference path: one-row latency and 1M-row throughput."""
    for folder in spec.get("extra_path", []):
        sys.path.insert(0, folder)
    import numpy as np

    import riskkd

    threads = spec["threads"]
    path = spec["path"]
    model = riskkd.load(spec["model_dir"])
    _, _, X_test, _ = load_data(spec["data"])
    rng = np.random.default_rng(0)
    batch = X_test.iloc[rng.integers(0, len(X_test), BATCH_ROWS)].reset_index(drop=True)
    one = X_test.iloc[[0]]
    # DataFrame paths score distinct one-row frames, each with its own column Index, as a
    # service's requests arrive (a reused frame lets riskkd skip its column check).
    from distillation import distinct_rows

    requests = itertools.cycle(distinct_rows(X_test, 200))
    booster = model.teacher_.native_model
    booster.params["num_threads"] = threads
    out: dict = {"path": path}

    def codes(frame):
        """The teacher's numeric matrix: numbers, and category codes as floats."""
        teacher_frame = model.input_schema_.teacher_frame(model.input_schema_.encode(frame))
        return np.column_stack(
            [
                col.cat.codes.to_numpy(np.float64).clip(-1) if col.dtype == "category" else col
                for _, col in teacher_frame.items()
            ]
        ).astype(np.float64)

    def matrix(frame, dtype=np.float64):
        """``codes`` with missing category codes (-1) as NaN, as LightGBM reads them."""
        m = codes(frame)
        cat = np.array([k == "categorical" for k in model.input_schema_.kinds])
        m[:, cat] = np.where(m[:, cat] < 0, np.nan, m[:, cat])
        return np.ascontiguousarray(m, dtype=dtype)

    if path == "teacher_native":
        one_f = lambda: model.teacher_.predict_proba(next(requests))  # noqa: E731
        batch_f = lambda: model.teacher_.predict_proba(batch)  # noqa: E731
    elif path == "booster_numpy":
        m1, mb = matrix(one), matrix(batch)
        one_f = lambda: booster.predict(m1, num_threads=threads)  # noqa: E731
        batch_f = lambda: booster.predict(mb, num_threads=threads)  # noqa: E731
        np.testing.assert_allclose(
            booster.predict(mb[:1000]),
            model.teacher_.predict_proba(batch.iloc[:1000])[:, 1],
            atol=1e-6,
        )
    elif path == "teacher_onnx":
        import onnxmltools
        import onnxruntime as ort
        from onnxmltools.convert.common.data_types import FloatTensorType

        onnx_model = onnxmltools.convert_lightgbm(
            booster,
            initial_types=[("input", FloatTensorType([None, booster.num_feature()]))],
            zipmap=False,
            target_opset=15,
        )
        file = Path(spec["model_dir"]).parent / (Path(spec["model_dir"]).name + "_teacher.onnx")
        file.write_bytes(onnx_model.SerializeToString())
        out["onnx_bytes"] = file.stat().st_size
        session = ort.InferenceSession(str(file), _ort_options(threads), ["CPUExecutionProvider"])
        m1, mb = matrix(one, np.float32), matrix(batch, np.float32)
        one_f = lambda: session.run(None, {"input": m1})  # noqa: E731
        batch_f = lambda: session.run(None, {"input": mb})  # noqa: E731
        got = session.run(None, {"input": mb[:1000]})[1][:, 1]
        out["max_abs_diff_vs_teacher"] = float(
            np.abs(got - model.teacher_.predict_proba(batch.iloc[:1000])[:, 1]).max()
        )
    elif path == "lleaves":
        import lleaves

        text = Path(spec["model_dir"]) / "teacher.txt"
        compiled = lleaves.Model(model_file=str(text))
        start = time.perf_counter()
        compiled.compile(cache=str(Path(spec["model_dir"]).parent / "lleaves.o"))
        out["compile_seconds"] = time.perf_counter() - start
        m1, mb = matrix(one), matrix(batch)
        one_f = lambda: compiled.predict(m1, n_jobs=threads)  # noqa: E731
        batch_f = lambda: compiled.predict(mb, n_jobs=threads)  # noqa: E731
    elif path == "tl2cgen":
        import tl2cgen
        import treelite

        tl_model = treelite.frontend.from_lightgbm(booster)
        lib = Path(spec["model_dir"]).parent / "tl2cgen.so"
        start = time.perf_counter()
        tl2cgen.export_lib(tl_model, toolchain="gcc", libpath=str(lib), params={"parallel_comp": 8})
        out["compile_seconds"] = time.perf_counter() - start
        predictor = tl2cgen.Predictor(str(lib), nthread=threads)
        d1, db = tl2cgen.DMatrix(matrix(one)), tl2cgen.DMatrix(matrix(batch))
        one_f = lambda: predictor.predict(d1)  # noqa: E731
        batch_f = lambda: predictor.predict(db)  # noqa: E731
    elif path == "student_dataframe":
        one_f = lambda: model.predict_proba(next(requests))  # noqa: E731
        batch_f = lambda: model.predict_proba(batch)  # noqa: E731
    elif path == "student_numpy":
        if model.input_schema_.categorical_names:
            return {"path": path, "skipped": "string columns: no numeric-array input"}
        a1, ab = one.to_numpy(np.float64), batch.to_numpy(np.float64)
        one_f = lambda: model.predict_proba(a1)  # noqa: E731
        batch_f = lambda: model.predict_proba(ab)  # noqa: E731
    elif path == "student_forward":
        # The floor: the student's numpy forward pass on already preprocessed arrays.
        p1 = model.preprocessor_.transform(model.input_schema_.encode(one))
        pb = model.preprocessor_.transform(model.input_schema_.encode(batch))
        one_f = lambda: model.student_.predict_proba(*p1)  # noqa: E731
        batch_f = lambda: model.student_.predict_proba(*pb)  # noqa: E731
    elif path == "student_onnx":
        import onnxruntime as ort

        from riskkd.export import onnx_inputs

        file = Path(spec["model_dir"]).parent / (Path(spec["model_dir"]).name + "_student.onnx")
        out["onnx_bytes"] = file.stat().st_size
        session = ort.InferenceSession(str(file), _ort_options(threads), ["CPUExecutionProvider"])
        f1, fb = onnx_inputs(model, one), onnx_inputs(model, batch)
        one_f = lambda: session.run(["probabilities"], f1)  # noqa: E731
        batch_f = lambda: session.run(["probabilities"], fb)  # noqa: E731
        start = time.perf_counter()
        onnx_inputs(model, batch)
        out["feed_build_seconds_1m"] = time.perf_counter() - start
    else:
        raise ValueError(f"unknown inference path {path!r}")
    out["p50_us"], out["p99_us"] = _time_calls(one_f, spec["calls"], spec["repeat"])
    out["rows_per_s"] = _throughput(batch_f, BATCH_ROWS, spec["repeat"])
    return out


def _ort_options(threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # onnxmltools declares label as [1]: a harmless warning
    return options


WORKERS = {
    "data": worker_data,
    "teacher": worker_teacher,
    "distill": worker_distill,
    "distill_dask": worker_distill_dask,
    "infer": worker_infer,
}


def worker_main(name: str, spec_json: str) -> None:
    warnings.filterwarnings("ignore")
    spec = json.loads(spec_json)
    result = WORKERS[name](spec)
    Path(spec["out"]).write_text(json.dumps(result))


# ====================================================================== driver side
def run_worker(name: str, spec: dict, threads: int, timeout: float | None = None) -> dict:
    """Run one worker in a fresh process; its result, or ``{"error": ...}``."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    spec = {**spec, "out": out, "threads": threads}
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    label = f"{name} {spec.get('path', '')} {spec.get('label', '')}".strip()
    print(f"... {label}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "_worker", name, json.dumps(spec)],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    finally:
        elapsed = time.perf_counter() - start
    try:
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            return {"error": lines[-1][:300] if lines else f"exit code {proc.returncode}"}
        result = json.loads(Path(out).read_text())
        result["process_seconds"] = elapsed
        return result
    finally:
        Path(out).unlink(missing_ok=True)


def _fmt(value, unit: str = "", digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if unit == "rows/s":
        return f"{value / 1e6:.2f}M" if value >= 1e5 else f"{value / 1e3:.1f}k"
    if unit == "us":
        return f"{value:,.0f} us" if value >= 100 else f"{value:.1f} us"
    if unit == "bytes":
        return f"{value / 2**20:.2f} MB" if value >= 2**20 else f"{value / 1024:.1f} kB"
    return f"{value:.{digits}f}"


def report(results: dict) -> str:
    lines = [
        "# riskkd performance benchmark",
        "",
        f"Machine: {results['machine']}; threads per runtime: {results['threads']}; "
        f"repeats: {results['repeat']} (medians); one-row calls per repeat: {results['calls']}.",
        f"Command: `{results['command']}`",
        "",
    ]
    sets = results["datasets"]

    lines += [
        "## Quality on held-out rows",
        "",
        "| data | model | ROC-AUC | PR-AUC | ECE | retention |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in sets.items():
        quality = entry.get("distill", {}).get("quality")
        if not quality:
            lines.append(f"| {name} | — | {entry.get('distill', {}).get('error', '')} | | | |")
            continue
        for key, label in (
            ("teacher", "LightGBM teacher"),
            ("distilled_mlp", "distilled MLP"),
            ("hard_mlp", "hard-label MLP"),
        ):
            q = quality[key]
            lines.append(
                f"| {name} | {label} | {q['roc_auc']:.4f} | {q['pr_auc']:.4f} | {q['ece']:.4f} "
                f"| {_fmt(q.get('retention'))} |"
            )

    lines += ["", "## Inference", ""]
    for name, entry in sets.items():
        infer = entry.get("infer")
        if not infer:
            continue
        distill = entry.get("distill", {})
        lines += [
            f"### {name} ({distill.get('n_trees', '?')} trees; student hidden "
            f"{distill.get('hidden', '?')})",
            "",
            "| path | one row p50 | one row p99 | 1M rows (rows/s) | note |",
            "|---|---|---|---|---|",
        ]
        for path, figures in infer.items():
            note = figures.get("error") or figures.get("skipped") or ""
            if "compile_seconds" in figures:
                note = f"compiled in {figures['compile_seconds']:.0f} s"
            if "max_abs_diff_vs_teacher" in figures:
                note = f"max abs diff to teacher {figures['max_abs_diff_vs_teacher']:.1e}"
            if "feed_build_seconds_1m" in figures:
                note = f"feed prebuilt (onnx_inputs on 1M rows: {figures['feed_build_seconds_1m']:.1f} s)"
            lines.append(
                f"| {PATH_LABELS[path]} | {_fmt(figures.get('p50_us'), 'us')} "
                f"| {_fmt(figures.get('p99_us'), 'us')} "
                f"| {_fmt(figures.get('rows_per_s'), 'rows/s')} | {note} |"
            )
        lines.append("")

    lines += [
        "## Size on disk",
        "",
        "| data | teacher (LightGBM text) | teacher ONNX | student ONNX | riskkd.save folder "
        "| folder without teacher files | student only (`student_only=True`, no history) "
        "| ratio teacher / student |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in sets.items():
        size = entry.get("distill", {}).get("size")
        if not size:
            continue
        infer = entry.get("infer", {})
        lines.append(
            f"| {name} | {_fmt(size['teacher_native_bytes'], 'bytes')} "
            f"| {_fmt(infer.get('teacher_onnx', {}).get('onnx_bytes'), 'bytes')} "
            f"| {_fmt(infer.get('student_onnx', {}).get('onnx_bytes'), 'bytes')} "
            f"| {_fmt(size['save_folder_bytes'], 'bytes')} "
            f"| {_fmt(size['save_folder_without_teacher_bytes'], 'bytes')} "
            f"| {_fmt(size['student_bytes'], 'bytes')} "
            f"| {size['teacher_native_bytes'] / size['student_bytes']:.0f}x |"
        )

    lines += [
        "",
        "## Training cost",
        "",
        "| data | rows x cols | teacher alone | cross-fitting | student | other | end to end "
        "| peak RSS teacher alone | peak RSS end to end |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in sets.items():
        d, t = entry.get("distill", {}), entry.get("teacher", {})
        if "phases" not in d:
            continue
        p = d["phases"]

        def sec(key, p=p):
            return f"{p[key]['seconds']:.1f} s" if key in p else "—"

        lines.append(
            f"| {name} | {d['n_train']:,} x {d['n_features']} "
            f"| {t['seconds']:.1f} s ({t['n_trees']} trees) | {sec('cross_fitting')} "
            f"| {sec('student')} ({d['student_epochs']} epochs) | {sec('other')} "
            f"| {sec('end_to_end')} | {t.get('peak_rss_mb', 0):.0f} MB | {d['ru_maxrss_mb']:.0f} MB |"
            if "seconds" in t
            else f"| {name} | {d['n_train']:,} x {d['n_features']} | {t.get('error', '—')} "
            f"| {sec('cross_fitting')} | {sec('student')} | {sec('other')} | {sec('end_to_end')} "
            f"| — | {d['ru_maxrss_mb']:.0f} MB |"
        )
    dask = results.get("dask")
    if dask:
        lines.append(
            f"| transactions {dask['rows']:,} (Dask, fit_distributed) | {dask['rows']:,} x 15 | — "
            f"| | | | {_fmt(dask.get('seconds'), digits=1)} s | — "
            f"| {_fmt(dask.get('peak_rss_mb_with_workers'), digits=0)} MB (driver + workers) "
            f"{dask.get('error', '')} |"
        )
        lines.append(
            "\nThe Dask row: LightGBM teacher at learning rate 0.1, `cv=3`, the MLP student on a "
            "stratified 1M-row sample of the soft targets (`max_student_rows=1_000_000`)."
        )
    else:
        lines.append(
            "\nRows on Dask (`riskkd.distributed.fit_distributed`): not run in this "
            "invocation; pass `--dask-rows 10000000`."
        )

    lines += ["", "## Targets", "", "| target | figure | result |", "|---|---|---|"]
    lines += [f"| {t} | {f} | {r} |" for t, f, r in targets(results)]
    return "\n".join(lines) + "\n"


PATH_LABELS = {
    "teacher_native": "teacher `predict_proba` (riskkd `teacher_`, DataFrame)",
    "booster_numpy": "LightGBM booster on numpy",
    "teacher_onnx": "teacher in ONNX Runtime (onnxmltools)",
    "tl2cgen": "teacher compiled by tl2cgen/treelite",
    "lleaves": "teacher compiled by lleaves",
    "student_dataframe": "student `predict_proba` (DataFrame)",
    "student_numpy": "student `predict_proba` (numpy array)",
    "student_forward": "student forward pass on preprocessed arrays",
    "student_onnx": "student in ONNX Runtime (`export_onnx`)",
}


def targets(results: dict) -> list[tuple[str, str, str]]:
    rows = []

    def mark(ok):
        return "pass" if ok else "**miss**"

    for name, entry in results["datasets"].items():
        infer = entry.get("infer", {})
        student = infer.get("student_dataframe", {})
        teacher = infer.get("teacher_native", {})
        compiled = infer.get("teacher_onnx", {})
        onnx_student = infer.get("student_onnx", {})
        if "p50_us" in student and "p50_us" in teacher:
            ratio = teacher["p50_us"] / student["p50_us"]
            rows.append(
                (
                    f"{name}: one-row latency >= 50x lower than teacher",
                    f"{ratio:.1f}x",
                    mark(ratio >= 50),
                )
            )
        if "p50_us" in student and "p50_us" in compiled:
            rows.append(
                (
                    f"{name}: one-row latency < ONNX-compiled teacher",
                    f"{student['p50_us']:.1f} us vs {compiled['p50_us']:.1f} us",
                    mark(student["p50_us"] < compiled["p50_us"]),
                )
            )
        if "rows_per_s" in student and "rows_per_s" in teacher:
            ratio = student["rows_per_s"] / teacher["rows_per_s"]
            rows.append(
                (f"{name}: 1M-row throughput >= 20x teacher", f"{ratio:.1f}x", mark(ratio >= 20))
            )
        if "rows_per_s" in student and "rows_per_s" in onnx_student:
            ratio = onnx_student["rows_per_s"] / student["rows_per_s"]
            rows.append(
                (
                    f"{name}: 1M-row throughput within 2x of student in ONNX Runtime",
                    f"ONNX / numpy = {ratio:.2f}",
                    mark(ratio <= 2),
                )
            )
        size = entry.get("distill", {}).get("size")
        if size:
            ratio = size["teacher_native_bytes"] / size["student_bytes"]
            rows.append((f"{name}: student >= 50x smaller", f"{ratio:.0f}x", mark(ratio >= 50)))
        phases = entry.get("distill", {}).get("phases", {})
        if entry.get("rows") == 1_000_000 and "end_to_end" in phases:
            seconds = phases["end_to_end"]["seconds"]
            rss = entry["distill"]["ru_maxrss_mb"]
            rows.append(
                (
                    "1M rows distilled end to end < 10 min, peak RSS < 4 GB",
                    f"{seconds / 60:.1f} min, {rss / 1024:.2f} GB",
                    mark(seconds < 600 and rss < 4096),
                )
            )
    dask = results.get("dask")
    if dask:
        rows.append(
            (
                f"{dask['rows']:,} rows with Dask without running out of memory",
                dask.get("error")
                or f"{dask['seconds'] / 60:.1f} min, "
                f"{dask['peak_rss_mb_with_workers'] / 1024:.2f} GB (driver + workers)",
                mark("error" not in dask),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--no-taiwan", action="store_true", help="skip taiwan_credit_default")
    parser.add_argument("--dask-rows", type=int, default=None, help="e.g. 10000000")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument(
        "--infer-on", nargs="+", default=None, help="data sets to time inference on"
    )
    parser.add_argument("--extra-path", nargs="*", default=[], help="folders with lleaves/tl2cgen")
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a temp folder)")
    parser.add_argument(
        "--quick", action="store_true", help="100k rows and Taiwan, 1 thread, 3 repeats, 300 calls"
    )
    parser.add_argument("--output", default=str(RESULTS / "performance"))
    args = parser.parse_args()
    if args.quick:
        args.rows, args.threads, args.repeat, args.calls = [100_000], 1, 3, 300

    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)  # before the work, not after it
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="riskkd-perf-"))
    workdir.mkdir(parents=True, exist_ok=True)
    import riskkd

    results: dict = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, riskkd {riskkd.__version__}",
        "threads": args.threads,
        "repeat": args.repeat,
        "calls": args.calls,
        "datasets": {},
    }
    specs = {}
    for rows in args.rows:
        parquet = workdir / f"transactions_{rows}.parquet"
        name = (
            f"transactions_{rows // 1000}k"
            if rows < 1_000_000
            else f"transactions_{rows // 1_000_000}M"
        )
        if not parquet.exists():
            made = run_worker("data", {"rows": rows, "parquet": str(parquet)}, args.threads)
            if "error" in made:
                raise SystemExit(f"generating {rows} transactions failed: {made['error']}")
        specs[name] = {"kind": "transactions", "rows": rows, "parquet": str(parquet)}
    if not args.no_taiwan:
        specs["taiwan_credit_default"] = {"kind": "taiwan"}

    infer_on = args.infer_on or [
        n for n in specs if n in ("transactions_100k", "taiwan_credit_default")
    ]
    for name, spec in specs.items():
        entry = results["datasets"].setdefault(name, {"rows": spec.get("rows")})
        model_dir = str(workdir / f"model_{name}")
        entry["teacher"] = run_worker("teacher", {**spec, "label": name}, args.threads)
        entry["distill"] = run_worker(
            "distill", {**spec, "model_dir": model_dir, "label": name}, args.threads
        )
        if name in infer_on and "error" not in entry["distill"]:
            entry["infer"] = {}
            for path in (*TEACHER_PATHS, *STUDENT_PATHS):
                entry["infer"][path] = run_worker(
                    "infer",
                    {
                        "path": path,
                        "model_dir": model_dir,
                        "data": spec,
                        "repeat": args.repeat,
                        "calls": args.calls,
                        "extra_path": args.extra_path,
                        "label": name,
                    },
                    args.threads,
                )
    if args.dask_rows:
        # What is measured so far, in case the long Dask run fails.
        output.with_suffix(".partial.json").write_text(json.dumps(results, indent=2))
        folder = workdir / f"transactions_{args.dask_rows}_parts"
        if not folder.exists():
            from riskkd.datasets import make_transactions

            make_transactions(args.dask_rows, random_state=0, path=folder, chunk_rows=500_000)
        results["dask"] = {
            "rows": args.dask_rows,
            **run_worker("distill_dask", {"parquet_dir": str(folder)}, args.threads),
        }

    text = report(results)
    print(text)
    output.with_suffix(".md").write_text(text)
    output.with_suffix(".json").write_text(json.dumps(results, indent=2))
    output.with_suffix(".partial.json").unlink(missing_ok=True)
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        worker_main(sys.argv[2], sys.argv[3])
    else:
        main()
