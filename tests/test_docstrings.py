"""The Examples sections of the core modules run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "riskkd.distill",
        "riskkd.teachers",
        "riskkd.transfer",
        "riskkd.multistage",
        "riskkd.tuning",
        "riskkd.scorecard",
        "riskkd.students._scorecard",
        "riskkd.outputs",
    ],
)
def test_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
