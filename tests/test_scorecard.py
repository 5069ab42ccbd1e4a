"""The scorecard student and its points table (riskkd.students.ScorecardStudent, riskkd.scorecard)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import riskkd
from riskkd import DistilledClassifier
from riskkd.losses import LOSSES
from riskkd.scorecard import MISSING_LABEL, OTHER_LEVELS, points_table, score_points
from riskkd.students import STUDENTS, ScorecardStudent

from .conftest import fast_teacher, fast_tree, make_risk_frame


def fit_scorecard(X, y, **params):
    return DistilledClassifier(
        fast_teacher(), ScorecardStudent(**params), cv=2, n_jobs=1, random_state=0
    ).fit(X, y)


@pytest.fixture(scope="module")
def data():
    return make_risk_frame(800, seed=1)


@pytest.fixture(scope="module")
def model(data):
    return fit_scorecard(*data)


@pytest.fixture(scope="module")
def new_rows(data):
    """Rows the model never saw, with missing values everywhere and unseen levels."""
    X, _ = make_risk_frame(300, seed=2)
    X = X.copy()
    X.loc[::7, "age"] = np.nan  # no missing age at fit: scored in the imputed (median) bin
    X.loc[::5, "home"] = None
    X.loc[3::11, "home"] = "boat"  # a level never seen at fit
    X.loc[::13, "note"] = None
    return X


def table_score(table: pd.DataFrame, X: pd.DataFrame) -> np.ndarray:
    """Score raw rows with nothing but the points table, as a person with the table would."""
    total = np.full(len(X), table.attrs["base_points"], dtype=np.int64)
    assert table.loc[table["kind"] == "base", "points"].item() == table.attrs["base_points"]
    for name, rows in table[table["kind"] != "base"].groupby("feature", sort=False):
        values = X[name]
        if rows["kind"].iloc[0] == "numeric":
            x = values.to_numpy(dtype=float)
            points = np.full(len(X), rows.loc[rows["bin"] == MISSING_LABEL, "points"].item())
            for _, row in rows[rows["bin"] != MISSING_LABEL].iterrows():
                inside = (x > row["lower"]) & (x <= row["upper"])
                points[inside] = row["points"]
        else:
            by_level = {
                level: p for levels, p in zip(rows["levels"], rows["points"]) for level in levels
            }
            points = np.array(
                [
                    by_level[MISSING_LABEL]
                    if pd.isna(v)
                    else by_level.get(v, by_level[OTHER_LEVELS])
                    for v in values.astype(object)
                ]
            )
        total += points
    return total


def test_registry_name_builds_a_scorecard(data):
    X, y = data
    model = DistilledClassifier(fast_teacher(), "scorecard", cv=2, n_jobs=1, random_state=0)
    model.fit(X, y)
    assert STUDENTS["scorecard"] is ScorecardStudent
    assert isinstance(model.student_, ScorecardStudent)
    assert model.predict_proba(X).shape == (len(X), 2)


def test_points_reproduce_predictions_bit_for_bit(model, data, new_rows):
    for X in (data[0], new_rows):
        points = score_points(model, X)
        assert points.dtype == np.int64
        logits = model.student_.points_to_logits(points)
        np.testing.assert_array_equal(model.decision_function(X), logits)
        np.testing.assert_array_equal(model.predict_proba(X)[:, 1], expit(logits))


def test_table_alone_reproduces_the_points(model, data, new_rows):
    table = points_table(model)
    for X in (data[0], new_rows):
        np.testing.assert_array_equal(table_score(table, X), score_points(model, X))


def test_raw_bounds_are_exact_at_the_edges(model, data):
    """A raw value equal to a bin's upper bound is in that bin; the next float is not."""
    table = points_table(model)
    X = data[0]
    for name in ("income", "age"):
        uppers = table.loc[(table["feature"] == name) & np.isfinite(table["upper"]), "upper"]
        probes = np.concatenate([uppers, np.nextafter(uppers, np.inf)])
        rows = X.iloc[np.zeros(len(probes), dtype=int)].reset_index(drop=True)
        rows[name] = probes
        np.testing.assert_array_equal(table_score(table, rows), score_points(model, rows))
        points = table.loc[table["feature"] == name, "points"].to_numpy()
        if len(uppers) and len(set(points[:-1])) > 1:
            # At least one edge separates bins with different points: the probes differ.
            assert (score_points(model, rows) != score_points(model, rows.iloc[:1])[0]).any()


