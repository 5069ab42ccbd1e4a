"""Batch scoring at scale: CSV / parquet files in, parquet parts with a manifest out.

The last step of the riskkd data flow. :func:`score_files` streams its input in chunks
(bounded memory), scores each chunk with the student, and writes each part atomically
with its SHA-256 in ``_manifest.json``; a killed job resumes where it stopped
(``resume=True``) and never loses or duplicates a row. Rows that break the input contract
go to ``_rejects/`` with a reason, and the job ends by reconciling rows in with rows scored
plus rows rejected. ``engine="dask"`` scores on a ``distributed`` cluster with the same
output.

Examples
--------
>>> from riskkd.scoring import score_files
>>> summary = score_files(
...     "models:/credit-risk@champion", "applications/", "scores/", id_cols=["id"]
... )  # doctest: +SKIP
>>> summary.reconciled  # doctest: +SKIP
True
"""

__all__ = ["ReconciliationError", "ScoringSummary", "score_files"]

from ._score import ReconciliationError, ScoringSummary, score_files
