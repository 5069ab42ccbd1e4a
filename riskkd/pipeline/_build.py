"""Estimators from a pipeline config: the teacher (with early stopping) and the distiller."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from .._holdout import holdout_split
from ..distill import DistilledClassifier
from ..teachers import LightGBMTeacher, configure_native

__all__ = ["build_model", "build_teacher", "early_stopped_xgboost", "teacher_param_names"]


def _teacher_class(kind: str) -> type:
    if kind == "lightgbm":
        return LightGBMTeacher
    if kind == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier


# Set by the pipeline from teacher.early_stopping_rounds / validation_fraction / seed.
_MANAGED = {
    "lightgbm": {"early_stopping_rounds", "validation_fraction", "random_state"},
    "xgboost": {"early_stopping_rounds", "random_state"},
    "hist_gradient_boosting": {
        "early_stopping",
        "n_iter_no_change",
        "validation_fraction",
        "random_state",
    },
}


def teacher_param_names(kind: str) -> set[str]:
    """Keys allowed in ``teacher.params`` for a teacher ``kind``.

    The constructor parameters of the teacher class, minus those the pipeline sets itself
    (early stopping and the seed).

    Examples
    --------
    >>> "num_leaves" in teacher_param_names("lightgbm")
    True
    >>> "random_state" in teacher_param_names("lightgbm")
    False
    """
    cls = _teacher_class(kind)
    if kind == "xgboost":
        names = set(cls().get_params())
    else:
        names = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
    return names - _MANAGED[kind]


def check_teacher_values(kind: str, params: dict[str, Any]) -> None:
    """Refuse ``teacher.params`` values the teacher class's own checks refuse (a number given
    as text, a value out of range), before anything runs. XGBoost checks its values only
    when it trains."""
    from sklearn.utils._param_validation import InvalidParameterError

    teacher = _teacher_class(kind)(**params)
    if not hasattr(teacher, "_parameter_constraints"):  # XGBoost: checked when it trains
        return
    try:
        teacher._validate_params()
    except InvalidParameterError as error:
        key = next((k for k in params if f"'{k}' parameter" in str(error)), None)
        raise ValueError(f"teacher.params{'.' + key if key else ''}: {error}") from None


def build_teacher(teacher_config: Any, seed: int) -> Any:
    """An unfitted teacher as the config describes it.

    LightGBM (:class:`riskkd.teachers.LightGBMTeacher`) and HistGradientBoosting stop early
    on their own held-out split inside every cross-fitting fold. XGBoost's scikit-learn API
    needs an explicit evaluation set, so ``xgboost`` is returned with ``n_estimators`` as
    given; :func:`early_stopped_xgboost` then picks the number of rounds.
    """
    kind, params = teacher_config.kind, dict(teacher_config.params)
    rounds, fraction = teacher_config.early_stopping_rounds, teacher_config.validation_fraction
    if kind == "lightgbm":
        return LightGBMTeacher(
            **params, early_stopping_rounds=rounds, validation_fraction=fraction, random_state=seed
        )
    if kind == "xgboost":
        from xgboost import XGBClassifier

        params.setdefault("n_jobs", 1)
        return XGBClassifier(**params, random_state=seed)
    from sklearn.ensemble import HistGradientBoostingClassifier

    if rounds is None:
        return HistGradientBoostingClassifier(**params, early_stopping=False, random_state=seed)
    return HistGradientBoostingClassifier(
        **params,
        early_stopping=True,
        n_iter_no_change=rounds,
        validation_fraction=fraction,
        random_state=seed,
    )


def early_stopped_xgboost(teacher: Any, X: Any, y: Any, *, rounds: int, fraction: float, seed: int):
    """``teacher`` with ``n_estimators`` chosen by early stopping on a held-out split.

    The held-out part (stratified, ``fraction`` of the rows) is scored after each round;
    training stops after ``rounds`` rounds without improvement and the best round count,
    scaled by ``1 / (1 - fraction)`` for the full training set, becomes ``n_estimators``.

    Returns
    -------
    teacher : XGBClassifier
        Unfitted, ready for cross-fitting by :class:`riskkd.DistilledClassifier`.
    best_rounds : int
    """
    from ..inputs import InputSchema

    y_index = np.unique(np.asarray(y), return_inverse=True)[1]
    schema = InputSchema.from_data(X)
    frame = schema.teacher_frame(schema.encode(X))
    fit_idx, val_idx = holdout_split(y_index, fraction, seed)
    probe = configure_native(teacher).set_params(early_stopping_rounds=rounds)
    probe.fit(
        frame.iloc[fit_idx],
        y_index[fit_idx],
        eval_set=[(frame.iloc[val_idx], y_index[val_idx])],
        verbose=False,
    )
    best = int(probe.best_iteration) + 1
    n_estimators = max(1, round(best / (1 - fraction)))
    return teacher.set_params(n_estimators=n_estimators), best


def build_model(config: Any, teacher: Any) -> DistilledClassifier:
    """The :class:`~riskkd.DistilledClassifier` of ``config.distillation``."""
    d = config.distillation
    return DistilledClassifier(
        teacher=teacher,
        student=d.student,
        calibration=d.calibration,
        temperature=d.temperature,
        alpha=d.alpha,
        loss=d.loss,
        cv=d.cv,
        min_frequency=d.min_frequency,
        max_categories=d.max_categories,
        augment=d.augment,
        augment_factor=d.augment_factor,
        monotone_constraints=d.monotone_constraints,
        n_jobs=config.training.n_jobs,
        random_state=config.seed,
    )
