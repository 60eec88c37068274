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

Example:
    python scripts/cascade_table.py --results RESULTS_SEED0 RESULTS_SEED1 -d 2 \
        --test RAW/Dataset003_Torso --out /tmp/cascade_table --json /tmp/cascade_table.json
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


def predict_and_evaluate(model_dir: Path, test: Path, out: Path, threads: int) -> dict[str, float]:
    """Mean Dice per organ of ``model_dir``'s predictions of the test set (a raw dataset folder)."""
    import torch

    from torsoseg.evaluation import evaluate_folders
    from torsoseg.inference import Predictor
    from torsoseg.inference.batch import find_cases, predict_cases

    torch.set_num_threads(threads)
    images = test / "imagesTs" if (test / "imagesTs").is_dir() else test / "imagesTr"
    predictor = Predictor.from_model_dir(model_dir, folds="all", device="cpu", precision="fp32")
    report = predict_cases(predictor, find_cases(images), out, resume=True)
    if report.failed:
        raise SystemExit(f"{model_dir.name}: prediction failed for {report.failed}")
    ref = test / "labelsTs" if images.name == "imagesTs" else test
    values = evaluate_folders(ref, out).values("dice")
    organs = sorted({o for case in values.values() for o in case})
    return {o: float(np.nanmean([case.get(o, np.nan) for case in values.values()])) for o in organs}


def _as_runs(scores: dict[str, float | list[float]]) -> dict[str, np.ndarray]:
    return {o: np.atleast_1d(np.asarray(v, dtype=float)) for o, v in scores.items()}


def _cell(values: np.ndarray, signed: bool = False) -> str:
    """One number, or ``mean ± std`` over the seeds (population std)."""
    fmt = "{:+.3f}" if signed else "{:.3f}"
    mean = fmt.format(round(float(np.mean(values)), 3) + 0.0)  # + 0.0: no "-0.000"
    return mean if values.size == 1 else f"{mean} ± {float(np.std(values)):.3f}"


def markdown(full: dict[str, float | list[float]], casc: dict[str, float | list[float]]) -> str:
    """The table: organ, 3d_fullres, cascade, difference; small organs in bold, then the means.

    A value may be a list, one Dice per seed (the same seeds, in the same order, for both): each cell is
    then the mean ± std over the seeds, and the difference is taken seed by seed.
    """
    full_r, casc_r = _as_runs(full), _as_runs(casc)
    seeds = {v.size for v in (*full_r.values(), *casc_r.values())}
    if len(seeds) > 1:
        raise ValueError(f"every organ needs the same number of seeds, got {sorted(seeds)}")
    title = "cascade - fullres" if seeds == {1} else f"cascade - fullres ({seeds.pop()} seeds)"
    lines = [f"| organ | 3d_fullres | cascade | {title} |", "|---|---:|---:|---:|"]
    organs = [o for o in full_r if o in casc_r]
    for o in organs:
        name = f"**{o}**" if o in SMALL_ORGANS else o
        f, c = full_r[o], casc_r[o]
        lines.append(f"| {name} | {_cell(f)} | {_cell(c)} | {_cell(c - f, signed=True)} |")
    for label, group in (("mean, small organs", [o for o in organs if o in SMALL_ORGANS]),
                         ("mean, all organs", organs)):
        if group:
            f = np.mean([full_r[o] for o in group], axis=0)
            c = np.mean([casc_r[o] for o in group], axis=0)
            lines.append(f"| {label} | {_cell(f)} | {_cell(c)} | {_cell(c - f, signed=True)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--results", required=True, type=Path, nargs="+",
                   help="results root holding the three models; several roots (one per training seed) "
                   "give mean ± std per organ")
    p.add_argument("-d", "--dataset", required=True, help="dataset id or folder name of the models")
    p.add_argument("--test", required=True, type=Path, help="raw test dataset folder (images and labels)")
    p.add_argument("--out", required=True, type=Path, help="folder for the prediction sets")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = p.parse_args(argv)
    runs = []
    for i, results in enumerate(args.results):
        scores = {}
        for configuration in ("3d_fullres", "3d_cascade"):
            folder = model_folder(results, args.dataset, configuration)
            out = args.out / (configuration if len(args.results) == 1 else f"run{i}_{configuration}")
            scores[configuration] = predict_and_evaluate(folder, args.test, out, args.threads)
        runs.append(scores)
    organs = [o for o in runs[0]["3d_fullres"] if all(o in r[c] for r in runs for c in r)]
    per_seed = {c: {o: [r[c][o] for r in runs] for o in organs} for c in ("3d_fullres", "3d_cascade")}
    print(markdown(per_seed["3d_fullres"], per_seed["3d_cascade"]))
    if args.json:
        args.json.write_text(json.dumps({"results": [str(r) for r in args.results], "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
