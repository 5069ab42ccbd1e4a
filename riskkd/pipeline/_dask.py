"""The pipeline runner of ``training.engine: dask``, for data larger than one machine.

The data is read lazily with ``dask.dataframe`` (a parquet file or folder, a CSV file, or a
bundled dataset split into partitions), checked against its contract partition by
partition, split without collecting it, and distilled by
:func:`riskkd.distributed.fit_distributed` on one Dask cluster kept for the whole run (a
``LocalCluster`` of ``training.n_workers`` workers, or ``training.scheduler``). Only the test
rows and a sample of the training rows (the report's PSI reference) come to the driver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .._dask_client import dask_client
from ..distributed import _seeded_hash
from ._build import build_model
from ._data import (
    Dataset,
    TrainTestSplit,
    _missing_column,
    check_exists,
    check_groups,
    check_split_classes,
    contract_schema,
    date_orders,
    table_kind,
    time_test_mask,
    whole_floats_as_integers,
)
from ._data import resolve_contract as _resolve_contract
from ._data import validate_contract as _validate_contract
from ._runner import PipelineResult, PipelineRunner

__all__ = ["DaskPipelineRunner"]

#: Most training rows brought to the driver: report reference and XGBoost early stopping.
MAX_DRIVER_ROWS = 200_000


def _read(path: str, n_partitions: int | None) -> Any:
    import dask.dataframe as dd

    source = Path(path)
    check_exists(source)
    if table_kind(source) == "parquet":
        frame = dd.read_parquet(source)
    else:
        # A compressed file cannot be split: one partition per file, repartitioned below.
        blocksize = "64MB" if source.name.lower().endswith((".csv", ".txt")) else None
        frame = whole_floats_as_integers(
            dd.read_csv(source, blocksize=blocksize, assume_missing=True)
        )
    return frame if n_partitions is None else frame.repartition(npartitions=n_partitions)


def _one_date_order(column: Any, cutoff: Any) -> bool | None:
    """The date order all partitions of a text time column read in (None: any, or not text).

    Each partition decided alone would read one file's dates month first and another's
    day first, or refuse a file whose dates all read both ways.
    """
    orders = column.map_partitions(
        lambda part: pd.Series([date_orders(part, cutoff)], dtype=object), meta=(None, object)
    ).compute()
    common = {False, True}
    for found in orders:
        if found and found != (None,):
            common &= set(found)
    if not common:
        raise ValueError(
            f"split.column: {column.name!r} holds dates that read month first in some "
            "partitions (files) and day first in others; write them in one format, ideally "
            "ISO (2020-07-01)."
        )
    return common.pop() if len(common) == 1 else None


def _checked_rows(part: pd.DataFrame, contract: Any, partition_info=None) -> pd.Series:
    from ..schemas import SchemaValidationError

    try:
        _validate_contract(part, contract)
    except SchemaValidationError as error:
        number = "?" if partition_info is None else partition_info["number"]
        raise SchemaValidationError(
            f"Partition {number} (rows numbered within it): {error}",
            schema_name=error.schema_name,
            failure_cases=error.failure_cases,
        ) from error
    return pd.Series([len(part)])


def _check_unique_across_partitions(frame: Any, contract: Any) -> None:
    """Each partition is checked on its own: a ``unique`` column is checked over all of them."""
    from ..schemas import SchemaValidationError

    schema, name, _ = contract_schema(contract)
    for column, spec in schema.columns.items():
        if not spec.unique or column not in frame.columns:
            continue
        counts = frame[column].value_counts()
        repeated = counts[counts > 1].head(5, npartitions=-1)
        if len(repeated):
            shown = ", ".join(f"{v!r} ({n} times)" for v, n in repeated.items())
            raise SchemaValidationError(
                f"DataFrame breaks the {name!r} contract: column {column!r} must be unique, "
                f"but values repeat across partitions (files): {shown}.",
                schema_name=name,
                failure_cases=pd.DataFrame(
                    {"column": column, "check": "field_uniqueness", "failure_case": repeated.index}
                ),
            )


def _same_rows(part: pd.DataFrame) -> pd.DataFrame:
    """The partition itself: a step Dask cannot push column projections through."""
    return part


def _group_test_mask(part: pd.Series, seed: int, test_size: float) -> pd.Series:
    check_groups(part)
    return _hashed_test_mask(part, seed, test_size)


def _hashed_test_mask(part: pd.DataFrame | pd.Series, seed: int, test_size: float) -> pd.Series:
    """Whether each row goes to the test set: a seeded hash of its values below ``test_size``.

    A function of the row's values alone (``riskkd.distributed._seeded_hash``), so every
    read of the data draws the same rows, however Dask partitions it (projecting columns
    fuses small parquet files into fewer partitions, and dropping partitions renumbers them:
    a draw seeded by partition number put test rows into training).
    """
    hashed = pd.Series(_seeded_hash(part, seed), index=part.index)
    return (hashed % 1_000_000) < int(test_size * 1_000_000)


class DaskPipelineRunner(PipelineRunner):
    """Run a pipeline on Dask: the same steps, with the data never collected whole.

    Differences with :class:`PipelineRunner`: ``split.kind: stratified`` draws each row
    into the test set with probability ``test_size`` by a seeded hash of its feature and
    target values (class shares match up to sampling noise; identical rows go to the same
    side); ``group`` hashes the group column, so a group is on one side whatever partition
    holds it, and the cross-fitting folds keep groups apart too (by another seeded hash,
    see :func:`~riskkd.distributed.fit_distributed`); XGBoost's rounds are early-stopped on
    a sample of at most 200,000 training rows; the report's PSI reference is such a sample
    and no hash of the training rows is logged. ``data.n_rows`` is not supported.
    """

    hash_training_rows = False

    def describe_split(self) -> str:
        if self.config.split.kind != "stratified":
            return super().describe_split()
        return (
            f"random by a seeded hash of each row (class shares up to sampling noise): "
            f"test_size={self.config.split.test_size}, seed={self.config.seed}"
        )

    def run(self) -> PipelineResult:
        training = self.config.training
        with dask_client(training.scheduler, training.n_workers) as client:
            self.client = client
            self._sample = None
            try:
                return super().run()
            finally:
                del self.client
                self._sample = None

    def load(self) -> Dataset:
        import dask.dataframe as dd

        config, training = self.config, self.config.training
        if config.data.dataset is not None:
            in_memory = super().load()
            lazy = dd.from_pandas(
                in_memory.frame, npartitions=training.n_partitions or training.n_workers
            )
            column = None if in_memory.split_column is None else lazy[in_memory.split_column.name]
            return Dataset(
                lazy,
                in_memory.features,
                in_memory.target,
                column,
                in_memory.source,
            )
        frame = _read(config.data.path, training.n_partitions)
        target = config.data.target
        split_name = getattr(config.split, "column", None)
        for key, names in (
            ("data.target", [target]),
            ("data.drop", config.data.drop),
            ("split.column", [split_name] if split_name else []),
        ):
            for name in names:
                if name not in frame.columns:
                    raise _missing_column(name, frame.columns, key)
        removed = {target, *config.data.drop, *([split_name] if split_name else [])}
        features = [c for c in frame.columns if c not in removed]
        return Dataset(
            frame,
            features,
            target,
            None if split_name is None else frame[split_name],
            str(config.data.path),
        )

    def validate(self, dataset: Dataset) -> str | None:
        """Check every partition against the contract (raises on the first broken one)."""
        if self.config.contract is None:
            return None
        contract = _resolve_contract(self.config.contract, self.base_dir)
        frame = dataset.contract_frame(contract)
        frame.map_partitions(_checked_rows, contract, meta=(None, "int64")).compute()
        _check_unique_across_partitions(frame, contract)
        return contract if isinstance(contract, str) else contract.stem

    def split(self, dataset: Dataset) -> TrainTestSplit:
        import dask

        split, seed = self.config.split, self.config.seed
        names = [*dataset.features, dataset.target]
        split_name = None if dataset.split_column is None else dataset.split_column.name
        if split_name is not None and split_name not in names:
            names.append(split_name)
        # One read for every later use. Dask pushes each use's column projection into the
        # parquet read and fuses small files into fewer partitions the fewer columns it
        # reads, so X and y, or the training and test rows, would be cut differently; an
        # identity map_partitions (which Dask cannot see through) keeps one cut.
        frame = dataset.frame[names]
        frame = frame.map_partitions(_same_rows, meta=frame._meta)
        if split.kind == "time":
            dayfirst = split.dayfirst
            if dayfirst is None:
                dayfirst = _one_date_order(frame[split_name], split.cutoff)
            is_test = frame[split_name].map_partitions(
                time_test_mask, split.cutoff, dayfirst, meta=(None, bool)
            )
        elif split.kind == "group":
            is_test = frame[split_name].map_partitions(
                _group_test_mask, seed, split.test_size, meta=(None, bool)
            )
        else:
            is_test = frame[[*dataset.features, dataset.target]].map_partitions(
                _hashed_test_mask, seed, split.test_size, meta=(None, bool)
            )
        train, test = frame[~is_test], frame[is_test].compute()
        # One pass counts the training rows per partition (partitions left empty by the
        # split, e.g. the test years of a time-partitioned folder, are dropped) and collects
        # the training classes.
        counts, train_classes = dask.compute(
            train.map_partitions(len), train[dataset.target].unique()
        )
        counts = counts.tolist()
        n_train = int(sum(counts))
        if 0 < n_train and 0 in counts:
            train = train.partitions[[i for i, n in enumerate(counts) if n > 0]]
        for side, n in (("training", n_train), ("test", len(test))):
            if n == 0:
                raise ValueError(
                    f"split: the {side} set is empty with {split!r}; move the cutoff or change "
                    "test_size."
                )
        check_split_classes(train_classes, test[dataset.target], split)
        self.check_threshold(
            pd.concat([train_classes, test[dataset.target]]).unique(), dataset.target
        )
        features, target = dataset.features, dataset.target
        groups = train[split_name] if split.kind == "group" else None
        return TrainTestSplit(
            train[features],
            test[features],
            train[target],
            test[target],
            n_train=n_train,
            groups_train=groups,
        )

    def _driver_sample(self, split: TrainTestSplit) -> tuple[pd.DataFrame, pd.Series]:
        """A seeded sample of at most 200,000 training rows and their labels, in memory."""
        if getattr(self, "_sample", None) is None:
            fraction = min(1.0, MAX_DRIVER_ROWS / max(split.n_train, 1))
            label = "__riskkd_label__"
            rows = split.X_train.assign(**{label: split.y_train})
            rows = rows.sample(frac=fraction, random_state=self.config.seed).compute()
            self._sample = rows.drop(columns=label), rows[label].rename(split.y_train.name)
        return self._sample

    def reference_rows(self, split: TrainTestSplit) -> pd.DataFrame:
        """The training rows of :meth:`_driver_sample` (the report's PSI reference)."""
        return self._driver_sample(split)[0]

    def teacher(self, split: TrainTestSplit) -> Any:
        """XGBoost's rounds are early-stopped on the driver sample; other teachers as usual."""
        if self.config.teacher.kind != "xgboost":
            return super().teacher(split)
        X, y = self._driver_sample(split)
        return super().teacher(TrainTestSplit(X, split.X_test, y, split.y_test))

    def distill(self, teacher: Any, split: TrainTestSplit) -> Any:
        from ..distributed import fit_distributed

        return fit_distributed(
            build_model(self.config, teacher),
            split.X_train,
            split.y_train,
            client=self.client,
            groups=split.groups_train,
            max_student_rows=self.config.training.max_student_rows,
        )
