"""Would undoing the class-balanced cross-entropy's prior shift at prediction time help? (issue 12)

Usage:
    python scripts/prior_correction_check.py DEMO_OUT [DEMO_OUT ...] [--work DIR] [--taus 0 0.25 0.5 1]
        [--models fine-tuned scratch] [--datasets 3 4]
    python scripts/prior_correction_check.py DEMO_OUT [DEMO_OUT ...] --per-organ [--offsets 0 0.25 ... 2]

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

``--per-organ`` measures the same shift chosen per organ on held-out data, as the postprocessing is: for
each model and organ, the offset ``b`` (in nats, from ``--offsets``) that maximises the organ's mean Dice
on dataset 4 when the organ's log-probability is lowered by ``b`` (the others left alone), kept only
when it gains more than ``--min-gain`` over no offset; then the largest-component rule is chosen again on
dataset 4 with those offsets, and dataset 3 is scored with both. Prints per run and model the offsets
chosen, the test Dice per organ before (the demo's own choice) and after, and the ranking of the
fine-tuned against the from-scratch model on each organ both share with the abdomen set.
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


def _load_probs(run: Path, dataset: str, probs: Path) -> tuple[list[str], dict[str, int], list]:
    """Class names, the reference's labels and per case ``(log-probabilities (K, Z, Y, X), reference)``."""
    cases, names = [], []
    for npz in sorted(probs.glob("*.npz")):
        names = json.loads(npz.with_name(npz.stem + "_probabilities.json").read_text())["classes"]
        q = np.load(npz)["probabilities"].astype(np.float32)
        logq = np.log(np.maximum(q, 1e-6)).transpose(0, 3, 2, 1)  # (K, Z, Y, X) as SimpleITK's arrays
        ref_file = run / "raw" / dataset / "labelsTr" / f"{npz.stem}.nii.gz"
        ref = sitk.GetArrayFromImage(sitk.ReadImage(str(ref_file)))
        cases.append((logq, ref))
    ref_labels = json.loads((run / "raw" / dataset / "dataset.json").read_text())["labels"]
    return names, ref_labels, cases


def score(run: Path, model_dir: Path, dataset: str, probs: Path, weights: dict[str, float],
          taus: list[float]) -> dict[float, dict[str, Cases]]:
    """tau -> organ -> per case (Dice, reference has it, prediction has it)."""
    from torsoseg.inference.postprocessing import Postprocessing

    pp = Postprocessing.load(model_dir)
    names, ref_labels, cases = _load_probs(run, dataset, probs)
    labels = {n: i for i, n in enumerate(names)}
    logw = np.log(np.array([weights[n] for n in names], np.float32))[:, None, None, None]
    per: dict[float, dict[str, Cases]] = {t: {} for t in taus}
    for logq, ref in cases:
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


def choose_offsets(heldout: dict[str, dict[float, float]], min_gain: float = 0.005) -> dict[str, float]:
    """Organ -> the offset (in nats) whose held-out Dice is the highest, for the organs where it beats no
    offset (``0.0``, which every organ's row must hold) by more than ``min_gain``; a tie keeps the smaller
    offset. Organs without a finite Dice at offset 0 (absent from every held-out reference) get none."""
    chosen = {}
    for organ, by_offset in heldout.items():
        base = by_offset[0.0]
        if base != base:
            continue
        best, value = 0.0, base + min_gain
        for b in sorted(by_offset):
            d = by_offset[b]
            if b > 0 and d == d and d > value:
                best, value = b, d
        if best > 0:
            chosen[organ] = best
    return chosen


def _organ_dice(names: list[str], ref_labels: dict[str, int], cases: list, offsets: np.ndarray,
                keep: list[int]) -> dict[str, float]:
    """Organ -> Dice averaged over the cases where it is defined, with ``offsets`` and ``keep`` applied."""
    from torsoseg.inference.postprocessing import keep_largest_component

    per: dict[str, list[float]] = {}
    for logq, ref in cases:
        lab = np.argmax(logq - offsets[:, None, None, None], axis=0).astype(np.uint8)
        lab = keep_largest_component(lab, keep) if keep else lab
        for organ, value in ref_labels.items():
            if organ != "background" and organ in names:
                d = dice(lab == names.index(organ), ref == value)
                per.setdefault(organ, [])
                if d == d:
                    per[organ].append(d)
    return {o: float(np.mean(v)) if v else float("nan") for o, v in per.items()}


