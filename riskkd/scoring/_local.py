"""The local engine: one process streams each input file chunk by chunk."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

from ._inputs import iter_chunks
from ._job import Job
from ._manifest import part_name
from ._parts import score_chunk

_NULLABLE_INTEGERS = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
}


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """A chunk as pandas; integer columns stay integers even with nulls (ids).

    The pandas metadata a file may carry (its index, the dtypes of the frame that wrote it)
    is dropped: columns are read by name, rows in file order.
    """
    table = table.replace_schema_metadata(None)
    return table.to_pandas(types_mapper=_NULLABLE_INTEGERS.get)


def score_local(job: Job) -> tuple[int, int, int]:
    """Score every chunk not already done; return ``(rows read, parts written, parts skipped)``.

    Chunks are numbered across files in input order; chunk ``k`` of the whole input is
    part ``k``.
    """
    written = skipped = rows_read = 0
    index = 0
    for file in job.files:
        row_start = 0
        for chunk, table in enumerate(iter_chunks(file, job.columns, job.chunk_rows)):
            name = part_name(index)
            index += 1
            n_rows = table.num_rows
            record: dict[str, Any] | None = job.manifest.done(name)
            if (
                record is not None
                and record["input"] == str(file.path)
                and (record["chunk"], record["rows_in"]) == (chunk, n_rows)
            ):
                skipped += 1
            else:
                record = score_chunk(
                    to_pandas(table),
                    job.model,
                    model_version=job.model_version,
                    id_cols=job.id_cols,
                    output=job.output,
                    part=name,
                    input_file=str(file.path),
                    chunk=chunk,
                    row_start=row_start,
                    fail_fast=job.fail_fast,
                    id_types={name: table.schema.field(name).type for name in job.id_cols},
                )
                job.manifest.record(record)
                written += 1
            del table
            row_start += n_rows
            rows_read += n_rows
            job.progress(rows_read)
    return rows_read, written, skipped
