"""``torsoseg_demo``: the experiment of Roth et al. 2017 end to end on the phantom, on a CPU.

Steps (each prints a header, shows progress bars and leaves a marker ``steps/<step>.json`` so that a
rerun with the same settings skips what is finished and resumes an interrupted training):

1. generate the three source datasets with the phantom (abdomen, VISCERAL, torso layouts);
2. convert them into raw datasets 1 (Abdomen), 2 (VISCERAL) and 3 (Torso);
3. plan (budget ``cpu``) and preprocess dataset 1;
4. pretrain on dataset 1;
5. plan dataset 2 with dataset 1's plans and preprocess it;
6. fine-tune the dataset-1 model on dataset 2 (10x smaller learning rate);
7. train dataset 2 from scratch with the same budget (the control);
8. predict the unseen dataset 3 with both dataset-2 models (and the pretrained model);
9. evaluate every prediction against dataset 3 by organ name;
10. write ``report.md``: Table 1 per model, the models side by side, previews.

Everything lives under ``--out`` (its own raw/preprocessed/results roots), so the demo never touches
the user's datasets.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

EPILOG = """examples:
  torsoseg_demo                        # the full experiment (under 20 minutes on 2 CPU cores)
  torsoseg_demo --quick --out /tmp/demo
  torsoseg_demo --cases-1 12 --cases-2 6 --cases-3 4 --epochs 30 --out demo_big
  torsoseg_demo --device cuda --precision auto

