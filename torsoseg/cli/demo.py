"""``torsoseg_demo``: the experiment of Roth et al. 2017 end to end on the phantom, on a CPU.

Steps (each prints a header, shows progress bars and leaves a marker ``steps/<step>.json`` so that a
rerun with the same settings skips what is finished and resumes an interrupted training):

1. generate the three source datasets with the phantom (abdomen, VISCERAL, torso layouts) and a few
   held-out VISCERAL cases;
2. convert them into raw datasets 1 (Abdomen), 2 (VISCERAL), 3 (Torso) and 4 (the held-out cases);
3. plan (budget ``cpu``) and preprocess dataset 1;
4. pretrain on dataset 1;
5. plan dataset 2 with dataset 1's plans and preprocess it;
6. fine-tune the dataset-1 model on dataset 2 (preset ``finetune_cpu``: the transferred body at the cpu
   rate / 3.3, the output heads at 1e-2; the paper's 10x smaller rate is ``--finetune-preset
   finetune_cpu_10x``, its plain rule ``finetune_cpu_plain``);
7. train dataset 2 from scratch with the same budget (the control);
8. choose each dataset-2 model's postprocessing, and the merge's per-organ weights, on dataset 4;
   predict the unseen dataset 3 with both dataset-2 models, and with the dataset-1 and fine-tuned models
   merged by organ name (the paper's future work: one label map over the union of their organs);
9. evaluate every prediction against dataset 3 by organ name;
10. write ``report.md``: Table 1 per model, the models side by side, previews.

Everything lives under ``--out`` (its own raw/preprocessed/results roots), so the demo never touches
the user's datasets.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from torsoseg.cli import demo_merge
from torsoseg.cli.demo_cascade import DEFAULT_FACTOR, cascade_training_steps
from torsoseg.cli.demo_report import write_report
from torsoseg.cli.demo_steps import PRESETS, Demo, DemoConfig, DemoError, say
from torsoseg.phantom.case import SIZES

__all__ = [
    "Demo",
    "DemoConfig",
    "DemoError",
    "PRESETS",
    "build_parser",
    "config_from_args",
    "main",
    "write_report",
]

EPILOG = """examples:
  torsoseg_demo                        # the full experiment (10-15 min on 2 bfloat16 CPU cores,
                                       # over an hour in float32; see README)
  torsoseg_demo --quick --out /tmp/demo
  torsoseg_demo --cases-1 12 --cases-2 6 --cases-3 4 --epochs 60 --out demo_big
  torsoseg_demo --device cuda --precision auto
  torsoseg_demo --cascade --out demo_cascade    # the cascade: coarse 3d_lowres + fine 3d_cascade

