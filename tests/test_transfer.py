"""Synthetic transfer sets: MUNGE settings, the noise baseline and custom generators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from riskkd import DistilledClassifier
from riskkd._holdout import holdout_split
from riskkd.inputs import Encoded, InputSchema
from riskkd.students import MLPStudent
from riskkd.transfer import MUNGE, GaussianNoise, Transfer

from .conftest import fast_mlp, fast_teacher, make_risk_frame


@pytest.fixture(scope="module")
def data():
    return make_risk_frame(500, 2, seed=21)


@pytest.fixture(scope="module")
def encoded(data):
    return InputSchema.from_data(data[0]).encode(data[0])


def make(teacher=None, **params):
    return DistilledClassifier(
        fast_teacher() if teacher is None else teacher,
        fast_mlp(max_epochs=10),
        cv=2,
        augment_factor=2,
        random_state=0,
        **params,
    )


# ------------------------------------------------------------------ generators
def test_noise_keeps_the_data_domain(encoded):
    synthetic, source = GaussianNoise(scale=0.1, p=0.5).sample(
        encoded, np.nan_to_num(encoded.num), factor=3, random_state=np.random.default_rng(0)
    )
    np.testing.assert_array_equal(source, np.tile(np.arange(encoded.n_samples), 3))
    # Missing numeric values stay missing; present ones stay present.
    np.testing.assert_array_equal(np.isnan(synthetic.num), np.isnan(encoded.num[source]))
    # Jitter of 0.1 standard deviation: the typical shift is ~0.08 sd (mean |N(0, 0.1)|),
    # far below the spread of the column and clearly non-zero.
    sd = np.nanstd(encoded.num, axis=0)
    shift = np.nanmean(np.abs(synthetic.num - encoded.num[source]), axis=0) / sd
    assert np.all((shift > 0.04) & (shift < 0.12))
    # Categorical values are redrawn among observed levels (and missing) only, about p of them
    # (p=0.5 redraws; a redraw lands on the same level about 1/3 of the time here).
    for j in range(encoded.cat.shape[1]):
        assert set(np.unique(synthetic.cat[:, j])) <= set(np.unique(encoded.cat[:, j]))
    changed = (synthetic.cat != encoded.cat[source]).mean()
    assert 0.15 < changed < 0.5


def test_noise_with_zero_settings_copies_rows(encoded):
    synthetic, source = GaussianNoise(scale=0.0, p=0.0).sample(
        encoded, encoded.num, factor=2, random_state=np.random.default_rng(0)
    )
    np.testing.assert_array_equal(synthetic.num, encoded.num[source])
    np.testing.assert_array_equal(synthetic.cat, encoded.cat[source])


def test_munge_p_controls_how_far_rows_move(encoded):
    features = np.nan_to_num(encoded.num)
    moved = []
    for p in (0.1, 0.9):
        synthetic, source = MUNGE(p=p).sample(
            encoded, features, factor=4, random_state=np.random.default_rng(0)
        )
        moved.append((synthetic.cat != encoded.cat[source]).mean())
    # Only attributes whose neighbour differs can change, so the changed share grows with p.
    assert moved[0] < moved[1]


@pytest.mark.parametrize("generator", [MUNGE(), GaussianNoise()], ids=["munge", "noise"])
def test_generators_are_reproducible(encoded, generator):
    runs = [
        generator.sample(
            encoded, np.nan_to_num(encoded.num), factor=2, random_state=np.random.default_rng(5)
        )[0]
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0].num, runs[1].num)
    np.testing.assert_array_equal(runs[0].cat, runs[1].cat)


# ------------------------------------------------------------------ in DistilledClassifier
def test_noise_augment_is_used_and_reproducible(data):
    X, y = data
    a = make(augment="noise").fit(X, y)
    assert a.n_synthetic_ == 2 * len(X)
    np.testing.assert_array_equal(
        a.predict_proba(X), make(augment="noise").fit(X, y).predict_proba(X)
    )
    assert not np.array_equal(a.predict_proba(X), make(augment=None).fit(X, y).predict_proba(X))


def test_munge_object_equals_the_string_and_its_settings_matter(data):
    X, y = data
    by_name = make(augment="munge").fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(make(augment=MUNGE()).fit(X, y).predict_proba(X), by_name)
    generator = MUNGE(p=0.2, s=5.0)
    tuned = make(augment=generator).fit(X, y)
    assert generator.get_params() == {"p": 0.2, "s": 5.0}  # cloned, never mutated
    assert not np.array_equal(tuned.predict_proba(X), by_name)


class _Duplicate(Transfer):
    """A custom generator: exact copies of the rows (the teacher relabels them)."""

    def sample(self, encoded, features, *, factor, random_state):
        source = np.tile(np.arange(encoded.n_samples), factor)
        return Encoded(encoded.num[source], encoded.cat[source]), source


def test_custom_transfer_object(data):
    X, y = data
    model = make(augment=_Duplicate()).fit(X, y)
    assert model.n_synthetic_ == 2 * len(X)


def test_synthetic_rows_are_held_out_with_their_source_row(data):
    """The MLP's early-stopping rows are whole groups: a held-out training row is not judged
    beside its own synthetic copies, which sit close to it and carry its teacher label."""
    X, y = data
    seen = {}

    class Recording(MLPStudent):
        def fit(self, Xn, Xc, **kwargs):
            seen.update(kwargs)
            return super().fit(Xn, Xc, **kwargs)

    model = make(augment=_Duplicate())
    model.set_params(student=Recording(max_epochs=10, patience=5)).fit(X, y, X_unlabeled=X[:50])
    n = len(X)
    groups = seen["groups"]  # training rows, unlabeled rows, then the synthetic copies
    np.testing.assert_array_equal(groups, np.r_[np.arange(n + 50), np.tile(np.arange(n), 2)])
    fit, held = holdout_split(seen["y"], 0.15, 0, groups)
    assert not set(groups[fit]) & set(groups[held])
    assert sorted(np.r_[fit, held]) == list(range(len(groups)))
    # 15% of the groups, stratified by the label of each group's training row.
    held_rows = np.unique(groups[held])
    assert abs(len(held_rows) / (n + 50) - 0.15) < 0.01
    labelled = held_rows[held_rows < n]
    assert abs(np.mean(np.asarray(y)[labelled]) - np.mean(y)) < 0.05
    # Without synthetic rows nothing is grouped (the student's own default).
    seen.clear()
    model.set_params(augment=None).fit(X, y)
    assert "groups" not in seen


def test_invalid_augment_settings(data):
    X, y = data
    with pytest.raises(InvalidParameterError, match="'augment' parameter of DistilledClassifier"):
        make(augment="smote").fit(X, y)
    with pytest.raises(InvalidParameterError, match="'p' parameter of MUNGE must be a float"):
        make(augment=MUNGE(p=1.5)).fit(X, y)
    with pytest.raises(InvalidParameterError, match="'scale' parameter of GaussianNoise"):
        make(augment=GaussianNoise(scale=-1)).fit(X, y)

    class Broken(Transfer):
        def sample(self, encoded, features, *, factor, random_state):
            return encoded.num, None

    with pytest.raises(ValueError, match=r"sample\(\) must return \(Encoded rows, source index"):
        make(augment=Broken()).fit(X, y)


def test_prefit_teacher_labels_synthetic_rows_with_its_own_category_types():
    """Synthetic rows reach a prefit teacher with the categories it was trained on (ints here)."""
    xgb = pytest.importorskip("xgboost")
    from sklearn.frozen import FrozenEstimator

    X, y = make_risk_frame(600, 2, seed=22)
    X = X[["income", "age"]].assign(grade=pd.Categorical(np.arange(len(X)) % 5 + 1))
    teacher = xgb.XGBClassifier(n_estimators=10, enable_categorical=True, n_jobs=1)
    teacher.fit(X.iloc[:300], y.iloc[:300])
    model = make(teacher=FrozenEstimator(teacher), augment="munge")
    model.fit(X.iloc[300:], y.iloc[300:])
    assert model.n_synthetic_ == 2 * 300
    decoded = model.input_schema_.decode(model.input_schema_.encode(X.iloc[:5]))
    assert decoded["grade"].dtype == X["grade"].dtype
    np.testing.assert_array_equal(decoded["grade"], X["grade"].iloc[:5])


def test_munge_never_pairs_a_row_with_itself():
    """Rows with the same numbers (ties at distance 0) still take a neighbour's levels: a
    row paired with itself gives copies the in-sample teacher_ labels, undoing cross-fitting."""
    num = np.repeat(np.arange(50.0), 2)[:, None]  # every value twice: all ties
    cat = np.tile(np.array([[0], [1]], dtype=np.int32), (50, 1))  # the pair differs in level
    synthetic, source = MUNGE(p=1.0).sample(
        Encoded(num, cat), num, factor=1, random_state=np.random.default_rng(0)
    )
    assert (synthetic.cat[:, 0] != cat[source, 0]).all()


def test_munge_on_categorical_columns_only():
    """Without numeric inputs MUNGE finds neighbours by Hamming distance on the levels (it
    used to fail in NearestNeighbors after every teacher fit, on the default path)."""
    X, y = make_risk_frame(400, 2, seed=23)
    X = X.select_dtypes(exclude="number")
    assert X.shape[1] >= 1
    model = make(augment="munge").fit(X, y)
    assert model.n_synthetic_ == 2 * len(X)
    synthetic, source = MUNGE().sample(
        model.input_schema_.encode(X),
        np.empty((len(X), 0)),
        factor=1,
        random_state=np.random.default_rng(0),
    )
    # Each synthetic row mixes its source row's levels with its neighbour's: real levels only.
    codes = model.input_schema_.encode(X).cat
    assert ((synthetic.cat == codes[source]) | np.isin(synthetic.cat, codes)).all()


def test_synthetic_rows_reach_a_prefit_teacher_as_valid_values():
    """Integer and bool columns are decoded whole, within their range and in their dtype: a
    prefit pipeline that one-hot encodes a flag refused the jittered flags (-0.14, 1.3)."""
    from sklearn.compose import make_column_transformer
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    X, y = make_risk_frame(600, 2, seed=24)
    X = X[["age"]].assign(flag=np.arange(len(X)) % 3 == 0, years=np.arange(len(X)) % 7 + 1)
    teacher = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["flag"]), remainder="passthrough"),
        LogisticRegression(),
    ).fit(X.iloc[:300], y.iloc[:300])
    for augment in ("noise", "munge"):
        model = make(teacher=FrozenEstimator(teacher), augment=augment)
        model.fit(X.iloc[300:], y.iloc[300:])
        assert model.n_synthetic_ == 2 * 300
    schema = model.input_schema_
    jittered = schema.encode(X.iloc[:3])
    jittered.num[:] += [[0.3, -0.9, 0.4], [0.0, 1.6, -0.6], [0.0, 0.2, 99.0]]
    decoded = schema.decode(jittered)
    assert decoded.dtypes.astype(str).tolist() == ["float64", "bool", "int64"]
    assert decoded["flag"].tolist() == [False, True, False]  # rounded, then kept in [0, 1]
    assert decoded["years"].tolist() == [1, 1, 7]
