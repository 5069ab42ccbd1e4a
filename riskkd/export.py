"""Export a fitted student, preprocessing included, as one ONNX graph.

:func:`export_onnx` writes the whole scoring path of a fitted
:class:`riskkd.DistilledClassifier` (the input encoding of :mod:`riskkd.inputs`, the
student preprocessing of :mod:`riskkd.preprocessing` and the student's forward pass) as
a single ONNX model, so it scores with ONNX Runtime (or any ONNX runtime with the
``ai.onnx.ml`` domain) from Java, C#, C++ or a database, without Python.

The graph's interface:

* **Inputs**: one per raw column the model was fitted on, named after the column, of
  shape ``[N, 1]``. A numeric column is ``tensor(double)`` with NaN for missing values
  (double, not float: amounts keep every digit, and the tree student compares them with
  split thresholds in raw units that decide exactly as in Python). A categorical column
  is ``tensor(string)``: the level as ``str(level)``, and :data:`MISSING_CATEGORY` (the
  empty string) for a missing value. A level not seen at fit is scored as "unknown",
  exactly as ``predict_proba`` does. A model fitted on a numpy array has inputs ``x0``,
  ``x1``, ...
* **Outputs**: ``probabilities``, ``tensor(float)`` of shape ``[N, n_classes]`` in the
  order of ``classes_``, and ``label``, shape ``[N]``, the most probable class (int64,
  double, bool or string, following ``classes_``).

:func:`onnx_inputs` turns a DataFrame (or a numpy array) into that input feed.

A scorecard student (:class:`riskkd.students.ScorecardStudent`) is exported as its points
table (:func:`riskkd.scorecard.points_table`) on the raw inputs, which adds exactly the
integer points ``predict_proba`` adds. Every other student contributes its own piece of the
graph through :func:`student_graph`, a
:func:`functools.singledispatch` function keyed on the student class: a new student
registers one function that maps the preprocessed inputs to logits. See
:func:`student_graph` for an example.
"""

from __future__ import annotations

import functools
import numbers
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        'riskkd.export_onnx needs the onnx package: pip install "riskkd[onnx]" '
        "(onnxruntime, in the same extra, scores the exported file)."
    ) from error

from .inputs import _inf_message, _numeric_column
from .persistence import check_distilled
from .preprocessing import MISSING_ROW, StudentPreprocessor
from .students import MLPStudent, ScorecardStudent, Student, TreeStudent

__all__ = ["MISSING_CATEGORY", "OnnxGraph", "export_onnx", "onnx_inputs", "student_graph"]

#: The string a categorical input holds for a missing value.
MISSING_CATEGORY = ""
#: Default ONNX opset: version 17 runs on ONNX Runtime 1.12 and later.
DEFAULT_OPSET = 17
_MIN_OPSET = 13  # Softmax over one axis, Unsqueeze/Squeeze with axes as inputs.
_ML_OPSET = 3  # LabelEncoder with string keys and int64 values.
_OUTPUTS = ("probabilities", "label")


class OnnxGraph:
    """A small builder of ONNX nodes and constants with collision-free names.

    Students' graph pieces (:func:`student_graph`) add nodes through it. Names of
    intermediate tensors start with ``"riskkd/"`` so they never clash with input columns.

    Parameters
    ----------
    opset : int
        The default-domain opset the graph targets.
    preprocessor : StudentPreprocessor, default=None
        The model's fitted preprocessing (:mod:`riskkd.preprocessing`).

    Attributes
    ----------
    raw_numeric : str or None
        The double ``[N, n_numeric]`` raw numeric inputs (NaN for missing values), ``None``
        when there are none. ``xn`` is computed from them with this runtime's ``asinh``,
        which may round a value one float32 step away from ``predict_proba``'s. A piece
        whose output jumps at a threshold on ``xn`` compares these raw values against
        ``preprocessor.raw_bounds(j, thresholds)`` instead, as the tree student does.
    """

    def __init__(self, opset: int, preprocessor: StudentPreprocessor | None = None):
        self.opset = opset
        self.preprocessor = preprocessor
        self.raw_numeric: str | None = None
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, hint: str) -> str:
        """A fresh tensor name."""
        self._count += 1
        return f"riskkd/{hint}_{self._count}"

    def const(self, value: Any, hint: str = "const", dtype: Any = None) -> str:
        """Add a constant tensor (an initializer) and return its name."""
        array = np.asarray(value, dtype=dtype)
        name = self.name(hint)
        if array.dtype.kind in "OUS":
            tensor = helper.make_tensor(
                name, TensorProto.STRING, array.shape, [str(v).encode() for v in array.ravel()]
            )
        else:
            tensor = numpy_helper.from_array(array, name)
        self.initializers.append(tensor)
        return name

    def op(self, op_type: str, *inputs: str, hint: str | None = None, **attrs: Any) -> str:
        """Add one node with a single output and return the output's name."""
        output = self.name(hint or op_type.lower())
        domain = "ai.onnx.ml" if op_type == "LabelEncoder" else ""
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], domain=domain, **attrs))
        return output


