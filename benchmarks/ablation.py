"""Ablation of the advanced distillation options (issue 7) on the bundled datasets.

For each dataset and seed (the splits of ``benchmarks/distillation.py``:
:func:`riskkd.datasets.train_test_split_recommended`), the MLP and tree students are fitted
without any option (``baseline``: ``augment=None``, one LightGBM teacher) and with each
option alone; the table gives the test ROC-AUC (macro one-vs-rest for the grades), ECE and
AUC retention (student / teacher ROC-AUC), their change against the variant's reference,
and the training-time ratio against it. Then it names the option that raises the students'
ROC-AUC most on average and its time cost (issue 7: it becomes the default below 2x).

Each option is one entry of ``VARIANTS`` (name -> how to build and fit the model); options
that this version of riskkd lacks are left out. Unlabeled rows are simulated: a stratified
half of the training rows (seeded) loses its labels; ``unlabeled`` fits on the labelled
half with the other half as ``X_unlabeled`` and is compared with ``labelled_half``, the
baseline on the labelled half alone.

Cost control: one cross-fitted LightGBM teacher per dataset, seed and training set is
shared by all variants that do not change it (:class:`riskkd.tuning.MemoizedTeacher`, with
results identical to refitting it); the teacher CPU seconds a variant saves that way are
added back to its training time, so the time ratios are those of standalone fits. Training
time is CPU time of this process (other work on a shared machine does not inflate it), and
everything runs on one thread (``n_jobs=1``, thread pools limited to 1).

Run::

    python benchmarks/ablation.py                    # all datasets, seeds 0 1 2
    python benchmarks/ablation.py --datasets german_credit --seeds 0 --variants baseline ta
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

import riskkd
from riskkd import DistilledClassifier, fidelity_report
from riskkd.datasets import DATASETS, load_dataset, train_test_split_recommended
from riskkd.multistage import MultiStageDistiller
from riskkd.students import STUDENTS, MLPStudent
from riskkd.teachers import LightGBMTeacher
from riskkd.tuning import MemoizedTeacher

RESULTS = Path(__file__).parent / "results"
STUDENT_KINDS = ("mlp", "tree")
#: Teacher CPU seconds skipped thanks to the shared cache, added back to the fit times.
_SAVED_SECONDS = [0.0]


class TimedTeacher(MemoizedTeacher):
    """A :class:`MemoizedTeacher` that books the CPU seconds each cache hit saves."""

    def fit(self, X, y, sample_weight=None):
        super().fit(X, y, sample_weight)
        if self.from_cache_:
            _SAVED_SECONDS[0] += self.fit_cpu_seconds_
        return self


@dataclass
class Run:
    """One dataset and seed: the split, the shared teacher cache and what the variants need."""

    dataset: str
    seed: int
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    cache: str

    @property
    def binary(self) -> bool:
        return self.y_train.nunique() == 2

    def teacher(self, estimator: Any = None) -> TimedTeacher:
        return TimedTeacher(
            LightGBMTeacher(n_jobs=1) if estimator is None else estimator, memory=self.cache
        )

    def distiller(self, student: str, **params) -> DistilledClassifier:
        settings = {"teacher": self.teacher(), "augment": None, "n_jobs": 1}
        if _supports("monotone_constraints"):
            settings["monotone_constraints"] = None
        return DistilledClassifier(
            student=student, random_state=self.seed, **{**settings, **params}
        )

    def halves(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
        """(labelled rows, unlabeled rows, labels of the first): a seeded stratified half.

        Rows of classes too rare to halve (fewer than 4 x 5 members, e.g. grade G) all stay
        labelled, so that every class keeps enough rows for 5-fold cross-fitting.
        """
        counts = self.y_train.value_counts()
        rare = self.y_train.isin(counts.index[counts < 20]).to_numpy()
        X_lab, X_unl, y_lab, _ = train_test_split(
            self.X_train[~rare],
            self.y_train[~rare],
            test_size=0.5,
            stratify=self.y_train[~rare],
            random_state=self.seed,
        )
        return pd.concat([X_lab, self.X_train[rare]]), X_unl, pd.concat([y_lab, self.y_train[rare]])


def _supports(param: str) -> bool:
    return param in DistilledClassifier().get_params()


def _augment_options() -> set[str]:
    options = DistilledClassifier._parameter_constraints["augment"]
    return {o for c in options for o in getattr(c, "options", ())}


def fit_plain(model, run: Run):
    return model.fit(run.X_train, run.y_train)


def fit_labelled_half(model, run: Run):
    X_lab, _, y_lab = run.halves()
    return model.fit(X_lab, y_lab)


def fit_unlabeled(model, run: Run):
    X_lab, X_unl, y_lab = run.halves()
    return model.fit(X_lab, y_lab, X_unlabeled=X_unl)


def monotone_from_data(run: Run, min_abs_rho: float = 0.1) -> dict[str, int]:
    """Constraints a risk team could state for this data, here read off the training rows:
    each numeric column whose Spearman correlation with the (binary) label is at least
    ``min_abs_rho`` in absolute value, with the sign of that correlation."""
    numeric = run.X_train.select_dtypes(include="number").columns
    constraints = {}
    for name in numeric:
        column = run.X_train[name]
        known = column.notna()
        if column[known].nunique() < 3:
            continue
        rho = spearmanr(column[known], run.y_train[known]).statistic
        if np.isfinite(rho) and abs(rho) >= min_abs_rho:
            constraints[str(name)] = int(np.sign(rho))
    return constraints


def multi_teacher(run: Run) -> list:
    from xgboost import XGBClassifier

    return [
        run.teacher(),
        run.teacher(
            XGBClassifier(
                n_estimators=200,
                learning_rate=0.08,
                max_depth=4,
                subsample=0.8,
                colsample_bytree=0.8,
                n_jobs=1,
                random_state=run.seed,
            )
        ),
        run.teacher(HistGradientBoostingClassifier(random_state=run.seed)),
    ]


def teacher_assistant(run: Run, student: str, assistant_cv: int | None):
    params = {"monotone_constraints": None} if _supports("monotone_constraints") else {}
    return MultiStageDistiller(
        teacher=run.teacher(),
        stages=(MLPStudent(hidden_layer_sizes=(256, 128)), student),
        assistant_cv=assistant_cv,
        augment=None,
        n_jobs=1,
        random_state=run.seed,
        **params,
    )


@dataclass(frozen=True)
class Variant:
    """One row group of the ablation: how to build the model for a student, how to fit it.

    ``build`` returns None where the option does not apply (e.g. monotone constraints on a
    multi-class target).
    """

    description: str
    build: Callable[[Run, str], Any]
    fit: Callable[[Any, Run], Any] = fit_plain
    reference: str = "baseline"
    #: Whether it is a setting that could become a default (extra data or domain
    #: constraints cannot).
    default_candidate: bool = True


def available_variants() -> dict[str, Variant]:
    """The ablation's variants that this version of riskkd supports, in table order."""
    variants = {
        "baseline": Variant(
            "no option: augment=None, one LightGBM teacher", lambda run, s: run.distiller(s)
        )
    }
    for option in ("munge", "noise"):
        if option in _augment_options():
            variants[option] = Variant(
                f'augment="{option}" (4 synthetic rows per row)',
                lambda run, s, o=option: run.distiller(s, augment=o),
            )
    import inspect

    if "X_unlabeled" in inspect.signature(DistilledClassifier.fit).parameters:
        variants["labelled_half"] = Variant(
            "baseline on a stratified half of the training rows",
            lambda run, s: run.distiller(s),
            fit_labelled_half,
            default_candidate=False,
        )
        variants["unlabeled"] = Variant(
            "labelled half + the other half as X_unlabeled",
            lambda run, s: run.distiller(s),
            fit_unlabeled,
            reference="labelled_half",
            default_candidate=False,
        )
    if "list" in str(DistilledClassifier._parameter_constraints["teacher"]):
        variants["multi_teacher"] = Variant(
            "LightGBM + XGBoost + HistGradientBoosting, equal logit weights",
            lambda run, s: run.distiller(s, teacher=multi_teacher(run)),
        )
    if _supports("monotone_constraints"):
        variants["monotone"] = Variant(
            "monotone in numeric columns with |Spearman(x, y)| >= 0.1 (binary only)",
            lambda run, s: (
                run.distiller(s, monotone_constraints=monotone_from_data(run) or None)
                if run.binary
                else None
            ),
            default_candidate=False,
        )
    variants["ta"] = Variant(
        "teacher assistant: GBDT -> MLP(256, 128) -> student, in-sample assistant",
        lambda run, s: teacher_assistant(run, s, None),
    )
    variants["ta_crossfit"] = Variant(
        "teacher assistant, assistant cross-fitted (assistant_cv=3; about 5x the cost)",
        lambda run, s: teacher_assistant(run, s, 3),
    )
    return variants


