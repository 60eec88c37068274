"""The steps of ``torsoseg_demo`` (see :mod:`torsoseg.cli.demo`): settings, folders, step markers.

Each step calls the library function of its stage (phantom, converters, planner, preprocessing, training,
inference, evaluation) with the demo's own roots under ``--out``; :meth:`Demo.run_step` prints a header,
times the step (wall and CPU) and leaves ``steps/<key>.json`` so that a rerun skips it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MODELS = ("fine-tuned", "scratch", "merged", "pretrained")


def phantom_generator_digest() -> str:
    """A short digest of the phantom generator's source (``torsoseg/phantom/*.py``): a demo folder made by
    another version of it holds other phantoms, so its finished steps must not be reused."""
    import hashlib

    import torsoseg.phantom

    h = hashlib.sha256()
    for f in sorted(Path(torsoseg.phantom.__file__).parent.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class DemoConfig:
    """What the demo runs. Presets: :data:`PRESETS` (``full``, ``quick``).

    Attributes:
        cases_1, cases_2, cases_3: cases of the abdomen, VISCERAL and torso phantoms. VISCERAL
            Anatomy3's training set has 20 cases; the demo keeps 8, measured over 3 seeds to score the
            same with 20 in the earlier 500 + 300-step budget (training.md, "What holds the gallbladder
            back").
        cases_val: VISCERAL phantoms held out of every training (dataset 4), on which the merge's
            per-organ weights are chosen (never on the test set).
        size: phantom size of the pretraining set (dataset 1): ``tiny`` (about 7 mm voxels) keeps a
            training step well under a second on 2 CPU cores.
        finetune_size, test_size: phantom sizes of datasets 2 and 3. ``medium`` (4-5 mm voxels) lets the
            test set measure small organs (a kidney is about 1,500 voxels, a one-voxel boundary error no
            longer costs most of its Dice); the trainings still run at dataset 1's planned spacing.
        pretrain_epochs, finetune_epochs: epochs of the dataset-1 training and of both dataset-2
            trainings (fine-tuned and from scratch get the same budget).
        iterations_per_epoch: training steps per epoch.
        val_iterations: validation batches per epoch (monitoring only: the demo trains on every case
            and tests on dataset 3).
        seed: the experiment's seed: phantoms (datasets 1, 2, 3 start at ``10000 * seed`` + 0, 1000, 2000:
            no case is shared within a run or between runs of different seeds) and every training
            (settings seed ``12345 + seed``).
        finetune_preset: training preset of the fine-tuned model (a fine-tuning strategy, see
            :data:`torsoseg.training.settings.PRESETS`); the from-scratch control uses ``cpu``.
        tta: mirror test-time augmentation at prediction.
        predict_pretrained: also predict and evaluate dataset 3 with the dataset-1 model alone (off by
            default: about a minute per test case on 2 CPU cores).
        cascade_factor: ``None`` (one network per training) or the two-stage cascade with its coarse stage
            at this multiple of the spacing (``--cascade``; :mod:`torsoseg.cli.demo_cascade`).

    The ``full`` budget is sized for at most 20 minutes on 2 CPU cores with bfloat16 convolutions: a
    tiny pretraining set (about 7 mm voxels) and dataset 1's plan, so that a training step takes well
    under a second with bfloat16, 1,000 pretraining steps and 600 steps for each dataset-2 training
    (the cpu presets: AdamW, class-balanced cross-entropy; ``finetune_cpu``: body at 3e-4, output heads
    at 1e-2). Measured on a 2-core AVX512-BF16 machine: 10 to 14 minutes; against the earlier 500 and
    300 steps the fine-tuned mean Dice over 3 seeds rose from 0.744 to 0.773 (documentation/training.md,
    "Measured learning result"). A float32-only AVX2 machine takes over an hour (estimated).
    ``quick`` is a smoke run of the same steps with fewer cases and steps (a few minutes).
    """

    cases_1: int = 10
    cases_2: int = 8
    cases_3: int = 4
    cases_val: int = 2
    size: str = "tiny"
    finetune_size: str = "medium"
    test_size: str = "medium"
    pretrain_epochs: int = 50
    finetune_epochs: int = 30
    iterations_per_epoch: int = 20
    val_iterations: int = 1
    seed: int = 0
    tta: bool = False
    predict_pretrained: bool = False
    finetune_preset: str = "finetune_cpu"
    cascade_factor: float | None = None

    @property
    def phantom_seed(self) -> int:
        """The phantom seed of dataset 1's first case (datasets 2 and 3 add 1000 and 2000)."""
        return 10000 * self.seed

    @property
    def training_seed(self) -> int:
        """The settings seed of every training of this run."""
        return 12345 + self.seed

    def size_of(self, kind: str) -> str:
        """Phantom size of a source kind (``abdomen``, ``visceral``, ``torso``)."""
        return {"abdomen": self.size, "visceral": self.finetune_size, "torso": self.test_size,
                "visceral_val": self.finetune_size}[kind]


