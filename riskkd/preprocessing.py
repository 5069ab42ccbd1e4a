"""The student's own input preprocessing, vectorised for the scoring hot path.

:class:`StudentPreprocessor` turns the shared encoding of :mod:`riskkd.inputs` into

* ``Xn``: float32 array ``(n_samples, n_numeric + n_indicators)``: each numeric column
  robust-scaled (median and inter-quartile range) and squashed with ``arcsinh`` so that
  heavy-tailed amounts keep their order without dominating; missing values imputed with the
  median (0 after scaling), plus a 0/1 missing indicator for every column that had missing
  values at fit. A column with no missing values at fit that has some at predict time is
  imputed with the median and gets no indicator (the student never saw missingness there).
* ``Xc``: int32 array ``(n_samples, n_categorical)`` of global embedding indices, one block
  of rows per categorical column laid out as ``[unknown, missing, level_1, level_2, ...]``.
  Levels seen fewer than ``min_frequency`` times at fit, levels beyond the
  ``max_categories`` most frequent ones, and levels never seen share the "unknown" row;
  missing values have their own row. Capping the levels keeps identifier-like columns
  (customer or merchant ids) from turning into thousands of noisy, memorised embeddings.

A linear layer on one-hot columns equals a sum of embedding rows, so the students read
``Xc`` through an embedding table instead of a wide, sparse one-hot matrix.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .inputs import Encoded

UNKNOWN_ROW = 0
MISSING_ROW = 1
# Rows per block of StudentPreprocessor.transform: 16k rows x 30 columns of float64 is 4 MB.
_BLOCK_ROWS = 16_384
# Scaled values are bounded by float32's range before they are rounded to float32: beyond
# it they would round to +-inf, and a student's zero weight times inf is NaN (a finite
# 1e300 in a column that was constant at fit). arcsinh of the bound is 89.4.
_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass
class StudentPreprocessor:
    """Fitted numeric scaling and categorical indexing for the student.

    Parameters
    ----------
    min_frequency : int, default=5
        Categorical levels seen fewer times than this at fit are scored as "unknown".
    max_categories : int, default=64
        At most this many levels per column get their own embedding (the most frequent).
    """

    min_frequency: int = 5
    max_categories: int = 64

    def fit(self, encoded: Encoded, n_levels: list[int] | None = None) -> StudentPreprocessor:
        """Fit on ``encoded`` rows.

        ``n_levels`` are the schema's numbers of levels per categorical column. Pass them
        when ``encoded`` is a sample that may lack a column's last levels: the lookup then
        covers every code, and those levels are "unknown" (not the last level seen).
        Default: the codes seen in ``encoded``.
        """
        num = encoded.num
        if num.shape[1]:
            # An all-missing column gets centre 0 and scale 1 (numpy warns "All-NaN slice").
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                q25, median, q75 = np.nanpercentile(num, [25, 50, 75], axis=0)
                spread = q75 - q25
                fallback = np.nanstd(num, axis=0)
            spread = np.where(spread > 0, spread, np.where(fallback > 0, fallback, 1.0))
            median = np.nan_to_num(median)
        else:
            median = spread = np.zeros(0)
        self.center_ = median.astype(np.float64)
        self.scale_ = spread.astype(np.float64)
        self.indicator_columns_ = np.flatnonzero(np.isnan(num).any(axis=0)).astype(np.int64)

        # Categorical lookup: lut[offset_j + code + 2] -> global embedding index.
        luts, sizes = [], []
        base = 0
        for j in range(encoded.cat.shape[1]):
            codes = encoded.cat[:, j]
            seen = int(codes.max()) + 1 if codes.size else 0
            size = seen if n_levels is None else max(seen, int(n_levels[j]))
            counts = np.bincount(codes[codes >= 0], minlength=size)
            frequent = np.flatnonzero(counts >= self.min_frequency)
            if frequent.size > self.max_categories:
                top = np.argsort(-counts[frequent], kind="stable")[: self.max_categories]
                frequent = np.sort(frequent[top])
            lut = np.full(size + 2, UNKNOWN_ROW, dtype=np.int64)
            lut[1] = MISSING_ROW  # code -1 (missing)
            lut[frequent + 2] = np.arange(2, 2 + frequent.size)
            luts.append(lut + base)
            sizes.append(2 + frequent.size)
            base += 2 + frequent.size
        self.category_sizes_ = np.asarray(sizes, dtype=np.int64)
        self.lut_offsets_ = np.cumsum([0] + [len(lut) for lut in luts])[:-1].astype(np.int64)
        self.lut_ = np.concatenate(luts).astype(np.int32) if luts else np.zeros(0, np.int32)
        self.lut_max_code_ = np.asarray([len(lut) - 3 for lut in luts], dtype=np.int64)
        return self

    @property
    def n_embeddings(self) -> int:
        """Total rows of the embedding table the categorical columns index into."""
        return int(self.category_sizes_.sum())

    @property
    def n_numeric_out(self) -> int:
        return self.center_.size + self.indicator_columns_.size

    def transform(self, encoded: Encoded) -> tuple[np.ndarray, np.ndarray]:
        """``(Xn, Xc)`` for the student (see the module docstring).

        Large batches are processed in blocks of ``_BLOCK_ROWS`` rows so that the float64
        temporaries stay in cache; every value is computed by the same operations either way.
        """
        num, cat = encoded.num, encoded.cat
        n_rows, d = num.shape
        Xn = np.empty((n_rows, d + self.indicator_columns_.size), dtype=np.float32)
        if n_rows <= _BLOCK_ROWS:  # one block: no slicing (one-row scoring is the hot path)
            self._scale(num, Xn)
            return Xn, self._embedding_rows(cat) if cat.shape[1] else cat
        Xc = np.empty(cat.shape, dtype=np.int32)
        for start in range(0, n_rows, _BLOCK_ROWS):
            rows = slice(start, start + _BLOCK_ROWS)
            self._scale(num[rows], Xn[rows])
            if cat.shape[1]:
                Xc[rows] = self._embedding_rows(cat[rows])
        return Xn, Xc

    def _embedding_rows(self, cat: np.ndarray) -> np.ndarray:
        """Global embedding-row indices (int32) of level codes."""
        # Codes beyond the levels known at fit cannot occur (InputSchema maps them to -2),
        # but clip defensively so a malformed encoding never indexes another column's rows.
        codes = np.minimum(cat, self.lut_max_code_)
        codes += self.lut_offsets_ + 2
        return np.take(self.lut_, codes)

    def _scale(self, num: np.ndarray, out: np.ndarray) -> None:
        """Scaled, squashed and imputed numeric columns plus indicators, written to ``out``."""
        d = num.shape[1]
        z = out[:, :d]
        scaled = np.subtract(num, self.center_)
        scaled /= self.scale_
        np.clip(scaled, -_FLOAT32_MAX, _FLOAT32_MAX, out=scaled)
        # Centre and scale in float64 (amounts keep their digits), squash in float32, the
        # student's precision: float32 arcsinh runs about twice as fast.
        np.copyto(z, scaled, casting="same_kind")
        np.arcsinh(z, out=z)
        missing = np.isnan(z)
        if missing.any():
            z[missing] = 0.0
        if self.indicator_columns_.size:
            out[:, d:] = missing[:, self.indicator_columns_]

    def scaled_column(self, j: int, raw: np.ndarray) -> np.ndarray:
        """Column ``j`` of ``Xn`` for raw values ``raw`` of numeric column ``j`` (float64)."""
        num = np.zeros((raw.size, self.center_.size))
        num[:, j] = raw
        empty = np.zeros((raw.size, 0), dtype=np.int32)
        return self.transform(Encoded(num, empty))[0][:, j].astype(np.float64)

    def raw_bounds(self, j: int, thresholds: np.ndarray) -> np.ndarray:
        """For every threshold ``t``, the largest raw value ``x`` of numeric column ``j``
        whose ``Xn`` value is ``<= t``.

        ``Xn`` is non-decreasing in ``x`` (float64 scaling, rounding to float32 and float32
        ``arcsinh`` all are); an exact bisection on float64 values around the analytic
        inverse ``center + scale * sinh(t)`` finds the bound, so that raw ``x <= bound``
        holds exactly when this preprocessing puts ``x`` at or below ``t``. Another runtime
        compares raw values against the bounds in double and decides as ``predict_proba``
        does, whatever its own ``asinh`` rounds to.
        """
        thresholds = np.asarray(thresholds, dtype=np.float64)
        if thresholds.size == 0:
            return np.zeros(0)
        guess = self.center_[j] + self.scale_[j] * np.sinh(thresholds)
        step = np.maximum(np.abs(guess), self.scale_[j]) * 1e-6
        lo, hi = guess - step, guess + step
        for _ in range(200):  # widen until lo maps <= t and hi maps > t
            low_bad = self.scaled_column(j, lo) > thresholds
            high_bad = self.scaled_column(j, hi) <= thresholds
            if not (low_bad.any() or high_bad.any()):
                break
            step = step * 4
            lo = np.where(low_bad, lo - step, lo)
            hi = np.where(high_bad, hi + step, hi)
        for _ in range(2100):  # bisection down to adjacent floats
            mid = lo + (hi - lo) / 2
            open_ = (mid > lo) & (mid < hi)
            if not open_.any():
                break
            left = self.scaled_column(j, mid) <= thresholds
            lo = np.where(open_ & left, mid, lo)
            hi = np.where(open_ & ~left, mid, hi)
        return lo

    def pruned(self) -> tuple[StudentPreprocessor, list[np.ndarray]]:
        """A copy that indexes only the levels with their own embedding row, and their codes.

        Returns ``(preprocessor, kept)``: ``kept[j]`` are the level codes of categorical
        column ``j`` (positions in the schema's levels) that do not share the "unknown" row.
        The copy reads codes renumbered as positions in ``kept[j]``; every other level, like
        an unseen one, is "unknown" to it too, so with the schema's levels cut to ``kept``
        (:meth:`riskkd.inputs.InputSchema.with_levels`) each row gets the same embedding rows.
        """
        kept, luts = [], []
        for start, max_code in zip(self.lut_offsets_, self.lut_max_code_):
            # lut[code + 2]: -2 (unseen) at 0, -1 (missing) at 1, level k at k + 2.
            lut = self.lut_[start : start + max_code + 3]
            codes = np.flatnonzero(lut[2:] != lut[0])
            kept.append(codes)
            luts.append(np.concatenate([lut[:2], lut[2:][codes]]))
        state = {
            **self.get_state(),
            "lut_offsets": np.cumsum([0] + [len(lut) for lut in luts])[:-1].astype(np.int64),
            "lut": np.concatenate(luts).astype(np.int32) if luts else np.zeros(0, np.int32),
            "lut_max_code": np.asarray([len(lut) - 3 for lut in luts], dtype=np.int64),
        }
        params = {"min_frequency": self.min_frequency, "max_categories": self.max_categories}
        return type(self).from_state(state, **params), kept

    def get_state(self) -> dict[str, Any]:
        """Arrays and settings to persist."""
        return {
            "center": self.center_,
            "scale": self.scale_,
            "indicator_columns": self.indicator_columns_,
            "category_sizes": self.category_sizes_,
            "lut_offsets": self.lut_offsets_,
            "lut": self.lut_,
            "lut_max_code": self.lut_max_code_,
        }

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], **params: int) -> StudentPreprocessor:
        self = cls(**params)
        for key, value in state.items():
            setattr(self, f"{key}_", value)
        return self