def test_bins_survive_another_cpus_float32_arcsinh(model, data):
    """Training values are not on the edges: a few ulps of difference in the scaled inputs
    (numpy's float32 arcsinh differs by one between its SIMD and generic loops, so between
    CPUs) leave every row's points unchanged (with edges at the values, they did not)."""
    Xn, Xc = model.preprocessor_.transform(model.input_schema_.encode(data[0]))
    points = model.student_.total_points(Xn, Xc)
    for direction in (np.inf, -np.inf):
        shifted = Xn
        for _ in range(4):  # 4 ulps: beyond the 1-ulp difference seen between numpy loops
            shifted = np.nextafter(shifted, np.float32(direction))
        np.testing.assert_array_equal(model.student_.total_points(shifted, Xc), points)


def test_bins_are_contiguous_and_cover_the_line_plus_missing(model):
    table = points_table(model)
    assert list(table.columns) == ["feature", "kind", "bin", "lower", "upper", "levels", "points"]
    assert table["kind"].iloc[0] == "base"
    assert list(table["feature"].unique()[1:]) == list(model.input_schema_.names)
    for name in model.input_schema_.numeric_names:
        rows = table[(table["feature"] == name) & (table["bin"] != MISSING_LABEL)]
        assert (table[table["feature"] == name]["bin"] == MISSING_LABEL).sum() == 1
        lower, upper = rows["lower"].to_numpy(), rows["upper"].to_numpy()
        assert lower[0] == -np.inf and upper[-1] == np.inf
        np.testing.assert_array_equal(lower[1:], upper[:-1])
        assert (upper > lower).all()
    for name in model.input_schema_.categorical_names:
        members = [v for levels in table.loc[table["feature"] == name, "levels"] for v in levels]
        expected = model.input_schema_.levels[name]
        rare = [v for v in expected if v not in members]
        assert sorted(members, key=str) == sorted(
            [v for v in expected if v not in rare] + [OTHER_LEVELS, MISSING_LABEL], key=str
        )


def test_every_training_value_reads_in_the_bin_it_scores_in():
    """Labels are the roundest spelling of each bin's largest training value, not a round
    number below it: with amounts in the tens of millions a label 17 float32 steps under
    the edge put 19835501 in a bin labelled (12044710, 19835500] (a reviewer's case)."""
    rng = np.random.default_rng(1)
    amount = np.round(rng.lognormal(16, 1.2, 400))
    X = pd.DataFrame({"amount": amount})
    y = pd.Series(((np.log(amount) - 16) + rng.normal(0, 1, 400) > 0).astype(int))
    model = DistilledClassifier(
        fast_teacher(n_estimators=20), "scorecard", cv=2, n_jobs=1, random_state=0
    ).fit(X, y)
    rows = points_table(model).query("feature == 'amount' and bin != @MISSING_LABEL")
    uppers = [float(label.split(", ")[1].rstrip("]")) for label in rows["bin"]]
    bins = np.searchsorted(rows["upper"].to_numpy(), amount, side="left")  # the scored bin
    labelled = np.searchsorted(np.asarray(uppers), amount, side="left")  # the label's bin
    np.testing.assert_array_equal(labelled, bins)


@pytest.mark.parametrize("column", ["age", "records"])  # records: a 0/1 flag, median 0
def test_labels_of_an_integer_column_read_as_integers(model, column):
    table = points_table(model)
    labels = table.loc[(table["feature"] == column) & (table["bin"] != MISSING_LABEL), "bin"]
    assert len(labels) > 1
    assert labels.str.fullmatch(r"\((-inf|\d+), (\d+|inf)\]").all(), labels.tolist()


def test_levels_spelled_like_the_table_markers_are_refused():
    """A real level "(missing)" (blanks filled upstream) or "(other)" would share the
    table's marker: a person scoring with the table could not tell it from a missing or
    rare value (the probe's table scored such rows 2 points off)."""
    X, y = make_risk_frame(600, seed=6)
    X["home"] = X["home"].astype(object).where(X.index % 7 != 0, MISSING_LABEL)
    model = fit_scorecard(X, y)
    with pytest.raises(ValueError, match=r"Column 'home' has the level\(s\) \['\(missing\)'\]"):
        points_table(model)
    X["home"] = X["home"].replace(MISSING_LABEL, OTHER_LEVELS)
    model = fit_scorecard(X, y)
    with pytest.raises(ValueError, match=r"\['\(other\)'\].*Recode"):
        points_table(model)


