"""Assemble and write the self-contained HTML fidelity report of a distilled model."""

from __future__ import annotations

import datetime
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from ..fidelity import decision_threshold, require_teacher
from . import _html
from ._metrics import (
    FidelityEvaluation,
    evaluate,
    grade_confusion,
    population_stability_index,
    score_columns,
)

_SUFFIXES = (".html", ".htm")
# Longest parameter text shown in the settings table (reprs of nested estimators).
_MAX_PARAM_TEXT = 300
_CAPTIONS = {
    "roc_curve.png": "ROC curves (teacher dashed, student solid)",
    "pr_curve.png": "Precision-recall curves (teacher dashed, student solid)",
    "reliability_teacher.png": "Reliability diagram of the teacher",
    "reliability_student.png": "Reliability diagram of the student",
    "score_scatter.png": "Student against teacher probabilities",
    "score_distribution.png": "Score distributions (share of rows per bin) and PSI",
}


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "The riskkd HTML report draws its plots with matplotlib, which is not installed. "
            'Install it with: pip install "riskkd[report]"'
        ) from exc


def _n_rows(X: Any, name: str) -> int:
    if hasattr(X, "shape") and len(getattr(X, "shape", ())) >= 1:
        return int(X.shape[0])
    try:
        return len(X)
    except TypeError:
        raise TypeError(
            f"{name} must be array-like of shape (n_samples, n_features); got a {type(X).__name__}."
        ) from None


def _check_sections(sections: Any) -> list[tuple[str, pd.DataFrame | str]]:
    if sections is None:
        return []
    checked = []
    for i, entry in enumerate(sections):
        if not (
            isinstance(entry, tuple | list)
            and len(entry) == 2
            and isinstance(entry[0], str)
            and isinstance(entry[1], pd.DataFrame | str)
        ):
            raise TypeError(
                f"sections[{i}] must be a (heading, content) pair with a str heading and a "
                f"pandas DataFrame or HTML string as content; got {entry!r:.100}."
            )
        checked.append((entry[0], entry[1]))
    return checked


def _check_inputs(model: Any, X: Any, y: Any, threshold: Any, title: Any, X_reference: Any) -> None:
    check_is_fitted(model)
    require_teacher(model, "the report")
    n_X, n_y = _n_rows(X, "X"), _n_rows(y, "y")
    if n_X != n_y:
        raise ValueError(
            f"X has {n_X} rows but y has {n_y} labels; pass the labels of the rows of X, "
            "in the same order."
        )
    if n_X < 2:
        raise ValueError(f"X has {n_X} rows; the report needs at least 2 evaluation rows.")
    decision_threshold(threshold, model.classes_)
    if X_reference is not None and _n_rows(X_reference, "X_reference") == 0:
        raise ValueError(
            "X_reference has 0 rows; the PSI of the student's scores compares them on the "
            "reference rows and on X. Pass reference rows (e.g. the training data), or pass "
            "None to leave the reference out."
        )
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None; got {type(title).__name__}.")


def _check_path(path: Any) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike; got {type(path).__name__}.")
    path = Path(path)
    if path.suffix.lower() not in _SUFFIXES:
        raise ValueError(
            f"path must name an HTML file ending in '.html'; got {str(path)!r}. "
            f"Use e.g. {str(path.with_suffix('.html'))!r}."
        )
    if path.is_dir():
        raise IsADirectoryError(f"path {str(path)!r} is a folder; pass a file name in it.")
    return path


def _text(value: Any) -> str:
    text = repr(value) if hasattr(value, "get_params") else _html.fmt(value)
    return text if len(text) <= _MAX_PARAM_TEXT else text[: _MAX_PARAM_TEXT - 3] + "..."


def model_settings(model: Any) -> dict[str, str]:
    """The settings of a fitted model, as text: its parameters and the resolved student.

    ``model.get_params(deep=True)`` (nested estimators as their repr), then the fitted
    ``student_class`` with its parameters ``student_.<name>`` and the resolved
    ``calibration_method``.
    """
    settings = {name: _text(value) for name, value in model.get_params(deep=True).items()}
    if isinstance(model.cv, list):  # given folds (a pipeline's group split), not their indices
        settings["cv"] = f"{len(model.cv)} given folds"
    student = model.student_
    settings["student_class"] = f"{type(student).__module__}.{type(student).__qualname__}"
    if hasattr(student, "get_params"):
        for name, value in student.get_params(deep=False).items():
            settings[f"student_.{name}"] = _text(value)
    method = getattr(getattr(model, "calibrator_", None), "method", None)
    if method is not None:
        settings["calibration_method"] = str(method)
    return settings


