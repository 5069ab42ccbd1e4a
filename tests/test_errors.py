"""The input contract: every kind of bad input gets a clear message (asserted, not just typed)."""

from __future__ import annotations

import datetime
import decimal
import warnings

import numpy as np
import pandas as pd
import pytest

from riskkd import DistilledClassifier
from riskkd.students import TreeStudent

from .conftest import fast_mlp, fast_teacher, make_risk_frame


@pytest.fixture(scope="module")
def data():
    return make_risk_frame(500, 2, seed=5)


@pytest.fixture(scope="module")
def model(data):
    X, y = data
    return DistilledClassifier(fast_teacher(), fast_mlp(max_epochs=10), cv=2, random_state=0).fit(
        X, y
    )


def make():
    return DistilledClassifier(fast_teacher(), fast_mlp(max_epochs=3), cv=2, random_state=0)


# ---------------------------------------------------------------- predict-time contract
def test_missing_column_is_named(model, data):
    X, _ = data
    with pytest.raises(
        ValueError, match=r"missing 1 column\(s\) the model was fitted on: 'income'"
    ):
        model.predict_proba(X.drop(columns="income"))


def test_column_order_does_not_matter(model, data):
    X, _ = data
    shuffled = X[list(reversed(X.columns))]
    np.testing.assert_array_equal(model.predict_proba(shuffled), model.predict_proba(X))
    np.testing.assert_array_equal(
        model.teacher_.predict_proba(shuffled), model.teacher_.predict_proba(X)
    )


def test_extra_columns_are_ignored(model, data):
    X, _ = data
    extra = X.assign(zzz=1.0)
    extra.insert(0, "customer_id", np.arange(len(X)))
    np.testing.assert_array_equal(model.predict_proba(extra), model.predict_proba(X))


@pytest.mark.parametrize("bad", ["12,5", "n/a"])
def test_non_numeric_value_in_numeric_column(model, data, bad):
    X, _ = data
    broken = X.astype({"age": object})
    broken.loc[broken.index[3], "age"] = bad
    with pytest.raises(
        ValueError, match=rf"Column 'age' must be numeric.*\['{bad}'\].*pd.to_numeric"
    ):
        model.predict_proba(broken)


def test_numeric_strings_are_accepted(model, data):
    X, _ = data
    as_text = X.astype({"age": object})
    as_text["age"] = X["age"].astype(str)
    np.testing.assert_allclose(model.predict_proba(as_text), model.predict_proba(X))


def test_unseen_category_is_scored_as_unknown(model, data):
    X, _ = data
    novel = X.head(3).copy()
    novel["home"] = pd.array(["castle", "rent", None], dtype="str")
    proba = model.predict_proba(novel)  # no exception: batch jobs must not stop on a new level
    assert np.isfinite(proba).all()
    encoded = model.input_schema_.encode(novel)
    codes = encoded.cat[:, model.input_schema_.categorical_names.index("home")]
    np.testing.assert_array_equal(codes[[0, 2]], [-2, -1])  # UNSEEN, MISSING
    assert model.input_schema_.unseen_counts(encoded) == {"home": 1}  # counted, not raised


def test_nan_where_training_had_none(model, data):
    X, _ = data
    assert not model.input_schema_.missing["age"]
    holes = X.head(4).copy()
    holes["age"] = np.nan
    # Documented: imputed with the training median (0 after scaling), no indicator.
    assert np.isfinite(model.predict_proba(holes)).all()


def test_infinite_value_is_refused(model, data):
    X, _ = data
    broken = X.head(5).copy()
    broken.loc[broken.index[1], "income"] = np.inf
    with pytest.raises(ValueError, match=r"Column 'income' holds 1 infinite value\(s\).*replace"):
        model.predict_proba(broken)


def test_empty_frame_gives_empty_result(model, data):
    X, _ = data
    assert model.predict_proba(X.iloc[:0]).shape == (0, 2)
    assert model.predict(X.iloc[:0]).shape == (0,)
    assert model.teacher_.predict_proba(X.iloc[:0]).shape == (0, 2)  # LightGBM refuses it


