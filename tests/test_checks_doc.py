"""documentation/checks.md is generated from tests/checks_table.py and must match it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tests.checks_table import CHECKS

REPO = Path(__file__).resolve().parents[1]


def test_checks_page_is_up_to_date():
    spec = importlib.util.spec_from_file_location("make_checks_doc", REPO / "scripts" / "make_checks_doc.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    page = (REPO / "documentation" / "checks.md").read_text(encoding="utf-8")
    assert page == mod.render(), "run: python scripts/make_checks_doc.py"


def test_every_check_names_existing_tests():
    for key, check in CHECKS.items():
        for name in check.tests.split(", "):
            assert (REPO / name).is_file(), (key, name)