# ---------------------------------------------------------------------- students
@functools.singledispatch
def student_graph(student: Student, graph: OnnxGraph, xn: str | None, xc: str | None) -> str:
    """Add the nodes of a student's forward pass; return the name of its logits.

    ``xn`` names the float32 ``[N, n_numeric]`` preprocessed numeric inputs (``None`` when
    there are none), ``xc`` the int64 ``[N, n_categorical]`` embedding-row indices
    (``None`` when there are none), as :meth:`riskkd.students.Student.decision_logits`
    receives them. The logits must have the shape ``decision_logits`` returns: ``[N, 1]``
    (log-odds of the second class) for binary models, ``[N, n_classes]`` otherwise, any
    floating type. A piece that compares numeric inputs with thresholds (as the tree
    student's does) compares the raw values ``graph.raw_numeric`` with raw-unit thresholds
    from ``graph.preprocessor`` instead (see :class:`OnnxGraph`), since ``xn`` can differ
    from the Python preprocessing by one float32 step.

    A new student registers its own piece, e.g. for a linear student with
    ``coef_`` of shape ``(n_numeric, n_logits)`` and ``intercept_`` of shape
    ``(n_logits,)``::

        @student_graph.register(LinearStudent)
        def _(student, graph, xn, xc):
            product = graph.op("MatMul", xn, graph.const(student.coef_, dtype=np.float32))
            return graph.op("Add", product, graph.const(student.intercept_, dtype=np.float32))
    """
    raise TypeError(
        f"export_onnx does not know how to export a {type(student).__name__} student. "
        f"Supported students: {sorted(c.__name__ for c in student_graph.registry if c is not object)}. "
        f"Register its graph with @riskkd.export.student_graph.register({type(student).__name__})."
    )


@student_graph.register(MLPStudent)
def _mlp_graph(student: MLPStudent, graph: OnnxGraph, xn: str | None, xc: str | None) -> str:
    parts = [] if xn is None else [xn]
    if xc is not None:
        embedding = graph.const(student.embedding_, "embedding", np.float32)
        gathered = graph.op("Gather", embedding, xc, axis=0)  # [N, n_cat, d_embedding]
        parts.append(graph.op("Flatten", gathered, axis=1, hint="embedded"))
    h = parts[0] if len(parts) == 1 else graph.op("Concat", *parts, axis=1)
    splits = student.activation_splits_ or [None] * (len(student.coefs_) - 1)
    for i, (W, b) in enumerate(zip(student.coefs_, student.intercepts_)):
        if i:
            h = _hidden_activation(graph, h, splits[i - 1], W.shape[0])
        h = graph.op("MatMul", h, graph.const(W, f"coef_{i}", np.float32))
        h = graph.op("Add", h, graph.const(b, f"intercept_{i}", np.float32))
    return h


def _hidden_activation(graph: OnnxGraph, h: str, split: list[int] | None, width: int) -> str:
    """ReLU, or a monotone MLP's convex / concave / saturated units (``activation_splits_``)."""
    if split is None:
        return graph.op("Relu", h)
    convex, concave = split
    unit = np.arange(width)
    zero = graph.const(np.float32(0.0))
    saturated = graph.op("Clip", h, graph.const(np.float32(-1.0)), graph.const(np.float32(1.0)))
    h_concave = graph.op("Min", h, zero)
    is_concave = graph.const((unit >= convex) & (unit < convex + concave), "concave_units")
    h_rest = graph.op("Where", is_concave, h_concave, saturated)
    return graph.op(
        "Where", graph.const(unit < convex, "convex_units"), graph.op("Relu", h), h_rest
    )


