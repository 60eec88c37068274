"""Would undoing the class-balanced cross-entropy's prior shift at prediction time help? (issue 12)

Usage:
    python scripts/prior_correction_check.py DEMO_OUT [DEMO_OUT ...] [--work DIR] [--taus 0 0.25 0.5 1]
        [--models fine-tuned scratch] [--datasets 3 4]

The cpu presets weight the cross-entropy by the batch's inverse class frequency to the power 0.5
(``ce_class_balance``). With class weights ``w``, cross-entropy alone is minimised by probabilities
proportional to ``w_c * p(c | x)``: a rare organ's output is inflated by its weight, which is one
explanation for the over-segmented gallbladder. This script measures the post-hoc correction
("logit adjustment"): predict with ``argmax_c (log q_c - tau * log w_c)``.

For each demo output folder (``torsoseg_demo --out DEMO_OUT``) and for its fine-tuned and from-scratch
models it
1. estimates ``w_c``, the mean weight a voxel of class ``c`` received, from 300 batches drawn like the
   training's (``PatchBatchLoader`` on dataset 2's cache, no augmentation);
2. predicts dataset 3 (the test set) and dataset 4 (the held-out VISCERAL cases) with
   ``torsoseg_predict --save-probabilities --no-postprocessing`` (kept in ``--work`` and reused);
3. for each ``tau`` takes the adjusted argmax, applies the model's own postprocessing
   (``postprocessing.json``) and scores Dice per organ (a case whose reference lacks an organ the
   prediction has scores 0, both empty is left out, as ``torsoseg_evaluate`` does).

Prints, per model and dataset, one row per ``tau``: the organs' Dice averaged over the demo runs (each run's
mean over its cases first; a run whose cases all lack an organ is left out of that organ), the mean over
the runs of each run's mean over its organs, and each run's mean. Then, for the organs some case lacks
(the gallbladder), per ``tau`` with the runs' cases pooled: the Dice on the cases that have the organ,
and how many of the cases without it get a false one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

Cases = list[tuple[float, bool, bool]]  # per case: Dice, the reference has the organ, the prediction has it
MODELS = {"fine-tuned": "FineTuneTrainer", "scratch": "Trainer_cpu"}
DATASETS = {"3": "Dataset003_Torso", "4": "Dataset004_VISCERALval"}


def class_weights(run: Path, batches: int = 300) -> dict[str, float]:
    """Class -> mean cross-entropy weight of its voxels over ``batches`` training-like batches."""
    import torch

    from torsoseg.plans import Plans
    from torsoseg.preprocessing.cache import cache_folder, list_cached_cases
    from torsoseg.training.losses import balanced_class_weights
    from torsoseg.training.patches import PatchBatchLoader
    from torsoseg.training.settings import get_settings

    pre = run / "preprocessed" / "Dataset002_VISCERAL"
    plans = Plans.load(pre / "plans.json").for_configuration("3d_fullres")
    cache = cache_folder(pre, plans)
    s = get_settings("cpu")
    k = len(plans.labels)
    loader = iter(PatchBatchLoader(cache, list_cached_cases(cache), plans.batch_size, plans.patch_size,
                                   plans.patch_size, s.oversample_foreground, seed=7))
    num, den = torch.zeros(k, dtype=torch.float64), torch.zeros(k, dtype=torch.float64)
    for _ in range(batches):
        y = torch.from_numpy(next(loader)["seg"][:, 0].astype(np.int64))
        w = balanced_class_weights(y, k, s.ce_class_balance)
        n = torch.bincount(y.reshape(-1), minlength=k).double()
        num += w.double() * n
        den += n
    names = {v: name for name, v in plans.labels.items()}
    return {names[i]: float(num[i] / max(den[i], 1.0)) for i in range(k)}


def predict(run: Path, trainer: str, dataset: str, out: Path) -> None:
    """Probabilities of one model on one dataset, without postprocessing (skipped when already there)."""
    if (out / "done").is_file():
        return
    cmd = [sys.executable, "-m", "torsoseg.cli.predict", "-i", str(run / "raw" / dataset / "imagesTr"),
           "-o", str(out), "-d", "2", "-tr", trainer, "--results", str(run / "results"),
           "--save-probabilities", "--no-postprocessing", "--no-progress"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    (out / "done").write_text("")


def dice(pred: np.ndarray, ref: np.ndarray) -> float:
    a, b = int(pred.sum()), int(ref.sum())
    return float("nan") if a == b == 0 else 2.0 * int((pred & ref).sum()) / (a + b)


def score(run: Path, model_dir: Path, dataset: str, probs: Path, weights: dict[str, float],
          taus: list[float]) -> dict[float, dict[str, Cases]]:
    """tau -> organ -> per case (Dice, reference has it, prediction has it)."""
    from torsoseg.inference.postprocessing import Postprocessing

    pp = Postprocessing.load(model_dir)
    ref_labels = json.loads((run / "raw" / dataset / "dataset.json").read_text())["labels"]
    per: dict[float, dict[str, Cases]] = {t: {} for t in taus}
    for npz in sorted(probs.glob("*.npz")):
        side = json.loads(npz.with_name(npz.stem + "_probabilities.json").read_text())
        names = side["classes"]
        labels = {n: i for i, n in enumerate(names)}
        logq = np.log(np.maximum(np.load(npz)["probabilities"].astype(np.float32), 1e-6))
        logq = logq.transpose(0, 3, 2, 1)  # (K, Z, Y, X) as SimpleITK's arrays
        logw = np.log(np.array([weights[n] for n in names], np.float32))[:, None, None, None]
        ref_file = run / "raw" / dataset / "labelsTr" / f"{npz.stem}.nii.gz"
        ref = sitk.GetArrayFromImage(sitk.ReadImage(str(ref_file)))
        for t in taus:
            lab = np.argmax(logq - t * logw, axis=0).astype(np.uint8)
            if pp is not None:
                lab = pp.apply(lab, labels)
            for organ, value in ref_labels.items():
                if organ != "background" and organ in labels:
                    p, r = lab == labels[organ], ref == value
                    per[t].setdefault(organ, []).append((dice(p, r), bool(r.any()), bool(p.any())))
    return per


def case_mean(cases: Cases) -> float:
    """Dice averaged over the cases where it is defined (NaN when none is)."""
    v = [d for d, _, _ in cases if d == d]
    return float(np.mean(v)) if v else float("nan")


def presence_rows(runs: list[dict[float, dict[str, Cases]]], taus: list[float]) -> list[str]:
    """Per tau and organ that some case lacks, the cases of every run pooled: Dice on the cases with the
    organ, and false ones in the cases without it (evaluation.md, "Cases with and without an organ")."""
    organs = list(dict.fromkeys(o for r in runs for o in r[taus[0]]))
    uneven = [o for o in organs if any(not has for r in runs for _, has, _ in r[taus[0]].get(o, []))]
    rows = []
    for o in uneven:
        for t in taus:
            cases = [c for r in runs for c in r[t].get(o, [])]
            with_it = [d for d, has, _ in cases if has]
            without = [found for _, has, found in cases if not has]
            mean = f"{np.mean(with_it):.3f}" if with_it else "n/a"  # every case may lack it
            rows.append(f"| {o} | {t:g} | {len(with_it)} | {mean} | "
                        f"{sum(d == 0 for d in with_it)} | {len(without)} | {sum(without)} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="torsoseg_demo output folders (one per seed)")
    ap.add_argument("--work", type=Path, default=Path("prior_correction"), help="probabilities go here")
    ap.add_argument("--taus", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    ap.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    ap.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    args = ap.parse_args(argv)
    results: dict[tuple[str, str], list[dict[float, dict[str, Cases]]]] = {}
    for run in args.runs:
        weights = class_weights(run)
        for model, trainer in ((m, MODELS[m]) for m in args.models):
            model_dir = next((run / "results" / "Dataset002_VISCERAL").glob(f"{trainer}_*__3d_fullres"))
            for ds, dataset in ((d, DATASETS[d]) for d in args.datasets):
                probs = args.work / run.name / model / ds
                predict(run, trainer, dataset, probs)
                results.setdefault((model, ds), []).append(score(run, model_dir, dataset, probs, weights,
                                                                 args.taus))
        print(f"{run}: done", file=sys.stderr)
    for (model, ds), runs in results.items():
        organs = list(dict.fromkeys(o for r in runs for o in r[args.taus[0]]))  # a run may lack an organ
        print(f"\n{model} model, dataset {ds} ({DATASETS[ds]}), {len(runs)} run(s)\n")
        print("| tau | " + " | ".join(organs) + " | mean | per run |")
        print("|---" * (len(organs) + 3) + "|")
        for t in args.taus:
            table = np.array([[case_mean(r[t][o]) if o in r[t] else np.nan for o in organs] for r in runs])
            run_means = np.nanmean(table, axis=1)
            with np.errstate(invalid="ignore"):
                cells = " | ".join(f"{x:.3f}" for x in np.nanmean(table, axis=0))
            each = " / ".join(f"{x:.3f}" for x in run_means)
            print(f"| {t:g} | {cells} | {np.mean(run_means):.3f} | {each} |")
        rows = presence_rows(runs, args.taus)
        if rows:
            print("\nthe organs some case lacks, the runs' cases pooled:\n")
            print("| organ | tau | cases with it | Dice on them | Dice 0 on them | cases without it | "
                  "false ones |")
            print("|---" * 7 + "|")
            print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
