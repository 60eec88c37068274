"""Achieved GFLOP/s of the planned U-Net in fp32 / bf16, contiguous / channels-last 3D (issue 9).

FLOPs are counted once with ``torch.utils.flop_counter.FlopCounterMode`` (forward, and forward+backward)
on the network :func:`torsoseg.network.build_network` makes from a plans record; each variant is then
timed (median of ``--repeats`` after ``--warmup`` runs) and reported as GFLOP/s and seconds.

Variants: ``fp32``, ``fp32+cl`` (channels_last_3d model and input), ``bf16`` (bfloat16 autocast),
``bf16+cl``. The loss of the forward+backward run is computed in float32 from the logits (as training
does).

Usage::

    python benchmarks/bench_precision.py                       # the cpu-budget plan of a phantom-like shape
    python benchmarks/bench_precision.py --plans PRE/Dataset001_Abdomen/plans.json --batch 2
    python benchmarks/bench_precision.py --json out.json

Timings are only meaningful on a quiet machine (nothing else using the cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from torsoseg.network import build_network
from torsoseg.network.precision import autocast, cpu_supports_bf16
from torsoseg.plans import CTNormalization, Plans

VARIANTS = (
    ("fp32", None, False),
    ("fp32+cl", None, True),
    ("bf16", torch.bfloat16, False),
    ("bf16+cl", torch.bfloat16, True),
)


def default_plans() -> Plans:
    """A cpu-budget-like plan (used when no plans.json is given)."""
    return Plans(
        dataset_name="Dataset000_Bench",
        labels={"background": 0, **{f"organ{i}": i for i in range(1, 8)}},
        target_spacing=(1.6, 1.6, 2.5),
        patch_size=(80, 80, 64),
        batch_size=2,
        strides=((1, 1, 1), (2, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 2)),
        kernel_sizes=((3, 3, 3),) * 5,
        features=(32, 64, 128, 256, 320),
        normalization=CTNormalization(0.0, 1.0, -1.0, 1.0),
    )


def count_flops(model: torch.nn.Module, x: torch.Tensor, backward: bool) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        out = model(x)
        if backward:
            _loss(out).backward()
    model.zero_grad(set_to_none=True)
    return int(fc.get_total_flops())


def _loss(out) -> torch.Tensor:
    outs = out if isinstance(out, (list, tuple)) else [out]
    return sum(o.float().logsumexp(1).mean() for o in outs)


def time_variant(
    model: torch.nn.Module,
    x: torch.Tensor,
    amp,
    channels_last: bool,
    backward: bool,
    warmup: int,
    repeats: int,
) -> float:
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    m = model.to(memory_format=fmt)
    xi = x.contiguous(memory_format=fmt)
    times = []
    for i in range(warmup + repeats):
        t0 = time.perf_counter()
        if backward:
            with autocast(amp, "cpu"):
                out = m(xi)
            _loss(out).backward()
            m.zero_grad(set_to_none=True)
        else:
            with torch.no_grad(), autocast(amp, "cpu"):
                m(xi)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--plans", default=None, help="plans.json of a preprocessed dataset (default: a cpu-like plan)"
    )
    p.add_argument("--batch", type=int, default=None, help="batch size (default: the plans')")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs per variant")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per variant (median reported)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    plans = Plans.load(args.plans) if args.plans else default_plans()
    batch = args.batch or plans.batch_size
    torch.manual_seed(0)
    model = build_network(plans)
    x = torch.randn(batch, plans.num_input_channels, *plans.patch_size)
    fwd_flops = count_flops(model, x, backward=False)
    train_flops = count_flops(model, x, backward=True)
    print(f"plans: {plans.dataset_name} patch {plans.patch_size} batch {batch} features {plans.features}")
    print(
        f"FLOPs: forward {fwd_flops / 1e9:.1f} G, forward+backward {train_flops / 1e9:.1f} G; "
        f"threads {torch.get_num_threads()}; native bf16: {cpu_supports_bf16()}"
    )
    results = []
    print(f"{'variant':10s} {'fwd s':>8s} {'fwd GFLOP/s':>12s} {'fwd+bwd s':>10s} {'fwd+bwd GFLOP/s':>16s}")
    for name, amp, cl in VARIANTS:
        if amp is torch.bfloat16 and not cpu_supports_bf16():
            print(f"{name:10s} skipped (no native bfloat16 on this CPU)")
            continue
        tf = time_variant(model, x, amp, cl, False, args.warmup, args.repeats)
        tb = time_variant(model, x, amp, cl, True, args.warmup, args.repeats)
        r = {
            "variant": name,
            "forward_s": tf,
            "forward_gflops": fwd_flops / tf / 1e9,
            "train_s": tb,
            "train_gflops": train_flops / tb / 1e9,
        }
        results.append(r)
        print(f"{name:10s} {tf:8.3f} {r['forward_gflops']:12.1f} {tb:10.3f} {r['train_gflops']:16.1f}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "plans": plans.to_json(),
                    "batch": batch,
                    "forward_flops": fwd_flops,
                    "train_flops": train_flops,
                    "threads": torch.get_num_threads(),
                    "results": results,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