@student_graph.register(TreeStudent)
def _tree_graph(student: TreeStudent, graph: OnnxGraph, xn: str | None, xc: str | None) -> str:
    parts = [] if xn is None else [xn]
    if xc is not None:
        scores = graph.const(student.level_scores_, "level_scores", np.float32)
        parts.append(graph.op("Gather", scores, xc, axis=0))
    X = parts[0] if len(parts) == 1 else graph.op("Concat", *parts, axis=1)
    X = graph.op("Cast", X, to=TensorProto.DOUBLE)
    leaf = _tree_leaf(student, graph, X, xc)
    logits = graph.const(student.leaf_logits_, "leaf_logits", np.float64)
    logits = graph.op("Gather", logits, leaf, axis=0, hint="logits")
    coef = getattr(student, "leaf_coef_", None)
    if coef is None:
        return logits
    # Linear leaves: logits += X @ leaf_coef_[leaf_slot_[leaf]], row by row in double.
    slot = graph.op("Gather", graph.const(student.leaf_slot_, "leaf_slot", np.int64), leaf, axis=0)
    coef = graph.op("Gather", graph.const(coef, "leaf_coef", np.float64), slot, axis=0)
    axis = graph.const([1], dtype=np.int64)
    rows = graph.op("Unsqueeze", X, axis)
    linear = graph.op("Squeeze", graph.op("MatMul", rows, coef), axis)  # [N,1,d]@[N,d,k]
    return graph.op("Add", logits, linear, hint="logits")


def _tree_leaf(student: TreeStudent, graph: OnnxGraph, X: str, xc: str | None) -> str:
    """The ``[N]`` int64 leaf of every row of the double inputs ``X``, as ``TreeStudent.apply``."""
    zero = helper.make_tensor("zero", TensorProto.INT64, [1], [0])
    n_rows = graph.op("Slice", graph.op("Shape", X), *(graph.const([k]) for k in (0, 1)))
    if not student.depth_:  # the root is the only leaf
        return graph.op("ConstantOfShape", n_rows, value=zero, hint="leaf")
    # A split on a scaled numeric column compares the raw value against the largest raw
    # value the preprocessing puts at or below the threshold: it decides exactly as
    # predict_proba, whose float32 arcsinh can round xn one step away from this graph's. A
    # missing value is compared as the column's centre, which is scaled to 0, the imputed xn.
    prep, threshold = graph.preprocessor, student.threshold_.copy()
    n_numeric = prep.center_.size
    for j in range(n_numeric):
        nodes = np.flatnonzero((student.feature_ == j) & np.isfinite(threshold))
        threshold[nodes] = prep.raw_bounds(j, threshold[nodes])
    design = X
    if n_numeric:
        raw = graph.raw_numeric
        center = graph.const(prep.center_, "center", np.float64)
        design = graph.op("Where", graph.op("IsNaN", raw), center, raw)
        n_columns = prep.n_numeric_out + (0 if xc is None else prep.category_sizes_.size)
        if n_columns > n_numeric:  # missing indicators and categorical level scores
            ends = (graph.const([k], dtype=np.int64) for k in (n_numeric, n_columns, 1))
            design = graph.op("Concat", design, graph.op("Slice", X, *ends), axis=1)
    # node: [N, 1] int64 zeros, then one step down the tree per level, as TreeStudent.apply:
    # compare in double (leaves: threshold +inf, children = itself).
    shape = graph.op("Concat", n_rows, graph.const([1], dtype=np.int64), axis=0)
    node = graph.op("ConstantOfShape", shape, value=zero)
    feature = graph.const(student.feature_, "feature", np.int64)
    threshold = graph.const(threshold, "threshold", np.float64)
    children = graph.const(student.children_.ravel(), "children", np.int64)
    two = graph.const(2, dtype=np.int64)
    for _ in range(student.depth_):
        column = graph.op("Gather", feature, node, axis=0)
        value = graph.op("GatherElements", design, column, axis=1)
        right = graph.op("Greater", value, graph.op("Gather", threshold, node, axis=0))
        index = graph.op("Add", graph.op("Mul", node, two), graph.op("Cast", right, to=7))
        node = graph.op("Gather", children, index, axis=0, hint="node")
    return graph.op("Squeeze", node, graph.const([1], dtype=np.int64), hint="leaf")


