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
