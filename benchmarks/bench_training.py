"""Training iterations/s and data-loader batches/s: torsoseg vs nnU-Net v2's trainer on the CPU (issue 6).

Method (same patch, batch and network size on both sides, read from a torsoseg preprocessed dataset):

* **step**: one optimiser step = forward, Dice+CE loss with deep supervision, backward, gradient clipping,
  SGD (Nesterov, momentum 0.99). torsoseg runs its network (:func:`torsoseg.network.build_network`) in
  float32 and in its default precision for the CPU (``auto``: bfloat16 autocast + channels-last 3D on
  AMX/AVX512-BF16 CPUs); nnU-Net v2 runs ``PlainConvUNet`` with the same stages, features, kernels and
  strides (conv bias, InstanceNorm, LeakyReLU, deep supervision) with its ``DC_and_CE_loss`` in float32,
  which is what ``nnUNetTrainer`` does on a CPU (no autocast). Median of ``--steps`` after ``--warmup``.
* **loader**: batches/s of one process producing augmented batches: torsoseg's
  :class:`~torsoseg.training.patches.PatchBatchLoader` + batchgenerators transforms, and nnU-Net's
  ``nnUNetDataLoader`` + ``nnUNetTrainer.get_training_transforms`` (batchgeneratorsv2) on the same cases
  (copied into nnU-Net's numpy dataset format: ``CASE.npy``, ``CASE_seg.npy``, ``CASE.pkl``).
  "The loader never starves the step" holds when batches/s x step seconds >= 1 (inline) or when the
  background workers produce faster than the step consumes.

nnU-Net runs in its own interpreter (``--nnunet-python``, else ``$TORSOSEG_BENCH_PYTHON``); without it
only torsoseg's figures are printed.

Usage::

    python benchmarks/bench_training.py PREPROCESSED/Dataset001_Abdomen --steps 5 --json out.json

Figures are only meaningful on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import NOT_FOUND, find_nnunet_python

from torsoseg.network import build_network
from torsoseg.network.precision import autocast, resolve_precision
from torsoseg.organs import lr_swap_table
from torsoseg.plans import Plans
from torsoseg.preprocessing.cache import cache_folder, list_cached_cases, load_case
from torsoseg.training.augmentation import initial_patch_size, training_transforms
from torsoseg.training.losses import DeepSupervisionLoss, DiceCELoss
from torsoseg.training.patches import PatchBatchLoader
from torsoseg.training.settings import PRESETS
from torsoseg.training.trainer import deep_supervision_strides, use_channels_last

HERE = Path(__file__).resolve().parent


def torsoseg_step_seconds(plans: Plans, precision: str, steps: int, warmup: int) -> float:
    device = torch.device("cpu")
    amp = resolve_precision(precision, device)
    fmt = (
        torch.channels_last_3d if use_channels_last(PRESETS["cpu"], device, amp) else torch.contiguous_format
    )
    torch.manual_seed(0)
    net = build_network(plans).to(memory_format=fmt)
    loss_fn = DeepSupervisionLoss(DiceCELoss(), deep_supervision_strides(plans))
    opt = torch.optim.SGD(net.parameters(), 1e-2, momentum=0.99, nesterov=True, weight_decay=3e-5)
    x = torch.randn(plans.batch_size, plans.num_input_channels, *plans.patch_size).contiguous(
        memory_format=fmt
    )
    y = torch.randint(0, plans.num_classes, (plans.batch_size, *plans.patch_size))
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast(amp, device):
            out = net(x)
        loss = loss_fn(out, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 12.0)
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def torsoseg_loader_rate(plans: Plans, folder: Path, ids: list[str], batches: int, warmup: int) -> float:
    aug = PRESETS["cpu"].augmentation
    big = initial_patch_size(plans.patch_size, aug.rotation_deg, aug.scale_range[1])
    loader = PatchBatchLoader(folder, ids, plans.batch_size, big, plans.patch_size, 0.33, seed=0)
    transform = training_transforms(plans.patch_size, aug, lr_swap_table(plans.labels))
    np.random.seed(0)
    for _ in range(warmup):
        transform(**next(loader))
    t0 = time.perf_counter()
    for _ in range(batches):
        transform(**next(loader))
    return batches / (time.perf_counter() - t0)


def export_nnunet_numpy(folder: Path, ids: list[str], out: Path) -> None:
    """Copies cached cases into nnU-Net v2's numpy dataset format (data, seg with channel axis, pkl)."""
    out.mkdir(parents=True, exist_ok=True)
    for i in ids:
        c = load_case(folder, i, mmap=True)
        np.save(out / f"{i}.npy", np.asarray(c.data, dtype=np.float32))
        np.save(out / f"{i}_seg.npy", np.asarray(c.seg, dtype=np.int8)[None])
        locs = {
            k: np.concatenate([np.zeros((len(v), 1), np.int64), v.astype(np.int64)], 1)
            for k, v in c.class_locations.items()
        }
        with open(out / f"{i}.pkl", "wb") as f:
            pickle.dump({"class_locations": locs, "spacing": [1.0, 1.0, 1.0]}, f)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("dataset", help="a torsoseg preprocessed dataset folder (plans.json + cache)")
    p.add_argument("--steps", type=int, default=5, help="timed training steps per variant")
    p.add_argument("--batches", type=int, default=20, help="timed loader batches")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps/batches first")
    p.add_argument("--nnunet-python", default=None, help="interpreter with nnunetv2 installed")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    d = Path(args.dataset)
    plans = Plans.load(d / "plans.json")
    folder = cache_folder(d, plans)
    ids = list_cached_cases(folder)
    if not ids:
        print(f"{folder}: no preprocessed cases", file=sys.stderr)
        return 1
    res: dict = {
        "plans": {
            "patch_size": list(plans.patch_size),
            "batch_size": plans.batch_size,
            "features": list(plans.features),
            "strides": [list(s) for s in plans.strides],
        },
        "threads": torch.get_num_threads(),
        "cases": len(ids),
    }
    print(
        f"{d.name}: patch {plans.patch_size}, batch {plans.batch_size}, features {plans.features}, "
        f"{len(ids)} cases, {torch.get_num_threads()} threads"
    )
    res["torsoseg_step_s_fp32"] = torsoseg_step_seconds(plans, "fp32", args.steps, args.warmup)
    res["torsoseg_step_s_auto"] = torsoseg_step_seconds(plans, "auto", args.steps, args.warmup)
    res["torsoseg_loader_batches_per_s"] = torsoseg_loader_rate(plans, folder, ids, args.batches, args.warmup)
    py = find_nnunet_python(args.nnunet_python, ("nnunetv2", "dynamic_network_architectures"))
    if py is None:
        print(NOT_FOUND)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="bench_nnunet_"))
        try:
            export_nnunet_numpy(folder, ids, tmp)
            job = {
                "features": list(plans.features),
                "kernel_sizes": [list(k) for k in plans.kernel_sizes],
                "strides": [list(s) for s in plans.strides],
                "num_classes": plans.num_classes,
                "batch_size": plans.batch_size,
                "patch_size": list(plans.patch_size),
                "steps": args.steps,
                "warmup": args.warmup,
                "batches": args.batches,
                "nnunet_folder": str(tmp),
                "identifiers": ids,
                "threads": torch.get_num_threads(),
            }
            r = subprocess.run(
                [py, "-W", "ignore", str(HERE / "_nnunet_training_probe.py"), json.dumps(job)],
                capture_output=True,
                text=True,
            )
            if r.returncode != 0:
                print(
                    f"nnU-Net probe failed (exit status {r.returncode}; negative = killed by a signal):\n"
                    + r.stderr[-3000:]
                )
            else:
                out = json.loads(r.stdout.strip().splitlines()[-1])
                res["nnunet_step_s_fp32"] = out["step_s"]
                res["nnunet_loader_batches_per_s"] = out.get("loader_batches_per_s")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    rows = [
        ("torsoseg step, fp32", res["torsoseg_step_s_fp32"]),
        ("torsoseg step, auto (bf16+cl)", res["torsoseg_step_s_auto"]),
        ("nnU-Net v2 step, fp32", res.get("nnunet_step_s_fp32")),
    ]
    print(f"{'':32s} {'s/step':>8s} {'it/s':>7s}")
    for name, s in rows:
        if s is not None:
            print(f"{name:32s} {s:8.3f} {1 / s:7.3f}")
    print(f"torsoseg loader: {res['torsoseg_loader_batches_per_s']:.2f} batches/s (1 process)")
    if res.get("nnunet_loader_batches_per_s"):
        print(f"nnU-Net loader:  {res['nnunet_loader_batches_per_s']:.2f} batches/s (1 process)")
    feed = res["torsoseg_loader_batches_per_s"] * res["torsoseg_step_s_auto"]
    print(
        f"loader batches per training step (inline): {feed:.1f} (>= 1: the step is never starved by "
        "a background worker; inline it adds 1/{:.1f} of a step)".format(feed)
    )
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
