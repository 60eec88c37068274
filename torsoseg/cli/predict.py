"""``torsoseg_predict``: segment CT images with a trained model folder (Gaussian-weighted tiled inference)."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path
from typing import Any

EPILOG = """examples:
  torsoseg_predict -i imagesTs/ -o predictions/ -d 2
  torsoseg_predict -i ct.nii.gz -o out/ --folds all --tta --preview \\
      -m results/Dataset002_VISCERAL/FineTuneTrainer__torsoseg_plans__3d_fullres
  torsoseg_predict -i dicom_series_folder/ -o out/ -d 1 --precision fp32 --device cpu
  torsoseg_predict -i imagesTs/ -o out/ -d 1 --num-parts 4 --part-id 0 --continue
  torsoseg_predict -i imagesTs/ -o merged/ -d 1 -d 2 --preview   # one label map over both models' organs
  torsoseg_predict -i imagesTs/ -o out/ -d 1 -c 3d_cascade --continue   # coarse whole CT, fine near organs
outputs: OUT/<case>.nii.gz on the input's exact grid, OUT/labels.json (name -> value), and with the
options OUT/<case>.npz (float16 probabilities) and OUT/<case>.png (preview). With several models (-d/-m
repeated) the label map covers the union of their organs, merged by organ name (documentation/inference.md).
exit code: 0 when every case succeeded, 1 when any case failed (the others are still written),
2 on usage errors (no model, no input)."""


PROG = "torsoseg_predict"
_CHECKPOINT_FILE = re.compile(r"^(?:checkpoint_)?(final|best|latest)(?:\.pth?)?$")


def _checkpoint_name(value: str) -> str:
    """``final``/``best``/``latest``, also from nnU-Net's ``checkpoint_final.pth`` spelling."""
    m = _CHECKPOINT_FILE.match(value.strip())
    if m is None:
        raise argparse.ArgumentTypeError(
            f"unknown checkpoint {value!r}; valid: final, best, latest (or checkpoint_final.pth ...)"
        )
    return m.group(1)


def _device_name(value: str) -> str:
    """``cpu``, ``cuda`` (``gpu`` and ``cuda:N`` accepted) or ``auto``."""
    v = value.strip().lower()
    if v == "gpu":
        return "cuda"
    if v in ("cpu", "cuda", "auto") or re.fullmatch(r"cuda:\d+", v):
        return v
    raise argparse.ArgumentTypeError(f"unknown device {value!r}; valid: cpu, cuda (or gpu), cuda:N, auto")


class _ModelAction(argparse.Action):
    """Collects -d and -m in command-line order into ``models``: a list of ``("dataset"|"model", value)``."""

    def __call__(self, parser, namespace, values, option_string=None):
        namespace.models = [*(getattr(namespace, "models", None) or []), (self.dest, values)]
        setattr(namespace, self.dest, values)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="torsoseg_predict",
        description="Segment CT images (a file, a folder of images, or a DICOM series folder) with a "
        "trained torsoseg model. Label maps come back on exactly each input's grid.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-i", "--input", required=True,
                   help="image file, folder of images (case_0000.nii.gz style or plain names) "
                   "or DICOM series folder")
    p.add_argument("-o", "--output", required=True, help="output folder (created; inputs are never written)")
    p.add_argument("-d", "--dataset", action=_ModelAction, default=None,
                   help="dataset id (e.g. 2) whose model folder is looked up under --results; repeat -d "
                   "and/or -m to merge several models by organ name into one label map")
    p.add_argument("-m", "--model", action=_ModelAction, default=None,
                   help="model folder <trainer>__<plans>__<configuration> (instead of or besides -d)")
    p.add_argument("--weights", nargs="+", type=float, default=None, metavar="W",
                   help="with several models: one weight per model, in the order of -d/-m, for organs "
                   "several models know (default: equal)")
    p.add_argument("--weights-from", nargs="+", default=None, metavar="EVAL_JSON",
                   help="with several models: per-organ weights chosen on labelled validation data, from "
                   "one torsoseg_evaluate result file per model (same cases, order of -d/-m): per organ, "
                   "the models within 0.02 Dice of the best one are averaged, the others left out")
    p.add_argument("-tr", "--trainer", default=None,
                   help="with -d: trainer of the model folder, or a prefix of it (FineTuneTrainer matches "
                   "FineTuneTrainer_finetune_cpu__...), when several exist")
    p.add_argument("-p", "--plans", default=None,
                   help="with -d: plans identifier of the model folder (middle part), when several exist")
    p.add_argument("-c", "--configuration", default=None,
                   help="with -d: configuration of the model folder (e.g. 3d_fullres), when several exist; "
                   "3d_cascade runs the cascade: its 3d_lowres model on the whole image, then the fine "
                   "model only around the organs found")
    _add_cascade_args(p)
    _add_run_and_output_args(p)
    return p


