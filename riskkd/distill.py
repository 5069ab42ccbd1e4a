"""DistilledClassifier: a gradient-boosted teacher distilled into a compact student."""

from __future__ import annotations

import logging
import numbers
import time
import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn import get_config
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, check_cv
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .calibration import make_calibrator
from .inputs import (
    Encoded,
    InputSchema,
    check_pairing,
    numpy_labels,
    python_scalar,
    refuse_records,
)
from .preprocessing import StudentPreprocessor
from .students import STUDENTS, Student
from .students._base import logits_to_proba
from .teachers import (
    BoosterClassifier,
    FittedTeacher,
    LightGBMTeacher,
    TeacherEnsemble,
    _ClassIndexed,
    _proba_all_classes,
    balances_classes,
    check_booster_objective,
    check_native_levels,
    class_weight_factors,
    class_weighting,
    combine_logits,
    configure_native,
    correct_prior,
    fit_logit_weights,
    is_booster,
    teacher_monotone_constraints,
)
from .transfer import MUNGE, GaussianNoise, Transfer

logger = logging.getLogger(__name__)


class TransferRows(NamedTuple):
    """The rows a student is fitted on (see ``DistilledClassifier._transfer_set``).

    ``num`` and ``cat`` are the student's inputs, ``soft`` the calibrated soft targets,
    ``y`` the class indices (-1: no outcome), ``weight`` the sample weights and ``groups``
    (with synthetic rows, else None) the training row each row is or was made from.
    """

    num: np.ndarray
    cat: np.ndarray
    soft: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    groups: np.ndarray | None = None


