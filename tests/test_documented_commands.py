"""Every command in README.md and documentation/ is valid as written (scripts/check_doc_commands.py):
``torsoseg_*`` commands are parsed by their own parsers, scripts and make targets must exist."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.script_modules import load_script

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checker():
    module = load_script("scripts/check_doc_commands.py")
    yield module
    sys.modules.pop(module.__name__, None)


def test_every_documented_command_parses(checker):
    found = [c for doc in checker.documents() for c in checker.commands(doc)]
    programs = {Path(c.words[0]).name for c in found if c.words}
    assert {"torsoseg_predict", "torsoseg_train", "torsoseg_convert", "torsoseg_evaluate",
            "torsoseg_plan_and_preprocess"} <= programs  # the extraction finds the documented commands
    problems = [f"{c} -> {msg}" for c in found if (msg := checker.check(c))]
    assert problems == []


def test_the_checker_catches_what_the_issue_found(checker, tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text(
        "text\n\n```bash\n"
        "torsoseg_plan_and_preprocess 2 --plans-from 1\n"
        "torsoseg_predict -i ct.nii.gz -o out/ -d 2 \\\n    --no-such-flag   # a comment\n"
        "torsoseg_predict -i ct.nii.gz -o out/ -d 2 -device cpu -tr FineTuneTrainer\n"
        "python benchmarks/no_such_script.py --x 1\n"
        "make no-such-target\n"
        "```\n\n```python\ntorsoseg_predict --not-shell-so-ignored\n```\n"
    )
    cmds = checker.commands(doc)
    assert [c.line for c in cmds] == [4, 5, 7, 8, 9]
    verdicts = [checker.check(c) for c in cmds]
    assert verdicts[0] is not None and "-d" in verdicts[0]  # the missing -d of the old training.md
    assert "--no-such-flag" in verdicts[1]
    assert verdicts[2] is None  # -device is the device, not "-d evice"
    assert "does not exist" in verdicts[3]
    assert "no-such-target" in verdicts[4]


@pytest.mark.slow
def test_help_of_every_documented_program_runs():
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "check_doc_commands.py"), "--run-help"],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr
