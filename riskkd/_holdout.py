"""The held-out split used for early stopping (teacher and MLP student alike)."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split


def holdout_split(
    y: np.ndarray,
    fraction: float,
    seed: int,
    groups: np.ndarray | None = None,
    weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(fit, validation)``; stratified by ``y`` whenever every class allows it.

    Every class has a row on the fit side (a class of one row is not held out: a model
    early-stopped without it could not predict it), unless no row would be left to hold
    out. With ``groups``, each group goes whole to one side: ``fraction`` of the groups,
    split by the label of each group's first row (a training row before its synthetic
    copies). Rows of zero ``weight`` stay on the fit side, where they weigh nothing either:
    held out, they could leave early stopping a validation set of no weight.
    """
    y, weight = np.asarray(y), None if weight is None else np.asarray(weight)
    if weight is not None and (weight <= 0).any():
        weighted, unweighted = np.flatnonzero(weight > 0), np.flatnonzero(weight <= 0)
        some_groups = None if groups is None else np.asarray(groups)[weighted]
        fit, val = holdout_split(y[weighted], fraction, seed, some_groups)
        return np.concatenate([weighted[fit], unweighted]), weighted[val]
    if groups is not None:
        _, first, group_of_row = np.unique(groups, return_index=True, return_inverse=True)
        _, held_groups = holdout_split(y[first], fraction, seed)
        held = np.zeros(len(first), dtype=bool)
        held[held_groups] = True
        return np.flatnonzero(~held[group_of_row]), np.flatnonzero(held[group_of_row])
    _, counts = np.unique(y, return_counts=True)
    n_val = int(np.ceil(fraction * len(y)))
    can_stratify = counts.min() >= 2 and len(counts) <= n_val <= len(y) - len(counts)
    fit, val = train_test_split(
        np.arange(len(y)),
        test_size=fraction,
        stratify=y if can_stratify else None,
        random_state=seed,
    )
    absent = np.setdiff1d(y[val], y[fit])
    if absent.size:  # classes held out whole: move one row of each to the fit side
        moved = np.array([val[np.argmax(y[val] == label)] for label in absent])
        kept = val[~np.isin(val, moved)]
        if kept.size:  # (a handful of rows, each its own class: leave them)
            fit, val = np.concatenate([fit, moved]), kept
    return fit, val
