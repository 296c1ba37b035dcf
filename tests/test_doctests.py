"""The examples in the docstrings of geo/core (pure functions, no database) run and hold."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import geo.core

MODULES = sorted(
    ["geo.core"] + [f"geo.core.{m.name}" for m in pkgutil.iter_modules(geo.core.__path__)]
)


def _run(name: str) -> doctest.TestResults:
    return doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_hold(name: str):
    result = _run(name)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_there_are_examples():
    assert sum(_run(name).attempted for name in MODULES) > 0