@pytest.mark.parametrize("library", ["xgboost", "hist_gradient_boosting"])
def test_empty_frame_for_other_teachers(data, library):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.frozen import FrozenEstimator
    from xgboost import XGBClassifier

    X, y = data
    X = X.select_dtypes("number")
    if library == "xgboost":
        teacher = XGBClassifier(n_estimators=5)
    else:
        teacher = FrozenEstimator(HistGradientBoostingClassifier(max_iter=5).fit(X, y))
    model = DistilledClassifier(teacher, TreeStudent(max_depth=2), cv=2).fit(X, y)
    assert model.teacher_.predict_proba(X.iloc[:0]).shape == (0, 2)


def test_numpy_width_mismatch(data):
    X, y = data
    array = X.select_dtypes("number").to_numpy(float)
    fitted = make().fit(array, y)
    with pytest.raises(
        ValueError, match=r"X has 1 features, but DistilledClassifier is expecting 2"
    ):
        fitted.predict_proba(array[:, :1])


def test_one_dimensional_input(data):
    X, y = data
    fitted = make().fit(X.select_dtypes("number").to_numpy(float), y)
    with pytest.raises(ValueError, match="Reshape your data"):
        fitted.predict_proba(np.ones(3))


# ---------------------------------------------------------------- fit-time contract
def test_single_class(data):
    X, _ = data
    with pytest.raises(ValueError, match=r"y has only one class \(0\).*at least two"):
        make().fit(X, np.zeros(len(X), dtype=int))


def test_nan_in_y(data):
    X, y = data
    y = y.astype(float)
    y.iloc[[2, 7]] = np.nan
    with pytest.raises(ValueError, match=r"y has 2 missing label\(s\).*drop those rows"):
        make().fit(X, y)


def test_class_rarer_than_folds(data):
    X, y = data
    y = y.to_numpy().copy()
    y[:2] = 2
    with pytest.raises(ValueError, match=r"\(2, 2\).*fewer members than cv=5 folds.*Lower cv"):
        DistilledClassifier(fast_teacher(), cv=5).fit(X, y)


def test_length_mismatch(data):
    X, y = data
    with pytest.raises(ValueError, match=r"X has 500 rows but y has 499 labels"):
        make().fit(X, y[:-1])
    with pytest.raises(ValueError, match=r"sample_weight has shape \(10,\) but X has 500 rows"):
        make().fit(X, y, sample_weight=np.ones(10))


def test_negative_weights(data):
    X, y = data
    w = np.ones(len(X))
    w[:3] = -1
    with pytest.raises(ValueError, match=r"sample_weight has 3 negative or non-finite value\(s\)"):
        make().fit(X, y, sample_weight=w)


def test_infinite_weights_are_counted(data):
    X, y = data
    w = np.ones(len(X))
    w[:2] = np.inf  # +inf passed "w >= 0" and the message counted 0 of them
    with pytest.raises(ValueError, match=r"sample_weight has 2 negative or non-finite value\(s\)"):
        make().fit(X, y, sample_weight=w)


def test_a_class_without_weight_is_refused(data):
    """Every row of a class weighing 0 (a join that zeroed the defaulted accounts): the
    models learnt never to predict it, and their fidelity to each other looked fine."""
    X, y = data
    w = np.where(y == 1, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"sample_weight is 0 on every row of class\(es\) \[1\]"):
        make().fit(X, y, sample_weight=w)


def test_y_or_weights_indexed_in_another_order_are_refused(data):
    """X shuffled, y not: paired by position, each row got another row's label (test
    ROC-AUC fell to 0.39 from 0.83 in the report, without a warning)."""
    X, y = data
    shuffled = X.sample(frac=1, random_state=0)
    labels = pd.Series(y, index=X.index)
    with pytest.raises(ValueError, match=r"y's index holds the rows of X's index in another "
                       r"order; .* \(y\.loc\[X\.index\]\), or pass y\.to_numpy\(\)"):  # fmt: skip
        make().fit(shuffled, labels)
    weights = pd.Series(np.ones(len(X)), index=X.index)
    with pytest.raises(ValueError, match=r"sample_weight's index holds the rows of X's index"):
        make().fit(shuffled, labels.loc[shuffled.index], sample_weight=weights)
    make().fit(shuffled, labels.loc[shuffled.index].to_frame())  # aligned (a 1-column frame)
    make().fit(shuffled, labels.loc[shuffled.index].to_numpy())  # by position, as asked


