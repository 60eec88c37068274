"""WORD: imagesTr/Val/Ts with labels, 16 structures, official test split kept apart."""

from __future__ import annotations

from tests.dataset_conversion.trees import assert_converted, load_dataset, make_case, read, write
from torsoseg import organs
from torsoseg.dataset_conversion import convert
from torsoseg.dataset_conversion.word import LABELS

NAMES = [LABELS[v] for v in sorted(LABELS)]
CANON = [organs.canonical_name(n) for n in NAMES]


def test_word_layout(tmp_path):
    root = tmp_path / "WORD-V0.1.0"
    cases = {}
    for i, split in ((1, "Tr"), (2, "Val"), (3, "Ts")):
        c = make_case(NAMES, seed=i, orientation="RAS" if i == 2 else "LPS")
        write(c.image, root / f"images{split}" / f"word_{i:04d}.nii.gz")
        write(c.label_map, root / f"labels{split}" / f"word_{i:04d}.nii.gz")
        cases[f"word_{i:04d}"] = c
    out = convert("word", tmp_path, tmp_path / "raw", 31)
    assert CANON[2:4] == ["kidney_left", "kidney_right"]
    assert CANON[-2:] == ["femur_head_left", "femur_head_right"]
    ds = assert_converted(out, {k: cases[k] for k in ("word_0001", "word_0002")}, CANON)
    assert ds["numTraining"] == 2
    lab = read(out / "labelsTs" / "word_0003.nii.gz")
    assert (lab.array == cases["word_0003"].label_map.array).all()  # same order as the source
    out2 = convert("word", tmp_path, tmp_path / "raw2", 31, include_test=False)
    assert not (out2 / "imagesTs").exists()
    assert load_dataset(out2)["numTraining"] == 2
