"""What both engines need to know about one scoring job."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._inputs import InputFile
from ._manifest import Manifest


@dataclass
class Job:
    """A resolved scoring job (built by :func:`riskkd.scoring.score_files`)."""

    model: Any
    model_version: str
    files: Sequence[InputFile]
    id_cols: tuple[str, ...]
    columns: list[str]
    chunk_rows: int
    output: Path
    manifest: Manifest
    fail_fast: bool
    on_chunk: Callable[[int, int | None], Any] | None

    @property
    def total_rows(self) -> int | None:
        """Rows in the input when every file says so (parquet), else None."""
        counts = [f.n_rows for f in self.files]
        return None if any(c is None for c in counts) else sum(counts)

    def progress(self, done_rows: int) -> None:
        if self.on_chunk is not None:
            self.on_chunk(done_rows, self.total_rows)
