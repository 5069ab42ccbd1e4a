"""Synthetic transfer rows: MUNGE (Bucilua, Caruana & Niculescu-Mizil 2006).

A student trained on the teacher's labels for the training rows alone sees the teacher's
function only at those points; on small data it then fits the soft targets there and
strays from the teacher between them. MUNGE adds rows near the data: each training row is
paired with its nearest neighbour, and each attribute is, with probability ``p``, replaced
by a draw near the neighbour's value (numeric: normal with standard deviation
``|a - b| / s``; categorical: the neighbour's level). The teacher labels the new rows.
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from .inputs import Encoded


def munge(
    encoded: Encoded,
    features: np.ndarray,
    *,
    factor: int,
    p: float = 0.5,
    s: float = 2.0,
    random_state: np.random.Generator,
) -> tuple[Encoded, np.ndarray]:
    """``factor`` synthetic rows per row of ``encoded``, and the index of each row's source.

    Parameters
    ----------
    encoded : Encoded
        Training rows in riskkd's shared encoding.
    features : ndarray of shape (n_samples, n_features)
        The space the nearest neighbours are searched in (the student's numeric inputs).
    factor : int
        Synthetic rows per training row.
    p : float, default=0.5
        Probability that an attribute is moved towards the neighbour.
    s : float, default=2.0
        Numeric spread: standard deviation ``|a - b| / s``.
    random_state : numpy.random.Generator

    Returns
    -------
    synthetic : Encoded
    source : ndarray of shape (factor * n_samples,)
        Row of ``encoded`` each synthetic row was made from.
    """
    n = encoded.n_samples
    neighbour = (
        NearestNeighbors(n_neighbors=2)
        .fit(features)
        .kneighbors(features, return_distance=False)[:, 1]
    )
    source = np.tile(np.arange(n), factor)
    num, cat = encoded.num[source], encoded.cat[source]
    other_num, other_cat = encoded.num[neighbour[source]], encoded.cat[neighbour[source]]
    move = random_state.random(num.shape) < p
    spread = np.nan_to_num(np.abs(num - other_num)) / s
    num = np.where(move, random_state.normal(np.nan_to_num(other_num), spread), num)
    num[move & np.isnan(other_num)] = np.nan  # a missing neighbour value stays missing
    cat = np.where(random_state.random(cat.shape) < p, other_cat, cat)
    return Encoded(num, cat), source
