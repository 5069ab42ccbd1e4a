"""Tuning on fidelity: scorers for GridSearchCV, a shared teacher cache and ``tune``.

A distilled model is tuned for how well its student follows its teacher on rows neither
has seen, not only for raw accuracy. Inside :class:`~sklearn.model_selection.GridSearchCV`
every candidate is fitted on the training part of a split, so its ``teacher_`` is the
teacher fitted on that part, and the scorer compares the student with it on the held-out
part.

**Cost.** Each candidate of each split cross-fits its own teacher: ``cv + 1`` teacher fits
per candidate (the ``cv`` of :class:`~riskkd.DistilledClassifier`), so a 27-point grid
with 3 splits fits the teacher 486 times for a teacher ``cv=5``. The teacher does not
depend on ``temperature``, ``alpha`` or the student, and with a fixed ``random_state`` the
same split gives the same teacher fits; :class:`MemoizedTeacher` caches them (on disk,
:class:`joblib.Memory`), which cuts the teacher fits to ``(cv + 1)`` per split with
results identical to the uncached search. :func:`tune` does this by default. A cheaper,
approximate path is a prefit teacher in :class:`~sklearn.frozen.FrozenEstimator` fitted
on other rows: no teacher fit at all during the search, but its soft targets are then
its predictions on the training rows.
"""

from __future__ import annotations

import copy
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import _num_features, check_is_fitted, check_memory

from .fidelity import agreement_metrics, classification_metrics, decision_threshold, label_index
from .students import STUDENTS, MLPStudent, TreeStudent
from .teachers import LightGBMTeacher, class_weighting, configure_native

#: Fidelity metrics a scorer can compute; all are "greater is better".
FIDELITY_METRICS = (
    "auc_retention",
    "rank_correlation",
    "decision_agreement",
    "neg_teacher_log_loss",
)


def _teacher_log_loss(teacher: np.ndarray, student: np.ndarray) -> float:
    """Cross-entropy of the student's probabilities against the teacher's, per row."""
    return float(-np.mean(np.sum(teacher * np.log(np.clip(student, 1e-15, 1.0)), axis=1)))


def make_fidelity_scorer(
    metric: str = "auc_retention", *, threshold: float | None = None
) -> Callable[[Any, Any, Any], float]:
    """A scorer ``scorer(estimator, X, y)`` of the student's fidelity to its own teacher.

    Usable as ``scoring=`` of :class:`~sklearn.model_selection.GridSearchCV`,
    :func:`~sklearn.model_selection.cross_validate` and the like, alone or in a dict with
    other scorers. The estimator must be fitted and have a ``teacher_`` (a
    :class:`~riskkd.DistilledClassifier` or :class:`~riskkd.multistage.MultiStageDistiller`);
    the comparison is on the rows given, so inside a search it uses the teacher fitted on the
    training part of the split.

    Parameters
    ----------
    metric : {"auc_retention", "rank_correlation", "decision_agreement", \
            "neg_teacher_log_loss"}, default="auc_retention"
        ``auc_retention`` is student ROC-AUC / teacher ROC-AUC on ``y`` (macro one-vs-rest
        for multi-class); ``rank_correlation`` the Spearman correlation of their scores;
        ``decision_agreement`` the share of rows with the same decision (binary: at
        ``threshold``; multi-class: the top class); ``neg_teacher_log_loss`` minus the
        cross-entropy of the student against the teacher's probabilities (labels unused).
    threshold : float, default=None
        Decision threshold of ``decision_agreement`` for binary targets (None: 0.5); a
        multi-class estimator compares top classes and refuses one.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y) -> float``, greater is better.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from riskkd import DistilledClassifier
    >>> from riskkd.tuning import make_fidelity_scorer
    >>> X, y = make_classification(n_samples=400, random_state=0)
    >>> model = DistilledClassifier(student="tree", cv=2, random_state=0).fit(X[:300], y[:300])
    >>> score = make_fidelity_scorer("rank_correlation")(model, X[300:], y[300:])
    >>> bool(0.5 < score <= 1.0)
    True
    """
    if metric not in FIDELITY_METRICS:
        raise ValueError(
            f"metric={metric!r} is not a fidelity metric; choose one of {list(FIDELITY_METRICS)}."
        )
    if threshold is not None and not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold={threshold!r} must be a probability in (0, 1).")

    def scorer(estimator: Any, X: Any, y: Any) -> float:
        check_is_fitted(estimator)
        if getattr(estimator, "teacher_", None) is None:
            raise ValueError(
                f"{type(estimator).__name__} has no teacher_ (e.g. a model loaded without its "
                "teacher); a fidelity scorer compares the student with its teacher."
            )
        cut = decision_threshold(threshold, estimator.classes_)
        teacher = estimator.teacher_.predict_proba(X)
        student = estimator.predict_proba(X)
        if metric == "neg_teacher_log_loss":
            return -_teacher_log_loss(teacher, student)
        if metric == "auc_retention":
            y_index = label_index(estimator.classes_, y, X)
            auc_teacher = classification_metrics(y_index, teacher)["roc_auc"]
            return classification_metrics(y_index, student)["roc_auc"] / auc_teacher
        return agreement_metrics(teacher, student, cut)[metric]

    scorer.__name__ = f"fidelity_{metric}"
    return scorer


