"""The fidelity report of a distilled model: one self-contained HTML page.

The step of the riskkd data flow between the student and tracking: it measures how
faithful a fitted :class:`~riskkd.DistilledClassifier` is to its teacher and renders it
for a model validator. :mod:`riskkd.tracking` logs the same page to MLflow.

* :func:`write_report` writes the page (plots embedded as base64 PNG, opens offline);
  :func:`build_report` renders it in memory (a :class:`Report`);
* :func:`population_stability_index` compares two score distributions;
* :func:`evaluate` and :func:`measure_latency` compute the figures the page shows
  (:class:`FidelityEvaluation`), :func:`report_metrics` flattens them into metric names.

Plots need matplotlib: ``pip install "riskkd[report]"``.

Examples
--------
>>> from riskkd.report import population_stability_index
>>> population_stability_index([0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], bins=2)
0.0
>>> from riskkd.report import write_report
>>> write_report(model, X_test, y_test, "report.html", X_reference=X_train)  # doctest: +SKIP
PosixPath('report.html')
"""

__all__ = [
    "FidelityEvaluation",
    "Report",
    "build_report",
    "evaluate",
    "grade_confusion",
    "measure_latency",
    "population_stability_index",
    "report_metrics",
    "write_report",
]

from ._build import Report, build_report, write_report
from ._metrics import (
    FidelityEvaluation,
    evaluate,
    grade_confusion,
    measure_latency,
    population_stability_index,
    report_metrics,
)
