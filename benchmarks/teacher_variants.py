"""Teacher variants on the bundled datasets: could another default LightGBM recipe do better?

For each dataset and seed (the splits of ``benchmarks/distillation.py``),
:class:`riskkd.teachers.LightGBMTeacher` (early stopping on a stratified 15%, refit on all
rows with the tree count scaled by 1 / 0.85) is fitted on the teacher's native input
(:class:`riskkd.inputs.InputSchema`), once with the default settings and once per variant
(its own parameters, or other LightGBM ones through ``lightgbm_params``), plus two
fixed-size models without early stopping (the plain recipe's 400 trees of 15 leaves at
learning rate 0.03, and 800) and two other ways to choose the tree count: the mean validation
curve of a 5-fold cross-validation (``lightgbm.cv``), and, on data with a time column (the
vehicle fraud), early stopping on the last training period after fitting on the earlier ones
(out-of-time validation, as credit models are validated); both refit on all rows with the
tree count scaled by the share of rows the early-stopped model was fitted on. Prints the
mean test ROC-AUC (macro one-vs-rest for the grades)
and mean tree count per variant and dataset, and each variant's change against the default
paired by seed (mean ± standard error), and writes them to
``benchmarks/results/teacher_variants.{md,json}``.

Run::

    python benchmarks/teacher_variants.py                  # all datasets, seeds 0 1 2
    python benchmarks/teacher_variants.py --seeds 0 1 2 3 4 5 6 7 8 9   # the committed run
    python benchmarks/teacher_variants.py --datasets vehicle_insurance_fraud --seeds 0
    python benchmarks/teacher_variants.py --variants "5-fold CV early stopping" --out /tmp/cv
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from distillation import mean_and_error
from sklearn.model_selection import StratifiedKFold

from riskkd.datasets import DATASETS, load_dataset, train_test_split_recommended
from riskkd.fidelity import classification_metrics
from riskkd.inputs import InputSchema
from riskkd.teachers import LightGBMTeacher

RESULTS = Path(__file__).parent / "results"
# Variant -> (LightGBMTeacher parameters, other LightGBM parameters).
VARIANTS = {
    "default": ({}, {}),
    "no subsampling": ({"subsample": 1.0, "colsample_bytree": 1.0}, {}),
    "colsample_bytree=0.5": ({"colsample_bytree": 0.5}, {}),
    "colsample_bynode=0.5": ({"colsample_bytree": 1.0, "colsample_bynode": 0.5}, {}),
    "learning_rate=0.01": ({"learning_rate": 0.01, "n_estimators": 10_000}, {}),
    "num_leaves=7": ({"num_leaves": 7}, {}),
    "reg_lambda=5": ({"reg_lambda": 5.0}, {}),
    "reg_lambda=10": ({"reg_lambda": 10.0}, {}),
    "min_child_samples=50": ({"min_child_samples": 50}, {}),
    "extra_trees": ({}, {"extra_trees": True}),
    "early stopping on AUC": ({}, {"metric": "auc"}),  # "auc_mu" for multi-class
    "max_cat_to_onehot=4 (LightGBM's)": ({"max_cat_to_onehot": 4}, {}),
    "max_cat_to_onehot=32": ({"max_cat_to_onehot": 32}, {}),
    "weak categorical smoothing": (
        {},
        {"cat_smooth": 1.0, "min_data_per_group": 20, "cat_l2": 1.0},
    ),
}
FIXED = {"plain: 400 trees, no early stopping": 400, "800 trees, no early stopping": 800}
CROSS_VALIDATED = "5-fold CV early stopping"
OUT_OF_TIME = "early stopping on the last training period"


class TeacherVariant(LightGBMTeacher):
    """LightGBMTeacher plus LightGBM parameters it does not expose (``extra``)."""

    def lightgbm_params(self, seed):
        return {**super().lightgbm_params(seed), **self.extra}


def make_teacher(params: dict, extra: dict, seed: int) -> TeacherVariant:
    teacher = TeacherVariant(random_state=seed, **params)
    teacher.extra = extra
    return teacher


def refit(params: dict, train, y, best_iteration: int, fit_share: float) -> lgb.LGBMClassifier:
    """The default teacher's LightGBM refit on all rows, trees scaled by ``1 / fit_share``
    (``LightGBMTeacher.refit_tree_count`` with ``fit_share`` of the rows early-stopped on)."""
    teacher = LightGBMTeacher(validation_fraction=1 - fit_share)
    n_trees = teacher.refit_tree_count(best_iteration)
    return lgb.LGBMClassifier(**{**params, "n_estimators": n_trees}).fit(train, y)


def cross_validated(train, y, seed: int) -> tuple[lgb.LGBMClassifier, int]:
    """Tree count at the minimum of the mean 5-fold validation log loss, then refit."""
    params = LightGBMTeacher(random_state=seed).lightgbm_params(seed)
    n_classes = int(y.max()) + 1
    objective = {"objective": "binary"}
    if n_classes > 2:
        objective = {"objective": "multiclass", "num_class": n_classes}
    booster_params = {key: value for key, value in params.items() if key != "n_estimators"}
    curves = lgb.cv(
        {**booster_params, **objective},
        lgb.Dataset(train, y),
        num_boost_round=params["n_estimators"],
        folds=StratifiedKFold(5, shuffle=True, random_state=seed),
        callbacks=[lgb.early_stopping(100, verbose=False)],
    )
    best = len(next(iter(curves.values())))
    model = refit(params, train, y, best, fit_share=0.8)
    return model, model.n_estimators


def out_of_time(train, y, time, seed: int) -> tuple[lgb.LGBMClassifier, int]:
    """Fit on all but the last training period, early-stop on it, then refit."""
    params = LightGBMTeacher(random_state=seed).lightgbm_params(seed)
    fit, val = time < time.max(), time == time.max()
    model = lgb.LGBMClassifier(**params).fit(
        train[fit],
        y[fit],
        eval_X=(train[val],),
        eval_y=(y[val],),
        callbacks=[lgb.early_stopping(100, verbose=False)],
    )
    model = refit(params, train, y, model.best_iteration_, fit_share=fit.mean())
    return model, model.n_estimators


def run_one(name: str, seed: int, variants: list[str]) -> list[dict]:
    bunch = load_dataset(name)
    X_train, X_test, y_train, y_test = train_test_split_recommended(bunch, random_state=seed)
    schema = InputSchema.from_data(X_train)
    train = schema.teacher_frame(schema.encode(X_train))
    test = schema.teacher_frame(schema.encode(X_test))
    classes, y = np.unique(np.asarray(y_train), return_inverse=True)
    y_true = np.searchsorted(classes, np.asarray(y_test))

    def auc(model) -> float:
        """The ROC-AUC of riskkd's fidelity report (macro one-vs-rest for the grades)."""
        return classification_metrics(y_true, model.predict_proba(test))["roc_auc"]

    rows = []
    for label, (params, extra) in VARIANTS.items():
        if label not in variants:
            continue
        if extra.get("metric") == "auc" and len(classes) > 2:
            extra = {**extra, "metric": "auc_mu"}
        model = make_teacher(params, extra, seed).fit(train, y)
        rows.append({"variant": label, "roc_auc": auc(model), "trees": model.n_trees_})
    for label, n_trees in FIXED.items():
        if label not in variants:
            continue
        model = lgb.LGBMClassifier(
            n_estimators=n_trees,
            num_leaves=15,
            learning_rate=0.03,
            random_state=seed,
            n_jobs=1,
            verbose=-1,
        ).fit(train, y)
        rows.append({"variant": label, "roc_auc": auc(model), "trees": n_trees})
    fitted = {}
    if CROSS_VALIDATED in variants:
        fitted[CROSS_VALIDATED] = cross_validated(train, y, seed)
    if OUT_OF_TIME in variants and bunch.get("time") is not None:
        time = bunch.time.loc[X_train.index].to_numpy()  # aligned by row label
        fitted[OUT_OF_TIME] = out_of_time(train, y, time, seed)
    for label, (model, n_trees) in fitted.items():
        rows.append({"variant": label, "roc_auc": auc(model), "trees": n_trees})
    return [{"dataset": name, "seed": seed, **row} for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    order = list(VARIANTS) + list(FIXED) + [CROSS_VALIDATED, OUT_OF_TIME]
    parser.add_argument(
        "--variants",
        nargs="+",
        default=order[1:],
        choices=order[1:],
        help="the variants to fit besides the default (all by default)",
    )
    parser.add_argument("--out", default=str(RESULTS / "teacher_variants"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)

    variants = ["default", *args.variants]
    rows = [
        row
        for name in args.datasets
        for seed in args.seeds
        for row in run_one(name, seed, variants)
    ]
    frame = pd.DataFrame(rows)
    order = [label for label in order if label in set(frame["variant"])]
    auc = frame.pivot_table("roc_auc", "variant", "dataset").reindex(order)
    trees = frame.pivot_table("trees", "variant", "dataset").reindex(order)
    # "n/a": the out-of-time variant on data without a time column.
    table = (auc.map(lambda v: f"{v:.4f}") + trees.map(lambda v: f" ({v:.0f})")).where(
        auc.notna(), "n/a"
    )
    # Paired by dataset and seed: variant minus default, mean and standard error over seeds.
    by_seed = frame.pivot_table("roc_auc", ["dataset", "seed"], "variant", dropna=False)
    change = by_seed.sub(by_seed["default"], axis=0).groupby("dataset")
    table_change = mean_and_error(change).T.reindex(order[1:]).where(auc.notna(), "n/a")
    markdown = (
        f"Seeds: {' '.join(map(str, args.seeds))}. Mean test ROC-AUC over seeds (mean tree "
        "count in brackets).\n\n"
        + table.to_markdown()
        + "\n\nChange against the default, paired by seed: mean ± standard error.\n\n"
        + table_change.to_markdown()
        + "\n"
    )
    print(markdown)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=2))
    out.with_suffix(".md").write_text(markdown)


if __name__ == "__main__":
    main()