def scorecard_points(model: Any) -> pd.DataFrame | None:
    """The points table of a scorecard student, or None for other students.

    Uses :func:`riskkd.scorecard.points_table` when riskkd ships it and ``model.student_``
    is a ``riskkd.students.ScorecardStudent``.
    """
    try:
        from ..scorecard import points_table
        from ..students import ScorecardStudent
    except ImportError:
        return None
    if not isinstance(model.student_, ScorecardStudent):
        return None
    return pd.DataFrame(points_table(model))


def _riskkd_version() -> str:
    from .. import __version__

    return __version__


@dataclass
class Report:
    """A rendered fidelity report.

    Attributes
    ----------
    evaluation : FidelityEvaluation
        The figures shown (fidelity report, probabilities, latency).
    pngs : dict of str to bytes
        The plots, keyed by file name (``roc_curve.png`` ...), as embedded in ``html``.
    psi : DataFrame
        PSI per scored class: ``teacher_to_student`` and, with reference data,
        ``reference_to_data``.
    html : str
        The self-contained page.
    """

    evaluation: FidelityEvaluation
    pngs: dict[str, bytes]
    psi: pd.DataFrame
    html: str

    def write(self, path: str | os.PathLike) -> Path:
        """Write :attr:`html` to ``path`` (``.html``) atomically; return the path.

        The page goes to a temporary file next to ``path`` that is renamed into place, so
        a failure never leaves a partial report (nor the folders created for it).
        """
        path = _check_path(path)
        created = [p for p in reversed(path.parent.absolute().parents) if not p.exists()]
        if not path.parent.exists():
            created.append(path.parent.absolute())
        path.parent.mkdir(parents=True, exist_ok=True)
        # A plain exclusive create (not tempfile's private 0600): the report gets the
        # permissions of any file the process writes.
        tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "x", encoding="utf-8") as handle:
                handle.write(self.html)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            for folder in reversed(created):
                folder.rmdir()
            raise
        return path


def _psi_table(evaluation: FidelityEvaluation, reference: np.ndarray | None) -> pd.DataFrame:
    columns = score_columns(len(evaluation.classes))
    rows = {}
    for k in columns:
        row = {
            "teacher_to_student": population_stability_index(
                evaluation.teacher_proba[:, k], evaluation.student_proba[:, k]
            )
        }
        if reference is not None:
            row["reference_to_data"] = population_stability_index(
                reference[:, k], evaluation.student_proba[:, k]
            )
        rows[f"P({evaluation.classes[k]})"] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "score"
    return table


def _plots(
    evaluation: FidelityEvaluation, psi: pd.DataFrame, reference: np.ndarray | None
) -> dict[str, bytes]:
    from . import _plots

    y, teacher, student = evaluation.y, evaluation.teacher_proba, evaluation.student_proba
    labels = [str(c) for c in evaluation.classes]
    return {
        "roc_curve.png": _plots.roc_png(y, teacher, student, labels),
        "pr_curve.png": _plots.pr_png(y, teacher, student, labels),
        "reliability_teacher.png": _plots.reliability_png(y, teacher, "teacher", labels),
        "reliability_student.png": _plots.reliability_png(y, student, "student", labels),
        "score_scatter.png": _plots.scatter_png(teacher, student, labels),
        "score_distribution.png": _plots.score_distribution_png(
            teacher,
            student,
            labels,
            psi["teacher_to_student"].tolist(),
            reference=reference,
            reference_psi=psi["reference_to_data"].tolist() if reference is not None else None,
        ),
    }


def _key_figures(report: pd.DataFrame) -> str:
    student, teacher = report["student"], report["teacher"]
    items = {
        "AUC retention, student / teacher ROC-AUC (auc_retention)": student["auc_retention"],
        "ECE gap, student - teacher ECE (ece_gap)": student["ece"] - teacher["ece"],
        "decision agreement (decision_agreement)": student["decision_agreement"],
        "rank correlation (rank_correlation)": student["rank_correlation"],
        "size ratio, teacher / student bytes (size_ratio)": student["size_ratio"],
    }
    return _html.key_figures({name: _html.fmt(float(v)) for name, v in items.items()})


def _fidelity_table(report: pd.DataFrame) -> pd.DataFrame:
    """The fidelity report with the row ``ece_gap`` (student - teacher ECE) appended."""
    gap = report.loc["ece", "student"] - report.loc["ece", "teacher"]
    extra = pd.DataFrame({"teacher": [np.nan], "student": [gap]}, index=["ece_gap"])
    table = pd.concat([report, extra])
    table.index.name = report.index.name
    return table


