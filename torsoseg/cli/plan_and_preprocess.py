"""``torsoseg_plan_and_preprocess``: fingerprint, plan and preprocess a raw dataset."""

from __future__ import annotations

import argparse
import logging
import sys

EPILOG = """examples:
  torsoseg_plan_and_preprocess -d 1                      # cpu budget, 2 workers
  torsoseg_plan_and_preprocess -d 1 --budget 24gb -np 8
  torsoseg_plan_and_preprocess -d 2 --plans-from 1       # for fine-tuning the dataset-1 model on 2
  torsoseg_plan_and_preprocess -d 1 --budget-gb 12 --no-preprocess --verify
  torsoseg_plan_and_preprocess -d 1 -c 3d_fullres 3d_lowres   # the caches of both cascade stages
  torsoseg_plan_and_preprocess -d 1 --lowres-factor 2.5  # a cascade even for small images (the demo)
A rerun skips the cases already preprocessed with the same plans and redoes half-written ones.
exit code: 0 on success, 1 when the dataset or a case failed, 2 on usage errors (one line each;
-v shows the traceback)."""

PROG = "torsoseg_plan_and_preprocess"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="torsoseg_plan_and_preprocess",
        description="Fingerprint a raw dataset, plan the experiment (target spacing, patch, U-Net "
        "topology, batch size) under a budget, and write the preprocessed cache.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-d", "--dataset", required=True, help="dataset id (1, 001) or folder name (Dataset001_Abdomen)"
    )
    b = p.add_mutually_exclusive_group()
    b.add_argument(
        "--budget", default=None, choices=["cpu", "8gb", "24gb", "40gb"], help="budget preset (default: cpu)"
    )
    b.add_argument(
        "--budget-gb", type=float, default=None, metavar="X", help="budget in GiB instead of a preset"
    )
    p.add_argument(
        "--plans-from", default=None, metavar="ID",
        help="copy target spacing, patch, topology and CT normalisation from this (planned) dataset; "
        "the label set stays this dataset's (what fine-tuning from ID needs)",
    )
    p.add_argument(
        "--lowres-factor", type=float, default=None, metavar="F",
        help="plan the cascade's low-resolution stage at F (> 1) times the target spacing even where the "
        "planner's rule (full-resolution patch under a quarter of the median image) plans none",
    )
    p.add_argument(
        "-np", "--workers", type=int, default=None, metavar="N", help="worker processes (default: 2)"
    )
    p.add_argument(
        "-c", "--configuration", nargs="+", default=None, choices=["3d_fullres", "3d_lowres", "3d_cascade"],
        help="configuration(s) to preprocess: 3d_fullres, 3d_lowres (coarse stage of the cascade, its own "
        "cache), 3d_cascade (fine stage: uses the 3d_fullres cache) (default: 3d_fullres); every planned "
        "configuration is written to plans.json either way",
    )
    p.add_argument("--no-preprocess", action="store_true", help="write fingerprint and plans only")
    p.add_argument("--verify", action="store_true", help="verify the raw dataset first; stop on problems")
    p.add_argument(
        "--raw", default=None, metavar="DIR", help="raw data root (default: $TORSOSEG_RAW)"
    )
    p.add_argument(
        "--preprocessed", default=None, metavar="DIR",
        help="preprocessed root (default: $TORSOSEG_PREPROCESSED)",
    )
    p.add_argument(
        "--skip-bad-cases", action="store_true", default=None,
        help="go on without images/labels that do not pair up (each is listed); by default such a "
        "dataset is refused",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="log details; tracebacks of errors")
    return p


