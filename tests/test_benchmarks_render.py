"""Rendering of documentation/benchmarks.md by benchmarks/run_all.py from result JSONs (no benchmark runs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.script_modules import load_script

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run_all():
    module = load_script("benchmarks/run_all.py", "torsoseg_bench_run_all")
    yield module
    sys.modules.pop(module.__name__, None)


MACHINE = {
    "cpu_model": "Fake CPU 9000",
    "logical_cores": 2,
    "physical_cores": 2,
    "bf16": ["amx_bf16"],
    "ram_gib": 23.5,
    "torch": "2.13.0+cpu",
    "python": "3.11.7",
    "os": "Linux",
}


def record(name: str, result: dict, quick: bool = False, load: float = 0.2) -> dict:
    return {
        "format_version": 1,
        "benchmark": name,
        "command": f"python benchmarks/bench_{name}.py --fake",
        "reproduce": f"python benchmarks/run_all.py --only {name}",
        "quick": quick,
        "date": "2026-11-27T10:00:00+00:00",
        "wall_s": 1.0,
        "git": {"commit": "abc1234", "dirty": False},
        "machine": MACHINE,
        "load_average_before": [load, load, load],
        "load_average_after": [load] * 3,
        "comparison": None,
        "source": "benchmarks/run_all.py",
        "result": result,
    }


TRAINING = {  # hand-made: nnU-Net 8 s/step, torsoseg fp32 4 s (2x), auto 2 s (4x); loader 3 batches/s
    "plans": {
        "patch_size": [32, 32, 16],
        "batch_size": 2,
        "features": [8, 16],
        "strides": [[1, 1, 1], [2, 2, 2]],
    },
    "threads": 2,
    "cases": 3,
    "torsoseg_step_s_fp32": 4.0,
    "torsoseg_step_s_auto": 2.0,
    "torsoseg_loader_batches_per_s": 3.0,
    "nnunet_step_s_fp32": 8.0,
    "nnunet_loader_batches_per_s": 5.0,
}
SLIDING = {
    "sliding-window": {
        "setup": "volume (64, 64, 48), patch (32, 32, 32)",
        "rows": [
            {
                "method": "torsoseg fp32",
                "seconds": 10.0,
                "speed-up vs nnU-Net v2": 1.2,
                "argmax agreement vs nnU-Net v2": "99.850 %",
            },
            {
                "method": "nnU-Net v2",
                "seconds": 12.0,
                "speed-up vs nnU-Net v2": 1.0,
                "argmax agreement vs nnU-Net v2": "100.000 %",
            },
        ],
    }
}
MEMORY = {
    "memory": {
        "rows": [
            {
                "volume": "512x512x400",
                "input": "worst case",
                "classes": 21,
                "network grid": "input spacing",
                "fp16 accumulator if uncropped GiB": 4.1,
                "fp32 copy GiB": 8.2,
                "fp64 copy GiB": 16.41,
                "peak GiB (PSS)": 5.0,
                "seconds": 100.0,
            },  # 5.0 GiB = 5.37 GB < 6 GB
        ]
    }
}


def write(folder: Path, name: str, rec: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(rec))


def render(run_all, results: Path, tmp_path: Path) -> str:
    out = tmp_path / "benchmarks.md"
    assert run_all.main(["--render-only", "--results", str(results), "--out", str(out)]) == 0
    return out.read_text()


def section_of(text: str, title_start: str) -> str:
    """The text of the section whose heading starts with ``title_start``, up to the next heading."""
    start = text.index(title_start)
    nxt = [i for i in (text.find("\n## ", start + 1), text.find("\n### ", start + 1)) if i != -1]
    return text[start : min(nxt) if nxt else len(text)]


def test_numbers_land_in_their_tables(run_all, tmp_path):
    results = tmp_path / "results"
    write(results, "training", record("training", TRAINING))
    write(results, "inference_sliding_window", record("inference_sliding_window", SLIDING, load=1.7))
    write(results, "inference_memory", record("inference_memory", MEMORY))
    text = render(run_all, results, tmp_path)

    train = section_of(text, "## Training")
    assert "| nnU-Net v2, float32 | 8.00 | 0.125 | 1.00x |" in train
    assert "| torsoseg, float32 | 4.00 | 0.250 | 2.00x |" in train
    assert "| torsoseg, `auto` (bf16 + channels-last where supported) | 2.00 | 0.500 | 4.00x |" in train
    assert "| torsoseg (batchgenerators, `cpu` preset) | 3.00 | 6.0 |" in train  # 3 batches/s x 2 s/step
    assert "iterations per second at least nnU-Net v2's (default precision): **met** (4.00x" in train
    assert "python benchmarks/bench_training.py --fake" in train
    assert "load average before the run 0.2 on 2 cores (quiet)" in train

    sw = section_of(text, "### Sliding window")
    assert "| torsoseg fp32 | 10.0 | 1.20 | 99.850 % |" in sw
    assert "| nnU-Net v2 | 12.0 | 1.00 | - |" in sw
    assert "99.9 % of the voxels: **not met** (99.850 %)" in sw
    assert "**machine busy**" in sw  # load 1.7 on 2 cores

    mem = section_of(text, "### Memory")
    assert "**5.00 GiB** (5.37 GB)" in mem
    assert "peak memory below 6 GB on the CPU, input: worst case: **met** (5.37 GB)" in mem

    header = text[: text.index("## Goals at a glance")]
    assert "Fake CPU 9000" in header and "2.13.0+cpu" in header and "23.5 GiB" in header
    assert "`abc1234`" in header


def test_missing_results_say_not_run_yet(run_all, tmp_path):
    text = render(run_all, tmp_path / "empty", tmp_path)
    for name, title in [
        ("plan_and_preprocess", "## Plan and preprocess"),
        ("precision", "## Precision"),
        ("inference_e2e", "### End to end"),
    ]:
        part = section_of(text, title)
        assert "**Not run yet.**" in part
        assert f"python benchmarks/run_all.py --only {name}" in part
    assert text.count("**Not run yet.**") == len(run_all.BENCHMARKS)
    assert "| `training` | - | not run yet | - | - |" in text


def test_every_benchmark_has_one_section_and_rendering_is_stable(run_all, tmp_path):
    results = tmp_path / "results"
    write(results, "training", record("training", TRAINING, quick=True))
    first = render(run_all, results, tmp_path)
    assert first == render(run_all, results, tmp_path)
    titles = [line for line in first.splitlines() if line.startswith(("## ", "### "))]
    assert len(titles) == len(set(titles))
    assert "**Smoke run (`--quick`)" in section_of(first, "## Training")
    assert "smoke run (`--quick`)" in first[first.index("## Goals at a glance") :]


def test_runner_helpers(run_all, tmp_path):
    assert run_all.select(["inference"]) == [n for n in run_all.BENCHMARKS if n.startswith("inference_")]
    assert run_all.select(["inference-e2e", "training"]) == ["training", "inference_e2e"]
    assert run_all.compact({"a": [1.23456789, 2], "b": "x"}, 3) == {"a": [1.23, 2], "b": "x"}
    cmd = run_all.display_command(
        [
            run_all.sys.executable,
            str(run_all.REPO / "benchmarks" / "x.py"),
            str(tmp_path / "d" / "plans.json"),
        ],
        tmp_path,
    )
    assert cmd == "python benchmarks/x.py $WORK/d/plans.json"
    cmd = run_all.display_command([run_all.sys.executable, "b.py", "--nnunet-python", "/opt/v/bin/python"],
                                  tmp_path)
    assert cmd == "python b.py --nnunet-python $TORSOSEG_BENCH_PYTHON"


def test_recorded_interpreter_paths_render_portably(run_all, tmp_path):
    results = tmp_path / "results"
    rec = record("training", TRAINING)
    rec["command"] = ("python benchmarks/bench_training.py --nnunet-python /work/benchvenv/bin/python "
                      "--steps 3")
    write(results, "training", rec)
    text = render(run_all, results, tmp_path)
    assert "/work/benchvenv" not in text
    assert "--nnunet-python $TORSOSEG_BENCH_PYTHON --steps 3" in text
    assert "`$TORSOSEG_BENCH_PYTHON` the interpreter" in text


def test_bad_input_is_reported(run_all, tmp_path):
    with pytest.raises(SystemExit, match="unknown benchmark 'nope'; valid: plan_and_preprocess"):
        run_all.select(["nope"])
    results = tmp_path / "results"
    results.mkdir()
    (results / "training.json").write_text("{not json")
    write(results, "precision", record("precision", {"unexpected": 1}))
    text = render(run_all, results, tmp_path)
    assert "**Result unreadable:**" in section_of(text, "## Training") and "training.json" in text
    assert "unexpected layout" in section_of(text, "## Precision")


def test_the_committed_page_is_the_rendering_of_the_committed_results(run_all, tmp_path):
    """documentation/benchmarks.md is exactly what ``run_all.py --render-only`` makes of benchmarks/results
    and the written-up sections of benchmarks/sections: a hand edit of the page (lost on the next render)
    fails here; edit the sources and re-render."""
    out = render(run_all, REPO / "benchmarks" / "results", tmp_path)
    assert out == (REPO / "documentation" / "benchmarks.md").read_text()
    assert "## Cascade: `-c 3d_cascade` vs `3d_fullres` (issue 13)" in out  # from benchmarks/sections
