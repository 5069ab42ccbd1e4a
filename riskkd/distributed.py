"""Distillation on a Dask cluster, for data larger than one machine's memory.

:func:`fit_distributed` fits an unfitted :class:`riskkd.DistilledClassifier` on a
``dask.dataframe.DataFrame`` and returns it with the same fitted attributes as
``DistilledClassifier.fit``, so ``predict_proba``, :func:`riskkd.save` / :func:`riskkd.load`,
:func:`riskkd.fidelity_report` and the MLflow flavor work unchanged. The teachers are trained by
LightGBM's and XGBoost's own distributed training (``lightgbm.dask`` / ``xgboost.dask``); riskkd
only prepares their input, assigns the folds and collects the predictions.

Steps, passes over the data and memory
--------------------------------------
``X`` is read twice (``X``, ``y`` and ``sample_weight`` always together, through one
``map_partitions``, so Dask cannot partition them differently); everything after the second
read works on a frame persisted on the workers.

1. **Summary pass** (reads the data once). Each partition reports its
   :class:`~riskkd.inputs.InputSchema`, label counts and weight checks; the driver merges them,
   so ``input_schema_`` is exact: every level of every categorical column, exact ranges and
   missingness, as an in-memory fit would record. Driver memory: the levels, O(n_levels).
2. **Teacher frame** (reads the data a second time). Each partition is encoded with that
   schema into the teacher's native frame (float64 numerics, pandas categoricals with the
   fixed level set) plus label index, weight and **fold**, and persisted, each partition on
   one worker (sorted addresses): alike partitions round robin, else largest first to the
   worker holding fewest rows, and no worker with fewer than ``MIN_WORKER_ROWS`` rows.
   Folds are stratified and deterministic from ``random_state``: within each class, rows
   get folds round-robin in a random order, continuing across partitions from per-class
   offsets known from pass 1, so fold sizes per class differ by at most one. With
   ``groups``, a row's fold is a seeded hash of its group instead (``_seeded_hash``), so
   a group is in one fold whatever partitions hold its rows; class shares per fold then
   match up to sampling noise, and pass 1 checks that every fold leaves each class to
   train on. Cluster memory: the encoded data (8 bytes per numeric cell, 1-4 per
   categorical one, 17 per row for label, weight and fold).
3. **Driver sample** (one pass over the persisted frame). A stratified sample of at most
   ``max_student_rows`` rows (1,000,000 when that is ``None``) fits the student preprocessing
   (``preprocessor_``: medians, quartiles, level frequencies) on the driver. With fewer rows
   than that, the sample is all rows and the preprocessing equals the in-memory one.
4. **Cross-fitting**: ``cv`` distributed teachers, each trained on the other folds, and the
   final teacher on all rows (``cv + 1`` distributed trainings). Each training cuts its rows
   on the worker that holds them (they stay there), so a worker holds at most the persisted
   frame, about two copies of its training rows (riskkd's cut and LightGBM's concatenation)
   and the binned dataset: about three times its share of the encoded data.
   ``lightgbm.dask`` has no early stopping (LightGBM issues #3712 and #6351: training
   hangs), so for the default :class:`~riskkd.teachers.LightGBMTeacher` the number of trees
   is chosen by its own early stopping on at most 200,000 rows of the driver sample
   ("pilot"), scaled by ``1 / (1 - validation_fraction)`` as its ``refit`` does, and every
   distributed teacher trains that many trees. An ``LGBMClassifier`` or ``XGBClassifier``
   teacher trains its ``n_estimators``. Distributed LightGBM bins each feature on one
   machine, from that machine's rows, and drops a feature whose rows there are few or all
   missing (uneven partitions; a column collected from some date on, files by period): the
   bin bounds of every numeric column are therefore computed from the driver sample and
   forced on every machine (``forcedbins_filename``, a file written on each worker).
5. **Out-of-fold pass** (one pass over the persisted frame, one task per partition). The
   ``cv`` fold boosters are shipped once; each row is predicted by the booster of its fold.
   The driver receives the out-of-fold probabilities of every row (``n_classes`` float64 per
   row: 160 MB for 10M binary rows), labels and weights, and the student's preprocessed rows
   (float32 numerics, int32 embedding indices), written into preallocated arrays as
   partitions arrive. ``calibrator_`` is fitted on all out-of-fold predictions, as in memory.
6. **Student** on the driver, on the collected arrays: every row when ``max_student_rows`` is
   ``None`` (10M rows x 30 numeric features is 1.2 GB of float32; a student trained on all
   rows learns the teacher where it is rare, which a sample would thin out), else a
   stratified sample of ``max_student_rows`` rows (the rows of step 3), for a student whose
   training time, not memory, is the limit (the MLP). ``soft_targets_`` holds the soft
   targets of the student rows. Synthetic rows (``augment``) are drawn from the student
   rows.

In all, ``X`` is read twice and the persisted frame ``cv + 4`` times (sample, ``cv + 1``
trainings, out-of-fold pass). Driver memory is bounded by the student arrays plus ~33 bytes
per row (out-of-fold probabilities, label, weight) and the sample of step 3.

Repeatability: every step riskkd takes is a function of the data, its partitioning and
``random_state``, and the pinned placement gives each worker the same rows every time; with
an XGBoost teacher, two fits are identical. ``lightgbm.dask`` numbers LightGBM's machines in
the order of a Python set of Dask keys, so LightGBM teachers can differ slightly from run to
run. Categorical columns are still binned on one machine's rows (LightGBM ignores forced bins
for them): when partitions hold different levels, so that a worker lacks levels an in-memory
fit would keep, ``fit_distributed`` warns, naming the column, the worker and the levels.

LightGBM's OpenMP threads collapse under CPU oversubscription, so the cluster started here
has one thread per worker; on a cluster you pass, ``lightgbm.dask`` and ``xgboost.dask`` use
each worker's thread count.
"""

from __future__ import annotations

import logging
import numbers
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import type_of_target

from ._dask_client import dask_client
from .calibration import make_calibrator
from .distill import DistilledClassifier, TransferRows
from .inputs import Encoded, InputSchema, python_scalar
from .preprocessing import StudentPreprocessor
from .teachers import (
    BoosterClassifier,
    FittedTeacher,
    LightGBMTeacher,
    check_native_levels,
    class_weight_factors,
    class_weight_vector,
    correct_prior,
    is_booster,
)

__all__ = ["fit_distributed"]

#: Each step's wall time is logged here at INFO level (``"step <name>: <seconds> s"``).
logger = logging.getLogger(__name__)

