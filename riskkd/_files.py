"""The table files riskkd reads: pipelines (both engines), the CLI and batch scoring.

A file's kind comes from its suffix, matched ignoring case: CSV text, plain or compressed
(:data:`CSV_SUFFIXES`), or parquet (:data:`PARQUET_SUFFIXES`). A ``.csv.zip`` archive must
hold exactly one file, the CSV text.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst", ".csv.zip", ".txt")
PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")


def file_kind(path: Path) -> str | None:
    """``"csv"``, ``"parquet"`` or None (a file of another kind), from the name alone."""
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def kinds_read() -> str:
    """The suffixes read, for error messages."""
    return f"CSV ({', '.join(CSV_SUFFIXES)}) or parquet ({', '.join(PARQUET_SUFFIXES)})"


def zip_member(path: Path) -> str:
    """The name of the one file a ``.csv.zip`` archive holds; a ValueError naming ``path``
    when it is not a zip archive or holds another number of files."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
    except zipfile.BadZipFile as error:
        raise ValueError(
            f"{path} cannot be read as a zip archive ({error}); check that it is complete, or "
            "rename it to what it holds."
        ) from None
    if len(names) != 1:
        raise ValueError(
            f"{path} holds {len(names)} files ({', '.join(names[:5])}); a .csv.zip must hold "
            "exactly one CSV file. Zip each file on its own, or unzip them into a folder."
        )
    return names[0]
