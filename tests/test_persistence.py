"""Safe persistence: riskkd.save / riskkd.load."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import xgboost as xgb
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier

import riskkd
from riskkd import DistilledClassifier

from .conftest import fast_mlp, fast_teacher, fast_tree, make_risk_frame


@pytest.fixture(scope="module")
def data():
    return make_risk_frame(500, 3, seed=6)


@pytest.mark.parametrize("student", [fast_mlp(), fast_tree()], ids=["mlp", "tree"])
def test_round_trip_is_bit_for_bit(tmp_path, data, student, monkeypatch):
    X, y = data
    model = DistilledClassifier(fast_teacher(), student, cv=2, random_state=0).fit(X, y)
    path = riskkd.save(model, tmp_path / "model")
    assert {p.name for p in path.iterdir()} == {
        "manifest.json",
        "student.npz",
        "preprocessing.npz",
        "teacher.txt",
    }

    def refuse(*args, **kwargs):
        raise AssertionError("riskkd.load must not unpickle anything")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    loaded = riskkd.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.classes_, model.classes_)
    assert loaded.classes_.dtype == model.classes_.dtype  # <U1 grades stay <U1
    # The teacher comes back from LightGBM's text format; text round-trips are exact to
    # float64 printing precision, far below 1e-12.
    np.testing.assert_allclose(
        loaded.teacher_.predict_proba(X), model.teacher_.predict_proba(X), rtol=0, atol=1e-12
    )
    assert repr(loaded.set_params(student=model.student)) == repr(model.set_params(teacher=None))
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format_version"] == 2
    assert manifest["input_schema"]["names"] == list(X.columns)
    assert set(manifest["files"]) == {"student.npz", "preprocessing.npz", "teacher.txt"}


def test_written_files_get_the_usual_permissions(tmp_path, data):
    """Model folders, ONNX files and reports are readable as any file the process writes
    (tempfile's private 0700 / 0600 kept a scoring service's account out)."""
    import os
    import stat

    from riskkd.report import write_report

    X, y = data
    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=2, random_state=0).fit(X, y)
    previous = os.umask(0o022)
    try:
        folder = riskkd.save(model, tmp_path / "model")
        written = [folder, *folder.iterdir()]
        written.append(write_report(model, X, y, tmp_path / "report.html"))
        written.append(riskkd.export_onnx(model, tmp_path / "model.onnx"))  # test extra: onnx
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in written}
    assert modes.pop("model") == 0o755
    assert set(modes.values()) == {0o644}, modes
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers


def test_xgboost_teacher_saved_as_ubj(tmp_path, data):
    X, y = data
    teacher = xgb.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1)
    model = DistilledClassifier(teacher, fast_mlp(max_epochs=5), cv=2, random_state=0).fit(X, y)
    loaded = riskkd.load(riskkd.save(model, tmp_path / "m"))
    assert (tmp_path / "m" / "teacher.ubj").is_file()
    np.testing.assert_allclose(
        loaded.teacher_.predict_proba(X), model.teacher_.predict_proba(X), rtol=1e-6
    )
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_early_stopped_xgboost_teacher_keeps_its_trees(tmp_path, data):
    """A prefit XGBClassifier predicts with the trees early stopping kept; its booster holds
    them all, and the loaded teacher predicted with every tree (off by 0.23)."""
    from sklearn.frozen import FrozenEstimator

    X, y = data
    codes = y.astype("category").cat.codes
    numeric = X.select_dtypes("number")
    teacher = xgb.XGBClassifier(
        n_estimators=200, learning_rate=0.5, early_stopping_rounds=3, n_jobs=1
    ).fit(numeric[:400], codes[:400], eval_set=[(numeric[400:], codes[400:])], verbose=False)
    assert teacher.best_iteration + 1 < teacher.get_booster().num_boosted_rounds()
    model = DistilledClassifier(FrozenEstimator(teacher), fast_tree(), cv=2, random_state=0)
    model.fit(numeric, codes)
    loaded = riskkd.load(riskkd.save(model, tmp_path / "m"))
    np.testing.assert_allclose(
        loaded.teacher_.predict_proba(numeric), teacher.predict_proba(numeric), rtol=1e-6
    )
    # A linear booster has no trees to cut: saved whole, as it predicts.
    linear = xgb.XGBClassifier(booster="gblinear", n_estimators=50, early_stopping_rounds=3)
    linear.fit(numeric[:400], codes[:400], eval_set=[(numeric[400:], codes[400:])], verbose=False)
    model = DistilledClassifier(FrozenEstimator(linear), fast_tree(), cv=2, random_state=0)
    loaded = riskkd.load(riskkd.save(model.fit(numeric, codes), tmp_path / "linear"))
    np.testing.assert_allclose(
        loaded.teacher_.predict_proba(numeric), linear.predict_proba(numeric), rtol=1e-6
    )


def test_a_teacher_pickled_before_max_cat_to_onehot_keeps_lightgbm_default():
    from riskkd.teachers import LightGBMTeacher

    teacher = LightGBMTeacher()
    del teacher.max_cat_to_onehot  # as unpickled from before the parameter
    assert teacher.get_params()["max_cat_to_onehot"] == 4
    assert LightGBMTeacher().get_params()["max_cat_to_onehot"] == 16


def test_teacher_without_native_format_is_left_out(tmp_path, data):
    X, y = data
    model = DistilledClassifier(
        HistGradientBoostingClassifier(max_iter=20), fast_tree(), cv=2, random_state=0
    ).fit(X, y)
    with pytest.warns(UserWarning, match="no native, pickle-free format"):
        path = riskkd.save(model, tmp_path / "m")
    loaded = riskkd.load(path)
    assert loaded.teacher_ is None
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.fixture(scope="module")
def saved(tmp_path_factory, data):
    X, y = data
    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=2, random_state=0).fit(X, y)
    return riskkd.save(model, tmp_path_factory.mktemp("saved") / "model")


def test_altered_file_is_refused(saved, tmp_path):
    import shutil

    copy = shutil.copytree(saved, tmp_path / "copy")
    with open(copy / "student.npz", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ValueError, match=r"student.npz was altered \(SHA-256 mismatch\)"):
        riskkd.load(copy)


def test_missing_file_is_refused(saved, tmp_path):
    import shutil

    copy = shutil.copytree(saved, tmp_path / "copy")
    (copy / "teacher.txt").unlink()
    with pytest.raises(ValueError, match=r"incomplete: teacher\.txt is missing"):
        riskkd.load(copy)


def test_damaged_manifest_is_refused_by_name(saved, tmp_path):
    """A truncated manifest raised json's bare "Extra data: line 1 column 9"."""
    import shutil

    copy = shutil.copytree(saved, tmp_path / "copy")
    text = (copy / "manifest.json").read_text()
    for damaged in (text[: len(text) // 2], text + "}", "[]"):
        (copy / "manifest.json").write_text(damaged)
        with pytest.raises(
            ValueError, match=r"copy/manifest\.json (cannot be read as JSON|holds no)"
        ):
            riskkd.load(copy)


def _edit_manifest(folder, edit):
    manifest = json.loads((folder / "manifest.json").read_text())
    edit(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.update(classes=m["classes"][::-1]),  # would invert every prediction
        lambda m: m["input_schema"]["names"].reverse(),
        lambda m: m["files"].pop("student.npz"),  # then any student.npz would be read
    ],
    ids=["classes swapped", "columns reordered", "a file's checksum dropped"],
)
def test_altered_manifest_is_refused(saved, tmp_path, edit):
    import shutil

    copy = shutil.copytree(saved, tmp_path / "copy")
    _edit_manifest(copy, edit)
    with pytest.raises(ValueError, match=r"manifest\.json was altered.*Re-save"):
        riskkd.load(copy)


def test_version_1_folder_loads_but_needs_every_checksum(saved, tmp_path):
    """Folders saved before the manifest digest (format version 1) still load."""
    import shutil

    def downgrade(manifest):
        manifest["format_version"] = 1
        del manifest["manifest_sha256"]

    old = shutil.copytree(saved, tmp_path / "old")
    _edit_manifest(old, downgrade)
    np.testing.assert_array_equal(
        riskkd.load(old).predict_proba(make_risk_frame(50, 2, seed=1)[0]),
        riskkd.load(saved).predict_proba(make_risk_frame(50, 2, seed=1)[0]),
    )
    _edit_manifest(old, lambda m: m["files"].pop("student.npz"))
    with pytest.raises(ValueError, match=r"lists no SHA-256 for \['student\.npz'\]"):
        riskkd.load(old)


def test_settings_with_numpy_values_are_saved(tmp_path):
    X, y = make_risk_frame(400, 2, seed=7)  # monotone students are binary
    constraints = dict(zip(["income", "age"], np.array([-1, 0])))  # np.int64 values
    model = DistilledClassifier(
        fast_teacher(), fast_tree(), cv=2, monotone_constraints=constraints, random_state=0
    ).fit(X, y)
    loaded = riskkd.load(riskkd.save(model, tmp_path / "m"))
    assert loaded.get_params()["monotone_constraints"] == {"income": -1, "age": 0}
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_not_a_model_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"manifest\.json is missing"):
        riskkd.load(tmp_path)


