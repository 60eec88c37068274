"""The issue-13 table: the two-stage cascade vs the single-stage ``3d_fullres`` network, Dice per organ.

Both are trained on the same dataset with the same training steps per stage (the cascade's two stages
each get the steps of the one single-stage network). The script predicts a test set with
``-c 3d_fullres`` and with ``-c 3d_cascade`` (coarse stage on the whole image, fine stage only in its
candidate region), evaluates both by organ name and prints a Markdown table: the mean Dice per organ
(over the test cases) of each, and the difference; the small organs (pancreas, gallbladder, adrenal
glands) are in bold. It also writes the numbers as JSON.

It trains nothing: produce the models first, e.g.::

    torsoseg_plan_and_preprocess -d 2 -c 3d_fullres 3d_lowres      # a plan with a cascade
    torsoseg_train 2 --fold all --preset cpu --epochs E               # 3d_fullres
    torsoseg_train 2 --fold all --preset cpu --epochs E -c 3d_lowres
    torsoseg_train 2 --fold all --preset cpu --epochs E -c 3d_cascade

Several ``--results`` roots (the same dataset trained with ``torsoseg_train --seed S`` into each) give
each cell as mean ± std over the seeds.

``--roi FINE COARSE`` (once per seed) measures the region-of-interest mode instead: the cascade is the
single-stage model FINE run as the fine stage inside the candidate region of the model COARSE
(``torsoseg_predict -m FINE --coarse-model COARSE``), against FINE on the whole image. The same network
on both sides, so the table shows what restricting it to the region costs; an extra column gives the
Dice of the two label maps against each other (1 where the region mode reproduces the whole-image
prediction). ``--tiles nearest`` runs the fine stage on each region voxel's nearest tile only
(``torsoseg_predict --cascade-tiles nearest``); its predictions go to their own folders, the whole-image
ones are shared. ``--roi-subset ORGANS`` (with ``--roi``) runs the fine stage only around those organs
of the coarse prediction (``torsoseg_predict --roi-subset``), and the table lists only them.

Examples:
    python scripts/cascade_table.py --results RESULTS_SEED0 RESULTS_SEED1 -d 2 \
        --test RAW/Dataset003_Torso --out /tmp/cascade_table --json /tmp/cascade_table.json
    python scripts/cascade_table.py --roi FULLRES_S0 LOWRES_S0 --roi FULLRES_S1 LOWRES_S1 \
        --test RAW/Dataset003_Torso --out /tmp/roi_table
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

SMALL_ORGANS = ("pancreas", "gallbladder", "adrenal_gland_right", "adrenal_gland_left")


def model_folder(results: Path, dataset: str, configuration: str) -> Path:
    """The ``<trainer>__<plans>__<configuration>`` folder of the dataset (from scratch, not fine-tuned)."""
    from torsoseg.dataset import find_dataset

    root = find_dataset(results, dataset)
    found = sorted(p for p in root.glob(f"*__*__{configuration}") if not p.name.startswith("FineTune"))
    if not found:
        raise SystemExit(f"{root}: no trained {configuration} model (train it with -c {configuration})")
    return found[0]


def predict_and_evaluate(model_dir: Path, test: Path, out: Path, threads: int,
                         coarse_model: Path | None = None, tiles: str | None = None,
                         roi_subset: str | None = None) -> dict[str, float]:
    """Mean Dice per organ of ``model_dir``'s predictions of the test set (a raw dataset folder); with
    ``coarse_model``, ``model_dir`` runs as the fine stage inside that model's candidate region; ``tiles``
    and ``roi_subset``: the cascade's choice of fine tiles and organs (only those are scored)."""
    import torch

    from torsoseg.evaluation import evaluate_folders
    from torsoseg.inference import Predictor
    from torsoseg.inference.batch import find_cases, predict_cases

    torch.set_num_threads(threads)
    images = test / "imagesTs" if (test / "imagesTs").is_dir() else test / "imagesTr"
    extra: dict = {"coarse_model": coarse_model} if coarse_model is not None else {}
    if tiles is not None:
        extra["tiles"] = tiles
    if roi_subset is not None:
        extra["roi_subset"] = roi_subset
    predictor = Predictor.from_model_dir(model_dir, folds="all", device="cpu", precision="fp32", **extra)
    report = predict_cases(predictor, find_cases(images), out, resume=True)
    if report.failed:
        raise SystemExit(f"{model_dir.name}: prediction failed for {report.failed}")
    ref = test / "labelsTs" if images.name == "imagesTs" else test
    values = evaluate_folders(ref, out).values("dice")
    organs = sorted({o for case in values.values() for o in case})
    if roi_subset is not None:  # the subset, in the model's own names
        organs = [o for o in organs if o in predictor.roi_subset]
    return {o: float(np.nanmean([case.get(o, np.nan) for case in values.values()])) for o in organs}


