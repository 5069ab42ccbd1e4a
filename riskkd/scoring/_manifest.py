"""The output folder's ``_manifest.json``: which parts are done, from which rows, and their hashes.

Every file of the output is written under a temporary name (``.<name>.tmp-<pid>``) and
renamed when complete, so a killed job leaves complete parts or nothing. A part counts as
done only once it is recorded here; the manifest itself is rewritten atomically.
``resume=True`` keeps the recorded parts whose file still exists and still
has its SHA-256, and scores the rest. While a job runs the manifest is rewritten at most
every ``FLUSH_SECONDS``; a part finished in between is scored again (to the same bytes)
if the job is killed before the next rewrite.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FORMAT = "riskkd-scoring"
FORMAT_VERSION = 2  # 2: _manifest.json and _rejects/ (were manifest.json, rejects/)
# Names starting with "_" are skipped by pandas, pyarrow, Spark and Hive readers of the
# folder: pd.read_parquet(output) reads the scores alone.
MANIFEST = "_manifest.json"
REJECTS = "_rejects"
_TMP_MARKER = ".tmp-"
# Least seconds between two rewrites of the manifest while parts are being recorded.
FLUSH_SECONDS = 0.5


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}{_TMP_MARKER}{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_temporary_files(folder: Path) -> None:
    """Delete what a killed job left half-written (files named ``.<name>.tmp-<pid>``)."""
    for sub in (folder, folder / REJECTS):
        if sub.is_dir():
            for path in sub.iterdir():
                if path.name.startswith(".") and _TMP_MARKER in path.name:
                    path.unlink(missing_ok=True)


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


class Manifest:
    """The manifest of one output folder.

    Parameters
    ----------
    folder : Path
        The output folder.
    job : dict
        What identifies the job: model version, input files (path, size, mtime), id
        columns, chunking. A resumed job must match it exactly.
    """

    def __init__(self, folder: Path, job: dict[str, Any]):
        self.folder = folder
        self.job = job
        self.parts: dict[str, dict[str, Any]] = {}
        self.complete = False
        self.reconciliation: dict[str, Any] | None = None
        self.flush_seconds = FLUSH_SECONDS
        self._written_at = -float("inf")

    @property
    def path(self) -> Path:
        return self.folder / MANIFEST

    # ------------------------------------------------------------------ resume
    @classmethod
    def resume(cls, folder: Path, job: dict[str, Any]) -> Manifest:
        """The manifest of ``folder`` if it belongs to the same job; only verified parts kept."""
        manifest = cls(folder, job)
        if not manifest.path.is_file():
            return manifest
        recorded = json.loads(manifest.path.read_text())
        if recorded.get("format") != FORMAT or recorded.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{manifest.path} is not a riskkd scoring manifest (format "
                f"{recorded.get('format')!r} version {recorded.get('format_version')!r}); "
                "resume=True needs an output folder written by riskkd.scoring. Use a new folder."
            )
        differences = [
            f"{key}: recorded {recorded['job'].get(key)!r}, now {value!r}"
            for key, value in job.items()
            if recorded["job"].get(key) != value
        ]
        if differences:
            raise ValueError(
                f"resume=True, but {folder} was written by a different job ("
                + "; ".join(differences)
                + "). Its parts cannot be mixed with this job's: score into a new output folder, "
                "or rerun with the original model, input files and settings."
            )
        for part in recorded["parts"]:
            if manifest._verified(part):
                manifest.parts[part["part"]] = part
        return manifest

    def _verified(self, part: dict[str, Any]) -> bool:
        files = [(part["part"], part["sha256"])]
        if part.get("rejects"):
            files.append((part["rejects"], part["rejects_sha256"]))
        return all(
            (self.folder / name).is_file() and sha256_file(self.folder / name) == digest
            for name, digest in files
        )

    # ------------------------------------------------------------------ record
    def done(self, part: str) -> dict[str, Any] | None:
        """The record of ``part`` if it is done."""
        return self.parts.get(part)

    def record(self, entry: dict[str, Any]) -> None:
        """Add a finished part; rewrite the manifest if the last write is old enough.

        Rewriting the whole manifest after every part would cost O(parts**2) bytes on jobs
        with many small parts. A part written but not yet recorded is simply scored again
        on resume (to the same bytes), so writes are spaced by ``flush_seconds``; the
        caller writes the final manifest.
        """
        self.parts[entry["part"]] = entry
        if time.monotonic() - self._written_at >= self.flush_seconds:
            self.write()

    def totals(self) -> dict[str, int]:
        keys = ("rows_in", "rows_scored", "rows_rejected")
        return {k: sum(p[k] for p in self.parts.values()) for k in keys}

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "job": self.job,
            "complete": self.complete,
            "reconciliation": self.reconciliation,
            "parts": [self.parts[name] for name in sorted(self.parts)],
        }

    def write(self) -> None:
        atomic_write(self.path, json.dumps(self.to_dict(), indent=1).encode())
        self._written_at = time.monotonic()


def job_description(
    *,
    model_version: str,
    files: Sequence[Any],
    id_cols: Sequence[str],
    chunk_rows: int,
    engine: str,
) -> dict[str, Any]:
    """What a resumed job must share with the job that wrote the folder."""
    return {
        "model_version": model_version,
        "inputs": [f.identity() for f in files],
        "id_cols": list(id_cols),
        "chunk_rows": chunk_rows,
        "engine": engine,
    }
