"""Per-benchmark tables and goal checks of ``documentation/benchmarks.md`` (used by ``_report.py``).

Each function takes the benchmark script's own JSON (the ``result`` of a ``benchmarks/results/<name>.json``)
and returns the Markdown of its tables plus the goals of its issue, each evaluated from the figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

GB_PER_GIB = 2**30 / 1e9


@dataclass(frozen=True)
class Goal:
    """One target of an issue and whether the recorded run meets it (None: not measured)."""

    text: str
    met: bool | None
    detail: str


# --------------------------------------------------------------------------------------------------
# formatting helpers
# --------------------------------------------------------------------------------------------------


def num(x: float | None, digits: int = 2, unit: str = "") -> str:
    """``x`` with ``digits`` decimals and a unit; ``-`` for None."""
    return "-" if x is None else f"{x:.{digits}f}{unit}"


def pct(value: str | float | None) -> float | None:
    """A percentage from ``"99.900 %"`` or a number."""
    if value is None:
        return None
    return float(str(value).replace("%", "").strip())


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def vec(v, digits: int | None = None) -> str:
    if v is None:
        return "-"
    return "(" + ", ".join(str(round(x, digits)) if digits is not None else str(x) for x in v) + ")"


def status(met: bool | None) -> str:
    return {True: "**met**", False: "**not met**", None: "not measured"}[met]


def goals_list(goals: list[Goal]) -> str:
    return "\n".join(f"* {g.text}: {status(g.met)} ({g.detail})" for g in goals)


# --------------------------------------------------------------------------------------------------
# one renderer per benchmark: result -> (markdown, goals)
# --------------------------------------------------------------------------------------------------


def plan_and_preprocess(r: dict) -> tuple[str, list[Goal]]:
    t, n = r["torsoseg"], r.get("nnunet")
    runs = len(t.get("runs", [])) or 1
    setup = (
        f"{r['cases']} {r['size']} {r['kind']} phantoms, {r['workers']} workers, "
        f"median of {runs} run{'s' if runs > 1 else ''} per tool."
    )

    def side(d: dict | None, key: str, digits: int = 0, unit: str = " MB") -> str:
        return "nnU-Net not available" if d is None else num(d.get(key), digits, unit)

    def ratio(key: str) -> str:
        v = r.get(key)
        return "-" if v is None else f"{v:.2f}"

    speed = r.get("speedup_wall")
    rows = [
        [
            "wall time",
            side(t, "wall_s", 1, " s"),
            side(n, "wall_s", 1, " s"),
            "-" if speed is None else f"**{speed:.2f}x faster**",
        ],
        [
            "peak memory, process tree (PSS sum)",
            side(t, "peak_tree_pss_mb"),
            side(n, "peak_tree_pss_mb"),
            ratio("memory_ratio_tree_pss"),
        ],
        [
            "peak memory, process tree (RSS sum)",
            side(t, "peak_tree_rss_mb"),
            side(n, "peak_tree_rss_mb"),
            ratio("memory_ratio_tree"),
        ],
        [
            "largest single process",
            side(t, "max_process_rss_mb"),
            side(n, "max_process_rss_mb"),
            ratio("memory_ratio_process"),
        ],
        [
            "target spacing (x, y, z), mm",
            vec(t.get("target_spacing_xyz"), 4),
            "-" if n is None else vec(n.get("target_spacing_xyz"), 4),
            {True: "same", False: "different", None: "-"}[r.get("same_target_spacing")],
        ],
        [
            "patch / batch (3d_fullres)",
            f"{vec(t.get('patch_size'))} / {t.get('batch_size')}",
            "-" if n is None else f"{vec(n.get('patch_size'))} / {n.get('batch_size')}",
            "-",
        ],
    ]
    body = setup + "\n\n" + table(["", "torsoseg", "nnU-Net v2", "ratio (torsoseg / nnU-Net)"], rows)
    mem_key = "memory_ratio_tree_pss" if r.get("memory_ratio_tree_pss") is not None else "memory_ratio_tree"
    mem = r.get(mem_key)
    goals = [
        Goal(
            "plan + preprocess at least 2x faster than nnU-Net v2",
            None if speed is None else speed >= 2,
            "not measured" if speed is None else f"{speed:.2f}x",
        ),
        Goal(
            "at lower peak memory than nnU-Net v2",
            None if mem is None else mem < 1,
            "not measured" if mem is None else f"ratio {mem:.2f}, {'PSS' if 'pss' in mem_key else 'RSS'}",
        ),
    ]
    return body, goals


def training(r: dict) -> tuple[str, list[Goal]]:
    p = r["plans"]
    setup = (
        f"Dataset: {r['cases']} preprocessed cases; patch {vec(p['patch_size'])}, batch "
        f"{p['batch_size']}, features {'-'.join(map(str, p['features']))} ({len(p['features'])} stages); "
        f"{r['threads']} torch threads."
    )
    nn = r.get("nnunet_step_s_fp32")
    steps = [
        ("nnU-Net v2, float32", nn),
        ("torsoseg, float32", r["torsoseg_step_s_fp32"]),
        ("torsoseg, `auto` (bf16 + channels-last where supported)", r["torsoseg_step_s_auto"]),
    ]
    rows = [
        [name, num(s, 2), num(1 / s, 3), "-" if nn is None else f"{nn / s:.2f}x"]
        for name, s in steps
        if s is not None
    ]
    feed = r["torsoseg_loader_batches_per_s"] * r["torsoseg_step_s_auto"]
    nl = r.get("nnunet_loader_batches_per_s")
    loader = []
    if nl is not None:
        loader.append(["nnU-Net v2 (batchgeneratorsv2)", num(nl, 2), "-"])
    loader.append(
        ["torsoseg (batchgenerators, `cpu` preset)", num(r["torsoseg_loader_batches_per_s"], 2), num(feed, 1)]
    )
    body = "\n\n".join(
        [
            setup,
            table(["step (forward, loss, backward, SGD)", "s / step", "steps / s", "vs nnU-Net"], rows),
            table(["loader (1 process)", "batches / s", "batches per torsoseg `auto` step"], loader),
        ]
    )
    goals = [
        Goal(
            "iterations per second at least nnU-Net v2's (default precision)",
            None if nn is None else r["torsoseg_step_s_auto"] <= nn,
            "nnU-Net not available" if nn is None else f"{nn / r['torsoseg_step_s_auto']:.2f}x nnU-Net's",
        ),
        Goal("the loader never starves the step (batches per step >= 1)", feed >= 1, f"{feed:.1f}"),
    ]
    return body, goals


def precision(r: dict) -> tuple[str, list[Goal]]:
    p = r["plans"]
    setup = (
        f"Plan: `{p['dataset_name']}` (budget `{p.get('budget', '?')}`), patch {vec(p['patch_size'])}, "
        f"batch {r['batch']}, features {'-'.join(map(str, p['features']))}; "
        f"{r['forward_flops'] / 1e9:.1f} GFLOP forward, {r['train_flops'] / 1e9:.1f} GFLOP "
        f"forward + backward; {r['threads']} torch threads."
    )
    res = r["results"]
    if not res:
        return setup + "\n\nNo variant was timed.", []
    fp32 = next((x for x in res if x["variant"] == "fp32"), None)
    best = max(res, key=lambda x: x["train_gflops"])
    rows = []
    for x in res:
        cells = [
            f"`{x['variant']}`",
            num(x["forward_s"], 2),
            num(x["forward_gflops"], 1),
            num(x["train_s"], 2),
            num(x["train_gflops"], 1),
            "-" if fp32 is None else f"{fp32['train_s'] / x['train_s']:.2f}x",
        ]
        rows.append([f"**{c}**" for c in cells] if x is best else cells)
    body = (
        setup
        + "\n\n"
        + table(
            [
                "variant",
                "forward s",
                "forward GFLOP/s",
                "fwd+bwd s",
                "fwd+bwd GFLOP/s",
                "fwd+bwd speed-up vs fp32",
            ],
            rows,
        )
    )
    names = {x["variant"] for x in res}
    goals = [
        Goal(
            "bf16 + channels-last is the fastest training variant (the trainer's CPU default rests on it)",
            None if "bf16+cl" not in names else best["variant"] == "bf16+cl",
            "no native bfloat16 on this CPU"
            if "bf16+cl" not in names
            else f"fastest: `{best['variant']}`, {best['train_gflops']:.1f} GFLOP/s",
        )
    ]
    return body, goals


def _ref_key(row: dict, prefix: str) -> str | None:
    return next((k for k in row if k.startswith(prefix)), None)


def inference_sliding_window(r: dict) -> tuple[str, list[Goal]]:
    s = r["sliding-window"]
    rows = s["rows"]
    sk, ak = _ref_key(rows[0], "speed-up vs "), _ref_key(rows[0], "argmax agreement vs ")
    ref = sk[len("speed-up vs ") :] if sk else "?"
    out = [
        [
            x["method"],
            num(x["seconds"], 1),
            "-" if sk is None else f"{x[sk]:.2f}",
            "-" if x["method"] == ref or ak is None else f"{pct(x[ak]):.3f} %",
        ]
        for x in rows
    ]
    body = f"Setup: {s['setup']}.\n\n" + table(
        ["method", "seconds", f"speed-up vs {ref}", f"argmax agreement vs {ref}"], out
    )
    fp32 = next((x for x in rows if x["method"] == "torsoseg fp32"), None)
    if ref != "nnU-Net v2" or fp32 is None:
        goal = Goal(
            "torsoseg fp32 agrees with nnU-Net v2 on >= 99.9 % of the voxels", None, "nnU-Net not available"
        )
    else:
        a = pct(fp32[ak])
        goal = Goal(
            "torsoseg fp32 agrees with nnU-Net v2 on >= 99.9 % of the voxels", a >= 99.9, f"{a:.3f} %"
        )
    return body, [goal]


def inference_e2e(r: dict) -> tuple[str, list[Goal]]:
    s = r["e2e"]
    rows = s["rows"]
    out = [
        [
            f"`{x['tool']}`",
            num(x["seconds"], 1),
            num(x["peak GiB"], 2, " GiB"),
            "1.00" if x["tool"].startswith("nnUNet") else num(x.get("speed-up"), 2),
            "1.00" if x["tool"].startswith("nnUNet") else num(x.get("memory ratio"), 2),
        ]
        for x in rows
    ]
    body = f"Setup: {s['setup']}.\n\n" + table(
        ["tool", "seconds", "peak memory (PSS)", "speed-up vs nnU-Net", "memory vs nnU-Net"], out
    )
    goals = []
    for x in rows:
        if x["tool"].startswith("nnUNet"):
            continue
        sp, mr = x.get("speed-up"), x.get("memory ratio")
        goals.append(
            Goal(
                f"`{x['tool']}` at least 2x faster than nnU-Net v2 without TTA",
                None if sp is None else sp >= 2,
                "nnU-Net not available" if sp is None else f"{sp:.2f}x",
            )
        )
        goals.append(
            Goal(
                f"`{x['tool']}` at most 1/3 of nnU-Net v2's peak memory",
                None if mr is None else mr <= 1 / 3,
                "nnU-Net not available" if mr is None else f"ratio {mr:.2f}",
            )
        )
    return body, goals


def inference_memory(r: dict) -> tuple[str, list[Goal]]:
    rows = r["memory"]["rows"]
    out, goals = [], []
    for x in rows:
        peak = x["peak GiB (PSS)"]
        out.append(
            [
                x["input"],
                x["volume"],
                str(x["classes"]),
                num(x["fp16 accumulator if uncropped GiB"], 1, " GiB"),
                num(x["fp32 copy GiB"], 1, " GiB"),
                num(x["fp64 copy GiB"], 1, " GiB"),
                f"**{peak:.2f} GiB** ({peak * GB_PER_GIB:.2f} GB)",
                num(x["seconds"], 0, " s"),
            ]
        )
        goals.append(
            Goal(
                f"peak memory below 6 GB on the CPU, input: {x['input']}",
                peak * GB_PER_GIB < 6,
                f"{peak * GB_PER_GIB:.2f} GB",
            )
        )
    body = table(
        [
            "input",
            "volume",
            "classes",
            "float16 accumulator (uncropped)",
            "float32 copy would be",
            "float64 copy would be",
            "peak memory (PSS)",
            "seconds",
        ],
        out,
    )
    return body, goals


def inference_precision(r: dict) -> tuple[str, list[Goal]]:
    s = r["precision"]
    out, goals, last = [], [], None
    for x in s["rows"]:
        fp32 = x["precision"] == "fp32"
        out.append(
            [
                x["case"] if x["case"] != last else "",
                x["precision"],
                num(x["seconds"], 1),
                num(x.get("speed-up vs fp32"), 2),
                "-" if fp32 else f"{pct(x['argmax agreement vs fp32']):.2f} %",
                num(x["peak GiB"], 2, " GiB"),
            ]
        )
        last = x["case"]
        if x["precision"] == "bf16":
            sp, ag = x.get("speed-up vs fp32"), pct(x["argmax agreement vs fp32"])
            goals.append(Goal(f"bf16 at least 2.5x faster than fp32, {x['case']}", sp >= 2.5, f"{sp:.2f}x"))
            goals.append(
                Goal(f"bf16 argmax agreement with fp32 >= 99 %, {x['case']}", ag >= 99, f"{ag:.2f} %")
            )
    body = f"Setup: {s['setup']}.\n\n" + table(
        ["case", "precision", "seconds", "speed-up vs fp32", "argmax agreement vs fp32", "peak memory"], out
    )
    return body, goals


SECTIONS: dict[str, Callable[[dict], tuple[str, list[Goal]]]] = {
    "plan_and_preprocess": plan_and_preprocess,
    "training": training,
    "precision": precision,
    "inference_sliding_window": inference_sliding_window,
    "inference_e2e": inference_e2e,
    "inference_memory": inference_memory,
    "inference_precision": inference_precision,
}