A rerun with the same --out and settings skips finished steps and resumes an interrupted training.
Output: OUT/report.md (tables and previews), OUT/evaluation/*.json, OUT/predictions/<model>/."""

MODELS = ("fine-tuned", "scratch", "pretrained")


@dataclass(frozen=True)
class DemoConfig:
    """What the demo runs. Presets: :data:`PRESETS` (``full``, ``quick``).

    Attributes:
        cases_1, cases_2, cases_3: cases of the abdomen, VISCERAL and torso phantoms.
        size: phantom size (``tiny``, ``small``).
        pretrain_epochs, finetune_epochs: epochs of the dataset-1 training and of both dataset-2
            trainings (fine-tuned and from scratch get the same budget).
        iterations_per_epoch: training steps per epoch.
        val_iterations: validation batches per epoch (monitoring only: the demo trains on every case
            and tests on dataset 3).
        seed: phantom seed (datasets use seed, seed + 1000, seed + 2000: no case is shared).
        tta: mirror test-time augmentation at prediction.
    """

    cases_1: int = 10
    cases_2: int = 6
    cases_3: int = 4
    size: str = "small"
    pretrain_epochs: int = 30
    finetune_epochs: int = 30
    iterations_per_epoch: int = 12
    val_iterations: int = 2
    seed: int = 0
    tta: bool = False


PRESETS: dict[str, DemoConfig] = {
    "full": DemoConfig(),
    "quick": DemoConfig(
        cases_1=4,
        cases_2=3,
        cases_3=2,
        size="small",
        pretrain_epochs=8,
        finetune_epochs=8,
        iterations_per_epoch=10,
    ),
}


class DemoError(RuntimeError):
    """A step failed; the message names the step and what to do."""


def _print(msg: str = "") -> None:
    print(msg, flush=True)


@dataclass
class Demo:
    """The demo's folders, settings and step bookkeeping."""

    out: Path
    config: DemoConfig
    device: str | None = None
    precision: str | None = None
    workers: int = 2
    progress: bool = True

    def __post_init__(self) -> None:
        self.source = self.out / "source"
        self.raw = self.out / "raw"
        self.preprocessed = self.out / "preprocessed"
        self.results = self.out / "results"
        self.predictions = self.out / "predictions"
        self.evaluation = self.out / "evaluation"
        self.steps = self.out / "steps"
        self.timings: dict[str, float] = {}
        self.cpu_timings: dict[str, float] = {}

    # -- bookkeeping -----------------------------------------------------------------------------------
    def check_config(self) -> None:
        """Writes ``demo.json`` on the first run; a rerun with other settings is refused."""
        from torsoseg.fileio import atomic_write_json, read_json

        path = self.out / "demo.json"
        now = asdict(self.config)
        if path.is_file():
            before = read_json(path)
            diff = {k: (before.get(k), v) for k, v in now.items() if before.get(k) != v}
            if diff:
                txt = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
                raise DemoError(
                    f"{self.out} holds a demo run with other settings ({txt}); use another --out, "
                    "or delete the folder to start over"
                )
        else:
            atomic_write_json(path, now)

    def run_step(self, index: int, total: int, key: str, title: str, fn: Callable[[], dict | None]) -> dict:
        """Runs ``fn`` unless its marker exists; prints a header and the time taken."""
        from torsoseg.fileio import atomic_write_json, read_json

        marker = self.steps / f"{key}.json"
        if marker.is_file():
            info = read_json(marker)
            self.timings[key] = float(info.get("seconds", 0.0))
            self.cpu_timings[key] = float(info.get("cpu_seconds", 0.0))
            _print(f"[{index}/{total}] {title}: done in an earlier run ({self.timings[key]:.0f} s), skipped")
            return info
        _print(f"\n[{index}/{total}] {title}")
        t0, c0 = time.perf_counter(), _cpu_seconds()
        try:
            info = fn() or {}
        except Exception as e:
            raise DemoError(f"step {key!r} ({title}) failed: {type(e).__name__}: {e}") from e
        seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
        info = {"step": key, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), **info}
        atomic_write_json(marker, info)
        self.timings[key] = seconds
        self.cpu_timings[key] = cpu
        _print(f"    {title}: {seconds:.0f} s ({cpu:.0f} s of CPU time)")
        return info

    # -- steps -----------------------------------------------------------------------------------------
    def generate(self, jobs: list[tuple[str, int, int]]) -> dict:
        """Writes the phantom source datasets, two kinds at a time (generation uses one core).

        Args:
            jobs: ``(kind, cases, seed)``; a kind finished in an earlier run (its marker exists) is kept.
        """
        from concurrent.futures import ProcessPoolExecutor, as_completed

        from torsoseg.fileio import atomic_write_json, read_json

        todo, info = [], {}
        for kind, n, seed in jobs:
            marker = self.steps / f"phantom_{kind}.json"
            if marker.is_file():
                info[kind] = read_json(marker)
                _print(f"    {kind}: generated in an earlier run")
                continue
            folder = self.source / kind
            if folder.exists():
                shutil.rmtree(folder)  # a half-written source of an interrupted run
            todo.append((kind, n, seed, folder))
        if not todo:
            return info
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=sum(n for _, n, _, _ in todo), desc="phantoms", unit="case")
        ctx = _fork_context()
        try:
            with ProcessPoolExecutor(max_workers=min(2, len(todo)), mp_context=ctx) as pool:
                futures = {
                    pool.submit(_write_phantom, kind, n, str(folder), seed, self.config.size): (
                        kind,
                        n,
                        folder,
                    )
                    for kind, n, seed, folder in todo
                }
                for fut in as_completed(futures):
                    kind, n, folder = futures[fut]
                    seconds = fut.result()
                    done = {"kind": kind, "cases": n, "folder": str(folder), "seconds": round(seconds, 1)}
                    atomic_write_json(self.steps / f"phantom_{kind}.json", done)
                    info[kind] = done
                    if bar is not None:
                        bar.update(n)
                    msg = f"    {kind}: {n} case(s) in {folder} ({seconds:.0f} s)"
                    if bar is not None:
                        bar.write(msg)
                    else:
                        _print(msg)
        finally:
            if bar is not None:
                bar.close()
        return info

    def convert(self, kind: str, dataset_id: int) -> dict:
        from torsoseg.dataset_conversion import convert

        path = convert(kind, self.source / kind, self.raw, dataset_id, progress=self.progress, overwrite=True)
        _print(f"    raw dataset {path}")
        return {"dataset": str(path)}

    def plan_and_preprocess(self, dataset_id: int, plans_from: int | None = None) -> dict:
        from torsoseg.dataset import find_dataset
        from torsoseg.planning import plan_dataset
        from torsoseg.preprocessing import preprocess_dataset

        raw = find_dataset(self.raw, dataset_id)
        plans = plan_dataset(
            raw,
            self.preprocessed,
            budget="cpu",
            plans_from=plans_from,
            workers=self.workers,
            progress=self.progress,
        )
        _print(
            f"    plans: patch {tuple(plans.patch_size)}, spacing "
            f"{tuple(round(s, 2) for s in plans.target_spacing)}, batch {plans.batch_size}"
        )
        preprocess_dataset(
            raw, self.preprocessed / raw.name, plans, workers=self.workers, progress=self.progress
        )
        return {"patch_size": list(plans.patch_size), "target_spacing": list(plans.target_spacing)}

    def train(self, dataset_id: int, epochs: int, pretrained: int | None = None) -> dict:
        from torsoseg.training.run import train_model

        preset = "finetune_cpu" if pretrained is not None else "cpu"
        overrides: dict[str, Any] = {
            "num_epochs": epochs,
            "iterations_per_epoch": self.config.iterations_per_epoch,
            "val_iterations": self.config.val_iterations,
        }
        if self.precision is not None:
            overrides["precision"] = self.precision
        summary = train_model(
            dataset_id,
            fold="all",
            preset=preset,
            pretrained=pretrained,
            device=self.device,
            resume=True,
            preprocessed_root=self.preprocessed,
            results_root=self.results,
            progress=self.progress,
            echo=lambda line: _print("    " + line),
            **overrides,
        )
        if summary.get("message"):
            _print("    " + summary["message"])
        fold_dir = summary.get("fold_dir")
        return {
            "model_dir": str(Path(fold_dir).parent) if fold_dir else None,
            "preset": preset,
            "epochs": summary.get("epochs"),
            "final_dice": summary.get("final_dice"),
        }

    def model_dir(self, key: str) -> Path:
        from torsoseg.fileio import read_json

        info = read_json(self.steps / f"{key}.json")
        if info.get("model_dir"):
            return Path(info["model_dir"])
        raise DemoError(f"{self.steps / (key + '.json')}: no model folder recorded; delete it to retrain")

    def predict(self, model: str, model_dir: Path) -> dict:
        from torsoseg.dataset import find_dataset
        from torsoseg.inference import Predictor
        from torsoseg.inference.batch import find_cases, predict_cases

        raw3 = find_dataset(self.raw, 3)
        predictor = Predictor.from_model_dir(
            model_dir,
            folds="all",
            device=self.device,
            precision=self.precision or "auto",
            tta=self.config.tta,
        )
        cases = find_cases(raw3 / "imagesTr")
        out = self.predictions / model
        report = predict_cases(predictor, cases, out, preview=True, resume=True, progress=self.progress)
        if report.failed:
            raise DemoError(f"prediction with {model_dir} failed for {report.failed}")
        return {"folder": str(out), "cases": len(cases), "seconds_per_case": report.seconds}

    def evaluate(self, model: str) -> dict:
        from torsoseg.dataset import find_dataset
        from torsoseg.evaluation import evaluate_folders

        raw3 = find_dataset(self.raw, 3)
        res = evaluate_folders(raw3, self.predictions / model, workers=self.workers, progress=self.progress)
        path = res.save(self.evaluation / f"{model}.json")
        _print(f"    {path}")
        notes = res.report()
        if notes:
            _print("    " + notes.replace("\n", "\n    "))
        return {"results": str(path)}


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its finished child processes."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _fork_context():
    import multiprocessing

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


def _write_phantom(kind: str, n: int, folder: str, seed: int, size: str) -> float:
    """Worker: writes one kind's source dataset; returns the seconds it took."""
    from torsoseg.phantom import write_source

    t0 = time.perf_counter()
    write_source(kind, n, folder, seed=seed, size=size)
    return time.perf_counter() - t0


def _machine() -> str:
    import os

    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{platform.machine()} {platform.processor() or ''}".strip()
        + f", {cores} cores, torch {torch.__version__}"
    )


def write_report(demo: Demo, started: float) -> tuple[Path, str]:
    """Builds ``report.md`` from the saved evaluations; returns its path and the printable part."""
    from torsoseg.evaluation import ROTH2017_TABLE1_DICE, EvaluationResult, comparison_table
    from torsoseg.fileio import atomic_write_text

    results = {
        m: EvaluationResult.load(demo.evaluation / f"{m}.json")
        for m in MODELS
        if (demo.evaluation / f"{m}.json").is_file()
    }
    torso_order = list(ROTH2017_TABLE1_DICE)
    main_models = [m for m in ("fine-tuned", "scratch") if m in results]
    organs = [o for o in torso_order if any(o in results[m].organs for m in results)]
    organs += [o for m in results for o in results[m].organs if o not in organs]
    cfg = demo.config
    tolerance = next(iter(results.values())).tolerance_mm if results else float("nan")
    lines = [
        "# torsoseg demo: Roth et al. 2017 on the phantom",
        "",
        f"Pretrain on {cfg.cases_1} abdomen phantoms (dataset 1, 7 labels), fine-tune on "
        f"{cfg.cases_2} VISCERAL phantoms (dataset 2, 20 labels), test on {cfg.cases_3} unseen torso "
        "phantoms (dataset 3, 8 labels), "
        "organs matched by name. The control trains dataset 2 from scratch with the same budget "
        f"({cfg.finetune_epochs} epochs x {cfg.iterations_per_epoch} iterations).",
        "",
        "## Dice per organ, side by side (avg ± std over the test cases)",
        "",
        comparison_table(
            {m: results[m].summary("dice") for m in main_models},
            organs,
            reference=ROTH2017_TABLE1_DICE,
            reference_name="Roth et al. 2017 (real CT)",
        ),
    ]
    printable = "\n".join(lines[4:])
    for m in main_models:
        printable += f"\nTable 1 analogue, {m} model (Dice per test case):\n\n" + results[m].table("dice")
    lines += [
        "The published column is the paper's Table 1 on real CT, for orientation only: the phantom is "
        "easier in some respects and harder in others, and this run trains for minutes instead of days.",
        "",
        "## HD95 and surface Dice side by side",
        "",
        "HD95 in mm (a missed organ counts as the image diagonal):",
        "",
        comparison_table({m: results[m].summary("hd95") for m in main_models}, organs, digits=1),
        f"Surface Dice at {tolerance:g} mm:",
        "",
        comparison_table({m: results[m].summary("surface_dice") for m in main_models}, organs),
    ]
    for m, res in results.items():
        lines += [f"## Table 1: {m} model, Dice per case", "", res.table("dice")]
        notes = res.report()
        if notes:
            lines += ["```", notes, "```", ""]
    previews = []
    for m in main_models:
        folder = demo.predictions / m
        for png in sorted(folder.glob("*.png"))[:2]:
            previews.append(f"![{m} {png.stem}]({png.relative_to(demo.out).as_posix()})")
    if previews:
        lines += ["## Previews", "", *previews, ""]
    total = sum(demo.timings.values())
    cpu_total = sum(demo.cpu_timings.values())
    lines += ["## Steps and wall time", "", "| step | wall s | CPU s |", "|---|---|---|"]
    lines += [f"| {k} | {v:.0f} | {demo.cpu_timings.get(k, 0.0):.0f} |" for k, v in demo.timings.items()]
    lines += [
        f"| **total (sum of steps)** | {total:.0f} | {cpu_total:.0f} |",
        "",
        f"This run: {time.perf_counter() - started:.0f} s of wall time; machine: {_machine()}.",
        "",
    ]
    path = atomic_write_text(demo.out / "report.md", "\n".join(lines))
    return path, printable


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
    p.add_argument("--size", default=None, choices=("tiny", "small"), help="phantom size")
    p.add_argument("--epochs", type=int, default=None, help="epochs of every training (sets both below)")
    p.add_argument("--pretrain-epochs", type=int, default=None, help="epochs of the dataset-1 training")
    p.add_argument(
        "--finetune-epochs",
        type=int,
        default=None,
        help="epochs of both dataset-2 trainings (fine-tuned and from scratch)",
    )
    p.add_argument("--iterations", type=int, default=None, help="training iterations per epoch")
    p.add_argument("--seed", type=int, default=None, help="phantom seed")
    p.add_argument("--tta", action="store_true", default=None, help="mirror test-time augmentation")
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
            "size": args.size,
            "pretrain_epochs": args.pretrain_epochs if args.pretrain_epochs is not None else args.epochs,
            "finetune_epochs": args.finetune_epochs if args.finetune_epochs is not None else args.epochs,
            "iterations_per_epoch": args.iterations,
            "seed": args.seed,
            "tta": args.tta,
        }.items()
        if v is not None
    }
    cfg = replace(cfg, **changes)
    bad = [
        f"{k} must be >= 1, got {getattr(cfg, k)}"
        for k in ("cases_1", "cases_3", "pretrain_epochs", "finetune_epochs", "iterations_per_epoch")
        if getattr(cfg, k) < 1
    ]
    if cfg.cases_2 < 2:
        bad.append(f"cases_2 must be >= 2 (fine-tuning needs a training set), got {cfg.cases_2}")
    if bad:
        raise ValueError("; ".join(bad))
    return cfg


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

        out = default_roots().raw.parent / ("demo_quick" if args.quick else "demo")
    demo = Demo(
        out.expanduser().resolve(),
        cfg,
        device=args.device,
        precision=args.precision,
        workers=args.workers or 2,
        progress=not args.no_progress,
    )
    started = time.perf_counter()
    _print(f"torsoseg demo -> {demo.out}")
    _print("settings: " + json.dumps(asdict(cfg)))
    try:
        demo.out.mkdir(parents=True, exist_ok=True)
        demo.check_config()
        s = cfg.seed
        steps: list[tuple[str, str, Callable[[], dict | None]]] = [
            (
                "phantoms",
                f"generate the phantoms: {cfg.cases_1} abdomen, {cfg.cases_2} VISCERAL, {cfg.cases_3} torso "
                f"({cfg.size}, source layouts)",
                lambda: demo.generate(
                    [
                        ("visceral", cfg.cases_2, s + 1000),
                        ("torso", cfg.cases_3, s + 2000),
                        ("abdomen", cfg.cases_1, s),
                    ]
                ),
            ),
            ("convert_1", "convert abdomen -> Dataset001_Abdomen", lambda: demo.convert("abdomen", 1)),
            ("convert_2", "convert visceral -> Dataset002_VISCERAL", lambda: demo.convert("visceral", 2)),
            ("convert_3", "convert torso -> Dataset003_Torso", lambda: demo.convert("torso", 3)),
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
                f"fine-tune the dataset-1 model on dataset 2 ({cfg.finetune_epochs} epochs, lr / 10)",
                lambda: demo.train(2, cfg.finetune_epochs, pretrained=1),
            ),
            (
                "scratch_2",
                f"train dataset 2 from scratch, same budget ({cfg.finetune_epochs} epochs)",
                lambda: demo.train(2, cfg.finetune_epochs),
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
                "predict_pretrained",
                "predict dataset 3 with the pretrained (dataset-1) model",
                lambda: demo.predict("pretrained", demo.model_dir("train_1")),
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
            (
                "evaluate_pretrained",
                "evaluate the pretrained model by organ name",
                lambda: demo.evaluate("pretrained"),
            ),
        ]
        for i, (key, title, fn) in enumerate(steps, start=1):
            demo.run_step(i, len(steps) + 1, key, title, fn)
        _print(f"\n[{len(steps) + 1}/{len(steps) + 1}] write the report")
        path, printable = write_report(demo, started)
    except DemoError as e:
        print(f"torsoseg_demo: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("torsoseg_demo: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    _print("\n" + printable)
    _print(f"report: {path}")
    _print(
        f"total: {sum(demo.timings.values()):.0f} s of steps, {time.perf_counter() - started:.0f} s this run"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
