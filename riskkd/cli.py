"""The ``riskkd`` command line: run pipelines, distil, evaluate, report, score, list data.

Every command prints progress on stderr (``--quiet`` turns it off) and its results on
stdout, and exits with one of :data:`EXIT_CODES`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

__all__ = ["EXIT_CODES", "app", "main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_GATES = 3
EXIT_RECONCILIATION = 4
#: Exit status of every command.
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_FAILURE: "failure (bad data, a broken data contract, a training or I/O error)",
    EXIT_USAGE: "usage or config error (unknown option, invalid pipeline YAML)",
    EXIT_GATES: (
        "riskkd run --require-promotion: the fidelity gates refused the promotion "
        "(model registered)"
    ),
    EXIT_RECONCILIATION: "riskkd score: rows in != rows scored + rows rejected",
}
_EXIT_HELP = "\n\n".join(f"[bold]{code}[/bold] {meaning}" for code, meaning in EXIT_CODES.items())

app = typer.Typer(
    name="riskkd",
    help=(
        "Distil gradient-boosted risk models into compact, calibrated students; run pipelines, "
        "report, score files.\n\n"
        "Start here:\n\n"
        "  riskkd datasets\n\n"
        "  riskkd run pipelines/credit_scoring.yaml\n\n"
        "  riskkd score --model models:/credit-scoring@champion --input applications/ "
        "--output scores/\n\n"
        "Run [bold]riskkd COMMAND --help[/bold] for a command's options and examples.\n\n"
        f"[bold]Exit codes[/bold]\n\n{_EXIT_HELP}"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)

QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress bars or tables; errors only.")
]
DatasetOption = Annotated[
    str | None,
    typer.Option(
        "--dataset", help="A bundled dataset (see `riskkd datasets`).", show_default=False
    ),
]
DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="A CSV / parquet file or a parquet folder (needs --target).",
        show_default=False,
    ),
]
TargetOption = Annotated[
    str | None, typer.Option("--target", help="Label column of --data.", show_default=False)
]
DropOption = Annotated[
    list[str] | None,
    typer.Option(
        "--drop", help="A column that is not a feature (repeat for more).", show_default=False
    ),
]
ModelOption = Annotated[
    str,
    typer.Option(
        "--model",
        help="A model folder (riskkd.save, `riskkd distill`) or an MLflow URI: "
        "models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/model.",
    ),
]
ThresholdOption = Annotated[
    float | None,
    typer.Option(
        "--threshold",
        callback=lambda value: _inside_unit_interval("--threshold", value),
        help="Decision threshold of a binary model's decision agreement, between 0 and 1 "
        "(default 0.5). A multi-class model compares top classes and takes none.",
        show_default=False,
    ),
]


def _inside_unit_interval(flag: str, value: float | None) -> float | None:
    """Refuse 0 and 1 too: every decision alike, the agreement would be 1 by construction."""
    if value is not None and not 0.0 < value < 1.0:
        raise typer.BadParameter(f"{flag} {value:g} must be strictly between 0 and 1.")
    return value


def _check_threshold(model: Any, threshold: float | None) -> None:
    """Refuse ``--threshold`` for a multi-class model, which compares top classes (before
    any data is read; :func:`riskkd.fidelity_report` would refuse it too)."""
    from .fidelity import multiclass_threshold_refusal

    if threshold is not None and len(model.classes_) > 2:
        raise typer.BadParameter(
            multiclass_threshold_refusal(f"--threshold {threshold:g}", list(model.classes_))
        )


# ---------------------------------------------------------------------- output helpers
def _consoles(quiet: bool) -> tuple[Console, Console]:
    """(stdout console for results, stderr console for progress and errors)."""
    # Piped or redirected, rich would cut tables to 80 columns: results keep every cell.
    width = None if sys.stdout.isatty() else 240
    return Console(quiet=quiet, soft_wrap=True, width=width), Console(stderr=True, soft_wrap=True)


def _fail(err: Console, message: str, code: int) -> typer.Exit:
    err.print(Text.assemble(("error: ", "bold red"), message))
    return typer.Exit(code)


@contextlib.contextmanager
def _errors(err: Console) -> Iterator[None]:
    """Turn exceptions into a one-paragraph message and an exit code."""
    from pydantic import ValidationError

    from .pipeline import ConfigError

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when mlflow is imported
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="mlflow")
            warnings.filterwarnings("ignore", category=FutureWarning)
            yield
    except typer.Exit:
        raise
    except (ConfigError, ValidationError, typer.BadParameter) as error:
        raise _fail(err, str(error), EXIT_USAGE) from None
    except KeyboardInterrupt:
        raise _fail(err, "interrupted", EXIT_FAILURE) from None
    except Exception as error:
        name = type(error).__name__
        raise _fail(err, f"{name}: {error}", EXIT_FAILURE) from None


def _silenced(quiet: bool) -> contextlib.AbstractContextManager:
    """With --quiet, swallow what libraries print to stderr (MLflow's registry notes)."""
    return contextlib.redirect_stderr(io.StringIO()) if quiet else contextlib.nullcontext()


def _fidelity_table(report: Any, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("metric", no_wrap=True)
    table.add_column("teacher", justify="right")
    table.add_column("student", justify="right")

    def cell(metric: str, value: Any) -> str:
        if value != value:  # NaN: a comparison row has no teacher value
            return ""
        if metric == "size_bytes":
            return f"{int(value):,}"
        if metric == "size_ratio":
            return f"{value:.1f}x"
        return f"{value:.4f}"

    for metric, row in report.iterrows():
        table.add_row(str(metric), cell(metric, row["teacher"]), cell(metric, row["student"]))
    return table


def _step_progress(
    err: Console, quiet: bool, steps: dict[str, str]
) -> tuple[Progress | None, Callable]:
    """A rich progress bar over pipeline steps and its ``on_step`` callback."""
    if quiet:
        return None, None
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )
    task = progress.add_task("pipeline", total=len(steps))

    def on_step(step: str, event: str, seconds: float | None) -> None:
        if event == "start":
            progress.update(task, description=f"{step}: {steps.get(step, step)}")
        else:
            progress.advance(task)
            progress.console.print(f"  [green]done[/green] {step} ({seconds:.1f} s)", markup=True)

    return progress, on_step


@contextlib.contextmanager
def _riskkd_logs(console: Console | None) -> Iterator[None]:
    """Show riskkd's INFO log lines (e.g. the steps of a Dask fit) above the progress bar."""
    if console is None:
        yield
        return

    class _Console(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            console.print(f"  [dim]{record.name}: {record.getMessage()}[/dim]", markup=True)

    logger = logging.getLogger("riskkd")
    handler, level = _Console(logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


_NO_MODEL = (
    "--model {!r}: no such folder; give a folder written by `riskkd distill` or riskkd.save, "
    "or an MLflow URI such as models:/credit-scoring@champion."
)


def _is_mlflow_uri(spec: str) -> bool:
    return spec.startswith(("models:/", "runs:/", "mlflow-artifacts:/"))


def _load_model(spec: str) -> Any:
    """A model folder, or an MLflow model URI."""
    if _is_mlflow_uri(spec):
        import mlflow

        from . import tracking

        uri = tracking.default_tracking_uri()
        where = (
            f"the tracking store {uri} (MLFLOW_TRACKING_URI, else ./mlflow.db of the folder "
            "riskkd runs in)"
        )
        database = uri.removeprefix("sqlite:///")
        if uri.startswith("sqlite:///") and not Path(database).is_file():
            raise typer.BadParameter(
                f"--model {spec}: {where} does not exist. Run from the folder that holds "
                "mlflow.db, or set MLFLOW_TRACKING_URI."
            )
        mlflow.set_tracking_uri(uri)
        try:
            return tracking.load_model(spec)
        except mlflow.exceptions.MlflowException as error:
            raise ValueError(f"--model {spec} was looked up in {where}: {error}") from None
    from .persistence import load

    path = Path(spec)
    if not path.exists():
        raise typer.BadParameter(_NO_MODEL.format(spec))
    return load(path)


def _check_source(dataset: str | None, data: Path | None, target: str | None) -> None:
    """Usage errors of --dataset / --data / --target, named by their flags."""
    from .datasets import DATASETS

    if (dataset is None) == (data is None):
        raise typer.BadParameter(
            "give exactly one of --dataset NAME (see `riskkd datasets`) or --data FILE."
        )
    if data is not None and target is None:
        raise typer.BadParameter(f"--data {str(data)!r} needs --target COLUMN (the label column).")
    if dataset is not None:
        _check_choice("--dataset", dataset, DATASETS)


def _check_choice(flag: str, value: str, choices: Iterable[str]) -> None:
    """A usage error naming ``flag`` when ``value`` is not one of ``choices``."""
    import difflib

    choices = list(choices)
    if value not in choices:
        close = difflib.get_close_matches(value, choices, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise typer.BadParameter(f"{flag} {value!r} is not one of {', '.join(choices)}.{hint}")


def _data(dataset: str | None, data: Path | None, target: str | None, drop: list[str] | None):
    """(X, y, source) of --dataset / --data."""
    _check_source(dataset, data, target)
    from .pipeline import DataConfig, StratifiedSplit, load_data

    config = DataConfig(
        dataset=dataset, path=None if data is None else str(data), target=target, drop=drop or []
    )
    loaded = load_data(config, StratifiedSplit(kind="stratified"), seed=0)
    if len(loaded.y) == 0:
        raise ValueError(f"{loaded.source} holds no rows to evaluate on.")
    if loaded.y.nunique() < 2:
        raise ValueError(
            f"{loaded.y.name!r} holds one class ({loaded.y.iloc[:1].tolist()}) in these rows; "
            "ROC-AUC, KS and the other fidelity figures compare classes. Evaluate on rows with "
            "at least two."
        )
    return loaded.X, loaded.y, loaded.source


# ---------------------------------------------------------------------- commands
@app.command(
    epilog=(
        "Examples:\n\n"
        "  riskkd run pipelines/credit_scoring.yaml\n\n"
        "  riskkd run pipelines/credit_scoring.yaml --set distillation.cv=2 --set data.n_rows=1500\n\n"
        "  riskkd run pipelines/fraud_detection.yaml --set mlflow.enabled=false --quiet"
    )
)
def run(
    config: Annotated[
        Path,
        typer.Argument(
            help="Pipeline YAML, e.g. pipelines/credit_scoring.yaml.", show_default=False
        ),
    ],
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a key of the config, KEY.PATH=VALUE (value read as YAML); repeatable.",
            show_default=False,
        ),
    ] = None,
    require_promotion: Annotated[
        bool,
        typer.Option(
            "--require-promotion",
            help="Exit with code 3 when the fidelity gates refuse the promotion (for CI jobs "
            "that must deploy). Without it a refused promotion is reported and the exit code is 0.",
        ),
    ] = False,
    quiet: QuietOption = False,
) -> None:
    """Run a pipeline YAML end to end.

    Steps: load the data -> check its contract -> split -> teacher (early stopping) -> distil -> evaluate on the test split -> save the model and the HTML report -> log to MLflow and register -> promote only if the fidelity gates pass.

    Prints the fidelity table on the test split, the report's path and the registry outcome. Everything lands in a new folder under the config's `output`. A refused promotion is a result, not a failure: the version is registered and the failing gates are listed; with --require-promotion it exits with code 3.
    """
    from .pipeline import STEPS, load_config, runner_for

    out, err = _consoles(quiet)
    with _errors(err), _silenced(quiet):
        loaded = load_config(config, set_)
        if require_promotion and not loaded.mlflow.enabled:
            raise typer.BadParameter(  # (printed once --quiet's redirection has ended)
                "--require-promotion needs the MLflow registry, but mlflow.enabled is false in "
                "the config; enable it or drop --require-promotion."
            )
        steps = dict(STEPS)
        if not loaded.mlflow.enabled:
            del steps["mlflow"], steps["promote"]
        progress, on_step = _step_progress(err, quiet, steps)
        console = None if progress is None else progress.console
        with progress if progress is not None else contextlib.nullcontext(), _riskkd_logs(console):
            result = runner_for(loaded, base_dir=config.resolve().parent, on_step=on_step).run()
    out.print(
        _fidelity_table(result.fidelity, f"Fidelity on the test split ({result.n_test:,} rows)")
    )
    out.print(f"model folder: {result.model_dir}", highlight=False)
    if result.report_path is not None:
        out.print(f"report: {result.report_path}", highlight=False)
    if result.run_id is not None:
        out.print(f"MLflow run {result.run_id} ({result.tracking_uri})", highlight=False)
        name, version, alias = result.registered_model_name, result.version, result.alias
        if result.promoted:
            out.print(f"{name} version {version} promoted: models:/{name}@{alias}", highlight=False)
        else:
            out.print(
                f"{name} version {version} registered, NOT promoted to @{alias}:", highlight=False
            )
            for failure in result.gate_failures:
                out.print(f"  - {failure}", highlight=False)
            if require_promotion:
                if quiet:  # the reason, on stderr: --quiet prints errors only
                    failures = "; ".join(result.gate_failures)
                    err.print(f"error: {name} version {version} NOT promoted: {failures}")
                raise typer.Exit(EXIT_GATES)


@app.command(
    epilog=(
        "Examples:\n\n"
        "  riskkd distill --dataset credit_data_belanche --output models/credit\n\n"
        "  riskkd distill --data loans.parquet --target default --drop loan_id --student tree "
        "--teacher xgboost --output models/loans\n\n"
        "  riskkd distill --dataset german_credit --test-size 0 --output models/german"
    )
)
def distill(
    output: Annotated[
        Path,
        typer.Option("--output", help="New model folder (must not exist).", show_default=False),
    ],
    dataset: DatasetOption = None,
    data: DataOption = None,
    target: TargetOption = None,
    drop: DropOption = None,
    contract: Annotated[
        str | None,
        typer.Option(
            help="Data contract: a riskkd.schemas name or a pandera YAML file.", show_default=False
        ),
    ] = None,
    teacher: Annotated[
        str,
        typer.Option(
            help="lightgbm | xgboost | hist_gradient_boosting (early-stopped). A "
            "hist_gradient_boosting teacher has no pickle-free format: the folder keeps only "
            "the student, which scores, but `riskkd evaluate` and `report` need the teacher."
        ),
    ] = "lightgbm",
    student: Annotated[
        str, typer.Option(help="mlp | tree | scorecard (riskkd.students.STUDENTS).")
    ] = "mlp",
    cv: Annotated[int, typer.Option(min=2, help="Cross-fitting folds of the teacher.")] = 5,
    test_size: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=0.9,
            help="Stratified share held out for the fidelity table; 0: fit on all rows.",
        ),
    ] = 0.3,
    seed: Annotated[int, typer.Option(help="Seed of the split and of the model.")] = 0,
    quiet: QuietOption = False,
) -> None:
    """Distil a model from a dataset or a file and save its folder.

    Splits off --test-size of the rows (stratified), cross-fits the teacher, distils the student, prints the fidelity table on the held-out rows and saves the model folder (`riskkd score --model FOLDER` scores with it). For time or group splits, MLflow and a report, write a pipeline YAML and use `riskkd run`.
    """
    from .persistence import save
    from .pipeline import TeacherConfig, TrainTestSplit, load_config, runner_for
    from .pipeline._data import resolve_contract
    from .students import STUDENTS

    out, err = _consoles(quiet)
    with _errors(err), _silenced(quiet):
        if output.exists():
            raise typer.BadParameter(f"--output {str(output)!r} already exists; give a new folder.")
        blocking = next((p for p in output.absolute().parents if p.is_file()), None)
        if blocking is not None:
            raise typer.BadParameter(
                f"--output {str(output)!r}: {str(blocking)!r} is a file, not a folder; give "
                "another path."
            )
        _check_source(dataset, data, target)
        _check_choice("--teacher", teacher, get_args(TeacherConfig.model_fields["kind"].annotation))
        _check_choice("--student", student, STUDENTS)
        if contract is not None:
            try:
                resolve_contract(contract, key="--contract")
            except (ValueError, FileNotFoundError) as error:
                raise typer.BadParameter(str(error)) from None
        has_test = test_size > 0
        config = load_config(
            {
                "name": "distill",
                "seed": seed,
                "data": {
                    "dataset": dataset,
                    "path": None if data is None else str(data),
                    "target": target,
                    "drop": drop or [],
                },
                "contract": contract,
                "split": {"kind": "stratified", "test_size": test_size if has_test else 0.5},
                "teacher": {"kind": teacher},
                "training": {"n_jobs": -1},
                "distillation": {"student": student, "cv": cv},
                "report": {"path": None},
                "mlflow": {"enabled": False},
            }
        )
        steps = {k: v for k, v in _steps().items() if k in _DISTILL_STEPS}
        if not has_test:
            steps.pop("evaluate")
        progress, on_step = _step_progress(err, quiet, steps)
        runner = runner_for(config, on_step=on_step)
        console = None if progress is None else progress.console
        with progress if progress is not None else contextlib.nullcontext(), _riskkd_logs(console):
            loaded = runner.step("load", runner.load)
            runner.step("validate", runner.validate, loaded)
            if has_test:
                split = runner.step("split", runner.split, loaded)
            else:
                X, y = loaded.X, loaded.y
                split = runner.step("split", TrainTestSplit, X, X.iloc[:0], y, y.iloc[:0])
            teacher_model = runner.step("teacher", runner.teacher, split)
            model = runner.step("distill", runner.distill, teacher_model, split)
            fidelity = runner.step("evaluate", runner.evaluate, model, split) if has_test else None
            runner.step("save", save, model, output)
    if fidelity is not None:
        out.print(_fidelity_table(fidelity, f"Fidelity on {len(split.y_test):,} held-out rows"))
    out.print(f"model folder: {output} (trained on {len(split.y_train):,} rows)", highlight=False)