# ---------------------------------------------------------------------- preprocessing
def _numeric_graph(model: Any, graph: OnnxGraph) -> str | None:
    """``Xn`` of :meth:`StudentPreprocessor.transform` from the double numeric inputs."""
    schema, prep = model.input_schema_, model.preprocessor_
    names = schema.numeric_names
    if not names:
        return None
    num = names[0] if len(names) == 1 else graph.op("Concat", *names, axis=1)
    graph.raw_numeric = num
    z = graph.op("Sub", num, graph.const(prep.center_, "center", np.float64))
    z = graph.op("Div", z, graph.const(prep.scale_, "scale", np.float64))
    missing = graph.op("IsNaN", z)  # before Clip, whose NaN handling ONNX leaves open
    bound = float(np.finfo(np.float32).max)  # as StudentPreprocessor._scale bounds them
    z = graph.op("Clip", z, graph.const(-bound), graph.const(bound))
    # arcsinh(z) = sign(z) log(|z| + sqrt(z^2 + 1)), in double (ONNX Runtime's Asinh is
    # float-only), then rounded to float32: a value may differ from predict_proba's float32
    # arcsinh by one float32 step (see OnnxGraph.raw_numeric for thresholds on them).
    a = graph.op("Abs", z)
    root = graph.op("Sqrt", graph.op("Add", graph.op("Mul", a, a), graph.const(1.0)))
    asinh = graph.op("Mul", graph.op("Sign", z), graph.op("Log", graph.op("Add", a, root)))
    imputed = graph.op("Where", missing, graph.const(0.0), asinh)
    xn = graph.op("Cast", imputed, to=TensorProto.FLOAT, hint="scaled")
    if prep.indicator_columns_.size:
        flags = graph.op("Cast", missing, to=TensorProto.FLOAT)
        columns = graph.const(prep.indicator_columns_, "indicator_columns", np.int64)
        indicators = graph.op("Gather", flags, columns, axis=1)
        xn = graph.op("Concat", xn, indicators, axis=1, hint="xn")
    return xn


def _categorical_graph(model: Any, graph: OnnxGraph) -> str | None:
    """``Xc`` of :meth:`StudentPreprocessor.transform` from the string inputs."""
    schema, prep = model.input_schema_, model.preprocessor_
    names = schema.categorical_names
    if not names:
        return None
    columns = []
    for j, name in enumerate(names):
        keys, values = _level_table(name, schema.levels[name], prep, j)
        unknown = int(prep.lut_[prep.lut_offsets_[j]])  # the row of code UNSEEN (-2)
        columns.append(
            graph.op(
                "LabelEncoder",
                name,
                keys_strings=keys,
                values_int64s=values,
                default_int64=unknown,
                hint="codes",
            )
        )
    return columns[0] if len(columns) == 1 else graph.op("Concat", *columns, axis=1, hint="xc")


def _level_table(name: str, levels: list[Any], prep: Any, j: int) -> tuple[list[str], list[int]]:
    """String keys and embedding rows of one categorical column (missing included).

    Levels the student scores as "unknown" (rare ones, those beyond ``max_categories``)
    are left out: the LabelEncoder's default maps them, like unseen ones, to that row. An
    identifier column with thousands of levels thus costs only its embedded levels.
    """
    lut = prep.lut_[prep.lut_offsets_[j] :]
    keys = [str(level) for level in levels]
    by_key: dict[str, list[Any]] = {}
    for key, level in zip(keys, levels):
        by_key.setdefault(key, []).append(level)
    clashes = [
        f"{' and '.join(map(repr, group))} read{'s' if len(group) == 1 else ''} {key!r}"
        for key, group in by_key.items()
        if len(group) > 1 or key == MISSING_CATEGORY
    ]
    if clashes:
        raise ValueError(
            f"Column {name!r} cannot be exported to ONNX: its input holds each level as "
            f"str(level), and {MISSING_CATEGORY!r} for a missing value, so the levels' "
            f"strings must be distinct and non-empty; {'; '.join(clashes)}. Recode the "
            "column's levels to distinct non-empty strings and refit."
        )
    # lut[code + 2]: -2 (unseen) at 0, -1 (missing) at 1, level k at k + 2.
    unknown = int(lut[0])
    kept = [(key, int(lut[k + 2])) for k, key in enumerate(keys) if lut[k + 2] != unknown]
    return [MISSING_CATEGORY, *(k for k, _ in kept)], [int(lut[MISSING_ROW]), *(v for _, v in kept)]