class MemoizedTeacher(ClassifierMixin, BaseEstimator):
    """A teacher whose fits are cached, so that grid points share identical teacher fits.

    ``fit(X, y)`` returns the cached fitted model when the same unfitted ``estimator``
    was already fitted on the same ``(X, y, sample_weight)`` (same hash), and fits and
    stores it otherwise. Within a grid search with a fixed ``random_state``, all candidates
    of one split get the same folds and hence the same teacher fits: each is fitted once.

    Parameters
    ----------
    estimator : estimator
        The teacher to fit (cloned; set up for native categoricals like any riskkd teacher).
    memory : str, joblib.Memory or None, default=None
        Where fits are cached (a folder or a :class:`joblib.Memory`); ``None`` caches
        nothing.
    random_state : int, RandomState instance or None, default=None
        Given to ``estimator`` when its own ``random_state`` is None (this is how
        :class:`~riskkd.DistilledClassifier` seeds the teacher).

    Attributes
    ----------
    estimator_ : estimator
        The fitted teacher.
    fit_seconds_ : float
        Wall-clock seconds of the fit that produced ``estimator_`` (the original fit when
        cached).
    fit_cpu_seconds_ : float
        CPU seconds of this process during that fit (a cost measure that other processes
        on a shared machine do not inflate).
    from_cache_ : bool
        Whether ``estimator_`` came from the cache.
    classes_ : ndarray of shape (n_classes,)

    Examples
    --------
    >>> from tempfile import mkdtemp
    >>> from sklearn.datasets import make_classification
    >>> from riskkd.teachers import LightGBMTeacher
    >>> from riskkd.tuning import MemoizedTeacher
    >>> X, y = make_classification(n_samples=300, random_state=0)
    >>> teacher = MemoizedTeacher(LightGBMTeacher(n_estimators=20), memory=mkdtemp())
    >>> teacher.set_params(random_state=0).fit(X, y).from_cache_
    False
    >>> teacher.fit(X, y).from_cache_
    True
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "memory": [None, str, HasMethods(["cache"])],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator, memory=None, random_state=None):
        self.estimator = estimator
        self.memory = memory
        self.random_state = random_state

    def _get_estimator(self):
        estimator = configure_native(self.estimator)
        params = estimator.get_params()
        if "random_state" in params and params["random_state"] is None:
            estimator.set_params(random_state=self.random_state)
        return estimator

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Fit the teacher, or take the fit from the cache.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : MemoizedTeacher
        """
        estimator = self._get_estimator()
        blocked = class_weighting(estimator)
        if blocked:
            raise ValueError(
                f"MemoizedTeacher does not support a class-weighted estimator ({blocked}): "
                "riskkd reads class weights from the teacher's own parameters to divide them "
                "out of its probabilities. Pass this teacher unwrapped."
            )
        if sample_weight is not None and not np.asarray(sample_weight, dtype=float).sum() > 0:
            raise ValueError(
                "sample_weight has only zero weights (or non-finite ones); give some rows a "
                "positive weight."
            )
        fit = check_memory(self.memory).cache(_fit_timed)
        self.from_cache_ = bool(
            hasattr(fit, "check_call_in_cache")
            and fit.check_call_in_cache(estimator, X, y, sample_weight)
        )
        self.estimator_, self.fit_seconds_, self.fit_cpu_seconds_ = fit(
            estimator, X, y, sample_weight
        )
        self.classes_ = self.estimator_.classes_
        self.n_features_in_ = _num_features(X)
        if hasattr(self.estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.estimator_.feature_names_in_
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def predict_proba(self, X):
        """Class probabilities of the fitted teacher.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        try:
            n_features = _num_features(X)
        except TypeError as error:
            raise ValueError(
                f"X must be 2-D, (n_samples, n_features): {error}. Reshape your data, e.g. one row "
                "with X.reshape(1, -1)."
            ) from error
        if n_features != self.n_features_in_:
            raise ValueError(
                f"X has {n_features} features, but MemoizedTeacher is expecting "
                f"{self.n_features_in_} features as input."
            )
        return self.estimator_.predict_proba(X)

    def predict(self, X):
        """The most probable class of each row.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags = copy.copy(get_tags(self.estimator).input_tags)
        return tags


def _fit_timed(estimator, X, y, sample_weight):
    """``(fitted clone, wall seconds, CPU seconds)``; what :class:`MemoizedTeacher` caches."""
    start, start_cpu = time.perf_counter(), time.process_time()
    params = {} if sample_weight is None else {"sample_weight": sample_weight}
    fitted = clone(estimator).fit(X, y, **params)
    return fitted, time.perf_counter() - start, time.process_time() - start_cpu


def default_param_grid(model: Any) -> dict[str, list]:
    """The grid :func:`tune` searches for ``model`` (27 points for the MLP, 12 for the tree).

    ``temperature`` in 1, 2, 4 (only for the MLP with ``loss="kl"``: the tree and the
    scorecard fit probabilities, at no temperature; otherwise ``alpha`` gets a fourth value
    instead), ``alpha`` in 0.5, 0.7, 1.0, and three student sizes around the default: MLP
    hidden layers ``(32, 16)``, ``(64, 32)``, ``(128, 64)``; tree depth 4, 6, 8. Other
    students keep their settings.
    """
    grid: dict[str, list] = {"alpha": [0.5, 0.7, 1.0]}
    student = model.get_params().get("student")
    is_mlp = student == "mlp" or isinstance(student, MLPStudent)
    if is_mlp and model.get_params().get("loss", "kl") == "kl":
        grid["temperature"] = [1.0, 2.0, 4.0]
    else:
        grid["alpha"] = [0.3, 0.5, 0.7, 1.0]
    if is_mlp:
        base = MLPStudent() if student == "mlp" else student
        grid["student"] = [
            clone(base).set_params(hidden_layer_sizes=h) for h in [(32, 16), (64, 32), (128, 64)]
        ]
    elif student == "tree" or isinstance(student, TreeStudent):
        base = TreeStudent() if student == "tree" else student
        grid["student"] = [clone(base).set_params(max_depth=d) for d in (4, 6, 8)]
    return grid


def tune(
    model: Any,
    X: Any,
    y: Any,
    param_grid: dict | list | None = None,
    *,
    cv: Any = 3,
    scoring: str = "auc_retention",
    share_teacher: bool = True,
    n_jobs: int | None = None,
) -> GridSearchCV:
    """Grid-search ``model`` by cross-validated fidelity and refit the best on all rows.

    Parameters
    ----------
    model : DistilledClassifier
        The model to tune (cloned; never fitted in place). Give it a ``random_state`` so
        that the candidates of a split share folds, seeds and (with ``share_teacher``)
        teacher fits.
    X : {array-like, DataFrame} of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    param_grid : dict, list of dict or None, default=None
        As in :class:`~sklearn.model_selection.GridSearchCV`; ``None`` is
        :func:`default_param_grid`.
    cv : int or cross-validation splitter, default=3
        Splits of the search (each candidate still cross-fits its teacher with the
        model's own ``cv``).
    scoring : str, default="auc_retention"
        One of :data:`FIDELITY_METRICS`.
    share_teacher : bool, default=True
        Wrap the teacher in :class:`MemoizedTeacher` with a temporary cache, so that the
        teacher is fitted ``model.cv + 1`` times per split instead of per candidate and
        split. Not for a prefit (FrozenEstimator), Booster, list or class-weighted teacher,
        which are passed as they are.
    n_jobs : int or None, default=None
        Parallel candidates (``GridSearchCV(n_jobs=...)``).

    Returns
    -------
    search : GridSearchCV
        Fitted: ``best_params_``, ``best_estimator_`` (refitted on all rows),
        ``cv_results_``. With ``share_teacher`` the best estimator's teacher is a fitted
        :class:`MemoizedTeacher`; the temporary cache is removed before returning.
    """
    if param_grid is None:
        param_grid = default_param_grid(model)
    _check_student_grid(model, param_grid)
    scorer = make_fidelity_scorer(scoring)
    estimator = clone(model)
    with tempfile.TemporaryDirectory(prefix="riskkd-tune-") as folder:
        teacher = _shared_teacher(estimator.get_params().get("teacher"), folder)
        if share_teacher and teacher is not None:
            estimator.set_params(teacher=teacher)
        search = GridSearchCV(estimator, param_grid, scoring=scorer, cv=cv, n_jobs=n_jobs)
        search.fit(X, y)
    # The cache folder is gone: a later refit of these estimators must not recreate it. A
    # grid over ``teacher`` may have put another teacher in the best estimator.
    for fitted in (search.estimator, getattr(search, "best_estimator_", None)):
        if fitted is not None and isinstance(fitted.get_params().get("teacher"), MemoizedTeacher):
            fitted.set_params(teacher__memory=None)
    return search


def _check_student_grid(model: Any, param_grid: dict | list) -> None:
    """Refuse a grid over the student's own parameters when the student is given by name
    (scikit-learn failed with "'str' object has no attribute 'set_params'")."""
    student = model.get_params().get("student")
    if not isinstance(student, str):
        return
    for grid in [param_grid] if isinstance(param_grid, dict) else param_grid:
        nested = sorted(k for k in grid if k.startswith("student__"))
        if nested and not isinstance(grid.get("student"), list):
            raise ValueError(
                f"param_grid sets {nested[0]!r}, a parameter of the student, but the student "
                f"is given by name ({student!r}); give the student object instead, e.g. "
                f"student={getattr(STUDENTS.get(student), '__name__', 'TreeStudent')}()."
            )


def _shared_teacher(teacher: Any, folder: str) -> MemoizedTeacher | None:
    """``teacher`` wrapped in a :class:`MemoizedTeacher` caching in ``folder``, when it can be."""
    if teacher is None:
        return MemoizedTeacher(LightGBMTeacher(), memory=folder)
    if isinstance(teacher, list) or not hasattr(teacher, "fit"):
        return None
    if isinstance(teacher, FrozenEstimator | MemoizedTeacher):
        return None
    if class_weighting(teacher):  # its weights are read from its own parameters
        return None
    return MemoizedTeacher(teacher, memory=folder)
