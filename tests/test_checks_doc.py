"""documentation/checks.md is generated from tests/checks_table.py and must match it."""

from __future__ import annotations

from pathlib import Path

from tests.checks_table import CHECKS
from tests.script_modules import load_script

REPO = Path(__file__).resolve().parents[1]


def test_checks_page_is_up_to_date():
    mod = load_script("scripts/make_checks_doc.py")
    page = (REPO / "documentation" / "checks.md").read_text(encoding="utf-8")
    assert page == mod.render(), "run: python scripts/make_checks_doc.py"


def test_every_check_names_existing_tests():
    for key, check in CHECKS.items():
        for name in check.tests.split(", "):
            assert (REPO / name).is_file(), (key, name)