# ---------------------------------------------------------------------- scorecard
def _scorecard_graph(model: Any, graph: OnnxGraph) -> str:
    """Logits of a scorecard student from the raw inputs, by its points table.

    A scorecard's numeric bin edges sit a few float32 steps above observed values; another
    runtime's float32 preprocessing (its own ``asinh``) need not compute the same steps.
    The exact raw-unit bounds of the numeric bins of :func:`riskkd.scorecard.points_table`
    avoid the question: each numeric column is compared in double against them, and each
    level maps to its points directly (level keys, not the table's labels, which a level
    may share), so ONNX Runtime adds the same integer points as ``predict_proba``.
    """
    from .scorecard import _numeric_rows

    student, schema, prep = model.student_, model.input_schema_, model.preprocessor_
    total = graph.const(np.asarray([student.base_points_], dtype=np.int64), "base")
    for name in schema.names:
        if name in schema.numeric_names:
            # The bins from -inf to +inf, then the missing bin.
            *binned, missing = _numeric_rows(model, name, schema.numeric_names.index(name))
            points = graph.const([row["points"] for row in binned], "points", np.int64)
            bounds = np.asarray([row["upper"] for row in binned[:-1]])  # the last reaches +inf
            if bounds.size:
                above = graph.op("Greater", name, graph.const(bounds[None, :], "bounds"))
                above = graph.op("Cast", above, to=TensorProto.INT64)
                bin_ = graph.op("ReduceSum", above, graph.const([1]), keepdims=0)
            else:
                bin_ = graph.const(np.zeros(1, dtype=np.int64))
            value = graph.op("Gather", points, bin_, axis=0)
            nan = graph.op("Squeeze", graph.op("IsNaN", name), graph.const([1]))
            value = graph.op("Where", nan, graph.const(np.int64(missing["points"])), value)
        else:
            # Every level the student embeds, then rare, unseen and missing values, as
            # predict_proba maps them (the lookup of riskkd.preprocessing).
            j = schema.categorical_names.index(name)
            keys, embedding_rows = _level_table(name, schema.levels[name], prep, j)
            first = int(prep.lut_[prep.lut_offsets_[j]])  # the column's "unknown" row
            value = graph.op(
                "LabelEncoder",
                name,
                keys_strings=keys,
                values_int64s=[int(student.category_points_[j, r]) for r in embedding_rows],
                default_int64=int(student.category_points_[j, first]),
            )
            value = graph.op("Squeeze", value, graph.const([1]))
        total = graph.op("Add", total, value, hint="points")
    # points_to_logits: (offset - points) / factor, in double.
    points = graph.op("Cast", total, to=TensorProto.DOUBLE)
    logits = graph.op("Sub", graph.const(np.float64(student.offset)), points)
    logits = graph.op("Div", logits, graph.const(np.float64(student.factor)))
    return graph.op("Unsqueeze", logits, graph.const([1]), hint="logits")


# ---------------------------------------------------------------------- model
def _proba_graph(graph: OnnxGraph, logits: str, n_classes: int) -> str:
    logits = graph.op("Cast", logits, to=TensorProto.FLOAT)
    if n_classes > 2:
        return graph.op("Softmax", logits, axis=1, hint="probabilities")
    positive = graph.op("Sigmoid", logits)
    negative = graph.op("Sub", graph.const(np.float32(1.0)), positive)
    return graph.op("Concat", negative, positive, axis=1, hint="probabilities")


def _classes_tensor(classes: np.ndarray) -> tuple[np.ndarray, int]:
    kind = classes.dtype.kind
    if kind in "iu":
        return classes.astype(np.int64), TensorProto.INT64
    if kind == "f":
        return classes.astype(np.float64), TensorProto.DOUBLE
    if kind == "b":
        return classes.astype(bool), TensorProto.BOOL
    return np.asarray([str(c) for c in classes], dtype=object), TensorProto.STRING


