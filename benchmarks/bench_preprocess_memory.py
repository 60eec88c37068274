"""Peak memory of preprocessing one 512x512x400 CT for inference: one piece vs in slabs / in a box.

Not a test: it measures. Each variant runs in its own process (peak resident memory from
``resource.getrusage(RUSAGE_CHILDREN)``), on a synthetic CT (an elliptic body of soft tissue with noise in
air, int16, ``--shape`` at ``--spacing``), with plans at ``--target`` mm:

* ``whole``: :func:`torsoseg.preprocessing.preprocess_volume` (what training's cache and a single stage do);
* ``slabs``: :func:`torsoseg.preprocessing.boxed.preprocess_volume_box` over the whole grid (the cascade's
  coarse stage);
* ``box``: the same, only a centred box of ``--box-fraction`` of each axis of the target grid (the
  cascade's fine stage around the organs).

The input array itself (int16, 200 MiB at 512x512x400) is part of every figure.

Example:
    python benchmarks/bench_preprocess_memory.py --target 2.0 2.0 2.5 --json /tmp/prep_mem.json
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


def synthetic_ct(shape, spacing):
    import numpy as np

    from torsoseg.imageio import Volume

    x, y = np.ogrid[: shape[0], : shape[1]]
    body = ((x - shape[0] / 2) / (0.42 * shape[0])) ** 2 + ((y - shape[1] / 2) / (0.32 * shape[1])) ** 2 < 1
    rng = np.random.default_rng(0)
    arr = np.full(shape, -1000, np.int16)
    for z in range(shape[2]):
        arr[:, :, z][body] = rng.integers(-100, 200, int(body.sum()), dtype=np.int16)
    return Volume(arr, tuple(spacing))


def child(variant: str, args) -> None:
    import torch

    torch.set_num_threads(1)
    from tests.inference.model_factory import tiny_plans
    from torsoseg.preprocessing import preprocess_volume
    from torsoseg.preprocessing.boxed import preprocess_volume_box

    vol = synthetic_ct(args.shape, args.spacing)
    plans = tiny_plans(target_spacing=args.target)
    t0 = time.perf_counter()
    if variant == "whole":
        data, _ = preprocess_volume(vol, plans)
    elif variant == "slabs":
        data, _ = preprocess_volume_box(vol, plans)
    else:
        _, props = preprocess_volume_box(vol, plans, box=((0, 1), (0, 1), (0, 1)))
        n = props.shape_after_resample
        box = tuple((int(m * (1 - args.box_fraction) / 2), int(m * (1 + args.box_fraction) / 2)) for m in n)
        data, _ = preprocess_volume_box(vol, plans, box=box, crop_bbox=props.crop_bbox)
    print(json.dumps({"seconds": time.perf_counter() - t0, "shape": list(data.shape)}))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", type=int, nargs=3, default=(512, 512, 400))
    p.add_argument("--spacing", type=float, nargs=3, default=(0.8, 0.8, 1.0))
    p.add_argument("--target", type=float, nargs=3, default=(2.0, 2.0, 2.5), help="target spacing (mm)")
    p.add_argument("--box-fraction", type=float, default=0.5, help="box: share of each target axis")
    p.add_argument("--variants", nargs="+", default=["whole", "slabs", "box"])
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args(argv)
    if args.child:
        child(args.child, args)
        return 0
    results = {}
    for v in args.variants:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        cmd = [sys.executable, __file__, "--child", v, "--shape", *map(str, args.shape), "--spacing",
               *map(str, args.spacing), "--target", *map(str, args.target), "--box-fraction",
               str(args.box_fraction)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO,
                             env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if peak <= before:
            print(f"warning: {v}: peak not above an earlier variant's; run it alone", file=sys.stderr)
        results[v] = {**json.loads(out.stdout.strip().splitlines()[-1]), "peak_rss_gib": peak / 2**20}
        print(v, json.dumps(results[v]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
