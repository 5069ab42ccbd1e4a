"""The points table of a scorecard student, in the raw units of the input columns.

A :class:`~riskkd.DistilledClassifier` with ``student="scorecard"`` (a
:class:`riskkd.students.ScorecardStudent`) scores a row as base points plus one integer
number of points per input column, chosen by the bin the value falls in.
:func:`points_table` lists every bin in the units of the raw columns (the student's
preprocessing inverted) and :func:`score_points` gives every row's total. The student's
probabilities are computed from those same integer totals::

    log-odds of classes_[1] = (offset - points) / factor,
    factor = pdo / ln 2,  offset = base_score - factor * ln(base_odds)

so the table reproduces the model's predictions exactly.

Measuring the AUC retention of the scorecard (issue 7 acceptance; about 2-4 min of CPU per
dataset and seed)::

    from riskkd import DistilledClassifier
    from riskkd.datasets import load_dataset, train_test_split_recommended
    from sklearn.metrics import roc_auc_score

    for name in ["taiwan_credit_default", "credit_data_belanche"]:
        bunch = load_dataset(name)
        for seed in range(3):
            X_tr, X_te, y_tr, y_te = train_test_split_recommended(bunch, random_state=seed)
            model = DistilledClassifier(student="scorecard", random_state=seed).fit(X_tr, y_tr)
            teacher = roc_auc_score(y_te, model.teacher_.predict_proba(X_te)[:, 1])
            student = roc_auc_score(y_te, model.predict_proba(X_te)[:, 1])
            print(name, seed, teacher, student, student / teacher)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .inputs import python_scalar
from .persistence import check_distilled
from .preprocessing import MISSING_ROW, UNKNOWN_ROW, StudentPreprocessor
from .students import ScorecardStudent

__all__ = ["points_table", "score_points"]

#: Label of the categorical bin member standing for rare and unseen levels.
OTHER_LEVELS = "(other)"
#: Label of missing values, for numeric and categorical columns.
MISSING_LABEL = "(missing)"


def _scorecard(model: Any, caller: str) -> ScorecardStudent:
    check_distilled(model, caller)
    student = getattr(model, "student_", None)
    if not isinstance(student, ScorecardStudent):
        raise TypeError(
            f"The model's student is a {type(student).__name__}, not a ScorecardStudent; "
            "points exist only for scorecards. Fit DistilledClassifier(student='scorecard')."
        )
    return student


def score_points(model: Any, X: Any) -> np.ndarray:
    """Total points of every row of ``X``: the sum of its rows of :func:`points_table`.

    Parameters
    ----------
    model : DistilledClassifier
        Fitted with a :class:`~riskkd.students.ScorecardStudent`.
    X : {array-like, DataFrame} of shape (n_samples, n_features)

    Returns
    -------
    points : ndarray of shape (n_samples,), dtype int64
        Higher means lower risk of ``classes_[1]``. ``model.predict_proba(X)[:, 1]`` equals
        ``scipy.special.expit(model.student_.points_to_logits(points))`` bit for bit.

    Examples
    --------
    >>> from riskkd import DistilledClassifier
    >>> from riskkd.scorecard import score_points
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(n_samples=600, n_features=4, random_state=0)
    >>> model = DistilledClassifier(student="scorecard", cv=3, random_state=0).fit(X, y)
    >>> score_points(model, X[:2]).shape
    (2,)
    """
    student = _scorecard(model, "score_points")
    Xn, Xc = model.preprocessor_.transform(model.input_schema_.encode(X))
    return student.total_points(Xn, Xc)


def points_table(
    model: Any,
    *,
    pdo: float | None = None,
    base_score: float | None = None,
    base_odds: float | None = None,
) -> pd.DataFrame:
    """The scorecard as a table: one row per (column, bin) with its points, plus the base.

    A row's score is the base points plus, for every column, the points of the one bin of
    that column its value falls in. Numeric bins are right-closed intervals
    ``lower < x <= upper`` in raw units that cover the real line, plus a ``(missing)`` bin;
    ``lower`` and ``upper`` are exact: the largest raw values the student puts in each bin
    (it compares in float32 after its scaling, with edges a few float32 steps above the
    largest training value of the bin, so a bound sits a few millionths above that value);
    ``bin`` shows that value rounded, e.g. ``(25, 30]`` for an integer column.
    Categorical bins list their levels; ``(other)`` holds levels too rare to be embedded
    and levels not seen at fit, ``(missing)`` missing values. A column with a real level
    spelled ``(other)`` or ``(missing)`` is refused (``ValueError``): the table could not
    tell it from the marker.

    Parameters
    ----------
    model : DistilledClassifier
        Fitted with a :class:`~riskkd.students.ScorecardStudent`.
    pdo, base_score, base_odds : float or None, default=None
        The scaling (points to double the odds, score at ``base_odds``). ``None`` is the
        student's own (``ScorecardStudent`` defaults: 20, 600, 50). The points are integers
        fitted at the student's scaling; another value is refused, since rescaled points
        would no longer reproduce the predictions exactly (refit with
        ``student=ScorecardStudent(pdo=...)`` instead).

    Returns
    -------
    table : DataFrame
        Columns ``feature`` (raw column name; ``"(base)"`` for the base points), ``kind``
        (``"base"``, ``"numeric"``, ``"categorical"``), ``bin`` (a readable label: bounds as
        the roundest decimals the student cannot tell from the exact ones),
        ``lower`` and ``upper`` (raw bounds of numeric bins, NaN otherwise), ``levels``
        (list of the levels of a categorical bin, ``None`` otherwise) and ``points``
        (int64). ``table.attrs`` holds ``base_points``, ``pdo``, ``base_score``,
        ``base_odds`` and ``positive_class``.

    Examples
    --------
    >>> from riskkd import DistilledClassifier
    >>> from riskkd.scorecard import points_table
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(n_samples=600, n_features=4, random_state=0)
    >>> model = DistilledClassifier(student="scorecard", cv=3, random_state=0).fit(X, y)
    >>> table = points_table(model)
    >>> list(table.columns)
    ['feature', 'kind', 'bin', 'lower', 'upper', 'levels', 'points']
    """
    student = _scorecard(model, "points_table")
    for name, value in (("pdo", pdo), ("base_score", base_score), ("base_odds", base_odds)):
        fitted = getattr(student, name)
        if value is not None and float(value) != float(fitted):
            raise ValueError(
                f"{name}={value!r} differs from the scorecard's {name}={fitted!r}: its integer "
                "points were fitted at that scaling and would not reproduce the predictions "
                f"exactly if rescaled. Call points_table without {name}, or refit with "
                f"DistilledClassifier(student=ScorecardStudent({name}={value!r}))."
            )
    schema = model.input_schema_
    rows = [_row("(base)", "base", "", np.nan, np.nan, None, student.base_points_)]
    numeric = {name: j for j, name in enumerate(schema.numeric_names)}
    categorical = {name: j for j, name in enumerate(schema.categorical_names)}
    for name in schema.names:
        if name in numeric:
            rows.extend(_numeric_rows(model, name, numeric[name]))
        else:
            rows.extend(_categorical_rows(model, name, categorical[name]))
    table = pd.DataFrame(
        rows, columns=["feature", "kind", "bin", "lower", "upper", "levels", "points"]
    )
    table["points"] = table["points"].astype(np.int64)
    table.attrs.update(
        base_points=int(student.base_points_),
        pdo=float(student.pdo),
        base_score=float(student.base_score),
        base_odds=float(student.base_odds),
        positive_class=python_scalar(model.classes_[1]),
    )
    return table


def _numeric_rows(model: Any, name: str, j: int) -> list[dict[str, Any]]:
    """Bins of numeric column ``name`` (input ``j``) in raw units, then its missing bin."""
    student, pre, schema = model.student_, model.preprocessor_, model.input_schema_
    n_numeric = len(schema.numeric_names)
    edges, points = student.edges_[j], student.numeric_points_[j]
    bounds = pre.raw_bounds(j, edges)
    lower = np.concatenate([[-np.inf], bounds])
    upper = np.concatenate([bounds, [np.inf]])
    present = absent = 0
    indicator = np.flatnonzero(pre.indicator_columns_ == j)
    if indicator.size:
        # A missing value scores its imputed bin plus the missing indicator's bin.
        column = n_numeric + int(indicator[0])
        present = int(student.numeric_points_[column][_bin(student.edges_[column], 0.0)])
        absent = int(student.numeric_points_[column][_bin(student.edges_[column], 1.0)])
    values = getattr(student, "edge_values_", student.edges_)[j]  # pickled before: on values
    shown = _short_bounds(pre, j, bounds, edges, values)
    labels = [f"({lo}, {hi}]" for lo, hi in zip(["-inf", *shown], [*shown, "inf"])]
    rows = [
        _row(name, "numeric", label, lo, hi, None, int(p) + present)
        for label, lo, hi, p in zip(labels, lower, upper, points)
    ]
    imputed = int(points[_bin(edges, 0.0)])
    rows.append(_row(name, "numeric", MISSING_LABEL, np.nan, np.nan, None, imputed + absent))
    return rows


def _categorical_rows(model: Any, name: str, j: int) -> list[dict[str, Any]]:
    """Bins of categorical column ``name`` (input ``j``), each listing its levels."""
    student, pre = model.student_, model.preprocessor_
    markers = (OTHER_LEVELS, MISSING_LABEL)
    levels = model.input_schema_.levels[name]
    clash = [level for level in levels if isinstance(level, str) and level in markers]
    if clash:
        raise ValueError(
            f"Column {name!r} has the level(s) {clash}, which the points table uses as "
            f"labels: {OTHER_LEVELS!r} for rare and unseen levels, {MISSING_LABEL!r} for "
            "missing values, so the table could not tell them apart. Recode the level(s), "
            "e.g. to 'missing' or 'other', and refit; predict_proba, score_points and "
            "export_onnx are not affected."
        )
    start = int(pre.lut_offsets_[j])
    lut = pre.lut_[start : start + int(pre.lut_max_code_[j]) + 3]
    first = int(lut[0]) - UNKNOWN_ROW  # position 0 of a column's lut is code -2 (unseen)
    members: dict[int, list[Any]] = {}
    points: dict[int, int] = {}
    labelled = [
        (int(lut[code + 2]), level)
        for code, level in enumerate(levels)
        if int(lut[code + 2]) != first + UNKNOWN_ROW
    ]
    labelled += [(first + UNKNOWN_ROW, OTHER_LEVELS), (first + MISSING_ROW, MISSING_LABEL)]
    for row, label in labelled:
        k = int(student.category_bins_[j, row])
        members.setdefault(k, []).append(label)
        points[k] = int(student.category_points_[j, row])
    return [
        _row(
            name,
            "categorical",
            ", ".join(map(str, members[k])),
            np.nan,
            np.nan,
            members[k],
            points[k],
        )
        for k in sorted(members)
    ]


def _row(feature, kind, label, lower, upper, levels, points) -> dict[str, Any]:
    return {
        "feature": feature,
        "kind": kind,
        "bin": label,
        "lower": float(lower),
        "upper": float(upper),
        "levels": levels,
        "points": int(points),
    }


def _bin(edges: np.ndarray, value: float) -> int:
    """The bin of a preprocessed value, as :class:`ScorecardStudent` computes it."""
    return int(np.searchsorted(edges, np.float64(np.float32(value)), side="left"))


def _short_bounds(
    pre: StudentPreprocessor,
    j: int,
    bounds: np.ndarray,
    edges: np.ndarray,
    values: np.ndarray,
) -> list[str]:
    """Each bound as the roundest decimal at or below it that the student scales between
    the bin's largest training value (``values``) and its edge.

    An exact bound sits a few float32 steps above the largest training value of its bin
    (``25.0000267`` for age 25); the label shows that value's roundest spelling, in
    positional notation, so every training value reads in the bin it scores in. Only raw
    values between the two, a few float32 steps apart, read differently.
    """
    if bounds.size == 0:
        return []
    edges = np.asarray(edges, dtype=np.float64)
    lowest = np.asarray(values, dtype=np.float64)
    shown = [repr(float(b)) for b in bounds]
    pending = np.ones(bounds.size, dtype=bool)
    magnitude = int(np.floor(np.log10(max(float(np.max(np.abs(bounds))), 1e-300))))
    # From the coarsest rounding (the magnitude of the largest bound, or whole numbers when
    # every bound is tiny: a 0/1 flag's edge sits just above 0) to 17 decimals.
    for decimals in range(min(-magnitude, 0), 18):
        scale = 10.0**decimals
        candidates = np.array(
            [float(f"{np.floor(b * scale) / scale:.{max(decimals, 0)}f}") for b in bounds]
        )
        scaled = pre.scaled_column(j, candidates)
        same = (candidates <= bounds) & (scaled <= edges) & (scaled >= lowest)
        for k in np.flatnonzero(same & pending):
            shown[k] = f"{candidates[k]:.{max(decimals, 0)}f}"
        pending &= ~same
        if not pending.any():
            break
    return shown
