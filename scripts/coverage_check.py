"""How a model copes with scans that cover only part of the torso, on the phantom and on real CT.

Usage:
    python scripts/coverage_check.py MODEL_FOLDER --test RAW_TEST_DATASET [--slabs 40 80 160]
        [--below-lungs 40 80] [--lung-crop] [--real ../shared/data] [--work DIR] [--no-postprocessing]
        [--figure PNG]
    python scripts/coverage_check.py --summarize WORK_SEED0 WORK_SEED1 WORK_SEED2

For each test case of RAW_TEST_DATASET (a raw dataset with imagesTr/, labelsTr/, dataset.json, such as the
demo's ``raw/Dataset003_Torso``) it cuts an axial slab of each thickness (mm) centred on the spleen (the
level where liver, spleen, stomach and pancreas meet, as in the real sample below), predicts the slabs with
``torsoseg_predict`` and evaluates them by organ name. With ``--real`` it also predicts the TotalSegmentator
DICOM sample of ``../shared/data`` (a 40 mm slab of a real thorax-abdomen CT) and scores the organs both
label sets share against TotalSegmentator's labels of it (a model's output, not a manual reference: a
proxy). ``--lung-crop`` also cuts each test case in plane to its right lung's box (a field of view
reconstructed around one lung, as in a thin-section lung CT: 3 voxels of margin, from 8 slices below
the lung to its apex) and scores those crops; with ``--real`` it then predicts the elastix thorax CT of
``../shared/data`` too (such a crop of a real right lung, unlabelled), scored as lung_right against
the largest connected region below -400 HU (the aerated lung; a threshold proxy, not a manual
reference). With ``--real`` it also reports the millilitres the model labels, on the real sample, as
organs that sample does not hold (:data:`REAL_ABSENT`: TotalSegmentator finds no lung, kidney or
gallbladder in it), such as air outside the body taken for lung. Prints one markdown row per input:
mean Dice over the organs scored, then per organ.
``--below-lungs MM`` also cuts each test case to an axial slab of MM mm that starts just below its lungs
(the upper abdomen without any lung, as in the real sample) and reports, beside the Dice of the organs
the slab holds, the millilitres labelled (mean over the cases) as organs that slab does not hold: the
phantom's own measure of what the real sample shows (air and fat taken for lung).
``--summarize`` reads the ``--work`` folders of several runs (one per seed) and prints per input the
mean ± sample std over the runs of each organ's Dice and of the mean over organs.
``--figure PNG`` (with ``--real``) draws the real sample's middle slice with TotalSegmentator's labels
beside the model's, and the same for the first test case's thinnest slab, in the colours of
``make_phantom_figures.py``; with ``--summarize``, one row per work folder (named after it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

REAL_ORGANS = ("liver", "spleen", "pancreas", "aorta")  # the sample's organs a torso model can know
#: torso organs TotalSegmentator finds none of in the real 40 mm sample (no lung lobe, kidney or
#: gallbladder label in it): whatever a model labels as one of them there is false
REAL_ABSENT = ("lung_right", "lung_left", "kidney_right", "kidney_left", "gallbladder")
_TS_PREFIXES = {"lung_right": "lung_", "lung_left": "lung_", "kidney_right": "kidney_right",
                "kidney_left": "kidney_left", "gallbladder": "gallbladder"}
REAL_LUNG = "elastix_lung_ct_small.mha"  # a real thorax CT cropped around its right lung
#: the real sample's false volumes per organ of REAL_ABSENT (mL), beside its evaluation
ABSENT_FILE = "absent_ml.json"
#: inputs scored on a fixed organ list (the others on the organs every run's evaluation has)
FIXED_ORGANS = {"real": REAL_ORGANS, "real_lung": ("lung_right",)}


def _cut_cases(raw: Path, out: Path, region) -> None:
    """``out/img``, ``out/ref``: each case of ``raw`` cut to ``region(lab_file, lab, arr) -> (size,
    index)`` (SimpleITK's x, y, z order; ``arr`` is the label array in z, y, x), with ``labels.json``."""
    (out / "img").mkdir(parents=True, exist_ok=True)
    (out / "ref").mkdir(parents=True, exist_ok=True)
    for lab_file in sorted((raw / "labelsTr").glob("*.nii.gz")):
        case = lab_file.name[: -len(".nii.gz")]
        lab = sitk.ReadImage(str(lab_file))
        img = sitk.ReadImage(str(raw / "imagesTr" / f"{case}_0000.nii.gz"))
        size, index = region(lab_file, lab, sitk.GetArrayFromImage(lab))
        sitk.WriteImage(sitk.RegionOfInterest(img, size, index), str(out / "img" / f"{case}_0000.nii.gz"))
        sitk.WriteImage(sitk.RegionOfInterest(lab, size, index), str(out / "ref" / f"{case}.nii.gz"))
    labels = json.loads((raw / "dataset.json").read_text())["labels"]
    (out / "ref" / "labels.json").write_text(json.dumps(labels))


def cut_slabs(raw: Path, out: Path, mm: float, centre_label: int) -> None:
    """``out/img``, ``out/ref``: each case cut to ``mm`` of axial extent around ``centre_label``'s centre."""

    def slab(lab_file, lab, arr):
        zs = np.flatnonzero((arr == centre_label).any(axis=(1, 2)))
        if zs.size == 0:
            raise SystemExit(f"{lab_file}: no voxel of label {centre_label} to centre the slab on")
        half = max(1, int(round(mm / 2 / lab.GetSpacing()[2])))
        lo, hi = max(0, int(zs.mean()) - half), min(arr.shape[0], int(zs.mean()) + half)
        return [*lab.GetSize()[:2], hi - lo], [0, 0, lo]

    _cut_cases(raw, out, slab)


def cut_lung_crops(raw: Path, out: Path, lung_label: int, margin: int = 3, below: int = 8) -> None:
    """``out/img``, ``out/ref``: each case cut in plane to ``lung_label``'s box (``margin`` voxels
    around it) and axially from ``below`` slices under the lung to one slice above it, in the stored
    voxel order (the box of a lung is the same whichever way the axes run)."""

    def crop(lab_file, lab, arr):
        z, y, x = np.nonzero(arr == lung_label)
        if z.size == 0:
            raise SystemExit(f"{lab_file}: no voxel of label {lung_label} to crop around")
        # the lung's caudal end is its lowest physical z: below it in index order when the z axis runs
        # up (direction +1), above it when it runs down
        up = lab.GetDirection()[8] > 0
        z_lo, z_hi = (z.min() - below, z.max() + 2) if up else (z.min() - 1, z.max() + below + 1)
        lo = [max(0, int(v)) for v in (x.min() - margin, y.min() - margin, z_lo)]
        top = (x.max() + margin + 1, y.max() + margin + 1, z_hi)
        hi = [min(n, int(v)) for n, v in zip(lab.GetSize(), top)]
        return [h - lw for h, lw in zip(hi, lo)], lo

    _cut_cases(raw, out, crop)


def cut_below_lungs(raw: Path, out: Path, mm: float, lung_labels: tuple[int, ...]) -> None:
    """``out/img``, ``out/ref``: each case cut to ``mm`` of axial extent starting one slice below the
    caudal end of its lungs (labels ``lung_labels``), whichever way its z axis runs; a case whose lungs
    leave less than ``mm`` below them is refused, naming it."""

    def slab(lab_file, lab, arr):
        zs = np.flatnonzero(np.isin(arr, lung_labels).any(axis=(1, 2)))
        if zs.size == 0:
            raise SystemExit(f"{lab_file}: no lung voxel to cut below")
        n = max(1, int(round(mm / lab.GetSpacing()[2])))
        up = lab.GetDirection()[8] > 0  # physical z grows with the index: below the lungs is lower
        lo, hi = (int(zs.min()) - n, int(zs.min())) if up else (int(zs.max()) + 1, int(zs.max()) + 1 + n)
        if lo < 0 or hi > arr.shape[0]:
            raise SystemExit(f"{lab_file}: less than {mm:g} mm below the lungs")
        return [*lab.GetSize()[:2], hi - lo], [0, 0, lo]

    _cut_cases(raw, out, slab)


def organs_held(ref_dir: Path, organs: list[str]) -> list[str]:
    """The organs of ``organs`` that some reference label map of ``ref_dir`` holds."""
    labels = json.loads((ref_dir / "labels.json").read_text())
    values = set()
    for ref_file in sorted(ref_dir.glob("*.nii.gz")):
        values |= {int(v) for v in np.unique(sitk.GetArrayFromImage(sitk.ReadImage(str(ref_file))))}
    return [o for o in organs if labels[o] in values]


def absent_in_slabs_ml(ref_dir: Path, pred_dir: Path, organs: list[str]) -> dict[str, float]:
    """Organ -> mL the predictions give it, averaged over the cases, in the cases whose reference slab
    holds none of it (0 where every slab holds it); ``"all"``: the sum over the organs."""
    ref_labels = json.loads((ref_dir / "labels.json").read_text())
    pred_labels = json.loads((pred_dir / "labels.json").read_text())
    cases = sorted(ref_dir.glob("*.nii.gz"))
    total = {o: 0.0 for o in organs}
    for ref_file in cases:
        ref = sitk.GetArrayFromImage(sitk.ReadImage(str(ref_file)))
        pred = sitk.ReadImage(str(pred_dir / ref_file.name))
        arr, voxel_ml = sitk.GetArrayFromImage(pred), float(np.prod(pred.GetSpacing())) / 1000.0
        for organ in organs:
            if organ in pred_labels and not (ref == ref_labels[organ]).any():
                total[organ] += float((arr == pred_labels[organ]).sum() * voxel_ml)
    out = {o: v / max(1, len(cases)) for o, v in total.items()}
    return {"all": sum(out.values()), **out}


def threshold_lung_reference(image_file: Path, out_file: Path, hu: float = -400.0) -> None:
    """The largest connected region below ``hu`` of ``image_file`` as label 1 (``lung_right``), same grid;
    ``labels.json`` beside it."""
    from scipy import ndimage

    image = sitk.ReadImage(str(image_file))
    comp, n = ndimage.label(sitk.GetArrayFromImage(image) < hu)
    if n == 0:
        raise SystemExit(f"{image_file}: nothing below {hu} HU")
    largest = 1 + int(np.argmax(np.bincount(comp.ravel())[1:]))
    ref = sitk.GetImageFromArray((comp == largest).astype(np.uint8))
    ref.CopyInformation(image)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(ref, str(out_file))
    (out_file.parent / "labels.json").write_text(json.dumps({"background": 0, "lung_right": 1}))


def absent_organ_ml(real: Path, pred_file: Path, pred_labels: dict[str, int]) -> dict[str, float]:
    """Organ of :data:`REAL_ABSENT` -> mL the prediction gives it on the real sample, where TotalSegmentator
    labels none of it (checked here: its segmentation holds no label of that organ)."""
    ts = {int(k): v for k, v in json.loads((real / "ts_labels_total_v2.json").read_text()).items()}
    present = {ts[int(v)] for v in np.unique(sitk.GetArrayFromImage(
        sitk.ReadImage(str(real / "ts_dicom_ct_seg.nii.gz")))) if int(v) in ts}
    pred = sitk.ReadImage(str(pred_file))
    arr, voxel_ml = sitk.GetArrayFromImage(pred), float(np.prod(pred.GetSpacing())) / 1000.0
    out = {}
    for organ in REAL_ABSENT:
        found = sorted(n for n in present if n.startswith(_TS_PREFIXES[organ]))
        if found:
            raise SystemExit(f"{real}: TotalSegmentator labels {', '.join(found)} in the sample, so {organ} "
                             "is not absent there")
        out[organ] = float((arr == pred_labels[organ]).sum() * voxel_ml) if organ in pred_labels else 0.0
    return out


def predict_and_score(model: Path, images: Path, ref: Path, pred: Path, extra: list[str],
                      ref_labels: Path | None = None, organs: tuple[str, ...] = ()) -> dict[str, float]:
    """Organ -> Dice averaged over the cases (torsoseg_predict, then torsoseg_evaluate)."""
    subprocess.run([sys.executable, "-m", "torsoseg.cli.predict", "-m", str(model), "-i", str(images),
                    "-o", str(pred), "--no-progress", *extra], check=True, stdout=subprocess.DEVNULL)
    cmd = [sys.executable, "-m", "torsoseg.cli.evaluate", "--ref", str(ref), "--pred", str(pred),
           "-o", str(pred / "evaluation.json"), "--no-progress"]
    if ref_labels is not None:
        cmd += ["--ref-labels", str(ref_labels)]
    if organs:
        cmd += ["--organs", ",".join(organs)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    dice = json.loads((pred / "evaluation.json").read_text())["summary"]["dice"]
    return {o: _avg(v) for o, v in dice.items()}


def _avg(stats: dict) -> float:
    """An organ's average Dice; NaN where the evaluation wrote null (absent from every case)."""
    return float("nan") if stats.get("avg") is None else float(stats["avg"])


def row(name: str, scores: dict[str, float], organs: list[str]) -> str:
    vals = [scores.get(o, float("nan")) for o in organs]
    mean = float(np.nanmean(vals)) if not all(np.isnan(vals)) else float("nan")
    return f"| {name} | {mean:.3f} | " + " | ".join("n/a" if np.isnan(v) else f"{v:.3f}" for v in vals) + " |"


def figure(path: Path, real: Path, rows: list[tuple[str, Path]], slab_name: str) -> None:
    """One row per (title, work folder): the real CT's middle slice (TotalSegmentator labels | the model's)
    and the first test case's ``slab_name`` slab (reference | model)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import make_phantom_figures as mpf  # the shared colours and slice helpers

    from torsoseg.imageio import read_image, resample_to_grid

    def panels(axs, image, ref, ref_labels, pred, pred_labels, what, title):
        image, ref, pred = (mpf.canonical(read_image(f)) for f in (image, ref, pred))
        ref = ref if ref.geometry.same_grid(image.geometry) else resample_to_grid(ref, image.geometry, True)
        z = image.shape[2] // 2
        aspect = image.spacing[1] / image.spacing[0]
        sides = ((ref, ref_labels, "reference"), (pred, pred_labels, title))
        for ax, (labels, table, name) in zip(axs, sides):
            mapped, names = mpf.name_map(table, labels.array)
            mpf.show(ax, mpf.axial(image.array, z), mpf.axial(mapped, z), names, aspect, mpf.WINDOW,
                     f"{what}\n{name}")
        return names

    fig, axs = mpf.plt.subplots(len(rows), 4, figsize=(16, 5.0 * len(rows) + 0.6), squeeze=False)
    ts_labels = {v: int(k) for k, v in json.loads((real / "ts_labels_total_v2.json").read_text()).items()}
    for ax_row, (title, work) in zip(axs, rows):
        real_pred, slab = work / "real" / "pred", work / slab_name
        names = panels(ax_row[:2], real / "ts_dicom_ct", real / "ts_dicom_ct_seg.nii.gz", ts_labels,
                       real_pred / "ts_dicom_ct.nii.gz", json.loads((real_pred / "labels.json").read_text()),
                       "real CT, 40 mm (TotalSegmentator sample)", title)
        case = sorted((slab / "ref").glob("*.nii.gz"))[0].name[: -len(".nii.gz")]
        panels(ax_row[2:], slab / "img" / f"{case}_0000.nii.gz", slab / "ref" / f"{case}.nii.gz",
               json.loads((slab / "ref" / "labels.json").read_text()), slab / "pred" / f"{case}.nii.gz",
               json.loads((slab / "pred" / "labels.json").read_text()), f"phantom {case}, {slab.name}", title)
    mpf.legend(fig, names)
    fig.tight_layout(rect=(0, 0.5 / (5.0 * len(rows) + 0.6), 1, 0.98), h_pad=2.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=70)


def _fmt(scores: dict[str, float]) -> str:
    v = scores.get("lung_right", float("nan"))
    return "n/a" if np.isnan(v) else f"{v:.3f}"


def _mean_std(values: list[float]) -> str:
    """``mean ± sample std`` of the finite values (as scripts/demo_seeds.py); ``n/a`` where undefined."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    mean = f"{v.mean():.3f}" if v.size else "n/a"
    std = f"{v.std(ddof=1):.3f}" if v.size > 1 else ("0.000" if len(values) == 1 and v.size else "n/a")
    return f"{mean} ± {std}"


def summarize(works: list[Path]) -> str:
    """Markdown table: per input of the runs' work folders, mean ± std over the runs (per organ and mean)."""
    inputs = sorted({e.parent.parent.name for w in works for e in w.glob("*/pred/evaluation.json")},
                    key=lambda n: (n in FIXED_ORGANS, n == "real_lung", n != "whole", n == "lung_crop",
                                   n.startswith("below_lungs_"), _thickness(n)))
    lines, header = [], None
    for name in inputs:
        files = [w / name / "pred" / "evaluation.json" for w in works]
        runs = [json.loads(f.read_text())["summary"]["dice"] for f in files]
        organs = list(FIXED_ORGANS[name]) if name in FIXED_ORGANS else sorted(
            set.intersection(*(set(r) for r in runs)), key=list(runs[0]).index)
        per = {o: [_avg(r[o]) for r in runs] for o in organs}
        means = [float(np.nanmean([per[o][i] for o in organs])) for i in range(len(works))]
        if organs != header or name in FIXED_ORGANS:  # a new table wherever the organs scored change
            lines += ["", f"| input | mean | {' | '.join(organs)} |", "|---" * (len(organs) + 2) + "|"]
            header = organs
        cells = [_mean_std(v) for v in [means, *per.values()]]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    below = sorted({f.parent.parent.name for w in works for f in w.glob(f"below_lungs_*/pred/{ABSENT_FILE}")},
                   key=_thickness)
    for i, name in enumerate(below):
        files = [w / name / "pred" / ABSENT_FILE for w in works]
        if not all(f.is_file() for f in files):
            continue
        runs = [json.loads(f.read_text()) for f in files]
        keys = list(runs[0])
        if i == 0:
            lines += ["", f"| input (mL, mean over the cases) | {' | '.join(keys)} |",
                      "|---" * (len(keys) + 1) + "|"]
        lines.append(f"| {name}: organs it does not hold | "
                     + " | ".join(_mean_std_ml([float(r[k]) for r in runs]) for k in keys) + " |")
    absent_files = [w / "real" / "pred" / ABSENT_FILE for w in works]
    if all(f.is_file() for f in absent_files):
        runs = [json.loads(f.read_text()) for f in absent_files]
        per = {o: [float(r[o]) for r in runs] for o in REAL_ABSENT}
        total = [sum(r[o] for o in REAL_ABSENT) for r in runs]
        cells = " | ".join(_mean_std_ml(v) for v in [total, *per.values()])
        lines += ["", f"| input (mL) | all | {' | '.join(REAL_ABSENT)} |",
                  "|---" * (len(REAL_ABSENT) + 2) + "|", f"| real: organs it does not hold | {cells} |"]
    runs_text = ", ".join(str(w) for w in works)
    return "\n".join(lines[1:]) + f"\n\n(mean ± std over {len(works)} runs: {runs_text})"


def _thickness(name: str) -> float:
    """The mm of a ``slab_40mm`` or ``below_lungs_40mm`` input (0 for the others), to order them."""
    for prefix in ("slab_", "below_lungs_"):
        if name.startswith(prefix) and name.endswith("mm"):
            return float(name[len(prefix):-2])
    return 0.0


def _mean_std_ml(values: list[float]) -> str:
    v = np.asarray(values, dtype=np.float64)
    return f"{v.mean():.0f} ± {v.std(ddof=1):.0f}" if v.size > 1 else f"{v.mean():.0f}"


def input_problems(model: Path, test: Path, real: Path | None, lung_crop: bool = False) -> list[str]:
    """What is missing from the inputs, one message per problem naming the path (empty when none is);
    the real lung CT is needed only with ``lung_crop``."""
    problems = []
    if not (model / "plans.json").is_file():
        problems.append(f"{model}: not a trained model folder (no plans.json)")
    for need in (test / "dataset.json", test / "imagesTr", test / "labelsTr"):
        if not need.exists():
            problems.append(f"{test}: no {need.name} (--test must be a raw dataset folder)")
    if real is not None:
        names = ["ts_dicom_ct", "ts_dicom_ct_seg.nii.gz", "ts_labels_total_v2.json"] + [REAL_LUNG] * lung_crop
        for name in names:
            if not (real / name).exists():
                problems.append(f"{real}: no {name} (--real must be the shared real CT samples folder)")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, nargs="?", help="trained model folder")
    p.add_argument("--summarize", type=Path, nargs="+", default=None, metavar="WORK",
                   help="only summarize the --work folders of earlier runs")
    p.add_argument("--test", type=Path,
                   help="raw test dataset (imagesTr, labelsTr, dataset.json)")
    p.add_argument("--slabs", type=float, nargs="*", default=[40.0, 80.0, 160.0],
                   help="slab thicknesses (mm); --slabs with no value cuts none")
    p.add_argument("--below-lungs", type=float, nargs="*", default=[], metavar="MM",
                   help="also cut slabs of these thicknesses (mm) just below the lungs and report the mL "
                   "labelled as organs they do not hold")
    p.add_argument("--lung-crop", action="store_true",
                   help="also score in-plane crops around the right lung (and, with --real, the real one)")
    p.add_argument("--real", type=Path, default=None, help="the shared real CT samples folder")
    p.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    p.add_argument("--figure", type=Path, default=None, help="with --real: draw this PNG")
    p.add_argument("--title", default="model", help="the model's name in the figure")
    p.add_argument("--no-postprocessing", action="store_true",
                   help="predict without the model's postprocessing")
    args = p.parse_args(argv)
    if args.figure is not None and (args.real is None or not args.slabs):
        p.error("--figure needs --real and at least one --slabs thickness")
    if args.summarize:
        print(summarize(args.summarize))
        if args.figure is not None and args.real is not None:
            rows = [(w.name, w) for w in args.summarize]
            figure(args.figure, args.real, rows, f"slab_{args.slabs[0]:g}mm")
        return 0
    if args.model is None or args.test is None:
        p.error("MODEL_FOLDER and --test are required (or --summarize WORK...)")
    problems = input_problems(args.model, args.test, args.real, args.lung_crop)
    if problems:
        p.error("; ".join(problems))
    work = args.work or Path(tempfile.mkdtemp(prefix="coverage_check_"))
    extra = ["--no-postprocessing"] if args.no_postprocessing else []
    labels = json.loads((args.test / "dataset.json").read_text())["labels"]
    organs = [o for o in labels if o != "background"]
    lines = [f"| input | mean | {' | '.join(organs)} |", "|---" * (len(organs) + 2) + "|"]
    whole = predict_and_score(args.model, args.test / "imagesTr", args.test, work / "whole" / "pred", extra)
    lines.append(row("whole scan", whole, organs))
    for mm in args.slabs:
        folder = work / f"slab_{mm:g}mm"
        cut_slabs(args.test, folder, mm, labels["spleen"])
        scores = predict_and_score(args.model, folder / "img", folder / "ref", folder / "pred", extra)
        lines.append(row(f"{mm:g} mm slab", scores, organs))
    absent_lines: list[str] = []  # a table of its own, after the Dice rows
    for mm in args.below_lungs:
        folder = work / f"below_lungs_{mm:g}mm"
        cut_below_lungs(args.test, folder, mm, (labels["lung_right"], labels["lung_left"]))
        held = organs_held(folder / "ref", organs)  # Dice only for these; the others count in mL
        scores = predict_and_score(args.model, folder / "img", folder / "ref", folder / "pred", extra,
                                   organs=tuple(held))
        lines.append(row(f"{mm:g} mm below the lungs", scores, organs))
        absent = absent_in_slabs_ml(folder / "ref", folder / "pred", organs)
        (folder / "pred" / ABSENT_FILE).write_text(json.dumps(absent, indent=1))
        if not absent_lines:
            absent_lines += ["", f"| input (mL, mean over the cases) | {' | '.join(absent)} |",
                             "|---" * (len(absent) + 1) + "|"]
        absent_lines.append(f"| {mm:g} mm below the lungs: organs it does not hold | "
                            + " | ".join(f"{v:.0f}" for v in absent.values()) + " |")
    if args.lung_crop:
        folder = work / "lung_crop"
        cut_lung_crops(args.test, folder, labels["lung_right"])
        scores = predict_and_score(args.model, folder / "img", folder / "ref", folder / "pred", extra)
        lines.append(row("right-lung crop", scores, organs))
    lines += absent_lines
    if args.real is not None:
        ref = work / "real" / "ref"
        ref.mkdir(parents=True, exist_ok=True)
        (ref / "ts_dicom_ct.nii.gz").write_bytes((args.real / "ts_dicom_ct_seg.nii.gz").read_bytes())
        scores = predict_and_score(args.model, args.real / "ts_dicom_ct", ref, work / "real" / "pred", extra,
                                   ref_labels=args.real / "ts_labels_total_v2.json", organs=REAL_ORGANS)
        lines += ["", f"| input | mean | {' | '.join(REAL_ORGANS)} |", "|---" * (len(REAL_ORGANS) + 2) + "|",
                  row("real CT, 40 mm (TotalSegmentator labels)", scores, list(REAL_ORGANS))]
        pred_dir = work / "real" / "pred"
        absent = absent_organ_ml(args.real, pred_dir / "ts_dicom_ct.nii.gz",
                                 json.loads((pred_dir / "labels.json").read_text()))
        (pred_dir / ABSENT_FILE).write_text(json.dumps(absent, indent=1))
        lines += ["", f"| input | all | {' | '.join(REAL_ABSENT)} |", "|---" * (len(REAL_ABSENT) + 2) + "|",
                  "| real CT, 40 mm: mL labelled as organs it does not hold | "
                  + " | ".join(f"{v:.0f}" for v in [sum(absent.values()), *absent.values()]) + " |"]
        if args.lung_crop:
            folder = work / "real_lung"
            (folder / "img").mkdir(parents=True, exist_ok=True)
            (folder / "img" / REAL_LUNG).write_bytes((args.real / REAL_LUNG).read_bytes())
            case = REAL_LUNG[: -len(".mha")]
            threshold_lung_reference(args.real / REAL_LUNG, folder / "ref" / f"{case}.nii.gz")
            scores = predict_and_score(args.model, folder / "img", folder / "ref", folder / "pred", extra)
            lines += ["", "| input | lung_right |", "|---|---|",
                      f"| real right-lung crop (elastix; reference: below -400 HU) | {_fmt(scores)} |"]
        if args.figure is not None and args.slabs:
            figure(args.figure, args.real, [(args.title, work)], f"slab_{args.slabs[0]:g}mm")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
