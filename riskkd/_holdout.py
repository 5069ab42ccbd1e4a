"""The held-out split used for early stopping (teacher and MLP student alike)."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split


def holdout_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(fit, validation)``; stratified by ``y`` whenever every class allows it."""
    y = np.asarray(y)
    _, counts = np.unique(y, return_counts=True)
    n_val = int(np.ceil(fraction * len(y)))
    can_stratify = counts.min() >= 2 and len(counts) <= n_val <= len(y) - len(counts)
    return train_test_split(
        np.arange(len(y)),
        test_size=fraction,
        stratify=y if can_stratify else None,
        random_state=seed,
    )