class DistilledClassifier(ClassifierMixin, BaseEstimator):
    """A gradient-boosted teacher distilled into a compact, fast, calibrated student.

    ``fit`` runs, in order:

    1. **Input schema.** Column names, kinds, levels and ranges of ``X`` are recorded
       (``input_schema_``); later ``X`` is matched to it by column name.
    2. **Cross-fitted teacher predictions.** ``X`` is split into ``cv`` stratified folds; a
       clone of the teacher is fitted on each fold's complement and predicts the fold, so
       every training row gets an *out-of-fold* probability from a model that never saw it.
       In-sample probabilities of a boosted ensemble are over-confident (it has fitted those
       very rows); a student trained on them would learn that over-confidence. ``teacher_`` is
       then the teacher refitted on all rows. With a prefit teacher
       (:class:`~sklearn.frozen.FrozenEstimator` or a raw Booster) no fold is refitted: its
       predictions on ``X`` are used, so pass rows it was not trained on.
       Probabilities of a teacher trained with class weights or ``scale_pos_weight`` are
       divided back to the true prior. With a list of teachers each one is cross-fitted on
       the same folds and their out-of-fold probabilities are combined in logit space
       (``teacher_weights``).
    3. **Calibration.** ``calibrator_`` is fitted on those out-of-fold probabilities and the
       labels. The calibrated out-of-fold probabilities are the **soft targets**.
    4. **Student.** The student is trained on its own preprocessing of ``X``
       (``preprocessor_``) with a loss mixing the soft targets (weight ``alpha``) and the hard
       labels (weight ``1 - alpha``). ``alpha=0`` trains the identical student (same
       preprocessing, split, schedule, seed) on hard labels only: the no-distillation
       baseline. The transfer set can be enlarged with rows labelled by ``teacher_`` and
       ``calibrator_``, which enter the soft term only (never with ``alpha=0``): synthetic
       rows (``augment``; MUNGE by default on small data) and unlabeled production rows
       (``fit(..., X_unlabeled=...)``). Monotone constraints (``monotone_constraints``) are
       passed to the student, which keeps them exactly.

    Prediction runs only the student: vectorised numpy preprocessing and a numpy forward
    pass, no torch and no pandas per-column work.

    Parameters
    ----------
    teacher : estimator, FrozenEstimator, xgboost.Booster, lightgbm.Booster, list or None, \
            default=None
        The teacher. ``None`` is :class:`riskkd.teachers.LightGBMTeacher` (LightGBM with early
        stopping). An estimator is cloned for every fit and never mutated; XGBoost, LightGBM
        and HistGradientBoosting get native categorical handling. A list of any of these
        (e.g. XGBoost, LightGBM and HistGradientBoosting) is a multi-teacher: each member
        is cross-fitted and ``teacher_`` combines them in logit space
        (:class:`riskkd.teachers.TeacherEnsemble`). Several teachers help when they err
        differently (different libraries or feature handling); their combination is then a
        better teacher than any one of them, at the cost of fitting each.
    student : {"mlp", "tree", "scorecard"} or Student, default="mlp"
        ``"mlp"`` is :class:`riskkd.students.MLPStudent` (hidden layers (32, 16) below 20,000
        rows, (64, 32) above), ``"tree"`` is :class:`riskkd.students.TreeStudent` (depth 6,
        constant or linear leaves), ``"scorecard"`` is
        :class:`riskkd.students.ScorecardStudent` (binned points, binary targets). A student
        object is cloned.
    calibration : {"auto", "sigmoid", "temperature", "isotonic"} or None, default="auto"
        Calibration of the out-of-fold teacher probabilities. ``"auto"`` is ``"sigmoid"``
        for binary and ``"temperature"`` for multi-class targets.
    temperature : float, default=2.0
        Temperature of the soft term of the ``"kl"`` loss. Above 1 both distributions are
        softened, so the student matches the teacher's scores across the whole range instead
        of mostly on the confident rows (Hinton et al. 2015). 2 raised the distilled MLP's
        ROC-AUC over 1 on four of the five bundled datasets and matched it on the fifth
        (``benchmarks/distillation.py --temperature 1`` against the default); the tree and
        scorecard students ignore it.
    alpha : float or "auto", default="auto"
        Weight of the soft targets in the loss, in [0, 1]; 0 is hard labels only. ``"auto"``
        is the student's ``default_alpha``: 0.7 for the MLP (some hard-label loss kept it
        closest to the teacher in AUC retention and calibration on the bundled datasets,
        ``benchmarks/distillation.py``) and 1.0 for the tree (one-hot labels only add noise
        to its regression targets).
    loss : {"kl", "mse_logit"}, default="kl"
        Soft term: KL divergence at ``temperature`` (times ``temperature**2``) or squared
        error between centred logits.
    cv : int, cross-validation splitter or iterable of (train, test) splits, default=5
        Folds for the out-of-fold teacher predictions (an int: stratified folds). The test
        folds must cover every row exactly once; for groups (e.g. customers), pass the
        splits: ``cv=list(GroupKFold(5).split(X, y, groups))``.
    min_frequency : int, default=5
        Categorical levels rarer than this at fit are scored by the student as "unknown".
    max_categories : int, default=64
        The student embeds at most this many levels per categorical column (the most
        frequent); the others are scored as "unknown". The teacher sees every level.
    augment : {"munge", "noise"}, Transfer or None, default=None
        Synthetic transfer rows labelled by the calibrated teacher: ``"munge"`` is
        :class:`riskkd.transfer.MUNGE` with its defaults (``p=0.5``, ``s=2.0``), ``"noise"``
        is :class:`riskkd.transfer.GaussianNoise` (a baseline), ``None`` adds none. An
        object with a ``sample(encoded, features, *, factor, random_state)`` method (e.g.
        ``MUNGE(p=0.3, s=5)`` or a :class:`riskkd.transfer.Transfer` subclass) is used as
        given. Synthetic rows can help a flexible student on small data, where the training
        rows alone show it too little of the teacher's function; on the bundled datasets
        they leave ROC-AUC level (README, Ablation), hence off by default. They enter the
        soft term only, and are skipped when ``alpha=0``.
    augment_factor : int, default=4
        Synthetic rows per training row.
    teacher_weights : "fit", array-like of shape (n_teachers,) or None, default=None
        Weights of a list of teachers in logit space (normalised to sum to 1). ``None``
        weighs them equally; ``"fit"`` minimises the log-loss of the combined out-of-fold
        probabilities (:func:`riskkd.teachers.fit_logit_weights`), which helps when one
        teacher is clearly better than the others. Only for a list of teachers.
    monotone_constraints : "auto", dict or None, default="auto"
        Monotone constraints the student keeps exactly, ``{column: +1 or -1}`` (+1: the
        score of ``classes_[1]`` never decreases as the column grows; 0 or absent: free).
        ``"auto"`` reads them from the teacher(s): LightGBM and XGBoost
        ``monotone_constraints``, HistGradientBoosting ``monotonic_cst`` (none for
        :class:`riskkd.teachers.LightGBMTeacher`); ``None`` sets none. They apply to numeric
        columns of a binary target, also with ``alpha=0`` (a constrained baseline). Use them
        where policy or regulation requires that, e.g., more days past due never lowers the
        risk score: the student then cannot learn a non-monotone artefact of the data.
    n_jobs : int or None, default=None
        Teacher fits (the ``cv`` fold models and the final one) run in parallel threads
        (joblib); ``None`` means 1, ``-1`` all cores.
    random_state : int, RandomState instance or None, default=None
        Seeds the folds, the teacher (when it has a ``random_state``) and the student.

    Attributes
    ----------
    teacher_ : riskkd.teachers.FittedTeacher
        The teacher refitted on all rows (or the prefit one); its ``predict_proba`` takes
        the same raw ``X`` as this model.
    calibrator_ : riskkd.calibration.Calibrator
        Calibration fitted on the out-of-fold teacher probabilities.
    preprocessor_ : riskkd.preprocessing.StudentPreprocessor
        The student's fitted input preprocessing.
    student_ : riskkd.students.Student
        The fitted student.
    input_schema_ : riskkd.inputs.InputSchema
        Columns, kinds, levels and ranges seen at fit.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when ``X`` was a DataFrame.
    soft_targets_ : ndarray of shape (n_samples, n_classes)
        Calibrated out-of-fold teacher probabilities the student was trained on.
    n_synthetic_ : int
        Number of synthetic (``augment``) rows added to the transfer set.
    n_unlabeled_ : int
        Number of unlabeled rows (``X_unlabeled``) added to the transfer set.
    teacher_weights_ : ndarray of shape (n_teachers,)
        Logit-space weights of the teachers (``[1.0]`` for a single teacher).
    monotone_constraints_ : dict of str to int
        The resolved constraints ``{column: +1 or -1}`` (empty when there are none).
    monotone_ : ndarray of shape (n_student_numeric_inputs,) or None
        The constraints passed to the student, per numeric input of ``preprocessor_``
        (+1, -1 or 0; missing-value indicators are free), or None when there are none.
    history_ : list of dict
        The student's per-epoch training loss, validation loss and validation fidelity.

    Notes
    -----
    Progress goes to the standard :mod:`logging` logger ``"riskkd"``: at ``INFO`` each
    teacher fit (every cross-fitting fold and the final model, with rows and seconds), the
    calibration, the tree's choice of leaves and the student fit; at ``DEBUG`` also every
    MLP epoch's losses. ``logging.basicConfig(level=logging.INFO)`` shows them; the
    ``riskkd`` command line shows the ``INFO`` messages.

    Examples
    --------
    >>> from riskkd import DistilledClassifier
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(n_samples=600, random_state=0)
    >>> model = DistilledClassifier(cv=3, random_state=0).fit(X, y)
    >>> model.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints: dict = {
        "teacher": [HasMethods(["fit", "predict_proba"]), HasMethods(["predict"]), list, None],
        "student": [StrOptions(set(STUDENTS)), HasMethods(["fit", "decision_logits"])],
        "calibration": [StrOptions({"auto", "sigmoid", "temperature", "isotonic"}), None],
        "temperature": [Interval(numbers.Real, 0, None, closed="neither")],
        "alpha": [Interval(numbers.Real, 0, 1, closed="both"), StrOptions({"auto"})],
        "loss": [StrOptions({"kl", "mse_logit"})],
        "cv": ["cv_object"],
        "min_frequency": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_categories": [Interval(numbers.Integral, 1, None, closed="left")],
        "augment": [StrOptions({"munge", "noise"}), HasMethods(["sample"]), None],
        "augment_factor": [Interval(numbers.Integral, 1, None, closed="left")],
        "teacher_weights": [StrOptions({"fit"}), "array-like", None],
        "monotone_constraints": [StrOptions({"auto"}), dict, None],
        "n_jobs": [numbers.Integral, None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        teacher=None,
        student="mlp",
        *,
        calibration="auto",
        temperature=2.0,
        alpha="auto",
        loss="kl",
        cv=5,
        min_frequency=5,
        max_categories=64,
        augment=None,
        augment_factor=4,
        teacher_weights=None,
        monotone_constraints="auto",
        n_jobs=None,
        random_state=None,
    ):
        self.teacher = teacher
        self.student = student
        self.calibration = calibration
        self.temperature = temperature
        self.alpha = alpha
        self.loss = loss
        self.cv = cv
        self.min_frequency = min_frequency
        self.max_categories = max_categories
        self.augment = augment
        self.augment_factor = augment_factor
        self.teacher_weights = teacher_weights
        self.monotone_constraints = monotone_constraints
        self.n_jobs = n_jobs
        self.random_state = random_state

    # ------------------------------------------------------------------ extension points
    def _get_teachers(self, seed: int) -> list:
        """``[(teacher, prefit)]``: one entry, or one per member of a list of teachers."""
        if not isinstance(self.teacher, list):
            return [self._get_teacher(seed, self.teacher)]
        if not self.teacher:
            raise ValueError(
                "teacher is an empty list; pass one teacher, a list of teachers, or None for "
                "the default LightGBMTeacher."
            )
        for k, member in enumerate(self.teacher):
            if not (
                member is None
                or is_booster(member)
                or all(hasattr(member, m) for m in ("fit", "predict_proba"))
                or isinstance(member, FrozenEstimator)
            ):
                raise ValueError(
                    f"teacher[{k}] must be a classifier with fit and predict_proba, a "
                    f"FrozenEstimator or an XGBoost/LightGBM Booster; got {member!r}."
                )
        return [
            self._get_teacher((seed + k) % (2**31 - 1), member)
            for k, member in enumerate(self.teacher)
        ]

    def _get_teacher(self, seed: int, teacher):
        """The teacher to fit (unfitted clone) or the prefit one, and whether it is prefit."""
        if teacher is None:
            return LightGBMTeacher(random_state=seed), False
        if is_booster(teacher):
            check_booster_objective(teacher)
            return teacher, True
        if isinstance(teacher, FrozenEstimator):
            return teacher, True
        teacher = configure_native(teacher)
        params = teacher.get_params()
        if "random_state" in params and params["random_state"] is None:
            teacher.set_params(random_state=seed)
        if isinstance(teacher, DistilledClassifier):  # fitted on the labels themselves
            return teacher, False
        for key, class_weight in class_weighting(teacher).items():
            if not (key.endswith("class_weight") and isinstance(class_weight, dict)):
                continue
            # Teachers are fitted on class indices (XGBoost requires them): re-key the weights.
            index = {python_scalar(label): k for k, label in enumerate(self.classes_)}
            unknown = sorted(set(class_weight) - set(index), key=str)
            if unknown:
                raise ValueError(
                    f"The teacher's {key} names classes {unknown} that are not in y; "
                    f"the classes are {list(index)}."
                )
            teacher.set_params(**{key: {index[k]: w for k, w in class_weight.items()}})
        return teacher, False

    def _get_student(self, seed: int) -> Student:
        """An unfitted clone of the student."""
        if isinstance(self.student, str):
            student = STUDENTS[self.student]()
        else:
            student = clone(self.student)
        if "random_state" in student.get_params() and student.get_params()["random_state"] is None:
            student.set_params(random_state=seed)
        return student

    def _warn_identifying_columns(self, schema: InputSchema, n_rows: int) -> None:
        """Warn about categorical columns with a level for most rows (at least 100 levels
        over half the rows): ids, text dates or free text read as categories, which tell
        rows apart instead of grouping them; the teacher fits them as noise."""
        for name in schema.categorical_names:
            n_levels = len(schema.levels[name])
            if n_levels >= 100 and n_levels > n_rows / 2:
                warnings.warn(
                    f"Column {name!r} has {n_levels:,} distinct values in {n_rows:,} rows; as a "
                    "categorical feature it tells rows apart rather than grouping them (an id, "
                    "a date read as text, free text?). Drop it, or derive features from it "
                    "(a date's month or age in days), or parse it as numbers.",
                    UserWarning,
                    stacklevel=3,
                )

    def _check_student(self, seed: int) -> None:
        """Fail on the student's settings (e.g. ``max_depth=0``) and on a target it cannot
        learn before any teacher is fitted, not after the cross-fitting."""
        student = self._get_student(seed)
        if hasattr(student, "_parameter_constraints"):
            student._validate_params()
        student.check_classes(len(self.classes_))

    def _get_loss(self, student: Student):
        """The distillation loss object (imports torch)."""
        from .losses import LOSSES

        return LOSSES[self.loss](
            alpha=self._alpha_for(student), temperature=float(self.temperature)
        )

    def _alpha_for(self, student: Student) -> float:
        """The soft-target weight ``student`` is trained with (``alpha="auto"`` resolved)."""
        return student.default_alpha if self.alpha == "auto" else float(self.alpha)

    def _get_transfer(self) -> Transfer | None:
        """The synthetic-row generator ``augment`` asks for, or None."""
        augment = self.augment
        if augment is None:
            return None
        if augment == "munge":
            return MUNGE()
        if augment == "noise":
            return GaussianNoise()
        return clone(augment) if hasattr(augment, "get_params") else augment

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, X_unlabeled=None):
        """Fit the teacher (cross-fitted), the calibration and the student.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Numeric, bool, category, object and string columns; NaN allowed.
        y : array-like of shape (n_samples,)
            Binary or multi-class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Honoured by the teacher, the calibration and the student.
        X_unlabeled : {array-like, DataFrame} of shape (n_unlabeled, n_features), default=None
            Rows without outcomes (e.g. recent production applications) with the columns of
            ``X``. They are labelled by the calibrated ``teacher_`` and added to the
            student's transfer set (soft term only, weight: the mean training weight); the
            teacher and the calibration never see them, and ``alpha=0`` ignores them. They
            help when they cover regions the training rows cover thinly (a shifted or
            newer population). In a :class:`~sklearn.pipeline.Pipeline` with metadata
            routing enabled, request them with ``set_fit_request(X_unlabeled=True)``;
            they bypass the preceding steps, so give them the columns this step receives.

        Returns
        -------
        self : DistilledClassifier
        """
        X, y_index, sample_weight = self._check_inputs(X, y, sample_weight)
        weights = np.ones(len(y_index)) if sample_weight is None else sample_weight
        rng = check_random_state(self.random_state)
        seeds = (int(s) for s in rng.randint(0, 2**31 - 1, size=4))
        seed_teacher, seed_cv, seed_student, seed_augment = seeds

        schema = InputSchema.from_data(X)
        self._warn_identifying_columns(schema, len(y_index))
        encoded = schema.encode(X)
        # Every setting is checked before the first fitted attribute is set.
        unlabeled = (
            None
            if X_unlabeled is None
            else (self._encode_unlabeled(schema, X_unlabeled), X_unlabeled)
        )
        self._check_student(seed_student)
        teachers = self._get_teachers(seed_teacher)
        teacher_weights = self._check_teacher_weights(len(teachers))
        monotone_constraints = self._monotone_constraints(teachers, schema)
        self.input_schema_ = schema
        self.n_features_in_ = schema.n_features
        if schema.from_frame:
            self.feature_names_in_ = np.asarray(schema.names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

        n_classes = len(self.classes_)
        self.monotone_constraints_ = monotone_constraints
        self.teacher_, oof = self._fit_teachers(
            teachers, teacher_weights, X, encoded, y_index, sample_weight, seed_cv
        )

        if np.isin(oof, (0.0, 1.0)).all():
            warnings.warn(
                "The teacher's out-of-fold probabilities are all 0 or 1: it predicts hard "
                "labels (an objective such as XGBoost's binary:hinge, or a classifier without "
                "probabilities), so its soft targets carry no more than the labels. Use a "
                "probabilistic objective (binary:logistic, multi:softprob).",
                UserWarning,
                stacklevel=3,
            )
        self.calibrator_ = make_calibrator(self.calibration, n_classes).fit(oof, y_index, weights)
        self.soft_targets_ = self.calibrator_.transform(oof)
        logger.info(
            "calibration %s fitted on %d out-of-fold predictions",
            type(self.calibrator_).__name__,
            len(oof),
        )

        self.preprocessor_ = StudentPreprocessor(
            min_frequency=self.min_frequency, max_categories=self.max_categories
        ).fit(encoded)
        self.monotone_ = self._monotone_inputs(self.monotone_constraints_, schema)
        student = self._get_student(seed_student)
        loss = self._get_loss(student)
        transfer, self.n_unlabeled_, self.n_synthetic_ = self._transfer_set(
            encoded, y_index, weights, student, loss.alpha, seed_augment, unlabeled
        )
        self._fit_student(student, loss, transfer)
        return self

    def _fit_student(self, student: Student, loss, transfer: TransferRows) -> None:
        """Fit ``student`` on ``transfer``.

        Sets ``student_`` and ``history_``; monotone constraints and the groups of synthetic
        rows go along when there are any.
        """
        extra = {} if self.monotone_ is None else {"monotone": self.monotone_}
        if transfer.groups is not None:
            extra["groups"] = transfer.groups
        start = time.perf_counter()
        self.student_ = student.fit(
            transfer.num,
            transfer.cat,
            n_embeddings=self.preprocessor_.n_embeddings,
            soft_proba=transfer.soft,
            y=transfer.y,
            sample_weight=transfer.weight,
            loss=loss,
            **extra,
        )
        self.history_ = self.student_.history_
        logger.info(
            "student %s fitted on %d transfer rows in %.1f s",
            type(student).__name__,
            len(transfer[0]),
            time.perf_counter() - start,
        )

    def _transfer_set(self, encoded, y_index, weights, student, alpha, seed, unlabeled=None):
        """``(TransferRows, n_unlabeled, n_synthetic)``.

        The training rows with their calibrated out-of-fold soft targets, then the
        unlabeled rows (``unlabeled``: their encoding and the rows as given) and the
        ``augment`` rows, both labelled by the calibrated ``teacher_`` (label -1: they have
        no outcome). Unlabeled rows weigh the mean training weight; a synthetic row weighs
        what its source row weighs and is grouped with it (``groups``), so that a student's
        held-out rows are not judged beside their own synthetic copies.
        """
        Xn, Xc = self.preprocessor_.transform(encoded)
        parts = [(Xn, Xc, self.soft_targets_, y_index, weights)]
        if alpha == 0:
            return TransferRows(*parts[0]), 0, 0
        n_unlabeled = n_synthetic = 0
        if unlabeled is not None:
            rows, raw = unlabeled
            n_unlabeled = rows.n_samples
            parts.append(
                self._teacher_labelled(rows, np.full(n_unlabeled, weights.mean()), raw=raw)
            )
        generator = self._get_transfer()
        if generator is not None:
            synthetic, source = generator.sample(
                encoded, Xn, factor=self.augment_factor, random_state=np.random.default_rng(seed)
            )
            if not isinstance(synthetic, Encoded) or np.shape(source) != (synthetic.n_samples,):
                raise ValueError(
                    f"augment={self.augment!r}: sample() must return (Encoded rows, source index "
                    "of each row); see riskkd.transfer.Transfer.sample."
                )
            parts.append(self._teacher_labelled(synthetic, weights[source]))
            n_synthetic = synthetic.n_samples
        if len(parts) == 1:
            return TransferRows(*parts[0]), 0, 0
        rows = TransferRows(*(np.concatenate(block) for block in zip(*parts)))
        if n_synthetic:
            # A row's group: the training row it is or comes from; unlabeled rows their own.
            n = len(y_index)
            groups = np.concatenate([np.arange(n + n_unlabeled), source])
            rows = rows._replace(groups=groups)
        return rows, n_unlabeled, n_synthetic

    def _teacher_labelled(self, encoded, weights, raw=None):
        """Student inputs, calibrated teacher probabilities, label -1 and ``weights``
        (``raw``: the rows as given, for real rows; see ``predict_proba_encoded``)."""
        soft = self.calibrator_.transform(self.teacher_.predict_proba_encoded(encoded, raw))
        Un, Uc = self.preprocessor_.transform(encoded)
        return Un, Uc, soft, np.full(len(Un), -1), weights

    def _encode_unlabeled(self, schema: InputSchema, X_unlabeled) -> Encoded:
        """``X_unlabeled`` encoded like ``X``, with errors that name it."""
        if schema.from_frame and not isinstance(X_unlabeled, pd.DataFrame):
            raise ValueError(
                f"X_unlabeled must be a DataFrame with the columns of X ({schema.names}) "
                f"because X was one; got {type(X_unlabeled).__name__}."
            )
        try:
            unlabeled = schema.encode(X_unlabeled)
        except (TypeError, ValueError) as error:
            raise ValueError(f"X_unlabeled does not match X: {error}") from error
        if unlabeled.n_samples == 0:
            raise ValueError("X_unlabeled has 0 rows; pass some rows or X_unlabeled=None.")
        return unlabeled

    def _check_inputs(self, X, y, sample_weight):
        """``(X, integer labels, weights)`` with clear errors on bad input; sets ``classes_``."""
        if y is None:
            raise ValueError(
                "DistilledClassifier requires y to be passed, but the target y is None. "
                "Pass the labels: fit(X, y)."
            )
        if not isinstance(X, pd.DataFrame):
            refuse_records(X)
            try:
                X = validate_data(
                    self, X, reset=True, ensure_all_finite="allow-nan", dtype="numeric"
                )
            except ValueError as error:
                if not any(s in str(error) for s in ("could not convert", "bytes/strings")):
                    raise
                raise ValueError(
                    f"X is an array holding text ({error}); riskkd reads numeric arrays only. "
                    "Pass a pandas DataFrame to use categorical or string columns."
                ) from error
        elif X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(
                f"Found array with {X.shape[0]} sample(s) and {X.shape[1]} feature(s) "
                f"(shape={X.shape}); fit needs at least 1 of each."
            )
        check_pairing(X, y, "y")
        check_pairing(X, sample_weight, "sample_weight")
        y = column_or_1d(numpy_labels(y), warn=True)
        n_rows = X.shape[0]
        if len(y) != n_rows:
            raise ValueError(
                f"X has {n_rows} rows but y has {len(y)} labels; pass one label per row of X."
            )
        missing = pd.isna(y)
        if missing.any():
            raise ValueError(
                f"y has {int(missing.sum())} missing label(s) (NaN); drop those rows or fill "
                "their labels before fit."
            )
        target_type = type_of_target(y, input_name="y")
        if target_type not in ("binary", "multiclass"):
            raise ValueError(
                f"Unknown label type: DistilledClassifier supports binary and multiclass targets, "
                f"got {target_type!r}. Pass class labels, not continuous values."
            )
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has only one class ({python_scalar(self.classes_[0])!r}); a classifier needs at least two. "
                "Check the target column and the filtering of the training data."
            )
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=float)
            if sample_weight.ndim == 0:
                sample_weight = np.full(n_rows, float(sample_weight))
            if sample_weight.shape != (n_rows,):
                raise ValueError(
                    f"sample_weight has shape {sample_weight.shape} but X has {n_rows} rows; pass "
                    "one weight per row."
                )
            bad = ~np.isfinite(sample_weight) | (sample_weight < 0)
            if bad.any():
                raise ValueError(
                    f"sample_weight has {int(bad.sum())} negative or non-finite value(s); "
                    "weights must be finite and >= 0."
                )
            if sample_weight.sum() <= 0:
                raise ValueError(
                    "sample_weight sums to 0 (all weights are zero); give some rows a positive weight."
                )
            totals = np.bincount(y_index, weights=sample_weight, minlength=len(self.classes_))
            weightless = [python_scalar(c) for c in self.classes_[totals == 0]]
            if weightless:
                raise ValueError(
                    f"sample_weight is 0 on every row of class(es) {weightless}: teacher and "
                    "student would learn never to predict them. Give those rows a positive "
                    "weight, or drop them from X and y."
                )
        n_splits = self.cv if isinstance(self.cv, numbers.Integral) else None
        members = self.teacher if isinstance(self.teacher, list) else [self.teacher]
        if n_splits is not None and not all(
            isinstance(t, FrozenEstimator) or is_booster(t) for t in members
        ):
            counts = np.bincount(y_index)
            rare = [
                (python_scalar(self.classes_[k]), int(c))
                for k, c in enumerate(counts)
                if c < n_splits
            ]
            if rare:
                raise ValueError(
                    f"Class(es) {rare} have fewer members than cv={n_splits} folds; every fold needs "
                    "each class. Lower cv, merge rare classes, or gather more rows."
                )
        return X, y_index, sample_weight

    def _fit_teachers(self, teachers, weights, X, encoded, y_index, sample_weight, seed):
        """``(teacher_, out-of-fold probabilities)`` of one teacher or a logit-space ensemble.

        ``weights`` are the members' normalised weights or ``"fit"``.
        """
        fitted = [
            self._cross_fit_teacher(teacher, prefit, X, encoded, y_index, sample_weight, seed)
            for teacher, prefit in teachers
        ]
        if not isinstance(self.teacher, list):
            self.teacher_weights_ = np.ones(1)
            return fitted[0]
        oofs = [oof for _, oof in fitted]
        if isinstance(weights, str):  # "fit": on the out-of-fold probabilities
            weights = fit_logit_weights(oofs, y_index, sample_weight)
        self.teacher_weights_ = weights
        members = [teacher for teacher, _ in fitted]
        return TeacherEnsemble(members, weights), combine_logits(oofs, weights)

    def _check_teacher_weights(self, n_teachers: int):
        """``teacher_weights`` as normalised weights, ``"fit"``, with clear errors."""
        weights = self.teacher_weights
        if weights is not None and not isinstance(self.teacher, list):
            raise ValueError(
                f"teacher_weights={weights!r} needs a list of teachers, but teacher is "
                f"{type(self.teacher).__name__}; pass teacher=[...] or teacher_weights=None."
            )
        if weights is None:
            return np.full(n_teachers, 1.0 / n_teachers)
        if isinstance(weights, str):  # "fit"
            return weights
        array = np.asarray(weights, dtype=float)
        if array.shape != (n_teachers,):
            raise ValueError(
                f"teacher_weights has {array.size} value(s) but teacher lists {n_teachers} "
                "teachers; give one weight per teacher."
            )
        if not np.isfinite(array).all() or (array < 0).any() or array.sum() <= 0:
            raise ValueError(
                f"teacher_weights={array.tolist()} must be finite, >= 0 and not all 0; "
                "they are normalised to sum to 1."
            )
        return array / array.sum()

    def _monotone_constraints(self, teachers, schema: InputSchema) -> dict[str, int]:
        """``{column: +1/-1}`` from ``monotone_constraints``, checked against ``X``."""
        spec = self.monotone_constraints
        if spec is None:
            return {}
        if isinstance(spec, str):  # "auto": the teachers' constraints
            constraints: dict[str, int] = {}
            for k, (teacher, _) in enumerate(teachers):
                for name, sign in teacher_monotone_constraints(teacher, schema.names).items():
                    if constraints.setdefault(name, sign) != sign:
                        raise ValueError(
                            f"The teachers disagree on the monotone constraint of column "
                            f"{name!r} (teacher[{k}] has {sign:+d}, an earlier one "
                            f"{-sign:+d}); pass monotone_constraints={{...}} explicitly."
                        )
            where = "the teacher's monotone constraints"
        else:
            constraints = {}
            for name, sign in spec.items():
                if sign not in (-1, 0, 1):
                    raise ValueError(
                        f"monotone_constraints[{name!r}] is {sign!r}; use +1 (increasing), "
                        "-1 (decreasing) or 0 (free)."
                    )
                constraints[str(name)] = int(sign)  # column names are read as text
            where = "monotone_constraints"
        constraints = {name: sign for name, sign in constraints.items() if sign != 0}
        unknown = [name for name in constraints if name not in schema.names]
        if unknown:
            raise ValueError(
                f"{where} name column(s) {unknown} that are not in X; the columns are "
                f"{schema.names}."
            )
        categorical = [name for name in constraints if name in schema.categorical_names]
        if categorical:
            raise ValueError(
                f"{where} constrain categorical column(s) {categorical}; monotone constraints "
                "apply to numeric columns only. Encode an ordered category as numbers "
                "(e.g. its rank) or drop its constraint."
            )
        if constraints and len(self.classes_) > 2:
            raise ValueError(
                f"{where} are set ({constraints}) but y has {len(self.classes_)} classes; "
                "monotone students support binary targets only. Pass "
                "monotone_constraints=None."
            )
        return constraints

    def _monotone_inputs(self, constraints: dict[str, int], schema: InputSchema):
        """Constraints per numeric input of the student, or None when there are none.

        The student's numeric inputs are the numeric columns (scaled by an increasing map)
        followed by missing-value indicators, which stay free.
        """
        if not constraints:
            return None
        monotone = np.zeros(self.preprocessor_.n_numeric_out, dtype=np.int8)
        for name, sign in constraints.items():
            monotone[schema.numeric_names.index(name)] = sign
        return monotone

    def _check_prefit_classes(self, teacher) -> str | None:
        """A prefit teacher's ``classes_`` must be y's classes, or their indices 0..n-1.

        Its probability columns are read in the order of ``classes_``: a teacher trained on
        other labels (``"default"`` / ``"paid"`` for y in {0, 1}) would be read inverted.
        Returns how the columns are read by index (None: by y's own labels).
        """
        labels = getattr(teacher, "classes_", None)
        if labels is None:
            return "a Booster, whose columns are class indices"
        labels = [python_scalar(c) for c in labels]
        expected = [python_scalar(c) for c in self.classes_]
        if labels == expected:
            return None
        if labels == list(range(len(expected))):
            return f"trained on classes {labels}"
        raise ValueError(
            f"The prefit teacher was trained on classes {labels}, but y has classes "
            f"{expected}. Its probabilities would be read against the wrong classes: "
            "distil with the labels the teacher was trained on (or their indices 0..n-1 "
            "in sorted order)."
        )

    def _check_index_coding(self, how: str, proba, y_index, sample_weight) -> None:
        """Refuse a prefit teacher read by class index whose scores rank y's classes worse
        than chance on the distillation rows: it was trained with another coding of the
        classes (1 = "default" where "default" sorts first), and read so, its probabilities
        would be distilled against the wrong classes."""
        if len(self.classes_) == 2:
            auc = roc_auc_score(y_index, proba[:, 1], sample_weight=sample_weight)
        else:
            auc = roc_auc_score(y_index, proba, multi_class="ovr", sample_weight=sample_weight)
        if auc >= 0.5:
            return
        coding = ", ".join(f"{k} = {python_scalar(c)!r}" for k, c in enumerate(self.classes_))
        raise ValueError(
            f"The prefit teacher ({how}) is read by index: {coding} (y's classes in sorted "
            f"order). Read so, its probabilities rank y's classes worse than chance (ROC-AUC "
            f"{auc:.3f} on the {len(y_index)} rows given), so it was most likely trained with "
            "another coding. Pass y coded as the teacher was trained (0..n-1), or a teacher "
            "whose classes_ are y's labels."
        )

    def _check_splits(self, splits: list, y_index: np.ndarray) -> None:
        """Refuse folds that do not give every row one out-of-fold prediction, or whose
        training side lacks a class (its teacher could not predict that class)."""
        shown = f"{len(self.cv)} given folds" if isinstance(self.cv, list) else repr(self.cv)
        covered = np.zeros(len(y_index), dtype=np.int64)
        for _, test_idx in splits:
            covered[test_idx] += 1
        if not (covered == 1).all():
            raise ValueError(
                f"cv={shown} gives {int((covered == 0).sum())} rows no out-of-fold prediction "
                f"and {int((covered > 1).sum())} rows more than one; use a splitter whose test "
                "folds cover every row once (e.g. StratifiedKFold)."
            )
        for k, (train_idx, _) in enumerate(splits):
            absent = np.setdiff1d(np.arange(len(self.classes_)), y_index[train_idx])
            if absent.size:
                raise ValueError(
                    f"cv={shown}: fold {k + 1} trains its teacher on no row of class(es) "
                    f"{self.classes_[absent].tolist()}, which it then could not predict. Use "
                    "fewer folds, or folds stratified by class (StratifiedKFold, "
                    "StratifiedGroupKFold)."
                )

    def _cross_fit_teacher(self, teacher, prefit, X, encoded, y_index, sample_weight, seed):
        """(FittedTeacher, out-of-fold probabilities) — see step 2 of the class docstring."""
        schema = self.input_schema_
        n_classes = len(self.classes_)
        if prefit:
            by_index = self._check_prefit_classes(teacher)
            estimator = BoosterClassifier(teacher, n_classes) if is_booster(teacher) else teacher
            weights = class_weight_factors(teacher, y_index, n_classes, sample_weight)
            if balances_classes(teacher, n_classes):
                warnings.warn(
                    "The prefit teacher weighs classes by their counts ('balanced' class "
                    "weights or is_unbalance); riskkd divides those weights out with the "
                    "class counts of the rows given to fit, which are right only if they "
                    "have the class mix of the teacher's training rows. Otherwise give rows "
                    "with that mix, or set the model's class_weight to the weights it was "
                    "trained with, as a dict.",
                    UserWarning,
                    stacklevel=3,
                )
            fitted = FittedTeacher(estimator, schema, native=False, class_weights=weights)
            proba = fitted.predict_proba(X)
            if by_index is not None:
                self._check_index_coding(by_index, proba, y_index, sample_weight)
            return fitted, proba

        check_native_levels(teacher, schema)
        # A riskkd model as the teacher (a multi-stage assistant, cross-fitted) reads the
        # rows and labels as given, which its own teacher (class weights by label, a
        # prefit model) expects; other teachers riskkd's native frame and class indices.
        nested = isinstance(teacher, DistilledClassifier)
        frame = schema.raw_frame(X) if nested else schema.teacher_frame(encoded)
        labels = self.classes_ if nested else None
        targets = y_index if labels is None else labels[y_index]
        weights = class_weight_factors(teacher, y_index, n_classes, sample_weight)
        cv = self.cv
        if isinstance(cv, numbers.Integral):
            cv = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
        cv = check_cv(cv, y_index, classifier=True)
        try:
            splits = list(cv.split(frame, y_index))
        except ValueError as error:
            if "groups" not in str(error):
                raise
            raise ValueError(
                f"cv={self.cv!r} needs groups, which fit does not take; pass its splits "
                "instead: cv=list(GroupKFold(5).split(X, y, groups))."
            ) from error
        self._check_splits(splits, y_index)

        # A Pipeline takes its last step's weights by name (unless metadata is routed).
        weight_key = "sample_weight"
        if isinstance(teacher, Pipeline) and not get_config()["enable_metadata_routing"]:
            weight_key = f"{teacher.steps[-1][0]}__sample_weight"

        def fit(job, index):
            start = time.perf_counter()
            params = {} if sample_weight is None else {weight_key: sample_weight[index]}
            model = clone(teacher).fit(_safe_indexing(frame, index), targets[index], **params)
            name = f"fold {job + 1}/{len(splits)}" if job < len(splits) else "final model"
            seconds = time.perf_counter() - start
            logger.info("teacher %s fitted on %d rows in %.1f s", name, len(index), seconds)
            return model

        # The cv fold models and the final model, in parallel threads (GBDTs release the GIL).
        jobs = [train_idx for train_idx, _ in splits] + [np.arange(len(y_index))]
        models = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(fit)(job, index) for job, index in enumerate(jobs)
        )
        oof = np.zeros((len(y_index), n_classes))
        for model, (_, test_idx) in zip(models, splits):
            rows = _safe_indexing(frame, test_idx)  # (an array when fitted on one)
            oof[test_idx] = _proba_all_classes(model, rows, n_classes, labels)
        full = _ClassIndexed(models[-1], n_classes, labels)
        fitted = FittedTeacher(full, schema, native=not nested, class_weights=weights)
        return fitted, correct_prior(oof, weights)

    # ------------------------------------------------------------------ predict
    def _student_inputs(self, X):
        return self.preprocessor_.transform(self.input_schema_.encode(X))

    def decision_function(self, X):
        """Student logits: log-odds of ``classes_[1]`` (binary) or per-class logits.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        check_is_fitted(self)
        logits = self.student_.decision_logits(*self._student_inputs(X))
        return logits[:, 0] if logits.shape[1] == 1 else logits

    def predict_proba(self, X):
        """Calibrated class probabilities of the student.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Columns are matched by name; extra columns are ignored.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        return logits_to_proba(self.student_.decision_logits(*self._student_inputs(X)))

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

    def __sklearn_is_fitted__(self):
        # check_is_fitted's default scan of every attribute costs ~7 us per call, more than
        # the whole student forward pass on one row.
        return hasattr(self, "student_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.non_deterministic = False
        return tags