#: Variants of the default (full) run; ta_crossfit is opt-in (--variants) for its cost.
DEFAULT_EXCLUDED = {"ta_crossfit"}


def warm_up(cache: str) -> None:
    """One tiny fit of each kind, so that no variant pays for first imports (torch, XGBoost)."""
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=200, random_state=0)
    X = pd.DataFrame(X).add_prefix("x")
    run = Run("warm-up", 0, X, X, pd.Series(y), pd.Series(y), cache)
    for student in STUDENT_KINDS:
        run.distiller(student, teacher=LightGBMTeacher(n_estimators=5), cv=2).fit(X, y)
    multi_teacher(run)


def run_one(dataset: str, seed: int, variants: dict[str, Variant], cache: str) -> list[dict]:
    bunch = load_dataset(dataset)
    X_train, X_test, y_train, y_test = train_test_split_recommended(bunch, random_state=seed)
    run = Run(dataset, seed, X_train, X_test, y_train, y_test, cache)
    students = list(STUDENT_KINDS)
    if "scorecard" in STUDENTS and run.binary:
        students.append("scorecard")
    rows = []
    for name, variant in variants.items():
        for student in students:
            if student == "scorecard" and name != "baseline":
                continue  # the scorecard student is reported as a student, not ablated
            model = variant.build(run, student)
            if model is None:
                continue
            saved = _SAVED_SECONDS[0]
            start = time.process_time()
            variant.fit(model, run)
            seconds = time.process_time() - start + (_SAVED_SECONDS[0] - saved)
            final = model.final_ if isinstance(model, MultiStageDistiller) else model
            report = fidelity_report(final, X_test, y_test)
            rows.append(
                {
                    "dataset": dataset,
                    "seed": seed,
                    "variant": name,
                    "reference": variant.reference,
                    "student": student,
                    "roc_auc": report.loc["roc_auc", "student"],
                    "ece": report.loc["ece", "student"],
                    "auc_retention": report.loc["auc_retention", "student"],
                    "teacher_auc": report.loc["roc_auc", "teacher"],
                    "fit_cpu_s": seconds,
                }
            )
    return rows