@pytest.mark.parametrize("dtype", ["Int64", "boolean", "UInt8"])
def test_nullable_labels_keep_their_type(data, dtype):
    """pandas' nullable labels (convert_dtypes, parquet) became floats: classes 0.0 and 1.0,
    and output columns proba_0.0 / proba_1.0 in scoring and MLflow."""
    X, y = data
    labels = pd.Series(y, index=X.index).astype(dtype)
    expected = np.unique(labels.to_numpy(dtype=labels.dtype.numpy_dtype))  # [0, 1] or [False, True]
    model = make().fit(X, labels)
    assert model.classes_.dtype == expected.dtype and model.classes_.tolist() == expected.tolist()
    assert model.predict(X.head(3)).dtype == expected.dtype


def test_invalid_parameters_name_the_parameter(data):
    X, y = data
    with pytest.raises(ValueError, match=r"'temperature' parameter of DistilledClassifier must be"):
        DistilledClassifier(temperature=-1).fit(X, y)
    with pytest.raises(ValueError, match=r"'alpha' parameter of DistilledClassifier must be"):
        DistilledClassifier(alpha=1.5).fit(X, y)
    with pytest.raises(ValueError, match=r"'loss' parameter of DistilledClassifier must be"):
        DistilledClassifier(loss="hinge").fit(X, y)


def test_a_bad_student_setting_fails_before_anything_is_fitted(data):
    """A refit with a bad student setting leaves the fitted model as it was, scoring."""
    X, y = data
    model = make().fit(X, y)
    before = model.predict_proba(X)
    model.set_params(student=TreeStudent(max_depth=0))
    with pytest.raises(ValueError, match=r"'max_depth' parameter of TreeStudent must be"):
        model.fit(X[["income", "age"]], y)
    assert model.input_schema_.names == list(X.columns)
    np.testing.assert_array_equal(model.predict_proba(X), before)


def test_duplicated_columns(data):
    X, y = data
    dup = pd.concat([X, X[["age"]]], axis=1)
    with pytest.raises(ValueError, match=r"duplicated column names \['age'\]"):
        make().fit(dup, y)


def test_codes_arriving_as_numbers_or_as_text_match_their_level(data):
    """Region codes fitted as text "1".."4" and sent as numbers (a CSV read, a JSON request,
    an integer parquet column) were all scored as unseen; integer levels sent as text too."""
    X, y = data
    codes = np.arange(len(X)) % 4 + 1
    as_text = X.assign(region=pd.array(codes.astype(str), dtype="str"))
    as_numbers = X.assign(region=pd.Categorical(codes))
    for fitted, other in ((as_text, as_numbers), (as_numbers, as_text)):
        model = DistilledClassifier(fast_teacher(), TreeStudent(), cv=2, random_state=0)
        model.fit(fitted, y)
        for variant in (other, other.astype({"region": object})):
            np.testing.assert_array_equal(model.predict_proba(variant), model.predict_proba(fitted))
            np.testing.assert_array_equal(
                model.teacher_.predict_proba(variant), model.teacher_.predict_proba(fitted)
            )
        one = other.iloc[[0]]  # the one-row path too
        np.testing.assert_array_equal(
            model.predict_proba(one), model.predict_proba(fitted.iloc[[0]])
        )


