"""Distillation benchmark on the bundled real datasets.

For each dataset and seed: the default teacher (cross-fitted, calibrated), the distilled
MLP, the same MLP on hard labels (``alpha=0``) and the distilled tree; test ROC-AUC (macro
one-vs-rest for multi-class), ECE, size ratio, and one-row / 50,000-row ``predict_proba``
time of the distilled MLP against ``teacher_.predict_proba``. Prints a markdown table of
means over seeds and writes it with the per-seed JSON to ``benchmarks/results/``.

Timing: one-row calls score 200 distinct one-row frames, each with its own column Index,
as a service's requests arrive (a reused frame would let riskkd skip its column check);
both models are timed on one thread (BLAS and OpenMP limited to one, as the teacher's
LightGBM predicts with ``n_jobs=1``).

Run::

    python benchmarks/distillation.py                 # all datasets, seeds 0 1 2
    python benchmarks/distillation.py --datasets german_credit --seeds 0
    python benchmarks/distillation.py --temperature 1 --out /tmp/t1   # the former default
    python benchmarks/distillation.py --teacher-params colsample_bytree=1 colsample_bynode=0.5 \
        --out /tmp/bynode --baseline benchmarks/results/distillation.json
        # another LightGBMTeacher setting on the default's seeds, and its change against them
    python benchmarks/distillation.py --augment munge --seeds 0 1 2 3 4 5 6 7 8 9 \
        --out benchmarks/results/distillation_munge --baseline \
        benchmarks/results/distillation.json benchmarks/results/distillation_seeds_3_9.json
        # with MUNGE transfer rows, and their change against the default (none)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

import riskkd
from riskkd import DistilledClassifier, fidelity_report
from riskkd.datasets import DATASETS, load_dataset, train_test_split_recommended
from riskkd.teachers import LightGBMTeacher

RESULTS = Path(__file__).parent / "results"
BATCH_ROWS = 50_000


def median_seconds(func, *, repeat: int, number: int = 1) -> float:
    """Median over ``repeat`` timings of ``number`` calls, per call."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            func()
        times.append((time.perf_counter() - start) / number)
    return float(np.median(times))


def run_one(name: str, seed: int, **settings) -> dict:
    bunch = load_dataset(name)
    X_train, X_test, y_train, y_test = train_test_split_recommended(bunch, random_state=seed)
    row: dict = {"dataset": name, "seed": seed, "n_train": len(X_train), "n_test": len(X_test)}

    fits = {
        "mlp": DistilledClassifier(n_jobs=2, random_state=seed, **settings),
        "hard_mlp": DistilledClassifier(alpha=0.0, n_jobs=2, random_state=seed, **settings),
        "tree": DistilledClassifier(student="tree", n_jobs=2, random_state=seed, **settings),
    }
    reports = {}
    for key, model in fits.items():
        start = time.perf_counter()
        model.fit(X_train, y_train)
        row[f"{key}_fit_s"] = time.perf_counter() - start
        reports[key] = fidelity_report(model, X_test, y_test)
    teacher = reports["mlp"]["teacher"]
    row["teacher_auc"] = teacher["roc_auc"]
    row["teacher_ece"] = teacher["ece"]
    row["teacher_bytes"] = teacher["size_bytes"]
    for key, report in reports.items():
        row[f"{key}_auc"] = report.loc["roc_auc", "student"]
        row[f"{key}_ece"] = report.loc["ece", "student"]
        row[f"{key}_retention"] = report.loc["auc_retention", "student"]
        row[f"{key}_size_ratio"] = report.loc["size_ratio", "student"]
        row[f"{key}_bytes"] = report.loc["size_bytes", "student"]

    model = fits["mlp"]
    batch = X_test.sample(BATCH_ROWS, replace=True, random_state=seed).reset_index(drop=True)
    with threadpool_limits(limits=1):
        models = {"student": model, "teacher": model.teacher_, "tree": fits["tree"]}
        for key, scorer in models.items():
            rounds = 1 if key == "teacher" else 10
            row[f"{key}_1row_us"] = 1e6 * one_row_seconds(scorer, X_test, rounds)
            row[f"{key}_batch_ms"] = 1e3 * median_seconds(
                lambda scorer=scorer: scorer.predict_proba(batch), repeat=5
            )
    return row


def distinct_rows(X: pd.DataFrame, n: int) -> list[pd.DataFrame]:
    """``n`` one-row frames of ``X``, each with its own column Index, as a service builds
    a request (a reused frame would let riskkd skip its column check)."""
    frames = []
    for i in range(min(n, len(X))):
        one = X.iloc[[i]].copy()
        one.columns = pd.Index(list(one.columns))
        frames.append(one)
    return frames


def one_row_seconds(scorer, X: pd.DataFrame, rounds: int, n_frames: int = 200) -> float:
    """Median seconds of ``scorer.predict_proba`` on one row, over :func:`distinct_rows`."""
    frames = distinct_rows(X, n_frames)
    scorer.predict_proba(frames[0])  # warm up

    def score_all():
        for one in frames:
            scorer.predict_proba(one)

    return median_seconds(score_all, repeat=7, number=rounds) / len(frames)


