"""fit_distributed: distillation on a Dask LocalCluster, compared with an in-memory fit."""

from __future__ import annotations

import dask
import dask.dataframe as dd
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold

from riskkd import DistilledClassifier, fidelity_report, load, save
from riskkd.datasets import load_german_credit, make_transactions
from riskkd.distributed import fit_distributed

from .conftest import fast_teacher, fast_tree, make_risk_frame

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    """Two single-threaded worker processes on loopback, closed after the module."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as active,
    ):
        yield active


@pytest.fixture(scope="module")
def transactions():
    """3,000 training and 1,500 test rows (~65 test frauds): small, yet the fraud pattern shows."""
    frame = make_transactions(4500, fraud_rate=0.05, random_state=0)
    y = frame.pop("is_fraud")
    X = frame.drop(columns=["transaction_id", "timestamp"])
    return X.iloc[:3000], y.iloc[:3000], X.iloc[3000:], y.iloc[3000:]


def _dask(X, y, npartitions=4):
    return dd.from_pandas(X, npartitions=npartitions), dd.from_pandas(y, npartitions=npartitions)


def _model(**params):
    return DistilledClassifier(
        **{"teacher": fast_teacher(), "student": fast_tree(), "cv": 3, "random_state": 0, **params}
    )


def _fitted_names(model):
    return {name for name in vars(model) if name.endswith("_") and not name.startswith("_")}


@pytest.fixture(scope="module")
def fitted(client, transactions):
    X, y, _, _ = transactions
    return fit_distributed(_model(), *_dask(X, y), client=client)


@pytest.fixture(scope="module")
def in_memory(transactions):
    X, y, _, _ = transactions
    return _model().fit(X, y)


def test_same_fitted_attributes_as_in_memory(fitted, in_memory, transactions):
    X, _, X_test, _ = transactions
    assert _fitted_names(fitted) == _fitted_names(in_memory)
    np.testing.assert_array_equal(fitted.classes_, in_memory.classes_)
    assert fitted.soft_targets_.shape == (len(X), 2)
    assert list(fitted.feature_names_in_) == list(X.columns)
    proba = fitted.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def test_input_schema_is_exact(fitted, in_memory):
    """The partitions' schemas merge into the one an in-memory fit records (dtype names aside:
    dask reads object columns as pyarrow strings)."""
    dask_schema, memory_schema = fitted.input_schema_, in_memory.input_schema_
    assert dask_schema.names == memory_schema.names
    assert dask_schema.kinds == memory_schema.kinds
    assert dask_schema.levels == memory_schema.levels
    assert dask_schema.missing == memory_schema.missing
    np.testing.assert_array_equal(
        np.array(list(dask_schema.ranges.values())), np.array(list(memory_schema.ranges.values()))
    )


def test_auc_close_to_in_memory(fitted, in_memory, transactions):
    """Teacher and student ROC-AUC on 1,500 held-out rows within 0.05 of the in-memory fit.

    The two fits differ in their folds, in LightGBM's distributed binning and in the number of
    trees (one pilot early stopping instead of one per fold). With ~65 test frauds one AUC near
    0.7 has a standard error of ~0.035; both models score the same rows, so the noise of their
    difference is smaller, and 0.05 flags a real loss (e.g. misaligned labels give ~0.5).
    """
    _, _, X_test, y_test = transactions
    for name in ("teacher", "student"):
        scores = {}
        for label, model in (("dask", fitted), ("memory", in_memory)):
            source = model.teacher_ if name == "teacher" else model
            scores[label] = roc_auc_score(y_test, source.predict_proba(X_test)[:, 1])
        assert scores["dask"] > 0.6, (name, scores)  # the pattern is learnt at all
        assert abs(scores["dask"] - scores["memory"]) < 0.05, (name, scores)


def test_save_load_round_trip_bit_for_bit(fitted, transactions, tmp_path):
    _, _, X_test, y_test = transactions
    loaded = load(save(fitted, tmp_path / "model"))
    np.testing.assert_array_equal(loaded.predict_proba(X_test), fitted.predict_proba(X_test))
    np.testing.assert_array_equal(
        loaded.teacher_.predict_proba(X_test), fitted.teacher_.predict_proba(X_test)
    )
    report = fidelity_report(loaded, X_test, y_test)
    assert report.loc["roc_auc", "student"] == pytest.approx(
        roc_auc_score(y_test, fitted.predict_proba(X_test)[:, 1])
    )


def test_lightgbm_teacher_repeatable_within_bounds(fitted, client, transactions):
    """riskkd's own steps repeat exactly for a seed; lightgbm.dask's training nearly so.

    The schema, the folds, the driver sample and thus the student preprocessing are functions
    of the data and ``random_state``. lightgbm.dask numbers LightGBM's machines in the order
    of a Python set of Dask keys (``Client.who_has``), and each machine bins a share of the
    features from its own rows, so the trees can differ from run to run (observed here: test
    AUC up to 0.014 apart). Bound: teacher test AUC within 0.03, below the ~0.035 standard
    error of one AUC on these ~65 test frauds. XGBoost teachers repeat exactly (next test).
    """
    X, y, X_test, y_test = transactions
    again = fit_distributed(_model(), *_dask(X, y), client=client)
    assert again.input_schema_.levels == fitted.input_schema_.levels
    assert again.input_schema_.ranges == fitted.input_schema_.ranges
    for key, value in fitted.preprocessor_.get_state().items():
        np.testing.assert_array_equal(again.preprocessor_.get_state()[key], value)
    aucs = [roc_auc_score(y_test, m.teacher_.predict_proba(X_test)[:, 1]) for m in (fitted, again)]
    assert abs(aucs[0] - aucs[1]) < 0.03, aucs


@pytest.mark.parametrize("layout", ["a column missing on one worker", "uneven partitions"])
def test_lightgbm_bins_every_feature_whatever_each_worker_holds(client, layout):
    """Distributed LightGBM bins each feature on one machine, from its own rows: riskkd forces
    bins from the driver sample, so a worker with only missing values in a column (a feature
    collected from some date on, files by period) does not drop the feature, and places
    partitions by rows, so no worker holds a sliver (15 of 3,000 rows)."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(4000, 2)), columns=["x1", "x2"])
    y = pd.Series((X["x1"] + X["x2"] + rng.normal(0, 1, 4000) > 1).astype(int), name="y")
    X_test, y_test = X.iloc[3000:], y.iloc[3000:]
    X, y = X.iloc[:3000], y.iloc[:3000]
    if layout == "uneven partitions":  # worker 1 holds 15 of 3,000 rows
        sizes = [5, 5, 2980, 10]
        cuts = np.cumsum([0, *sizes])
        parts = [(X.iloc[a:b], y.iloc[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
        X_dask = dd.from_delayed([dask.delayed(x) for x, _ in parts], meta=X.iloc[:0])
        y_dask = dd.from_delayed([dask.delayed(v) for _, v in parts], meta=y.iloc[:0])
    else:  # partition 0, on worker 0: neither column collected yet (each worker bins one)
        X = X.where(np.repeat(np.arange(len(X))[:, None] >= 1500, 2, axis=1))
        X_dask, y_dask = _dask(X, y, npartitions=2)
    teacher = fast_teacher(n_estimators=100)
    model = fit_distributed(_model(teacher=teacher), X_dask, y_dask, client=client)
    in_memory = _model(teacher=teacher).fit(X, y)
    booster = model.teacher_.native_model
    assert booster.feature_importance().min() > 0  # every feature is used
    aucs = [
        roc_auc_score(y_test, m.teacher_.predict_proba(X_test)[:, 1]) for m in (model, in_memory)
    ]
    # Without forced bins: 0.57 (uneven) and 0.69 (missing column) against 0.83-0.84 in
    # memory; 0.02 is well below those drops and above binning and training differences.
    assert abs(aucs[0] - aucs[1]) < 0.02, aucs


def test_partitions_holding_different_levels_are_warned_about_and_shuffling_mends_them(client):
    """Distributed LightGBM bins a categorical column on one machine's rows, and forced bins
    do not apply to categorical columns: with files by region, the levels of the other
    worker's regions share one bin. riskkd cannot re-bin them, so it warns, naming the
    column and the levels; the remedy it names (shuffle the rows across partitions) works."""
    import warnings

    rng = np.random.default_rng(0)
    region = rng.integers(0, 20, 6000)
    X = pd.DataFrame(
        {"x1": rng.normal(size=6000), "region": pd.Categorical([f"r{r:02d}" for r in region])}
    )
    effect = rng.normal(0, 1.5, 20)[region]
    y = pd.Series((X["x1"] + effect + rng.logistic(size=6000) > 1).astype(int), name="y")
    X_test, y_test, X, y = X.iloc[4000:], y.iloc[4000:], X.iloc[:4000], y.iloc[:4000]
    teacher = fast_teacher(n_estimators=100)
    by_region = np.argsort(region[:4000], kind="stable")  # partition 0: r00-r09, 1: r10-r19
    frame = X.assign(y=y).iloc[by_region].reset_index(drop=True)
    frame = dd.from_pandas(frame, npartitions=2, sort=False)
    with pytest.warns(UserWarning, match=r"column 'region': worker .* levels \['r\d\d'"):
        split = fit_distributed(
            _model(teacher=teacher), frame[["x1", "region"]], frame["y"], client=client
        )
    shuffled = frame.assign(key=frame["x1"] * 1e6 % 1).shuffle(on="key", npartitions=2)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Categorical column")
        mixed = fit_distributed(
            _model(teacher=teacher), shuffled[["x1", "region"]], shuffled["y"], client=client
        )
    in_memory = _model(teacher=teacher).fit(X, y)
    aucs = [
        roc_auc_score(y_test, m.teacher_.predict_proba(X_test)[:, 1])
        for m in (split, mixed, in_memory)
    ]
    # Measured 0.730 by region, 0.824 shuffled, 0.825 in memory: 0.02 is above training
    # noise and far below the loss the warning is about.
    assert abs(aucs[1] - aucs[2]) < 0.02 and aucs[0] < aucs[2] - 0.01, aucs


def test_binned_levels_follow_lightgbm():
    from riskkd.distributed import _binned_levels

    counts = np.array([50, 2, 0, 7, 3])
    assert _binned_levels(counts, 255).tolist() == [True, False, False, True, True]
    assert _binned_levels(counts, 3).tolist() == [True, False, False, True, False]


def test_bundled_dataset_xgboost_teacher_munge_rows(client):
    """German credit (1,000 rows) with an XGBoost teacher (xgboost.dask), MUNGE rows labelled
    by the teacher (the path that collects encoded rows), sample weights, and a scheduler
    address instead of a client. Deterministic for a seed: a second fit is identical."""
    X, y = load_german_credit(return_X_y=True)
    X_train, y_train, X_test, y_test = X.iloc[:800], y.iloc[:800], X.iloc[800:], y.iloc[800:]
    weights = pd.Series(np.where(y_train == 1, 2.0, 1.0), index=y_train.index)
    teacher = xgb.XGBClassifier(n_estimators=60, max_depth=3, learning_rate=0.1)
    params = {"teacher": teacher, "student": fast_tree(), "augment": "munge", "cv": 3}
    params["random_state"] = 0
    dX, dy = _dask(X_train, y_train, npartitions=3)
    model, again = (
        fit_distributed(
            DistilledClassifier(**params),
            dX,
            dy,
            scheduler=client.scheduler.address,
            sample_weight=dd.from_pandas(weights, npartitions=3),
        )
        for _ in range(2)
    )
    np.testing.assert_array_equal(again.soft_targets_, model.soft_targets_)
    np.testing.assert_array_equal(again.predict_proba(X_test), model.predict_proba(X_test))
    memory = DistilledClassifier(**params).fit(X_train, y_train, sample_weight=weights)
    assert model.n_synthetic_ == memory.n_synthetic_ == 4 * len(X_train)
    assert _fitted_names(model) == _fitted_names(memory)
    # 200 test rows (~60 bads): one AUC has a standard error of ~0.035; the models share the
    # test rows, so 0.06 between them flags a real difference, not noise.
    for get in (lambda m: m.teacher_.predict_proba(X_test), lambda m: m.predict_proba(X_test)):
        dask_auc = roc_auc_score(y_test, get(model)[:, 1])
        memory_auc = roc_auc_score(y_test, get(memory)[:, 1])
        assert dask_auc > 0.7
        assert abs(dask_auc - memory_auc) < 0.06, (dask_auc, memory_auc)


def test_max_student_rows_takes_a_stratified_sample(client, transactions):
    X, y, X_test, _ = transactions
    model = fit_distributed(_model(), *_dask(X, y), client=client, max_student_rows=1000)
    n_student = len(model.soft_targets_)
    assert abs(n_student - 1000) <= 8  # rounded per partition and class (4 x 2 cells)
    # The calibrated soft targets average to the fraud rate of the rows they belong to;
    # stratification keeps that rate (10%) in the sample.
    assert model.soft_targets_[:, 1].mean() == pytest.approx(y.mean(), abs=0.02)
    assert model.predict_proba(X_test).shape == (len(X_test), 2)


def test_partitions_are_placed_by_rows():
    from riskkd.distributed import _placement

    assert _placement([750] * 4, 2) == [0, 1, 0, 1]  # alike: round robin, as before
    assert _placement([1500, 1500, 10, 10], 2) == [0, 1, 0, 1]
    # A worker would hold 2 rows (LightGBM fails on its empty bagged share): one worker.
    assert _placement([1998, 2], 2) == [0, 0]
    assert _placement([4000, 1000, 1000, 1000, 1000], 2) == [0, 1, 1, 1, 1]


def test_a_rare_class_spread_over_partitions_keeps_its_share_of_the_sample():
    from riskkd.distributed import _allocate

    counts = np.tile([[300, 200, 6]], (20, 1))  # grade 2: 6 rows in each of 20 partitions
    taken = _allocate(counts, 500)
    # Grade 2 is 120 of 10,120 rows: 6 of 500 (rounding 6 * 500 / 10,120 = 0.3 per partition
    # took none).
    assert taken.sum(axis=0).tolist() == [296, 198, 6] and (taken <= counts).all()
    assert _allocate(np.array([[1000, 3], [2000, 0]]), 100)[:, 1].sum() == 1  # at least one


def test_an_empty_partition_is_harmless(client, transactions):
    # Filtering a partitioned frame (e.g. by year) leaves empty partitions behind.
    X, y, X_test, _ = transactions
    dX, dy = _dask(X, y)
    keep = dX["amount"] > -1.0  # keeps every row of partitions 0-2 ...
    keep = keep & (dX.index < 2250)  # ... and none of partition 3 (rows 2250-2999)
    dX, dy = dX[keep], dy[keep]
    assert 0 in dX.map_partitions(len).compute().tolist()
    model = fit_distributed(_model(), dX, dy, client=client)
    assert model.predict_proba(X_test).shape == (len(X_test), 2)
    # The only partition of worker 1 is empty: that worker sits the trainings out (it made
    # lightgbm.dask fail with "Input data must be 2 dimensional and non empty").
    dX, dy = _dask(X, y, npartitions=2)
    keep = (dX["amount"] > -1.0) & (dX.index < 1500)
    dX, dy = dX[keep], dy[keep]
    assert dX.map_partitions(len).compute().tolist() == [1500, 0]
    model = fit_distributed(_model(), dX, dy, client=client)
    assert model.predict_proba(X_test).shape == (len(X_test), 2)


def test_multiclass_lightgbm_classifier_teacher(client):
    """Three string grades, an LGBMClassifier teacher (lightgbm.dask.DaskLGBMClassifier)."""
    X, y = make_risk_frame(900, n_classes=3, seed=2)
    X_train, y_train, X_test, y_test = X.iloc[:600], y.iloc[:600], X.iloc[600:], y.iloc[600:]
    teacher = lgb.LGBMClassifier(n_estimators=40, num_leaves=7, verbose=-1)
    params = {"teacher": teacher, "student": fast_tree(), "cv": 3, "random_state": 0}
    model = fit_distributed(
        DistilledClassifier(**params), *_dask(X_train, y_train, npartitions=3), client=client
    )
    memory = DistilledClassifier(**params).fit(X_train, y_train)
    np.testing.assert_array_equal(model.classes_, ["A", "B", "C"])
    assert model.predict_proba(X_test).shape == (len(X_test), 3)
    # 300 test rows, 3 balanced grades: one accuracy has a standard error of ~0.03; the models
    # share the rows, so 0.08 flags a real loss, not noise.
    for get in (lambda m: m.teacher_.predict_proba(X_test), lambda m: m.predict_proba(X_test)):
        accuracies = [
            np.mean(model.classes_[get(m).argmax(axis=1)] == y_test) for m in (model, memory)
        ]
        assert accuracies[0] > 0.5  # chance is 1/3
        assert abs(accuracies[0] - accuracies[1]) < 0.08, accuracies


@pytest.mark.parametrize("teacher", [None, "lgbm_balanced"])
def test_a_worker_holding_one_class_trains_the_teacher_on_true_labels(client, teacher):
    """Rows stored by outcome: worker 1 holds positives only. lightgbm.dask's classifier
    label-encoded each worker on its own, so that worker's positives trained as class 0
    (here teacher AUC 0.59 against 0.94). With class_weight="balanced" too (classes are even
    here, so this runs that path; its weighing over all partitions is checked below)."""
    features, labels = make_classification(
        n_samples=5000, n_features=6, n_informative=4, flip_y=0.05, random_state=0
    )
    X, y = pd.DataFrame(features, columns=list("abcdef")), pd.Series(labels, name="y")
    X_test, y_test = X.iloc[4000:], y.iloc[4000:]
    order = np.argsort(y.iloc[:4000].to_numpy(), kind="stable")
    Xs = X.iloc[:4000].iloc[order].reset_index(drop=True)
    ys = y.iloc[:4000].iloc[order].reset_index(drop=True)
    dX, dy = dd.from_pandas(Xs, npartitions=2, sort=False), dd.from_pandas(ys, 2, sort=False)
    assert set(dy.partitions[1].compute()) == {1}  # the second worker's rows: one class
    if teacher == "lgbm_balanced":
        teacher = lgb.LGBMClassifier(
            n_estimators=60, num_leaves=7, class_weight="balanced", verbose=-1
        )
    else:
        teacher = fast_teacher()
    model = fit_distributed(_model(teacher=teacher, calibration=None), dX, dy, client=client)
    memory = _model(teacher=teacher, calibration=None).fit(Xs, ys)
    # 1,000 test rows, half positive: the AUC's standard error is ~0.01; shared rows make the
    # paired difference smaller, so 0.03 flags the lost labels (0.35 lower), not noise.
    aucs = [roc_auc_score(y_test, m.teacher_.predict_proba(X_test)[:, 1]) for m in (model, memory)]
    assert abs(aucs[0] - aucs[1]) < 0.03, aucs
    # The teacher's probabilities are on the true prior (0.5), after the class weights.
    means = [m.teacher_.predict_proba(X_test)[:, 1].mean() for m in (model, memory)]
    assert abs(means[0] - means[1]) < 0.03, means


def test_class_weight_becomes_row_weights_over_all_partitions():
    """lightgbm.dask would compute "balanced" from each worker's rows; riskkd computes it
    from all rows (pass 1's class counts) and multiplies it into the teacher's weights."""
    from sklearn.utils.class_weight import compute_class_weight

    from riskkd.distributed import _FOLD, _LABEL, _WEIGHT, _class_factors, _training_rows

    classes, totals = np.array(["bad", "good"]), np.array([30, 970])
    labels = np.repeat(classes, totals)
    expected = compute_class_weight("balanced", classes=classes, y=labels)
    np.testing.assert_allclose(_class_factors("balanced", classes, totals), expected)
    np.testing.assert_array_equal(_class_factors({"bad": 5}, classes, totals), [5.0, 1.0])
    assert _class_factors(None, classes, totals) is None
    with pytest.raises(ValueError, match=r"class_weight names \[1\], which are not classes"):
        _class_factors({1: 5}, classes, totals)
    part = pd.DataFrame({_LABEL: [0, 1, 1], _WEIGHT: [2.0, 1.0, 0.5], _FOLD: [0, 1, 2]})
    weights = _training_rows(part, _WEIGHT, None, np.array([5.0, 1.0]))
    np.testing.assert_array_equal(weights, [10.0, 1.0, 0.5])


# ---------------------------------------------------------------------------- errors
def test_refuses_unsupported_teachers(transactions):
    X, y, _, _ = transactions
    dX, dy = _dask(X, y)
    prefit = FrozenEstimator(HistGradientBoostingClassifier())
    for teacher, shown in ((HistGradientBoostingClassifier(), "HistGradientBoosting"),
                           (prefit, "prefit")):  # fmt: skip
        with pytest.raises(TypeError, match=shown):
            fit_distributed(_model(teacher=teacher), dX, dy)


def test_refuses_several_teachers(transactions):
    dX, dy = _dask(*transactions[:2])
    with pytest.raises(ValueError, match="trains one teacher; got a list of 2"):
        fit_distributed(_model(teacher=[fast_teacher(), fast_teacher()]), dX, dy)


def test_a_student_that_cannot_take_the_target_fails_before_the_teachers(client, monkeypatch):
    from riskkd import distributed as module

    def no_teacher(*args, **kwargs):
        raise AssertionError("a teacher was trained before the student's check")

    monkeypatch.setattr(module._DaskDistillation, "_persist_frame", no_teacher)
    X, y = make_risk_frame(300, 3, seed=4)  # three grades: the scorecard is binary only
    with pytest.raises(ValueError, match="binary targets only"):
        fit_distributed(_model(student="scorecard"), *_dask(X, y), client=client)


def test_refuses_in_memory_data(transactions):
    X, y, _, _ = transactions
    with pytest.raises(TypeError, match=r"X must be a dask\.dataframe\.DataFrame.*from_pandas"):
        fit_distributed(_model(), X, y)
    dX, _ = _dask(X, y)
    with pytest.raises(TypeError, match=r"y must be a dask\.dataframe\.Series"):
        fit_distributed(_model(), dX, y)


def test_refuses_misaligned_y(client, transactions):
    X, y, _, _ = transactions
    dX = dd.from_pandas(X, npartitions=4)
    with pytest.raises(ValueError, match="y is not aligned with X: it has 3 partitions"):
        fit_distributed(_model(), dX, dd.from_pandas(y, npartitions=3))
    # Same number of partitions, different rows: found by the summary pass, model untouched.
    shifted = dd.from_pandas(y.iloc[:2000], npartitions=4).clear_divisions()
    model = _model()
    with pytest.raises(ValueError, match=r"partition 0 of X has \d+ rows but y's has \d+"):
        fit_distributed(model, dX.clear_divisions(), shifted, client=client)
    assert not _fitted_names(model)
    # Same lengths, rows in another order (from_pandas sorts a shuffled index by default).
    order = np.random.default_rng(0).permutation(len(X))
    Xs, ys = X.iloc[order], y.iloc[order]
    dX, dy = dd.from_pandas(Xs, npartitions=3), dd.from_pandas(ys, npartitions=3, sort=False)
    with pytest.raises(ValueError, match=r"y is not aligned with X: partition 0 .*another row"):
        fit_distributed(_model(), dX.clear_divisions(), dy.clear_divisions(), client=client)


def test_refuses_a_splitter_cv(transactions):
    dX, dy = _dask(*transactions[:2])
    with pytest.raises(ValueError, match="integer cv"):
        fit_distributed(_model(cv=KFold(3)), dX, dy)


def test_error_in_a_partition_names_the_column(client, transactions):
    """A bad value inside one partition is reported with the schema's message."""
    X, y, _, _ = transactions
    X = X.copy()
    X.loc[X.index[-1], "amount"] = np.inf
    model = _model()
    with pytest.raises(ValueError, match="Column 'amount' holds 1 infinite value"):
        fit_distributed(model, *_dask(X, y), client=client)
    assert not _fitted_names(model)


def _memorable_groups(n_groups=150, size=20, seed=0):
    """Rows whose label is their group's coin flip and whose ``code`` names the group: a
    teacher that saw a group's rows knows their label, one that did not can only guess."""
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(n_groups), size)
    y = pd.Series(rng.integers(0, 2, n_groups)[group], name="y")
    X = pd.DataFrame({"code": group.astype(float), "noise": rng.normal(size=len(group))})
    return X, y, pd.Series(group, name="customer")


def test_groups_keep_the_cross_fitting_folds_apart(client):
    """With ``groups``, a row's soft target comes from a teacher that never saw its group."""
    X, y, groups = _memorable_groups()
    dX, dy = _dask(X, y)
    teacher = fast_teacher(min_child_samples=5)
    mixed = fit_distributed(_model(teacher=teacher), dX, dy, client=client)
    kept = fit_distributed(
        _model(teacher=teacher), dX, dy, groups=dd.from_pandas(groups, npartitions=4),
        client=client,
    )  # fmt: skip
    # Soft targets are collected in row order. Folds that split groups leak each group's
    # label into its out-of-fold prediction; folds by group cannot (150 coin flips: an AUC
    # of 0.5 +- 0.05, so 0.7 is far outside chance, 0.95 far above it).
    assert roc_auc_score(y, mixed.soft_targets_[:, 1]) > 0.95
    assert roc_auc_score(y, kept.soft_targets_[:, 1]) < 0.7


def test_group_folds_follow_the_group_alone():
    from riskkd.distributed import _group_folds

    groups = pd.Series(np.repeat(np.arange(300), 3))
    folds = _group_folds(groups, 5, seed=1)
    assert (pd.Series(folds).groupby(groups).nunique() == 1).all()
    assert np.array_equal(folds[:450], _group_folds(groups.iloc[:450], 5, seed=1))  # any cut
    assert np.array_equal(folds, _group_folds(groups.astype("float64"), 5, seed=1))
    assert not np.array_equal(folds, _group_folds(groups, 5, seed=2))
    # 300 groups over 5 folds: 60 each, +- 3 standard deviations (sqrt(300 * 0.2 * 0.8) = 7).
    assert np.all(np.abs(np.bincount(folds[::3], minlength=5) - 60) < 21)


def test_groups_are_checked_before_any_teacher(client):
    X, y, groups = _memorable_groups(n_groups=40)
    dX, dy = _dask(X, y)
    model = _model()
    missing = groups.astype("float64").where(groups != 3)
    with pytest.raises(ValueError, match="groups has 20 missing value"):
        fit_distributed(model, dX, dy, groups=dd.from_pandas(missing, npartitions=4), client=client)
    assert not _fitted_names(model)
    # Every fraud in one customer: the fold holding it would train a teacher without frauds.
    one = y.where(groups == groups[y == 1].iloc[0], 0)
    with pytest.raises(ValueError, match=r"every row of class 1 is in fold \d of cv=3"):
        fit_distributed(
            model, dX, dd.from_pandas(one, npartitions=4),
            groups=dd.from_pandas(groups, npartitions=4), client=client,
        )  # fmt: skip
    with pytest.raises(ValueError, match="groups is not aligned with X: it has 2 partitions"):
        fit_distributed(model, dX, dy, groups=dd.from_pandas(groups, npartitions=2))
    # A y of other lengths is named as such, with groups too (not a pandas grouper error).
    shifted = dd.from_pandas(y.iloc[:600], npartitions=4).clear_divisions()
    with pytest.raises(ValueError, match=r"partition 0 of X has \d+ rows but y's has \d+"):
        fit_distributed(
            model, dX.clear_divisions(), shifted,
            groups=dd.from_pandas(groups, npartitions=4).clear_divisions(), client=client,
        )  # fmt: skip