PRESETS: dict[str, DemoConfig] = {
    "full": DemoConfig(),
    "quick": DemoConfig(
        cases_1=4,
        cases_2=3,
        cases_3=2,
        cases_val=1,
        size="tiny",
        pretrain_epochs=10,
        finetune_epochs=8,
        iterations_per_epoch=20,
        val_iterations=1,
    ),
}


#: demo source folders that are another kind's layout (the held-out VISCERAL cases of dataset 4)
SOURCE_KINDS = {"visceral_val": "visceral"}


class DemoError(RuntimeError):
    """A step failed; the message names the step and what to do."""


def say(msg: str = "") -> None:
    """The demo talks on stdout (flushed, so that progress bars on stderr stay in order)."""
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
        now = {**asdict(self.config), "phantom_generator": phantom_generator_digest()}
        if path.is_file():
            before = read_json(path)
            if before.get("phantom_generator") != now["phantom_generator"]:
                raise DemoError(
                    f"{self.out} holds a demo run made with another version of the phantom generator "
                    f"({path} records {before.get('phantom_generator')!r}, this torsoseg has "
                    f"{now['phantom_generator']!r}); its phantoms, models and tables would be reused as if "
                    "new: use another --out, or delete the folder to start over"
                )
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
            say(f"[{index}/{total}] {title}: done in an earlier run ({self.timings[key]:.0f} s), skipped")
            return info
        say(f"\n[{index}/{total}] {title}")
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
        say(f"    {title}: {seconds:.0f} s ({cpu:.0f} s of CPU time)")
        return info

    # -- steps -----------------------------------------------------------------------------------------
    def generate(self, jobs: list[tuple[str, int, int]]) -> dict:
        """Writes the phantom source datasets, two kinds at a time (generation uses one core).

        Args:
            jobs: ``(kind, cases, seed)``; a kind finished in an earlier run (its marker exists) is kept.
        """
        from torsoseg.fileio import read_json
        from torsoseg.preprocessing.workers import run_jobs

        todo, info = [], {}
        for kind, n, seed in jobs:
            marker = self.steps / f"phantom_{kind}.json"
            if marker.is_file():
                info[kind] = read_json(marker)
                say(f"    {kind}: generated in an earlier run")
                continue
            folder = self.source / kind
            if folder.exists():
                shutil.rmtree(folder)  # a half-written source of an interrupted run
            todo.append((kind, n, str(folder), seed, self.config.size_of(kind), str(marker)))
        if not todo:
            return info
        results = run_jobs(_write_phantom, todo, workers=min(2, len(todo)), progress=self.progress,
                           desc="phantoms", unit="dataset")
        failed = [f"{job[0]}: {r}" for job, r in zip(todo, results) if isinstance(r, BaseException)]
        if failed:
            raise RuntimeError("phantom generation failed: " + "; ".join(failed))
        for (kind, n, folder, *_), done in zip(todo, results):
            info[kind] = done
            say(f"    {kind}: {n} case(s) in {folder} ({done['seconds']:.0f} s)")
        return info

    def convert(self, kind: str, dataset_id: int, name: str | None = None) -> dict:
        from torsoseg.dataset_conversion import convert

        path = convert(SOURCE_KINDS.get(kind, kind), self.source / kind, self.raw, dataset_id, name=name,
                       progress=self.progress, overwrite=True)
        say(f"    raw dataset {path}")
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
        say(
            f"    plans: patch {tuple(plans.patch_size)}, spacing "
            f"{tuple(round(s, 2) for s in plans.target_spacing)}, batch {plans.batch_size}"
        )
        preprocess_dataset(
            raw, self.preprocessed / raw.name, plans, workers=self.workers, progress=self.progress
        )
        return {"patch_size": list(plans.patch_size), "target_spacing": list(plans.target_spacing)}

    def train(self, dataset_id: int, epochs: int, pretrained: int | None = None,
              configuration: str | None = None) -> dict:
        from torsoseg.training.run import train_model

        preset = self.config.finetune_preset if pretrained is not None else "cpu"
        overrides: dict[str, Any] = {
            "seed": self.config.training_seed,
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
            configuration=configuration,
            echo=lambda line: say("    " + line),
            **overrides,
        )
        if summary.get("message"):
            say("    " + summary["message"])
        # the ModelFolder train_model returns, also when the run had finished before (nothing to train)
        return {
            "model_dir": str(summary["model_folder"].path),
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
        say(f"    {path}")
        notes = res.report()
        if notes:
            say("    " + notes.replace("\n", "\n    "))
        return {"results": str(path)}


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its finished child processes."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _write_phantom(job: tuple[str, int, str, int, str, str]) -> dict:
    """Worker: writes one kind's source dataset, then its step marker (so an interrupted demo keeps the
    kinds already written); returns the marker's record."""
    from torsoseg.fileio import atomic_write_json
    from torsoseg.phantom import write_source

    kind, n, folder, seed, size, marker = job
    t0 = time.perf_counter()
    write_source(SOURCE_KINDS.get(kind, kind), n, folder, seed=seed, size=size)
    done = {"kind": kind, "cases": n, "folder": folder, "seconds": round(time.perf_counter() - t0, 1)}
    atomic_write_json(marker, done)
    return done
