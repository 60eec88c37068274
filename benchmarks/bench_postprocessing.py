"""Cost of the postprocessing (keep each organ's largest connected component) on a large label map.

Not a test: it measures. A synthetic label map of ``--shape`` (default one 512 x 512 x 400 CT) holds
``--organs`` ellipsoids of 15 to 70 voxels' radius, each with ``--islands`` false 3x3x3 islands scattered
over the image; :func:`torsoseg.inference.postprocessing.keep_largest_component` keeps every organ's
largest component. Reported: wall time, the voxels removed (must be every island voxel) and the peak
resident memory of the process (the label map itself is ``prod(shape)`` bytes).

Example:
    python benchmarks/bench_postprocessing.py --json /tmp/bench_postprocessing.json
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np

from torsoseg.inference.postprocessing import keep_largest_component


def synthetic_label_map(shape: tuple[int, int, int], organs: int, islands: int,
                        seed: int = 0) -> tuple[np.ndarray, int]:
    """The label map and the number of island voxels that must go."""
    rng = np.random.default_rng(seed)
    seg = np.zeros(shape, np.uint8)
    lo, hi = np.array(shape) // 5, np.array(shape) - np.array(shape) // 5
    for v in range(1, organs + 1):  # organs do not overlap (an overlap could cut one in two)
        for _try in range(1000):
            centre, radius = rng.integers(lo, hi), rng.integers(15, 70, 3)
            box = tuple(slice(max(0, int(c - r)), min(s, int(c + r) + 1))
                        for c, r, s in zip(centre, radius, shape))
            if not seg[box].any():
                break
        grid = np.ogrid[box]
        inside = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radius)) <= 1.0
        seg[box][inside] = v
    n_island = 0
    for v in range(1, organs + 1):
        for _ in range(islands):  # on background only, away from everything (one empty voxel around)
            for _try in range(100):
                p = rng.integers(1, np.array(shape) - 4)
                box = tuple(slice(int(a) - 1, int(a) + 4) for a in p)
                if not seg[box].any():
                    seg[tuple(slice(int(a), int(a) + 3) for a in p)] = v
                    n_island += 27
                    break
    return seg, n_island


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", type=int, nargs=3, default=(512, 512, 400))
    p.add_argument("--organs", type=int, default=20)
    p.add_argument("--islands", type=int, default=5, help="false islands per organ")
    p.add_argument("--json", default=None, help="write the result here")
    args = p.parse_args(argv)
    seg, n_island = synthetic_label_map(tuple(args.shape), args.organs, args.islands)
    t0 = time.perf_counter()
    out = keep_largest_component(seg, range(1, args.organs + 1))
    seconds = time.perf_counter() - t0
    removed = int(((seg > 0) & (out == 0)).sum())
    result = {
        "shape": list(args.shape), "organs": args.organs, "island_voxels": n_island,
        "removed_voxels": removed, "seconds": round(seconds, 3),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 3),
        "label_map_gib": round(seg.nbytes / 1024**3, 3),
    }
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if removed == n_island else 1


if __name__ == "__main__":
    sys.exit(main())
