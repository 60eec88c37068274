"""Peak memory of merging two models with different label sets by organ name (issue 14).

The case asked for: a 512x512x400 CT (0.8 x 0.8 x 1.0 mm) whose body fills the whole field of view (no
crop), a VISCERAL-like model with 20 structures (21 classes, planned at 1.6 x 1.6 x 2.0 mm) and an
abdomen-like model with 7 organs (8 classes, planned at 2.0 x 2.0 x 2.5 mm), 4 organs shared. Goal: peak
<= 3 GB. Each measurement runs in a fresh process; the figure is that process's peak resident set
(``ru_maxrss``), imports included, and the baseline after imports is printed beside it.

Modes:

* ``merge``: the models' softmax probabilities on their own network grids are given (random float16), then
  :func:`torsoseg.inference.merge.merge_to_canonical` and the restore of the input orientation: the merge
  step alone.
* ``predict``: the whole ``MultiModelPredictor.predict_case`` (preprocessing of the CT for each model,
  tiny random U-Nets through the Gaussian sliding window, the merge, the export); slow on 2 cores
  (minutes), the networks' work is not what is measured.

Usage::

    python benchmarks/bench_merge.py merge [predict] [--shape 512 512 400] [--json out.json]

Merged probabilities (``--save-probabilities``) are not included: they are the output, ``2 K`` bytes per
input voxel (24 classes here: 4.7 GiB), as for a single model.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VISCERAL = ["liver", "spleen", "pancreas", "gallbladder", "urinary_bladder", "aorta", "trachea", "lung_right",
            "lung_left", "sternum", "thyroid_gland", "vertebrae_L1", "kidney_right", "kidney_left",
            "adrenal_gland_right", "adrenal_gland_left", "psoas_major_right", "psoas_major_left",
            "rectus_abdominis_right", "rectus_abdominis_left"]
ABDOMEN = ["artery", "portal_vein", "liver", "spleen", "stomach", "gallbladder", "pancreas"]
SPACING = (0.8, 0.8, 1.0)
MODEL_SPACINGS = ((1.6, 1.6, 2.0), (2.0, 2.0, 2.5))


def _labels(names: list[str]) -> dict[str, int]:
    return {"background": 0, **{n: i + 1 for i, n in enumerate(names)}}


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # kB on Linux


def child_merge(shape: tuple[int, int, int]) -> dict:
    import numpy as np
    import torch

    from torsoseg.imageio import Volume, reorient_to_canonical, restore_orientation
    from torsoseg.inference.merge import merge_to_canonical, plan_merge
    from torsoseg.preprocessing.case import CaseProperties

    base = _peak_gib()
    plan = plan_merge([_labels(VISCERAL), _labels(ABDOMEN)], ["visceral", "abdomen"])
    vol = Volume(np.zeros(shape, np.uint8), SPACING)
    canon, reo = reorient_to_canonical(vol)
    scores, props = [], []
    gen = torch.Generator().manual_seed(0)
    for k, sp in zip(plan.num_classes, MODEL_SPACINGS):
        net_shape = tuple(round(n * s / t) for n, s, t in zip(canon.shape, canon.spacing, sp))
        s = torch.empty((k, *net_shape), dtype=torch.float16)
        for c in range(k):  # one float32 class at a time, so that making the input is not the peak
            s[c] = torch.rand(net_shape, generator=gen)
        scores.append(s)
        props.append(CaseProperties(reorientation=reo, crop_bbox=tuple((0, n) for n in canon.shape),
                                    shape_before_crop=canon.shape, shape_after_crop=canon.shape,
                                    spacing_after_crop=canon.spacing, shape_after_resample=net_shape,
                                    spacing_after_resample=sp))
    del canon, vol
    before = _peak_gib()
    t0 = time.perf_counter()
    seg, _ = merge_to_canonical(plan, scores, props)
    label_map = restore_orientation(seg, reo)
    seconds = time.perf_counter() - t0
    return {"mode": "merge", "shape": list(shape), "classes": list(plan.num_classes),
            "merged classes": len(plan.labels), "network grids": [list(s.shape[1:]) for s in scores],
            "scores GiB": round(sum(s.numel() * 2 for s in scores) / 1024**3, 2),
            "seconds": round(seconds, 1), "baseline after imports GiB": round(base, 2),
            "peak before merge GiB": round(before, 2), "peak GiB": round(_peak_gib(), 2),
            "labels present": int(len(np.unique(label_map.array[::8, ::8, ::8])))}


def child_predict(shape: tuple[int, int, int]) -> dict:
    import numpy as np
    import torch

    from torsoseg.imageio import Volume
    from torsoseg.inference import MultiModelPredictor, Predictor
    from torsoseg.network import build_network
    from torsoseg.planning.plans import CTNormalization, Plans

    torch.manual_seed(0)
    base = _peak_gib()
    predictors = []
    for name, labels, sp in (("visceral", _labels(VISCERAL), MODEL_SPACINGS[0]),
                             ("abdomen", _labels(ABDOMEN), MODEL_SPACINGS[1])):
        plans = Plans(dataset_name=f"Dataset_{name}", labels=labels, target_spacing=sp,
                      patch_size=(64, 64, 64), batch_size=2, strides=((1, 1, 1), (2, 2, 2), (2, 2, 2)),
                      kernel_sizes=((3, 3, 3),) * 3, features=(4, 8, 16),
                      normalization=CTNormalization(mean=40.0, std=200.0, lower=-1000.0, upper=1500.0))
        net = build_network(plans, deep_supervision=False)
        predictors.append(Predictor([net], plans, labels, device="cpu", precision="fp32", step=1.0))
    merged = MultiModelPredictor(predictors, names=["visceral", "abdomen"])
    rng = np.random.default_rng(0)
    arr = rng.integers(-100, 200, size=shape, dtype=np.int16)  # body everywhere: no crop
    vol = Volume(arr, SPACING)
    t0 = time.perf_counter()
    result = merged.predict_case(vol)
    return {"mode": "predict", "shape": list(shape), "merged classes": len(merged.labels),
            "seconds": round(time.perf_counter() - t0, 1), "baseline after imports GiB": round(base, 2),
            "peak GiB": round(_peak_gib(), 2), "output dtype": str(result.label_map.array.dtype)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("modes", nargs="+", choices=("merge", "predict"), help="what to measure")
    p.add_argument("--shape", nargs=3, type=int, default=(512, 512, 400), help="input shape")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    shape = tuple(args.shape)
    if args.child:
        fn = {"merge": child_merge, "predict": child_predict}[args.modes[0]]
        print(json.dumps(fn(shape)))
        return 0
    rows = []
    for mode in args.modes:
        r = subprocess.run([sys.executable, __file__, mode, "--child", "--shape", *map(str, shape)],
                           capture_output=True, text=True, cwd=REPO)
        if r.returncode != 0:
            print(r.stderr[-3000:], file=sys.stderr)
            return 1
        row = json.loads(r.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row, indent=1), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
