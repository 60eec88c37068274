"""Errors, not tracebacks: every command turns an error into one line and an exit code; ``-v`` adds the
traceback (issue 16)."""

from __future__ import annotations

import importlib
import re

import pytest

from tests.checks_table import CHECKS
from torsoseg.cli.errors import USAGE, UsageError, fail, guard

# command module, library function it calls (patched to fail), arguments that reach that call
COMMANDS = {
    "plan_and_preprocess": ("torsoseg.planning", "plan_dataset", ["-d", "1", "--no-progress"]),
    "train": ("torsoseg.training.run", "train_model", ["1", "--no-progress"]),
    "evaluate": ("torsoseg.evaluation", "evaluate_folders", ["--ref", "{tmp}", "--pred", "{tmp}"]),
    "convert": ("torsoseg.dataset_conversion", "convert", ["labelmap", "-i", "{tmp}", "-d", "4"]),
    "verify": ("torsoseg.dataset", "verify_dataset", ["--folder", "{tmp}", "--no-progress"]),
    "phantom": ("torsoseg.phantom", "write_source", ["--kind", "torso", "-n", "1", "-o", "{tmp}/p"]),
    "predict": ("torsoseg.inference.batch", "find_cases", ["-i", "{tmp}", "-o", "{tmp}/o", "-d", "1"]),
}


def _boom(*args, **kwargs):
    raise RuntimeError("boom in the library")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_unexpected_error_is_one_line_exit_1_traceback_only_with_v(command, tmp_path, monkeypatch, capsys):
    module_name, function, argv = COMMANDS[command]
    if command == "plan_and_preprocess":  # the dataset must be found before planning starts
        (tmp_path / "raw" / "Dataset001_X").mkdir(parents=True)
        argv = [*argv, "--raw", str(tmp_path / "raw"), "--preprocessed", str(tmp_path / "pre")]
    monkeypatch.setattr(importlib.import_module(module_name), function, _boom)
    main = importlib.import_module(f"torsoseg.cli.{command}").main
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert re.search(CHECKS["cli_error"].pattern, lines[0])
    hint = " (run with -v for the traceback)"
    assert lines[0] == f"torsoseg_{command}: RuntimeError: boom in the library{hint}"
    assert main([*argv, "-v"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "_boom" in err
    assert err.strip().splitlines()[-1] == f"torsoseg_{command}: RuntimeError: boom in the library"


def test_train_data_error_is_one_line_exit_1(tmp_path, capsys):
    """A checkpoint that is not one (resume): one line naming the file, no traceback."""
    from tests.training.conftest import tiny_plans, write_tiny_dataset
    from torsoseg.cli.train import main

    write_tiny_dataset(tmp_path / "pre", tiny_plans(), 2)
    fold = tmp_path / "res" / "Dataset990_Tiny" / "Trainer_cpu__torsoseg_plans__3d_fullres" / "fold_all"
    fold.mkdir(parents=True)
    (fold / "checkpoint_latest.pt").write_bytes(b"not a checkpoint")
    assert main(["990", "--fold", "all", "--preset", "cpu", "--resume", "--device", "cpu", "--no-progress",
                 "--preprocessed", str(tmp_path / "pre"), "--results", str(tmp_path / "res")]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" not in err and len(err.strip().splitlines()) == 1, err
    assert "checkpoint_latest.pt: cannot be loaded as a torsoseg checkpoint" in err


def test_plan_usage_errors_exit_2(tmp_path, capsys):
    from torsoseg.cli.plan_and_preprocess import main

    assert main(["-d", "1", "-np", "0"]) == USAGE
    assert capsys.readouterr().err == "torsoseg_plan_and_preprocess: -np must be >= 1, got 0\n"
    assert main(["-d", "5", "--raw", str(tmp_path), "--no-progress"]) == USAGE
    assert "no folder Dataset005_*" in capsys.readouterr().err


def test_guard_codes_and_interrupt(capsys):
    def interrupted() -> int:
        raise KeyboardInterrupt

    def usage() -> int:
        raise UsageError("--x must be > 0, got -1")

    assert guard("prog", lambda: 0) == 0
    assert guard("prog", usage) == USAGE
    assert capsys.readouterr().err == "prog: --x must be > 0, got -1\n"
    assert guard("prog", interrupted, interrupted="interrupted; rerun to resume") == 130
    assert capsys.readouterr().err == "prog: interrupted; rerun to resume\n"
    assert guard("prog", lambda: int("x")) == 1  # a ValueError says what is wrong: no type name, no hint
    assert capsys.readouterr().err == "prog: invalid literal for int() with base 10: 'x'\n"
    assert fail("prog", KeyError("labels"), 1) == 1
    assert capsys.readouterr().err == "prog: KeyError: 'labels' (run with -v for the traceback)\n"
    assert fail("prog", ValueError("x.pt: cannot be read (torch says:\n  more\n)"), 1) == 1
    assert capsys.readouterr().err == "prog: x.pt: cannot be read (torch says: more )\n"  # still one line
