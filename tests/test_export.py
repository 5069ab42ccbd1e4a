"""ONNX export: ONNX Runtime scores exactly like ``predict_proba``, preprocessing included."""

from __future__ import annotations

import doctest

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from riskkd import DistilledClassifier
from riskkd.datasets import DATASETS, load_dataset, train_test_split_recommended
from riskkd.export import MISSING_CATEGORY, export_onnx, onnx_inputs, student_graph
from riskkd.students import Student

from .conftest import fast_mlp, fast_teacher, fast_tree, make_risk_frame

# Both sides compute in float32 from the same float32 weights (MLP) or compare in double
# against the same float64 thresholds and add the same float64 leaf values (tree) or integer
# points (scorecard); what is
# left is float32 summation order and rounding of probabilities in [0, 1], about 1e-7.
# 1e-5 leaves two orders of magnitude of headroom and still catches any real mismatch
# (a wrong level, scale or leaf moves probabilities by 1e-3 or more).
ATOL = 1e-5
N_TRAIN = 4000  # rows per dataset: enough for every class of lending club grades in 2 folds
N_TEST = 300


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _degrade(X: pd.DataFrame, schema, seed: int) -> pd.DataFrame:
    """Test rows with missing values in every column and unseen levels in categorical ones."""
    rng = np.random.default_rng(seed)
    X = X.copy()
    for name in X.columns:
        rows = rng.random(len(X)) < 0.1
        if name in schema.categorical_names:
            values = X[name].astype(object)
            values[rows] = None
            values[rng.random(len(X)) < 0.1] = "never seen at fit"
            X[name] = values
        else:
            X[name] = X[name].astype(float).mask(rows)
    return X


# Every bundled dataset with every student, but the scorecard only on binary targets.
MULTICLASS = {"lending_club_grades_2018q1"}
CASES = [
    (name, student)
    for name in DATASETS
    for student in ("mlp", "tree", "scorecard")
    if not (student == "scorecard" and name in MULTICLASS)
]


@pytest.fixture(scope="module")
def dataset(request):
    bunch = load_dataset(request.param)
    X_train, X_test, y_train, _ = train_test_split_recommended(bunch, random_state=0)
    if len(X_train) > N_TRAIN:
        X_train, _, y_train, _ = train_test_split(
            X_train, y_train, train_size=N_TRAIN, stratify=y_train, random_state=0
        )
    return request.param, X_train, y_train, X_test.iloc[:N_TEST]


@pytest.mark.parametrize(("dataset", "student"), CASES, indirect=["dataset"])
def test_onnx_runtime_matches_predict_proba(dataset, student, tmp_path):
    name, X_train, y_train, X_test = dataset
    assert student != "scorecard" or pd.Series(y_train).nunique() == 2, "MULTICLASS is stale"
    students = {"mlp": fast_mlp(max_epochs=5), "tree": fast_tree(), "scorecard": "scorecard"}
    model = DistilledClassifier(
        fast_teacher(n_estimators=20),
        students[student],
        cv=2,
        augment=None,
        random_state=0,
    ).fit(X_train, y_train)
    X = pd.concat([X_test, _degrade(X_test, model.input_schema_, seed=1)], ignore_index=True)
    if model.input_schema_.categorical_names:
        unseen = model.input_schema_.unseen_counts(model.input_schema_.encode(X))
        assert unseen, "the test rows must include unseen categorical levels"

    path = export_onnx(model, tmp_path / f"{name}.onnx")
    graph = onnx.load(path).graph
    used = {name for node in graph.node for name in node.input}
    assert [t.name for t in graph.initializer if t.name not in used] == []  # ORT warns on these
    session = _session(path)
    proba, label = session.run(None, onnx_inputs(model, X))

    assert proba.dtype == np.float32 and proba.shape == (len(X), len(model.classes_))
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=ATOL)
    np.testing.assert_array_equal(label, model.predict(X).astype(label.dtype))
    # One row at a time goes through the small-batch path of predict_proba: same result.
    one, _ = session.run(None, onnx_inputs(model, X.iloc[[5]]))
    np.testing.assert_allclose(one, model.predict_proba(X.iloc[[5]]), rtol=0, atol=ATOL)


# The students' other forward passes: linear leaves (a coefficient row per leaf, not per
# node) and a monotone MLP's convex / concave / saturated hidden units (binary only).
OTHER_STUDENTS = {
    "linear-leaf tree": (fast_tree(leaves="linear", min_samples_leaf=20), None),
    "monotone mlp": (fast_mlp(max_epochs=5), {"income": -1, "age": -1}),
}


@pytest.mark.parametrize(
    ("kind", "n_classes"),
    [("linear-leaf tree", 2), ("linear-leaf tree", 3), ("monotone mlp", 2)],
)
def test_onnx_runtime_matches_other_forward_passes(kind, n_classes, tmp_path):
    student, monotone = OTHER_STUDENTS[kind]
    X, y = make_risk_frame(600, n_classes, seed=3)
    model = DistilledClassifier(
        fast_teacher(), student, cv=2, monotone_constraints=monotone, random_state=0
    ).fit(X, y)
    fitted = model.student_
    if kind == "linear-leaf tree":
        assert fitted.leaves_ == "linear" and fitted.depth_ >= 2
    else:
        assert any(convex and concave for convex, concave in fitted.activation_splits_)

    # Values beyond float32's range once scaled are bounded alike (StudentPreprocessor._scale).
    extreme = X.iloc[:4].assign(income=[1e300, -1e300, 1e39, np.nan])
    X = pd.concat([X, extreme], ignore_index=True)
    session = _session(export_onnx(model, tmp_path / "m.onnx"))
    proba, _ = session.run(None, onnx_inputs(model, X))
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=ATOL)
    # A batch whose rows all fall in one leaf reads that leaf's own coefficients.
    rows = X.iloc[:1].loc[[X.index[0]] * 3]
    proba, _ = session.run(None, onnx_inputs(model, rows))
    np.testing.assert_allclose(proba, model.predict_proba(rows), rtol=0, atol=ATOL)


@pytest.mark.parametrize("leaves", ["constant", "linear"])
def test_tree_splits_next_to_thresholds_decide_as_predict_proba(leaves, tmp_path):
    """Raw values whose scaled value is within a few float32 steps of a split threshold.

    predict_proba rounds the scaled value to float32 and applies numpy's float32 arcsinh;
    a graph computing asinh in double and rounding afterwards differs by one float32 step
    on about 30% of values, which sent such rows to another leaf (1 row in 20,000 of
    taiwan_credit_default, probabilities 0.1 apart).
    """
    X, y = make_risk_frame(600, seed=5)
    student = fast_tree(leaves=leaves, min_samples_leaf=20)
    model = DistilledClassifier(fast_teacher(), student, cv=2, random_state=0).fit(X, y)
    tree, names = model.student_, model.input_schema_.numeric_names
    Xn, Xc = model.preprocessor_.transform(model.input_schema_.encode(X))
    design = np.hstack([Xn, tree.level_scores_[Xc]])
    # A training row through every node, so that each node's split decides its leaf.
    node, through = np.zeros(len(X), dtype=np.intp), {}
    for _ in range(tree.depth_):
        for k in np.unique(node):
            through.setdefault(int(k), int(np.flatnonzero(node == k)[0]))
        right = design[np.arange(len(X)), tree.feature_[node]] > tree.threshold_[node]
        node = tree.children_[node, right.astype(np.intp)]
    batches = []
    for k, row in through.items():
        j, t = int(tree.feature_[k]), tree.threshold_[k]
        if j >= len(names):
            continue  # a missing indicator or level scores: exact in both
        step = 4 * float(np.spacing(np.float32(t)))
        center, scale = model.preprocessor_.center_[j], model.preprocessor_.scale_[j]
        raw = center + scale * np.sinh(np.linspace(t - step, t + step, 400))
        batches.append(X.iloc[[row] * len(raw)].assign(**{names[j]: raw}))
    assert len(batches) >= 3
    rows = pd.concat(batches, ignore_index=True)

    session = _session(export_onnx(model, tmp_path / "m.onnx"))
    proba, _ = session.run(None, onnx_inputs(model, rows))
    np.testing.assert_allclose(proba, model.predict_proba(rows), rtol=0, atol=ATOL)


def test_one_leaf_tree_has_no_unused_initializers(tmp_path):
    X, y = make_risk_frame(300, seed=3)
    student = fast_tree(min_samples_leaf=1000)  # more than the rows: the root is the leaf
    model = DistilledClassifier(fast_teacher(), student, cv=2, random_state=0).fit(X, y)
    assert model.student_.depth_ == 0
    graph = onnx.load(export_onnx(model, tmp_path / "m.onnx")).graph
    used = {name for node in graph.node for name in node.input}
    assert [t.name for t in graph.initializer if t.name not in used] == []  # ORT warns on these
    proba, _ = _session(tmp_path / "m.onnx").run(None, onnx_inputs(model, X))
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=ATOL)


def test_onnx_inputs_read_levels_as_predict_proba_does(tmp_path):
    """Integer levels arrive as floats once a batch has a NaN; the feed still names level 1."""
    X, y = make_risk_frame(600, seed=4)
    X["branch"] = pd.Categorical(np.arange(len(X)) % 3 + 1)  # levels 1, 2, 3
    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=2, random_state=0).fit(X, y)
    batch = X.iloc[:6].assign(branch=[np.nan, 3.0, 1.0, 2.0, 1.0, "1"])
    feed = onnx_inputs(model, batch)
    # "1" (text, as a CSV or JSON request sends it) is the level 1, as for predict_proba.
    assert feed["branch"].ravel().tolist() == [MISSING_CATEGORY, "3", "1", "2", "1", "1"]
    session = _session(export_onnx(model, tmp_path / "m.onnx"))
    proba, _ = session.run(None, feed)
    np.testing.assert_allclose(proba, model.predict_proba(batch), rtol=0, atol=ATOL)


def test_scorecard_with_a_level_spelled_like_a_table_marker_exports(tmp_path):
    """points_table refuses a level "(missing)" (it would read as its missing-value label);
    the graph maps levels by key, not by the table's labels, and still scores exactly."""
    X, y = make_risk_frame(600, seed=6)
    X["home"] = X["home"].astype(object).where(X.index % 7 != 0, "(missing)")
    X.loc[X.index % 11 == 0, "home"] = None
    model = DistilledClassifier(fast_teacher(), "scorecard", cv=2, random_state=0).fit(X, y)
    session = _session(export_onnx(model, tmp_path / "m.onnx"))
    proba, _ = session.run(None, onnx_inputs(model, X))
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=ATOL)


@pytest.fixture(scope="module")
def risk_model():
    X, y = make_risk_frame(400, 3, seed=2)
    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=2, random_state=0).fit(X, y)
    return model, X


def test_interface_names_columns_and_classes(risk_model, tmp_path):
    model, X = risk_model
    session = _session(export_onnx(model, tmp_path / "m.onnx", opset=15))
    kinds = dict(zip(model.input_schema_.names, model.input_schema_.kinds))
    inputs = {i.name: i.type for i in session.get_inputs()}
    assert list(inputs) == list(X.columns)
    for column, kind in kinds.items():
        assert inputs[column] == ("tensor(string)" if kind == "categorical" else "tensor(double)")
    assert [o.name for o in session.get_outputs()] == ["probabilities", "label"]
    _, label = session.run(None, onnx_inputs(model, X.iloc[:20]))
    assert set(label) <= set(model.classes_)  # string classes come back as strings


def test_onnx_inputs_marks_missing_and_reorders(risk_model):
    model, X = risk_model
    X = X.iloc[:3][X.columns[::-1]].assign(extra=1.0)  # any order, extra column ignored
    X.loc[X.index[0], "home"] = None
    feed = onnx_inputs(model, X)
    assert list(feed) == model.input_schema_.names
    assert feed["home"][0, 0] == MISSING_CATEGORY
    assert all(v.shape == (3, 1) for v in feed.values())
    with pytest.raises(ValueError, match="'income'"):
        onnx_inputs(model, X.drop(columns="income"))


def test_onnx_inputs_refuses_infinite_values_as_predict_proba_does(risk_model):
    model, X = risk_model
    rows = X.iloc[:3].assign(income=[np.inf, -np.inf, 5e4])
    message = r"Column 'income' holds 2 infinite value\(s\).*X\.replace"
    with pytest.raises(ValueError, match=message):
        model.predict_proba(rows)
    with pytest.raises(ValueError, match=message):
        onnx_inputs(model, rows)


def test_numpy_model_inputs_are_x0_x1(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    X[rng.random(X.shape) < 0.1] = np.nan
    y = (np.nan_to_num(X[:, 0]) + rng.normal(size=300) > 0).astype(int)
    model = DistilledClassifier(fast_teacher(), fast_mlp(max_epochs=5), cv=2, random_state=0)
    model.fit(X, y)
    session = _session(export_onnx(model, tmp_path / "m.onnx"))
    assert [i.name for i in session.get_inputs()] == ["x0", "x1", "x2"]
    proba, _ = session.run(None, onnx_inputs(model, X))
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=ATOL)


def test_unfitted_model_is_refused(tmp_path):
    with pytest.raises(NotFittedError):
        export_onnx(DistilledClassifier(), tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


def test_pipeline_is_refused_with_its_last_step_named(risk_model, tmp_path):
    pipe = make_pipeline(FunctionTransformer(feature_names_out="one-to-one"), risk_model[0])
    message = r" takes a DistilledClassifier, not a Pipeline.*\(pipe\[-1\], \.\.\.\).*pipe\[:-1\]\.transform\(X\)"
    with pytest.raises(TypeError, match=r"export_onnx" + message):
        export_onnx(pipe, tmp_path / "m.onnx")
    with pytest.raises(TypeError, match=r"onnx_inputs" + message):
        onnx_inputs(pipe, risk_model[1])
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("opset", [11, onnx.defs.onnx_opset_version() + 1, 99, "seventeen", 17.5])
def test_bad_opset_is_refused(risk_model, tmp_path, opset):
    highest = onnx.defs.onnx_opset_version()
    message = rf"opset must be an integer from 13 .* to {highest} .*got {opset!r}.*opset=None"
    with pytest.raises(ValueError, match=message):
        export_onnx(risk_model[0], tmp_path / "m.onnx", opset=opset)
    assert not list(tmp_path.iterdir())


def test_column_named_like_an_output_is_refused(tmp_path):
    X, y = make_risk_frame(300, 2, seed=3)
    X = X.rename(columns={"age": "probabilities"})
    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"'probabilities'.*Rename"):
        export_onnx(model, tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


def test_levels_with_one_text_are_refused_by_name(tmp_path):
    X, y = make_risk_frame(300, 2, seed=3)
    X["branch"] = pd.Series([1 if i % 2 else "1" for i in range(len(X))], dtype=object)
    with pytest.warns(UserWarning, match="mixes text"):
        model = DistilledClassifier(fast_teacher(), fast_tree(), cv=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"Column 'branch'.*1 and '1' read '1'.*Recode"):
        export_onnx(model, tmp_path / "m.onnx")
    X["branch"] = X["branch"].astype(str)
    X["note"] = X["note"].fillna("")  # the text of a missing value
    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"Column 'note'.*'' reads ''.*Recode"):
        export_onnx(model, tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


class RidgeLogitStudent(Student):
    """A real, minimal student: ridge regression of the soft-target log-odds on ``Xn``."""

    def fit(self, Xn, Xc, *, n_embeddings, soft_proba, y, sample_weight, loss, monotone=None):
        p = np.clip(soft_proba[:, 1], 1e-6, 1 - 1e-6)
        design = np.column_stack([Xn, np.ones(len(Xn))])
        gram = design.T @ design + np.eye(design.shape[1])
        coef = np.linalg.solve(gram, design.T @ np.log(p / (1 - p)))
        self.coef_, self.intercept_ = coef[:-1, None].astype(np.float32), np.float32(coef[-1])
        self.history_ = []
        return self

    def decision_logits(self, Xn, Xc):
        return Xn @ self.coef_ + self.intercept_


def test_new_student_needs_its_graph_piece(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = (X["a"] + rng.normal(size=300) > 0).astype(int)
    model = DistilledClassifier(fast_teacher(), RidgeLogitStudent(), cv=2, random_state=0)
    model.fit(X, y)
    with pytest.raises(TypeError, match=r"RidgeLogitStudent.*student_graph\.register"):
        export_onnx(model, tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())  # nothing half-written

    @student_graph.register(RidgeLogitStudent)
    def _(student, graph, xn, xc):
        product = graph.op("MatMul", xn, graph.const(student.coef_, dtype=np.float32))
        return graph.op("Add", product, graph.const(student.intercept_, dtype=np.float32))

    # The class exists only in this module, so the registration cannot affect other tests.
    session = _session(export_onnx(model, tmp_path / "m.onnx"))
    proba, _ = session.run(None, onnx_inputs(model, X))
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=ATOL)


def test_docstring_examples():
    import riskkd.export

    result = doctest.testmod(riskkd.export, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_levels_scored_as_unknown_are_left_out_of_the_graph(tmp_path):
    X, y = make_risk_frame(400, 2, seed=4)
    # max_categories=2: 'home' keeps its 2 most frequent levels; 'parents' and 'other' are
    # scored as "unknown" and must still be, though the graph no longer lists them.
    model = DistilledClassifier(fast_teacher(), fast_tree(), max_categories=2, cv=2, random_state=0)
    model.fit(X, y)
    session = _session(export_onnx(model, tmp_path / "m.onnx"))
    rows = X[X["home"].isin(["parents", "other"])]
    assert len(rows) > 10
    proba, _ = session.run(None, onnx_inputs(model, pd.concat([rows, X.iloc[:50]])))
    np.testing.assert_allclose(
        proba, model.predict_proba(pd.concat([rows, X.iloc[:50]])), rtol=0, atol=ATOL
    )
    graph = onnx.load(tmp_path / "m.onnx").graph
    home = next(n for n in graph.node if n.op_type == "LabelEncoder" and n.input[0] == "home")
    keys = next(a.strings for a in home.attribute if a.name == "keys_strings")
    assert b"parents" not in keys and b"other" not in keys


def test_top_level_name_and_missing_extra(monkeypatch):
    import importlib
    import sys

    import riskkd
    import riskkd.export

    assert riskkd.export_onnx is riskkd.export.export_onnx
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if the extra were not installed
    monkeypatch.delitem(sys.modules, "riskkd.export")
    with pytest.raises(ImportError, match=r'pip install "riskkd\[onnx\]"'):
        importlib.import_module("riskkd.export")
