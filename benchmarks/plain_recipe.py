"""The plain distillation recipe of issue 2, acceptance 4, paired with riskkd on the same splits.

The plain recipe, as the issue states it: a LightGBM teacher of 400 trees, 15 leaves and
learning rate 0.03 (LightGBM's native categoricals); soft targets from 5-fold out-of-fold
teacher predictions, calibrated by isotonic regression fitted on them; inputs prepared by a
``ColumnTransformer`` (median-imputed quantile-transformed numbers, one-hot categories); a
64-32 torch MLP trained 30 epochs on soft cross-entropy (and the same MLP on hard labels);
a depth-6 regression tree on the soft targets. What the issue leaves open is set the usual
way: Adam at learning rate 1e-3, mini-batches of 256, no early stopping, ReLU.

Each dataset and seed uses the split of ``benchmarks/distillation.py``
(:func:`riskkd.datasets.train_test_split_recommended`) and seeds every model with the
split's seed. The teacher, the distilled MLP, the hard-label MLP and the tree are scored
by test ROC-AUC (macro one-vs-rest for the grades, as :func:`riskkd.fidelity_report`).

With ``--compare`` (the JSON of a ``benchmarks/distillation.py`` run), the per-seed
figures are paired with riskkd's on the seeds both ran, and a second table gives the mean
difference (riskkd - plain) with its standard error over seeds. The split of
``vehicle_insurance_fraud`` is fixed (1994-95 / 1996), so its seeds vary only the models'
own randomness.

Run::

    python benchmarks/plain_recipe.py --compare benchmarks/results/distillation.json
    python benchmarks/plain_recipe.py --plain benchmarks/results/plain_recipe.json \
        --compare benchmarks/results/distillation.json  # re-pair without rerunning
    python benchmarks/plain_recipe.py --datasets german_credit --seeds 0 1
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import torch
from distillation import MODELS, load_runs, paired, run_all, write_results
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, QuantileTransformer
from sklearn.tree import DecisionTreeRegressor

from riskkd.datasets import DATASETS, load_dataset, train_test_split_recommended
from riskkd.fidelity import classification_metrics

RESULTS = Path(__file__).parent / "results"
TEACHER = {"n_estimators": 400, "num_leaves": 15, "learning_rate": 0.03, "verbose": -1}


def categorical_columns(X: pd.DataFrame) -> list[str]:
    return [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]


def as_lightgbm(X: pd.DataFrame, categories: dict[str, pd.Index]) -> pd.DataFrame:
    """Non-numeric columns as pandas categoricals with the training levels."""
    X = X.copy()
    for col, levels in categories.items():
        X[col] = pd.Categorical(X[col].astype(object), categories=levels)
    return X


def fit_teacher(X: pd.DataFrame, y: np.ndarray, seed: int) -> lgb.LGBMClassifier:
    return lgb.LGBMClassifier(**TEACHER, random_state=seed, n_jobs=1).fit(X, y)


def soft_targets(X: pd.DataFrame, y: np.ndarray, n_classes: int, seed: int) -> np.ndarray:
    """5-fold out-of-fold teacher probabilities, isotonic-calibrated.

    Binary: P(class 1) calibrated. Multi-class: each class one-vs-rest, then renormalised.
    """
    oof = np.zeros((len(y), n_classes))
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    for fit, held in folds.split(X, y):
        oof[held] = fit_teacher(X.iloc[fit], y[fit], seed).predict_proba(X.iloc[held])

    def isotonic(k: int) -> np.ndarray:
        iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")
        return iso.fit_transform(oof[:, k], y == k)

    if n_classes == 2:
        positive = isotonic(1)
        return np.column_stack([1 - positive, positive])
    calibrated = np.clip(np.column_stack([isotonic(k) for k in range(n_classes)]), 1e-6, None)
    return calibrated / calibrated.sum(axis=1, keepdims=True)


def input_transformer(X: pd.DataFrame, seed: int) -> ColumnTransformer:
    categorical = categorical_columns(X)
    numeric = [c for c in X.columns if c not in categorical]
    return ColumnTransformer(
        [
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="median"),
                    QuantileTransformer(n_quantiles=min(1000, len(X)), random_state=seed),
                ),
                numeric,
            ),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                categorical,
            ),
        ]
    )


def train_mlp(Z: np.ndarray, targets: np.ndarray, seed: int) -> torch.nn.Module:
    """64-32 ReLU MLP, 30 epochs of Adam on soft cross-entropy (one-hot rows: hard labels)."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(Z.shape[1], 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, targets.shape[1]),
    )
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    Zt = torch.as_tensor(Z, dtype=torch.float32)
    Tt = torch.as_tensor(targets, dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(30):
        order = torch.randperm(len(Zt), generator=generator)
        for start in range(0, len(Zt), 256):
            batch = order[start : start + 256]
            loss = -(Tt[batch] * torch.log_softmax(net(Zt[batch]), dim=1)).sum(dim=1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return net.eval()


def mlp_proba(net: torch.nn.Module, Z: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(net(torch.as_tensor(Z, dtype=torch.float32)), dim=1).numpy()


def run_one(name: str, seed: int) -> dict:
    bunch = load_dataset(name)
    X_train, X_test, y_train, y_test = train_test_split_recommended(bunch, random_state=seed)
    classes, y = np.unique(np.asarray(y_train), return_inverse=True)
    y_test = np.searchsorted(classes, np.asarray(y_test))
    n_classes = len(classes)
    categories = {
        col: pd.Index(X_train[col].dropna().astype(object).unique())
        for col in categorical_columns(X_train)
    }
    L_train, L_test = as_lightgbm(X_train, categories), as_lightgbm(X_test, categories)

    proba = {"teacher": fit_teacher(L_train, y, seed).predict_proba(L_test)}
    soft = soft_targets(L_train, y, n_classes, seed)
    transformer = input_transformer(X_train, seed)
    Z_train = transformer.fit_transform(X_train)
    Z_test = transformer.transform(X_test)
    proba["mlp"] = mlp_proba(train_mlp(Z_train, soft, seed), Z_test)
    proba["hard_mlp"] = mlp_proba(train_mlp(Z_train, np.eye(n_classes)[y], seed), Z_test)
    tree = DecisionTreeRegressor(max_depth=6, random_state=seed).fit(Z_train, soft)
    leaves = np.clip(tree.predict(Z_test).reshape(len(Z_test), -1), 0, None)
    proba["tree"] = leaves / leaves.sum(axis=1, keepdims=True).clip(1e-12)
    row = {"dataset": name, "seed": seed}
    # The ROC-AUC of riskkd's fidelity report (macro one-vs-rest for the grades).
    row.update(
        {f"{key}_auc": classification_metrics(y_test, p)["roc_auc"] for key, p in proba.items()}
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--compare", nargs="*", default=[], help="distillation.py JSON files")
    parser.add_argument(
        "--plain",
        help="a plain_recipe.json of an earlier run: pair its runs instead of rerunning the recipe",
    )
    parser.add_argument("--out", default=str(RESULTS / "plain_recipe"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)

    if args.plain:
        rows = load_runs([args.plain]).to_dict("records")
    else:
        rows = run_all(run_one, args.datasets, args.seeds)
    plain = pd.DataFrame(rows)
    columns = [f"{key}_auc" for key in MODELS]
    markdown = "Plain recipe, test ROC-AUC, mean over seeds\n\n" + plain.groupby("dataset")[
        columns
    ].mean().to_markdown(floatfmt=".4f")
    if args.compare:
        markdown += (
            "\n\nriskkd - plain, test ROC-AUC, mean ± standard error over paired seeds\n\n"
            + paired(plain, load_runs(args.compare)).to_markdown()
        )
    print(markdown)
    write_results(args.out, rows, markdown, vars(args))


if __name__ == "__main__":
    main()
