"""scripts/cascade_table.py: the cascade vs 3d_fullres table (the prediction part needs trained models)."""

from __future__ import annotations

import pytest

from tests.script_modules import load_script


def _module():
    return load_script("scripts/cascade_table.py")


def test_the_table_bolds_the_small_organs_and_averages_them_apart():
    m = _module()
    full = {"liver": 0.9, "pancreas": 0.4, "gallbladder": 0.2, "kidney_left": 0.8}
    casc = {"liver": 0.92, "pancreas": 0.5, "gallbladder": 0.1, "kidney_left": 0.8}
    rows = m.markdown(full, casc).splitlines()
    assert "| **pancreas** | 0.400 | 0.500 | +0.100 |" in rows
    assert "| liver | 0.900 | 0.920 | +0.020 |" in rows
    assert "| mean, small organs | 0.300 | 0.300 | +0.000 |" in rows
    assert rows[-1] == "| mean, all organs | 0.575 | 0.580 | +0.005 |"


def test_several_seeds_give_mean_and_spread_with_the_difference_taken_seed_by_seed():
    m = _module()
    full = {"liver": [0.8, 0.9], "pancreas": [0.4, 0.2]}
    casc = {"liver": [0.9, 0.9], "pancreas": [0.5, 0.1]}
    rows = m.markdown(full, casc).splitlines()
    assert rows[0] == "| organ | 3d_fullres | cascade | cascade - fullres (2 seeds) |"
    assert "| liver | 0.850 ± 0.050 | 0.900 ± 0.000 | +0.050 ± 0.050 |" in rows
    assert "| **pancreas** | 0.300 ± 0.100 | 0.300 ± 0.200 | +0.000 ± 0.100 |" in rows
    assert rows[-1] == "| mean, all organs | 0.575 ± 0.025 | 0.600 ± 0.100 | +0.025 ± 0.075 |"
    with pytest.raises(ValueError, match="same number of seeds"):
        m.markdown({"liver": [0.8, 0.9]}, {"liver": [0.9]})


def test_a_missing_model_says_how_to_train_it(tmp_path):
    m = _module()
    (tmp_path / "Dataset002_VISCERAL" / "Trainer_cpu__torsoseg_plans__3d_fullres").mkdir(parents=True)
    assert m.model_folder(tmp_path, "2", "3d_fullres").name.endswith("3d_fullres")
    with pytest.raises(SystemExit, match="no trained 3d_cascade model \\(train it with -c 3d_cascade\\)"):
        m.model_folder(tmp_path, "2", "3d_cascade")


def test_the_region_mode_table_adds_the_agreement_of_the_two_predictions():
    m = _module()
    full = {"liver": [0.8, 0.9], "pancreas": [0.4, 0.2]}
    roi = {"liver": [0.8, 0.88], "pancreas": [0.4, 0.2]}
    agree = {"liver": [1.0, 0.98], "pancreas": [0.96, 1.0]}
    rows = m.markdown(full, roi, agree, "region mode").splitlines()
    assert rows[0] == ("| organ | 3d_fullres | region mode | region mode - fullres (2 seeds) "
                       "| region mode vs 3d_fullres |")
    assert "| liver | 0.850 ± 0.050 | 0.840 ± 0.040 | -0.010 ± 0.010 | 0.990 ± 0.010 |" in rows
    assert rows[-1].endswith("| 0.985 ± 0.005 |")  # mean agreement over the organs, seed by seed


def test_agreement_is_the_dice_of_two_prediction_sets_per_organ(tmp_path):
    import json

    import numpy as np

    from torsoseg.imageio import Volume, write_image

    m = _module()
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
        (folder / "labels.json").write_text(json.dumps({"background": 0, "liver": 1, "spleen": 2}))
    x = np.zeros((4, 4, 4), np.uint8)
    x[:2] = 1                      # liver: 32 voxels
    y = x.copy()
    y[1] = 0                       # the other set: 16 of them
    for folder, arr in ((a, x), (b, y)):
        write_image(Volume(arr, (1.0, 1.0, 1.0)), folder / "case_1.nii.gz")
    # liver: 2 * 16 / (32 + 16); spleen: neither predicts it, so it is left out
    assert m.agreement(a, b) == {"liver": 2 * 16 / 48}


def test_roi_and_results_exclude_each_other(tmp_path, capsys):
    m = _module()
    with pytest.raises(SystemExit):
        m.main(["--test", str(tmp_path), "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        m.main(["--results", str(tmp_path), "-d", "2", "--roi", "a", "b", "--test", str(tmp_path),
                "--out", str(tmp_path)])
    assert "either --results with -d, or --roi FINE COARSE" in capsys.readouterr().err


def test_roi_subset_needs_the_region_mode(tmp_path, capsys):
    m = _module()
    with pytest.raises(SystemExit):
        m.main(["--results", str(tmp_path), "-d", "2", "--roi-subset", "pancreas", "--test", str(tmp_path),
                "--out", str(tmp_path)])
    assert "--roi-subset needs --roi" in capsys.readouterr().err