def _add_cascade_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--coarse-model", default=None, metavar="DIR",
                   help="cascade: the coarse stage's model folder (default: the 3d_lowres folder beside "
                   "the 3d_cascade one); given with another model (e.g. -c 3d_fullres), that model runs "
                   "as the fine stage, only around the organs the coarse model finds")
    p.add_argument("--cascade-margin", type=float, default=None, metavar="MM",
                   help="cascade: margin in mm around the coarse organs where the fine stage runs "
                   "(default: the plans', 20)")
    p.add_argument("--on-empty", choices=("fine", "background"), default=None,
                   help="cascade: when the coarse stage finds no organ, tile the whole image with the fine "
                   "stage (fine, default) or write background")
    p.add_argument("--cascade-tiles", choices=("exact", "nearest"), default=None,
                   help="cascade: which of the fine stage's tiles run: every tile that reaches into the "
                   "region (exact, default: inside it the fine model's own result, voxel for voxel), or only "
                   "the tile nearest to each region voxel (nearest: about half as many tiles for a small "
                   "region, labels nearly the same; see documentation/benchmarks.md)")


def _add_run_and_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", default=None, help="results root (default: $TORSOSEG_RESULTS)")
    p.add_argument("-f", "--folds", nargs="+", default=None,
                   help="folds to ensemble (e.g. 0 1 2), or 'all' (default: every fold with the checkpoint)")
    p.add_argument("-chk", "--checkpoint", type=_checkpoint_name, default=None,
                   help="which checkpoint of each fold: final, best or latest; nnU-Net file names such as "
                   "checkpoint_best.pth are accepted (default: final)")
    p.add_argument("--step", "-step_size", type=float, default=None,
                   help="sliding-window step as a fraction of the patch size (default: 0.5)")
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="mirror test-time augmentation along the axes the model was trained to mirror "
                   "(none for the cpu presets), left-right flips swap paired organs (default: off; up to "
                   "8x slower)")
    p.add_argument("--disable_tta", dest="tta", action="store_false", default=None,
                   help="nnU-Net spelling of --no-tta (torsoseg's default is already off)")
    p.add_argument("--device", "-device", type=_device_name, default=None,
                   help="where the network runs: cpu, cuda (or gpu), auto = CUDA when available "
                   "(default: auto)")
    p.add_argument("--precision", choices=("fp32", "bf16", "auto"), default=None,
                   help="network precision (default: auto = bfloat16 on CPUs with AMX/AVX512-BF16 "
                   "and on CUDA)")
    p.add_argument("--threads", "-nt", type=int, default=None,
                   help="CPU threads torch may use (default: torch's own choice, usually one per core)")
    p.add_argument("--batch-size", type=int, default=None, help="tiles per forward pass (default: 1)")
    p.add_argument("--no-postprocessing", dest="postprocessing", action="store_false", default=None,
                   help="write the network's label maps as they are, without the model folder's "
                   "postprocessing.json (chosen on validation data by torsoseg_evaluate "
                   "--choose-postprocessing)")
    p.add_argument("--save-probabilities", "--save_probabilities", dest="save_probabilities",
                   action="store_true", default=None,
                   help="also write OUT/<case>.npz (float16 probabilities, axes (K, X, Y, Z)) and its "
                   "geometry OUT/<case>_probabilities.json")
    p.add_argument("--roi-subset", "--roi_subset", default=None, metavar="ORGANS",
                   help="comma-separated organs to write (e.g. liver,spleen); every other label becomes "
                   "background; a cascade's fine stage runs only around these organs")
    p.add_argument("--statistics", action="store_true", default=None,
                   help="also write OUT/<case>_statistics.json: per organ volume (ml) and HU mean, std, "
                   "percentiles from the input image")
    p.add_argument("--split-organs", action="store_true", default=None,
                   help="also write OUT/<case>/<organ>.nii.gz, one binary mask per organ")
    p.add_argument("--output-type", choices=("nifti", "dicom-seg"), default=None,
                   help="nifti (default) or dicom-seg: also write OUT/<case>.dcm, a DICOM Segmentation "
                   "of a DICOM input series (needs pip install torsoseg[dicom])")
    p.add_argument("--preview", action="store_true", default=None,
                   help="also write OUT/<case>.png: axial, coronal and sagittal slices with the overlay")
    p.add_argument("--num-parts", "-num_parts", type=int, default=None,
                   help="split the cases into this many parts (default: 1)")
    p.add_argument("--part-id", "-part_id", type=int, default=None,
                   help="which part (0-based) this run predicts (default: 0)")
    p.add_argument("--continue", "--continue_prediction", dest="resume", action="store_true", default=None,
                   help="skip cases whose label map already exists in OUT (refused when OUT/prediction.json "
                   "records another label set or postprocessing)")
    p.add_argument("--dicom-series", default=None, metavar="UID",
                   help="series instance UID to read when a DICOM folder holds several series "
                   "(the error lists them)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("-v", "--verbose", action="store_true", default=None,
                   help="show tracebacks of unexpected errors")


