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