def agreement(out_a: Path, out_b: Path) -> dict[str, float]:
    """Per organ, the mean over the cases of the Dice of two prediction sets' label maps against each
    other (cases where neither predicts the organ are left out)."""
    from torsoseg.fileio import read_json
    from torsoseg.imageio import read_image

    labels = {k: v for k, v in read_json(out_a / "labels.json").items() if k != "background"}
    per_organ: dict[str, list[float]] = {o: [] for o in labels}
    for path in sorted(out_a.glob("*.nii.gz")):
        a, b = read_image(path).array, read_image(out_b / path.name).array
        for organ, value in labels.items():
            ma, mb = a == value, b == value
            total = int(ma.sum()) + int(mb.sum())
            if total:
                per_organ[organ].append(2.0 * int((ma & mb).sum()) / total)
    return {o: float(np.mean(v)) for o, v in per_organ.items() if v}


def _as_runs(scores: dict[str, float | list[float]]) -> dict[str, np.ndarray]:
    return {o: np.atleast_1d(np.asarray(v, dtype=float)) for o, v in scores.items()}


def _cell(values: np.ndarray, signed: bool = False) -> str:
    """One number, or ``mean ± std`` over the seeds (population std)."""
    fmt = "{:+.3f}" if signed else "{:.3f}"
    mean = fmt.format(round(float(np.mean(values)), 3) + 0.0)  # + 0.0: no "-0.000"
    return mean if values.size == 1 else f"{mean} ± {float(np.std(values)):.3f}"


