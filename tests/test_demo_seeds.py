"""scripts/demo_seeds.py: mean ± std over demo runs and the fine-tuned >= scratch ranking check."""

from __future__ import annotations

import json
from pathlib import Path

from tests.script_modules import load_script


def _module():
    return load_script("scripts/demo_seeds.py")


def _run(folder: Path, model: str, dice: dict[str, float]) -> None:
    summary = {"dice": {o: {"avg": v} for o, v in dice.items()}}
    (folder / "evaluation").mkdir(parents=True, exist_ok=True)
    (folder / "evaluation" / f"{model}.json").write_text(json.dumps({"summary": summary}))


def test_mean_std_and_ranking(tmp_path, capsys):
    m = _module()
    organs = dict.fromkeys(m.ORGANS, 0.5)
    _run(tmp_path / "s0", "fine-tuned", {**organs, "liver": 0.9})
    _run(tmp_path / "s0", "scratch", {**organs, "liver": 0.7})
    _run(tmp_path / "s1", "fine-tuned", {**organs, "liver": 0.7})
    _run(tmp_path / "s1", "scratch", {**organs, "liver": 0.8, "spleen": 0.6})
    assert m.main([str(tmp_path / "s0"), str(tmp_path / "s1")]) == 0
    out = capsys.readouterr().out
    assert "| **fine-tuned mean ± std** | **0.500 ± 0.000** | **0.500 ± 0.000** | **0.800 ± 0.141** |" in out
    # run s1: the fine-tuned model loses on the mean and on two shared organs; s0 holds
    assert "ranking fine-tuned >= scratch (mean and shared organs): FAILS" in out
    assert "s1: liver 0.700 < scratch 0.800" in out and "s1: spleen 0.500 < scratch 0.600" in out
    assert "s0:" not in out
    assert m.main([str(tmp_path / "missing")]) == 1


def test_cases_with_and_without_an_organ_pooled_over_the_runs(tmp_path, capsys):
    from tests.evaluation.test_results import presence_folders
    from torsoseg.evaluation import evaluate_folders

    raw, pred = presence_folders(tmp_path / "data")
    res = evaluate_folders(raw, pred)
    for run in ("s0", "s1"):
        (tmp_path / run / "evaluation").mkdir(parents=True)
        res.save(tmp_path / run / "evaluation" / "fine-tuned.json")
    _run(tmp_path / "s1", "scratch", dict.fromkeys(_module().ORGANS, 0.5))  # a summary only
    assert _module().main([str(tmp_path / "s0"), str(tmp_path / "s1")]) == 0
    out = capsys.readouterr().out
    assert "fine-tuned, the test cases of 2 run(s) pooled:" in out
    # each run: the gallbladder in 1 case (Dice 1), absent in 2, a false one in 1; the kidney always missed
    assert "| gallbladder | 2 | 1.000 | 0 | 4 | 2 | 0.0 |" in out
    assert "| kidney_right | 6 | 0.000 | 6 | 0 | 0 | n/a |" in out
    assert "scratch: no per-case records to pool" in out


def test_runs_stay_paired_when_a_model_is_missing_in_one(tmp_path, capsys):
    m = _module()
    organs = dict.fromkeys(m.ORGANS, 0.5)
    _run(tmp_path / "a" / "demo", "fine-tuned", {**organs, "liver": 0.4})  # no scratch model in this run
    _run(tmp_path / "b" / "demo", "fine-tuned", {**organs, "liver": 0.9})
    _run(tmp_path / "b" / "demo", "scratch", {**organs, "liver": 0.6})
    assert m.main([str(tmp_path / "a" / "demo"), str(tmp_path / "b" / "demo")]) == 0
    out = capsys.readouterr().out
    # b's fine-tuned model is compared with b's scratch one, not a's; the names repeat, so paths label them
    assert "holds on every run" in out and f"| scratch {tmp_path / 'b' / 'demo'} |" in out