def test_one_row_frames_encode_as_the_batch_does():
    """One-row requests in training order with mostly numeric columns are read block by
    block (each numeric dtype in one assignment); others column by column. Every path gives
    the batch's values, bit for bit, whatever the dtypes."""
    from riskkd.inputs import InputSchema

    rng = np.random.default_rng(7)
    numeric = pd.DataFrame(rng.normal(size=(120, 8)), columns=[f"x{i}" for i in range(8)])
    numeric.iloc[::9, 2] = np.nan
    for i in range(4):
        numeric[f"n{i}"] = rng.integers(-5, 2**40, 120)  # int64 block
    numeric["ratio"] = rng.normal(size=120).astype(np.float32)
    numeric["flag"] = rng.random(120) < 0.3  # bool block
    numeric["nullable"] = pd.array([1, None, 3] * 40, dtype="Int64")
    numeric["maybe"] = pd.array([True, False, None] * 40, dtype="boolean")
    numeric["home"] = pd.array(rng.choice(["rent", "own"], 120), dtype="str")
    mixed, _ = make_risk_frame(120, 2, seed=7)  # a block per text column: the column path
    for X in (numeric, mixed):
        schema = InputSchema.from_data(X)
        batch = schema.encode(X)
        shuffled = list(reversed(X.columns))
        for i in range(0, 120, 13):
            one = X.iloc[[i]].copy()
            one.columns = pd.Index(list(one.columns))  # a new Index, as a request builds it
            for frame in (one, one[shuffled], one.assign(extra=1.0)):
                encoded = schema.encode(frame)
                np.testing.assert_array_equal(encoded.num, batch.num[i : i + 1])
                np.testing.assert_array_equal(encoded.cat, batch.cat[i : i + 1])
        taken = schema._one_row_numeric_blocks(one) is not None
        assert taken == (X is numeric)


def test_multiindex_columns_are_missing_columns(model, data):
    X, _ = data
    nested = X.copy()
    nested.columns = pd.MultiIndex.from_product([["applicant"], list(X.columns)])
    with pytest.raises(ValueError, match="X is missing 6 column"):
        model.predict_proba(nested.iloc[[0]])


def test_a_column_given_twice_at_predict_is_refused(model, data):
    """Which copy to score is ambiguous (the last one used to win, silently); the teacher
    reads the same columns. Names are compared as text: 0 and "0" are the same column."""
    X, _ = data
    twice = pd.concat([X, X[["age"]] * 0], axis=1)
    for predict in (model.predict_proba, model.teacher_.predict_proba):
        with pytest.raises(ValueError, match=r"more than one column named \['age'\]"):
            predict(twice)
    # An extra column named twice is not the model's business.
    spare = X[["age"]].set_axis(["spare"], axis=1)
    extra = pd.concat([X, spare, spare], axis=1)
    np.testing.assert_array_equal(model.predict_proba(extra), model.predict_proba(X))
    numbered = X.iloc[:, :2].set_axis([0, 1], axis=1)
    small = make().fit(numbered, data[1])
    with pytest.raises(ValueError, match=r"more than one column named \['0'\]"):
        small.predict_proba(numbered.assign(**{"0": 1.0}))


