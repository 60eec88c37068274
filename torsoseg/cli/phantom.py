"""``torsoseg_phantom``: write phantom CT cases in the source layout of one of the paper's datasets."""

from __future__ import annotations

import argparse
import sys

EPILOG = """examples:
  torsoseg_phantom --kind abdomen -n 20 -o phantom/abdomen
  torsoseg_phantom --kind visceral -n 2 -o phantom/visceral --seed 100
  torsoseg_phantom --kind torso -n 5 -o phantom/torso --size tiny
layouts:
  abdomen   img/img0001.nii.gz + label/label0001.nii.gz (labels 1..7)
  visceral  Volumes/{pid}_1_CTce_ThAb.nii.gz + Segmentations/{pid}_1_CTce_ThAb_{RadLexID}_{annotator}.nii.gz
  torso     images/torso_001.nii.gz + labels/torso_001.nii.gz + labels.json
exit code: 0 on success, 1 when writing failed, 2 on bad arguments (one line; -v: traceback)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="torsoseg_phantom",
        description="Generate procedural torso CT phantoms (int16 HU with organ labels) and write them "
        "in the source layout of the abdominal, VISCERAL Anatomy3 or torso dataset. Same seed, same bytes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--kind", required=True, help="abdomen, visceral or torso")
    p.add_argument("-n", "--num-cases", type=int, required=True, help="number of cases to write (>= 1)")
    p.add_argument("-o", "--output", required=True, help="output folder (created)")
    p.add_argument("--seed", type=int, default=None, help="seed of the first case; case i uses seed + i")
    p.add_argument(
        "--size",
        default=None,
        help="tiny (~55 voxels per axis, for tests), medium (4-5 mm voxels), small (~100-160, the default) "
        "or full (512 in-plane)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="show the traceback of an error")
    return p


def main(argv: list[str] | None = None) -> int:
    from torsoseg.cli.errors import guard

    args = build_parser().parse_args(argv)
    return guard("torsoseg_phantom", lambda: _run(args), verbose=args.verbose)


def _run(args: argparse.Namespace) -> int:
    from torsoseg.cli.errors import USAGE, fail
    from torsoseg.phantom import write_source

    kwargs = {"progress": not args.no_progress}
    if args.seed is not None:
        kwargs["seed"] = args.seed
    if args.size is not None:
        kwargs["size"] = args.size
    try:
        paths = write_source(args.kind, args.num_cases, args.output, **kwargs)
    except ValueError as e:
        return fail("torsoseg_phantom", e, USAGE, args.verbose)
    print(f"wrote {len(paths)} {args.kind} case(s) to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