def _describe(plans) -> list[str]:
    lines = [
        f"  target spacing {tuple(plans.target_spacing)} mm, median shape {tuple(plans.median_shape)}",
        f"  patch {tuple(plans.patch_size)}, batch {plans.batch_size}, {plans.num_stages} stages, "
        f"features {tuple(plans.features)}",
        f"  strides {[tuple(s) for s in plans.strides[1:]]}",
        f"  CT normalisation: clip [{plans.normalization.lower:.1f}, {plans.normalization.upper:.1f}] HU, "
        f"mean {plans.normalization.mean:.1f}, std {plans.normalization.std:.1f}",
    ]
    if plans.cascade:
        c = plans.cascade
        lines.append(
            f"  3d_lowres (coarse stage of the cascade): spacing {tuple(c.target_spacing)}, "
            f"patch {tuple(c.patch_size)}, features {tuple(c.features)}"
        )
        lines.append(
            f"  3d_cascade (fine stage): the 3d_fullres network, trained and run within "
            f"{plans.cascade_margin_mm:g} mm of the organs"
        )
    if plans.cascade_note:
        lines.append(f"  {plans.cascade_note}")
    lines.append(f"  configurations: {', '.join(plans.configuration_names)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    from torsoseg.cli.errors import guard

    args = build_parser().parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(message)s")
    return guard(PROG, lambda: _run(args), verbose=args.verbose)


def _run(args: argparse.Namespace) -> int:
    from torsoseg.cli.errors import USAGE, UsageError, fail
    from torsoseg.dataset import find_dataset, verify_dataset
    from torsoseg.paths import default_roots
    from torsoseg.planning import plan_dataset
    from torsoseg.preprocessing import preprocess_dataset

    if args.workers is not None and args.workers < 1:
        raise UsageError(f"-np must be >= 1, got {args.workers}")
    if args.budget_gb is not None and not args.budget_gb > 0:
        raise UsageError(f"--budget-gb must be > 0, got {args.budget_gb}")
    if args.lowres_factor is not None and (args.plans_from is not None or not args.lowres_factor > 1):
        raise UsageError(f"--lowres-factor must be > 1 and excludes --plans-from, got {args.lowres_factor}")
    roots = default_roots(raw=args.raw, preprocessed=args.preprocessed)
    try:
        raw = find_dataset(roots.raw, args.dataset)
    except (FileNotFoundError, ValueError) as e:
        return fail(PROG, e, USAGE, args.verbose)
    progress = not args.no_progress
    if args.verify:
        problems = verify_dataset(raw, progress=progress)
        if problems:
            print(f"{raw}: {len(problems)} problem(s); fix them first (see torsoseg_verify)", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
            return 1
        print(f"{raw}: verified, no problems")
    kw = {"progress": progress}
    if args.budget is not None:
        kw["budget"] = args.budget
    if args.budget_gb is not None:
        kw["budget_gb"] = args.budget_gb
    if args.plans_from is not None:
        kw["plans_from"] = args.plans_from
    if args.lowres_factor is not None:
        kw["lowres_factor"] = args.lowres_factor
    if args.workers is not None:
        kw["workers"] = args.workers
    if args.skip_bad_cases:
        kw["skip_bad_cases"] = True
    plans = plan_dataset(raw, roots.preprocessed, **kw)  # errors: one line, exit 1 (guard)
    out = roots.preprocessed / raw.name
    if plans.planned_from:
        print(
            f"{raw.name}: planned from {plans.planned_from} (target spacing, patch, topology and CT "
            f"normalisation copied; labels are {raw.name}'s)"
        )
    else:
        print(f"{raw.name}: planned with the {plans.budget!r} budget")
    print("\n".join(_describe(plans)))
    print(f"  written: {out / 'fingerprint.json'}, {out / 'plans.json'}")
    if args.no_preprocess:
        return 0
    try:
        stages = [plans.for_configuration(c) for c in (args.configuration or [None])]
    except ValueError as e:
        return fail(PROG, e, USAGE, args.verbose)
    pkw = {"progress": progress}
    if args.workers is not None:
        pkw["workers"] = args.workers
    if args.skip_bad_cases:
        pkw["skip_bad_cases"] = True
    done: set[str] = set()
    for stage in stages:
        if stage.data_configuration in done:
            print(f"{stage.configuration}: uses the {stage.data_configuration} cache (already done)")
            continue
        done.add(stage.data_configuration)
        report = preprocess_dataset(raw, out, stage, **pkw)  # PreprocessingError and others: exit 1 (guard)
        print(
            f"{stage.configuration}: preprocessed {len(report.processed)} case(s), {len(report.skipped)} "
            f"already done, into {report.folder}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
