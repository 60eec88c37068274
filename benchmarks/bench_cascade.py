"""Cascade vs single stage: one 512x512x400 CT at 0.8 mm in-plane, ``-c 3d_cascade`` vs ``3d_fullres``.

Not a test: it measures. The input is a full-size torso phantom resampled to ``--shape`` at ``--spacing``
(so the reference organs are known); both commands are whole ``torsoseg_predict`` runs in their own
process on ``--threads`` cores, timed wall clock with the peak memory of the process tree (PSS, the
sampler of ``_common.py``). Reported:

* speed ratio fullres / cascade (goal >= 3x) and the cascade's peak memory (goal <= 2 GiB);
* per organ, the Dice of the cascade's output vs the fullres output inside the candidate region
  (goal: within 0.01 of 1, i.e. the fine stage reproduces the single-stage network where it runs), and
  of both vs the phantom's reference.

The models must be trained (random weights make the coarse stage's region meaningless): a dataset whose
results root holds ``<trainer>__<plans>__3d_fullres``, ``__3d_lowres`` and ``__3d_cascade``, e.g. from
``torsoseg_demo --cascade`` (its dataset 1). For the speed comparison to be "at the same fine spacing",
the fullres and cascade models share their plans' target spacing (they do: 3d_cascade is 3d_fullres's
network trained on crops).

With ``--coarse-model DIR --fine-spacing X Y Z`` it measures the region-of-interest mode at a fine
spacing no 2-core machine can train: the fine network is a ``3d_fullres`` network with random weights
planned at that spacing (the labels and CT normalisation of the trained coarse model DIR), timed on the
whole image (``-m FINE``) and inside DIR's candidate region (``-m FINE --coarse-model DIR``). Speed and
memory do not depend on the weights; the coarse model's must be trained, since they draw the region.
The Dice of the two label maps against each other is reported; against the reference it means nothing.

``--cascade-tiles exact nearest`` times the cascade once per choice of its fine tiles
(``torsoseg_predict --cascade-tiles``) against one single-stage run; the JSON is then a list of results,
one per choice.

``--roi-subset ORGANS`` (comma-separated) passes ``torsoseg_predict --roi-subset`` to both runs: both
write only those organs, and the cascade's fine stage runs only around them (TotalSegmentator's
``--roi_subset``), while the single stage still runs its network over the whole image.

Examples:
    python benchmarks/bench_cascade.py --results DEMO/results -d 1 --json /tmp/bench_cascade.json
    python benchmarks/bench_cascade.py --coarse-model RESULTS/Dataset002_X/T__torsoseg_plans__3d_lowres \
        --fine-spacing 1.5 1.5 1.5 --work /tmp/bc --json /tmp/bench_roi.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TreeMemory  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def phantom_input(shape, spacing, seed: int, work: Path) -> tuple[Path, Path]:
    """A full-size torso phantom resampled (linear image, nearest labels) onto ``shape`` at ``spacing``;
    reused when ``work`` already holds it (generating one takes minutes)."""
    import torch

    if (work / "in" / "ct_0000.nii.gz").is_file() and (work / "reference_labels.json").is_file():
        return work / "in", work / "reference.nii.gz"

    from torsoseg.imageio import Volume, write_image
    from torsoseg.phantom.case import generate_case

    case = generate_case("torso", seed=seed, size="full")
    img = torch.from_numpy(case.image.array.astype(np.float32))[None, None]
    img = torch.nn.functional.interpolate(img, size=tuple(shape), mode="trilinear", align_corners=False)
    lab = torch.from_numpy(case.label_map.array.astype(np.float32))[None, None]
    lab = torch.nn.functional.interpolate(lab, size=tuple(shape), mode="nearest")
    geo = case.image
    image = Volume(img[0, 0].round().numpy().astype(np.int16), tuple(spacing), geo.origin, geo.direction)
    label = Volume(lab[0, 0].numpy().astype(np.uint8), tuple(spacing), geo.origin, geo.direction)
    (work / "in").mkdir(parents=True, exist_ok=True)
    write_image(image, work / "in" / "ct_0000.nii.gz")
    write_image(label, work / "reference.nii.gz")
    (work / "reference_labels.json").write_text(json.dumps(case.labels))  # last: marks the input complete
    return work / "in", work / "reference.nii.gz"


def random_fine_model(coarse_dir: Path, spacing, patch, features, work: Path) -> Path:
    """A single-stage model folder under ``work`` with random weights, planned at ``spacing`` with the
    labels and CT normalisation of the coarse model (so the two can form a cascade)."""
    from dataclasses import replace

    from bench_inference import bench_plans, make_network, save_torsoseg_model

    from torsoseg.plans import Plans

    coarse = Plans.load(coarse_dir / "plans.json")
    plans = replace(bench_plans(coarse.num_classes, patch, features, spacing, name=coarse.dataset_name),
                    labels=dict(coarse.labels), normalization=coarse.normalization)
    return save_torsoseg_model(work / "fine_model", plans, make_network(plans))


def run_predict(inp: Path, out: Path, args, configuration: str | None = None,
                model: list[str] | None = None, extra: list[str] | None = None) -> dict:
    """One ``torsoseg_predict`` run: ``-c configuration`` of ``--results``/``-d``, or the ``model``
    arguments (``-m DIR`` and more) as given; ``extra`` arguments appended."""
    which = model if model is not None else ["-d", str(args.dataset), "--results", str(args.results),
                                             "-c", configuration]
    which = [*which, *(extra or [])]
    subset = ["--roi-subset", args.roi_subset] if getattr(args, "roi_subset", None) else []
    cmd = [sys.executable, "-m", "torsoseg.cli.predict", "-i", str(inp), "-o", str(out), *which,
           "--threads", str(args.threads), "--precision", args.precision, "--no-progress", *subset]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(args.threads)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    with TreeMemory(proc.pid, 0.05) as mem:
        proc.wait()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)}: exit {proc.returncode}")
    return {"seconds": time.perf_counter() - t0, "peak_pss_gib": mem.peak_pss / 2**30}


def region_share(inp: Path, args, fine: Path | None = None, tiles: str = "exact") -> dict:
    """How much of the body-cropped coarse grid the candidate region covers, and its bounding box (what
    the fine stage tiles), and how many of the fine grid's tiles it reaches into: what decides the
    cascade's speed-up. ``fine``: the model run with ``--coarse-model`` (default: the ``3d_cascade``
    folder of ``--results``/``-d``)."""
    import torch

    from torsoseg.dataset import find_dataset
    from torsoseg.imageio import read_image
    from torsoseg.inference import Predictor

    torch.set_num_threads(args.threads)
    if fine is None:
        folder = next(iter(sorted(find_dataset(Path(args.results), args.dataset).glob("*__*__3d_cascade"))))
        predictor = Predictor.from_model_dir(folder, tiles=tiles)
    else:
        predictor = Predictor.from_model_dir(fine, coarse_model=args.coarse_model, tiles=tiles)
    if getattr(args, "roi_subset", None):
        predictor = predictor.with_roi_subset(args.roi_subset)
    stage = predictor.coarse_stage(read_image(inp / "ct_0000.nii.gz"))
    idx = np.argwhere(stage.region)
    box = float(np.prod(idx.max(0) - idx.min(0) + 1)) if len(idx) else 0.0
    kept, total = predictor.fine_tiles(stage)
    return {"region_fraction": float(stage.region.mean()), "box_fraction": box / stage.region.size,
            "coarse_seconds": round(stage.seconds, 2), "fine_tiles": kept, "fine_tiles_whole_image": total}


def dice(a: np.ndarray, b: np.ndarray) -> float:
    s = int(a.sum()) + int(b.sum())
    return float("nan") if s == 0 else 2.0 * int((a & b).sum()) / s


def compare(out_full: Path, out_casc: Path, reference: Path, labels: dict[str, int]) -> list[dict]:
    """Per organ: Dice cascade vs fullres (where either predicts it), and each vs the reference by name."""
    from torsoseg.fileio import read_json
    from torsoseg.imageio import read_image

    full = read_image(out_full / "ct.nii.gz").array
    casc = read_image(out_casc / "ct.nii.gz").array
    ref = read_image(reference).array
    model_labels = read_json(out_full / "labels.json")
    rows = []
    for name, value in model_labels.items():
        if name == "background":
            continue
        r = ref == labels[name] if name in labels else None
        rows.append({"organ": name, "cascade_vs_fullres": dice(casc == value, full == value),
                     "fullres_vs_reference": dice(full == value, r) if r is not None else float("nan"),
                     "cascade_vs_reference": dice(casc == value, r) if r is not None else float("nan")})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", help="results root holding the trained models")
    p.add_argument("-d", "--dataset", help="dataset id of the models")
    p.add_argument("--coarse-model", type=Path, default=None, metavar="DIR",
                   help="instead of --results/-d: a trained coarse model; the fine stage is a random-weight "
                   "network at --fine-spacing run inside its region (region-of-interest mode)")
    p.add_argument("--fine-spacing", type=float, nargs=3, default=(1.5, 1.5, 1.5), metavar="MM")
    p.add_argument("--fine-patch", type=int, nargs=3, default=(64, 48, 64))
    p.add_argument("--fine-features", type=int, nargs="+", default=(16, 32, 64, 128, 256))
    p.add_argument("--shape", type=int, nargs=3, default=(512, 512, 400))
    p.add_argument("--spacing", type=float, nargs=3, default=(0.8, 0.8, 1.0))
    p.add_argument("--seed", type=int, default=0, help="phantom seed")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"))
    p.add_argument("--work", default=None, help="working folder (default: a temporary one)")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--input-only", action="store_true", help="only generate the input into --work")
    p.add_argument("--roi-subset", default=None, metavar="ORGANS",
                   help="comma-separated organs: both runs write only these, the cascade runs only "
                   "around them")
    p.add_argument("--cascade-tiles", nargs="+", choices=("exact", "nearest"), default=["exact"],
                   help="the cascade's fine tiles (torsoseg_predict --cascade-tiles); several: one cascade "
                   "run each against the same single-stage run")
    args = p.parse_args(argv)
    if not args.input_only and bool(args.coarse_model) == bool(args.results and args.dataset):
        p.error("give either --results with -d, or --coarse-model")
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_cascade_"))
    inp, reference = phantom_input(args.shape, args.spacing, args.seed, work)
    labels = json.loads((work / "reference_labels.json").read_text())
    if args.input_only:
        return 0
    fine = None
    if args.coarse_model:
        fine = random_fine_model(args.coarse_model, args.fine_spacing, args.fine_patch, args.fine_features,
                                 work)
        full = run_predict(inp, work / "fullres", args, model=["-m", str(fine)])
    else:
        full = run_predict(inp, work / "fullres", args, "3d_fullres")
    results = []
    for tiles in dict.fromkeys(args.cascade_tiles):
        out = work / f"cascade_{tiles}"
        if fine is not None:
            roi = ["-m", str(fine), "--coarse-model", str(args.coarse_model), "--cascade-tiles", tiles]
            casc = run_predict(inp, out, args, model=roi)
        else:
            casc = run_predict(inp, out, args, "3d_cascade", extra=["--cascade-tiles", tiles])
        rows = compare(work / "fullres", out, reference, labels)
        result = {"shape": list(args.shape), "spacing": list(args.spacing), "threads": args.threads,
                  "tiles": tiles, "fullres": full, "cascade": casc,
                  "speed_ratio": full["seconds"] / casc["seconds"],
                  "region": region_share(inp, args, fine, tiles), "roi_subset": args.roi_subset,
                  "organs": rows}
        if fine is not None:
            result["roi"] = {"coarse_model": str(args.coarse_model), "fine_spacing": list(args.fine_spacing),
                             "fine_patch": list(args.fine_patch), "fine_features": list(args.fine_features),
                             "fine_weights": "random"}
        results.append(result)
    report = results[0] if len(results) == 1 else results
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
