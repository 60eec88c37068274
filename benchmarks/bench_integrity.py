"""Benchmark: what the integrity checks of ``imageio.read_image`` cost (issue 16).

Two measurements:

1. **One large read**: a 512 x 512 x 400 int16 CT-like ``.nii.gz`` (about 200 MB of voxels), read with
   plain ``SimpleITK.ReadImage`` and with ``torsoseg.imageio.read_image`` (the gzip stream check runs in a
   thread beside ITK's read); best of ``--repeats``. The check alone (``check_nifti_file``) is timed too.
2. **plan_and_preprocess on the demo data**: the demo's abdomen phantom dataset (``--cases`` tiny
   phantoms, as ``torsoseg_demo`` writes them), fingerprint + plans + preprocessed cache, with the checks
   on and with ``imagecheck.check_nifti_file`` replaced by a no-op; runs alternate, median of
   ``--repeats`` each.

Usage::

    python benchmarks/bench_integrity.py --repeats 3 --json-out benchmarks/results/integrity.json

Timings are only meaningful on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def large_read(folder: Path, repeats: int) -> dict:
    import numpy as np
    import SimpleITK as sitk

    from torsoseg import imagecheck, imageio

    rng = np.random.default_rng(0)
    arr = np.full((400, 512, 512), -1000, np.int16)  # z, y, x as SimpleITK wants it
    yy, xx = np.mgrid[:512, :512]
    body = ((yy - 256) / 200.0) ** 2 + ((xx - 256) / 240.0) ** 2 <= 1
    arr[:, body] = rng.normal(40, 60, (400, int(body.sum()))).astype(np.int16)
    path = folder / "ct_512x512x400.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(path), True)
    del arr
    plain, checked, check_only = [], [], []
    for _ in range(repeats):
        t = time.perf_counter()
        sitk.ReadImage(str(path))
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        imageio.read_image(path)
        checked.append(time.perf_counter() - t)
        t = time.perf_counter()
        imagecheck.check_nifti_file(path)
        check_only.append(time.perf_counter() - t)
    return {
        "file": "512x512x400 int16 .nii.gz",
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "sitk_read_s": round(min(plain), 3),
        "read_image_checked_s": round(min(checked), 3),
        "check_alone_s": round(min(check_only), 3),
        "overhead_pct": round(100 * (min(checked) - min(plain)) / min(plain), 1),
    }


def plan_and_preprocess(folder: Path, cases: int, repeats: int, workers: int) -> dict:
    from benchmarks.bench_plan_and_preprocess import make_raw_dataset
    from torsoseg import imagecheck
    from torsoseg.planning import plan_dataset
    from torsoseg.preprocessing import preprocess_dataset

    raw = make_raw_dataset(folder / "raw", cases, "abdomen", "tiny")
    real = imagecheck.check_nifti_file
    times: dict[str, list[float]] = {"checked": [], "unchecked": []}
    for r in range(repeats):
        for mode in ("checked", "unchecked") if r % 2 == 0 else ("unchecked", "checked"):
            imagecheck.check_nifti_file = real if mode == "checked" else (lambda *a, **k: None)
            pre = folder / f"pre_{mode}_{r}"
            t = time.perf_counter()
            plans = plan_dataset(raw, pre, workers=workers)
            preprocess_dataset(raw, pre / raw.name, plans, workers=workers)
            times[mode].append(time.perf_counter() - t)
            print(f"  {mode}: {times[mode][-1]:.2f} s", flush=True)
    imagecheck.check_nifti_file = real
    on, off = statistics.median(times["checked"]), statistics.median(times["unchecked"])
    return {
        "dataset": f"{cases} tiny abdomen phantoms (the demo's dataset 1)",
        "workers": workers,
        "checked_s": [round(t, 2) for t in times["checked"]],
        "unchecked_s": [round(t, 2) for t in times["unchecked"]],
        "median_checked_s": round(on, 2),
        "median_unchecked_s": round(off, 2),
        "overhead_pct": round(100 * (on - off) / off, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3, help="runs per variant (default 3)")
    p.add_argument("--cases", type=int, default=10, help="phantom cases (default 10, as the demo)")
    p.add_argument("--workers", type=int, default=2, help="plan/preprocess workers (default 2)")
    p.add_argument("--skip-large", action="store_true", help="skip the 512x512x400 read")
    p.add_argument("--json-out", default=None, help="write the results here")
    args = p.parse_args(argv)
    out = {}
    with tempfile.TemporaryDirectory(prefix="bench_integrity_") as tmp:
        if not args.skip_large:
            out["large_read"] = large_read(Path(tmp), args.repeats)
            print(json.dumps(out["large_read"]), flush=True)
        out["plan_and_preprocess"] = plan_and_preprocess(Path(tmp), args.cases, args.repeats, args.workers)
        print(json.dumps(out["plan_and_preprocess"]), flush=True)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