# Driver-side sample bound for the student preprocessing when max_student_rows is None.
PREPROCESSING_ROWS = 1_000_000
# Rows of the in-memory pilot fit that picks the number of trees of a LightGBMTeacher.
PILOT_ROWS = 200_000

_LABEL = "__riskkd_label__"
_WEIGHT = "__riskkd_weight__"
_FOLD = "__riskkd_fold__"
_MAX_BIN = 255  # LightGBM's default
#: Fewest rows a worker trains on (fewer: its partitions go to the other workers).
MIN_WORKER_ROWS = 1_000


def fit_distributed(
    model: DistilledClassifier,
    X: Any,
    y: Any,
    *,
    client: Any = None,
    scheduler: str | None = None,
    n_workers: int = 2,
    sample_weight: Any = None,
    groups: Any = None,
    max_student_rows: int | None = None,
) -> DistilledClassifier:
    """Fit a :class:`~riskkd.DistilledClassifier` on Dask data with distributed teachers.

    See the module docstring for the steps, the passes over the data and the memory bounds.

    Parameters
    ----------
    model : DistilledClassifier
        The model to fit, with ``teacher`` ``None`` or a
        :class:`~riskkd.teachers.LightGBMTeacher` or an ``lightgbm.LGBMClassifier`` (both
        trained as ``lightgbm.dask.DaskLGBMRegressor`` on class indices with a classification
        objective, its ``class_weight`` as row weights over all partitions) or an
        ``xgboost.XGBClassifier`` (``xgboost.dask.DaskXGBClassifier``), and an integer ``cv``.
    X : dask.dataframe.DataFrame of shape (n_samples, n_features)
    y : dask.dataframe.Series of shape (n_samples,)
        Labels, partitioned like ``X`` (same number of partitions, same rows per partition).
    client : distributed.Client, default=None
        The cluster to use. If None, ``scheduler`` is connected to; if that is None too, a
        ``LocalCluster`` of ``n_workers`` single-threaded workers on 127.0.0.1 is started and
        closed inside.
    scheduler : str, default=None
        Address of a running Dask scheduler (``"tcp://host:8786"``).
    n_workers : int, default=2
        Workers of the local cluster.
    sample_weight : dask.dataframe.Series of shape (n_samples,), default=None
        Partitioned like ``X``.
    groups : dask.dataframe.Series of shape (n_samples,), default=None
        Partitioned like ``X``: the group of every row (a customer, an account). The
        cross-fitting folds keep groups apart, so a row's soft target comes from teachers
        that saw none of its group's rows, as :class:`~sklearn.model_selection.GroupKFold`
        does in memory. No value may be missing.
    max_student_rows : int, default=None
        Train the student (and fit its preprocessing) on a stratified sample of about this
        many rows; None trains it on all rows.

    Returns
    -------
    model : DistilledClassifier
        The same object, fitted. On error it is left as it was.

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> from sklearn.datasets import make_classification
    >>> import pandas as pd
    >>> from riskkd import DistilledClassifier
    >>> from riskkd.distributed import fit_distributed
    >>> from riskkd.teachers import LightGBMTeacher
    >>> X, y = make_classification(n_samples=2000, n_features=5, random_state=0)
    >>> X = dd.from_pandas(pd.DataFrame(X, columns=list("abcde")), npartitions=4)
    >>> y = dd.from_pandas(pd.Series(y), npartitions=4)
    >>> model = DistilledClassifier(
    ...     LightGBMTeacher(n_estimators=50), "tree", cv=3, random_state=0
    ... )
    >>> model = fit_distributed(model, X, y, n_workers=2)  # doctest: +SKIP
    >>> model.predict_proba(X.head(2)).shape  # doctest: +SKIP
    (2, 2)

    The example is not run by the doctests (it starts a cluster);
    ``tests/test_distributed.py`` runs the same calls.
    """
    _check_arguments(model, X, y, sample_weight, groups, max_student_rows, n_workers)
    with _connect(client, scheduler, n_workers) as active:
        work = clone(model)
        _DaskDistillation(work, active, max_student_rows).fit(X, y, sample_weight, groups)
    for name in [k for k in vars(model) if k.endswith("_") and not k.startswith("__")]:
        delattr(model, name)
    for name, value in vars(work).items():
        if name.endswith("_") and not name.startswith("__"):
            setattr(model, name, value)
    return model


# ---------------------------------------------------------------------------- arguments
def _check_arguments(model, X, y, sample_weight, groups, max_student_rows, n_workers) -> None:
    import dask.dataframe as dd

    if not isinstance(model, DistilledClassifier):
        raise TypeError(
            f"model must be an unfitted riskkd.DistilledClassifier, got {type(model).__name__}."
        )
    model._validate_params()
    if not isinstance(X, dd.DataFrame):
        raise TypeError(
            f"X must be a dask.dataframe.DataFrame, got {type(X).__module__}.{type(X).__name__}. "
            "For in-memory data use DistilledClassifier.fit; or wrap it with "
            "dask.dataframe.from_pandas(X, npartitions=...)."
        )
    for name, series in (("y", y), ("sample_weight", sample_weight), ("groups", groups)):
        if series is None and name != "y":
            continue
        if not isinstance(series, dd.Series):
            raise TypeError(
                f"{name} must be a dask.dataframe.Series partitioned like X, got "
                f"{type(series).__module__}.{type(series).__name__}. Take it from the same "
                f"dask frame as X (e.g. {name} = frame['target']) or build it with "
                "dask.dataframe.from_pandas using the same partitions."
            )
        if series.npartitions != X.npartitions:
            raise ValueError(
                f"{name} is not aligned with X: it has {series.npartitions} partitions and X has "
                f"{X.npartitions}. Take X and {name} from the same dask frame, or repartition "
                f"both identically."
            )
        if X.known_divisions and series.known_divisions and X.divisions != series.divisions:
            raise ValueError(
                f"{name} is not aligned with X: their partition divisions differ. Take X and "
                f"{name} from the same dask frame, or repartition both identically."
            )
    if not isinstance(model.cv, numbers.Integral):
        raise ValueError(
            f"fit_distributed needs an integer cv (folds are assigned inside each partition), "
            f"got cv={model.cv!r}. Pass e.g. cv=5."
        )
    if max_student_rows is not None and (
        not isinstance(max_student_rows, numbers.Integral) or max_student_rows < 1
    ):
        raise ValueError(
            f"max_student_rows must be a positive integer or None, got {max_student_rows!r}."
        )
    if not isinstance(n_workers, numbers.Integral) or n_workers < 1:
        raise ValueError(f"n_workers must be a positive integer, got {n_workers!r}.")
    teacher = model.teacher
    if isinstance(teacher, list):
        if len(teacher) != 1:
            raise ValueError(
                f"fit_distributed trains one teacher; got a list of {len(teacher)} teachers. "
                "Pass one of them, or use DistilledClassifier.fit on in-memory data."
            )
        teacher = teacher[0]
    if teacher is None or isinstance(teacher, LightGBMTeacher):
        return
    name = type(teacher).__name__
    if name not in ("LGBMClassifier", "XGBClassifier"):
        prefit = isinstance(teacher, FrozenEstimator) or is_booster(teacher)
        raise TypeError(
            f"fit_distributed trains the teacher with lightgbm.dask or xgboost.dask; it cannot "
            f"train teacher={name}{' (a prefit teacher)' if prefit else ''}. Pass teacher=None "
            "or a LightGBMTeacher, an lightgbm.LGBMClassifier or an xgboost.XGBClassifier, or "
            "use DistilledClassifier.fit on in-memory data."
        )