def test_scaling_pdo_and_base_odds(model):
    student = model.student_
    odds = np.exp(-student.points_to_logits(np.array([600, 620, 640])))
    # float64 arithmetic on three numbers: 1e-12 relative is far above its rounding.
    np.testing.assert_allclose(odds, [50.0, 100.0, 200.0], rtol=1e-12)


def test_other_scaling_is_refused_and_own_scaling_accepted(model):
    assert points_table(model, pdo=20.0, base_score=600, base_odds=50).equals(points_table(model))
    with pytest.raises(ValueError, match=r"pdo=40.0 differs from the scorecard's pdo=20.0"):
        points_table(model, pdo=40.0)


def test_custom_scaling(data):
    model = fit_scorecard(*data, pdo=40.0, base_score=500.0, base_odds=10.0)
    table = points_table(model)
    assert table.attrs["pdo"] == 40.0
    np.testing.assert_array_equal(table_score(table, data[0]), score_points(model, data[0]))
    odds = np.exp(-model.student_.points_to_logits(np.array([500, 540])))
    np.testing.assert_allclose(odds, [10.0, 20.0], rtol=1e-12)  # rounding only, as above


def test_non_scorecard_model_is_refused(data):
    X, y = data
    model = DistilledClassifier(fast_teacher(), fast_tree(), cv=2, n_jobs=1, random_state=0)
    model.fit(X, y)
    with pytest.raises(TypeError, match="student is a TreeStudent, not a ScorecardStudent"):
        points_table(model)


def test_pipeline_is_refused_with_its_last_step_named(model, data):
    pipe = make_pipeline(FunctionTransformer(feature_names_out="one-to-one"), model)
    message = r" takes a DistilledClassifier, not a Pipeline.*\(pipe\[-1\], \.\.\.\).*pipe\[:-1\]\.transform\(X\)"
    with pytest.raises(TypeError, match=r"points_table" + message):
        points_table(pipe)
    with pytest.raises(TypeError, match=r"score_points" + message):
        score_points(pipe, data[0])


def _student_inputs(model, X):
    return model.preprocessor_.transform(model.input_schema_.encode(X))


def _refit(model, X, y, **fit_params):
    Xn, Xc = _student_inputs(model, X)
    return ScorecardStudent(random_state=0).fit(
        Xn,
        Xc,
        n_embeddings=model.preprocessor_.n_embeddings,
        soft_proba=model.soft_targets_,
        y=np.searchsorted(model.classes_, np.asarray(y)),
        sample_weight=np.ones(len(y)),
        loss=LOSSES["kl"](alpha=1.0, temperature=1.0),
        **fit_params,
    )


def _grid_logits(student, Xn, Xc, column, grid):
    """Logits of 40 rows with ``column`` set to every grid value: shape (40, len(grid))."""
    rows = np.repeat(Xn[:40], len(grid), axis=0)
    rows[:, column] = np.tile(grid, 40)
    return student.decision_logits(rows, np.repeat(Xc[:40], len(grid), axis=0)).reshape(40, -1)


def test_monotone_constraints_hold_on_a_grid(model, data):
    X, y = data
    Xn, Xc = _student_inputs(model, X)
    names = model.input_schema_.numeric_names
    age, income = names.index("age"), names.index("income")
    grid = np.linspace(Xn.min(axis=0) - 1, Xn.max(axis=0) + 1, 200, dtype=np.float32)
    # Risk falls with age in the data; constraining it to rise forces the constraint to act.
    free = _refit(model, X, y)
    assert (np.diff(_grid_logits(free, Xn, Xc, age, grid[:, age]), axis=1) < 0).any()
    monotone = np.zeros(Xn.shape[1], dtype=np.int8)
    monotone[age], monotone[income] = 1, -1
    constrained = _refit(model, X, y, monotone=monotone)
    assert (np.diff(_grid_logits(constrained, Xn, Xc, age, grid[:, age]), axis=1) >= 0).all()
    assert (np.diff(_grid_logits(constrained, Xn, Xc, income, grid[:, income]), axis=1) <= 0).all()


