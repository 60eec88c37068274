"""A dataset with a label outside the organ vocabulary (``lesion``) goes through every CLI: convert (nnU-Net
raw import), plan and preprocess, train (a few steps), predict and evaluate; the custom label keeps its
exact name everywhere."""

from __future__ import annotations

import json

import numpy as np
import pytest

from torsoseg.imageio import Volume, read_image, write_image

SHAPE = (40, 36, 20)
SPACING = (2.0, 2.0, 3.0)


def _case(seed: int) -> tuple[Volume, Volume]:
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in SHAPE], indexing="ij")
    body = ((x - 20) / 17) ** 2 + ((y - 18) / 15) ** 2 < 1.0
    cx, cy, cz = 14 + rng.integers(-2, 3), 16 + rng.integers(-2, 3), 10 + rng.integers(-2, 3)
    liver = body & (((x - cx) / 8) ** 2 + ((y - cy) / 7) ** 2 + ((z - cz) / 6) ** 2 < 1.0)
    lesion = liver & (((x - cx - 2) / 3) ** 2 + ((y - cy) / 3) ** 2 + ((z - cz) / 3) ** 2 < 1.0)
    ct = np.where(body, 30.0, -1000.0) + rng.normal(0, 10, SHAPE)
    ct[liver] = 90 + rng.normal(0, 10, int(liver.sum()))
    ct[lesion] = 10 + rng.normal(0, 10, int(lesion.sum()))
    label = np.zeros(SHAPE, np.uint8)
    label[liver] = 1
    label[lesion] = 2
    geo = dict(spacing=SPACING, origin=(-40.0, -30.0, 10.0), direction=((1, 0, 0), (0, 1, 0), (0, 0, 1)))
    return Volume(ct.astype(np.int16), **geo), Volume(label, **geo)


@pytest.mark.slow
def test_lesion_label_converts_plans_trains_predicts_and_evaluates(tmp_path, capsys):
    from torsoseg.cli.convert import main as convert
    from torsoseg.cli.evaluate import main as evaluate
    from torsoseg.cli.plan_and_preprocess import main as plan
    from torsoseg.cli.predict import main as predict
    from torsoseg.cli.train import main as train

    src = tmp_path / "Dataset077_Lesions"
    for k in range(4):
        image, label = _case(k)
        write_image(image, src / "imagesTr" / f"les_{k:03d}_0000.nii.gz")
        write_image(label, src / "labelsTr" / f"les_{k:03d}.nii.gz")
    (src / "dataset.json").write_text(json.dumps({
        "channel_names": {"0": "CT"}, "labels": {"background": 0, "Liver": 1, "lesion": 2},
        "numTraining": 4, "file_ending": ".nii.gz"}))
    raw, pre, res = tmp_path / "raw", tmp_path / "pre", tmp_path / "res"

    assert convert(["nnunet", "-i", str(src), "-d", "7", "--raw", str(raw), "--no-progress"]) == 0
    ds_dir = raw / "Dataset007_Lesions"
    labels = json.loads((ds_dir / "dataset.json").read_text())["labels"]
    assert labels == {"background": 0, "liver": 1, "lesion": 2}  # organ renamed, custom label kept verbatim

    assert plan(["-d", "7", "--raw", str(raw), "--preprocessed", str(pre), "-np", "1", "--no-progress"]) == 0
    assert train(["7", "--fold", "all", "--preset", "cpu", "--epochs", "1", "--iterations-per-epoch", "2",
                  "--device", "cpu", "--workers", "0", "--preprocessed", str(pre), "--results", str(res),
                  "--no-progress"]) == 0

    test_in = tmp_path / "test_in"
    image, label = _case(9)
    write_image(image, test_in / "les_900_0000.nii.gz")
    write_image(label, tmp_path / "ref" / "les_900.nii.gz")
    (tmp_path / "ref" / "labels.json").write_text(json.dumps(labels))
    out = tmp_path / "pred"
    assert predict(["-i", str(test_in), "-o", str(out), "-d", "7", "--results", str(res), "-f", "all",
                    "-device", "cpu", "--statistics", "--no-progress"]) == 0
    assert json.loads((out / "labels.json").read_text()) == labels
    assert read_image(out / "les_900.nii.gz").geometry.same_grid(image.geometry)
    assert sorted(json.loads((out / "les_900_statistics.json").read_text())) == ["lesion", "liver"]

    capsys.readouterr()
    rc = evaluate(["--ref", str(tmp_path / "ref"), "--pred", str(out), "--no-progress",
                   "-o", str(tmp_path / "eval.json")])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "lesion: reference 'lesion' (2) <-> prediction 'lesion' (2)" in captured.out
    result = json.loads((tmp_path / "eval.json").read_text())
    assert "lesion" in result["organs"] and "lesion" in result["cases"][0]["organs"]
