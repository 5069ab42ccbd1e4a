"""A credit scorecard student: binned inputs, integer points, a logistic link."""

from __future__ import annotations

import numbers

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils._param_validation import Interval

from ._base import Student

_EPS = 1e-7
#: float32 steps between a training value and the bin edge above it (see ``fit_bins``).
EDGE_MARGIN = 16


def float32_steps(values: np.ndarray, steps: int) -> np.ndarray:
    """``values`` (float32) moved ``steps`` representable float32 values up (or down if < 0)."""
    values = np.asarray(values, dtype=np.float32)
    direction = np.float32(np.inf if steps > 0 else -np.inf)
    for _ in range(abs(steps)):
        values = np.nextafter(values, direction)
    return values


def _values_at_or_below(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """For every edge, the largest of ``values`` (as float32) at or below it (float64)."""
    observed = np.unique(values.astype(np.float32)).astype(np.float64)
    return observed[np.maximum(np.searchsorted(observed, edges, side="right") - 1, 0)]


class ScorecardStudent(Student):
    """A points scorecard distilled from the teacher's soft targets (binary targets only).

    Fitting runs three steps (the first two are overridable methods):

    1. **Bins** (:meth:`fit_bins`). Each numeric input is cut into at most ``max_bins``
       intervals by a single-feature regression tree on the log-odds of the targets (the
       teacher's soft targets mixed with the hard labels by ``loss.alpha``), each bin
       holding at least ``min_bin_fraction`` of the weight; each edge sits just above the
       largest training value left of the split (``EDGE_MARGIN`` float32 steps, so that an
       ulp of difference in another CPU's float32 ``arcsinh`` keeps every value in its bin),
       so edges read well in raw units. A constrained input
       (``monotone``) gets a monotone tree. Categorical levels are ordered by their mean
       target and grouped the same way, so levels with similar risk share a bin. The
       missing indicators of :class:`riskkd.preprocessing.StudentPreprocessor` are inputs
       like any other: a missing value scores its imputed bin plus its indicator's bin.
    2. **Logistic model** (:meth:`fit_scores`). One score per bin, fitted by L-BFGS to
       minimise the weighted soft cross-entropy against the targets plus an ``l2`` penalty
       on the jumps between adjacent bins (a fused ridge: neighbouring bins are pulled
       together). Scores are parametrised by those jumps, so a constrained input's jumps
       are bounded to one sign and its scores are monotone in the input by construction.
    3. **Points.** Scores become integer points with the classic scaling: ``pdo`` points
       double the odds, and a score of ``base_score`` means odds ``base_odds``. The odds are
       those of class 0 against class 1 (good:bad when class 1 marks default), so a higher
       score means a lower risk. Each input's lowest-scoring bin gets 0 points; the rest
       goes to the base points.

    Predictions are computed from the integer points (``logit = (offset - points) /
    factor``), so the points table of :func:`riskkd.scorecard.points_table` reproduces them
    exactly. Temperature does not apply to this student.

    Parameters
    ----------
    max_bins : int, default=10
        Most bins per input.
    min_bin_fraction : float, default=0.02
        Least share of the (weighted) rows in a bin.
    l2 : float, default=1e-4
        Penalty on the squared jumps between adjacent bin scores (log-odds units), added
        to the mean cross-entropy.
    pdo : float, default=20.0
        Points to double the odds.
    base_score : float, default=600.0
        The score at which the odds equal ``base_odds``.
    base_odds : float, default=50.0
        Odds (class 0 : class 1) at ``base_score``.
    max_iter : int, default=1000
        L-BFGS iterations of the logistic fit.
    random_state : int, RandomState instance or None, default=None
        Seeds the binning trees (their tie-breaks).

    Attributes
    ----------
    edges_ : list of ndarray
        Per numeric input, the increasing bin edges in preprocessed units (just above the
        largest training value of each bin); bin ``k`` is ``edges[k-1] < x <= edges[k]``.
    edge_values_ : list of ndarray
        Per numeric input, the largest training value (preprocessed, float32) at or below
        each edge: what :func:`riskkd.scorecard.points_table` labels the bin with.
    numeric_points_ : list of ndarray of int64
        Per numeric input, the points of each of its ``len(edges_[j]) + 1`` bins.
    level_scores_ : ndarray of shape (n_embeddings,), dtype float32
        Mean target of every categorical embedding row (the order levels are grouped in).
    category_edges_ : list of ndarray
        Per categorical input, the bin edges on ``level_scores_``.
    category_bins_ : ndarray of shape (n_categorical, n_embeddings)
        Bin of every embedding row, per categorical input.
    category_points_ : ndarray of shape (n_categorical, n_embeddings)
        Points of every embedding row, per categorical input.
    base_points_ : int
        Points every row starts from.
    history_ : list
        Empty: the scorecard has no epochs.

    Examples
    --------
    >>> from riskkd import DistilledClassifier
    >>> from riskkd.students import ScorecardStudent
    >>> from riskkd.scorecard import score_points
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(n_samples=600, n_features=5, random_state=0)
    >>> model = DistilledClassifier(student=ScorecardStudent(), cv=3, random_state=0).fit(X, y)
    >>> score_points(model, X[:3]).dtype
    dtype('int64')
    """

    default_alpha = 1.0

    _parameter_constraints: dict = {
        "max_bins": [Interval(numbers.Integral, 2, None, closed="left")],
        "min_bin_fraction": [Interval(numbers.Real, 0, 0.5, closed="right")],
        "l2": [Interval(numbers.Real, 0, None, closed="left")],
        "pdo": [Interval(numbers.Real, 0, None, closed="neither")],
        "base_score": [Interval(numbers.Real, None, None, closed="neither")],
        "base_odds": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        max_bins=10,
        min_bin_fraction=0.02,
        l2=1e-4,
        pdo=20.0,
        base_score=600.0,
        base_odds=50.0,
        max_iter=1000,
        random_state=None,
    ):
        self.max_bins = max_bins
        self.min_bin_fraction = min_bin_fraction
        self.l2 = l2
        self.pdo = pdo
        self.base_score = base_score
        self.base_odds = base_odds
        self.max_iter = max_iter
        self.random_state = random_state

    # ------------------------------------------------------------------ scaling
    @property
    def factor(self) -> float:
        """Points per unit of log-odds: ``pdo / ln 2``."""
        return float(self.pdo) / np.log(2.0)

    @property
    def offset(self) -> float:
        """The score at log-odds 0: ``base_score - factor * ln(base_odds)``."""
        return float(self.base_score) - self.factor * np.log(float(self.base_odds))

    def points_to_logits(self, points: np.ndarray) -> np.ndarray:
        """Log-odds of class 1 from total points: ``(offset - points) / factor``."""
        return (self.offset - np.asarray(points, dtype=np.float64)) / self.factor

    # ------------------------------------------------------------------ fit
    def targets(self, soft_proba, y, sample_weight, loss):
        """Per-row target probability of class 1 and weight of the mixed cross-entropy.

        The loss is ``alpha * mean_all(CE(p, soft)) + (1 - alpha) * mean_labelled(CE(p, y))``
        as in :class:`riskkd.losses.DistillationLoss`; cross-entropy is linear in its
        target, so that is one weighted cross-entropy against a mixed target.
        """
        alpha = float(loss.alpha)
        weight = np.asarray(sample_weight, dtype=np.float64)
        labelled = y >= 0
        soft_w = alpha * weight / weight.sum()
        labelled_total = (weight * labelled).sum()
        hard_w = (1 - alpha) * weight * labelled / max(labelled_total, 1e-12)
        total_w = soft_w + hard_w
        hard = (y == 1).astype(np.float64)
        target = (soft_w * soft_proba[:, 1] + hard_w * hard) / np.maximum(total_w, 1e-300)
        return target, total_w / total_w.sum()

    def check_classes(self, n_classes):
        if n_classes != 2:
            raise ValueError(
                f"ScorecardStudent scores binary targets only, but y has {n_classes} classes. "
                "Use student='mlp' or student='tree' for multi-class targets, or group the "
                "classes into two (e.g. default / no default)."
            )

    def fit(
        self,
        Xn,
        Xc,
        *,
        n_embeddings,
        soft_proba,
        y,
        sample_weight,
        loss,
        monotone=None,
        groups=None,
    ):
        self._validate_params()
        self.check_classes(soft_proba.shape[1])
        if monotone is None:
            monotone = np.zeros(Xn.shape[1], dtype=np.int8)
        monotone = np.asarray(monotone, dtype=np.int8)
        if monotone.shape != (Xn.shape[1],):
            raise ValueError(
                f"monotone has shape {monotone.shape} but there are {Xn.shape[1]} numeric "
                "inputs; pass one of -1, 0, +1 per numeric input."
            )
        target, weight = self.targets(soft_proba, y, sample_weight, loss)
        logodds = np.log(np.clip(target, _EPS, 1 - _EPS) / np.clip(1 - target, _EPS, 1 - _EPS))

        sums = np.bincount(Xc.ravel(), np.repeat(target * weight, Xc.shape[1]), n_embeddings)
        counts = np.bincount(Xc.ravel(), np.repeat(weight, Xc.shape[1]), n_embeddings)
        overall = float(np.sum(target * weight))
        level_scores = np.where(counts > 0, sums / np.maximum(counts, 1e-300), overall).astype(
            np.float32
        )

        edges = [
            self.fit_bins(Xn[:, j], logodds, weight, int(monotone[j])) for j in range(Xn.shape[1])
        ]
        cat_values = level_scores[Xc]
        category_edges = [
            self.fit_bins(cat_values[:, j], logodds, weight, 0) for j in range(Xc.shape[1])
        ]
        # Global bin index of every (row, input): numeric inputs first, then categorical.
        n_bins = [len(e) + 1 for e in edges + category_edges]
        starts = np.concatenate([[0], np.cumsum(n_bins)[:-1]]).astype(np.int64)
        columns = [Xn[:, j] for j in range(Xn.shape[1])] + [
            cat_values[:, j] for j in range(Xc.shape[1])
        ]
        bins = np.empty((len(y), len(columns)), dtype=np.int64)
        for j, (values, e) in enumerate(zip(columns, edges + category_edges)):
            bins[:, j] = starts[j] + np.searchsorted(e, values.astype(np.float64), side="left")
        signs = np.concatenate([monotone.astype(np.int64), np.zeros(Xc.shape[1], dtype=np.int64)])
        intercept, scores = self.fit_scores(bins, n_bins, signs, target, weight)

        # Integer points: higher odds of class 0 -> more points; each input's minimum is 0.
        factor = self.factor
        raw_points = -factor * scores
        base = self.offset - factor * intercept
        points = np.empty(len(scores), dtype=np.int64)
        for start, size in zip(starts, n_bins):
            block = raw_points[start : start + size]
            shift = block.min()
            base += shift
            points[start : start + size] = np.round(block - shift).astype(np.int64)
        self.base_points_ = int(np.round(base))
        n_num = Xn.shape[1]
        self.edges_ = edges
        self.edge_values_ = [_values_at_or_below(Xn[:, j], e) for j, e in enumerate(edges)]
        self.numeric_points_ = [points[starts[j] : starts[j] + n_bins[j]] for j in range(n_num)]
        self.level_scores_ = level_scores
        self.category_edges_ = category_edges
        self.category_bins_ = np.zeros((len(category_edges), n_embeddings), dtype=np.int32)
        self.category_points_ = np.zeros((len(category_edges), n_embeddings), dtype=np.int64)
        for j, e in enumerate(category_edges):
            start = starts[n_num + j]
            self.category_bins_[j] = np.searchsorted(e, level_scores, side="left")
            self.category_points_[j] = points[start + self.category_bins_[j]]
        self.history_ = []
        self._compile()
        return self

    def fit_bins(self, values, logodds, weight, monotone):
        """Increasing bin edges of one input: the splits of a single-feature tree.

        Parameters
        ----------
        values : ndarray of shape (n_samples,)
        logodds : ndarray of shape (n_samples,)
            Log-odds of the targets, which the tree regresses on.
        weight : ndarray of shape (n_samples,)
        monotone : {-1, 0, 1}
            Constraint of the tree's leaf values along ``values``.

        Returns
        -------
        edges : ndarray of float64
            Bin ``k`` is ``edges[k-1] < x <= edges[k]``.
        """
        values = values.astype(np.float32)
        if np.ptp(values) == 0:
            return np.zeros(0)
        tree = DecisionTreeRegressor(
            max_leaf_nodes=self.max_bins,
            min_weight_fraction_leaf=float(self.min_bin_fraction),
            monotonic_cst=[monotone] if monotone else None,
            random_state=self.random_state,
        ).fit(values[:, None], logodds, sample_weight=weight)
        t = tree.tree_
        thresholds = np.unique(t.threshold[t.children_left != -1])
        # Each split just above the largest value on its left (not at the midpoint the tree
        # stores): the same bins for the training rows, and edges that read well in raw
        # units ("age <= 25" rather than "age <= 25.5031"). Not *at* that value: float32
        # arcsinh differs by an ulp between CPUs (numpy's SIMD loops), which would move a
        # training value sitting on an edge into the next bin. EDGE_MARGIN float32 steps
        # above it, or halfway to the next observed value if that is closer.
        observed = np.unique(values)
        left = np.searchsorted(observed, thresholds, side="right") - 1
        value, following = observed[left], observed[left + 1]
        raised = float32_steps(value, EDGE_MARGIN)
        halfway = (value.astype(np.float64) + following.astype(np.float64)) / 2
        return np.where(raised < following, raised.astype(np.float64), halfway)

    def fit_scores(self, bins, n_bins, signs, target, weight):
        """Intercept and per-bin log-odds scores of the logistic model.

        Parameters
        ----------
        bins : ndarray of shape (n_samples, n_inputs)
            Global bin index of every row and input.
        n_bins : list of int
            Bins per input (an input's bins are contiguous in the global index).
        signs : ndarray of shape (n_inputs,)
            +1 / -1: the input's scores may only rise / fall from bin to bin; 0: free.
        target, weight : ndarray of shape (n_samples,)
            Target probability of class 1 and normalised weight (sums to 1).

        Returns
        -------
        intercept : float
        scores : ndarray of shape (sum(n_bins),)
            Each input's first bin scores 0.
        """
        n_total = int(np.sum(n_bins))
        starts = np.concatenate([[0], np.cumsum(n_bins)[:-1]]).astype(np.int64)
        # Parameters: the intercept, then every input's jumps from bin k-1 to bin k (k >= 1).
        jump_at = np.concatenate([np.arange(s + 1, s + n) for s, n in zip(starts, n_bins)])
        jump_at = jump_at.astype(np.int64)
        input_of_jump = np.repeat(np.arange(len(n_bins)), np.asarray(n_bins) - 1)
        flat = bins.ravel()
        n_inputs = bins.shape[1]
        l2 = float(self.l2)

        def unpack(theta):
            jumps = np.zeros(n_total)
            jumps[jump_at] = theta[1:]
            scores = np.cumsum(jumps)
            scores -= np.repeat(np.concatenate([[0.0], scores[starts[1:] - 1]]), n_bins)
            return scores

        def objective(theta):
            scores = unpack(theta)
            z = theta[0] + scores[bins].sum(axis=1)
            # Mean weighted binary cross-entropy: log(1 + e^z) - t z.
            value = np.sum(weight * (np.logaddexp(0.0, z) - target * z))
            residual = weight * (expit(z) - target)
            grad_scores = np.bincount(flat, np.repeat(residual, n_inputs), n_total)
            # d score[k] / d jump[i] = 1 for i <= k in the same input: reverse cumulative sums.
            tail = np.cumsum(grad_scores[::-1])[::-1]
            ends = np.asarray(starts) + np.asarray(n_bins)
            after = np.concatenate([tail[ends[:-1]], [0.0]]) if len(ends) else np.zeros(0)
            grad_jumps = tail[jump_at] - after[input_of_jump]
            jumps = theta[1:]
            value += 0.5 * l2 * np.sum(jumps**2)
            grad = np.concatenate([[residual.sum()], grad_jumps + l2 * jumps])
            return value, grad

        sign_of_jump = np.asarray(signs)[input_of_jump]
        bounds = [(None, None)] + [
            (0.0, None) if s > 0 else (None, 0.0) if s < 0 else (None, None) for s in sign_of_jump
        ]
        mean = float(np.clip(np.sum(weight * target), _EPS, 1 - _EPS))
        theta0 = np.zeros(1 + len(jump_at))
        theta0[0] = np.log(mean / (1 - mean))
        result = minimize(
            objective,
            theta0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": int(self.max_iter), "gtol": 1e-9, "ftol": 1e-12},
        )
        return float(result.x[0]), unpack(result.x)

    # ------------------------------------------------------------------ predict
    def _compile(self) -> None:
        """Edges and points of the numeric inputs as padded matrices for vectorised scoring."""
        width = max((len(e) for e in self.edges_), default=0)
        self._edge_matrix = np.full((len(self.edges_), width), np.inf)
        self._point_matrix = np.zeros((len(self.edges_), width + 1), dtype=np.int64)
        for j, (e, p) in enumerate(zip(self.edges_, self.numeric_points_)):
            self._edge_matrix[j, : len(e)] = e
            self._point_matrix[j, : len(p)] = p

    def numeric_bins(self, Xn: np.ndarray) -> np.ndarray:
        """Bin of every numeric input, shape ``(n_samples, n_numeric)``.

        The bin is the number of edges below the value (``np.searchsorted(edges, x)``),
        counted for all inputs at once on the padded edge matrix (``+inf`` padding never
        counts), in chunks of rows that keep the comparison array near a million entries.
        """
        edges = self._edge_matrix
        out = np.empty(Xn.shape, dtype=np.int64)
        chunk = max(1, (1 << 20) // max(edges.size, 1))
        for start in range(0, Xn.shape[0], chunk):
            block = Xn[start : start + chunk, :, None]
            np.sum(block > edges, axis=2, out=out[start : start + chunk])
        return out

    def total_points(self, Xn: np.ndarray, Xc: np.ndarray) -> np.ndarray:
        """Total integer points of every row: base points plus each input's bin points."""
        total = np.full(Xn.shape[0], self.base_points_, dtype=np.int64)
        if Xn.shape[1]:
            bins = self.numeric_bins(Xn)
            total += self._point_matrix[np.arange(Xn.shape[1]), bins].sum(axis=1)
        if Xc.shape[1]:
            total += self.category_points_[np.arange(Xc.shape[1]), Xc].sum(axis=1)
        return total

    def decision_logits(self, Xn, Xc):
        return self.points_to_logits(self.total_points(Xn, Xc))[:, None]

    # ------------------------------------------------------------------ persistence
    def get_state(self):
        sizes = np.asarray([len(e) for e in self.edges_], dtype=np.int64)
        cat_sizes = np.asarray([len(e) for e in self.category_edges_], dtype=np.int64)
        arrays = {
            "edge_counts": sizes,
            "edges": np.concatenate([np.zeros(0), *self.edges_]),
            "edge_values": np.concatenate([np.zeros(0), *self.edge_values_]),
            "numeric_points": np.concatenate([np.zeros(0, np.int64), *self.numeric_points_]),
            "level_scores": self.level_scores_,
            "category_edge_counts": cat_sizes,
            "category_edges": np.concatenate([np.zeros(0), *self.category_edges_]),
            "category_bins": self.category_bins_,
            "category_points": self.category_points_,
        }
        return {"base_points": self.base_points_}, arrays

    def set_state(self, settings, arrays):
        counts = arrays["edge_counts"]
        self.edges_ = np.split(arrays["edges"], np.cumsum(counts)[:-1]) if counts.size else []
        # Models saved before edge_values: their edges sit on the training values.
        values = arrays.get("edge_values", arrays["edges"])
        self.edge_values_ = np.split(values, np.cumsum(counts)[:-1]) if counts.size else []
        self.numeric_points_ = (
            np.split(arrays["numeric_points"], np.cumsum(counts + 1)[:-1]) if counts.size else []
        )
        cat_counts = arrays["category_edge_counts"]
        self.category_edges_ = (
            np.split(arrays["category_edges"], np.cumsum(cat_counts)[:-1])
            if cat_counts.size
            else []
        )
        self.level_scores_ = arrays["level_scores"]
        self.category_bins_ = arrays["category_bins"]
        self.category_points_ = arrays["category_points"]
        self.base_points_ = int(settings["base_points"])
        self.history_ = []
        self._compile()
        return self