A rerun with the same --out and settings skips finished steps and resumes an interrupted training; a
folder made with other settings or by another version of the phantom generator is refused.
Output: OUT/report.md (tables and previews), OUT/evaluation/*.json, OUT/predictions/<model>/."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="torsoseg_demo",
        description="Run the experiment of Roth et al. 2017 end to end on the phantom: generate, convert, "
        "plan, "
        "pretrain on dataset 1, fine-tune on dataset 2 (and train it from scratch as a control), predict the "
        "unseen dataset 3, evaluate by organ name, and write the Table 1 analogue.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default=None, help="output folder (default: <data home>/demo, or demo_quick)")
    p.add_argument("--quick", action="store_true", help="a smaller, faster run (a few minutes)")
    p.add_argument("--cases-1", type=int, default=None, help="abdomen phantoms (dataset 1, pretraining)")
    p.add_argument("--cases-2", type=int, default=None, help="VISCERAL phantoms (dataset 2, fine-tuning)")
    p.add_argument("--cases-3", type=int, default=None, help="torso phantoms (dataset 3, test)")
    p.add_argument("--cases-val", type=int, default=None,
                   help="held-out VISCERAL phantoms (dataset 4) on which the merge's weights are chosen")
    p.add_argument(
        "--size", default=None, choices=SIZES, help="phantom size of the pretraining set (dataset 1)"
    )
    p.add_argument("--finetune-size", default=None, choices=SIZES, help="phantom size of dataset 2")
    p.add_argument(
        "--test-size", default=None, choices=SIZES, help="phantom size of the test set (dataset 3)"
    )
    p.add_argument(
        "--finetune-preset",
        default=None,
        help="training preset (fine-tuning strategy) of the fine-tuned model, e.g. finetune_cpu, "
        "finetune_cpu_10x, finetune_cpu_plain, finetune_cpu_headfirst",
    )
    p.add_argument("--epochs", type=int, default=None, help="epochs of every training (sets both below)")
    p.add_argument("--pretrain-epochs", type=int, default=None, help="epochs of the dataset-1 training")
    p.add_argument(
        "--finetune-epochs",
        type=int,
        default=None,
        help="epochs of both dataset-2 trainings (fine-tuned and from scratch)",
    )
    p.add_argument("--iterations", type=int, default=None, help="training iterations per epoch")
    p.add_argument(
        "--seed", type=int, default=None, help="seed of the whole experiment (phantoms and trainings)"
    )
    p.add_argument(
        "--cascade", nargs="?", type=float, const=DEFAULT_FACTOR, default=None, metavar="F",
        help="train and predict with the two-stage cascade (coarse stage at F times the spacing, default "
        f"{DEFAULT_FACTOR:g}) instead of one network per training; each stage gets the epochs of one",
    )
    p.add_argument("--tta", action="store_true", default=None,
                   help="mirror test-time augmentation (only along the axes the models were trained to "
                   "mirror: none with the cpu presets)")
    p.add_argument(
        "--with-pretrained",
        action="store_true",
        default=None,
        help="also predict/evaluate dataset 3 with the dataset-1 model alone",
    )
    p.add_argument(
        "--device", default=None, choices=("cpu", "cuda", "auto"), help="training/inference device"
    )
    p.add_argument("--precision", default=None, choices=("fp32", "bf16", "auto"), help="numeric precision")
    p.add_argument(
        "--workers", type=int, default=None, help="processes for planning, preprocessing, evaluation"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="log details")
    return p


def config_from_args(args: argparse.Namespace) -> DemoConfig:
    cfg = PRESETS["quick" if args.quick else "full"]
    changes = {
        k: v
        for k, v in {
            "cases_1": args.cases_1,
            "cases_2": args.cases_2,
            "cases_3": args.cases_3,
            "cases_val": args.cases_val,
            "size": args.size,
            "finetune_size": args.finetune_size,
            "test_size": args.test_size,
            "finetune_preset": args.finetune_preset,
            "pretrain_epochs": args.pretrain_epochs if args.pretrain_epochs is not None else args.epochs,
            "finetune_epochs": args.finetune_epochs if args.finetune_epochs is not None else args.epochs,
            "iterations_per_epoch": args.iterations,
            "seed": args.seed,
            "tta": args.tta,
            "predict_pretrained": True if args.with_pretrained else None,
            "cascade_factor": args.cascade,
        }.items()
        if v is not None
    }
    cfg = replace(cfg, **changes)
    bad = [
        f"{k} must be >= 1, got {getattr(cfg, k)}"
        for k in ("cases_1", "cases_3", "cases_val", "pretrain_epochs", "finetune_epochs",
                  "iterations_per_epoch")
        if getattr(cfg, k) < 1
    ]
    from torsoseg.training.settings import PRESETS as TRAINING_PRESETS

    if cfg.finetune_preset not in TRAINING_PRESETS:
        bad.append(
            f"unknown fine-tuning preset {cfg.finetune_preset!r}; valid: "
            + ", ".join(sorted(TRAINING_PRESETS))
        )
    if cfg.cascade_factor is not None and not cfg.cascade_factor > 1:
        bad.append(f"--cascade F needs F > 1, got {cfg.cascade_factor}")
    if cfg.cases_2 < 2:
        bad.append(f"cases_2 must be >= 2 (fine-tuning needs a training set), got {cfg.cases_2}")
    if bad:
        raise ValueError("; ".join(bad))
    return cfg


def _core_steps(demo: Demo, cfg: DemoConfig) -> list[tuple[str, str, Callable[[], dict | None]]]:
    """Generate, convert, plan, the three trainings, predict and evaluate the two dataset-2 models."""
    s = cfg.phantom_seed
    return [
        (
            "phantoms",
            f"generate the phantoms: {cfg.cases_1} abdomen, {cfg.cases_2} VISCERAL, {cfg.cases_3} torso "
            f"({cfg.size} / {cfg.finetune_size} / {cfg.test_size}, source layouts), {cfg.cases_val} "
            f"held-out VISCERAL",
            lambda: demo.generate(
                [
                    ("visceral", cfg.cases_2, s + 1000),
                    ("torso", cfg.cases_3, s + 2000),
                    ("abdomen", cfg.cases_1, s),
                    ("visceral_val", cfg.cases_val, s + 3000),
                ]
            ),
        ),
        ("convert_1", "convert abdomen -> Dataset001_Abdomen", lambda: demo.convert("abdomen", 1)),
        ("convert_2", "convert visceral -> Dataset002_VISCERAL", lambda: demo.convert("visceral", 2)),
        ("convert_3", "convert torso -> Dataset003_Torso", lambda: demo.convert("torso", 3)),
        ("convert_4", "convert the held-out VISCERAL cases -> Dataset004_VISCERALval",
         lambda: demo.convert("visceral_val", 4, name="VISCERALval")),
        ("plan_1", "plan (budget cpu) and preprocess dataset 1", lambda: demo.plan_and_preprocess(1)),
        (
            "train_1",
            f"pretrain on dataset 1 ({cfg.pretrain_epochs} epochs)",
            lambda: demo.train(1, cfg.pretrain_epochs),
        ),
        (
            "plan_2",
            "plan dataset 2 with the plans of dataset 1 and preprocess it",
            lambda: demo.plan_and_preprocess(2, plans_from=1),
        ),
        (
            "finetune_2",
            f"fine-tune the dataset-1 model on dataset 2 ({cfg.finetune_epochs} epochs, preset "
            f"{cfg.finetune_preset})",
            lambda: demo.train(2, cfg.finetune_epochs, pretrained=1),
        ),
        (
            "scratch_2",
            f"train dataset 2 from scratch, same budget ({cfg.finetune_epochs} epochs)",
            lambda: demo.train(2, cfg.finetune_epochs),
        ),
        (
            "postprocessing",
            "choose each dataset-2 model's postprocessing on the held-out VISCERAL cases (dataset 4)",
            lambda: demo_merge.choose_postprocessing(demo),
        ),
        (
            "predict_finetuned",
            "predict dataset 3 with the fine-tuned model",
            lambda: demo.predict("fine-tuned", demo.model_dir("finetune_2")),
        ),
        (
            "predict_scratch",
            "predict dataset 3 with the from-scratch model",
            lambda: demo.predict("scratch", demo.model_dir("scratch_2")),
        ),
        (
            "evaluate_finetuned",
            "evaluate the fine-tuned model by organ name",
            lambda: demo.evaluate("fine-tuned"),
        ),
        (
            "evaluate_scratch",
            "evaluate the from-scratch model by organ name",
            lambda: demo.evaluate("scratch"),
        ),
    ]


def demo_steps(demo: Demo, cfg: DemoConfig) -> list[tuple[str, str, Callable[[], dict | None]]]:
    """The demo's steps in order: ``(marker key, title, function)``."""
    steps = _core_steps(demo, cfg)
    if cfg.cascade_factor is not None:  # the two-stage cascade in place of every single network
        steps = steps[:5] + cascade_training_steps(demo, cfg)
    steps += [] if cfg.cascade_factor is not None else [
        (
            "merge_weights",
            "choose the merge's per-organ weights on the held-out VISCERAL cases (dataset 4)",
            lambda: demo_merge.choose_merge_weights(demo),
        ),
        (
            "predict_merged",
            "predict dataset 3 with the dataset-1 and fine-tuned models merged by organ name",
            lambda: demo_merge.predict_merged(demo),
        ),
        ("evaluate_merged", "evaluate the merged model by organ name", lambda: demo.evaluate("merged")),
    ]
    if cfg.predict_pretrained:
        steps += [
            (
                "predict_pretrained",
                "predict dataset 3 with the pretrained (dataset-1) model",
                lambda: demo.predict("pretrained", demo.model_dir("train_1")),
            ),
            (
                "evaluate_pretrained",
                "evaluate the pretrained model by organ name",
                lambda: demo.evaluate("pretrained"),
            ),
        ]
    return steps


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        cfg = config_from_args(args)
    except ValueError as e:
        print(f"torsoseg_demo: {e}", file=sys.stderr)
        return 2
    if args.out is not None:
        out = Path(args.out)
    else:
        from torsoseg.paths import default_roots

        out = default_roots().home / ("demo_quick" if args.quick else "demo")
    demo = Demo(
        out.expanduser().resolve(),
        cfg,
        device=args.device,
        precision=args.precision,
        workers=args.workers or 2,
        progress=not args.no_progress,
    )
    started = time.perf_counter()
    say(f"torsoseg demo -> {demo.out}")
    say("settings: " + json.dumps(asdict(cfg)))
    try:
        demo.out.mkdir(parents=True, exist_ok=True)
        demo.check_config()
        steps = demo_steps(demo, cfg)
        for i, (key, title, fn) in enumerate(steps, start=1):
            demo.run_step(i, len(steps) + 1, key, title, fn)
        say(f"\n[{len(steps) + 1}/{len(steps) + 1}] write the report")
        path, printable = write_report(demo, started)
    except DemoError as e:
        print(f"torsoseg_demo: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("torsoseg_demo: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    say("\n" + printable)
    say(f"report: {path}")
    say(f"total: {sum(demo.timings.values()):.0f} s of steps, {time.perf_counter() - started:.0f} s this run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
