"""Main job: distil a credit-scoring model end to end and govern it through MLflow.

Loads a bundled dataset (default: the Spanish credit applications), validates it against
its data contract (``data_schemas/``) where it has one, splits it as the dataset recommends, distils the default LightGBM teacher into the default MLP student,
prints the fidelity table, saves the model folder, logs the run (params, history, fidelity,
plots, HTML report, model) to MLflow, registers a version and moves the ``champion`` alias
to it only if the fidelity gates pass.

Run (MLflow in ``./mlflow.db`` unless ``MLFLOW_TRACKING_URI`` is set)::

    python pipelines/credit_scoring.py
    python pipelines/credit_scoring.py --dataset taiwan_credit_default --student tree
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

import riskkd
from riskkd import DistilledClassifier, fidelity_report
from riskkd.datasets import DATASETS, load_dataset, train_test_split_recommended

# The data contract (riskkd.schemas) of each bundled dataset that has one.
CONTRACTS = {
    "credit_data_belanche": "credit_application",
    "lending_club_grades_2018q1": "risk_rating",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="credit_data_belanche", choices=DATASETS)
    parser.add_argument("--student", default="mlp", choices=["mlp", "tree"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model-name", default=None, help="registered model name")
    parser.add_argument("--output", default="artifacts", help="folder for the saved model")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", module="mlflow")
    warnings.filterwarnings("ignore", category=FutureWarning)

    import riskkd.tracking as tracking

    name = args.model_name or args.dataset.replace("_", "-")
    bunch = load_dataset(args.dataset)
    if args.dataset in CONTRACTS:
        from riskkd.schemas import validate

        validate(bunch.frame, CONTRACTS[args.dataset])  # raises, listing every broken check
        print(f"{args.dataset}: valid against the {CONTRACTS[args.dataset]!r} contract")
    X_train, X_test, y_train, y_test = train_test_split_recommended(bunch, random_state=args.seed)
    print(f"{args.dataset}: {len(X_train)} training rows, {len(X_test)} test rows")

    start = time.perf_counter()
    model = DistilledClassifier(student=args.student, n_jobs=-1, random_state=args.seed)
    model.fit(X_train, y_train)
    print(f"distilled in {time.perf_counter() - start:.1f}s\n")

    report = fidelity_report(model, X_test, y_test)
    with pd.option_context("display.float_format", "{:.4f}".format):
        print(report.to_string(), "\n")

    folder = Path(args.output) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    riskkd.save(model, folder)
    print(f"saved model folder: {folder}")

    run_id = tracking.log_distillation(
        model,
        X_test,
        y_test,
        run_name=f"{name}-{args.student}",
        dataset_name=args.dataset,
        X_train=X_train,
        registered_model_name=name,
    )
    import mlflow

    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    version = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")[0].version
    print(f"MLflow tracking URI: {mlflow.get_tracking_uri()}")
    print(f"run {run_id}; HTML report: {run.info.artifact_uri}/fidelity_report.html")
    try:
        tracking.promote(name, version)
    except tracking.FidelityGateError as error:
        print(f"{name} version {version} registered, NOT promoted: {error}")
        return 0
    print(f"{name} version {version} registered and promoted to models:/{name}@champion")
    return 0


if __name__ == "__main__":
    sys.exit(main())