def test_save_never_overwrites(saved):
    with pytest.raises(FileExistsError, match="already exists"):
        riskkd.save(riskkd.load(saved), saved)


def test_teacher_list_saved_member_by_member(tmp_path, data):
    from riskkd.teachers import TeacherEnsemble
    from riskkd.tracking._params import model_params
    from riskkd.transfer import MUNGE

    X, y = data
    teachers = [fast_teacher(), xgb.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1)]
    model = DistilledClassifier(
        teachers,
        fast_tree(),
        teacher_weights="fit",
        augment=MUNGE(p=0.3, s=1.0),
        cv=2,
        random_state=0,
    ).fit(X, y)
    path = riskkd.save(model, tmp_path / "model")
    assert {"teacher_0.txt", "teacher_1.ubj"} <= {p.name for p in path.iterdir()}
    loaded = riskkd.load(path)
    assert isinstance(loaded.teacher_, TeacherEnsemble)
    np.testing.assert_array_equal(loaded.teacher_.weights, model.teacher_.weights)
    np.testing.assert_array_equal(loaded.teacher_weights_, model.teacher_weights_)
    # Native text/UBJ round trips of both boosters are exact to float printing precision.
    np.testing.assert_allclose(
        loaded.teacher_.predict_proba(X), model.teacher_.predict_proba(X), rtol=0, atol=1e-12
    )
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.augment.get_params() == {"p": 0.3, "s": 1.0}
    # teacher is None after loading, so are its weights: a refit trains the default teacher.
    assert loaded.teacher is None and loaded.teacher_weights is None
    assert clone(loaded).set_params(cv=2).fit(X, y).teacher_weights_.tolist() == [1.0]
    assert riskkd.persistence.teacher_size_bytes(model) > 0
    params = model_params(model)
    assert params["teacher_class"].endswith("TeacherEnsemble")
    assert "XGBClassifier" in params["teacher.members"]


