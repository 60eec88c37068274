"""Training step time with torsoseg's CPU Conv3d (forward-kernel backward) vs plain ``nn.Conv3d``.

One step = forward, Dice + CE with deep supervision, backward, AdamW step, in float32 on the CPU, on a
random batch of the given plans' patch and batch size (default: a cpu plan like the demo's, patch 48 x 40
x 48, batch 2, features 16-128, 8 classes). Both variants alternate step by step, so a change in machine
load hits both alike; the median of ``--steps`` steps after ``--warmup`` is printed.

Usage::

    python benchmarks/bench_cpu_conv.py [--plans PREPROCESSED/Dataset001_Abdomen/plans.json] [--json out.json]

Figures are only meaningful on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch import nn


def _plans(path: str | None, thick_slices: bool = False):
    from dataclasses import replace

    from torsoseg.planning.plans import CTNormalization, Plans

    if path:
        return Plans.load(path)
    plans = Plans(
        dataset_name="Dataset999_Bench",
        labels={"background": 0, **{f"organ{i}": i for i in range(1, 8)}},
        target_spacing=(7.0, 7.0, 5.0),
        patch_size=(48, 40, 48),
        batch_size=2,
        strides=((1, 1, 1), (2, 2, 2), (2, 2, 2), (2, 2, 2)),
        kernel_sizes=((3, 3, 3),) * 4,
        features=(16, 32, 64, 128),
        normalization=CTNormalization(mean=80.0, std=75.0, lower=-580.0, upper=190.0),
    )
    if thick_slices:  # as planned for thick slices: the first stage's kernels flat along the last axis
        plans = replace(plans, target_spacing=(7.0, 7.0, 14.0),
                        strides=((1, 1, 1), (2, 2, 1), (2, 2, 2), (2, 2, 2)),
                        kernel_sizes=((3, 3, 1), (3, 3, 3), (3, 3, 3), (3, 3, 3)))
    return plans


def _model(plans, stock: bool) -> nn.Module:
    from torsoseg.network import build_network

    torch.manual_seed(0)
    model = build_network(plans, deep_supervision=True)
    if stock:  # swap every torsoseg Conv3d for a plain nn.Conv3d with the same weights
        for block in [m for m in model.modules() if hasattr(m, "conv")]:
            c = block.conv
            plain = nn.Conv3d(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding)
            plain.load_state_dict(c.state_dict())
            block.conv = plain
    return model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--plans", default=None, help="plans.json (default: the demo-like cpu plan)")
    p.add_argument("--thick-slices", action="store_true",
                   help="the default plan with a first stage of 3x3x1 kernels (as for thick slices)")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--json", default=None, help="write the figures here")
    args = p.parse_args(argv)
    from torsoseg.training.losses import DeepSupervisionLoss, DiceCELoss
    from torsoseg.training.trainer import deep_supervision_strides

    plans = _plans(args.plans, args.thick_slices)
    x = torch.randn(plans.batch_size, 1, *plans.patch_size)
    y = torch.randint(0, len(plans.labels), (plans.batch_size, *plans.patch_size))
    loss = DeepSupervisionLoss(DiceCELoss(), deep_supervision_strides(plans))
    runs = {}
    for name, stock in (("torsoseg Conv3d", False), ("nn.Conv3d", True)):
        model = _model(plans, stock)
        runs[name] = (model, torch.optim.AdamW(model.parameters(), 1e-3), [])
    for i in range(args.warmup + args.steps):
        for model, opt, times in runs.values():
            t0 = time.perf_counter()
            opt.zero_grad()
            loss(model(x), y).backward()
            opt.step()
            if i >= args.warmup:
                times.append(time.perf_counter() - t0)
    res = {name: statistics.median(t) for name, (_, _, t) in runs.items()}
    for name, sec in res.items():
        print(f"{name:16s} {sec:.3f} s per step (median of {args.steps})")
    print(
        f"speed-up {res['nn.Conv3d'] / res['torsoseg Conv3d']:.2f}x ({torch.get_num_threads()} threads, "
        f"{torch.backends.cpu.get_cpu_capability()})"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "seconds_per_step": res,
                    "threads": torch.get_num_threads(),
                    "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                    "patch": list(plans.patch_size),
                    "kernel_sizes": [list(k) for k in plans.kernel_sizes],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