_DISTILL_STEPS = ("load", "validate", "split", "teacher", "distill", "evaluate", "save")


def _steps() -> dict[str, str]:
    from .pipeline import STEPS

    return STEPS


@app.command(
    epilog=(
        "Examples:\n\n"
        "  riskkd evaluate --model models/credit --dataset credit_data_belanche\n\n"
        "  riskkd evaluate --model models:/credit-scoring@champion --data holdout.csv --target Status"
    )
)
def evaluate(
    model: ModelOption,
    dataset: DatasetOption = None,
    data: DataOption = None,
    target: TargetOption = None,
    drop: DropOption = None,
    threshold: ThresholdOption = None,
    csv: Annotated[
        Path | None,
        typer.Option("--csv", help="Also write the table to this CSV file.", show_default=False),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Print the fidelity table (teacher vs student) of a saved model on labelled data.

    ROC-AUC, PR-AUC, KS, Gini, Brier, log loss, ECE and size of teacher and student, then AUC retention, rank correlation, decision agreement and size ratio. Use rows the model was not trained on.
    """
    from .fidelity import fidelity_report

    out, err = _consoles(quiet)
    with _errors(err):
        fitted = _load_model(model)
        _check_threshold(fitted, threshold)
        X, y, source = _data(dataset, data, target, drop)
        report = fidelity_report(fitted, X, y, threshold=threshold)
        if csv is not None:
            csv.parent.mkdir(parents=True, exist_ok=True)  # as the HTML report's folders
            report.to_csv(csv)
    out.print(_fidelity_table(report, f"Fidelity on {source} ({len(y):,} rows)"))
    if csv is not None:
        out.print(f"table: {csv}", highlight=False)


@app.command(
    epilog=(
        "Examples:\n\n"
        "  riskkd report --model models/credit --dataset credit_data_belanche --output credit.html\n\n"
        "  riskkd report --model models:/risk-rating@champion --data grades.parquet --target grade "
        "--output grades.html --title 'Grades, Q3 review'"
    )
)
def report(
    model: ModelOption,
    output: Annotated[
        Path, typer.Option("--output", help="The HTML file to write.", show_default=False)
    ],
    dataset: DatasetOption = None,
    data: DataOption = None,
    target: TargetOption = None,
    drop: DropOption = None,
    title: Annotated[str | None, typer.Option(help="Page title.", show_default=False)] = None,
    threshold: ThresholdOption = None,
    quiet: QuietOption = False,
) -> None:
    """Write the self-contained HTML report of a saved model on labelled data.

    One file that opens offline: fidelity table, ROC / PR curves and reliability diagrams of teacher and student, score scatter, score distributions with PSI, the grade confusion matrix for ratings, sizes and latencies.
    """
    from .report import write_report

    out, err = _consoles(quiet)
    with _errors(err):
        fitted = _load_model(model)
        _check_threshold(fitted, threshold)
        X, y, _ = _data(dataset, data, target, drop)
        with (
            err.status("writing the report", spinner="dots")
            if not quiet
            else contextlib.nullcontext()
        ):
            path = write_report(fitted, X, y, output, title=title, threshold=threshold)
    out.print(f"report: {path}", highlight=False)


@app.command(
    epilog=(
        "Examples:\n\n"
        "  riskkd score --model models:/credit-scoring@champion --input applications.csv "
        "--output scores/ --id-cols application_id\n\n"
        "  riskkd score --model models/fraud --input transactions/ --output scores/ "
        "--chunk-rows 500000 --resume\n\n"
        "  riskkd score --model models/fraud --input transactions/ --output scores/ --engine dask "
        "--scheduler tcp://10.0.0.5:8786"
    )
)
def score(
    model: ModelOption,
    input: Annotated[
        Path,
        typer.Option(
            "--input", help="A CSV or parquet file, or a folder of them.", show_default=False
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            help="Folder of parquet parts, _manifest.json and _rejects/.",
            show_default=False,
        ),
    ],
    id_cols: Annotated[
        list[str] | None,
        typer.Option(
            "--id-cols",
            help="Columns copied to the output with the scores (repeat, or comma-separate).",
            show_default=False,
        ),
    ] = None,
    chunk_rows: Annotated[
        int,
        typer.Option(
            "--chunk-rows", min=1, help="Rows per chunk and per output part (bounds memory)."
        ),
    ] = 100_000,
    engine: Annotated[str, typer.Option("--engine", help="local | dask.")] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Dask scheduler address (default: a LocalCluster with 2 workers).",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Keep the parts an earlier run finished.")
    ] = False,
    fail_fast: Annotated[
        bool,
        typer.Option("--fail-fast", help="Stop at the first row that breaks the input contract."),
    ] = False,
    quiet: QuietOption = False,
) -> None:
    """Score CSV / parquet files in chunks into parquet parts.

    Each part holds the id columns, the class probabilities, the decision (or grade) and the model version. Each part is written atomically and recorded in _manifest.json; rows that break the input contract go to _rejects/ with the reason (or stop the job with --fail-fast). The job ends by reconciling rows in = rows scored + rows rejected (exit code 4 if not).
    """
    out, err = _consoles(quiet)
    if engine not in ("local", "dask"):
        raise _fail(err, f"--engine: {engine!r} is not one of 'local', 'dask'.", EXIT_USAGE)
    if scheduler is not None and engine != "dask":
        raise _fail(err, f"--scheduler {scheduler!r} needs --engine dask.", EXIT_USAGE)
    ids = [c.strip() for item in id_cols or [] for c in item.split(",") if c.strip()]
    if len(set(ids)) != len(ids):
        raise _fail(err, f"--id-cols: {ids} names a column twice.", EXIT_USAGE)
    from .scoring import ReconciliationError, score_files

    with _errors(err):
        if not input.exists():
            raise typer.BadParameter(f"--input {str(input)!r} does not exist.")
        if not _is_mlflow_uri(model) and not Path(model).exists():
            raise typer.BadParameter(_NO_MODEL.format(model))
        if output.exists() and not output.is_dir():
            raise typer.BadParameter(f"--output {str(output)!r} is a file; give a folder.")
        if output.is_dir() and any(output.iterdir()) and not resume:
            raise typer.BadParameter(
                f"--output {str(output)!r} is not empty. Scoring never overwrites or mixes "
                "outputs: add --resume to finish the job that wrote it, or choose a new (or "
                "empty) folder."
            )
        progress = None
        on_chunk = None
        if not quiet:
            progress = Progress(
                SpinnerColumn(),
                TextColumn("scoring"),
                BarColumn(),
                TextColumn("{task.completed:,} / {task.fields[total_text]} rows"),
                TimeElapsedColumn(),
                console=err,
            )
            task = progress.add_task("scoring", total=None, total_text="?")

            def on_chunk(done: int, total: int | None) -> None:
                text = "?" if total is None else f"{total:,}"
                progress.update(task, completed=done, total=total, total_text=text)

        try:
            with progress if progress is not None else contextlib.nullcontext():
                summary = score_files(
                    _mlflow_uri(model) if _is_mlflow_uri(model) else model,
                    input,
                    output,
                    id_cols=ids,
                    chunk_rows=chunk_rows,
                    engine=engine,
                    scheduler=scheduler,
                    resume=resume,
                    fail_fast=fail_fast,
                    on_chunk=on_chunk,
                )
        except ReconciliationError as error:
            raise _fail(err, str(error), EXIT_RECONCILIATION) from None
    out.print(str(summary), highlight=False)
    out.print(
        f"{summary.rows_per_second:,.0f} rows/s; manifest {summary.manifest_path}", highlight=False
    )
    if not summary.reconciled:
        raise typer.Exit(EXIT_RECONCILIATION)


def _mlflow_uri(uri: str) -> str:
    """``uri`` after pointing MLflow at riskkd's default tracking URI."""
    import mlflow

    from . import tracking

    mlflow.set_tracking_uri(tracking.default_tracking_uri())
    return uri


@app.command(epilog="Example:\n\n  riskkd datasets")
def datasets(quiet: QuietOption = False) -> None:
    """List the bundled datasets: rows, feature columns, target, classes, recommended split."""
    from .datasets import DATASETS, load_dataset

    out, err = _consoles(quiet)
    table = Table(
        title="Bundled datasets (riskkd.datasets.load_dataset(NAME))", title_justify="left"
    )
    table.add_column("name", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("columns", justify="right")
    table.add_column("target", no_wrap=True)
    table.add_column("classes")
    table.add_column("recommended split")
    with _errors(err):
        for name in DATASETS:
            bunch = load_dataset(name)
            classes = " / ".join(map(str, bunch.target_names))
            split = "stratified" if bunch.time is None else f"time ({bunch.time.name})"
            table.add_row(
                name,
                f"{len(bunch.target):,}",
                str(len(bunch.feature_names)),
                str(bunch.target.name),
                classes,
                split,
            )
    out.print(table)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> None:
    """Entry point of the ``riskkd`` console script.

    SIGTERM (``kill``, a scheduler's timeout) stops a command as Ctrl-C does: the MLflow run
    ends FAILED and partial outputs are removed, where the default handler killed the
    process mid-step and left the run RUNNING and a staging folder behind.
    """
    signal.signal(signal.SIGTERM, _interrupt)
    app(prog_name="riskkd")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