def per_organ(run: Path, work: Path, model: str, grid: list[float], min_gain: float) -> dict:
    """The per-organ offsets chosen on dataset 4 and dataset 3's Dice before and after (see the module
    docstring)."""
    from torsoseg.inference.postprocessing import choose_keep_largest

    names4, ref4, held = _load_probs(run, DATASETS["4"], work / run.name / model / "4")
    names3, ref3, test = _load_probs(run, DATASETS["3"], work / run.name / model / "3")
    assert names3 == names4, "the model's classes differ between its two predictions"
    k, zero = len(names4), np.zeros(len(names4), np.float32)
    everything = list(range(1, k))

    def keep_for(offsets: np.ndarray) -> list[int]:
        before = _organ_dice(names4, ref4, held, offsets, [])
        after = _organ_dice(names4, ref4, held, offsets, everything)
        return [names4.index(o) for o in choose_keep_largest(before, after)]

    heldout: dict[str, dict[float, float]] = {}
    for b in grid:
        for c in range(1, k):
            offsets = zero.copy()
            offsets[c] = b
            d = _organ_dice(names4, ref4, held, offsets, [])
            heldout.setdefault(names4[c], {})[b] = d.get(names4[c], float("nan"))
    chosen = choose_offsets({o: v for o, v in heldout.items() if o in ref4}, min_gain)
    offsets = zero.copy()
    for organ, b in chosen.items():
        offsets[names4.index(organ)] = b
    return {"offsets": chosen,
            "test_before": _organ_dice(names3, ref3, test, zero, keep_for(zero)),
            "test_after": _organ_dice(names3, ref3, test, offsets, keep_for(offsets))}


def print_per_organ(results: dict[str, list[dict]]) -> None:
    shared = ("liver", "spleen", "gallbladder", "pancreas")
    for model, runs in results.items():
        organs = list(runs[0]["test_before"])
        print(f"\n{model} model, dataset 3, Dice with the offsets chosen per organ on dataset 4\n")
        print("| run | when | " + " | ".join(organs) + " | mean |")
        print("|---" * (len(organs) + 3) + "|")
        for i, r in enumerate(runs):
            for when in ("test_before", "test_after"):
                v = [r[when][o] for o in organs]
                cells = " | ".join(f"{x:.3f}" for x in v)
                print(f"| {i} | {when[5:]} | {cells} | {np.nanmean(v):.3f} |")
        for i, r in enumerate(runs):
            print(f"run {i} offsets: " + ", ".join(f"{o} {b:g}" for o, b in r["offsets"].items()))
    if "fine-tuned" in results and "scratch" in results:
        print("\nfine-tuned >= scratch, after the offsets (mean and the organs shared with dataset 1):")
        for i, (ft, sc) in enumerate(zip(results["fine-tuned"], results["scratch"])):
            a, b = ft["test_after"], sc["test_after"]
            fails = [o for o in shared if a[o] < b[o]]
            if np.nanmean(list(a.values())) < np.nanmean(list(b.values())):
                fails.insert(0, "mean")
            print(f"run {i}: " + ("holds" if not fails else "fails: " + ", ".join(
                f"{o} {a[o]:.3f} < {b[o]:.3f}" if o != "mean" else "mean" for o in fails)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="torsoseg_demo output folders (one per seed)")
    ap.add_argument("--work", type=Path, default=Path("prior_correction"), help="probabilities go here")
    ap.add_argument("--taus", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    ap.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    ap.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    ap.add_argument("--per-organ", action="store_true",
                    help="choose an offset per organ on dataset 4 instead of one tau for all (see above)")
    ap.add_argument("--offsets", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0],
                    help="the offsets (nats) --per-organ tries")
    ap.add_argument("--min-gain", type=float, default=0.005,
                    help="held-out Dice an offset must gain over none to be chosen (--per-organ)")
    args = ap.parse_args(argv)
    if args.per_organ:
        if 0.0 not in args.offsets:
            ap.error("--offsets must include 0")
        chosen: dict[str, list[dict]] = {}
        for run in args.runs:
            for model, trainer in ((m, MODELS[m]) for m in args.models):
                for ds in ("3", "4"):
                    predict(run, trainer, DATASETS[ds], args.work / run.name / model / ds)
                result = per_organ(run, args.work, model, args.offsets, args.min_gain)
                chosen.setdefault(model, []).append(result)
            print(f"{run}: done", file=sys.stderr)
        print_per_organ(chosen)
        return 0
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
