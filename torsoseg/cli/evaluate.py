"""``torsoseg_evaluate``: per case and per organ Dice, HD95 and surface Dice, organs matched by name."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

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
image diagonal.
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
    notes = result.report()
    if notes:
        print(notes, file=sys.stderr)
    if args.output:
        path = result.save(args.output)
        print(f"results written to {path}", file=sys.stderr)
    return 1 if (result.failed or result.missing_predictions) else 0


if __name__ == "__main__":
    sys.exit(main())