def summarise(rows: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table by variant and student, per-dataset ROC-AUC change) with changes vs reference."""
    frame = pd.DataFrame(rows)
    keys = ["dataset", "seed", "student"]
    base = frame.set_index(["variant", *keys])
    deltas = []
    for row in frame.itertuples():
        ref = base.loc[(row.reference, row.dataset, row.seed, row.student)]
        deltas.append(
            {
                "d_roc_auc": row.roc_auc - ref["roc_auc"],
                "d_ece": row.ece - ref["ece"],
                "d_retention": row.auc_retention - ref["auc_retention"],
                "time_ratio": row.fit_cpu_s / ref["fit_cpu_s"],
            }
        )
    frame = pd.concat([frame, pd.DataFrame(deltas)], axis=1)
    order = list(dict.fromkeys(frame["variant"]))
    table = (
        frame.groupby(["variant", "student"], sort=False)
        .agg(
            roc_auc=("roc_auc", "mean"),
            ece=("ece", "mean"),
            auc_retention=("auc_retention", "mean"),
            d_roc_auc=("d_roc_auc", "mean"),
            d_ece=("d_ece", "mean"),
            d_retention=("d_retention", "mean"),
            time_ratio=("time_ratio", "mean"),
            fit_cpu_s=("fit_cpu_s", "mean"),
        )
        .reindex(order, level=0)
    )
    per_dataset = frame.pivot_table(
        index=["variant", "student"], columns="dataset", values="d_roc_auc", sort=False
    )
    return table, per_dataset


def verdict(table: pd.DataFrame, variants: dict[str, Variant]) -> str:
    """Which option raises the MLP and tree students' ROC-AUC most on average, at what cost."""
    rows = table[table.index.get_level_values("student").isin(STUDENT_KINDS)]
    means = rows.groupby(level="variant", sort=False)[["d_roc_auc", "time_ratio"]].mean()
    lines = []
    for label, candidates in (
        ("Among settings that could become the default", True),
        ("Among the others (extra data or domain constraints)", False),
    ):
        names = [
            name
            for name in means.index
            if variants[name].default_candidate == candidates
            and name != "baseline"
            and name != "labelled_half"
        ]
        if not names:
            continue
        best = means.loc[names, "d_roc_auc"].idxmax()
        gain, ratio = means.loc[best, "d_roc_auc"], means.loc[best, "time_ratio"]
        text = (
            f"{label}, {best!r} helps most: ROC-AUC {gain:+.4f} over its reference (mean over "
            f"MLP and tree students, datasets and seeds) at {ratio:.2f}x training time"
        )
        if candidates:
            bar = "below" if ratio < 2 else "above"
            text += (
                f", {bar} the 2x bar of issue 7"
                if gain > 0
                else "; no such option raises ROC-AUC on average"
            )
        lines.append(text + ".")
    return "\n\n".join(lines) if lines else "No option was run."


