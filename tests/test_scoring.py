"""Batch scoring (riskkd.scoring.score_files) with the local engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import riskkd
from riskkd import DistilledClassifier
from riskkd.scoring import ReconciliationError, ScoringSummary, score_files
from riskkd.scoring._model import model_fingerprint

from .conftest import decimal_and_date_ids, fast_teacher, fast_tree, make_risk_frame

# Subprocesses share 2 cores with the test process: one thread each.
SUBPROCESS_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# The student computes in float32 and BLAS may block a 128-row chunk differently from the
# whole frame, so a probability may differ from the in-memory one in its last float32 bits.
RTOL = 1e-6


@pytest.fixture(scope="module")
def model():
    X, y = make_risk_frame(600, 2, seed=1)
    return DistilledClassifier(fast_teacher(), fast_tree(), cv=3, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def frame():
    """Rows to score (not the training rows) with an id column first."""
    X, _ = make_risk_frame(700, 2, seed=2)
    X.insert(0, "txn_id", np.arange(10_000, 10_000 + len(X)))
    return X


def read_parts(folder: Path) -> pd.DataFrame:
    return pd.read_parquet(sorted(folder.glob("part-*.parquet")))


def read_manifest(folder: Path) -> dict:
    return json.loads((folder / "_manifest.json").read_text())


def assert_scores_equal(out: pd.DataFrame, model, X: pd.DataFrame) -> None:
    proba = model.predict_proba(X.drop(columns="txn_id"))
    np.testing.assert_array_equal(out["txn_id"].astype("int64"), X["txn_id"])
    np.testing.assert_allclose(out[["proba_0", "proba_1"]], proba, rtol=RTOL)
    np.testing.assert_array_equal(out["decision"], model.classes_[proba.argmax(axis=1)])


def test_parquet_round_trip_equals_predict_proba(model, frame, tmp_path):
    frame.to_parquet(tmp_path / "in.parquet")
    progress = []
    summary = score_files(
        model,
        tmp_path / "in.parquet",
        tmp_path / "out",
        id_cols=["txn_id"],
        chunk_rows=128,
        on_chunk=lambda done, total: progress.append((done, total)),
    )
    assert isinstance(summary, ScoringSummary)
    assert (summary.rows_in, summary.rows_scored, summary.rows_rejected) == (700, 700, 0)
    assert summary.reconciled and (summary.parts_written, summary.parts_skipped) == (6, 0)
    assert progress == [(min(k * 128, 700), 700) for k in range(1, 7)]
    out = read_parts(tmp_path / "out")
    assert list(out.columns) == ["txn_id", "proba_0", "proba_1", "decision", "model_version"]
    assert_scores_equal(out, model, frame)
    assert set(out["model_version"]) == {summary.model_version}
    assert summary.model_version == f"riskkd-{riskkd.__version__}+{model_fingerprint(model)[:12]}"

    manifest = read_manifest(tmp_path / "out")
    assert manifest["complete"] and manifest["reconciliation"]["reconciled"]
    parts = manifest["parts"]
    assert [p["part"] for p in parts] == [f"part-{k:05d}.parquet" for k in range(6)]
    assert [p["rows"] for p in parts] == [[s, min(s + 128, 700)] for s in range(0, 700, 128)]
    import hashlib

    for part in parts:
        data = (tmp_path / "out" / part["part"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == part["sha256"]
    assert not (tmp_path / "out" / "_rejects").exists()


@pytest.mark.parametrize(
    ("name", "compression"),
    [
        ("in.csv", None),
        ("in.csv.gz", "gzip"),
        ("IN.CSV.GZ", "gzip"),
        ("In.Csv.Bz2", "bz2"),
        ("in.csv.zst", "zstd"),
        ("in.csv.zip", "zip"),
        ("IN.TXT", None),
    ],
)
def test_csv_round_trip_parses_text(model, frame, tmp_path, name, compression):
    """CSV cells are text: numbers, True/False booleans and empty cells (NaN) are parsed.
    A file is decompressed by its suffix, whatever its case."""
    frame.to_csv(tmp_path / name, index=False, compression=compression)
    summary = score_files(model, tmp_path / name, tmp_path / "out", id_cols=["txn_id"])
    assert summary.rows_scored == 700 and summary.parts_written == 1
    out = read_parts(tmp_path / "out")
    assert out["txn_id"].dtype == "str"  # CSV ids are read as text, never re-typed
    assert_scores_equal(out, model, frame)


def test_folder_input_numbers_parts_across_files(model, frame, tmp_path):
    (tmp_path / "in").mkdir()
    frame.iloc[:300].to_parquet(tmp_path / "in" / "a.parquet")
    frame.iloc[300:].to_parquet(tmp_path / "in" / "b.parquet")
    (tmp_path / "in" / "_SUCCESS").write_text("")  # as Spark and pyarrow, skipped
    (tmp_path / "in" / ".a.parquet.crc").write_text("checksum")
    summary = score_files(
        model, tmp_path / "in", tmp_path / "out", id_cols="txn_id", chunk_rows=250
    )
    assert summary.parts_written == 4  # 250 + 50 from a, 250 + 150 from b
    out = read_parts(tmp_path / "out")
    assert_scores_equal(out, model, frame)
    manifest = read_manifest(tmp_path / "out")
    assert [(Path(p["input"]).name, p["chunk"], p["rows"]) for p in manifest["parts"]] == [
        ("a.parquet", 0, [0, 250]),
        ("a.parquet", 1, [250, 300]),
        ("b.parquet", 0, [0, 250]),
        ("b.parquet", 1, [250, 400]),
    ]
    assert [Path(f["path"]).name for f in manifest["job"]["inputs"]] == ["a.parquet", "b.parquet"]


def test_a_folder_is_scored_whole_or_not_at_all(model, frame, tmp_path):
    """A file the job cannot read stops it: skipping it would lose its rows unnoticed."""
    (tmp_path / "in").mkdir()
    frame.iloc[:300].to_csv(tmp_path / "in" / "a.csv", index=False)
    frame.iloc[300:].to_json(tmp_path / "in" / "b.json")
    with pytest.raises(ValueError, match=r"holds 1 file\(s\) the job cannot read \(b\.json\)"):
        score_files(model, tmp_path / "in", tmp_path / "out", id_cols="txn_id")
    assert not (tmp_path / "out").exists()
    # So does a subfolder beside the files (it was skipped, and its rows lost).
    (tmp_path / "in" / "b.json").unlink()
    (tmp_path / "in" / "late").mkdir()
    frame.iloc[300:].to_csv(tmp_path / "in" / "late" / "b.csv", index=False)
    with pytest.raises(ValueError, match=r"holds 1 subfolder\(s\) \(late\) the job does not"):
        score_files(model, tmp_path / "in", tmp_path / "out", id_cols="txn_id")
    assert not (tmp_path / "out").exists()
    (tmp_path / "in" / "late").rename(tmp_path / "in" / "_late")  # skipped by name, as _SUCCESS
    summary = score_files(model, tmp_path / "in", tmp_path / "scored", id_cols="txn_id")
    assert summary.rows_in == 300
    # An archive of two files is refused by name, not read in part.
    with zipfile.ZipFile(tmp_path / "two.csv.zip", "w") as archive:
        archive.writestr("a.csv", frame.iloc[:300].to_csv(index=False))
        archive.writestr("b.csv", frame.iloc[300:].to_csv(index=False))
    with pytest.raises(ValueError, match=r"two\.csv\.zip holds 2 files \(a\.csv, b\.csv\)"):
        score_files(model, tmp_path / "two.csv.zip", tmp_path / "out", id_cols="txn_id")
    assert not (tmp_path / "out").exists()


def test_model_from_saved_folder_has_the_same_version(model, frame, tmp_path):
    riskkd.save(model, tmp_path / "model")
    frame.to_parquet(tmp_path / "in.parquet")
    from_folder = score_files(tmp_path / "model", tmp_path / "in.parquet", tmp_path / "a")
    in_memory = score_files(model, tmp_path / "in.parquet", tmp_path / "b")
    assert from_folder.model_version == in_memory.model_version
    pd.testing.assert_frame_equal(read_parts(tmp_path / "a"), read_parts(tmp_path / "b"))


def test_multiclass_writes_a_grade(tmp_path):
    X, y = make_risk_frame(600, 3, seed=3)
    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=3, random_state=0).fit(X, y)
    X.to_parquet(tmp_path / "in.parquet")
    score_files(model, tmp_path / "in.parquet", tmp_path / "out", chunk_rows=200)
    out = read_parts(tmp_path / "out")
    assert list(out.columns) == ["proba_A", "proba_B", "proba_C", "grade", "model_version"]
    np.testing.assert_allclose(
        out[["proba_A", "proba_B", "proba_C"]], model.predict_proba(X), rtol=RTOL
    )
    np.testing.assert_array_equal(out["grade"], model.predict(X))


@pytest.mark.parametrize(("n_classes", "column"), [(2, "decision"), (3, "grade")])
def test_a_part_without_rows_keeps_the_label_type(tmp_path, n_classes, column):
    """A chunk whose rows are all rejected writes a part whose decision (or grade) has the
    type of the text labels, not Arrow's null type: the folder reads as one table."""
    X, y = make_risk_frame(600, n_classes, seed=3)
    if n_classes == 2:
        y = y.map({0: "good", 1: "bad"})
    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=3, random_state=0).fit(X, y)
    text = X.head(100).astype({"income": str})
    text.loc[:49, "income"] = "12,5"  # the whole first chunk is rejected
    text.to_parquet(tmp_path / "in.parquet")
    summary = score_files(model, tmp_path / "in.parquet", tmp_path / "out", chunk_rows=50)
    assert (summary.rows_scored, summary.rows_rejected, summary.parts_written) == (50, 50, 2)
    parts = sorted((tmp_path / "out").glob("part-*.parquet"))
    assert {pq.read_schema(p).field(column).type for p in parts} == {pa.string()}
    scores = pd.read_parquet(tmp_path / "out")
    np.testing.assert_array_equal(scores[column], model.predict(X.iloc[50:100]))