def check_output_folder(out: Path) -> None:
    """Creates ``out`` and checks it is a writable folder; raises ValueError with one clear line."""
    import os

    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: -o must be a folder, but this is an existing file")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{out}: cannot create the output folder ({e.strerror or e})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ValueError(f"{out}: the output folder is not writable")


def find_model_dir(results_root: Path, dataset: str, trainer: str | None = None,
                   plans: str | None = None, configuration: str | None = None) -> Path:
    """The model folder of ``dataset`` under ``results_root`` (unique, or chosen by its parts).

    Args:
        results_root: the results root.
        dataset: dataset id or name.
        trainer: the folder's trainer part, or a prefix of it ending before ``_`` (``FineTuneTrainer``
            matches ``FineTuneTrainer_finetune_cpu``); an exact match wins over prefix matches.
        plans: the folder's plans part (exact).
        configuration: the folder's configuration part (exact).

    Raises:
        FileNotFoundError, ValueError: naming what exists.
    """
    from torsoseg.dataset import find_dataset

    ds = find_dataset(results_root, dataset)
    models = sorted(d for d in ds.iterdir() if d.is_dir() and d.name.count("__") == 2)
    if plans is not None:
        models = [d for d in models if d.name.split("__")[1] == plans]
    if configuration is not None:
        models = [d for d in models if d.name.split("__")[2] == configuration]
    if trainer is not None:
        exact = [d for d in models if d.name.split("__")[0] == trainer]
        models = exact or [d for d in models if d.name.split("__")[0].startswith(trainer + "_")]
    if len(models) == 1:
        return models[0]
    wanted = ", ".join(f"{k} {v}" for k, v in
                       (("trainer", trainer), ("plans", plans), ("configuration", configuration)) if v)
    if not models:
        listing = ", ".join(d.name for d in sorted(ds.iterdir()) if d.is_dir()) or "none"
        which = f" of {wanted}" if wanted else ""
        raise FileNotFoundError(f"{ds}: no model folder{which} (found: {listing})")
    listing = ", ".join(d.name for d in models)
    raise ValueError(f"{ds}: several model folders match ({listing}); choose one with -tr/-p/-c or -m")


def _organ_weights(paths: list[str] | None, n_models: int) -> dict[str, list[float]] | None:
    """Per-organ weights from one ``torsoseg_evaluate`` result file per model (``--weights-from``)."""
    if paths is None:
        return None
    if len(paths) != n_models:
        raise ValueError(f"--weights-from: one evaluation file per model expected ({n_models}), got "
                         f"{len(paths)}")
    from torsoseg.evaluation.results import EvaluationResult
    from torsoseg.inference.merge_weights import organ_weights_from_scores

    scores = []
    for path in paths:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: --weights-from evaluation file not found")
        result = EvaluationResult.load(path)
        scores.append({organ: stats.avg for organ, stats in result.summary("dice").items()})
    return organ_weights_from_scores(scores)


def _set_threads(threads: int | None) -> None:
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"--threads must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def main(argv: list[str] | None = None) -> int:
    from torsoseg.cli.errors import guard

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    return guard(PROG, lambda: _run(args), verbose=bool(args.verbose))


