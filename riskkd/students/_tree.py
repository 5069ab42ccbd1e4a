"""A shallow decision-tree student fitted to the calibrated soft targets."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils._param_validation import Interval

from ._base import Student

_EPS = 1e-7


class TreeStudent(Student):
    """One shallow regression tree on the soft targets, scored by vectorised numpy traversal.

    The target is ``alpha * soft_proba + (1 - alpha) * onehot(y)`` (the probability of
    class 1 for binary problems, all class probabilities otherwise). Splits are chosen on
    its log-odds (:meth:`split_targets`); each leaf predicts the mean target probability of
    its rows, so leaves hold calibrated probabilities. Each categorical column is ordered by the mean target of
    its levels, which lets a binary split on that order find the best grouping of levels
    (Fisher 1958; exact for binary targets). Temperature does not apply to this student.

    Parameters
    ----------
    max_depth : int, default=6
    min_samples_leaf : int, default=20
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    level_scores_ : ndarray of shape (n_embeddings,)
        The ordering value of every categorical embedding row.
    feature_, threshold_ : ndarray of shape (n_nodes,)
        Split feature and threshold of every node (leaves: feature 0, threshold +inf).
    children_ : ndarray of shape (n_nodes, 2)
        Left and right child of every node; leaves point to themselves.
    leaf_logits_ : ndarray of shape (n_nodes, n_logits)
    depth_ : int
    history_ : list
        Empty: the tree has no epochs.
    """

    _parameter_constraints: dict = {
        "max_depth": [Interval(numbers.Integral, 1, None, closed="left")],
        "min_samples_leaf": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, max_depth=6, min_samples_leaf=20, random_state=None):
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state

    def targets(self, soft_proba, y, loss):
        """Regression targets: soft probabilities mixed with one-hot labels by ``loss.alpha``.

        Unlabelled (synthetic, ``y = -1``) rows keep their soft targets.
        """
        onehot = np.where(
            (y >= 0)[:, None], np.eye(soft_proba.shape[1])[np.maximum(y, 0)], soft_proba
        )
        mixed = loss.alpha * soft_proba + (1 - loss.alpha) * onehot
        return mixed[:, 1:] if soft_proba.shape[1] == 2 else mixed

    def split_targets(self, target):
        """What the splits are chosen on: log-odds (binary) or centred log-probabilities.

        Squared error on log-odds spreads the splits over the whole score range, where
        squared error on probabilities concentrates them where probabilities are large; the
        ranking (AUC) of the tree is better on log-odds.
        """
        log_target = np.log(np.clip(target, _EPS, 1 - _EPS))
        if target.shape[1] == 1:
            return log_target - np.log(np.clip(1 - target, _EPS, 1 - _EPS))
        return log_target - log_target.mean(axis=1, keepdims=True)

    def fit(self, Xn, Xc, *, n_embeddings, soft_proba, y, sample_weight, loss):
        self._validate_params()
        target = self.targets(soft_proba, y, loss)
        # One ordering score per sample: P(class 1), or the expected class index.
        score = target[:, 0] if target.shape[1] == 1 else target @ np.arange(target.shape[1])
        sums = np.bincount(Xc.ravel(), np.repeat(score * sample_weight, Xc.shape[1]), n_embeddings)
        weights = np.bincount(Xc.ravel(), np.repeat(sample_weight, Xc.shape[1]), n_embeddings)
        overall = np.average(score, weights=sample_weight)
        self.level_scores_ = np.where(
            weights > 0, sums / np.maximum(weights, 1e-12), overall
        ).astype(np.float32)

        design = self._design(Xn, Xc)
        tree = DecisionTreeRegressor(
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            random_state=self.random_state,
        ).fit(design, self.split_targets(target), sample_weight=sample_weight)
        t = tree.tree_
        leaves = t.children_left == -1
        nodes = np.arange(t.node_count)
        self.children_ = np.column_stack(
            [np.where(leaves, nodes, t.children_left), np.where(leaves, nodes, t.children_right)]
        ).astype(np.int32)
        self.feature_ = np.where(leaves, 0, t.feature).astype(np.int32)
        self.threshold_ = np.where(leaves, np.inf, t.threshold).astype(np.float64)
        # Leaves predict the weighted mean target probability of their rows (calibrated).
        leaf_of_row = tree.apply(design)
        leaf_weight = np.bincount(leaf_of_row, sample_weight, t.node_count)
        value = (
            np.column_stack(
                [
                    np.bincount(leaf_of_row, sample_weight * column, t.node_count)
                    for column in target.T
                ]
            )
            / np.maximum(leaf_weight, 1e-12)[:, None]
        )
        if value.shape[1] == 1:
            p = np.clip(value[:, 0], _EPS, 1 - _EPS)
            self.leaf_logits_ = np.log(p / (1 - p))[:, None]
        else:
            self.leaf_logits_ = np.log(np.clip(value, _EPS, None))
        self.depth_ = int(tree.get_depth())
        self.history_ = []
        return self

    def _design(self, Xn, Xc):
        return np.hstack([Xn, np.take(self.level_scores_, Xc)]).astype(np.float32, copy=False)

    def apply(self, Xn, Xc):
        """Leaf index of every sample."""
        X = self._design(Xn, Xc)
        rows = np.arange(X.shape[0])
        node = np.zeros(X.shape[0], dtype=np.int32)
        for _ in range(self.depth_):
            go_right = X[rows, self.feature_[node]] > self.threshold_[node]
            node = self.children_[node, go_right.view(np.int8)]
        return node

    def decision_logits(self, Xn, Xc):
        return self.leaf_logits_[self.apply(Xn, Xc)]

    def get_state(self):
        arrays = {
            "level_scores": self.level_scores_,
            "feature": self.feature_,
            "threshold": self.threshold_,
            "children": self.children_,
            "leaf_logits": self.leaf_logits_,
        }
        return {"depth": self.depth_}, arrays

    def set_state(self, settings, arrays):
        for key, value in arrays.items():
            setattr(self, f"{key}_", value)
        self.depth_ = settings["depth"]
        self.history_ = []
        return self