def summarise(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    mean = frame.groupby("dataset").mean(numeric_only=True)
    table = pd.DataFrame(
        {
            "teacher": mean["teacher_auc"],
            "distilled MLP": mean["mlp_auc"],
            "hard MLP": mean["hard_mlp_auc"],
            "tree": mean["tree_auc"],
            "MLP retention": mean["mlp_retention"],
            "tree retention": mean["tree_retention"],
            "teacher ECE": mean["teacher_ece"],
            "MLP ECE": mean["mlp_ece"],
            "tree ECE": mean["tree_ece"],
            "MLP size ratio": mean["mlp_size_ratio"],
            "tree size ratio": mean["tree_size_ratio"],
            "1-row us (MLP/teacher)": [
                f"{s:.0f}/{t:.0f}" for s, t in zip(mean["student_1row_us"], mean["teacher_1row_us"])
            ],
            "1-row speed-up": mean["teacher_1row_us"] / mean["student_1row_us"],
            "50k-row ms (MLP/teacher)": [
                f"{s:.1f}/{t:.1f}"
                for s, t in zip(mean["student_batch_ms"], mean["teacher_batch_ms"])
            ],
            "batch speed-up": mean["teacher_batch_ms"] / mean["student_batch_ms"],
            "tree 1-row speed-up": mean["teacher_1row_us"] / mean["tree_1row_us"],
            "tree batch speed-up": mean["teacher_batch_ms"] / mean["tree_batch_ms"],
        }
    )
    return table


def run_all(run_one, datasets: list[str], seeds: list[int], **settings) -> list:
    """``run_one(name, seed, **settings)`` for every dataset and seed, timing each."""
    results = []
    for name in datasets:
        for seed in seeds:
            start = time.perf_counter()
            results.append(run_one(name, seed, **settings))
            print(f"{name} seed={seed}: {time.perf_counter() - start:.0f}s", flush=True)
    return results


MODELS = ("teacher", "mlp", "hard_mlp", "tree")  # each run's "<model>_auc" keys


def load_runs(paths: list[str]) -> pd.DataFrame:
    """The per-seed runs of results JSON files (written by :func:`write_results`)."""
    return pd.concat([pd.DataFrame(json.loads(Path(p).read_text())["runs"]) for p in paths])


def paired(reference: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``runs - reference`` test ROC-AUC per dataset and model, paired by dataset and seed.

    Mean and standard error over the seeds both have; ``seeds`` is their number.
    """
    joined = reference.merge(runs, on=["dataset", "seed"], suffixes=("_reference", "_run"))
    diff = pd.DataFrame(
        {key: joined[f"{key}_auc_run"] - joined[f"{key}_auc_reference"] for key in MODELS}
    )
    table = mean_and_error(diff.groupby(joined["dataset"])).rename_axis(None)
    table["seeds"] = joined.groupby("dataset")["seed"].count()
    return table


def mean_and_error(grouped) -> pd.DataFrame:
    """``"+mean ± standard error"`` of every column of a grouped frame of paired changes."""
    return grouped.mean().map(lambda v: f"{v:+.4f}") + grouped.sem().map(lambda v: f" ± {v:.4f}")


def write_results(out: str | Path, runs: list[dict], markdown: str, arguments=None) -> None:
    """``<out>.md`` and ``<out>.json``: the per-seed runs, the versions and command-line
    ``arguments`` (a dict, if given) that made them."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "riskkd": riskkd.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    if arguments is not None:
        meta["arguments"] = arguments
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=2))
    out.with_suffix(".md").write_text(markdown + "\n")


def lightgbm_teacher(assignments: list[str]) -> LightGBMTeacher:
    """``LightGBMTeacher`` with ``NAME=VALUE`` numeric parameters, ``random_state`` left unset.

    ``DistilledClassifier`` then seeds it as it seeds its default teacher (``teacher=None``),
    so a run differs from the default one only by these parameters.
    """
    params, settable = {}, set(LightGBMTeacher().get_params()) - {"random_state"}
    for assignment in assignments:
        name, _, value = assignment.partition("=")
        try:
            if name not in settable:
                raise ValueError(name)
            params[name] = int(value) if value.lstrip("-").isdigit() else float(value)
        except ValueError:
            raise SystemExit(
                f"--teacher-params {assignment!r}: expected NAME=VALUE with NAME a "
                "LightGBMTeacher parameter other than random_state and VALUE a number."
            ) from None
    return LightGBMTeacher(**params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--temperature", type=float, help="DistilledClassifier(temperature=...); default: its own"
    )
    parser.add_argument(
        "--augment",
        choices=["munge", "noise", "none"],
        help="DistilledClassifier(augment=...); default: its own (none)",
    )
    parser.add_argument(
        "--teacher-params",
        nargs="+",
        metavar="NAME=VALUE",
        help="LightGBMTeacher parameters (numbers); default: teacher=None, the default teacher",
    )
    parser.add_argument(
        "--baseline",
        nargs="+",
        metavar="JSON",
        help="results of another run (e.g. the default's): print this run minus it, by seed",
    )
    parser.add_argument("--out", default=str(RESULTS / "distillation"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)

    settings = {} if args.temperature is None else {"temperature": args.temperature}
    if args.teacher_params:
        settings["teacher"] = lightgbm_teacher(args.teacher_params)
    if args.augment is not None:
        settings["augment"] = None if args.augment == "none" else args.augment
    rows = run_all(run_one, args.datasets, args.seeds, **settings)
    markdown = summarise(rows).to_markdown(floatfmt=".4f")
    if args.baseline:
        markdown += (
            "\n\nThis run - baseline, test ROC-AUC, mean ± standard error over paired seeds\n\n"
            + paired(load_runs(args.baseline), pd.DataFrame(rows)).to_markdown()
        )
    print(markdown)
    write_results(args.out, rows, markdown, vars(args))


if __name__ == "__main__":
    main()
