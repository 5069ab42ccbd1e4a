"""Bundled real risk datasets and a synthetic card-transaction generator.

The loaders return :class:`sklearn.utils.Bunch` objects in the style of
:mod:`sklearn.datasets`; the data files ship inside the package, so they work
offline.
"""

from riskkd.datasets._loaders import (
    DATASETS,
    load_credit_data,
    load_dataset,
    load_german_credit,
    load_lending_club_grades,
    load_taiwan_credit,
    load_vehicle_fraud,
    train_test_split_recommended,
)
from riskkd.datasets._transactions import make_transactions

__all__ = [
    "DATASETS",
    "load_credit_data",
    "load_dataset",
    "load_german_credit",
    "load_lending_club_grades",
    "load_taiwan_credit",
    "load_vehicle_fraud",
    "make_transactions",
    "train_test_split_recommended",
]
