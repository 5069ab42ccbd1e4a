"""Batch scoring with engine="dask" on a loopback LocalCluster equals the local engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
from distributed import LocalCluster

from riskkd import DistilledClassifier
from riskkd.scoring import score_files

from .conftest import decimal_and_date_ids, fast_teacher, fast_tree, make_risk_frame


@pytest.fixture(scope="module")
def model():
    X, y = make_risk_frame(600, 2, seed=1)
    return DistilledClassifier(fast_teacher(), fast_tree(), cv=3, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def frame():
    X, _ = make_risk_frame(3_000, 2, seed=6)
    X.insert(0, "txn_id", np.arange(len(X)))
    X.loc[[10, 2_500], "age"] = np.inf  # two rejects, in different partitions
    return X


@pytest.fixture(scope="module")
def cluster():
    """A cluster shared by the tests that pass ``scheduler``: workers start once."""
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # no clash with port 8787
    ) as cluster:
        yield cluster


def dask_workers() -> set[int]:
    """Worker processes spawned by this process (not multiprocessing's resource tracker)."""
    return {
        p.pid
        for p in psutil.Process().children(recursive=True)
        if "spawn_main" in " ".join(p.cmdline())
    }


def read_parts(folder: Path) -> pd.DataFrame:
    return pd.read_parquet(sorted(folder.glob("part-*.parquet")))


def manifest_parts(folder: Path) -> list[dict]:
    return json.loads((folder / "_manifest.json").read_text())["parts"]


def test_dask_equals_local_on_its_own_cluster(model, frame, tmp_path):
    """scheduler=None: score_files starts a 2-worker LocalCluster and closes it."""
    frame.iloc[:1_700].to_parquet(tmp_path / "a.parquet", row_group_size=300)
    frame.iloc[1_700:].to_parquet(tmp_path / "b.parquet", row_group_size=300)
    (tmp_path / "in").mkdir()
    for name in ("a.parquet", "b.parquet"):
        (tmp_path / name).rename(tmp_path / "in" / name)
    workers_before = dask_workers()
    progress = []
    dask = score_files(
        model,
        tmp_path / "in",
        tmp_path / "dask",
        id_cols=["txn_id"],
        chunk_rows=500,
        engine="dask",
        n_workers=2,
        on_chunk=lambda done, total: progress.append((done, total)),
    )
    assert dask_workers() == workers_before  # the cluster's worker processes are gone
    local = score_files(
        model, tmp_path / "in", tmp_path / "local", id_cols=["txn_id"], chunk_rows=500
    )
    assert (dask.rows_in, dask.rows_scored, dask.rows_rejected) == (3_000, 2_998, 2)
    assert dask.reconciled and dask.model_version == local.model_version
    # Parquet chunks are cut as the local engine cuts them: same parts, same bytes.
    pd.testing.assert_frame_equal(read_parts(tmp_path / "dask"), read_parts(tmp_path / "local"))
    assert manifest_parts(tmp_path / "dask") == manifest_parts(tmp_path / "local")
    assert progress[-1] == (3_000, 3_000) and len(progress) == dask.parts_written + 1


def test_dask_csv_equals_local_row_for_row(model, frame, tmp_path, cluster):
    frame.to_csv(tmp_path / "in.csv", index=False)
    dask = score_files(
        model,
        tmp_path / "in.csv",
        tmp_path / "dask",
        id_cols=["txn_id"],
        chunk_rows=1_000,
        engine="dask",
        scheduler=cluster.scheduler_address,
    )
    local = score_files(model, tmp_path / "in.csv", tmp_path / "local", id_cols=["txn_id"])
    assert (dask.rows_in, dask.rows_scored, dask.rows_rejected) == (3_000, 2_998, 2)
    assert dask.reconciled and dask.parts_written > 1  # blocks of about 1,000 rows
    assert (local.parts_written, local.model_version) == (1, dask.model_version)
    # CSV blocks are cut by bytes, so parts differ; their concatenation does not.
    pd.testing.assert_frame_equal(read_parts(tmp_path / "dask"), read_parts(tmp_path / "local"))
    rejects = pd.read_parquet(sorted((tmp_path / "dask" / "_rejects").glob("*.parquet")))
    assert rejects["txn_id"].tolist() == ["10", "2500"]
    # A compressed CSV cannot be split: one partition, same rows (its suffix in any case).
    for name, codec in (("IN.CSV.GZ", "gzip"), ("in.csv.zst", "zstd"), ("in.csv.zip", "zip")):
        frame.to_csv(tmp_path / name, index=False, compression=codec)
        compressed = score_files(
            model,
            tmp_path / name,
            tmp_path / codec,
            id_cols=["txn_id"],
            engine="dask",
            scheduler=cluster.scheduler_address,
        )
        assert compressed.parts_written == 1
        pd.testing.assert_frame_equal(read_parts(tmp_path / codec), read_parts(tmp_path / "local"))
    parts = manifest_parts(tmp_path / "dask")
    # Row ranges of CSV parts are filled in at the end: contiguous, covering every row.
    assert [p["rows"][0] for p in parts] == [0] + [p["rows"][1] for p in parts[:-1]]
    assert parts[-1]["rows"][1] == 3_000


def test_dask_reads_a_csv_header_wider_than_its_sample(model, frame, tmp_path, cluster):
    """A feature-store export whose header alone is longer than Dask's default sample of
    256 kB scores as on the local engine."""
    rows = frame.iloc[:20]
    names = [f"feature_store_column_{k:05d}_with_a_long_name" for k in range(7_000)]
    extra = pd.DataFrame(0, index=rows.index, columns=names)
    pd.concat([extra, rows], axis=1).to_csv(tmp_path / "wide.csv", index=False)
    assert len(",".join(names)) > 256_000
    dask = score_files(
        model, tmp_path / "wide.csv", tmp_path / "dask", id_cols=["txn_id"], engine="dask",
        scheduler=cluster.scheduler_address,
    )  # fmt: skip
    local = score_files(model, tmp_path / "wide.csv", tmp_path / "local", id_cols=["txn_id"])
    # Row 10 has an infinite age: rejected by both engines.
    assert dask.reconciled and (dask.rows_in, dask.rows_scored, dask.rows_rejected) == (20, 19, 1)
    assert (local.rows_scored, local.rows_rejected) == (19, 1)
    pd.testing.assert_frame_equal(read_parts(tmp_path / "dask"), read_parts(tmp_path / "local"))


def test_dask_csv_partitions_follow_chunk_rows_past_a_header_of_megabytes(tmp_path):
    """The bytes per row are estimated from the rows after the header, however long it is
    (a header longer than the 1 MiB sample was taken for a row: one partition of all rows)."""
    from riskkd.scoring._dask import _csv_partitions
    from riskkd.scoring._inputs import discover

    names = [f"feature_store_column_{k:05d}_with_a_long_name" for k in range(30_000)]
    rows = pd.DataFrame(np.arange(40)[:, None] % 10, columns=["first"]).reindex(
        columns=["first", *names], fill_value=0
    )
    rows.to_csv(tmp_path / "wide.csv", index=False)
    assert len(",".join(names)) > 1 << 20
    (file,) = discover(tmp_path / "wide.csv")
    frame, _ = _csv_partitions(file, ["first"], chunk_rows=10)
    # Blocks of 10 rows' bytes (600 kB) over the 1.4 MB header and 40 rows of 60 kB: 6
    # (it was 1: blocks of 10 "rows" of 1 MiB).
    assert 4 <= frame.npartitions <= 7
    assert frame["first"].compute().astype(int).tolist() == (np.arange(40) % 10).tolist()


def test_dask_resume_and_fail_fast(model, frame, tmp_path, cluster):
    frame.to_parquet(tmp_path / "in.parquet")
    options = dict(
        id_cols=["txn_id"], chunk_rows=1_000, engine="dask", scheduler=cluster.scheduler_address
    )
    # Partitions run in parallel: the job stops at whichever bad row a worker meets first.
    with pytest.raises(ValueError, match=r"row (10|2500) .*column 'age': inf is infinite"):
        score_files(model, tmp_path / "in.parquet", tmp_path / "out", fail_fast=True, **options)
    first = score_files(model, tmp_path / "in.parquet", tmp_path / "out2", **options)
    (tmp_path / "out2" / "part-00001.parquet").unlink()
    again = score_files(model, tmp_path / "in.parquet", tmp_path / "out2", resume=True, **options)
    assert (first.parts_written, again.parts_written, again.parts_skipped) == (3, 1, 2)
    assert read_parts(tmp_path / "out2")["txn_id"].tolist() == [
        i for i in range(3_000) if i not in (10, 2_500)
    ]


def test_dask_skips_empty_files_and_names_a_csv_it_cannot_split(model, frame, tmp_path, cluster):
    """A day without applications writes no part, as on the local engine."""
    folder = tmp_path / "days"
    folder.mkdir()
    frame.iloc[:0].to_parquet(folder / "2024-01-01.parquet")
    frame.iloc[:10].to_parquet(folder / "2024-01-02.parquet")
    for engine in ("local", "dask"):
        scheduler = cluster.scheduler_address if engine == "dask" else None
        summary = score_files(
            model, folder, tmp_path / engine, id_cols=["txn_id"], engine=engine, scheduler=scheduler
        )
        assert (summary.rows_in, summary.parts_written) == (10, 1)
    pd.testing.assert_frame_equal(read_parts(tmp_path / "dask"), read_parts(tmp_path / "local"))
    for end in ("\n", ""):  # columns and no rows, with or without a final line break
        (tmp_path / "header.csv").write_text(",".join(frame.columns) + end)
        summary = score_files(
            model, tmp_path / "header.csv", tmp_path / f"header{len(end)}", engine="dask",
            scheduler=cluster.scheduler_address,
        )  # fmt: skip
        assert (summary.rows_in, summary.parts_written) == (0, 0)

    # 20 line breaks per value: byte-range cuts land inside quoted values.
    noted = frame.assign(note=["\n".join(["line"] * 20) + str(k) for k in range(len(frame))])
    noted.to_csv(tmp_path / "noted.csv", index=False)
    with pytest.raises(ValueError, match=r"noted\.csv has line breaks inside quoted values"):
        score_files(
            model, tmp_path / "noted.csv", tmp_path / "noted", chunk_rows=500, engine="dask",
            scheduler=cluster.scheduler_address,
        )  # fmt: skip


def test_dask_keeps_the_input_type_of_object_ids(model, frame, tmp_path, cluster):
    """Decimal and date ids keep the parquet file's types in every Dask part, as locally."""
    X = frame.drop(columns="txn_id").head(150).astype({"income": str})
    X.loc[:49, "income"] = "12,5"  # the whole first partition is rejected
    pq.write_table(decimal_and_date_ids(X), tmp_path / "in.parquet")
    engines = {"dask": {"engine": "dask", "scheduler": cluster.scheduler_address}, "local": {}}
    summaries = {
        name: score_files(
            model, tmp_path / "in.parquet", tmp_path / name, id_cols=["loan_no", "as_of"],
            chunk_rows=50, **settings,
        )
        for name, settings in engines.items()
    }  # fmt: skip
    dask = summaries["dask"]
    assert (dask.rows_scored, dask.rows_rejected, dask.parts_written) == (100, 50, 3)
    for part in sorted((tmp_path / "dask").glob("part-*.parquet")):
        assert pq.read_schema(part).field("loan_no").type == pa.decimal128(20, 0), part.name
    assert dask.reconciled and summaries["local"].reconciled
    assert pq.read_table(tmp_path / "dask").equals(pq.read_table(tmp_path / "local"))
