"""``torsoseg_convert``: convert a source dataset into the raw format, then verify the result."""

from __future__ import annotations

import argparse
import logging
import sys

EPILOG = """examples:
  torsoseg_convert abdomen -i phantom/abdomen -d 1
  torsoseg_convert visceral -i /data/Anatomy3 -d 2
  torsoseg_convert torso -i phantom/torso -d 3
  torsoseg_convert btcv -i /data/BTCV -d 11 --organs liver,spleen,aorta --map aorta=artery
  torsoseg_convert labelmap -i /data/mine -d 50 --labels /data/mine/labels.json --name Mine

formats: {formats}
label order: the --organs order when given, else the source's own label order after remapping.
exit code: 0 on success, 1 when the conversion failed or the result has problems, 2 on usage errors
(errors are one line; -v shows the traceback)."""


def build_parser() -> argparse.ArgumentParser:
    from torsoseg.dataset_conversion import FORMATS

    listing = ", ".join(FORMATS)
    p = argparse.ArgumentParser(
        prog="torsoseg_convert",
        description="Convert a source dataset (its own on-disk layout) into $TORSOSEG_RAW/DatasetXXX_NAME "
        "(nnU-Net v2 layout): every label resolved to a canonical organ name, geometry and HU kept, "
        "laterality checked. The result is verified; nothing is written when a case fails.",
        epilog=EPILOG.format(formats=listing),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("format", help=f"source format: {listing}")
    p.add_argument("-i", "--input", required=True, help="the source folder, as its users have it")
    p.add_argument("-d", "--dataset-id", required=True, help="dataset id, 0..999 (e.g. 2 or 002)")
    p.add_argument("--name", default=None, help="dataset name (default: the format's, e.g. VISCERAL)")
    p.add_argument("--organs", default=None,
                   help="comma-separated organs to keep, in output label order (others become background)")
    p.add_argument("--map", dest="mapping", nargs="+", action="extend", default=None, metavar="SRC=DST",
                   help="rename or merge labels, e.g. --map aorta=artery (DST 'background' drops a label)")
    p.add_argument("--raw", default=None, help="raw data root (default: $TORSOSEG_RAW)")
    p.add_argument("--labels", default=None,
                   help="JSON naming each label value ({\"1\": \"liver\"}); labelmap, abdomen, torso")
    p.add_argument("--region", default=None, help="VISCERAL Modality_Region (default CTce_ThAb)")
    p.add_argument("--no-test", action="store_true", default=None,
                   help="leave out the official test split (word, totalsegmentator)")
    p.add_argument("--overwrite", action="store_true", default=None, help="replace an existing folder")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="log skipped, merged and contested; tracebacks of errors")
    return p


def main(argv: list[str] | None = None) -> int:
    from torsoseg.cli.errors import guard

    parser = build_parser()
    args = parser.parse_args(argv)
    return guard("torsoseg_convert", lambda: _run(parser, args), verbose=args.verbose)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from torsoseg.cli.errors import DATA, fail
    from torsoseg.dataset import parse_dataset_id, verify_dataset
    from torsoseg.dataset_conversion import ConversionError, convert
    from torsoseg.paths import default_roots

    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    options = {}
    if args.labels is not None:
        options["labels"] = args.labels
    if args.region is not None:
        options["region"] = args.region
    if args.no_test:
        options["include_test"] = False
    kwargs = {}
    if args.overwrite:
        kwargs["overwrite"] = True
    from torsoseg.dataset import dataset_dir_name
    from torsoseg.dataset_conversion import FORMATS

    try:
        dataset_id = parse_dataset_id(args.dataset_id)
        dataset_dir_name(dataset_id, args.name or "Name")  # id 0..999, name letters/digits/_/-
    except ValueError as e:
        parser.error(str(e))
    if args.format not in FORMATS:
        parser.error(f"unknown format {args.format!r}; valid formats: {', '.join(FORMATS)}")
    raw = default_roots(raw=args.raw).raw
    progress = not args.no_progress
    try:
        out = convert(args.format, args.input, raw, dataset_id, name=args.name, organs=args.organs,
                      mapping=args.mapping, progress=progress, **kwargs, **options)
    except (ConversionError, FileExistsError) as e:
        return fail("torsoseg_convert", e, DATA, args.verbose)
    print(f"wrote {out}")
    problems = verify_dataset(out, progress=progress)
    if problems:
        print(f"{out}: verification found {len(problems)} problem(s)", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    from torsoseg.dataset import DatasetJson

    ds = DatasetJson.load(out)
    print(f"{out.name}: {ds.num_training} training case(s), labels "
          + ", ".join(f"{v} {k}" for k, v in ds.foreground.items()))
    contested = ds.extra.get("contested_voxels") or {}
    if any(contested.values()):
        print("contested voxels (smallest structure won): "
              + ", ".join(f"{k} {v}" for k, v in contested.items() if v))
    print("verification: OK")
    return 0
