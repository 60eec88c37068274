"""How a model copes with scans that cover only part of the torso, on the phantom and on real CT.

Usage:
    python scripts/coverage_check.py MODEL_FOLDER --test RAW_TEST_DATASET [--slabs 40 80 160]
        [--real ../shared/data] [--work DIR] [--no-postprocessing]

For each test case of RAW_TEST_DATASET (a raw dataset with imagesTr/, labelsTr/, dataset.json, such as the
demo's ``raw/Dataset003_Torso``) it cuts an axial slab of each thickness (mm) centred on the spleen (the
level where liver, spleen, stomach and pancreas meet, as in the real sample below), predicts the slabs with
``torsoseg_predict`` and evaluates them by organ name. With ``--real`` it also predicts the TotalSegmentator
DICOM sample of ``../shared/data`` (a 40 mm slab of a real thorax-abdomen CT) and scores the organs both
label sets share against TotalSegmentator's labels of it (a model's output, not a manual reference: a
proxy). Prints one markdown row per input: mean Dice over the organs scored, then per organ.
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


def cut_slabs(raw: Path, out: Path, mm: float, centre_label: int) -> None:
    """``out/img``, ``out/ref``: each case cut to ``mm`` of axial extent around ``centre_label``'s centre."""
    (out / "img").mkdir(parents=True, exist_ok=True)
    (out / "ref").mkdir(parents=True, exist_ok=True)
    for lab_file in sorted((raw / "labelsTr").glob("*.nii.gz")):
        case = lab_file.name[: -len(".nii.gz")]
        lab = sitk.ReadImage(str(lab_file))
        img = sitk.ReadImage(str(raw / "imagesTr" / f"{case}_0000.nii.gz"))
        arr = sitk.GetArrayFromImage(lab)  # (z, y, x)
        zs = np.flatnonzero((arr == centre_label).any(axis=(1, 2)))
        if zs.size == 0:
            raise SystemExit(f"{lab_file}: no voxel of label {centre_label} to centre the slab on")
        half = max(1, int(round(mm / 2 / lab.GetSpacing()[2])))
        lo, hi = max(0, int(zs.mean()) - half), min(arr.shape[0], int(zs.mean()) + half)
        size, index = [*lab.GetSize()[:2], hi - lo], [0, 0, lo]
        sitk.WriteImage(sitk.RegionOfInterest(img, size, index), str(out / "img" / f"{case}_0000.nii.gz"))
        sitk.WriteImage(sitk.RegionOfInterest(lab, size, index), str(out / "ref" / f"{case}.nii.gz"))
    labels = json.loads((raw / "dataset.json").read_text())["labels"]
    (out / "ref" / "labels.json").write_text(json.dumps(labels))


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
    return {o: float(v["avg"]) for o, v in dice.items()}


def row(name: str, scores: dict[str, float], organs: list[str]) -> str:
    vals = [scores.get(o, float("nan")) for o in organs]
    mean = float(np.nanmean(vals)) if not all(np.isnan(vals)) else float("nan")
    return f"| {name} | {mean:.3f} | " + " | ".join("n/a" if np.isnan(v) else f"{v:.3f}" for v in vals) + " |"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, help="trained model folder")
    p.add_argument("--test", type=Path, required=True,
                   help="raw test dataset (imagesTr, labelsTr, dataset.json)")
    p.add_argument("--slabs", type=float, nargs="*", default=[40.0, 80.0, 160.0],
                   help="slab thicknesses (mm)")
    p.add_argument("--real", type=Path, default=None, help="the shared real CT samples folder")
    p.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    p.add_argument("--no-postprocessing", action="store_true",
                   help="predict without the model's postprocessing")
    args = p.parse_args(argv)
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
    if args.real is not None:
        ref = work / "real" / "ref"
        ref.mkdir(parents=True, exist_ok=True)
        (ref / "ts_dicom_ct.nii.gz").write_bytes((args.real / "ts_dicom_ct_seg.nii.gz").read_bytes())
        scores = predict_and_score(args.model, args.real / "ts_dicom_ct", ref, work / "real" / "pred", extra,
                                   ref_labels=args.real / "ts_labels_total_v2.json", organs=REAL_ORGANS)
        lines.append(row("real CT, 40 mm (TotalSegmentator labels)", scores, organs))
        real = ", ".join(f"{o} {scores.get(o, float('nan')):.3f}" for o in REAL_ORGANS)
        lines.append(f"real CT organs: {real}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