def test_monotone_constraints_of_distilled_classifier_on_a_raw_grid(data):
    """Through DistilledClassifier(monotone_constraints=...): raw grids over each column."""
    X, y = data
    model = DistilledClassifier(
        fast_teacher(),
        "scorecard",
        monotone_constraints={"age": 1, "income": -1},
        cv=2,
        n_jobs=1,
        random_state=0,
    ).fit(X, y)
    base = X.iloc[np.repeat(np.arange(30), 300)].reset_index(drop=True)
    for name, sign in (("age", 1), ("income", -1)):
        low, high = np.nanmin(X[name]), np.nanmax(X[name])
        grid = base.copy()
        grid[name] = np.tile(np.linspace(low - (high - low), high + (high - low), 300), 30)
        logits = model.decision_function(grid).reshape(30, 300)
        assert (sign * np.diff(logits, axis=1) >= 0).all(), name
    # The constrained age bins rise (the data alone makes risk fall with age).
    table = points_table(model)
    age = table[(table["feature"] == "age") & (table["bin"] != MISSING_LABEL)]
    assert (np.diff(age["points"]) <= 0).all()


def test_monotone_shape_is_checked(model, data):
    with pytest.raises(ValueError, match="monotone has shape"):
        _refit(model, *data, monotone=np.zeros(1, dtype=np.int8))


def test_reproducible_for_a_seed(model, data):
    again = fit_scorecard(*data)
    assert points_table(again).equals(points_table(model))
    np.testing.assert_array_equal(again.predict_proba(data[0]), model.predict_proba(data[0]))


def test_alpha_zero_fits_hard_labels_only(model, data):
    X, y = data
    student = ScorecardStudent()
    labels = np.searchsorted(model.classes_, np.asarray(y))
    target, weight = student.targets(
        model.soft_targets_, labels, np.ones(len(y)), LOSSES["kl"](alpha=0.0, temperature=1.0)
    )
    np.testing.assert_array_equal(target, labels)
    np.testing.assert_allclose(weight.sum(), 1.0, rtol=1e-12)  # a sum of 800 floats
    zero = DistilledClassifier(fast_teacher(), "scorecard", alpha=0.0, cv=2, random_state=0)
    assert not points_table(zero.fit(X, y)).equals(points_table(model))


def test_multiclass_is_refused_before_the_teacher_is_fitted():
    X, y = make_risk_frame(300, n_classes=3, seed=3)
    model = DistilledClassifier(fast_teacher(), "scorecard", cv=2, random_state=0)
    with pytest.raises(ValueError, match=r"ScorecardStudent scores binary targets only.*3 classes"):
        model.fit(X, y)
    assert not hasattr(model, "teacher_")  # refused at once, not after cross-fitting


@pytest.mark.parametrize(
    "params, name",
    [
        ({"max_bins": 1}, "max_bins"),
        ({"min_bin_fraction": 0.0}, "min_bin_fraction"),
        ({"min_bin_fraction": 0.6}, "min_bin_fraction"),
        ({"l2": -1.0}, "l2"),
        ({"pdo": 0.0}, "pdo"),
        ({"base_odds": -2.0}, "base_odds"),
        ({"max_iter": 0}, "max_iter"),
    ],
)
def test_invalid_parameters_are_refused(data, params, name):
    with pytest.raises(ValueError, match=f"The '{name}' parameter of ScorecardStudent must be"):
        fit_scorecard(*data, **params)


def test_save_load_bit_for_bit(tmp_path, model, data, new_rows):
    loaded = riskkd.load(riskkd.save(model, tmp_path / "scorecard"))
    assert isinstance(loaded.student_, ScorecardStudent)
    for X in (data[0], new_rows):
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
        np.testing.assert_array_equal(score_points(loaded, X), score_points(model, X))
    assert points_table(loaded).equals(points_table(model))


def test_numpy_input(data):
    X, y = data
    array = X[["income", "age"]].to_numpy()
    model = fit_scorecard(array, y)
    table = points_table(model)
    assert set(table["feature"]) == {"(base)", "x0", "x1"}
    frame = pd.DataFrame(array, columns=["x0", "x1"])
    np.testing.assert_array_equal(table_score(table, frame), score_points(model, array))


def test_synthetic_transfer_rows_enter_the_soft_targets_only(data):
    X, y = data
    model = DistilledClassifier(
        fast_teacher(), "scorecard", augment="munge", augment_factor=1, cv=2, random_state=0
    ).fit(X, y)
    assert model.n_synthetic_ == len(X)
    np.testing.assert_array_equal(
        model.predict_proba(X)[:, 1], expit(model.student_.points_to_logits(score_points(model, X)))
    )
