"""AMOS22: MSD-style dataset.json, the "arota" spelling, MRI ids >= 500 skipped."""

from __future__ import annotations

from tests.dataset_conversion.trees import assert_converted, load_dataset, make_case, write, write_json
from torsoseg import organs
from torsoseg.dataset_conversion import convert
from torsoseg.dataset_conversion.amos import LABELS

NAMES = [LABELS[v] for v in sorted(LABELS)]
CANON = [organs.canonical_name(n) for n in NAMES]


def test_amos_layout(tmp_path):
    root = tmp_path / "amos22"
    training, validation, cases = [], [], {}
    for num, split in ((1, "Tr"), (7, "Va"), (540, "Tr")):
        c = make_case(NAMES, seed=num, orientation="RAS" if num == 7 else "LPS")
        write(c.image, root / f"images{split}" / f"amos_{num:04d}.nii.gz")
        write(c.label_map, root / f"labels{split}" / f"amos_{num:04d}.nii.gz")
        entry = {"image": f"./images{split}/amos_{num:04d}.nii.gz",
                 "label": f"./labels{split}/amos_{num:04d}.nii.gz"}
        (training if split == "Tr" else validation).append(entry)
        if num < 500:
            cases[f"amos_{num:04d}"] = c
    write_json({"name": "AMOS", "modality": {"0": "CT"},
                "labels": {"0": "background", **{str(v): n for v, n in LABELS.items()}},
                "training": training, "validation": validation,
                "test": [{"image": "./imagesTs/amos_0002.nii.gz"}]}, root / "dataset.json")
    out = convert("amos", tmp_path, tmp_path / "raw", 21)
    ds = assert_converted(out, cases, CANON)
    assert ds["numTraining"] == 2  # amos_0540 is MRI
    assert "aorta" in ds["labels"] and ds["source_labels"]["aorta"] == [{"name": "arota", "value": 8}]
    assert ds["source_labels"]["inferior_vena_cava"] == [{"name": "postcava", "value": 9}]


def test_amos_without_dataset_json(tmp_path):
    c = make_case(NAMES, seed=3)
    write(c.image, tmp_path / "imagesTr" / "amos_0003.nii.gz")
    write(c.label_map, tmp_path / "labelsTr" / "amos_0003.nii.gz")
    out = convert("amos", tmp_path, tmp_path / "raw", 21, organs=["aorta", "ivc"])
    assert load_dataset(out)["labels"] == {"background": 0, "aorta": 1, "inferior_vena_cava": 2}