def _build(model: Any, opset: int) -> onnx.ModelProto:
    schema = model.input_schema_
    clash = [name for name in schema.names if name in _OUTPUTS or name.startswith("riskkd/")]
    if clash:
        raise ValueError(
            f"Column(s) {clash} cannot be ONNX input names: the outputs are named {_OUTPUTS} "
            "and intermediate tensors start with 'riskkd/'. Rename the column(s) and refit."
        )
    graph = OnnxGraph(opset, model.preprocessor_)
    if isinstance(model.student_, ScorecardStudent):
        logits = _scorecard_graph(model, graph)
    else:
        xn = _numeric_graph(model, graph)
        xc = _categorical_graph(model, graph)
        logits = student_graph(model.student_, graph, xn, xc)
    proba = _proba_graph(graph, logits, len(model.classes_))
    classes, label_type = _classes_tensor(model.classes_)
    index = graph.op("ArgMax", proba, axis=1, keepdims=0)
    graph.nodes.append(
        helper.make_node("Gather", [graph.const(classes, "classes"), index], ["label"], axis=0)
    )
    graph.nodes.append(helper.make_node("Identity", [proba], ["probabilities"]))

    inputs = [
        helper.make_tensor_value_info(
            name,
            TensorProto.STRING if kind == "categorical" else TensorProto.DOUBLE,
            ["N", 1],
        )
        for name, kind in zip(schema.names, schema.kinds)
    ]
    outputs = [
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(classes)]),
        helper.make_tensor_value_info("label", label_type, ["N"]),
    ]
    onnx_graph = helper.make_graph(
        graph.nodes, "riskkd_student", inputs, outputs, initializer=graph.initializers
    )
    onnx_model = helper.make_model(
        onnx_graph,
        opset_imports=[
            helper.make_opsetid("", opset),
            helper.make_opsetid("ai.onnx.ml", _ML_OPSET),
        ],
        producer_name="riskkd",
        doc_string=(
            f"riskkd {type(model.student_).__name__} with its preprocessing. Inputs: one per "
            f"column, [N, 1], double (NaN = missing) or string ({MISSING_CATEGORY!r} = missing). "
            f"Outputs: probabilities [N, {len(classes)}] for classes {list(map(str, classes))}, label [N]."
        ),
    )
    # IR version 8 is read by ONNX Runtime 1.10 and later; newer IRs add nothing used here.
    onnx_model.ir_version = min(onnx_model.ir_version, 8)
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model


def _check_opset(opset: Any) -> int:
    """``opset`` as an int, ``DEFAULT_OPSET`` for None, or an error saying what is accepted."""
    if opset is None:
        return DEFAULT_OPSET
    highest = onnx.defs.onnx_opset_version()
    integer = isinstance(opset, numbers.Integral) and not isinstance(opset, bool)
    if not (integer and _MIN_OPSET <= opset <= highest):
        raise ValueError(
            f"opset must be an integer from {_MIN_OPSET} (Softmax over one axis and Squeeze "
            f"with axes as input) to {highest} (the newest the installed onnx "
            f"{onnx.__version__} knows), got {opset!r}. Pass opset=None for {DEFAULT_OPSET}."
        )
    return int(opset)