def _size_latency(evaluation: FidelityEvaluation) -> pd.DataFrame:
    report = evaluation.report
    rows = {
        "size (bytes)": (
            report.loc["size_bytes", "teacher"],
            report.loc["size_bytes", "student"],
            report.loc["size_ratio", "student"],
        )
    }
    latency = evaluation.latency_ms
    for label, name in (("1row", "1 row"), ("1000rows", "1,000 rows")):
        if f"student_latency_{label}_ms" in latency:
            rows[f"predict latency, {name} (median ms)"] = (
                latency[f"teacher_latency_{label}_ms"],
                latency[f"student_latency_{label}_ms"],
                latency[f"latency_speedup_{label}"],
            )
    frame = pd.DataFrame.from_dict(
        rows, orient="index", columns=["teacher", "student", "teacher / student"]
    )
    frame.index.name = "measure"
    return frame


def _data_table(evaluation: FidelityEvaluation, X: Any, X_reference: Any) -> pd.DataFrame:
    counts = np.bincount(evaluation.y, minlength=len(evaluation.classes))
    rows: dict[str, Any] = {
        "evaluation rows": _n_rows(X, "X"),
        "features": X.shape[1] if getattr(X, "ndim", 2) == 2 and hasattr(X, "shape") else "",
    }
    if X_reference is not None:
        rows["reference rows"] = _n_rows(X_reference, "X_reference")
    for label, count in zip(evaluation.classes, counts, strict=True):
        rows[f"label {label}"] = f"{count} ({100 * count / len(evaluation.y):.1f} %)"
    frame = pd.DataFrame({"value": list(rows.values())}, index=list(rows))
    frame.index.name = "data"
    return frame


def _confusion(evaluation: FidelityEvaluation) -> str:
    counts, percent = grade_confusion(
        evaluation.teacher_proba, evaluation.student_proba, evaluation.classes
    )
    same = int(np.trace(counts.to_numpy()))
    note = _html.paragraph(
        f"Rows: teacher grade (most probable class); columns: student grade. "
        f"{same} of {int(counts.to_numpy().sum())} rows get the same grade."
    )
    return (
        note
        + "<h3>Counts</h3>"
        + _html.table(counts)
        + "<h3>Row %</h3>"
        + _html.table(percent, formats={c: "{:.1f}" for c in percent.columns})
    )


def build_report(
    model: Any,
    X: Any,
    y: Any,
    *,
    title: str | None = None,
    threshold: float | None = None,
    X_reference: Any = None,
    latency: bool = True,
    sections: Sequence[tuple[str, pd.DataFrame | str]] | None = None,
) -> Report:
    """Compute and render the fidelity report of ``model`` on ``(X, y)`` without writing it.

    Takes the arguments of :func:`write_report` except ``path``; returns the page and
    what it shows (MLflow tracking logs both).

    Returns
    -------
    report : Report
    """
    _require_matplotlib()
    _check_inputs(model, X, y, threshold, title, X_reference)
    extra = _check_sections(sections)
    evaluation = evaluate(model, X, y, threshold=threshold, latency=bool(latency))
    reference = None
    if X_reference is not None:
        try:
            reference = np.asarray(model.predict_proba(X_reference))
        except ValueError as error:
            raise ValueError(f"X_reference does not match the model's input: {error}") from error
    psi = _psi_table(evaluation, reference)
    pngs = _plots(evaluation, psi, reference)
    title = title or "riskkd fidelity report"
    report = evaluation.report
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    classes = ", ".join(str(c) for c in evaluation.classes)
    decisions = (
        f"decision threshold {evaluation.threshold:g}"
        if len(evaluation.classes) == 2
        else "decisions are top classes"
    )
    intro = _html.paragraph(
        f"Distilled model ({type(model.student_).__name__} student) against its teacher on "
        f"{evaluation.n_samples} evaluation rows; classes: {classes}; {decisions}. "
        f"Generated {now} by riskkd {_riskkd_version()}."
    )
    fidelity_note = _html.paragraph(
        "riskkd.fidelity_report; rows from auc_retention down compare the two models "
        "(value in the student column); ece_gap = student - teacher ECE is added. "
        "Highlighted: AUC retention and the ECE gap.",
        "note",
    )
    page_sections = [
        ("Key figures", _key_figures(report)),
        (
            "Fidelity report",
            _html.table(_fidelity_table(report), highlight=("auc_retention", "ece_gap"))
            + fidelity_note,
        ),
        ("Discrimination", _html.figures(_select(pngs, "roc_curve", "pr_curve"), _CAPTIONS)),
        (
            "Calibration",
            _html.figures(_select(pngs, "reliability_teacher", "reliability_student"), _CAPTIONS),
        ),
        ("Student against teacher", _html.figures(_select(pngs, "score_scatter"), _CAPTIONS)),
        (
            "Score distributions and population stability (PSI)",
            _html.figures(_select(pngs, "score_distribution"), _CAPTIONS)
            + _html.table(psi)
            + _html.paragraph(
                "PSI below 0.1: stable; 0.1 to 0.25: moderate shift; above 0.25: significant "
                "shift. teacher_to_student compares the two models on the evaluation rows"
                + (
                    "; reference_to_data compares the student's scores on the reference "
                    "data with its scores on the evaluation rows."
                    if reference is not None
                    else "."
                ),
                "note",
            ),
        ),
    ]
    if len(evaluation.classes) > 2:
        page_sections.append(("Grade confusion, teacher against student", _confusion(evaluation)))
    page_sections.append(("Model size and latency", _html.table(_size_latency(evaluation))))
    points = scorecard_points(model)
    if points is not None:
        # Exact bounds, as points_table gives them (6 digits would misplace 16117.9).
        exact = {"lower": "{!r}", "upper": "{!r}"}
        page_sections.append(("Scorecard points", _html.table(points, index=False, formats=exact)))
    for heading, content in extra:
        fragment = _html.table(content) if isinstance(content, pd.DataFrame) else content
        page_sections.append((heading, fragment))
    page_sections += [
        ("Data", _html.table(_data_table(evaluation, X, X_reference))),
        ("Model settings", _html.key_values(model_settings(model), ("parameter", "value"))),
    ]
    page = _html.page(title, page_sections, intro=intro)
    return Report(evaluation=evaluation, pngs=pngs, psi=psi, html=page)