@contextmanager
def _step(name: str) -> Iterator[None]:
    """Log the wall time of one step of the fit."""
    start = time.perf_counter()
    yield
    logger.info("step %s: %.2f s", name, time.perf_counter() - start)


@contextmanager
def _connect(client: Any, scheduler: str | None, n_workers: int) -> Iterator[Any]:
    """The given client, or :func:`riskkd._dask_client.dask_client` of the other settings."""
    if client is not None:
        yield client
        return
    with dask_client(scheduler, n_workers) as connected:
        yield connected


# ---------------------------------------------------------------------------- per partition
def _side_by_side(func, X, y, w, g, *, meta, **kwargs):
    """``func(X_i, y_i, w_i, g_i, **kwargs)`` per partition, as one Dask collection
    (``w_i`` and ``g_i`` are None when ``w`` or ``g`` is).

    One expression reads X, y, w and g together, so Dask's optimiser cannot partition them
    differently (``X.to_delayed()`` and ``y.to_delayed()`` optimised separately can: column
    projection on parquet merges small partitions).
    """
    import dask.dataframe as dd

    return dd.map_partitions(
        func, X, y, w, g, meta=meta, align_dataframes=False, enforce_metadata=False, **kwargs
    )


def _summary(
    x: pd.DataFrame,
    y: pd.Series,
    w: pd.Series | None,
    g: pd.Series | None,
    *,
    n_splits: int,
    seed: int,
) -> pd.Series:
    """What the driver needs from one partition to check it and record the schema (one cell)."""
    labels = pd.Series(np.asarray(y))  # empty partitions keep y's dtype (and classes' type)
    out = {
        "n_rows": len(x),
        "n_labels": len(y),
        "n_missing_labels": int(labels.isna().sum()),
        "label_counts": labels.dropna().value_counts(sort=False),
        "schema": InputSchema.from_data(x),
        "n_weights": None if w is None else len(w),
        # Same lengths are not enough: rows in another order would pair rows with other labels.
        "y_aligned": x.index.equals(y.index),
        "w_aligned": w is None or x.index.equals(w.index),
        "n_groups": None if g is None else len(g),
        "g_aligned": g is None or x.index.equals(g.index),
    }
    if g is not None and len(g) == len(x) == len(labels):  # else: refused as misaligned
        out["n_missing_groups"] = int(g.isna().sum())
        # Rows of each (fold, label): every fold must leave each class to its teacher.
        folds = _group_folds(g, n_splits, seed)
        out["fold_label_counts"] = labels.groupby([folds, labels.to_numpy()]).size()
    if w is not None:
        values = np.asarray(w, dtype=float)
        out["n_bad_weights"] = int((~(values >= 0) | ~np.isfinite(values)).sum())
        out["weight_sum"] = float(values[np.isfinite(values)].sum())
    return pd.Series([out], dtype=object)


def _fold_partition(
    y_index: np.ndarray, n_splits: int, offsets: np.ndarray, seed: int, number: int
) -> np.ndarray:
    """Stratified folds of one partition: per class, round-robin in a random order."""
    rng = np.random.default_rng([seed, number])
    folds = np.empty(len(y_index), dtype=np.int8)
    for k, offset in enumerate(offsets):
        rows = np.flatnonzero(y_index == k)
        folds[rng.permutation(rows)] = (np.arange(len(rows)) + offset) % n_splits
    return folds