@pytest.mark.parametrize("student", ["mlp", "tree", "scorecard"])
def test_student_only_folder_scores_the_same_and_keeps_only_told_apart_levels(tmp_path, student):
    X, y = make_risk_frame(800, 2, seed=3)
    rng = np.random.default_rng(0)
    # An identifier-like column: 40 frequent merchants and 300 seen once or twice.
    X["merchant"] = np.where(
        rng.random(len(X)) < 0.6,
        rng.choice([f"m{k:03d}" for k in range(40)], len(X)),
        rng.choice([f"r{k:03d}" for k in range(300)], len(X)),
    )
    students = {"mlp": fast_mlp(max_epochs=5), "tree": fast_tree(), "scorecard": "scorecard"}
    model = DistilledClassifier(
        fast_teacher(), students[student], cv=2, max_categories=16, random_state=0
    ).fit(X, y)
    full = riskkd.save(model, tmp_path / "full")
    slim = riskkd.save(model, tmp_path / "slim", student_only=True)

    assert not list(slim.glob("teacher*"))
    loaded = riskkd.load(slim)
    assert loaded.teacher_ is None
    X_new = X.copy()
    X_new.loc[:5, "merchant"] = ["m000", "r299", "new-merchant", None, "r000", "m039"]
    X_new.loc[:2, "home"] = "never-seen"
    np.testing.assert_array_equal(loaded.predict_proba(X_new), model.predict_proba(X_new))
    np.testing.assert_array_equal(loaded.predict_proba(X), riskkd.load(full).predict_proba(X))

    levels = json.loads((slim / "manifest.json").read_text())["input_schema"]["levels"]
    # max_categories=16: at most the 16 most frequent merchants remain, none of the rare ones.
    assert 0 < len(levels["merchant"]) <= 16
    assert all(level.startswith("m") for level in levels["merchant"])
    assert len(levels["merchant"]) < len(model.input_schema_.levels["merchant"])
    with pytest.raises(ValueError, match="teacher"):
        riskkd.fidelity_report(loaded, X, y)
    # The student's size in reports is this folder's, which holds no training history (its
    # size was computed from a sketch of the folder, 20-25% below the folder's own).
    assert loaded.history_ == [] and "history" not in json.loads(
        (slim / "manifest.json").read_text()
    )
    folder_bytes = sum(p.stat().st_size for p in slim.iterdir())
    assert riskkd.persistence.student_size_bytes(model) == folder_bytes


