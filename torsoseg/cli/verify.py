"""``torsoseg_verify``: check a raw dataset and list every problem at once."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EPILOG = """examples:
  torsoseg_verify -d 1
  torsoseg_verify -d Dataset002_VISCERAL --raw /data/torsoseg_raw
  torsoseg_verify --folder /data/raw/Dataset003_Torso --headers-only
exit code: 0 when the dataset is clean (warnings allowed), 1 when problems were found, 2 on usage
errors (one line; -v shows the traceback). Warnings: all-background label maps, spacing outside
0.1..20 mm."""

PROG = "torsoseg_verify"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="torsoseg_verify",
        description="Check a raw dataset (nnU-Net v2 layout): files, dataset.json, label values and "
        "geometry. Every problem is listed with the file it concerns.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("-d", "--dataset", help="dataset id (e.g. 1) or folder name (Dataset001_Abdomen)")
    src.add_argument("--folder", help="path of a DatasetXXX_Name folder (instead of -d)")
    p.add_argument("--raw", default=None, help="raw data root (default: $TORSOSEG_RAW)")
    p.add_argument(
        "--headers-only", action="store_true", default=None,
        help="check file headers only (fast); skips label values and NaN/inf checks",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="show the traceback of an error")
    return p


def main(argv: list[str] | None = None) -> int:
    from torsoseg.cli.errors import guard

    args = build_parser().parse_args(argv)
    return guard(PROG, lambda: _run(args), verbose=args.verbose)


def _run(args: argparse.Namespace) -> int:
    from torsoseg.cli.errors import USAGE, fail
    from torsoseg.dataset import find_dataset, verify_dataset
    from torsoseg.paths import default_roots

    try:
        if args.folder:
            folder = Path(args.folder)
        else:
            folder = find_dataset(default_roots(raw=args.raw).raw, args.dataset)
    except (FileNotFoundError, ValueError) as e:
        return fail(PROG, e, USAGE, args.verbose)
    kwargs = {"progress": not args.no_progress}
    if args.headers_only:
        kwargs["check_voxels"] = False
    problems = verify_dataset(folder, **kwargs)
    errors = [p for p in problems if not p.warning]
    warnings = [p for p in problems if p.warning]
    if not problems:
        print(f"{folder}: OK, no problems found")
        return 0
    if errors:
        print(f"{folder}: {len(errors)} problem(s)" + (f", {len(warnings)} warning(s)" if warnings else ""))
    else:
        print(f"{folder}: OK, no problems found; {len(warnings)} warning(s)")
    for problem in errors + warnings:
        print(f"  {problem}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