def _select(pngs: dict[str, bytes], *stems: str) -> dict[str, bytes]:
    return {f"{stem}.png": pngs[f"{stem}.png"] for stem in stems}


def write_report(
    model: Any,
    X: Any,
    y: Any,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    threshold: float | None = None,
    X_reference: Any = None,
    latency: bool = True,
    sections: Sequence[tuple[str, pd.DataFrame | str]] | None = None,
) -> Path:
    """Write the fidelity report of a distilled model as one self-contained HTML file.

    The page opens offline (plots embedded as base64 PNG, inline style, no script) and
    shows: key figures (AUC retention and ECE gap highlighted) and the table of
    :func:`riskkd.fidelity_report`; ROC and precision-recall curves and reliability
    diagrams of teacher and student (one-vs-rest for multi-class); a student-against-
    teacher score scatter (hexbin beyond 5,000 rows); score distributions with the PSI
    teacher -> student and, given ``X_reference``, the PSI of the student's scores
    reference -> ``X``; for multi-class ratings, the grade confusion matrix (counts and
    row %); model sizes and predict latencies; the points table of a scorecard student;
    your ``sections``; the data shape, the model's settings, riskkd's version and the date.

    Parameters
    ----------
    model : DistilledClassifier
        A fitted model whose ``teacher_`` is available.
    X : {array-like, DataFrame} of shape (n_samples, n_features)
        Evaluation rows, ideally not used for fitting.
    y : array-like of shape (n_samples,)
        Their labels (values of ``model.classes_``).
    path : str or os.PathLike
        Output file, ending in ``.html``. Missing folders are created. Written atomically:
        on error, no partial file is left.
    title : str, default=None
        Title of the page (``"riskkd fidelity report"`` when None).
    threshold : float, default=None
        Decision threshold of the binary decision agreement (None: 0.5); a multi-class
        model compares top classes and takes none.
    X_reference : {array-like, DataFrame} of shape (n_reference, n_features), default=None
        Reference rows (e.g. the training data) for the population stability of the
        student's scores.
    latency : bool, default=True
        Measure predict latency on 1 and 1,000 rows (about 1 s per measure at most);
        False skips it.
    sections : list of (str, DataFrame or str), default=None
        Extra sections appended after the model's figures: a heading and a DataFrame
        (rendered as an escaped table) or an HTML fragment (inserted as is).

    Returns
    -------
    path : pathlib.Path
        The written file.

    Raises
    ------
    ImportError
        When matplotlib is missing (``pip install "riskkd[report]"``).
    sklearn.exceptions.NotFittedError
        When ``model`` is not fitted.
    ValueError
        When ``path`` does not end in ``.html``, ``X`` and ``y`` differ in length, ``y``
        holds one class, or ``threshold`` is outside (0, 1) or given for a multi-class model.

    Examples
    --------
    >>> from riskkd.report import write_report
    >>> write_report(model, X_test, y_test, "report.html", X_reference=X_train)  # doctest: +SKIP
    PosixPath('report.html')
    """
    path = _check_path(path)
    report = build_report(
        model,
        X,
        y,
        title=title,
        threshold=threshold,
        X_reference=X_reference,
        latency=latency,
        sections=sections,
    )
    return report.write(path)