def main() -> None:
    variants_all = available_variants()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--variants",
        nargs="+",
        default=[v for v in variants_all if v not in DEFAULT_EXCLUDED],
        choices=list(variants_all),
        help="variants to run (their references are added)",
    )
    parser.add_argument("--out", default=str(RESULTS / "ablation"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)

    wanted = set(args.variants) | {variants_all[v].reference for v in args.variants}
    variants = {name: v for name, v in variants_all.items() if name in wanted}
    torch.set_num_threads(1)
    rows = []
    total = time.perf_counter()
    with (
        threadpool_limits(limits=1),
        tempfile.TemporaryDirectory(prefix="riskkd-ablation-") as cache,
    ):
        warm_up(cache)
        for name in args.datasets:
            for seed in args.seeds:
                start = time.perf_counter()
                rows.extend(run_one(name, seed, variants, cache))
                print(f"{name} seed={seed}: {time.perf_counter() - start:.0f}s", flush=True)
                # Runs so far, so that a long run that fails keeps what it measured.
                partial = Path(args.out).with_suffix(".partial.json")
                partial.parent.mkdir(parents=True, exist_ok=True)
                partial.write_text(json.dumps(rows, indent=2))
    elapsed = time.perf_counter() - total
    table, per_dataset = summarise(rows)
    lines = [
        f"Datasets: {', '.join(args.datasets)}; seeds: {' '.join(map(str, args.seeds))}; "
        f"total {elapsed / 60:.1f} min (wall clock) on one thread. ROC-AUC is macro one-vs-rest for the "
        "grades; ECE is of P(class 1) (binary) or of the top class.",
        "",
        "| variant | what |",
        "|---|---|",
        *(f"| {name} | {variants[name].description} |" for name in variants),
        "",
        "Means over datasets and seeds; `d_*` are changes against the reference "
        "(`labelled_half` for `unlabeled`, else `baseline`); `time_ratio` is training time "
        "over the reference's, in CPU seconds (`fit_cpu_s`).",
        "",
        table.to_markdown(floatfmt=".4f"),
        "",
        "Change of ROC-AUC against the reference, per dataset:",
        "",
        per_dataset.to_markdown(floatfmt="+.4f"),
        "",
        verdict(table, variants),
    ]
    markdown = "\n".join(lines)
    print(markdown)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "riskkd": riskkd.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "datasets": args.datasets,
        "seeds": args.seeds,
        "variants": list(variants),
        "minutes": elapsed / 60,
    }
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=2))
    out.with_suffix(".md").write_text(markdown + "\n")
    out.with_suffix(".partial.json").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