def test_xgboost_teacher_reads_integer_levels_and_names_unreadable_ones(data):
    xgb = pytest.importorskip("xgboost")
    X, y = data
    teacher = xgb.XGBClassifier(n_estimators=10, max_depth=2, n_jobs=1)
    grades = X.assign(grade=pd.Categorical(np.arange(len(X)) % 5 + 1))  # integer levels
    model = DistilledClassifier(teacher, TreeStudent(), cv=2, random_state=0).fit(grades, y)
    assert model.teacher_.predict_proba(grades).shape == (len(X), 2)
    # Integer ids beyond int64 stay objects for the default teacher, and XGBoost names them.
    big = X.assign(
        merchant=pd.Categorical(np.uint64(2**63) + np.arange(len(X), dtype=np.uint64) % 7)
    )
    default = DistilledClassifier(fast_teacher(), TreeStudent(), cv=2, random_state=0).fit(big, y)
    assert default.predict_proba(big).shape == (len(X), 2)
    with pytest.raises(ValueError, match=r"'merchant' \(levels of type integers beyond int64\)"):
        DistilledClassifier(teacher, TreeStudent(), cv=2).fit(big, y)
    flags = X.assign(flag=pd.Series([True, False, None] * (len(X) // 3) + [True] * (len(X) % 3)))
    with pytest.raises(ValueError, match=r"'flag' \(levels of type bool\).*astype\('boolean'\)"):
        DistilledClassifier(teacher, TreeStudent(), cv=2).fit(flags, y)


def test_dates_are_refused_with_advice(data):
    X, y = data
    dated = X.assign(applied=pd.date_range("2024-01-01", periods=len(X), freq="h"))
    with pytest.raises(ValueError, match=r"\['applied'\] hold dates or durations.*Derive numeric"):
        make().fit(dated, y)


@pytest.mark.parametrize(
    "column, message",
    [
        (lambda n: np.full(n, 1 + 1j), r"\['odd \(complex128\)'\] hold complex numbers"),
        (
            lambda n: pd.arrays.IntervalArray.from_breaks(np.arange(n + 1)),
            r"\['odd \(interval.*\)'\] hold complex numbers or intervals.*midpoint",
        ),
        (lambda n: [[1, 2]] * n, r"Column 'odd' holds values of type list \(e.g. \[1, 2\]\)"),
        # What database drivers (read_sql) put in object columns.
        (
            lambda n: [datetime.date(2024, 1, 1 + k % 28) for k in range(n)],
            r"Column 'odd' holds datetime.date values \(e.g. '2024-01-01'\).*Derive numeric",
        ),
        (
            lambda n: [decimal.Decimal(k) / 100 for k in range(n)],
            r"'odd' holds decimal.Decimal values .*X\['odd'\] = X\['odd'\].astype\(float\)",
        ),
        (
            lambda n: pd.Categorical([pd.Timestamp("2024-01-01")] * n),
            r"'odd' holds pandas.Timestamp values",
        ),
    ],
    ids=["complex", "interval", "list", "date", "decimal", "timestamp category"],
)
def test_unreadable_column_types_are_refused(data, column, message):
    X, y = data
    with pytest.raises(ValueError, match=message):
        make().fit(X.assign(odd=column(len(X))), y)


@pytest.mark.parametrize("n_rows", [1, 200])  # the one-row and the batch encoding
def test_values_that_are_not_scalars_are_refused_at_predict(model, data, n_rows):
    """A JSON request can put a list or an object in a cell: a bare "unhashable type"
    before, or the error message itself crashing on a numeric column."""
    X = data[0].head(n_rows)
    with pytest.raises(ValueError, match=r"Column 'home' holds values of type list"):
        model.predict_proba(X.assign(home=pd.Series([["rent"]] * n_rows, dtype=object)))
    with pytest.raises(ValueError, match=r"Column 'income' holds values of type dict"):
        model.predict_proba(X.assign(income=pd.Series([{"k": 1.0}] * n_rows, dtype=object)))


def test_a_row_that_is_not_a_frame_gets_advice(model, data):
    X, _ = data
    with pytest.raises(TypeError, match=r"pandas Series.*df\.iloc\[\[i\]\]"):
        model.predict_proba(X.iloc[0])
    with pytest.raises(TypeError, match=r"X is a dict; .*pd\.DataFrame\(\[record\]\)"):
        model.predict_proba(X.iloc[0].to_dict())
    with pytest.raises(TypeError, match=r"X is a list of dicts; .*pd\.DataFrame\(records\)"):
        model.predict_proba(X.head(2).to_dict("records"))
    with pytest.raises(ValueError, match=r"Column 'records' must be numeric.*'true' / 'false'"):
        model.predict_proba(X.head(2).assign(records=["true", "false"]))
    # The same advice at fit (scikit-learn's "Expected 2D array" came first).
    y = data[1]
    with pytest.raises(TypeError, match=r"pandas Series.*df\.iloc\[\[i\]\]"):
        make().fit(X["age"], y)
    with pytest.raises(TypeError, match=r"X is a list of dicts; .*pd\.DataFrame\(records\)"):
        make().fit(X.to_dict("records"), y)
    for text in (X.to_numpy(), X.to_numpy().astype(str), X.astype(str).to_numpy().tolist()):
        with pytest.raises(ValueError, match=r"array holding text .*Pass a pandas DataFrame"):
            make().fit(text, y)
    from scipy import sparse

    with pytest.raises(TypeError, match=r"sparse csr_matrix; sparse input is not supported"):
        model.predict_proba(sparse.csr_matrix(X[["age"]].to_numpy()))


def test_categories_mixing_text_and_numbers_warn(data):
    X, y = data
    mixed = pd.Series([5 if i % 2 else "owner" for i in range(len(X))], dtype=object)
    with pytest.warns(UserWarning, match=r"Column 'home' mixes text.*'owner' and 5.*'5' as unseen"):
        make().fit(X.assign(home=mixed), y)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*mixes text")
        make().fit(X.assign(home=mixed.astype(str)), y)  # the advised fix: all text


@pytest.mark.parametrize(
    "dates", [["2020-01", "2021-02"], ["2020-01-15", "2020-03-01 10:30"], ["1/15/2020", "3/1/2021"]]
)
def test_dates_as_text_warn(data, dates):
    """A CSV's dates arrive as text and became a category silently: every later date was
    then scored as an unseen level."""
    X, y = data
    opened = pd.Series(np.resize(dates, len(X)), index=X.index)
    with pytest.warns(UserWarning, match=r"Column 'opened' holds dates as text .* category of "
                      r"2 levels: every date after the training data's scores as an unseen"):  # fmt: skip
        make().fit(X.assign(opened=opened), y)
    with warnings.catch_warnings():  # codes that merely contain digits are categories
        warnings.filterwarnings("error", message=".*dates as text")
        make().fit(X.assign(opened=opened.str.replace("/", "x").radd("A")), y)


def test_multilevel_column_names_are_refused(data):
    X, y = data
    nested = X.set_axis(pd.MultiIndex.from_product([["applicant"], X.columns]), axis=1)
    with pytest.raises(ValueError, match=r"2-level column names.*'_'.join"):
        make().fit(nested, y)


def test_block_reader_matches_public_columns(data):
    """The fast block-manager read gives exactly what pandas' public column access gives."""
    from riskkd.inputs import _frame_columns

    X, _ = data
    mixed = X.assign(
        count=pd.array([1, None] * (len(X) // 2), dtype="Int64"), ratio=np.linspace(0, 1, len(X))
    )
    plan = list(enumerate(str(c) for c in mixed.columns))
    for (i, _), (name, values) in zip(plan, _frame_columns(mixed, plan)):
        expected = mixed.iloc[:, i].array
        assert name == mixed.columns[i]
        pd.testing.assert_series_equal(  # treats NaN as equal to NaN, unlike ==
            pd.Series(np.asarray(values, dtype=object)),
            pd.Series(np.asarray(expected, dtype=object)),
        )


def test_cv_splitters_that_do_not_give_each_row_one_prediction(data):
    """Every row needs exactly one out-of-fold prediction: a splitter needing groups says how
    to pass them, and repeated or partial folds are refused (repeated ones used to keep the
    last fold's prediction, silently)."""
    from sklearn.model_selection import GroupKFold, RepeatedStratifiedKFold, TimeSeriesSplit

    X, y = data
    with pytest.raises(ValueError, match=r"needs groups.*cv=list\(GroupKFold\(5\)\.split"):
        make().set_params(cv=GroupKFold(2)).fit(X, y)
    repeated = RepeatedStratifiedKFold(n_splits=2, n_repeats=2, random_state=0)
    with pytest.raises(ValueError, match=r"gives 0 rows no out-of-fold prediction and 500 rows"):
        make().set_params(cv=repeated).fit(X, y)
    with pytest.raises(ValueError, match=r"rows no out-of-fold prediction and 0 rows more"):
        make().set_params(cv=TimeSeriesSplit(2)).fit(X, y)
    groups = np.arange(len(y)) % 10
    model = make().set_params(cv=list(GroupKFold(2).split(X, y, groups))).fit(X, y)
    assert model.soft_targets_.shape == (len(y), 2)
    # Folds whose training side lacks a class (all defaults in one group's fold).
    by_class = list(GroupKFold(2).split(X, y, groups=np.asarray(y)))
    with pytest.raises(ValueError, match=r"cv=2 given folds: fold 1 trains its teacher on no row"):
        make().set_params(cv=by_class).fit(X, y)
