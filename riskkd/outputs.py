"""Names of the scored outputs, shared by the MLflow pyfunc flavor and batch scoring."""

from __future__ import annotations

from typing import Any

import numpy as np


def output_columns(classes: Any) -> list[str]:
    """Names of the probability columns: ``proba_<class>``, in the order of ``classes``.

    Examples
    --------
    >>> output_columns(np.array([0, 1]))
    ['proba_0', 'proba_1']
    """
    return [f"proba_{c.item() if isinstance(c, np.generic) else c}" for c in classes]