def _teacher_partition(
    x: pd.DataFrame,
    y: pd.Series,
    w: pd.Series | None,
    g: pd.Series | None,
    *,
    schema: InputSchema,
    classes: np.ndarray,
    n_splits: int,
    offsets: np.ndarray,
    seed: int,
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """One partition of the persisted frame: teacher features, label index, weight, fold."""
    number = partition_info["number"]
    frame = schema.teacher_frame(schema.encode(x))
    y_index = np.searchsorted(classes, np.asarray(y)).astype(np.int64)
    frame[_LABEL] = y_index
    frame[_WEIGHT] = np.ones(len(frame)) if w is None else np.asarray(w, dtype=np.float64)
    frame[_FOLD] = (
        _fold_partition(y_index, n_splits, offsets[number], seed, number)
        if g is None
        else _group_folds(g, n_splits, seed)
    )
    return frame


def _seeded_hash(part: pd.DataFrame | pd.Series, seed: int) -> np.ndarray:
    """A seeded 64-bit hash of each row's values, the same whatever partition holds the row.

    Numbers hash as float64 and other values as text, so a column that one file stores as
    int64 and another as float64 (it has a NaN) gives a value the same hash in both. pandas
    keys the hash of text only, so the row hashes are then mixed with the seed (SplitMix64's
    finaliser): without that, numeric columns would hash alike for every seed.
    """
    frame = part.to_frame() if isinstance(part, pd.Series) else part
    values = {
        name: (
            pd.to_numeric(column).to_numpy(dtype=np.float64, na_value=np.nan)
            if pd.api.types.is_numeric_dtype(column.dtype)
            else column.astype("string")
        )
        for name, column in frame.items()
    }
    normalised = pd.DataFrame(values, index=frame.index)
    key = f"{seed:016d}"[-16:]
    hashed = pd.util.hash_pandas_object(normalised, index=False, hash_key=key).to_numpy()
    with np.errstate(over="ignore"):
        z = hashed + np.uint64(seed % 2**64) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _group_folds(groups: pd.Series, n_splits: int, seed: int) -> np.ndarray:
    """The fold of each row: a seeded hash of its group, so a group has one fold."""
    return (_seeded_hash(groups, seed) % n_splits).astype(np.int8)


def _training_rows(
    frame: pd.DataFrame, column: Any, fold: int | None, class_factors: np.ndarray | None = None
) -> Any:
    """``frame[column]`` for the rows outside ``fold`` (all rows when None); the weights
    times each row's ``class_factors`` (a ``class_weight`` over all partitions) if given."""
    if fold is not None:
        frame = frame[frame[_FOLD].to_numpy() != fold]
    if column == _WEIGHT and class_factors is not None:
        return frame[_WEIGHT] * class_factors[frame[_LABEL].to_numpy()]
    return frame[column]


def _class_factors(class_weight: Any, classes: np.ndarray, totals: np.ndarray):
    """scikit-learn's ``class_weight`` as one factor per class index, or None."""
    if class_weight is None:
        return None
    if isinstance(class_weight, dict):
        unknown = [key for key in class_weight if key not in set(classes.tolist())]
        if unknown:
            raise ValueError(
                f"class_weight names {unknown}, which are not classes of y ({classes.tolist()}); "
                "key the teacher's class_weight by the labels of y."
            )
    return class_weight_vector(class_weight, classes.tolist(), totals.astype(float))


class _DaskTeacher(NamedTuple):
    """The dask estimator class of a teacher, its parameters and its ``class_weight`` as
    per-class factors computed over all partitions (lightgbm.dask would weigh each worker's
    classes by that worker's own counts)."""

    cls: type
    params: dict[str, Any]
    class_factors: np.ndarray | None = None


def _lightgbm_objective(params: dict[str, Any], n_classes: int) -> dict[str, Any]:
    """The objective of a LightGBM teacher trained as ``DaskLGBMRegressor`` on class indices.

    ``DaskLGBMClassifier`` label-encodes each worker's rows on its own: a worker holding
    one class trains its rows as class 0 (a worker of defaults only taught the teacher
    that they repay). The regressor keeps the class indices; the objective says what they
    are, and the booster predicts probabilities as a classifier's does.
    """
    objective = params.get("objective")
    if objective is None:
        objective = "binary" if n_classes == 2 else "multiclass"
    return {"objective": objective, **({"num_class": n_classes} if n_classes > 2 else {})}


def _encoded(schema: InputSchema, frame: pd.DataFrame) -> Encoded:
    """The shared encoding rebuilt from a teacher frame (categorical codes are level indices)."""
    num = np.empty((len(frame), len(schema.numeric_names)), dtype=np.float64)
    for j, name in enumerate(schema.numeric_names):
        num[:, j] = frame[name].to_numpy(dtype=np.float64)
    cat = np.empty((len(frame), len(schema.categorical_names)), dtype=np.int32)
    for j, name in enumerate(schema.categorical_names):
        cat[:, j] = frame[name].cat.codes.to_numpy()
    return Encoded(num, cat)


def _stratified_take(y_index: np.ndarray, counts: np.ndarray, seed: int, number: int):
    """Sorted row positions: ``counts[k]`` random rows of each class ``k``."""
    rng = np.random.default_rng([seed, number])
    rows = [
        rng.choice(np.flatnonzero(y_index == k), size=int(c), replace=False)
        for k, c in enumerate(counts)
    ]
    return np.sort(np.concatenate(rows)) if rows else np.zeros(0, dtype=np.int64)


def _sample_partition(frame: pd.DataFrame, schema, counts, seed, number):
    take = _stratified_take(frame[_LABEL].to_numpy(), counts, seed, number)
    part = frame.iloc[take]
    return _encoded(schema, part), part[_LABEL].to_numpy(), part[_WEIGHT].to_numpy()


def _oof_partition(
    frame: pd.DataFrame,
    boosters: list[BoosterClassifier],
    features: list[str],
    weights: np.ndarray | None,
    schema: InputSchema,
    preprocessor: StudentPreprocessor,
    counts: np.ndarray | None,
    encoded_rows: bool,
    seed: int,
    number: int,
):
    """Out-of-fold probabilities of every row and the student's rows of one partition."""
    folds = frame[_FOLD].to_numpy()
    n_classes = boosters[0].n_classes
    oof = np.zeros((len(frame), n_classes))
    features_frame = frame[features]
    for k, booster in enumerate(boosters):
        rows = np.flatnonzero(folds == k)
        if rows.size:
            oof[rows] = booster.predict_proba(features_frame.iloc[rows])
    oof = correct_prior(oof, weights)
    y_index = frame[_LABEL].to_numpy()
    take = None if counts is None else _stratified_take(y_index, counts, seed, number)
    part = frame if take is None else frame.iloc[take]
    encoded = _encoded(schema, part)
    block = encoded if encoded_rows else preprocessor.transform(encoded)
    return oof, y_index, frame[_WEIGHT].to_numpy(), take, block


# ---------------------------------------------------------------------------- the fit
class _DaskDistillation:
    """The steps of :func:`fit_distributed` on one model and one client (module docstring)."""

    def __init__(self, model: DistilledClassifier, client: Any, max_student_rows: int | None):
        self.model = model
        self.client = client
        self.max_student_rows = max_student_rows
        self.placement: list[str] = []  # worker address of each partition of the frame

    def fit(self, X, y, sample_weight, groups) -> DistilledClassifier:
        model = self.model
        rng = check_random_state(model.random_state)
        seeds = (int(s) for s in rng.randint(0, 2**31 - 1, size=4))
        seed_teacher, seed_cv, seed_student, seed_augment = seeds

        with _step("summary"):
            counts = self._summarise(X, y, sample_weight, groups, seed_cv)
        n_classes = len(model.classes_)
        schema = model.input_schema_
        model._check_student(seed_student)
        teachers = model._get_teachers(seed_teacher)  # one, checked by _check_arguments
        teacher = teachers[0][0]
        check_native_levels(teacher, schema)
        model.monotone_constraints_ = model._monotone_constraints(teachers, schema)
        weighted = sample_weight is not None
        totals = counts.sum(axis=0)
        sample_counts = _allocate(counts, self.max_student_rows or PREPROCESSING_ROWS)
        student_counts = None if self.max_student_rows is None else sample_counts

        with _step("teacher frame"):
            offsets = self._fold_offsets(counts, seed_cv)
            frame, futures = self._persist_frame(
                X, y, sample_weight, groups, offsets, seed_cv, counts.sum(axis=1)
            )
        try:
            with _step("preprocessing sample"):
                encoded, y_sample, w_sample = self._collect_sample(
                    frame, sample_counts, seed_student
                )
                # The sample may lack a column's last levels: size the lookup to the schema.
                n_levels = [len(schema.levels[name]) for name in schema.categorical_names]
                model.preprocessor_ = StudentPreprocessor(
                    min_frequency=model.min_frequency, max_categories=model.max_categories
                ).fit(encoded, n_levels)
            with _step("pilot teacher"):
                dask_teacher = self._dask_teacher(
                    teacher, encoded, y_sample, w_sample, weighted, totals
                )
            del encoded, y_sample, w_sample
            if dask_teacher.cls.__name__ == "DaskLGBMRegressor":
                self._check_level_coverage(frame, int(dask_teacher.params.get("max_bin", _MAX_BIN)))
            labels = np.repeat(np.arange(n_classes), totals)
            class_weights = class_weight_factors(teacher, labels, n_classes)
            if dask_teacher.class_factors is not None:  # class_weight, as row weights
                others = class_weight_factors(
                    clone(teacher).set_params(class_weight=None), labels, n_classes
                )
                class_weights = dask_teacher.class_factors * (1.0 if others is None else others)
            features = list(schema.names)
            boosters = []
            try:
                for k in range(model.cv):
                    with _step(f"teacher fold {k}"):
                        boosters.append(self._train(dask_teacher, frame, k, weighted))
                with _step("teacher final"):
                    final = self._train(dask_teacher, frame, None, weighted)
            finally:
                forced = dask_teacher.params.get("forcedbins_filename")
                if forced is not None:
                    self.client.run(_remove_file, forced)
            model.teacher_ = FittedTeacher(final, schema, native=True, class_weights=class_weights)
            model.teacher_weights_ = np.ones(1)
            model.monotone_ = model._monotone_inputs(model.monotone_constraints_, schema)

            student = model._get_student(seed_student)
            loss = model._get_loss(student)
            encoded_rows = loss.alpha != 0 and model._get_transfer() is not None
            with _step("out-of-fold predictions"):
                oof, y_index, weights, rows, block = self._collect_oof(
                    frame,
                    boosters,
                    features,
                    class_weights,
                    student_counts,
                    encoded_rows,
                    seed_student,
                )
        finally:
            self.client.cancel(futures)
            del frame, futures

        with _step("calibration"):
            model.calibrator_ = make_calibrator(model.calibration, n_classes).fit(
                oof, y_index, weights
            )
            model.soft_targets_ = model.calibrator_.transform(oof if rows is None else oof[rows])
        del oof
        if rows is not None:
            y_index, weights = y_index[rows], weights[rows]
        with _step("student"):
            if encoded_rows:
                transfer, _, model.n_synthetic_ = model._transfer_set(
                    block, y_index, weights, student, loss.alpha, seed_augment
                )
            else:
                transfer = TransferRows(*block, model.soft_targets_, y_index, weights)
                model.n_synthetic_ = 0
            del block
            model.n_unlabeled_ = 0
            model._fit_student(student, loss, transfer)
        return model

    # ------------------------------------------------------------------ step 1
    def _summarise(self, X, y, sample_weight, groups, seed) -> np.ndarray:
        """Check the partitions, set ``classes_`` and ``input_schema_``; class counts per
        partition, of shape (n_partitions, n_classes)."""

        model = self.model
        meta_schema = InputSchema.from_data(X._meta)  # names, kinds, dtypes; dtype errors early
        cells = _side_by_side(
            _summary,
            X,
            y,
            sample_weight,
            groups,
            meta=pd.Series([], dtype=object),
            n_splits=model.cv,
            seed=seed,
        )
        parts = self.client.gather(self.client.compute(cells.to_delayed()))
        summaries = [part.iloc[0] for part in parts]
        for number, s in enumerate(summaries):
            if s["n_labels"] != s["n_rows"]:
                raise ValueError(
                    f"y is not aligned with X: partition {number} of X has {s['n_rows']} rows but "
                    f"y's has {s['n_labels']} labels. Take X and y from the same dask frame."
                )
            for name, n_values in (("sample_weight", s["n_weights"]), ("groups", s["n_groups"])):
                if n_values is not None and n_values != s["n_rows"]:
                    raise ValueError(
                        f"{name} is not aligned with X: partition {number} of X has "
                        f"{s['n_rows']} rows but {name}'s has {n_values} values."
                    )
            for name, key in (("y", "y"), ("sample_weight", "w"), ("groups", "g")):
                if not s[f"{key}_aligned"]:
                    raise ValueError(
                        f"{name} is not aligned with X: partition {number} of X and of {name} "
                        "have the same length but another row index (rows in another order?). "
                        f"Take X and {name} from the same dask frame, e.g. X = frame[features], "
                        f"{name} = frame[column]."
                    )
        n_rows = sum(s["n_rows"] for s in summaries)
        if n_rows == 0 or not meta_schema.names:
            raise ValueError(
                f"X has {n_rows} row(s) and {len(meta_schema.names)} column(s); fit needs at "
                "least 1 of each."
            )
        n_missing = sum(s["n_missing_labels"] for s in summaries)
        if n_missing:
            raise ValueError(
                f"y has {n_missing} missing label(s) (NaN); drop those rows or fill their labels "
                "before fit."
            )
        if summaries[0]["n_weights"] is not None:
            n_bad = sum(s["n_bad_weights"] for s in summaries)
            if n_bad:
                raise ValueError(
                    f"sample_weight has {n_bad} negative or non-finite value(s); weights must be "
                    "finite and >= 0."
                )
            if sum(s["weight_sum"] for s in summaries) <= 0:
                raise ValueError(
                    "sample_weight sums to 0 (all weights are zero); give some rows a positive "
                    "weight."
                )
        table = pd.concat([s["label_counts"] for s in summaries], axis=1).fillna(0)
        classes = np.unique(np.asarray(table.index))
        target_type = type_of_target(classes, input_name="y")
        if target_type not in ("binary", "multiclass") or len(classes) < 2:
            raise ValueError(
                f"y must hold at least two class labels (binary or multiclass), got "
                f"{target_type!r} labels {classes[:5].tolist()}. Pass class labels, not "
                "continuous values, and check the filtering of the training data."
            )
        counts = table.reindex(classes).to_numpy(dtype=np.int64).T
        totals = counts.sum(axis=0)
        rare = [(c, int(n)) for c, n in zip(classes.tolist(), totals) if n < model.cv]
        if rare:
            raise ValueError(
                f"Class(es) {rare} have fewer members than cv={model.cv} folds; every fold's "
                "teacher needs each class. Lower cv, merge rare classes, or gather more rows."
            )
        if groups is not None:
            self._check_group_folds(summaries, classes)
        model.classes_ = classes
        model.input_schema_ = _merge_schemas(meta_schema, [s["schema"] for s in summaries])
        model.n_features_in_ = model.input_schema_.n_features
        model.feature_names_in_ = np.asarray(model.input_schema_.names, dtype=object)
        return counts

    def _check_group_folds(self, summaries: list, classes: np.ndarray) -> None:
        """Refuse missing groups, and folds that leave a class out of a teacher's training."""
        n_missing = sum(s["n_missing_groups"] for s in summaries)
        if n_missing:
            raise ValueError(
                f"groups has {n_missing} missing value(s); keeping groups apart needs every "
                "row's group. Drop those rows or fill their groups."
            )
        table = pd.concat([s["fold_label_counts"] for s in summaries]).groupby(level=[0, 1]).sum()
        per_fold = table.unstack(fill_value=0).reindex(
            index=range(self.model.cv), columns=classes, fill_value=0
        )
        training = per_fold.sum(axis=0).to_numpy() - per_fold.to_numpy()
        lacking = np.argwhere(training == 0)
        if len(lacking):
            fold, label = lacking[0]
            raise ValueError(
                f"groups: every row of class {python_scalar(classes[label])!r} is in fold {fold} of "
                f"cv={self.model.cv} (folds follow the groups), so that fold's teacher could "
                "not learn the class. Use fewer folds, or give the class more groups."
            )
        empty = np.flatnonzero(per_fold.sum(axis=1).to_numpy() == 0)
        if len(empty):
            raise ValueError(
                f"groups: fold {empty[0]} of cv={self.model.cv} holds no rows (too few groups "
                "for the folds?). Use fewer folds, or pass finer groups."
            )

    def _fold_offsets(self, counts: np.ndarray, seed: int) -> np.ndarray:
        """Per partition and class, where the round-robin fold numbering of that class resumes."""
        start = np.random.default_rng(seed).integers(0, self.model.cv, size=counts.shape[1])
        return start + np.vstack([np.zeros(counts.shape[1], np.int64), counts.cumsum(axis=0)[:-1]])

    # ------------------------------------------------------------------ step 2
    def _persist_frame(self, X, y, sample_weight, groups, offsets, seed, rows):
        """The teacher frame, persisted, each partition on the worker :func:`_placement` picks
        from the partitions' ``rows``."""
        import dask.dataframe as dd
        from distributed import wait

        model = self.model
        schema = model.input_schema_
        workers = sorted(self.client.scheduler_info(n_workers=-1)["workers"])
        if not workers:
            raise RuntimeError("The Dask cluster has no workers; start some and retry.")
        empty = Encoded(
            np.empty((0, len(schema.numeric_names))),
            np.empty((0, len(schema.categorical_names)), dtype=np.int32),
        )
        meta = schema.teacher_frame(empty)
        meta[_LABEL] = np.zeros(0, dtype=np.int64)
        meta[_WEIGHT] = np.zeros(0, dtype=np.float64)
        meta[_FOLD] = np.zeros(0, dtype=np.int8)
        encoded = _side_by_side(
            _teacher_partition,
            X,
            y,
            sample_weight,
            groups,
            meta=meta,
            schema=schema,
            classes=model.classes_,
            n_splits=model.cv,
            offsets=offsets,
            seed=seed,
        )
        parts = encoded.to_delayed()
        if len(parts) != len(offsets):
            raise RuntimeError(
                f"Dask split the data into {len(parts)} partitions for encoding but "
                f"{len(offsets)} for the summary; persist X, y, sample_weight "
                "and groups (or read them from one frame) and retry."
            )
        self.placement = [workers[k] for k in _placement(rows, len(workers))]
        futures = [
            self.client.compute(part, workers=[self.placement[i]], allow_other_workers=False)
            for i, part in enumerate(parts)
        ]
        wait(futures)
        for future in futures:
            if future.status == "error":
                self.client.cancel(futures)
                future.result()  # raises the partition's error
        return dd.from_delayed(futures, meta=meta, verify_meta=False), futures

    # ------------------------------------------------------------------ step 3
    def _collect_sample(self, frame, counts, seed):
        from dask import delayed

        schema = self.model.input_schema_
        tasks = [
            delayed(_sample_partition)(part, schema, counts[i], seed, i)
            for i, part in enumerate(frame.to_delayed())
        ]
        parts = self.client.gather(self.client.compute(tasks))
        encoded = Encoded(
            np.concatenate([p[0].num for p in parts]), np.concatenate([p[0].cat for p in parts])
        )
        return encoded, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])

    # ------------------------------------------------------------------ step 4
    def _dask_teacher(self, teacher, encoded, y_sample, w_sample, weighted, totals) -> _DaskTeacher:
        """The dask counterpart of ``teacher`` (``totals``: rows of each class)."""
        classes = self.model.classes_
        if isinstance(teacher, LightGBMTeacher):
            from lightgbm.dask import DaskLGBMRegressor

            pilot = clone(teacher).set_params(refit=False)
            frame, y_pilot, w_pilot = _pilot_rows(
                self.model.input_schema_, encoded, y_sample, w_sample, teacher.random_state
            )
            pilot.fit(frame, y_pilot, sample_weight=w_pilot if weighted else None)
            n_trees = teacher.refit_tree_count(pilot.best_iteration_)
            seed = int(check_random_state(teacher.random_state).randint(0, 2**31 - 1))
            params = {**teacher.lightgbm_params(seed), "n_estimators": n_trees}
            del params["n_jobs"]  # the dask estimators take their threads from the workers
            params.update(_lightgbm_objective(params, len(classes)))
            return _DaskTeacher(
                DaskLGBMRegressor, {**params, **self._forced_bins(encoded, _MAX_BIN)}
            )
        params = teacher.get_params()
        # The dask estimators take their threads from the workers.
        for name in ("client", "n_jobs"):
            params.pop(name, None)
        if type(teacher).__name__ == "LGBMClassifier":
            from lightgbm.dask import DaskLGBMRegressor

            params.update(_lightgbm_objective(params, len(classes)))
            factors = _class_factors(params.pop("class_weight", None), classes, totals)
            max_bin = int(params.get("max_bin", _MAX_BIN))
            bins = self._forced_bins(encoded, max_bin)
            return _DaskTeacher(DaskLGBMRegressor, {**params, **bins}, factors)
        from xgboost.dask import DaskXGBClassifier

        return _DaskTeacher(DaskXGBClassifier, params)

    def _forced_bins(self, encoded: Encoded, max_bin: int) -> dict[str, Any]:
        """LightGBM parameters that bin every numeric column from the driver sample.

        Distributed LightGBM bins each feature on one machine, from that machine's rows: a
        machine whose rows are few, or all missing in a column (a feature collected from
        some date on, files by period), makes LightGBM drop the feature. The bin bounds of
        every numeric column, computed here from the stratified driver sample of all
        partitions, are written to the same file on every worker and forced on each machine
        (``forcedbins_filename``), and no feature is pre-filtered on a machine's rows.
        """
        import json
        import os
        import tempfile
        import uuid

        schema = self.model.input_schema_
        forced = []
        for j, name in enumerate(schema.numeric_names):
            bounds = _bin_bounds(encoded.num[:, j], max_bin)
            if bounds.size:
                forced.append(
                    {"feature": schema.names.index(name), "bin_upper_bound": bounds.tolist()}
                )
        if not forced:
            return {}
        path = os.path.join(tempfile.gettempdir(), f"riskkd-forcedbins-{uuid.uuid4().hex}.json")
        self.client.run(_write_text, path, json.dumps(forced))
        return {"forcedbins_filename": path, "feature_pre_filter": False, "max_bin": max_bin}

    def _check_level_coverage(self, frame, max_bin: int) -> None:
        """Warn when distributed LightGBM would lose categorical levels an in-memory fit keeps.

        LightGBM bins each categorical column on one machine, from that machine's rows, and
        keeps the ``max_bin - 1`` most frequent levels with at least 3 rows there; the other
        levels share one bin. When partitions hold different levels (files by region,
        branch or product) and the binning machine lacks some, those levels are merged
        silently and the teacher loses their effect. Forced bins (numeric columns) cannot
        help: LightGBM ignores them for categorical ones.
        """
        schema = self.model.input_schema_
        names = schema.categorical_names
        if not names or len(set(self.placement)) < 2:
            return
        from dask import delayed

        sizes = [len(schema.levels[name]) for name in names]
        tasks = [delayed(_level_counts)(part, names, sizes) for part in frame.to_delayed()]
        per_partition = self.client.gather(self.client.compute(tasks))
        workers = sorted(set(self.placement))
        for j, name in enumerate(names):
            held = np.zeros((len(workers), sizes[j]), dtype=np.int64)
            for worker, counts in zip(self.placement, per_partition):
                held[workers.index(worker)] += counts[j]
            total = held.sum(axis=0)
            kept = _binned_levels(total, max_bin)
            lost = [kept & ~_binned_levels(row, max_bin) for row in held]
            shares = [total[mask].sum() / max(total.sum(), 1) for mask in lost]
            worst = int(np.argmax(shares))
            if shares[worst] < 0.01:
                continue
            levels = np.asarray(schema.levels[name], dtype=object)[lost[worst]]
            message = (
                f"Categorical column {name!r}: worker {workers[worst]} holds too few rows of "
                f"levels {levels[:5].tolist()}{' ...' if len(levels) > 5 else ''} "
                f"({shares[worst]:.1%} of the rows) to give them bins. Distributed LightGBM "
                "bins each categorical column on one machine, from its own rows; if that "
                "worker bins this column, "
                "those levels are merged into one and the teacher loses their effect. The "
                "partitions hold different levels (files by region or product?): shuffle the "
                "rows across partitions before fit (e.g. frame.shuffle(on=a column of random "
                "numbers), then take X and y from it), or use an XGBoost teacher "
                "(XGBClassifier(enable_categorical=True)), whose distributed training shares "
                "every level."
            )
            logger.warning(message)
            warnings.warn(message, UserWarning, stacklevel=4)

    def _train(self, dask_teacher, frame, fold: int | None, weighted) -> BoosterClassifier:
        """Fit the dask teacher on the rows outside ``fold`` (all rows when None); its booster
        as a classifier.

        The features, labels and weights of partition ``i`` are cut on the worker that holds
        partition ``i`` and stay there, so each worker trains on the same rows every time.
        """
        import dask.dataframe as dd
        from dask import delayed

        features = list(self.model.input_schema_.names)
        columns = {"X": features, "y": _LABEL, "w": _WEIGHT}
        if not weighted and dask_teacher.class_factors is None:
            del columns["w"]
        pieces = {name: [] for name in columns}
        for i, part in enumerate(frame.to_delayed()):
            for name, column in columns.items():
                pieces[name].append(
                    self.client.compute(
                        delayed(_training_rows)(part, column, fold, dask_teacher.class_factors),
                        workers=[self.placement[i]],
                        allow_other_workers=False,
                    )
                )
        # A worker whose cut is empty (an empty partition, or a tiny one whose rows are all
        # in this fold) would fail lightgbm.dask ("Input data must be ... non empty"); it
        # sits this training out.
        sizes = self.client.gather([self.client.submit(len, f) for f in pieces["y"]])
        empty = [i for i, n in enumerate(sizes) if n == 0]
        if len(empty) == len(sizes):
            raise ValueError("No training rows are left for this fold; check the data's labels.")
        self.client.cancel([futures[i] for futures in pieces.values() for i in empty])
        pieces = {
            name: [f for i, f in enumerate(futures) if sizes[i]] for name, futures in pieces.items()
        }
        meta = frame._meta
        data = {
            name: dd.from_delayed(futures, meta=meta[columns[name]], verify_meta=False)
            for name, futures in pieces.items()
        }
        estimator = dask_teacher.cls(**dask_teacher.params)
        estimator.client = self.client
        try:
            with warnings.catch_warnings():
                # lightgbm.dask always passes n_jobs, then warns it sets threads per worker.
                warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored")
                estimator.fit(data["X"], data["y"], sample_weight=data.get("w"))
        finally:
            self.client.cancel([f for futures in pieces.values() for f in futures])
        booster = estimator.get_booster() if hasattr(estimator, "get_booster") else None
        if booster is None:
            booster = estimator.booster_
        return BoosterClassifier(booster, len(self.model.classes_))

    # ------------------------------------------------------------------ step 5
    def _collect_oof(
        self, frame, boosters, features, class_weights, counts, encoded_rows, seed
    ) -> tuple:
        """Gather out-of-fold probabilities of all rows and the student rows into arrays."""
        from dask import delayed
        from distributed import as_completed

        model = self.model
        schema = model.input_schema_
        preprocessor = model.preprocessor_
        shared = delayed(boosters, pure=True, traverse=False)
        parts = frame.to_delayed()
        tasks = [
            delayed(_oof_partition)(
                part,
                shared,
                features,
                class_weights,
                schema,
                preprocessor,
                None if counts is None else counts[i],
                encoded_rows,
                seed,
                i,
            )
            for i, part in enumerate(parts)
        ]
        sizes = self.client.gather(self.client.compute([delayed(len)(p) for p in parts]))
        starts = np.concatenate([[0], np.cumsum(sizes)])
        n_rows = int(starts[-1])
        n_classes = len(model.classes_)
        oof = np.empty((n_rows, n_classes))
        y_index = np.empty(n_rows, dtype=np.int64)
        weights = np.empty(n_rows)
        student_sizes = np.asarray(sizes) if counts is None else counts.sum(axis=1)
        student_starts = np.concatenate([[0], np.cumsum(student_sizes)])
        n_student = int(student_starts[-1])
        n_num, n_cat = len(schema.numeric_names), len(schema.categorical_names)
        if encoded_rows:
            num = np.empty((n_student, n_num))
            cat = np.empty((n_student, n_cat), dtype=np.int32)
        else:
            num = np.empty((n_student, preprocessor.n_numeric_out), dtype=np.float32)
            cat = np.empty((n_student, n_cat), dtype=np.int32)
        rows = None if counts is None else np.empty(n_student, dtype=np.int64)

        futures = self.client.compute(tasks)
        number = {future.key: i for i, future in enumerate(futures)}
        for future in as_completed(futures):
            i = number[future.key]
            part_oof, part_y, part_w, take, block = future.result()
            future.release()
            lo, hi = starts[i], starts[i + 1]
            oof[lo:hi], y_index[lo:hi], weights[lo:hi] = part_oof, part_y, part_w
            s_lo, s_hi = student_starts[i], student_starts[i + 1]
            block_num, block_cat = (block.num, block.cat) if encoded_rows else block
            num[s_lo:s_hi], cat[s_lo:s_hi] = block_num, block_cat
            if rows is not None:
                rows[s_lo:s_hi] = take + lo
        block = Encoded(num, cat) if encoded_rows else (num, cat)
        return oof, y_index, weights, rows, block