def export_onnx(model: Any, path: str | os.PathLike, *, opset: int | None = None) -> Path:
    """Write a fitted model's student, preprocessing included, as one ONNX graph.

    Parameters
    ----------
    model : DistilledClassifier
        A fitted model whose student has a graph piece (:func:`student_graph`):
        :class:`~riskkd.students.MLPStudent` and :class:`~riskkd.students.TreeStudent`.
    path : str or path-like
        The ``.onnx`` file to write. It is written whole or not at all.
    opset : int, default=None
        The ONNX opset (``ai.onnx`` domain), from 13 to the newest the installed onnx
        package knows (``onnx.defs.onnx_opset_version()``). ``None`` is 17.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``model`` is not fitted.
    TypeError
        If the student has no registered graph piece.
    ValueError
        If ``opset`` is not an integer in that range.

    Notes
    -----
    The inputs and outputs are described in :mod:`riskkd.export`; build the input feed
    with :func:`onnx_inputs`. Probabilities agree with ``model.predict_proba`` to about
    1e-6 (float32 arithmetic in both).

    Examples
    --------
    >>> import onnxruntime as ort
    >>> from sklearn.datasets import make_classification
    >>> from riskkd import DistilledClassifier
    >>> from riskkd.export import export_onnx, onnx_inputs
    >>> from riskkd.teachers import LightGBMTeacher
    >>> X, y = make_classification(n_samples=300, random_state=0)
    >>> teacher = LightGBMTeacher(n_estimators=20, n_jobs=1)
    >>> model = DistilledClassifier(teacher, "tree", cv=2, random_state=0).fit(X, y)
    >>> import tempfile, os
    >>> path = export_onnx(model, os.path.join(tempfile.mkdtemp(), "model.onnx"))
    >>> session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    >>> proba, label = session.run(None, onnx_inputs(model, X[:3]))
    >>> bool(abs(proba - model.predict_proba(X[:3])).max() < 1e-5)
    True
    """
    check_distilled(model, "export_onnx")
    onnx_model = _build(model, _check_opset(opset))
    path = Path(path)
    # A plain exclusive create (not tempfile's private 0600): usual file permissions.
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "xb") as file:
            file.write(onnx_model.SerializeToString())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def onnx_inputs(model: Any, X: Any) -> dict[str, np.ndarray]:
    """The input feed of an exported model for ``X``: ``{column: array of shape (n, 1)}``.

    Numeric columns become float64 with NaN for missing values; categorical columns
    become object arrays of ``str(level)`` of the level ``predict_proba`` matches (``1.0``
    in an integer-level column is level ``1``, fed as ``"1"``), with
    :data:`MISSING_CATEGORY` for missing values and a string no level has for unseen ones.
    Columns are matched by name as in ``predict_proba`` (any order, extra columns ignored,
    a missing column is an error). A numeric value of +-inf is an error too, as in
    ``predict_proba``.

    Parameters
    ----------
    model : DistilledClassifier
        The fitted model that was exported.
    X : {array-like, DataFrame} of shape (n_samples, n_features)

    Returns
    -------
    feed : dict of str to ndarray
        Pass it to ``onnxruntime.InferenceSession.run(None, feed)``.

    Examples
    --------
    >>> import pandas as pd
    >>> from riskkd import DistilledClassifier
    >>> from riskkd.export import onnx_inputs
    >>> from riskkd.teachers import LightGBMTeacher
    >>> X = pd.DataFrame({"amount": [10.0, None, 3.0, 7.0] * 50, "channel": ["web", "pos"] * 100})
    >>> y = [0, 1, 1, 0] * 50
    >>> teacher = LightGBMTeacher(n_estimators=20, n_jobs=1)
    >>> model = DistilledClassifier(teacher, "tree", cv=2, random_state=0).fit(X, y)
    >>> feed = onnx_inputs(model, X.head(2).assign(channel=["web", None]))
    >>> feed["amount"].ravel().tolist(), feed["channel"].ravel().tolist()
    ([10.0, nan], ['web', ''])
    """
    check_distilled(model, "onnx_inputs")
    schema = model.input_schema_
    n_rows, columns = schema._columns(X)
    feed: dict[str, np.ndarray] = {}
    for name, values in columns:
        if schema._slot[name][0]:
            # Through the level lookup of predict_proba: a float 1.0 (an int column with a
            # NaN) is level 1 and is fed as "1"; an unseen level as a key the graph lacks.
            keys = [str(level) for level in schema.levels[name]]
            unseen = "\x00unseen"
            while unseen in keys:
                unseen += "\x00"
            # Codes index from the end: MISSING (-1) and UNSEEN (-2).
            text = np.asarray([*keys, unseen, MISSING_CATEGORY], dtype=object)
            codes = np.asarray(schema._codes(name, values, n_rows), dtype=np.intp)
            feed[name] = text[codes].reshape(n_rows, 1)
        else:
            column = np.ascontiguousarray(_numeric_column(name, values))
            if np.isinf(column).any():  # refused as predict_proba refuses it
                raise ValueError(_inf_message(name, column))
            feed[name] = column.reshape(n_rows, 1)
    return {name: feed[name] for name in schema.names}
