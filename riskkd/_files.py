"""The table files riskkd reads: pipelines (both engines), the CLI and batch scoring.

A file's kind comes from its suffix, matched ignoring case: CSV text, plain or compressed
(:data:`CSV_SUFFIXES`), or parquet (:data:`PARQUET_SUFFIXES`). A ``.csv.zip`` archive must
hold exactly one file, the CSV text.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import IO

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


def is_skipped(name: str) -> bool:
    """Whether a folder's entry is not part of its data: names starting with ``.`` or ``_``
    (Spark's ``_SUCCESS``, ``.crc`` checksums), as Spark and pyarrow skip them."""
    return name.startswith((".", "_"))


#: The files read, for error messages.
FILES_READ = f"CSV ({', '.join(CSV_SUFFIXES)}) or parquet ({', '.join(PARQUET_SUFFIXES)})"


def open_zip_member(path: Path) -> IO[bytes]:
    """The one file a ``.csv.zip`` archive holds, open for reading; a ValueError naming
    ``path`` when it is not a zip archive or holds another number of files."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
            if len(names) != 1:
                raise ValueError(
                    f"{path} holds {len(names)} files ({', '.join(names[:5])}); a .csv.zip must "
                    "hold exactly one CSV file. Zip each file on its own, or unzip them into a "
                    "folder."
                )
            # The member stays readable after the archive object is closed, until it is.
            return archive.open(names[0])
    except zipfile.BadZipFile as error:
        raise ValueError(
            f"{path} cannot be read as a zip archive ({error}); check that it is complete, or "
            "rename it to what it holds."
        ) from None