def _build_predictor(args: argparse.Namespace, model_dirs: list[Path], organ_weights: Any) -> Any:
    """One model (a cascade when it is one or is given --coarse-model) or several merged by organ name; a
    cascade given --roi-subset runs its fine stage only around those organs."""
    from torsoseg.inference.cascade import CascadePredictor
    from torsoseg.inference.ensemble import MultiModelPredictor
    from torsoseg.inference.predictor import NotACascadeError, Predictor

    kwargs = {k: v for k, v in {
        "folds": None if args.folds is None else ("all" if args.folds == ["all"] else args.folds),
        "checkpoint": args.checkpoint, "step": args.step, "tta": args.tta, "device": args.device,
        "precision": args.precision, "batch_size": args.batch_size, "postprocessing": args.postprocessing,
    }.items() if v is not None}
    cascade = {k: v for k, v in {"coarse_model": args.coarse_model, "margin_mm": args.cascade_margin,
                                 "on_empty": args.on_empty, "tiles": args.cascade_tiles}.items()
               if v is not None}
    flags = {"coarse_model": "--coarse-model", "margin_mm": "--cascade-margin", "on_empty": "--on-empty",
             "tiles": "--cascade-tiles"}
    if len(model_dirs) == 1:
        try:
            predictor = Predictor.from_model_dir(model_dirs[0], progress=not args.no_progress, **kwargs,
                                                 **cascade)
        except NotACascadeError as e:  # name the command's flags, not the Python arguments
            raise ValueError(f"{model_dirs[0]}: {', '.join(flags[k] for k in e.options)} apply to a cascade: "
                             "a 3d_cascade model (-c 3d_cascade), or another model given --coarse-model"
                             ) from None
    elif cascade:
        raise ValueError(f"{', '.join(flags[k] for k in cascade)}: apply to one 3d_cascade model, not to "
                         "several merged models")
    else:
        predictor = MultiModelPredictor.from_model_dirs(model_dirs, weights=args.weights,
                                                        organ_weights=organ_weights,
                                                        progress=not args.no_progress, **kwargs)
    if args.roi_subset is not None and isinstance(predictor, CascadePredictor):
        predictor = predictor.with_roi_subset(args.roi_subset)  # the fine stage only around them
    return predictor


def _run(args: argparse.Namespace) -> int:
    from torsoseg.cli.errors import DATA, USAGE, fail
    from torsoseg.inference.batch import find_cases, predict_cases, split_parts
    from torsoseg.inference.outputs import PredictionOptions
    from torsoseg.paths import default_roots

    out = Path(args.output)
    try:
        cases = find_cases(args.input)
        inp = Path(args.input)
        if inp.is_dir() and out.resolve() == inp.resolve():
            raise ValueError(f"{out}: the output folder must differ from the input folder")
        check_output_folder(out)
        if args.num_parts is not None or args.part_id is not None:
            cases = split_parts(cases, args.num_parts or 1, args.part_id or 0)
        models = getattr(args, "models", None) or []
        if not models:
            raise ValueError("no model: give -d DATASET or -m MODEL_FOLDER (repeat them to merge models)")
        if all(kind == "model" for kind, _ in models) and any(
                v is not None for v in (args.trainer, args.plans, args.configuration)):
            raise ValueError("-tr/-p/-c choose among the model folders of -d; -m names the folder itself")
        if (args.weights is not None or args.weights_from is not None) and len(models) == 1:
            raise ValueError("--weights/--weights-from need several models (-d/-m given more than once)")
        organ_weights = _organ_weights(args.weights_from, len(models))
        model_dirs = []
        for kind, value in models:
            if kind == "model":
                model_dirs.append(Path(value))
            else:
                results = default_roots(results=args.results).results
                model_dirs.append(find_model_dir(results, value, args.trainer, args.plans,
                                                 args.configuration))
        _set_threads(args.threads)
        predictor = _build_predictor(args, model_dirs, organ_weights)
        options = PredictionOptions(
            save_probabilities=bool(args.save_probabilities), preview=bool(args.preview),
            statistics=bool(args.statistics), split_organs=bool(args.split_organs),
            roi_subset=args.roi_subset, output_type=args.output_type or "nifti",
        )
        options.validate(predictor.labels)
    except (FileNotFoundError, ValueError) as e:
        return fail(PROG, e, USAGE, bool(args.verbose))
    print(f"torsoseg_predict: {len(cases)} case(s) with {predictor!r}")
    if getattr(predictor, "postprocessing", None) is not None:
        print(f"  {predictor.postprocessing.describe()}")
    extra = {"dicom_series": args.dicom_series} if args.dicom_series else {}
    try:
        report = predict_cases(predictor, cases, out, options=options, resume=bool(args.resume),
                               progress=not args.no_progress, **extra)
    except Exception as e:  # one line (traceback with -v); the failed cases are listed by the report
        return fail(PROG, e, DATA, bool(args.verbose))
    for name in report.done:
        print(f"  {name}: written ({report.seconds[name]:.1f} s)")
    if report.skipped:
        print(f"  skipped {len(report.skipped)} finished case(s) (--continue)")
    for name, reason in report.failed.items():
        print(f"  {name}: FAILED: {reason}", file=sys.stderr)
    print(f"torsoseg_predict: {len(report.done)} written, {len(report.skipped)} skipped, "
          f"{len(report.failed)} failed -> {out}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