# ---------------------------------------------------------------------------- helpers
def _placement(rows: np.ndarray, n_workers: int, min_rows: int = MIN_WORKER_ROWS) -> list[int]:
    """The worker of each partition: round robin while partitions are alike, by rows else.

    Partitions go, largest first, to the worker holding fewest rows (equal partitions thus
    go round robin). A worker left with fewer than ``min_rows`` rows hands them to the
    others: LightGBM fails on a machine whose share of a fold, bagged, is empty.
    """
    rows = np.asarray(rows, dtype=np.int64)
    used = max(1, min(n_workers, int(rows.sum() // min_rows)))
    while True:
        load = np.zeros(used, dtype=np.int64)
        worker = np.zeros(len(rows), dtype=np.int64)
        for i in np.argsort(-rows, kind="stable"):
            worker[i] = int(np.argmin(load))
            load[worker[i]] += rows[i]
        if used == 1 or load.min() >= min_rows:
            return worker.tolist()
        used -= 1


def _level_counts(frame: pd.DataFrame, names: list[str], sizes: list[int]) -> list[np.ndarray]:
    """Rows of every level of each categorical column of one teacher-frame partition."""
    counts = []
    for name, size in zip(names, sizes):
        codes = np.asarray(frame[name].cat.codes)
        counts.append(np.bincount(codes[codes >= 0], minlength=size))
    return counts


def _binned_levels(counts: np.ndarray, max_bin: int) -> np.ndarray:
    """Levels LightGBM gives a bin of their own from these counts: the ``max_bin - 1`` most
    frequent with at least 3 rows (``min_data_in_bin``); the others share one."""
    order = np.argsort(-counts, kind="stable")[: max_bin - 1]
    kept = np.zeros(counts.size, dtype=bool)
    kept[order[counts[order] >= 3]] = True
    return kept


def _bin_bounds(values: np.ndarray, max_bin: int) -> np.ndarray:
    """At most ``max_bin - 1`` bin upper bounds for one numeric column: midpoints between
    its distinct values when there are at most ``max_bin``, else its quantiles (bins of
    about equal counts, as LightGBM's own binning aims for)."""
    finite = values[np.isfinite(values)]
    distinct = np.unique(finite)
    if distinct.size <= max_bin:
        return (distinct[:-1] + distinct[1:]) / 2
    return np.unique(np.quantile(finite, np.linspace(0, 1, max_bin + 1)[1:-1]))


def _remove_file(path: str) -> None:
    """Remove ``path`` if it exists (runs on each worker; several may share a disk)."""
    import contextlib
    import os

    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (runs on each worker; several may share a disk)."""
    import os

    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _allocate(counts: np.ndarray, n_rows: int) -> np.ndarray:
    """Rows to take per partition and class for a stratified sample of about ``n_rows`` rows.

    Each class gets its share of ``n_rows`` (at least one row), spread over the partitions
    in proportion to their rows of it by largest remainders: a rare class spread thinly
    over many partitions is not rounded away partition by partition.
    """
    total = counts.sum()
    if n_rows >= total:
        return counts.copy()
    class_totals = counts.sum(axis=0)
    wanted = np.floor(class_totals * (n_rows / total) + 0.5).astype(np.int64)
    wanted = np.clip(wanted, np.minimum(class_totals, 1), class_totals)
    taken = np.zeros_like(counts)
    for k in np.flatnonzero(class_totals):
        share = counts[:, k] * (wanted[k] / class_totals[k])
        take = np.floor(share).astype(np.int64)
        extra = np.argsort(take - share, kind="stable")[: wanted[k] - take.sum()]
        take[extra] += 1
        taken[:, k] = np.minimum(take, counts[:, k])
    return taken


def _pilot_rows(schema: InputSchema, encoded: Encoded, y, w, random_state):
    """At most PILOT_ROWS rows of the driver sample, as the teacher's native frame."""
    if len(y) > PILOT_ROWS:
        rng = np.random.default_rng(check_random_state(random_state).randint(0, 2**31 - 1))
        take = np.sort(rng.choice(len(y), size=PILOT_ROWS, replace=False))
        encoded, y, w = Encoded(encoded.num[take], encoded.cat[take]), y[take], w[take]
    return schema.teacher_frame(encoded), y, w


def _merge_schemas(meta: InputSchema, parts: list[InputSchema]) -> InputSchema:
    """One schema from the partitions' schemas: union of levels, overall ranges and missingness."""
    levels: dict[str, list[Any]] = {}
    ranges: dict[str, list[float]] = {}
    missing: dict[str, bool] = {}
    for name, kind in zip(meta.names, meta.kinds):
        missing[name] = any(p.missing[name] for p in parts)
        if kind == "categorical":
            union = set().union(*(p.levels[name] for p in parts))
            levels[name] = sorted(union, key=lambda v: (str(type(v)), v))
        else:
            lows = [p.ranges[name][0] for p in parts if not np.isnan(p.ranges[name][0])]
            highs = [p.ranges[name][1] for p in parts if not np.isnan(p.ranges[name][1])]
            ranges[name] = [min(lows), max(highs)] if lows else [np.nan, np.nan]
    return InputSchema(
        list(meta.names), list(meta.kinds), list(meta.dtypes), levels, ranges, missing, True
    )
