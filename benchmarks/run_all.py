"""Runs every benchmark of ``benchmarks/`` and renders ``documentation/benchmarks.md`` from their results.

Each benchmark script runs as a subprocess of this interpreter and writes its JSON; this runner wraps it
with what is needed to read it later (the exact command, the machine, torch's version, the date, the git
commit, the load average before and after) into ``benchmarks/results/<name>.json``. Those files are meant
to be committed: the document is rendered from them alone, so it can be re-rendered at any time
(``--render-only``) and every figure in it can be traced to a file and a command.

Benchmarks (``--only`` takes these names, ``-`` or ``_`` alike, and ``inference`` for its four sections):
plan_and_preprocess, training, precision, inference_sliding_window, inference_e2e, inference_memory,
inference_precision. The nnU-Net v2 / MONAI interpreter comes from ``--nnunet-python``, else
``$TORSOSEG_BENCH_PYTHON`` (``make bench`` sets it to ``.bench-venv``); without it the scripts measure
torsoseg only and say so.

A full run takes hours on 2 cores and needs about 8 GB of free memory (nnU-Net's end-to-end prediction
and torsoseg's worst-case memory section): run it on a quiet machine. ``--quick`` is a smoke run with
tiny inputs; its results go to a temporary folder (not ``benchmarks/results``) unless ``--results`` is
given, and are marked as not representative wherever they are rendered.

Examples::

    python benchmarks/run_all.py                              # everything, then render the document
    python benchmarks/run_all.py --only training precision    # two benchmarks, then render
    python benchmarks/run_all.py --quick --only precision     # smoke run into a temporary folder
    python benchmarks/run_all.py --render-only                # re-render from benchmarks/results/*.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(HERE) not in sys.path:  # the renderer lives beside this file
    sys.path.insert(0, str(HERE))

import _report  # noqa: E402
from _common import NOT_FOUND, find_nnunet_python  # noqa: E402

DEFAULT_RESULTS = HERE / "results"
DEFAULT_OUT = REPO / "documentation" / "benchmarks.md"
QUICK_ROOT = Path(tempfile.gettempdir()) / "torsoseg_bench_quick"


@dataclass(frozen=True)
class Context:
    """What a benchmark's argument builder may use."""

    quick: bool
    work: Path
    json_path: Path
    nnunet_python: str | None


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: its script and how to build its arguments for a full or a quick run."""

    script: str
    args: Callable[[Context], list[str]]
    uses_nnunet: bool = False


def _nn(ctx: Context) -> list[str]:
    return ["--nnunet-python", ctx.nnunet_python] if ctx.nnunet_python else []


def _plan_and_preprocess_args(ctx: Context) -> list[str]:
    size = (
        ["--cases", "2", "--size", "tiny", "--repeats", "1"]
        if ctx.quick
        else ["--cases", "6", "--repeats", "2"]
    )
    return [
        *size,
        "--workers",
        "2",
        "--workdir",
        str(ctx.work / "plan_and_preprocess"),
        "--json-out",
        str(ctx.json_path),
        *_nn(ctx),
    ]


def _training_args(ctx: Context) -> list[str]:
    dataset = prepare_dataset(ctx.work, ctx.quick)
    steps = (
        ["--steps", "1", "--warmup", "0", "--batches", "2"]
        if ctx.quick
        else ["--steps", "3", "--warmup", "1", "--batches", "10"]
    )
    return [str(dataset), *steps, "--json", str(ctx.json_path), *_nn(ctx)]


def _precision_args(ctx: Context) -> list[str]:
    if ctx.quick:
        plans = ["--plans", str(tiny_plans(ctx.work)), "--batch", "1", "--warmup", "0", "--repeats", "1"]
    else:
        plans = ["--plans", str(prepare_dataset(ctx.work, ctx.quick) / "plans.json"), "--repeats", "3"]
    return [*plans, "--json", str(ctx.json_path)]


def _inference_args(section: str) -> Callable[[Context], list[str]]:
    def build(ctx: Context) -> list[str]:
        quick = ["--quick"] if ctx.quick else []
        if ctx.quick and section == "precision":  # --quick keeps the small phantom; use the tiny one
            quick += ["--phantom-size", "tiny"]
        return [
            section,
            *quick,
            "--work",
            str(ctx.work / "inference"),
            "--json",
            str(ctx.json_path),
            *_nn(ctx),
        ]

    return build


BENCHMARKS: dict[str, Benchmark] = {
    "plan_and_preprocess": Benchmark("bench_plan_and_preprocess.py", _plan_and_preprocess_args, True),
    "training": Benchmark("bench_training.py", _training_args, True),
    "precision": Benchmark("bench_precision.py", _precision_args),
    "inference_sliding_window": Benchmark("bench_inference.py", _inference_args("sliding-window"), True),
    "inference_e2e": Benchmark("bench_inference.py", _inference_args("e2e"), True),
    "inference_memory": Benchmark("bench_inference.py", _inference_args("memory")),
    "inference_precision": Benchmark("bench_inference.py", _inference_args("precision")),
}
assert list(BENCHMARKS) == list(_report.SECTIONS), "runner and renderer must list the same benchmarks"


def select(names: list[str] | None) -> list[str]:
    """Benchmark names for ``--only`` (``-``/``_`` alike; ``inference`` = its four sections), in run order."""
    if not names:
        return list(BENCHMARKS)
    chosen: set[str] = set()
    for raw in names:
        name = raw.replace("-", "_")
        group = [n for n in BENCHMARKS if n.startswith(name + "_")] if name == "inference" else []
        if name not in BENCHMARKS and not group:
            raise SystemExit(f"--only: unknown benchmark {raw!r}; valid: {', '.join(BENCHMARKS)}, inference")
        chosen.update(group or [name])
    return [n for n in BENCHMARKS if n in chosen]


# --------------------------------------------------------------------------------------------------
# inputs the scripts need
# --------------------------------------------------------------------------------------------------


def prepare_dataset(work: Path, quick: bool) -> Path:
    """A planned (``cpu`` budget) and preprocessed phantom abdomen dataset in ``work`` (reused if there).

    The phantom source layout is converted to ``Dataset001_Abdomen`` as a user would do it; full: 14
    ``small`` cases, quick: 3 ``tiny`` ones. Returns the preprocessed dataset folder.
    """
    from torsoseg.dataset_conversion import convert
    from torsoseg.phantom import write_source
    from torsoseg.planning import plan_dataset
    from torsoseg.preprocessing import preprocess_dataset

    cases, size = (3, "tiny") if quick else (14, "small")
    root = work / f"dataset_{size}"
    done = root / "complete.txt"
    if done.is_file():
        return Path(done.read_text().strip())
    print(
        f"preparing {cases} {size} abdomen phantoms (convert, plan: cpu budget, preprocess) in {root}",
        flush=True,
    )
    shutil.rmtree(root, ignore_errors=True)
    write_source("abdomen", cases, root / "source", seed=0, size=size)
    raw = convert("abdomen", root / "source", root / "raw", 1)
    plans = plan_dataset(raw, root / "preprocessed", budget="cpu", workers=2)
    pre = root / "preprocessed" / raw.name
    preprocess_dataset(raw, pre, plans, workers=2)
    done.write_text(str(pre))
    return pre


def tiny_plans(work: Path) -> Path:
    """A small hand-made plan (patch 32^3, features 8-16-32) for the quick GFLOP/s smoke run."""
    from torsoseg.plans import CTNormalization, Plans

    plans = Plans(
        dataset_name="Dataset000_QuickBench",
        labels={"background": 0, "organ1": 1, "organ2": 2},
        target_spacing=(2.0, 2.0, 2.5),
        patch_size=(32, 32, 32),
        batch_size=2,
        strides=((1, 1, 1), (2, 2, 2), (2, 2, 2)),
        kernel_sizes=((3, 3, 3),) * 3,
        features=(8, 16, 32),
        normalization=CTNormalization(0.0, 1.0, -1.0, 1.0),
    )
    path = work / "quick_plans.json"
    plans.save(path)
    return path


# --------------------------------------------------------------------------------------------------
# what a result records besides the script's figures
# --------------------------------------------------------------------------------------------------


def machine_info() -> dict:
    """CPU model, logical/physical cores, bfloat16 support, RAM, torch and Python versions, OS."""
    model, flags, cores = "unknown", set(), set()
    phys = core = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name" and model == "unknown":
                    model = value
                elif key == "flags" and not flags:
                    flags = set(value.split())
                elif key == "physical id":
                    phys = value
                elif key == "core id":
                    core = value
                    cores.add((phys, core))
    except OSError:
        pass
    ram = None
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    ram = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = None
    return {
        "cpu_model": model,
        "logical_cores": os.cpu_count(),
        "physical_cores": len(cores) or None,
        "bf16": sorted(f for f in flags if f in ("amx_bf16", "avx512_bf16")),
        "ram_gib": ram,
        "torch": torch_version,
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
    }


def git_commit() -> dict:
    """The checked-out commit and whether tracked files differ from it (read-only git calls)."""

    def git(*a: str) -> str | None:
        r = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(REPO), *a], capture_output=True, text=True
        )
        return r.stdout.strip() if r.returncode == 0 else None

    commit = git("rev-parse", "--short", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def comparison_versions(python: str) -> dict:
    """Versions of nnunetv2, MONAI and torch in the comparison interpreter."""
    code = (
        "import importlib.metadata as m, json\nv = {}\nfor p in ('nnunetv2', 'monai', 'torch'):\n"
        "    try: v[p] = m.version(p)\n    except m.PackageNotFoundError: v[p] = None\nprint(json.dumps(v))"
    )
    r = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return json.loads(r.stdout) if r.returncode == 0 else {}


def display_command(argv: list[str], work: Path) -> str:
    """The command as a reader would type it: ``python``, paths relative to the repository, ``$WORK``."""
    marker = "@@WORK@@"  # shell-safe, so shlex leaves it unquoted
    py_marker = "@@BENCH_PYTHON@@"
    out = []
    for i, a in enumerate(argv):
        if i and argv[i - 1] == "--nnunet-python":
            a = py_marker  # this machine's interpreter path means nothing on a reader's machine
        elif a == sys.executable:
            a = "python"
        else:
            a = a.replace(str(work), marker).replace(str(REPO) + os.sep, "")
        out.append(a)
    return shlex.join(out).replace(marker, "$WORK").replace(py_marker, "$TORSOSEG_BENCH_PYTHON")



def compact(obj, digits: int = 6):
    """Floats rounded to ``digits`` significant digits, recursively (keeps the committed JSONs small)."""
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}")
    if isinstance(obj, dict):
        return {k: compact(v, digits) for k, v in obj.items()}
    if isinstance(obj, list):
        return [compact(v, digits) for v in obj]
    return obj


def run_one(name: str, ctx: Context, results: Path) -> bool:
    """Runs one benchmark; on success writes ``results/<name>.json``. Returns whether it succeeded."""
    from torsoseg.fileio import atomic_write_json, read_json

    bench = BENCHMARKS[name]
    ctx.json_path.unlink(missing_ok=True)
    argv = [sys.executable, str(HERE / bench.script), *bench.args(ctx)]
    print(f"\n=== {name}: {display_command(argv, ctx.work)}", flush=True)
    load_before = os.getloadavg()
    start = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    code = subprocess.call(argv, cwd=REPO)
    wall = time.perf_counter() - t0
    if code != 0 or not ctx.json_path.is_file():
        print(f"=== {name} FAILED (exit status {code}); {results / (name + '.json')} left as it was")
        return False
    record = {
        "format_version": 1,
        "benchmark": name,
        "command": display_command(argv, ctx.work),
        "reproduce": f"python benchmarks/run_all.py --only {name}" + (" --quick" if ctx.quick else ""),
        "quick": ctx.quick,
        "date": start.isoformat(timespec="seconds"),
        "wall_s": round(wall, 1),
        "git": git_commit(),
        "machine": machine_info(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "comparison": comparison_versions(ctx.nnunet_python)
        if bench.uses_nnunet and ctx.nnunet_python
        else None,
        "source": "benchmarks/run_all.py",
        "result": compact(read_json(ctx.json_path)),
    }
    atomic_write_json(results / f"{name}.json", record).chmod(0o644)  # committed: readable by all
    print(f"=== {name}: done in {wall:.0f} s -> {results / (name + '.json')}", flush=True)
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="example: python benchmarks/run_all.py --quick --only precision",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--only",
        nargs="+",
        default=None,
        metavar="NAME",
        help=f"run only these benchmarks ({', '.join(BENCHMARKS)}, inference)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run with tiny inputs; results go to a temporary folder unless --results is given",
    )
    p.add_argument("--render-only", action="store_true", help="only re-render the document from the results")
    p.add_argument(
        "--results",
        default=None,
        help=f"folder of the result JSONs (default benchmarks/results; with --quick {QUICK_ROOT}/results)",
    )
    p.add_argument(
        "--out",
        default=None,
        help="the document to write (default documentation/benchmarks.md; with --quick "
        f"{QUICK_ROOT}/benchmarks.md)",
    )
    p.add_argument(
        "--work",
        default=None,
        help="scratch folder for datasets and outputs (default: a temporary one, removed)",
    )
    p.add_argument(
        "--nnunet-python",
        default=None,
        help="interpreter of the nnU-Net v2 / MONAI environment (default $TORSOSEG_BENCH_PYTHON)",
    )
    args = p.parse_args(argv)

    quick_default = args.quick and not args.render_only
    results = (
        Path(args.results) if args.results else (QUICK_ROOT / "results" if quick_default else DEFAULT_RESULTS)
    )
    out = Path(args.out) if args.out else (QUICK_ROOT / "benchmarks.md" if quick_default else DEFAULT_OUT)
    failed: list[str] = []
    if not args.render_only:
        names = select(args.only)
        results.mkdir(parents=True, exist_ok=True)
        nn_python = None
        if any(BENCHMARKS[n].uses_nnunet for n in names):
            nn_python = find_nnunet_python(args.nnunet_python)
            print(f"nnU-Net/MONAI interpreter: {nn_python}" if nn_python else NOT_FOUND)
        work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="torsoseg_bench_"))
        work.mkdir(parents=True, exist_ok=True)
        try:
            for name in names:
                ctx = Context(args.quick, work, work / "json" / f"{name}.json", nn_python)
                ctx.json_path.parent.mkdir(parents=True, exist_ok=True)
                if not run_one(name, ctx, results):
                    failed.append(name)
        finally:
            if not args.work:
                shutil.rmtree(work, ignore_errors=True)
    text = _report.render(results)
    from torsoseg.fileio import atomic_write_text

    atomic_write_text(out, text).chmod(0o644)
    print(f"rendered {out} from {results}")
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