def markdown(full: dict[str, float | list[float]], casc: dict[str, float | list[float]],
             agree: dict[str, float | list[float]] | None = None, cascade_name: str = "cascade") -> str:
    """The table: organ, 3d_fullres, cascade, difference; small organs in bold, then the means.

    A value may be a list, one Dice per seed (the same seeds, in the same order, for both): each cell is
    then the mean ± std over the seeds, and the difference is taken seed by seed. ``agree`` adds a
    column: the Dice of the two predictions against each other (organs it lacks: ``-``).
    """
    full_r, casc_r = _as_runs(full), _as_runs(casc)
    seeds = {v.size for v in (*full_r.values(), *casc_r.values())}
    if len(seeds) > 1:
        raise ValueError(f"every organ needs the same number of seeds, got {sorted(seeds)}")
    title = f"{cascade_name} - fullres" + ("" if seeds == {1} else f" ({seeds.pop()} seeds)")
    head, rule = f"| organ | 3d_fullres | {cascade_name} | {title} |", "|---|---:|---:|---:|"
    agree_r = _as_runs(agree) if agree is not None else None
    if agree_r is not None:
        head, rule = head + f" {cascade_name} vs 3d_fullres |", rule + "---:|"
    lines = [head, rule]
    organs = [o for o in full_r if o in casc_r]
    for o in organs:
        name = f"**{o}**" if o in SMALL_ORGANS else o
        f, c = full_r[o], casc_r[o]
        row = f"| {name} | {_cell(f)} | {_cell(c)} | {_cell(c - f, signed=True)} |"
        if agree_r is not None:
            row += f" {_cell(agree_r[o]) if o in agree_r else '-'} |"
        lines.append(row)
    for label, group in (("mean, small organs", [o for o in organs if o in SMALL_ORGANS]),
                         ("mean, all organs", organs)):
        if group:
            f = np.mean([full_r[o] for o in group], axis=0)
            c = np.mean([casc_r[o] for o in group], axis=0)
            row = f"| {label} | {_cell(f)} | {_cell(c)} | {_cell(c - f, signed=True)} |"
            if agree_r is not None:
                scored = [agree_r[o] for o in group if o in agree_r]
                row += f" {_cell(np.mean(scored, axis=0)) if scored else '-'} |"
            lines.append(row)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--results", type=Path, nargs="+",
                   help="results root holding the three models; several roots (one per training seed) "
                   "give mean ± std per organ")
    p.add_argument("-d", "--dataset", help="dataset id or folder name of the models (with --results)")
    p.add_argument("--roi", type=Path, nargs=2, action="append", metavar=("FINE", "COARSE"),
                   help="instead of --results: a single-stage model folder and a coarse model folder; "
                   "FINE alone vs FINE inside COARSE's candidate region (once per seed)")
    p.add_argument("--test", required=True, type=Path, help="raw test dataset folder (images and labels)")
    p.add_argument("--out", required=True, type=Path, help="folder for the prediction sets")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    p.add_argument("--tiles", choices=("exact", "nearest"), default="exact",
                   help="the cascade's fine tiles (torsoseg_predict --cascade-tiles; default exact)")
    p.add_argument("--roi-subset", default=None, metavar="ORGANS",
                   help="with --roi: the fine stage only around these organs (comma-separated), and the "
                   "table only them")
    args = p.parse_args(argv)
    if bool(args.results) == bool(args.roi) or (args.results and not args.dataset):
        p.error("give either --results with -d, or --roi FINE COARSE")
    if args.roi_subset and not args.roi:
        p.error("--roi-subset needs --roi")
    roots = args.results or [fine for fine, _ in args.roi]
    runs, agree = [], []
    for i, root in enumerate(roots):
        scores, outs = {}, {}
        for configuration in ("3d_fullres", "3d_cascade"):
            name = configuration
            if configuration == "3d_cascade":
                name += ("" if args.tiles == "exact" else f"_{args.tiles}") + \
                    ("" if not args.roi_subset else "_" + args.roi_subset.replace(",", "-"))
            out = outs[configuration] = args.out / (name if len(roots) == 1 else f"run{i}_{name}")
            tiles = args.tiles if configuration == "3d_cascade" else None
            if args.roi:
                fine, coarse = args.roi[i]
                coarse = coarse if configuration == "3d_cascade" else None
                subset = args.roi_subset if configuration == "3d_cascade" else None
                scores[configuration] = predict_and_evaluate(fine, args.test, out, args.threads, coarse,
                                                             tiles, subset)
            else:
                folder = model_folder(root, args.dataset, configuration)
                scores[configuration] = predict_and_evaluate(folder, args.test, out, args.threads,
                                                             tiles=tiles)
        runs.append(scores)
        if args.roi:
            agree.append(agreement(outs["3d_fullres"], outs["3d_cascade"]))
    organs = [o for o in runs[0]["3d_fullres"] if all(o in r[c] for r in runs for c in r)]
    if not organs:
        raise SystemExit(f"{args.test}: no organ has a Dice in every run (none of "
                         f"{args.roi_subset or 'the models organs'} is annotated in its reference labels?)")
    per_seed = {c: {o: [r[c][o] for r in runs] for o in organs} for c in ("3d_fullres", "3d_cascade")}
    agree_seed = ({o: [a[o] for a in agree] for o in organs if all(o in a for a in agree)}
                  if args.roi else None)
    print(markdown(per_seed["3d_fullres"], per_seed["3d_cascade"], agree_seed,
                   "region mode" if args.roi else "cascade"))
    if args.json:
        what = {"roi": [[str(f), str(c)] for f, c in args.roi]} if args.roi else {
            "results": [str(r) for r in args.results]}
        args.json.write_text(json.dumps({**what, "tiles": args.tiles, "roi_subset": args.roi_subset,
                                         "runs": runs, "agreement": agree}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
