"""Every example in torsoseg's docstrings runs and shows what it says it shows (doctest).

Examples that need files or trained models are marked ``# doctest: +SKIP`` in place; the rest run here,
so a stale example (a changed default, a renamed argument) fails the suite instead of misleading a reader.
"""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil

import pytest

import torsoseg

MODULES = sorted(m.name for m in pkgutil.walk_packages(torsoseg.__path__, "torsoseg."))


def test_every_module_is_found():
    assert {"torsoseg.inference.tiling", "torsoseg.training.settings", "torsoseg.organs"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(verbose=False)
    out = io.StringIO()
    for test in doctest.DocTestFinder(exclude_empty=True).find(module, name):  # its own objects only
        runner.run(test, out=out.write)
    assert runner.failures == 0, out.getvalue()