def test_preprocessor_fitted_on_a_sample_scores_levels_it_lacks_as_unknown():
    from riskkd.inputs import Encoded
    from riskkd.preprocessing import UNKNOWN_ROW, StudentPreprocessor

    # The schema knows levels 0, 1, 2; the sample holds only 0 and 1 (level 1 frequent).
    cat = np.array([[0]] * 2 + [[1]] * 10, dtype=np.int32)
    sample = Encoded(np.zeros((len(cat), 0)), cat)
    prep = StudentPreprocessor(min_frequency=5).fit(sample, n_levels=[3])
    rows = prep.transform(Encoded(np.zeros((3, 0)), np.array([[0], [1], [2]], dtype=np.int32)))[1]
    assert rows[:, 0].tolist() == [UNKNOWN_ROW, 2, UNKNOWN_ROW]


def test_a_model_saved_with_the_former_augment_auto_loads_and_refits(saved, tmp_path, data):
    """augment='auto' is no longer an option: a folder saved under that former default loaded,
    and its refit failed with InvalidParameterError."""
    import shutil

    from riskkd.persistence import _manifest_digest

    copy = shutil.copytree(saved, tmp_path / "copy")

    def former_default(manifest):
        manifest["settings"]["augment"] = "auto"
        manifest["manifest_sha256"] = _manifest_digest(manifest)

    _edit_manifest(copy, former_default)
    with pytest.warns(UserWarning, match="augment='auto'.*the loaded model has augment=None"):
        loaded = riskkd.load(copy)
    assert loaded.augment is None
    np.testing.assert_array_equal(
        loaded.predict_proba(data[0]), riskkd.load(saved).predict_proba(data[0])
    )
    clone(loaded).fit(*data)


def test_a_student_seeded_by_a_generator_is_saved_and_constraints_reload(tmp_path):
    """A student given random_state=RandomState(0) failed save with 'Object of type RandomState
    is not JSON serializable'; a loaded model lacked the fitted attribute monotone_."""
    from riskkd.students import TreeStudent

    X, y = make_risk_frame(300, 2, seed=3)
    numeric = X.select_dtypes("number").columns[0]
    student = TreeStudent(max_depth=3, random_state=np.random.RandomState(0))
    model = DistilledClassifier(
        fast_teacher(), student, monotone_constraints={numeric: 1}, cv=2, random_state=0
    ).fit(X, y)
    loaded = riskkd.load(riskkd.save(model, tmp_path / "model"))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.student_.random_state is None
    np.testing.assert_array_equal(loaded.monotone_, model.monotone_)
