"""``torsoseg_evaluate``: per case and per organ Dice, HD95 and surface Dice, organs matched by name."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

EPILOG = """examples:
  torsoseg_evaluate --ref 3 --pred predictions/torso -o results.json
  torsoseg_evaluate --ref raw/Dataset003_Torso --pred predictions/torso --organs liver,spleen --table csv
  torsoseg_evaluate --ref refs/ --ref-labels refs_labels.json --pred out/ --metric all --tolerance 1.0

REF is a raw dataset (id or folder with dataset.json + labelsTr/), its labelsTr/ folder, or a folder of
label maps with labels.json (or --ref-labels). PRED is a torsoseg_predict output folder (label maps +
labels.json). Organs are matched by name, so a 20-label VISCERAL model is evaluated against the 8-label
torso set; organs present on one side only are listed, not scored.
Table: rows = cases, then avg, std, min, max (std over cases, population); n/a = undefined (organ
empty in both reference and prediction, or not annotated). A missed organ scores Dice 0 and HD95 = the
image diagonal, and so does a predicted organ that the reference case lacks; a second table (markdown
only) then splits such organs into the cases with the organ (their Dice, how many were missed) and the
cases without it (how many got a false one).
exit code: 0 all cases evaluated, 1 some cases missing or failed, 2 bad input (one line; -v shows the
traceback)."""

PROG = "torsoseg_evaluate"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="torsoseg_evaluate",
        description="Evaluate predicted label maps against references: Dice, 95th-percentile Hausdorff "
        "distance and surface Dice (mm, anisotropic spacing honoured), per case and organ, as the table "
        "of Roth et al. 2017.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--ref", required=True, help="reference: dataset id, dataset folder, or folder of label maps"
    )
    p.add_argument("--pred", required=True, help="folder of predicted label maps (with labels.json)")
    p.add_argument("--ref-labels", default=None, help="JSON of the reference labels (name -> value)")
    p.add_argument("--pred-labels", default=None, help="JSON of the prediction labels (name -> value)")
    p.add_argument("--organs", default=None, help="comma-separated organs to evaluate (default: all shared)")
    p.add_argument("-o", "--output", default=None, help="write all results as JSON here (atomically)")
    p.add_argument("--table", choices=("md", "csv"), default=None, help="table format printed (default md)")
    p.add_argument(
        "--metric", choices=("dice", "hd95", "surface_dice", "all"), default=None,
        help="metric of the printed table (default dice)",
    )
    p.add_argument("--tolerance", type=float, default=None, help="surface Dice tolerance in mm (default 2)")
    p.add_argument("--workers", type=int, default=None, help="processes evaluating cases in parallel")
    p.add_argument("--raw", default=None, help="raw data root for --ref given as a dataset id")
    p.add_argument("--choose-postprocessing", default=None, metavar="MODEL_FOLDER",
                   help="PRED are that model's predictions of validation cases (made with "
                   "--no-postprocessing): evaluate them again with each organ's largest connected "
                   "component kept, and write MODEL_FOLDER/postprocessing.json with the organs where that "
                   "does not lower the mean Dice; torsoseg_predict then applies it. Never on the test set")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="log details; tracebacks of errors")
    return p


def _resolve_ref(ref: str, raw: str | None) -> Path:
    from torsoseg.dataset import find_dataset, parse_dataset_id
    from torsoseg.paths import default_roots

    p = Path(ref)
    if p.exists():
        return p
    try:
        parse_dataset_id(ref)
    except ValueError:
        raise FileNotFoundError(f"{p}: reference folder does not exist") from None
    return find_dataset(default_roots(raw=raw).raw, ref)


def choose_postprocessing(ref: str | Path, pred: str | Path, model_dir: str | Path, before: Any = None,
                          **evaluate_kwargs: Any) -> Any:
    """Chooses and saves a model's postprocessing from its predictions of labelled validation cases.

    Every organ that one label of the predictions forms is tried with only its largest connected
    component kept (a copy in a temporary folder; ``pred`` is not modified); the organs whose mean Dice
    does not drop are written to ``model_dir/postprocessing.json`` under the prediction's label names (see
    :mod:`torsoseg.inference.postprocessing`), replacing an earlier choice. An organ the evaluation forms
    from several prediction labels (``kidneys`` from both kidneys) is left alone.

    Args:
        ref: the validation references (as ``torsoseg_evaluate --ref``).
        pred: the model's predictions of them, made without postprocessing.
        model_dir: the model folder the choice belongs to.
        before: the evaluation of ``pred`` when it is already at hand.
        **evaluate_kwargs: passed to :func:`~torsoseg.evaluation.evaluate_folders` (``pred_labels`` also
            gives the label set of the copies).

    Returns:
        The saved :class:`~torsoseg.inference.postprocessing.Postprocessing`.

    Raises:
        FileNotFoundError: ``model_dir`` is not a model folder.
        ValueError: cases failed or have no prediction (a choice on part of the cases is refused).
    """
    import tempfile

    from torsoseg.evaluation import evaluate_folders
    from torsoseg.evaluation.inputs import prediction_inputs
    from torsoseg.fileio import atomic_write_json
    from torsoseg.inference.postprocessing import Postprocessing, choose_keep_largest, postprocess_folder

    model_dir = _check_model_folder(model_dir)
    labels = prediction_inputs(pred, evaluate_kwargs.get("pred_labels")).labels
    if before is None:
        before = evaluate_folders(ref, pred, **evaluate_kwargs)
    if before.failed or before.missing_predictions:
        raise ValueError(f"{pred}: {len(before.failed)} case(s) failed and {len(before.missing_predictions)} "
                         "have no prediction; the postprocessing is chosen on every validation case or not "
                         "at all")
    single = {m.organ: m.prediction_names[0] for m in before.matching.matched if len(m.prediction_names) == 1}
    every_organ = Postprocessing(tuple(single.values()))
    with tempfile.TemporaryDirectory(prefix="torsoseg_postprocessing_") as tmp:
        postprocess_folder(pred, tmp, every_organ, labels)
        atomic_write_json(Path(tmp) / "labels.json", labels)
        after = evaluate_folders(ref, tmp, **{**evaluate_kwargs, "pred_labels": labels})
    b = {organ: st.avg for organ, st in before.summary("dice").items() if organ in single}
    a = {organ: st.avg for organ, st in after.summary("dice").items() if organ in single}
    chosen = choose_keep_largest(b, a)
    dice = {single[organ]: [_rounded(b[organ]), _rounded(a.get(organ))] for organ in b}
    pp = Postprocessing(tuple(single[o] for o in chosen), chosen_on=str(ref), dice=dice)
    pp.save(model_dir)
    return pp


def _check_model_folder(model_dir: str | Path) -> Path:
    model_dir = Path(model_dir)
    if not (model_dir / "plans.json").is_file() and not any(model_dir.glob("fold_*")):
        raise FileNotFoundError(f"{model_dir}: not a model folder (no plans.json, no fold_*)")
    return model_dir


def _rounded(x: Any) -> float | None:
    return None if x is None or x != x else round(float(x), 4)


def _describe_choice(pp: Any) -> str:
    lines = ["### postprocessing (mean Dice on these cases: as predicted -> largest component kept)", ""]
    for organ, (b, a) in pp.dice.items():
        mark = "kept" if organ in pp.keep_largest else "not used"
        fb = "n/a" if b is None else f"{b:.3f}"
        fa = "n/a" if a is None else f"{a:.3f}"
        lines.append(f"- {organ}: {fb} -> {fa}: {mark}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from torsoseg.cli.errors import guard

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s")
    return guard(PROG, lambda: _run(args), verbose=args.verbose)


def _run(args: argparse.Namespace) -> int:
    from torsoseg.cli.errors import USAGE, fail
    from torsoseg.evaluation import evaluate_folders
    from torsoseg.fileio import remove_stale_temporaries

    if args.output:  # temporaries of a killed earlier run writing the same file
        out = Path(args.output)
        if remove_stale_temporaries(out.parent, out.name + "."):
            logging.getLogger(__name__).info("%s: removed temporaries of an interrupted run", out.parent)
    kwargs: dict = {"progress": not args.no_progress, "skip_failed": True}
    if args.ref_labels is not None:
        kwargs["ref_labels"] = args.ref_labels
    if args.pred_labels is not None:
        kwargs["pred_labels"] = args.pred_labels
    if args.organs is not None:
        kwargs["organs"] = [o.strip() for o in args.organs.split(",") if o.strip()]
    if args.tolerance is not None:
        kwargs["tolerance_mm"] = args.tolerance
    if args.workers is not None:
        kwargs["workers"] = args.workers
    try:
        ref = _resolve_ref(args.ref, args.raw)
        if args.choose_postprocessing:  # before the evaluation: a wrong folder costs nothing
            _check_model_folder(args.choose_postprocessing)
        result = evaluate_folders(ref, args.pred, **kwargs)
    except (FileNotFoundError, ValueError) as e:  # unusable ref, pred or label set
        return fail(PROG, e, USAGE, args.verbose)
    fmt = args.table or "md"
    metrics = ("dice", "hd95", "surface_dice") if args.metric == "all" else (args.metric or "dice",)
    if fmt == "md":
        print(result.matching.describe(missing=False))  # organs on one side only: in the notes below
        print()
    for metric in metrics:
        if fmt == "md":
            unit = " (mm)" if metric == "hd95" else f" (tolerance {result.tolerance_mm:g} mm)" if (
                metric == "surface_dice") else ""
            print(f"### {metric}{unit}\n")
        print(result.table(metric, fmt=fmt))
    presence = result.presence_table() if fmt == "md" else ""
    if presence:  # organs some case lacks or that some case missed: what the averages above mix
        print("### cases with and without each organ (organs some case lacks, or some case missed)\n")
        print(presence)
    notes = result.report()
    if notes:
        print(notes, file=sys.stderr)
    if args.output:
        path = result.save(args.output)
        print(f"results written to {path}", file=sys.stderr)
    if args.choose_postprocessing:
        try:
            pp = choose_postprocessing(ref, args.pred, args.choose_postprocessing, before=result, **kwargs)
        except (FileNotFoundError, ValueError) as e:
            return fail(PROG, e, USAGE, args.verbose)
        print(_describe_choice(pp))
        print(f"written to {Path(args.choose_postprocessing) / 'postprocessing.json'}", file=sys.stderr)
    return 1 if (result.failed or result.missing_predictions) else 0


if __name__ == "__main__":
    sys.exit(main())
