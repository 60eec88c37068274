"""Benchmark: ``torsoseg_plan_and_preprocess`` vs ``nnUNetv2_plan_and_preprocess`` on one phantom dataset.

Both tools run as subprocesses on the SAME raw dataset (phantom cases written in the nnU-Net v2 raw layout),
with the same number of worker processes, 3D full resolution only. Measured per tool:

* wall time of the whole command;
* peak memory of the whole process tree, polled from ``/proc`` every 20 ms: the sum of the resident set
  sizes (RSS) of the command and all its descendants, and the sum of their proportional set sizes (PSS,
  which counts a page shared by forked workers once in total instead of once per worker);
* the largest single-process peak (``ru_maxrss`` of the children, as ``/usr/bin/time -v`` reports it);
* the chosen target spacing (nnU-Net's is mapped back to ITK x, y, z order), patch size and batch size.

The nnU-Net interpreter comes from ``--nnunet-python``, else ``$TORSOSEG_BENCH_PYTHON``. Without one, only
torsoseg is measured and the report says "nnU-Net not available".

Usage::

    python benchmarks/bench_plan_and_preprocess.py --cases 8 --workers 2 --json-out bench_pp.json

Timings are only meaningful on a quiet machine; repeat with ``--repeats`` and read the median.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import NOT_FOUND, TreeMemory, find_nnunet_python

DATASET_ID = 500


def measure(cmd: list[str], env: dict[str, str] | None = None, log_path: Path | None = None) -> dict:
    """Runs ``cmd``; returns wall seconds, peak tree RSS, largest single-process RSS and the exit code."""
    log = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        ["/usr/bin/time", "-f", "MAXRSS_KB=%M", *cmd], env=env, stdout=log, stderr=subprocess.PIPE, text=True
    )

    with TreeMemory(proc.pid, interval=0.02) as mem:
        _, err = proc.communicate()
        wall = time.perf_counter() - t0
    if log_path:
        log.close()
        with open(log_path, "a") as f:
            f.write(err)
    maxrss = 0
    for line in err.splitlines():
        if line.startswith("MAXRSS_KB="):
            maxrss = int(line.split("=", 1)[1]) * 1024
    return {
        "wall_s": wall,
        "peak_tree_rss_mb": mem.peak_rss / 2**20,
        "peak_tree_pss_mb": mem.peak_pss / 2**20,
        "max_process_rss_mb": maxrss / 2**20,
        "returncode": proc.returncode,
    }


def make_raw_dataset(raw_root: Path, n: int, kind: str, size: str) -> Path:
    """Writes ``n`` phantom cases into ``raw_root/Dataset500_Bench<Kind>`` (reused when complete)."""
    from torsoseg import dataset, imageio
    from torsoseg.phantom import generate_case

    name = f"Bench{kind.capitalize()}{size.capitalize()}"
    folder = raw_root / dataset.dataset_dir_name(DATASET_ID, name)
    if (folder / "dataset.json").is_file() and dataset.DatasetJson.load(folder).num_training == n:
        return folder
    labels = None
    for i in range(n):
        case = generate_case(kind, i, size=size)
        imageio.write_image(case.image, folder / "imagesTr" / f"case_{i:03d}_0000.nii.gz")
        imageio.write_image(case.label_map, folder / "labelsTr" / f"case_{i:03d}.nii.gz")
        labels = case.labels
        print(f"  phantom case {i + 1}/{n}: {case.image.shape}, spacing {case.image.spacing}", flush=True)
    dataset.write_dataset_json(folder, labels, n, name=name)
    return folder


def nnunet_spacing_xyz(plans_file: Path) -> tuple[list[float], list[int], int]:
    """nnU-Net's 3d_fullres spacing mapped back to ITK (x, y, z) order, its patch (same order), batch."""
    plans = json.loads(plans_file.read_text())
    cfg = plans["configurations"]["3d_fullres"]
    back = plans["transpose_backward"]
    spacing_zyx = [cfg["spacing"][i] for i in back]  # numpy (z, y, x) order of the SimpleITK arrays
    patch_zyx = [cfg["patch_size"][i] for i in back]
    return spacing_zyx[::-1], patch_zyx[::-1], int(cfg["batch_size"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=8, help="phantom cases in the dataset (default 8)")
    p.add_argument("--kind", default="abdomen", choices=["abdomen", "visceral", "torso"], help="phantom kind")
    p.add_argument("--size", default="small", choices=["tiny", "small", "full"], help="phantom size")
    p.add_argument("--workers", type=int, default=2, help="worker processes for both tools (default 2)")
    p.add_argument("--repeats", type=int, default=1, help="runs per tool (median reported)")
    p.add_argument("--nnunet-python", default=None, help="python of the nnU-Net environment")
    p.add_argument("--workdir", default=None, help="keep the raw dataset and outputs here (reused)")
    p.add_argument("--json-out", default=None, help="write the figures as JSON here")
    args = p.parse_args(argv)

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench_pp_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work}")
    raw = make_raw_dataset(work / "raw", args.cases, args.kind, args.size)
    results: dict = {"cases": args.cases, "kind": args.kind, "size": args.size, "workers": args.workers}

    runs = []
    for r in range(args.repeats):
        out = work / "torsoseg_preprocessed"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [sys.executable, "-m", "torsoseg.cli.plan_and_preprocess", "-d", str(DATASET_ID), "--raw",
               str(work / "raw"), "--preprocessed", str(out), "-np", str(args.workers), "--no-progress"]
        m = measure(cmd, log_path=work / f"torsoseg_run{r}.log")
        if m["returncode"] != 0:
            print(f"torsoseg failed, see {work / f'torsoseg_run{r}.log'}")
            return 1
        runs.append(m)
    from torsoseg.plans import Plans

    tplans = Plans.load(work / "torsoseg_preprocessed" / raw.name / "plans.json")
    results["torsoseg"] = {
        "wall_s": statistics.median(m["wall_s"] for m in runs),
        "peak_tree_rss_mb": statistics.median(m["peak_tree_rss_mb"] for m in runs),
        "peak_tree_pss_mb": statistics.median(m["peak_tree_pss_mb"] for m in runs),
        "max_process_rss_mb": statistics.median(m["max_process_rss_mb"] for m in runs),
        "target_spacing_xyz": list(tplans.target_spacing),
        "patch_size": list(tplans.patch_size),
        "batch_size": tplans.batch_size,
        "runs": runs,
    }

    py = find_nnunet_python(args.nnunet_python)
    if py is None:
        print(NOT_FOUND)
        results["nnunet"] = None
    else:
        tool = Path(py).parent / "nnUNetv2_plan_and_preprocess"
        nruns = []
        for r in range(args.repeats):
            env = dict(os.environ)
            pre = work / "nnunet_preprocessed"
            shutil.rmtree(pre, ignore_errors=True)
            env.update(nnUNet_raw=str(work / "raw"), nnUNet_preprocessed=str(pre),
                       nnUNet_results=str(work / "nnunet_results"), OMP_NUM_THREADS="1")
            cmd = [str(tool), "-d", str(DATASET_ID), "-c", "3d_fullres", "-np", str(args.workers),
                   "-npfp", str(args.workers), "--verbose"]
            m = measure(cmd, env=env, log_path=work / f"nnunet_run{r}.log")
            if m["returncode"] != 0:
                print(f"nnU-Net failed, see {work / f'nnunet_run{r}.log'}")
                return 1
            nruns.append(m)
        sp, patch, batch = nnunet_spacing_xyz(work / "nnunet_preprocessed" / raw.name / "nnUNetPlans.json")
        results["nnunet"] = {
            "python": py,
            "wall_s": statistics.median(m["wall_s"] for m in nruns),
            "peak_tree_rss_mb": statistics.median(m["peak_tree_rss_mb"] for m in nruns),
            "peak_tree_pss_mb": statistics.median(m["peak_tree_pss_mb"] for m in nruns),
            "max_process_rss_mb": statistics.median(m["max_process_rss_mb"] for m in nruns),
            "target_spacing_xyz": sp,
            "patch_size": patch,
            "batch_size": batch,
            "runs": nruns,
        }
        t, n = results["torsoseg"], results["nnunet"]
        results["speedup_wall"] = n["wall_s"] / t["wall_s"]
        results["memory_ratio_tree"] = t["peak_tree_rss_mb"] / n["peak_tree_rss_mb"]
        results["memory_ratio_tree_pss"] = t["peak_tree_pss_mb"] / n["peak_tree_pss_mb"]
        results["memory_ratio_process"] = t["max_process_rss_mb"] / n["max_process_rss_mb"]
        results["same_target_spacing"] = all(
            abs(a - b) <= 1e-3 * max(a, b) for a, b in zip(t["target_spacing_xyz"], sp)
        )

    print(json.dumps({k: v for k, v in results.items()}, indent=2, default=str))
    if results.get("nnunet"):
        t, n = results["torsoseg"], results["nnunet"]
        print(
            f"\nwall: torsoseg {t['wall_s']:.1f} s vs nnU-Net {n['wall_s']:.1f} s "
            f"-> {results['speedup_wall']:.2f}x faster"
            f"\npeak memory (process tree, RSS sum): {t['peak_tree_rss_mb']:.0f} MB vs "
            f"{n['peak_tree_rss_mb']:.0f} MB -> ratio {results['memory_ratio_tree']:.2f}"
            f"\npeak memory (process tree, PSS sum): {t['peak_tree_pss_mb']:.0f} MB vs "
            f"{n['peak_tree_pss_mb']:.0f} MB -> ratio {results['memory_ratio_tree_pss']:.2f}"
            f"\nlargest process: {t['max_process_rss_mb']:.0f} MB vs {n['max_process_rss_mb']:.0f} MB"
            f"\ntarget spacing (x, y, z): torsoseg {t['target_spacing_xyz']} vs nnU-Net "
            f"{[round(s, 4) for s in n['target_spacing_xyz']]} -> same: {results['same_target_spacing']}"
        )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