def test_object_id_columns_keep_the_input_type_in_every_part(model, frame, tmp_path):
    """Decimal and date ids are Python objects in pandas; every part writes them with the
    input file's Arrow type, also a part whose rows are all rejected (Arrow's null type
    before) and parts whose decimals need fewer digits (the precision was guessed per part)."""
    X = frame.drop(columns="txn_id").head(150).astype({"income": str})
    X.loc[:49, "income"] = "12,5"  # the whole first chunk is rejected
    pq.write_table(decimal_and_date_ids(X), tmp_path / "in.parquet")
    summary = score_files(
        model,
        tmp_path / "in.parquet",
        tmp_path / "out",
        id_cols=["loan_no", "as_of"],
        chunk_rows=50,
    )
    assert (summary.rows_scored, summary.rows_rejected, summary.parts_written) == (100, 50, 3)
    for part in sorted((tmp_path / "out").glob("part-*.parquet")):
        schema = pq.read_schema(part)
        assert schema.field("loan_no").type == pa.decimal128(20, 0), part.name
        assert schema.field("as_of").type == pa.date32(), part.name
    scores = pq.read_table(tmp_path / "out")  # the parts read as one table
    assert scores.num_rows == 100 and scores["loan_no"][0].as_py() == 50


def write_bad_csv(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """``frame`` as CSV with four broken rows and one unseen level (which is not an error)."""
    text = frame.astype({"income": object, "age": object, "txn_id": object})
    text.loc[5, "income"] = "12,5"
    text.loc[17, "age"] = "inf"
    text.loc[40, "txn_id"] = None
    text.loc[41, "income"] = "abc"
    text.loc[41, "age"] = "-inf"
    text.loc[60, "home"] = "houseboat"  # a level unseen at fit: scored as "unknown"
    text.to_csv(path, index=False)
    return text


def test_bad_rows_go_to_rejects_with_reasons(model, frame, tmp_path):
    text = write_bad_csv(frame, tmp_path / "in.csv")
    summary = score_files(
        model, tmp_path / "in.csv", tmp_path / "out", id_cols=["txn_id"], chunk_rows=32
    )
    assert (summary.rows_in, summary.rows_scored, summary.rows_rejected) == (700, 696, 4)
    assert summary.reconciled
    rejects = pd.read_parquet(sorted((tmp_path / "out" / "_rejects").glob("part-*.parquet")))
    assert list(rejects["reason"]) == [
        "column 'income': '12,5' is not a number",
        "column 'age': inf is infinite (use an empty cell or NaN for a missing value)",
        "id column 'txn_id' is null",
        "column 'income': 'abc' is not a number; "
        "column 'age': -inf is infinite (use an empty cell or NaN for a missing value)",
    ]
    assert rejects["txn_id"].fillna("<null>").tolist() == ["10005", "10017", "<null>", "10041"]
    assert list(rejects["income"][[0, 3]]) == ["12,5", "abc"]
    # chunk and row_in_chunk locate each row; the manifest gives each chunk's first row.
    manifest = read_manifest(tmp_path / "out")
    starts = {p["chunk"]: p["rows"][0] for p in manifest["parts"]}
    rows = [starts[c] + r for c, r in zip(rejects["chunk"], rejects["row_in_chunk"])]
    assert rows == [5, 17, 40, 41]
    assert sum(p["rows_rejected"] for p in manifest["parts"]) == 4

    good = frame.drop(index=[5, 17, 40, 41])
    out = read_parts(tmp_path / "out")
    assert_scores_equal(out, model, good.assign(home=text["home"].drop(index=[5, 17, 40, 41])))


def test_fail_fast_stops_at_the_first_bad_row(model, frame, tmp_path):
    write_bad_csv(frame, tmp_path / "in.csv")
    with pytest.raises(ValueError, match=r"row 5 .*column 'income': '12,5' is not a number"):
        score_files(
            model, tmp_path / "in.csv", tmp_path / "out", id_cols=["txn_id"], chunk_rows=4,
            fail_fast=True,
        )  # fmt: skip
    # Rows 0-3 were fine and their part is complete and recorded; the chunk of row 5 left
    # nothing, not even a temporary file.
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["_manifest.json", "part-00000.parquet"]
    assert [p["part"] for p in read_manifest(tmp_path / "out")["parts"]] == ["part-00000.parquet"]
    # Stopped before its first part, a job leaves none of the folders it created: a plain
    # rerun may use them.
    with pytest.raises(ValueError, match=r"row 5 "):
        score_files(
            model, tmp_path / "in.csv", tmp_path / "new" / "deep" / "scores", id_cols=["txn_id"],
            fail_fast=True,
        )  # fmt: skip
    assert not (tmp_path / "new").exists() and tmp_path.is_dir()
    summary = score_files(model, tmp_path / "in.csv", tmp_path / "new", id_cols=["txn_id"])
    assert (summary.rows_scored, summary.rows_rejected) == (696, 4)


def test_missing_column_stops_before_writing(model, frame, tmp_path):
    frame.drop(columns="age").to_parquet(tmp_path / "in.parquet")
    with pytest.raises(ValueError, match=r"missing 1 column\(s\) the model was fitted on: 'age'"):
        score_files(model, tmp_path / "in.parquet", tmp_path / "out")
    with pytest.raises(ValueError, match=r"id_cols \['account'\] are not columns"):
        score_files(model, tmp_path / "in.parquet", tmp_path / "out", id_cols=["account"])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("id_col", "message"),
    [
        ("decision", r"id_cols \['decision'\] have the names of output columns"),
        ("proba_1", r"id_cols \['proba_1'\] have the names of output columns"),
        ("model_version", r"id_cols \['model_version'\] have the names of output columns"),
        ("reason", r"\['reason'\] have the names of the rejects file's own columns"),
        ("chunk", r"\['chunk'\] have the names of the rejects file's own columns"),
    ],
)
def test_an_id_named_like_an_output_column_is_refused_before_writing(
    model, frame, tmp_path, id_col, message
):
    """Its values would be overwritten by the score, the decision or the reject's reason."""
    frame.assign(**{id_col: "X1"}).to_parquet(tmp_path / "in.parquet")
    with pytest.raises(ValueError, match=message):
        score_files(model, tmp_path / "in.parquet", tmp_path / "out", id_cols=[id_col])
    assert not (tmp_path / "out").exists()


