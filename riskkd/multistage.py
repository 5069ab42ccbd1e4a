"""Teacher-assistant (multi-stage) distillation: GBDT -> wide MLP -> compact student."""

from __future__ import annotations

import numbers
import time

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, column_or_1d

from .distill import DistilledClassifier
from .fidelity import agreement_metrics, classification_metrics, label_index
from .inputs import python_scalar
from .students import STUDENTS, MLPStudent
from .teachers import is_booster

#: Parameters handed unchanged to every stage's DistilledClassifier (validated like there).
_SHARED = ("calibration", "temperature", "alpha", "loss", "augment", "n_jobs")


class MultiStageDistiller(ClassifierMixin, BaseEstimator):
    """Distil a teacher through a chain of ever smaller students (teacher assistants).

    A large gap between a boosted ensemble and a compact student can make direct
    distillation worse than distilling through an intermediate "teacher assistant" of medium
    capacity (Mirzadeh et al. 2020, "Improved Knowledge Distillation via Teacher
    Assistant"). Stage 1 is a :class:`~riskkd.DistilledClassifier` from the teacher to
    ``stages[0]`` (a wide MLP by default); each later stage is a DistilledClassifier whose
    teacher is the previous stage. The last stage, ``final_``, is a regular fitted
    DistilledClassifier: :func:`riskkd.save`, :func:`riskkd.fidelity_report` and the MLflow
    helpers take it as they take any distilled model.

    **What feeds each stage.** The assistant's predictions on its own training rows are
    in-sample: it has fitted those rows (partly their hard labels, with ``alpha < 1``), so
    they are closer to the labels than its predictions on new rows, which is the
    over-confidence the cross-fitted teacher of stage 1 is there to avoid. With
    ``assistant_cv`` set (the default), the teacher of stage ``k + 1`` is an *unfitted* copy
    of stage ``k``'s whole recipe, which DistilledClassifier cross-fits like any teacher: the
    rows are split into ``assistant_cv`` folds and a copy of the chain up to stage ``k``
    (its own cross-fitted GBDT included) is fitted on the other folds and predicts each
    fold. Every soft target of every stage thus comes from models that never saw that row's
    label. This is chosen over held-out predictions (a split of the rows between stages),
    which would leave each stage fewer rows to learn from. ``assistant_cv=None`` is the
    cheap path: stage ``k + 1`` learns from the in-sample predictions of the fitted stage
    ``k`` (wrapped in :class:`~sklearn.frozen.FrozenEstimator`).

    **Cost.** ``assistant_cv=None``: one fit per stage. With ``assistant_cv=m``, stage
    ``k + 1`` fits stage ``k``'s recipe ``m + 1`` times (``m`` folds and the refit on all
    rows that becomes its ``teacher_``), on top of the fit of stage ``k`` kept in
    ``stages_``: a 2-stage chain costs ``m + 2`` stage-1 fits (each ``cv + 1`` teacher
    fits and one assistant) plus the final student, and the factor multiplies with each
    further stage.

    Parameters
    ----------
    teacher : estimator, FrozenEstimator, xgboost.Booster, lightgbm.Booster or None, default=None
        The teacher of stage 1, as in :class:`~riskkd.DistilledClassifier` (``None`` is
        :class:`riskkd.teachers.LightGBMTeacher`).
    stages : sequence of {"mlp", "tree", ...} or Student, default=None
        The students, largest first; at least two. ``None`` is
        ``(MLPStudent(hidden_layer_sizes=(256, 128)), "mlp")``: a wide MLP assistant, then the
        default compact MLP. Each is cloned.
    assistant_cv : int or None, default=3
        Folds for cross-fitting each assistant (see above); ``None`` uses its in-sample
        predictions.
    cv : int or cross-validation splitter, default=5
        Folds for the cross-fitted teacher of stage 1.
    calibration, temperature, alpha, loss, augment, n_jobs
        Passed to every stage's :class:`~riskkd.DistilledClassifier`.
    monotone_constraints : "auto", dict or None, default="auto"
        As in :class:`~riskkd.DistilledClassifier`, for every stage. With ``"auto"`` the
        teacher's constraints are read by stage 1 and given explicitly to the later stages,
        so the final student keeps them too.
    random_state : int, RandomState instance or None, default=None
        Seeds every stage (one seed drawn per stage).

    Attributes
    ----------
    stages_ : list of DistilledClassifier
        Each stage fitted on all rows; ``stages_[k]`` has ``stages[k]`` as student.
        ``stages_[0].teacher_`` is the teacher refitted on all rows.
    final_ : DistilledClassifier
        ``stages_[-1]``. Its ``teacher_`` is set to the original teacher
        (``stages_[0].teacher_``), so that a fidelity report, a saved model and an MLflow run
        compare the compact student with the model it replaces; the assistant it was
        distilled from is ``stages_[-2]``.
    teacher_ : riskkd.teachers.FittedTeacher
        The original teacher (``stages_[0].teacher_``).
    stage_fidelity_ : DataFrame
        One row per model (``"teacher"`` then each stage) and columns ``student``,
        ``roc_auc``, ``ece``, ``auc_retention``, ``rank_correlation``,
        ``decision_agreement`` and ``fit_seconds``, on the training rows: the teacher's row
        uses its calibrated out-of-fold probabilities (``stages_[0].soft_targets_``); each
        stage's row uses its in-sample predictions compared with those. Use
        :meth:`stage_report` on held-out rows for an unbiased view.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when ``X`` was a DataFrame.

    See Also
    --------
    riskkd.DistilledClassifier : One-stage distillation.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from riskkd.multistage import MultiStageDistiller
    >>> from riskkd.students import MLPStudent
    >>> X, y = make_classification(n_samples=400, random_state=0)
    >>> model = MultiStageDistiller(
    ...     stages=(MLPStudent(hidden_layer_sizes=(64, 32), max_epochs=20), "tree"),
    ...     assistant_cv=None, cv=2, random_state=0,
    ... ).fit(X, y)
    >>> list(model.stage_fidelity_.index)
    ['teacher', 'stage 1', 'stage 2']
    >>> model.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints: dict = {
        "teacher": DistilledClassifier._parameter_constraints["teacher"],
        "stages": [list, tuple, None],
        "assistant_cv": [Interval(numbers.Integral, 2, None, closed="left"), None],
        "cv": DistilledClassifier._parameter_constraints["cv"],
        **{name: DistilledClassifier._parameter_constraints[name] for name in _SHARED},
        "monotone_constraints": DistilledClassifier._parameter_constraints["monotone_constraints"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        teacher=None,
        stages=None,
        *,
        assistant_cv=3,
        cv=5,
        calibration="auto",
        temperature=2.0,
        alpha="auto",
        loss="kl",
        augment=None,
        monotone_constraints="auto",
        n_jobs=None,
        random_state=None,
    ):
        self.teacher = teacher
        self.stages = stages
        self.assistant_cv = assistant_cv
        self.cv = cv
        self.calibration = calibration
        self.temperature = temperature
        self.alpha = alpha
        self.loss = loss
        self.augment = augment
        self.monotone_constraints = monotone_constraints
        self.n_jobs = n_jobs
        self.random_state = random_state

    # ------------------------------------------------------------------ extension points
    def _get_stages(self) -> list:
        """The students of the chain, validated; ``None`` resolved to the default chain."""
        if self.stages is None:
            return [MLPStudent(hidden_layer_sizes=(256, 128)), "mlp"]
        stages = list(self.stages)
        if len(stages) < 2:
            raise ValueError(
                f"The 'stages' parameter of MultiStageDistiller needs at least two students "
                f"(an assistant, then the final student); got {len(stages)}. For a single "
                "student use riskkd.DistilledClassifier."
            )
        for k, stage in enumerate(stages):
            named = isinstance(stage, str) and stage in STUDENTS
            student_like = hasattr(stage, "fit") and hasattr(stage, "decision_logits")
            if not (named or student_like):
                raise ValueError(
                    f"stages[{k}] of MultiStageDistiller must be a student name in "
                    f"{sorted(STUDENTS)} or a riskkd.students.Student; got {stage!r}."
                )
        return stages

    def _make_stage(self, teacher, student, cv, seed: int, monotone) -> DistilledClassifier:
        """The (unfitted) DistilledClassifier of one stage. Override to vary it per stage."""
        shared = {name: getattr(self, name) for name in _SHARED}
        return DistilledClassifier(
            teacher, student, cv=cv, random_state=seed, monotone_constraints=monotone, **shared
        )

    def _later_monotone(self, first: DistilledClassifier):
        """Constraints of the stages after the first: those stage 1 resolved and checked.

        An assistant is not a GBDT, so ``"auto"`` cannot read them from it; later stages get
        stage 1's ``monotone_constraints_`` as an explicit ``{column: sign}`` dict.
        """
        return dict(first.monotone_constraints_) or None

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Fit the stages in order, each distilled from the previous one.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to every stage.

        Returns
        -------
        self : MultiStageDistiller
        """
        students = self._get_stages()
        self._check_assistant_folds(y, len(students))
        rng = check_random_state(self.random_state)
        seeds = [int(s) for s in rng.randint(0, 2**31 - 1, size=len(students))]

        recipe = self._make_stage(
            self.teacher, students[0], self.cv, seeds[0], self.monotone_constraints
        )
        fitted, seconds = [], []
        for k, student in enumerate(students):
            if k > 0:
                monotone = self._later_monotone(fitted[0])
                if self.assistant_cv is None:
                    teacher, cv = FrozenEstimator(fitted[-1]), self.cv
                else:
                    teacher, cv = recipe, self.assistant_cv
                recipe = self._make_stage(teacher, student, cv, seeds[k], monotone)
            start = time.perf_counter()
            fitted.append(clone(recipe).fit(X, y, sample_weight=sample_weight))
            seconds.append(time.perf_counter() - start)

        self.stages_ = fitted
        self.final_ = fitted[-1]
        self.final_.teacher_ = fitted[0].teacher_
        self.teacher_ = fitted[0].teacher_
        self.classes_ = self.final_.classes_
        self.n_features_in_ = self.final_.n_features_in_
        if hasattr(self.final_, "feature_names_in_"):
            self.feature_names_in_ = self.final_.feature_names_in_
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.stage_fidelity_ = self._stage_fidelity(X, y, sample_weight, seconds)
        return self

    def _check_assistant_folds(self, y, n_stages: int) -> None:
        """Refuse, before any fit, folds the cross-fitted copies of earlier stages cannot use.

        With ``assistant_cv=m``, stage ``k + 1`` cross-fits the chain up to stage ``k`` on
        ``m`` folds: each copy sees ``m - 1`` of ``m`` folds of the rows, and, nested, the
        copies of stage 1 inside the last stage see that share of a share, on which they
        cross-fit the teacher on ``cv`` folds. Every level needs every class in every fold.
        """
        m = self.assistant_cv
        if m is None:
            return
        if not (
            self.cv is None or isinstance(self.cv, numbers.Integral) or hasattr(self.cv, "split")
        ):
            raise ValueError(
                f"cv is given as {type(self.cv).__name__} of splits, which index all the "
                f"training rows, but with assistant_cv={m} stage 1 is also fitted on folds of "
                "them. Pass assistant_cv=None (each assistant fitted once, on all rows), or cv "
                "as a number of folds or a splitter."
            )
        members = self.teacher if isinstance(self.teacher, list) else [self.teacher]
        prefit = all(isinstance(t, FrozenEstimator) or is_booster(t) for t in members)
        cv = 5 if self.cv is None else self.cv
        counts = pd.Series(column_or_1d(y, warn=False)).value_counts()  # (missing: refused later)
        for label, count in counts.items():
            rows = int(count)
            for stage in range(n_stages, 1, -1):  # stage k cross-fits the chain before it
                if rows < m:
                    raise ValueError(
                        f"Class {python_scalar(label)!r} has {count} rows; with assistant_cv={m}, stage "
                        f"{stage} cross-fits the stages before it on {m} folds of {rows} of "
                        "them, and every fold needs the class. Lower assistant_cv, pass "
                        "assistant_cv=None, or gather more rows of the class."
                    )
                rows -= -(-rows // m)  # the copies are fitted on the other folds
            if isinstance(cv, numbers.Integral) and not prefit and rows < cv:
                raise ValueError(
                    f"Class {python_scalar(label)!r} has {count} rows; with {n_stages} stages and "
                    f"assistant_cv={m}, copies of stage 1 are fitted on as few as {rows} of "
                    f"them, fewer than its cv={cv} folds. Lower cv or assistant_cv, pass "
                    "assistant_cv=None, or gather more rows of the class."
                )

    def _stage_fidelity(self, X, y, sample_weight, seconds) -> pd.DataFrame:
        """``stage_fidelity_``: each stage on the training rows against the out-of-fold teacher."""
        y_index = np.searchsorted(self.classes_, column_or_1d(y))
        if sample_weight is not None:
            sample_weight = np.broadcast_to(np.asarray(sample_weight, dtype=float), y_index.shape)
        teacher = self.stages_[0].soft_targets_
        rows = {"teacher": self._compare(y_index, teacher, teacher, sample_weight, "")}
        for k, (stage, sec) in enumerate(zip(self.stages_, seconds), 1):
            name = type(stage.student_).__name__
            row = self._compare(y_index, teacher, stage.predict_proba(X), sample_weight, name)
            rows[f"stage {k}"] = {**row, "fit_seconds": sec}
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "model"
        return frame

    @staticmethod
    def _compare(y_index, teacher, proba, sample_weight, name) -> dict:
        mine = classification_metrics(y_index, proba, sample_weight)
        auc = classification_metrics(y_index, teacher, sample_weight)["roc_auc"]
        return {
            "student": name,
            "roc_auc": mine["roc_auc"],
            "ece": mine["ece"],
            "auc_retention": mine["roc_auc"] / auc,
            **agreement_metrics(teacher, proba, sample_weight=sample_weight),
            "fit_seconds": np.nan,
        }

    # ------------------------------------------------------------------ evaluation
    def stage_report(self, X, y, *, sample_weight=None) -> pd.DataFrame:
        """Fidelity of every stage to the original teacher on ``(X, y)`` (ideally held out).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Labels among ``classes_``.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        report : DataFrame
            Same columns as ``stage_fidelity_`` (``fit_seconds`` from fit), one row for the
            teacher (``teacher_.predict_proba``) and one per stage.
        """
        check_is_fitted(self)
        y_index = label_index(self.classes_, y, X)
        if sample_weight is not None:
            sample_weight = np.broadcast_to(np.asarray(sample_weight, dtype=float), y_index.shape)
        teacher = self.teacher_.predict_proba(X)
        rows = {"teacher": self._compare(y_index, teacher, teacher, sample_weight, "")}
        for k, stage in enumerate(self.stages_, 1):
            name = type(stage.student_).__name__
            row = self._compare(y_index, teacher, stage.predict_proba(X), sample_weight, name)
            rows[f"stage {k}"] = {**row, "fit_seconds": self.stage_fidelity_.iloc[k]["fit_seconds"]}
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "model"
        return frame

    # ------------------------------------------------------------------ predict
    def decision_function(self, X):
        """Logits of the final student (see :meth:`DistilledClassifier.decision_function`).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        check_is_fitted(self)
        return self.final_.decision_function(X)

    def predict_proba(self, X):
        """Class probabilities of the final student.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        return self.final_.predict_proba(X)

    def predict(self, X):
        """The most probable class of each row, by the final student.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.final_.predict(X)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "final_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.non_deterministic = False
        return tags
