"""Synthetic transfer rows: MUNGE (Bucilua, Caruana & Niculescu-Mizil 2006) and a noise baseline.

A student trained on the teacher's labels for the training rows alone sees the teacher's
function only at those points; on small data it then fits the soft targets there and
strays from the teacher between them. Synthetic rows near the data, labelled by the
teacher, show it the teacher's function in between.

* :class:`MUNGE` pairs each training row with its nearest neighbour and replaces each
  attribute, with probability ``p``, by a draw near the neighbour's value (numeric: normal
  around the neighbour's value with standard deviation ``|a - b| / s``; categorical: the
  neighbour's level). Rows stay on the data manifold and categorical combinations stay real.
* :class:`GaussianNoise` is the simple baseline: Gaussian jitter of the numeric columns
  (``scale`` times each column's standard deviation) and, with probability ``p``, a
  categorical level redrawn at the observed level frequencies.

A new generator is a class with one method, ``sample(encoded, features, *, factor,
random_state) -> (synthetic, source)``; pass an instance as
``DistilledClassifier(augment=...)``.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.neighbors import NearestNeighbors
from sklearn.utils._param_validation import Interval

from .inputs import MISSING, Encoded


class Transfer(BaseEstimator):
    """Base class of synthetic transfer-set generators; subclasses implement :meth:`sample`."""

    def sample(
        self,
        encoded: Encoded,
        features: np.ndarray,
        *,
        factor: int,
        random_state: np.random.Generator,
    ) -> tuple[Encoded, np.ndarray]:
        """``factor`` synthetic rows per row of ``encoded``, and the index of each row's source.

        Parameters
        ----------
        encoded : Encoded
            Training rows in riskkd's shared encoding (:mod:`riskkd.inputs`).
        features : ndarray of shape (n_samples, n_features)
            The same rows in the student's numeric input space (for neighbour searches).
        factor : int
            Synthetic rows per training row.
        random_state : numpy.random.Generator

        Returns
        -------
        synthetic : Encoded
            ``factor * n_samples`` rows in the same encoding.
        source : ndarray of shape (factor * n_samples,)
            Row of ``encoded`` each synthetic row was made from (its weight is reused).
        """
        raise NotImplementedError


class MUNGE(Transfer):
    """Categorical-aware MUNGE (Bucilua, Caruana & Niculescu-Mizil 2006).

    Helps most on small data (a few thousand rows) with a flexible student (the MLP): the
    student then sees the teacher's function between the training rows. It adds little
    for large data, and nothing to a tree student, whose leaves average targets anyway.

    Parameters
    ----------
    p : float, default=0.5
        Probability that an attribute is moved towards the nearest neighbour's value.
        Higher ``p`` makes rows further from their source.
    s : float, default=2.0
        Numeric spread: a moved value is drawn from a normal centred on the neighbour's
        value with standard deviation ``|a - b| / s``. Larger ``s``: tighter draws.

    Examples
    --------
    >>> import numpy as np
    >>> from riskkd.inputs import Encoded
    >>> from riskkd.transfer import MUNGE
    >>> rows = Encoded(np.arange(8.0).reshape(4, 2), np.zeros((4, 0), dtype=np.int32))
    >>> synthetic, source = MUNGE(p=0.5).sample(
    ...     rows, rows.num, factor=2, random_state=np.random.default_rng(0)
    ... )
    >>> synthetic.num.shape, source.tolist()
    ((8, 2), [0, 1, 2, 3, 0, 1, 2, 3])
    """

    _parameter_constraints: dict = {
        "p": [Interval(numbers.Real, 0, 1, closed="both")],
        "s": [Interval(numbers.Real, 0, None, closed="neither")],
    }

    def __init__(self, p=0.5, s=2.0):
        self.p = p
        self.s = s

    def sample(self, encoded, features, *, factor, random_state):
        self._validate_params()
        return munge(
            encoded, features, factor=factor, p=self.p, s=self.s, random_state=random_state
        )


class GaussianNoise(Transfer):
    """Gaussian jitter of numeric columns and level resampling of categorical ones.

    The baseline MUNGE is measured against: it ignores the data's neighbourhood structure,
    so its rows can fall off the data manifold (impossible combinations). Useful when
    nearest neighbours are meaningless (many irrelevant columns) or too slow to compute.

    Parameters
    ----------
    scale : float, default=0.1
        Standard deviation of the jitter, as a share of each numeric column's standard
        deviation. Missing values stay missing.
    p : float, default=0.2
        Probability that a categorical value is redrawn from the column's observed level
        frequencies (missing counted as a level).

    Examples
    --------
    >>> import numpy as np
    >>> from riskkd.inputs import Encoded
    >>> from riskkd.transfer import GaussianNoise
    >>> rows = Encoded(np.arange(8.0).reshape(4, 2), np.zeros((4, 1), dtype=np.int32))
    >>> synthetic, source = GaussianNoise().sample(
    ...     rows, rows.num, factor=3, random_state=np.random.default_rng(0)
    ... )
    >>> synthetic.num.shape, synthetic.cat.shape
    ((12, 2), (12, 1))
    """

    _parameter_constraints: dict = {
        "scale": [Interval(numbers.Real, 0, None, closed="left")],
        "p": [Interval(numbers.Real, 0, 1, closed="both")],
    }

    def __init__(self, scale=0.1, p=0.2):
        self.scale = scale
        self.p = p

    def sample(self, encoded, features, *, factor, random_state):
        self._validate_params()
        return gaussian_noise(
            encoded, factor=factor, scale=self.scale, p=self.p, random_state=random_state
        )


def munge(
    encoded: Encoded,
    features: np.ndarray,
    *,
    factor: int,
    p: float = 0.5,
    s: float = 2.0,
    random_state: np.random.Generator,
) -> tuple[Encoded, np.ndarray]:
    """``factor`` MUNGE rows per row of ``encoded``, and the index of each row's source.

    Parameters
    ----------
    encoded : Encoded
        Training rows in riskkd's shared encoding.
    features : ndarray of shape (n_samples, n_features)
        The space the nearest neighbours are searched in (the student's numeric inputs).
        Without columns (every feature categorical), neighbours are searched on the
        categorical levels by Hamming distance (the share of columns whose levels differ).
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
    metric = "minkowski"
    if features.shape[1] == 0:
        features, metric = encoded.cat, "hamming"
    # kneighbors() without X leaves each row itself out. Querying the rows themselves and
    # dropping the first column does not: among duplicates (tied at distance 0) the row
    # itself may come second, and 18% of the vehicle-fraud rows were their own neighbour.
    neighbour = (
        NearestNeighbors(n_neighbors=1, metric=metric)
        .fit(features)
        .kneighbors(return_distance=False)[:, 0]
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


def gaussian_noise(
    encoded: Encoded,
    *,
    factor: int,
    scale: float = 0.1,
    p: float = 0.2,
    random_state: np.random.Generator,
) -> tuple[Encoded, np.ndarray]:
    """``factor`` jittered copies of each row of ``encoded`` (see :class:`GaussianNoise`).

    Parameters
    ----------
    encoded : Encoded
        Training rows in riskkd's shared encoding.
    factor : int
        Synthetic rows per training row.
    scale : float, default=0.1
        Jitter standard deviation as a share of each numeric column's standard deviation.
    p : float, default=0.2
        Probability that a categorical value is redrawn at the observed level frequencies.
    random_state : numpy.random.Generator

    Returns
    -------
    synthetic : Encoded
    source : ndarray of shape (factor * n_samples,)
    """
    n = encoded.n_samples
    source = np.tile(np.arange(n), factor)
    num, cat = encoded.num[source], encoded.cat[source].copy()
    if num.shape[1]:
        with warnings.catch_warnings():  # an all-missing column: no spread, no warning
            warnings.simplefilter("ignore", RuntimeWarning)
            spread = np.nan_to_num(np.nanstd(encoded.num, axis=0)) * scale
        num = num + random_state.normal(size=num.shape) * spread  # NaN stays NaN
    redraw = random_state.random(cat.shape) < p
    for j in range(cat.shape[1]):
        # Levels and missing (-1) at their observed frequencies; unseen codes never occur at fit.
        levels, counts = np.unique(np.maximum(encoded.cat[:, j], MISSING), return_counts=True)
        rows = np.flatnonzero(redraw[:, j])
        cat[rows, j] = random_state.choice(levels, size=rows.size, p=counts / counts.sum())
    return Encoded(num, cat), source