def test_refuses_a_non_empty_output_without_resume(model, frame, tmp_path):
    frame.to_parquet(tmp_path / "in.parquet")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.parquet").write_bytes(b"someone else's file")
    with pytest.raises(FileExistsError, match=r"is not empty.*resume=True"):
        score_files(model, tmp_path / "in.parquet", tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["old.parquet"]
    with pytest.raises(FileExistsError, match=r"has no _manifest.json and holds other files"):
        score_files(model, tmp_path / "in.parquet", tmp_path / "out", resume=True)

    score_files(model, tmp_path / "in.parquet", tmp_path / "done", chunk_rows=300)
    # Resuming with other settings would mix two jobs' parts: refused, naming the difference.
    with pytest.raises(ValueError, match=r"different job \(chunk_rows: recorded 300, now 200\)"):
        score_files(model, tmp_path / "in.parquet", tmp_path / "done", chunk_rows=200, resume=True)
    again = score_files(
        model, tmp_path / "in.parquet", tmp_path / "done", chunk_rows=300, resume=True
    )
    assert (again.parts_written, again.parts_skipped, again.rows_in) == (0, 3, 700)


@pytest.mark.parametrize("resume", [False, True])
def test_refuses_an_output_folder_holding_the_input(model, frame, tmp_path, resume):
    """Input files named part-*.parquet (another job's scores) look like this job's own
    parts: scoring them into their own folder would overwrite them."""
    folder = tmp_path / "applications"
    folder.mkdir()
    frame.iloc[:300].to_parquet(folder / "part-00000.parquet")
    frame.iloc[300:].to_parquet(folder / "part-00001.parquet")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    message = r"output='.*applications' holds \d file\(s\) of input='.*' \(.*part-0000\d\.parquet"
    for source in (folder, folder / "part-00001.parquet"):
        with pytest.raises(ValueError, match=message):
            score_files(model, source, folder, chunk_rows=300, resume=resume)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_refuses_an_output_folder_inside_the_input_folder(model, frame, tmp_path):
    """Scores written into a subfolder of the input would make the next job (or a resume)
    find a subfolder it refuses, as a folder is scored whole."""
    folder = tmp_path / "applications"
    folder.mkdir()
    frame.to_parquet(folder / "a.parquet")
    for resume in (False, True):
        with pytest.raises(ValueError, match=r"is inside input='.*applications': the scores "
                           r"would become a subfolder of the input \(scores\)"):  # fmt: skip
            score_files(model, folder, folder / "scores" / "today", resume=resume)
    assert [p.name for p in folder.iterdir()] == ["a.parquet"]
    # A name starting with "_" is skipped by the input's readers, as _SUCCESS is.
    score_files(model, folder, folder / "_scores")
    again = score_files(model, folder, folder / "_scores", resume=True)
    assert (again.parts_skipped, again.rows_in) == (1, len(frame))


def test_resume_rescores_an_altered_part(model, frame, tmp_path):
    frame.to_parquet(tmp_path / "in.parquet")
    score_files(model, tmp_path / "in.parquet", tmp_path / "out", chunk_rows=300)
    first = (tmp_path / "out" / "part-00001.parquet").read_bytes()
    (tmp_path / "out" / "part-00001.parquet").write_bytes(b"truncated")
    summary = score_files(
        model, tmp_path / "in.parquet", tmp_path / "out", chunk_rows=300, resume=True
    )
    assert (summary.parts_written, summary.parts_skipped) == (1, 2)
    assert (tmp_path / "out" / "part-00001.parquet").read_bytes() == first


def test_reconciliation_error_when_a_part_loses_rows(model, frame, tmp_path, monkeypatch):
    """A part file holding fewer rows than recorded is caught by the final count."""
    from riskkd.scoring import _parts

    frame.to_parquet(tmp_path / "in.parquet")
    original = _parts.output_frame
    monkeypatch.setattr(_parts, "output_frame", lambda *a: original(*a).iloc[1:])
    with pytest.raises(
        ReconciliationError, match=r"700 rows read .* 699 rows in the parts"
    ) as info:
        score_files(model, tmp_path / "in.parquet", tmp_path / "out", chunk_rows=700)
    assert not info.value.summary.reconciled
    assert read_manifest(tmp_path / "out")["complete"] is False


SCORE_SCRIPT = textwrap.dedent(
    """
    import sys
    from riskkd.scoring import score_files

    model, source, output, resume = sys.argv[1:]
    score_files(model, source, output, id_cols=["txn_id"], chunk_rows=1_000,
                resume=resume == "resume")
    """
)


def test_killed_job_resumes_without_losing_or_duplicating_rows(model, tmp_path):
    X, _ = make_risk_frame(150_000, 2, seed=4)
    X.insert(0, "txn_id", np.arange(len(X)))
    X.to_parquet(tmp_path / "in.parquet", row_group_size=20_000)
    riskkd.save(model, tmp_path / "model")
    script = tmp_path / "score.py"
    script.write_text(SCORE_SCRIPT)
    args = [sys.executable, str(script), str(tmp_path / "model"), str(tmp_path / "in.parquet")]
    output = tmp_path / "out"
    process = subprocess.Popen([*args, str(output), "fresh"], env=SUBPROCESS_ENV)
    try:
        deadline = time.monotonic() + 120
        n_done = 0
        while n_done < 10:
            assert process.poll() is None, "the job ended before it could be killed"
            assert time.monotonic() < deadline, "the job wrote no parts in 120 s"
            time.sleep(0.05)
            try:
                n_done = len(read_manifest(output)["parts"])
            except (FileNotFoundError, json.JSONDecodeError):
                continue  # not written yet (a half-written manifest is never visible)
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        process.kill()
    killed = read_manifest(output)
    assert 10 <= len(killed["parts"]) < 150 and not killed["complete"]

    subprocess.run([*args, str(output), "resume"], env=SUBPROCESS_ENV, check=True)
    manifest = read_manifest(output)
    assert manifest["complete"] and len(manifest["parts"]) == 150
    assert manifest["reconciliation"] == {
        "rows_in": 150_000, "rows_scored": 150_000, "rows_rejected": 0, "reconciled": True,
    }  # fmt: skip
    # Parts from before the kill were kept as they were, not rewritten.
    before = {p["part"]: p["sha256"] for p in killed["parts"]}
    assert all(before[p["part"]] == p["sha256"] for p in manifest["parts"] if p["part"] in before)
    out = read_parts(output)
    ids = out["txn_id"].to_numpy()
    np.testing.assert_array_equal(np.sort(ids), np.arange(150_000))  # every row exactly once
    np.testing.assert_array_equal(ids, np.arange(150_000))  # and in input order
    assert not [p.name for p in output.iterdir() if ".tmp-" in p.name]


def test_registered_model_uri_gives_the_registry_version(model, frame, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    from mlflow.tracking import fluent
    from mlflow.tracking._tracking_service import utils as tracking_utils

    import riskkd.mlflow

    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
    monkeypatch.setattr(fluent, "_active_experiment_id", fluent._active_experiment_id)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(name, raising=False)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    mlflow.set_experiment(
        experiment_id=mlflow.create_experiment(
            "riskkd-scoring", artifact_location=(tmp_path / "artifacts").as_uri()
        )
    )
    try:
        riskkd.mlflow.log_model(
            model, "model", registered_model_name="scoring-test", log_teacher_model=False
        )
    finally:
        mlflow.end_run()
    mlflow.MlflowClient().set_registered_model_alias("scoring-test", "champion", "1")
    frame.to_parquet(tmp_path / "in.parquet")
    summary = score_files(
        "models:/scoring-test@champion", tmp_path / "in.parquet", tmp_path / "out"
    )
    assert summary.model_version == "scoring-test/1"
    out = read_parts(tmp_path / "out")
    assert set(out["model_version"]) == {"scoring-test/1"}
    np.testing.assert_allclose(
        out[["proba_0", "proba_1"]], model.predict_proba(frame.drop(columns="txn_id")), rtol=RTOL
    )


# ---------------------------------------------------------------------- files as exported
def test_files_as_other_tools_write_them(model, frame, tmp_path):
    """A pandas index in parquet metadata, quoted line breaks and a wide feature-store header."""
    X = frame.iloc[100:400].sample(frac=1.0, random_state=0)  # ids not a range: stored
    X.set_index("txn_id").to_parquet(tmp_path / "indexed.parquet")  # the id is the index
    frame.iloc[100:400].to_parquet(tmp_path / "sliced.parquet")  # a RangeIndex of 100..400
    for name, rows in (("indexed.parquet", X), ("sliced.parquet", frame.iloc[100:400])):
        score_files(model, tmp_path / name, tmp_path / name.split(".")[0], id_cols=["txn_id"])
        assert_scores_equal(read_parts(tmp_path / name.split(".")[0]), model, rows)

    noted = X.assign(note=[f"line one\nline {k}" for k in range(len(X))])
    noted.to_csv(tmp_path / "noted.csv", index=False)  # quoted values with line breaks
    extra = pd.DataFrame(
        0.0, index=X.index[:20], columns=[f"feature_store_{k:05d}" for k in range(4_000)]
    )
    pd.concat([X.iloc[:20], extra], axis=1).to_csv(
        tmp_path / "wide.csv", index=False
    )  # 80 kB header
    for name, rows in (("noted.csv", noted), ("wide.csv", X.iloc[:20])):
        score_files(model, tmp_path / name, tmp_path / name.split(".")[0], id_cols=["txn_id"])
        assert_scores_equal(read_parts(tmp_path / name.split(".")[0]), model, rows)


@pytest.mark.parametrize("end", ["\n", "\r\n", ""])
def test_a_csv_header_alone_writes_no_part(model, frame, tmp_path, end):
    """A CSV file of columns and no rows, with or without a final line break."""
    (tmp_path / "in").mkdir()
    frame.to_csv(tmp_path / "in" / "a.csv", index=False)
    (tmp_path / "in" / "b.csv").write_text(",".join(frame.columns) + end)
    summary = score_files(model, tmp_path / "in", tmp_path / "out", id_cols=["txn_id"])
    assert (summary.rows_in, summary.parts_written, summary.reconciled) == (700, 1, True)
    assert_scores_equal(read_parts(tmp_path / "out"), model, frame)


def test_unreadable_or_mistyped_files_stop_before_writing(model, frame, tmp_path):
    X = frame.iloc[:50]
    X.assign(age=pd.to_timedelta(X["age"], unit="D")).to_parquet(tmp_path / "dur.parquet")
    with pytest.raises(ValueError, match=r"dates or durations in column\(s\) \['age'\]"):
        score_files(model, tmp_path / "dur.parquet", tmp_path / "out")
    # A nested column whose field is named like a model column is not that column.
    nested = pa.Table.from_pandas(X.drop(columns="age"), preserve_index=False).append_column(
        "meta", pa.array([{"age": 1.0}] * len(X))
    )
    pq.write_table(nested, tmp_path / "nested.parquet")
    with pytest.raises(ValueError, match=r"missing 1 column\(s\) the model was fitted on: 'age'"):
        score_files(model, tmp_path / "nested.parquet", tmp_path / "out")
    header = ",".join([*X.columns, "age"])  # "age" twice: which one is meant?
    (tmp_path / "twice.csv").write_text(header + "\n" + "1," * len(X.columns) + "2\n")
    with pytest.raises(ValueError, match=r"twice\.csv has column\(s\) \['age'\] more than once"):
        score_files(model, tmp_path / "twice.csv", tmp_path / "out")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.csv cannot be read as CSV"):
        score_files(model, tmp_path / "empty.csv", tmp_path / "out")
    (tmp_path / "hive" / "day=1").mkdir(parents=True)  # a Hive-partitioned folder
    X.to_parquet(tmp_path / "hive" / "day=1" / "part.parquet")
    with pytest.raises(ValueError, match=r"holds 1 subfolder\(s\) \(day=1\) the job does not"):
        score_files(model, tmp_path / "hive", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    # predict_proba refuses them too, rather than reading durations as nanoseconds.
    with pytest.raises(ValueError, match=r"Column 'age' holds dates or durations"):
        model.predict_proba(X.assign(age=pd.to_timedelta(X["age"], unit="D")))


@pytest.fixture(scope="module")
def coded():
    """A model whose categorical codes CSV spells as text: a branch coded "NA", boolean
    levels (a nullable BOOLEAN read by read_sql), integer ids beyond 2**53; and a nullable
    boolean numeric column. Returns (model, rows to score with an id)."""

    def coded_frame(n, seed):
        X, _ = make_risk_frame(n, 2, seed=seed)
        rng = np.random.default_rng(seed)
        X["branch"] = pd.Series(rng.choice(["1", "2", "NA"], n), dtype=object)
        X["verified"] = pd.Series(rng.choice([True, False, None], n), dtype=object)
        big = [5, 2**53, 2**53 + 1]
        X["segment"] = pd.Categorical(rng.choice(big, n).tolist(), categories=big)
        phone = pd.array(rng.random(n) < 0.5, dtype="boolean")
        phone[rng.random(n) < 0.1] = pd.NA
        X["phone"] = phone
        signal = (
            (X["branch"] == "NA").to_numpy()
            + (X["verified"] == True).to_numpy()  # noqa: E712 (object column: True, not truthy)
            + (X["segment"] == 2**53 + 1).to_numpy()
            + rng.normal(0, 0.3, n)
        )
        return X, pd.Series((signal > np.median(signal)).astype(int), name="default")

    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=3, random_state=0)
    model.fit(*coded_frame(800, 4))
    X, _ = coded_frame(300, 5)
    X.insert(0, "txn_id", np.arange(len(X)))
    return model, X


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_codes_score_alike_from_csv_and_parquet(coded, tmp_path, kind):
    """CSV turns every code into text; each row still scores as in memory. A CSV null
    marker ("NA", an empty cell) is missing where it is not a level of the column (note,
    home) and the level where it is (branch). Parquet text is scored as written."""
    model, X = coded
    X = X.copy()
    X["note"] = X["note"].astype(object)
    X.loc[::7, "note"] = "NA"
    X.loc[3::11, "home"] = ""
    expected = X.drop(columns="txn_id").copy()
    if kind == "csv":
        expected.loc[::7, "note"] = None
        expected.loc[3::11, "home"] = None
    path = tmp_path / f"in.{kind}"
    X.to_parquet(path) if kind == "parquet" else X.to_csv(path, index=False)
    score_files(model, path, tmp_path / "out", id_cols=["txn_id"], chunk_rows=128)
    out = read_parts(tmp_path / "out")
    np.testing.assert_array_equal(out["txn_id"].astype("int64"), X["txn_id"])
    np.testing.assert_allclose(
        out[["proba_0", "proba_1"]], model.predict_proba(expected), rtol=RTOL
    )
    # The model reads each code: scored as unseen, every one would move the scores.
    for column in ("branch", "verified", "segment"):
        unseen = expected.assign(**{column: "unseen"})
        assert not np.allclose(model.predict_proba(unseen), model.predict_proba(expected))


def test_scores_are_read_alone_from_the_output_folder(model, frame, tmp_path):
    """The manifest and the rejects start with "_": pandas and pyarrow read the scores."""
    write_bad_csv(frame, tmp_path / "in.csv")
    score_files(model, tmp_path / "in.csv", tmp_path / "out", id_cols=["txn_id"])
    scores = pd.read_parquet(tmp_path / "out")
    assert len(scores) == 696 and scores["proba_1"].notna().all()


def test_a_malformed_csv_row_names_the_file(model, frame, tmp_path, monkeypatch):
    """A bad row past the header check (which reads the first 64 KiB) stops the job with
    the file's name; the parts before it stay recorded as an incomplete job."""
    monkeypatch.setattr("riskkd.scoring._inputs._CSV_BLOCK_BYTES", 1 << 14)
    rows = pd.concat([frame] * 4, ignore_index=True).assign(txn_id=np.arange(4 * len(frame)))
    rows.to_csv(tmp_path / "in.csv", index=False)
    with open(tmp_path / "in.csv", "ab") as handle:
        handle.write(b"1,2,3,4,5,6,7,8,9\n")  # too many fields
    with pytest.raises(ValueError, match=r"in\.csv cannot be read past its first [\d,]+ data rows"):
        score_files(
            model, tmp_path / "in.csv", tmp_path / "out", id_cols=["txn_id"], chunk_rows=500
        )
    manifest = read_manifest(tmp_path / "out")
    assert not manifest["complete"] and len(manifest["parts"]) >= 1


def test_a_csv_not_compressed_as_its_name_says_names_the_file(model, frame, tmp_path):
    """A plain CSV named .gz and a gzip file cut short get a ValueError naming the file and
    the codec (pyarrow raises a bare OSError such as "zlib inflate failed"); nothing is
    written."""
    frame.to_csv(tmp_path / "plain.csv.gz", index=False, compression=None)
    with pytest.raises(ValueError, match=r"plain\.csv\.gz cannot be read .*says gzip"):
        score_files(model, tmp_path / "plain.csv.gz", tmp_path / "out", id_cols=["txn_id"])
    assert not (tmp_path / "out").exists()

    rows = pd.concat([frame] * 20, ignore_index=True).assign(txn_id=np.arange(20 * len(frame)))
    rows.to_csv(tmp_path / "whole.csv.gz", index=False, compression="gzip")
    data = (tmp_path / "whole.csv.gz").read_bytes()
    (tmp_path / "cut.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.csv\.gz cannot be read"):
        score_files(model, tmp_path / "cut.csv.gz", tmp_path / "out2", id_cols=["txn_id"])


def test_csv_null_markers_are_missing_values(model, frame, tmp_path):
    """pyarrow's CSV null markers are missing values, not rejects ("#NA" and "1.#IND" were
    rejected as "not a number" when riskkd first read CSV text itself)."""
    markers = ["#NA", "1.#IND", "-1.#QNAN", "#N/A N/A", "NULL", "NA", "n/a", "None"]
    text = frame.astype({"income": object}).head(len(markers)).copy()
    text["income"] = markers
    text.to_csv(tmp_path / "in.csv", index=False)
    summary = score_files(model, tmp_path / "in.csv", tmp_path / "out", id_cols=["txn_id"])
    assert (summary.rows_scored, summary.rows_rejected) == (len(markers), 0)
    assert_scores_equal(read_parts(tmp_path / "out"), model, text.assign(income=np.nan))


def test_integer_levels_beyond_int64_score_from_csv(tmp_path):
    """Ids of 2**63 and up stay Python ints as levels; a CSV of them is matched exactly."""
    X, y = make_risk_frame(300, 2, seed=8)
    ids = [12, 2**63 + 5, 2**63 + 7]
    X["account_kind"] = pd.Categorical(
        [ids[i % 3] for i in range(300)], categories=pd.Index(ids, dtype=object)
    )
    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=3, random_state=0).fit(X, y)
    X.insert(0, "txn_id", np.arange(len(X)))
    X.to_csv(tmp_path / "in.csv", index=False)
    score_files(model, tmp_path / "in.csv", tmp_path / "out", id_cols=["txn_id"])
    assert_scores_equal(read_parts(tmp_path / "out"), model, X)
