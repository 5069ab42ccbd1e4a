"""MLflow tracking, model flavor and registry for distilled models.

The last steps of the riskkd data flow, after the fidelity report:

* **tracking**: :func:`log_distillation` logs a fitted model's params, training history,
  fidelity and latency on validation data, plots and the self-contained HTML report
  of :mod:`riskkd.report`;
  :func:`autolog` does the same (on training data) after every ``fit``;
* **flavor**: :func:`save_model`, :func:`log_model` and :func:`load_model` store a model as
  an MLflow model with a ``riskkd`` flavor and a pickle-free ``python_function`` flavor
  whose ``predict`` returns a DataFrame of ``proba_<class>`` columns;
* **registry**: registered versions carry fidelity tags, and :func:`promote` moves an alias
  (``champion``) to a version only when it passes fidelity gates.

Nothing here imports torch. When no tracking URI is configured, a SQLite database
``mlflow.db`` in the working folder is used (:func:`default_tracking_uri`). The same API
is available as :mod:`riskkd.mlflow`.

Examples
--------
>>> import riskkd.tracking as tracking
>>> run_id = tracking.log_distillation(
...     model, X_test, y_test, X_train=X_train, registered_model_name="credit-risk"
... )  # doctest: +SKIP
>>> tracking.promote("credit-risk", 1)  # doctest: +SKIP
>>> tracking.load_model("models:/credit-risk@champion")  # doctest: +SKIP
"""

__all__ = [
    "DEFAULT_GATES",
    "FidelityGateError",
    "autolog",
    "default_tracking_uri",
    "hash_training_data",
    "load_model",
    "log_distillation",
    "log_model",
    "promote",
    "save_model",
]

from ._autolog import autolog
from ._flavor import load_model, log_model, save_model
from ._logging import log_distillation
from ._params import hash_training_data
from ._registry import DEFAULT_GATES, FidelityGateError, promote
from ._runs import default_tracking_uri
