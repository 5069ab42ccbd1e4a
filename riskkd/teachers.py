"""Teachers: the default LightGBM, native-input adapters, and prior correction.

riskkd accepts as teacher

* ``None``: :class:`LightGBMTeacher`, a LightGBM with early stopping on an internal split;
* any unfitted classifier with ``fit`` / ``predict_proba`` (cloned, never mutated);
  XGBoost, LightGBM and HistGradientBoosting are configured for native categoricals;
* a prefit classifier wrapped in :class:`sklearn.frozen.FrozenEstimator` (never refit);
* a raw ``xgboost.Booster`` or ``lightgbm.Booster`` (prefit).

:class:`FittedTeacher` is what ``DistilledClassifier.teacher_`` holds: it takes the same raw
``X`` as the distilled model and returns prior-corrected probabilities.
"""

from __future__ import annotations

import json
import numbers
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._holdout import holdout_split
from .inputs import InputSchema, _int64_levels


class LightGBMTeacher(ClassifierMixin, BaseEstimator):
    """LightGBM classifier with early stopping on an internal stratified validation split.

    The default teacher of :class:`riskkd.DistilledClassifier`. Its defaults are a
    conservative, well-tested recipe for tabular risk data (small leaves, slow learning
    rate, row and column subsampling). Early stopping on a held-out part picks the number of
    trees; with ``refit=True`` the model is then refitted on all rows with that number
    scaled up by ``1 / (1 - validation_fraction)`` (more rows support more trees), so no
    training row is wasted.

    Parameters
    ----------
    n_estimators : int, default=3000
        Upper bound on boosting rounds.
    learning_rate : float, default=0.03
    num_leaves : int, default=15
    min_child_samples : int, default=20
    subsample : float, default=0.8
        Row subsampling per tree (bagging every round).
    colsample_bytree : float, default=0.8
        Share of the columns each tree may use.
    colsample_bynode : float, default=1.0
        Share of (the tree's) columns each split may choose from.
    reg_lambda : float, default=1.0
    max_cat_to_onehot : int, default=16
        Categorical columns with at most this many levels are split one level against the
        rest; columns with more use LightGBM's many-vs-many splits on levels sorted by
        gradient. LightGBM's own default is 4. Risk data is full of few-level bands (age,
        price, months) where many-vs-many splits fit noise in small levels: 16 raised the
        vehicle fraud teacher's test ROC-AUC by 0.0039 ± 0.0007 (10 seeds) and lost nothing
        on the other bundled datasets (``benchmarks/teacher_variants.py``).
    validation_fraction : float, default=0.15
        Share of the training rows held out (stratified) for early stopping.
    early_stopping_rounds : int, default=100
    refit : bool, default=True
        Refit on all rows with the early-stopped number of trees.
    random_state : int, RandomState instance or None, default=None
    n_jobs : int, default=1
        LightGBM threads. :class:`riskkd.DistilledClassifier` parallelises over
        cross-fitting folds instead (``n_jobs`` there), which scales better and avoids
        LightGBM's OpenMP slow-down when threads are oversubscribed.

    Attributes
    ----------
    model_ : lightgbm.LGBMClassifier
        The fitted LightGBM model.
    best_iteration_ : int
        Number of trees kept by early stopping.
    n_trees_ : int
        Number of trees of ``model_``.
    classes_ : ndarray of shape (n_classes,)

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from riskkd.teachers import LightGBMTeacher
    >>> X, y = make_classification(n_samples=400, random_state=0)
    >>> teacher = LightGBMTeacher(random_state=0, n_estimators=50).fit(X, y)
    >>> teacher.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints: dict = {
        "n_estimators": [Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "num_leaves": [Interval(numbers.Integral, 2, None, closed="left")],
        "min_child_samples": [Interval(numbers.Integral, 1, None, closed="left")],
        "subsample": [Interval(numbers.Real, 0, 1, closed="right")],
        "colsample_bytree": [Interval(numbers.Real, 0, 1, closed="right")],
        "colsample_bynode": [Interval(numbers.Real, 0, 1, closed="right")],
        "reg_lambda": [Interval(numbers.Real, 0, None, closed="left")],
        "max_cat_to_onehot": [Interval(numbers.Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "early_stopping_rounds": [Interval(numbers.Integral, 1, None, closed="left")],
        "refit": ["boolean"],
        "random_state": ["random_state"],
        "n_jobs": [int],
    }

    max_cat_to_onehot = 4  # a teacher pickled before the parameter: LightGBM's default

    def __init__(
        self,
        n_estimators=3000,
        learning_rate=0.03,
        num_leaves=15,
        min_child_samples=20,
        subsample=0.8,
        colsample_bytree=0.8,
        colsample_bynode=1.0,
        reg_lambda=1.0,
        max_cat_to_onehot=16,
        validation_fraction=0.15,
        early_stopping_rounds=100,
        refit=True,
        random_state=None,
        n_jobs=1,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.colsample_bynode = colsample_bynode
        self.reg_lambda = reg_lambda
        self.max_cat_to_onehot = max_cat_to_onehot
        self.validation_fraction = validation_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.refit = refit
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y, sample_weight=None):
        """Fit with early stopping on a stratified validation split of ``X``."""
        import lightgbm as lgb
        from sklearn.utils import check_random_state

        self._validate_params()
        if not hasattr(X, "iloc"):
            X, y = validate_data(self, X, y, ensure_all_finite="allow-nan")
        check_classification_targets(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        params = self.lightgbm_params(seed)
        self.classes_, y = np.unique(np.asarray(y), return_inverse=True)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        fit_idx, val_idx = holdout_split(y, self.validation_fraction, seed, weight=weights)
        take = (lambda a, i: a.iloc[i]) if hasattr(X, "iloc") else (lambda a, i: a[i])
        self.model_ = lgb.LGBMClassifier(**params).fit(
            take(X, fit_idx),
            y[fit_idx],
            sample_weight=None if weights is None else weights[fit_idx],
            eval_X=(take(X, val_idx),),
            eval_y=(y[val_idx],),
            eval_sample_weight=None if weights is None else [weights[val_idx]],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        self.best_iteration_ = int(self.model_.best_iteration_ or self.n_estimators)
        self.n_trees_ = self.best_iteration_
        if self.refit:
            self.n_trees_ = self.refit_tree_count(self.best_iteration_)
            params["n_estimators"] = self.n_trees_
            self.model_ = lgb.LGBMClassifier(**params).fit(X, y, sample_weight=weights)
        return self

    def refit_tree_count(self, best_iteration: int) -> int:
        """Trees of the refit on all rows: ``best_iteration / (1 - validation_fraction)``."""
        return max(1, round(best_iteration / (1 - self.validation_fraction)))

    def lightgbm_params(self, seed: int) -> dict[str, Any]:
        """Keyword arguments of the ``lightgbm.LGBMClassifier`` fits; ``seed`` is the derived one.

        Override to set LightGBM parameters this class does not expose (e.g.
        ``extra_trees`` or ``cat_smooth``); ``n_estimators`` is the early-stopping bound.
        """
        return {
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "subsample": self.subsample,
            "subsample_freq": 1 if self.subsample < 1 else 0,
            "colsample_bytree": self.colsample_bytree,
            "colsample_bynode": self.colsample_bynode,
            "reg_lambda": self.reg_lambda,
            "max_cat_to_onehot": self.max_cat_to_onehot,
            "random_state": seed,
            "n_jobs": self.n_jobs,
            "verbose": -1,
        }

    def predict_proba(self, X):
        check_is_fitted(self)
        if not hasattr(X, "iloc"):
            X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        return self.model_.predict_proba(X, num_iteration=self.n_trees_)

    def predict(self, X):
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class BoosterClassifier:
    """A prefit ``xgboost.Booster`` or ``lightgbm.Booster`` seen as a classifier.

    Parameters
    ----------
    booster : xgboost.Booster or lightgbm.Booster
    n_classes : int
        Number of classes, in the sorted order of the training labels.
    """

    def __init__(self, booster: Any, n_classes: int):
        self.booster = booster
        self.n_classes = n_classes

    @property
    def library(self) -> str:
        return type(self.booster).__module__.split(".")[0]

    def predict_proba(self, X: Any) -> np.ndarray:
        if self.library == "xgboost":
            import xgboost as xgb

            proba = self.booster.predict(xgb.DMatrix(X, enable_categorical=True))
        else:
            proba = self.booster.predict(X)
        proba = np.asarray(proba, dtype=np.float64)
        if proba.ndim == 1:
            proba = np.column_stack([1.0 - proba, proba])
        if proba.shape[1] != self.n_classes:
            raise ValueError(
                f"The {self.library} Booster returns {proba.shape[1]} class probabilities, but y has "
                f"{self.n_classes} classes. Pass the labels the booster was trained on."
            )
        return proba


def is_booster(obj: Any) -> bool:
    """Whether ``obj`` is a raw XGBoost or LightGBM Booster."""
    module = type(obj).__module__
    return type(obj).__name__ == "Booster" and module.split(".")[0] in {"xgboost", "lightgbm"}


# Booster objectives whose predictions are class probabilities (LightGBM names and aliases).
_PROBABILITY_OBJECTIVES = {
    "lightgbm": {
        "binary",
        "multiclass",
        "softmax",
        "multiclassova",
        "multiclass_ova",
        "ova",
        "ovr",
        "cross_entropy",
        "xentropy",
    },
    "xgboost": {"binary:logistic", "multi:softprob", "reg:logistic"},
}


def booster_params(booster: Any) -> dict[str, Any]:
    """The training settings of a raw Booster that riskkd reads.

    Returns
    -------
    params : dict
        ``objective`` (str), ``scale_pos_weight`` (float) and ``is_unbalance`` (bool), from
        LightGBM's ``Booster.params`` (also filled in for a Booster loaded from a file) or
        XGBoost's ``save_config()``.
    """
    if type(booster).__module__.startswith("lightgbm"):
        params = booster.params
        return {
            "objective": str(params.get("objective", "regression")),
            "scale_pos_weight": float(params.get("scale_pos_weight", 1.0)),
            "is_unbalance": any(_is_true(params.get(k)) for k in _UNBALANCE),
        }
    objective = json.loads(booster.save_config())["learner"]["objective"]
    return {
        "objective": objective["name"],
        "scale_pos_weight": float(objective.get("reg_loss_param", {}).get("scale_pos_weight", 1)),
        "is_unbalance": False,
    }


def check_booster_objective(booster: Any) -> None:
    """Refuse a raw Booster whose predictions are not class probabilities."""
    library = type(booster).__module__.split(".")[0]
    objective = booster_params(booster)["objective"]
    if objective not in _PROBABILITY_OBJECTIVES[library]:
        raise ValueError(
            f"The {library} Booster teacher was trained with objective={objective!r}, whose "
            "predictions are not class probabilities. Pass a Booster trained with one of "
            f"{sorted(_PROBABILITY_OBJECTIVES[library])}."
        )


def configure_native(teacher: Any) -> Any:
    """A clone of ``teacher`` set up for native categorical and missing-value handling."""
    teacher = clone(teacher)
    name = type(teacher).__name__
    params = teacher.get_params()
    if name in {"XGBClassifier"}:
        updates = {"enable_categorical": True}
        if params.get("tree_method") in (None, "auto"):
            updates["tree_method"] = "hist"
        teacher.set_params(**updates)
    elif name == "HistGradientBoostingClassifier" and params.get("categorical_features") is None:
        teacher.set_params(categorical_features="from_dtype")
    elif name == "LGBMClassifier" and params.get("verbose", params.get("verbosity")) is None:
        teacher.set_params(verbose=-1)
    return teacher


def check_native_levels(teacher: Any, schema: Any) -> None:
    """Refuse categorical columns an XGBoost teacher cannot read, naming them and the fix.

    XGBoost reads categories that are all text or all integers; it fails deep inside on
    others (decimals, booleans with missing values, mixed types, no level at all).
    """
    if type(teacher).__name__ not in {"XGBClassifier", "DaskXGBClassifier"}:
        return
    unreadable = {}
    for name in schema.categorical_names:
        levels = schema.levels[name]
        kinds = {type(v) for v in levels}
        if kinds == {int} and not _int64_levels(levels):
            unreadable[name] = ["integers beyond int64"]
        elif kinds not in ({str}, {int}):
            unreadable[name] = sorted(k.__name__ for k in kinds) or ["none: every value missing"]
    if unreadable:
        shown = "; ".join(
            f"{name!r} (levels of type {', '.join(k)})" for name, k in unreadable.items()
        )
        raise ValueError(
            f"The XGBoost teacher reads categorical levels that are all text or all integers; "
            f"these columns have others: {shown}. Convert them (booleans with missing "
            "values: X[col].astype('boolean'); decimals or mixed types: X[col].astype(str)), "
            "drop a column without values, or use the default LightGBM teacher."
        )


#: LightGBM's one-vs-rest multi-class objective and its aliases.
_ONE_VS_REST = {"multiclassova", "multiclass_ova", "ova", "ovr"}


def class_weight_vector(class_weight: Any, labels: Any, counts: np.ndarray) -> np.ndarray:
    """scikit-learn's ``class_weight`` (``"balanced"`` or a dict keyed by ``labels``) as one
    factor per class; ``counts`` are the rows of each class."""
    if isinstance(class_weight, str) and class_weight == "balanced":
        return counts.sum() / (len(counts) * np.maximum(counts, 1))
    return np.array([float(class_weight.get(k, 1.0)) for k in list(labels)])


#: LightGBM's ``is_unbalance`` and its aliases.
_UNBALANCE = ("is_unbalance", "unbalance", "unbalanced_sets")
#: Settings by which a model weighs classes (the priors riskkd divides back out).
CLASS_WEIGHTING = ("class_weight", "scale_pos_weight", *_UNBALANCE)


def _is_true(value: Any) -> bool:
    """A LightGBM flag given as a bool or as text (a Booster's settings are text)."""
    return value.lower() == "true" if isinstance(value, str) else bool(value)


#: scikit-learn estimators whose "balanced" counts rows by ``sample_weight``
#: (``compute_class_weight(..., sample_weight=...)``); others (LightGBM, trees,
#: HistGradientBoosting) count rows.
_WEIGHTED_BALANCE = {"LogisticRegression", "LogisticRegressionCV"}


def class_weighting(estimator: Any) -> dict[str, Any]:
    """The class-weighting settings (``class_weight``, ``scale_pos_weight``,
    ``is_unbalance``) an estimator, or a ``Pipeline``'s last step, is configured with,
    keyed by their name in ``estimator.get_params()``; neutral values left out."""
    prefix = ""
    if isinstance(estimator, Pipeline):
        prefix, estimator = f"{estimator.steps[-1][0]}__", estimator[-1]
    params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
    return {prefix + k: params[k] for k in CLASS_WEIGHTING if params.get(k) not in (None, False, 1)}


def _configured(teacher: Any) -> Any:
    """The estimator whose settings count: a frozen model's, a Pipeline's last step."""
    estimator = teacher.estimator if isinstance(teacher, FrozenEstimator) else teacher
    return estimator[-1] if isinstance(estimator, Pipeline) else estimator


def _estimator_params(estimator: Any) -> dict[str, Any]:
    """``get_params()`` with a LightGBMTeacher's LightGBM settings (a subclass's too)."""
    params = estimator.get_params() if hasattr(estimator, "get_params") else {}
    if hasattr(estimator, "lightgbm_params"):
        params = {**params, **estimator.lightgbm_params(0)}
    return params


def _weighting_params(teacher: Any) -> tuple[Any, dict[str, Any] | None]:
    """The estimator whose settings weigh classes and those settings, or None for an
    estimator without readable settings."""
    estimator = _configured(teacher)
    if is_booster(estimator):
        return estimator, booster_params(estimator)
    if not hasattr(estimator, "get_params"):
        return estimator, None
    return estimator, _estimator_params(estimator)


def balances_classes(teacher: Any, n_classes: int) -> bool:
    """Whether ``teacher`` weighs classes by their row counts (``"balanced"`` class weights
    or LightGBM's ``is_unbalance``), which riskkd reads from the rows it is given."""
    params = _weighting_params(teacher)[1] or {}
    # "balanced_subsample" (forests) balances each bootstrap sample: "balanced" on average.
    if params.get("class_weight") in ("balanced", "balanced_subsample"):
        return True
    # is_unbalance weighs binary objectives, one-vs-rest ones class by class, not softmax.
    one_vs_rest = str(params.get("objective")) in _ONE_VS_REST
    unbalanced = any(_is_true(params.get(k)) for k in _UNBALANCE)
    return unbalanced and (n_classes == 2 or one_vs_rest)


def class_weight_factors(
    teacher: Any, y_index: np.ndarray, n_classes: int, sample_weight: np.ndarray | None = None
) -> np.ndarray | None:
    """Per-class weights the teacher was trained with, or None.

    A model trained with class weights ``w_k`` (``class_weight``, ``is_unbalance`` or
    ``scale_pos_weight``) predicts probabilities proportional to ``w_k * p_k``; riskkd
    divides them back out so that soft targets are on the true prior. A raw Booster keeps
    ``scale_pos_weight`` and ``is_unbalance`` (or its aliases ``unbalance``,
    ``unbalanced_sets``) in its own settings; scikit-learn's
    ``class_weight`` becomes sample weights that a Booster does not record. In a
    scikit-learn ``Pipeline`` the last step's settings count. ``scale_pos_weight`` weighs
    binary objectives only; ``is_unbalance`` binary and one-vs-rest ones (LightGBM ignores
    it for the softmax ``multiclass``; for ``multiclassova`` the balanced weights
    approximate its per-class reweighting). ``sample_weight``: the rows' weights, which
    some scikit-learn estimators count in ``"balanced"`` (``LogisticRegression``).
    """
    estimator, params = _weighting_params(teacher)
    if params is None:
        return None
    weights = np.ones(n_classes)
    counted = sample_weight if type(estimator).__name__ in _WEIGHTED_BALANCE else None
    counts = np.bincount(y_index, weights=counted, minlength=n_classes).astype(float)
    class_weight = params.get("class_weight")
    labels = getattr(estimator, "classes_", None)
    labels = np.arange(n_classes) if labels is None else labels
    if balances_classes(teacher, n_classes):
        weights = class_weight_vector("balanced", labels, counts)
    elif isinstance(class_weight, dict):
        weights = class_weight_vector(class_weight, labels, counts)
    spw = params.get("scale_pos_weight")
    if n_classes == 2 and spw not in (None, 1, 1.0):
        weights = weights * np.array([1.0, float(spw)])
    return None if np.allclose(weights, 1.0) else weights


def correct_prior(proba: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Undo class weighting: ``p_k / w_k`` renormalised."""
    if weights is None:
        return proba
    corrected = proba / weights
    return corrected / corrected.sum(axis=1, keepdims=True)


class FittedTeacher:
    """The teacher of a distilled model, reading the same raw ``X`` as the student.

    Parameters
    ----------
    estimator : object
        The fitted teacher (a scikit-learn-style classifier or a :class:`BoosterClassifier`).
    schema : InputSchema
        The distilled model's input schema.
    native : bool
        True when riskkd fitted the teacher on its own native-categorical frame; False for a
        prefit teacher, which receives ``X`` as given (columns put in training order).
    class_weights : ndarray of shape (n_classes,) or None
        Class weights to divide out of the predicted probabilities.
    """

    def __init__(
        self, estimator: Any, schema: InputSchema, native: bool, class_weights: Any = None
    ):
        self.estimator = estimator
        self.schema = schema
        self.native = native
        self.class_weights = class_weights

    def prepare(self, X: Any) -> Any:
        """The input the underlying estimator reads."""
        if self.native:
            return self.schema.teacher_frame(self.schema.encode(X))
        return self.schema.raw_frame(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities on the true prior, columns in the order of ``classes_``."""
        return self.predict_proba_prepared(self.prepare(X))

    def predict_proba_encoded(self, encoded: Any, raw: Any = None) -> np.ndarray:
        """Probabilities for rows given in riskkd's shared encoding (e.g. synthetic rows).

        ``raw``: the same rows as given, when they are real rows (``X_unlabeled``). A teacher
        reading raw input reads those: the encoding holds levels ``X`` lacked as missing,
        and a prefit teacher may know them.
        """
        if self.native:
            return self.predict_proba_prepared(self.schema.teacher_frame(encoded))
        if raw is not None:
            return self.predict_proba(raw)
        return self.predict_proba_prepared(self.schema.decode(encoded))

    def predict_proba_prepared(self, data: Any) -> np.ndarray:
        if len(data) == 0:  # GBDT libraries refuse empty input; the student scores it
            estimator = self.estimator
            n_classes = getattr(estimator, "n_classes", None) or len(estimator.classes_)
            return np.empty((0, n_classes))
        proba = as_distribution(self.estimator.predict_proba(data))
        return correct_prior(proba, self.class_weights)

    @property
    def fitted_estimator(self) -> Any:
        """The fitted teacher under the wrappers (class indexing, ``FrozenEstimator``, the
        cache of :func:`riskkd.tuning.tune`): an estimator or a :class:`BoosterClassifier`."""
        from .tuning import MemoizedTeacher

        model = self.estimator
        while isinstance(model, _ClassIndexed | FrozenEstimator | MemoizedTeacher):
            model = model.estimator_ if isinstance(model, MemoizedTeacher) else model.estimator
        return model

    @property
    def native_model(self) -> Any:
        """The XGBoost/LightGBM booster or the scikit-learn model underneath."""
        model = self.fitted_estimator
        if isinstance(model, LightGBMTeacher):
            model = model.model_
        if isinstance(model, BoosterClassifier):
            return model.booster
        if hasattr(model, "booster_"):  # LightGBM (its booster keeps the best iteration)
            return model.booster_
        if hasattr(model, "get_booster"):
            booster = model.get_booster()
            # XGBoost's scikit-learn API predicts with the trees early stopping kept; its
            # booster holds them all.
            best = getattr(model, "best_iteration", None)
            if (
                best is None
                or json.loads(booster.save_config())["learner"]["gradient_booster"]["name"]
                == "gblinear"
            ):  # (no trees to slice; it predicts with every round)
                return booster
            return booster[: best + 1]
        return model


class _ClassIndexed:
    """A fitted classifier whose ``predict_proba`` always has one column per class index.

    Teachers are fitted on class indices ``0..n_classes-1`` (a riskkd model as the teacher
    on the sorted ``labels``); this also guards against a fold that lacks a class (when a
    custom ``cv`` allows it).
    """

    labels = None  # (a model pickled before labels existed)

    def __init__(self, estimator, n_classes: int, labels: np.ndarray | None = None):
        self.estimator = estimator
        self.n_classes = n_classes
        self.labels = labels

    def predict_proba(self, X):
        return _proba_all_classes(self.estimator, X, self.n_classes, self.labels)

    def __getattr__(self, name):
        if name == "estimator":
            raise AttributeError(name)
        return getattr(self.estimator, name)


def as_distribution(proba: Any) -> np.ndarray:
    """Class probabilities as float64 rows that sum to one.

    XGBoost, and riskkd's own students as the assistants of a multi-stage distillation,
    predict float32 probabilities, whose rows sum to one only to float32 precision: as
    float64 they are renormalised (scikit-learn's ``log_loss`` warns about
    rows off by more than 1.5e-8). float64 rows that sum to one (within 1e-9) are returned
    unchanged, bit for bit; others are renormalised (one-vs-rest models, e.g. LightGBM's
    ``multiclassova``, give independent probabilities per class: row sums of 0.2-1.9).
    """
    proba = np.asarray(proba)
    if proba.dtype == np.float64 and (
        proba.size == 0 or np.abs(proba.sum(axis=1) - 1).max() <= 1e-9
    ):
        return proba
    proba = proba.astype(np.float64)
    return proba / proba.sum(axis=1, keepdims=True)


def _proba_all_classes(
    model: Any, X: Any, n_classes: int, labels: np.ndarray | None = None
) -> np.ndarray:
    """``model``'s probabilities with one column per class index; ``labels``: the sorted
    labels of the classes, when the model was fitted on labels rather than indices."""
    proba = as_distribution(model.predict_proba(X))
    classes = np.asarray(model.classes_)
    if labels is not None:
        classes = np.searchsorted(labels, classes)
    if proba.shape[1] == n_classes and np.array_equal(classes, np.arange(n_classes)):
        return proba
    full = np.zeros((proba.shape[0], n_classes))
    full[:, classes.astype(int)] = proba
    return full


# ---------------------------------------------------------------------- several teachers
def combine_logits(probas: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Teachers' probabilities combined in logit space: ``softmax(sum_k w_k log p_k)``.

    For a binary target this is the weighted sum of the teachers' log-odds; with weights
    summing to 1 it is their normalised weighted geometric mean. Unlike averaging
    probabilities it keeps a confident teacher's extreme scores, and it is what a student
    trained on logits can represent.

    Examples
    --------
    >>> import numpy as np
    >>> from riskkd.teachers import combine_logits
    >>> a, b = np.array([[0.5, 0.5]]), np.array([[0.1, 0.9]])
    >>> combine_logits([a, b], np.array([0.5, 0.5])).round(3)  # log-odds: mean of 0 and 2.197
    array([[0.25, 0.75]])
    """
    from scipy.special import softmax

    logits = sum(w * np.log(np.clip(p, 1e-7, 1.0)) for w, p in zip(weights, probas))
    return softmax(logits, axis=1)


def fit_logit_weights(
    probas: list[np.ndarray], y_index: np.ndarray, sample_weight: np.ndarray | None = None
) -> np.ndarray:
    """Non-negative weights summing to 1 that minimise the log-loss of :func:`combine_logits`.

    Fitted on out-of-fold probabilities, so a teacher that overfits gets no credit for it.
    The weights are a softmax of free parameters (so they stay on the simplex) found by
    L-BFGS from equal weights; the result is deterministic.

    Examples
    --------
    >>> import numpy as np
    >>> from riskkd.teachers import fit_logit_weights
    >>> y = np.array([0, 1] * 50)
    >>> informed = np.where(y[:, None] == [0, 1], 0.8, 0.2)
    >>> uninformed = np.full((100, 2), 0.5)
    >>> fit_logit_weights([informed, uninformed], y).round(2)
    array([1., 0.])
    """
    from scipy.optimize import minimize
    from scipy.special import log_softmax, softmax

    k = len(probas)
    if k == 1:
        return np.ones(1)
    w = np.ones(len(y_index)) if sample_weight is None else np.asarray(sample_weight, float)
    logs = np.stack([np.log(np.clip(p, 1e-7, 1.0)) for p in probas])  # (k, n, classes)
    rows = np.arange(len(y_index))

    def nll(theta: np.ndarray) -> float:
        combined = np.tensordot(softmax(theta), logs, axes=1)
        return -np.average(log_softmax(combined, axis=1)[rows, y_index], weights=w)

    theta = minimize(nll, np.zeros(k), method="L-BFGS-B").x
    return softmax(theta)


class TeacherEnsemble:
    """Several fitted teachers combined in logit space; ``DistilledClassifier.teacher_``
    when ``teacher`` is a list.

    Parameters
    ----------
    members : list of FittedTeacher
        The fitted teachers, each reading the distilled model's raw ``X`` and returning
        prior-corrected probabilities.
    weights : ndarray of shape (n_members,)
        Non-negative weights summing to 1 (see :func:`combine_logits`).
    """

    def __init__(self, members: list[FittedTeacher], weights: np.ndarray):
        self.members = members
        self.weights = np.asarray(weights, dtype=float)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Combined class probabilities, columns in the order of ``classes_``."""
        return combine_logits([m.predict_proba(X) for m in self.members], self.weights)

    def predict_proba_encoded(self, encoded: Any, raw: Any = None) -> np.ndarray:
        """Combined probabilities for rows in riskkd's shared encoding (``raw``: see
        :meth:`FittedTeacher.predict_proba_encoded`)."""
        return combine_logits(
            [m.predict_proba_encoded(encoded, raw) for m in self.members], self.weights
        )

    @property
    def native_model(self) -> TeacherEnsemble:
        """An ensemble has no single native model: itself (``riskkd.save`` skips it)."""
        return self


# ---------------------------------------------------------------------- monotone constraints
#: Monotone constraint settings: XGBoost's and LightGBM's (with LightGBM's aliases), then
#: HistGradientBoosting's.
_MONOTONE = ("monotone_constraints", "monotone_constraint", "mc", "monotonic_cst")


def teacher_monotone_constraints(teacher: Any, names: list[str]) -> dict[str, int]:
    """The monotone constraints a teacher was configured with, as ``{column: +1 or -1}``.

    Reads LightGBM's ``monotone_constraints`` or its aliases (estimator parameter, Booster
    parameter, or :meth:`LightGBMTeacher.lightgbm_params`), XGBoost's
    ``monotone_constraints`` (list/tuple, dict or ``"(1,0,-1)"`` string, estimator or
    Booster) and HistGradientBoosting's ``monotonic_cst`` (list or dict); in a ``Pipeline``,
    its last step's, which must name its columns (a dict): a position there need not be a
    position in ``X``. Positional constraints refer to ``names``, the teacher's training
    columns in order. Teachers without constraints give ``{}``.
    """
    from .tuning import MemoizedTeacher

    if isinstance(teacher, MemoizedTeacher):  # tune()'s cache: the constraints of its estimator
        teacher = teacher.estimator
    unfrozen = teacher.estimator if isinstance(teacher, FrozenEstimator) else teacher
    in_pipeline, estimator = isinstance(unfrozen, Pipeline), _configured(teacher)
    if hasattr(estimator, "monotone_constraints_"):  # a fitted riskkd model as the teacher
        return dict(estimator.monotone_constraints_)
    if is_booster(estimator) and not type(estimator).__module__.startswith("lightgbm"):
        config = json.loads(estimator.save_config())
        train = config["learner"]["gradient_booster"].get("tree_train_param", {})
        spec = train.get("monotone_constraints")
    else:
        params = estimator.params if is_booster(estimator) else _estimator_params(estimator)
        spec = next((params[k] for k in _MONOTONE if params.get(k) is not None), None)
    if spec is None or (isinstance(spec, str) and spec.strip("()[] ") in ("", "auto")):
        return {}  # "auto": an unfitted riskkd model, whose constraints are resolved at its fit
    if in_pipeline and not isinstance(spec, dict):
        raise ValueError(
            f"The teacher Pipeline's last step has monotone constraints by position "
            f"({spec!r}), which riskkd cannot map to the columns of X through the steps "
            "before it. Pass monotone_constraints={column: +1 or -1} to DistilledClassifier "
            "(or None for an unconstrained student)."
        )
    if isinstance(spec, str):
        spec = [int(v) for v in spec.strip("()[] ").split(",")]
    if isinstance(spec, dict):
        constraints = {str(k): int(v) for k, v in spec.items()}
    else:
        spec = list(np.asarray(spec).ravel())
        if len(spec) != len(names):
            raise ValueError(
                f"The teacher's monotone constraints list {len(spec)} values but X has "
                f"{len(names)} columns; give one value per column in the order of X."
            )
        constraints = {name: int(v) for name, v in zip(names, spec)}
    return {name: c for name, c in constraints.items() if c != 0}
