"""``MultiModelPredictor``: two tiny models with hand-set probabilities through the whole pipeline."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.inference.model_factory import make_model_dir, tiny_plans
from torsoseg.imageio import Volume
from torsoseg.inference import MultiModelPredictor, Predictor

ABDOMEN = {"background": 0, "liver": 1, "stomach": 2}
VISCERAL = {"background": 0, "liver": 1, "kidney_left": 2, "kidney_right": 3}
REGION_HU = (-300, -40, 220, 480, 740, 1000)   # six blocks of the body along input axis 0
# per region the probabilities of each model (as in tests/inference/test_merge.py)
ABDOMEN_P = [[0.30, 0.10, 0.60], [0.20, 0.70, 0.10], [0.30, 0.60, 0.10],
             [0.10, 0.20, 0.70], [0.05, 0.90, 0.05], [0.90, 0.05, 0.05]]
VISCERAL_P = [[0.90, 0.05, 0.03, 0.02], [0.40, 0.50, 0.05, 0.05], [0.80, 0.10, 0.05, 0.05],
              [0.10, 0.10, 0.80, 0.00], [0.05, 0.60, 0.35, 0.00], [0.10, 0.00, 0.20, 0.70]]
# merged: stomach (only abdomen), liver (both), background (both disagree), kidney_left (conflict),
# liver (conflict won by the mean), kidney_right (only visceral)
EXPECTED = [2, 1, 0, 3, 1, 4]
BLOCK = 8


class BandNet(torch.nn.Module):
    """Pointwise "network": the HU band of each voxel selects fixed log-probabilities (air: background)."""

    def __init__(self, probs: list[list[float]], mean: float, std: float):
        super().__init__()
        table = np.log(np.clip(np.array(probs, dtype=np.float64), 1e-6, None))
        air = np.log(np.array([0.99] + [0.01 / (table.shape[1] - 1)] * (table.shape[1] - 1)))
        self.register_buffer("table", torch.as_tensor(np.vstack([air, table]), dtype=torch.float32))
        self.register_buffer("edges", torch.as_tensor([-500.0] + [h + 130.0 for h in REGION_HU[:-1]]))
        self.mean, self.std = mean, std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hu = x[:, 0] * self.std + self.mean
        band = torch.bucketize(hu, self.edges)
        return self.table[band].permute(0, 4, 1, 2, 3).contiguous()


def band_predictor(labels, probs, spacing, name) -> Predictor:
    plans = replace(tiny_plans(labels, patch_size=(16, 16, 16), target_spacing=spacing), dataset_name=name)
    n = plans.normalization
    return Predictor([BandNet(probs, n.mean, n.std)], plans, labels, device="cpu", precision="fp32")


def body_volume() -> Volume:
    """Air margin of 2 voxels around a body of six 8-voxel blocks along axis 0, stored RAS (flipped)."""
    arr = np.full((BLOCK * 6 + 4, 14, 12), -1000, np.int16)
    for r, hu in enumerate(REGION_HU):
        arr[2 + r * BLOCK:2 + (r + 1) * BLOCK, 2:-2, 2:-2] = hu
    ras = ((-1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, 1.0))
    return Volume(arr, (2.0, 2.5, 3.0), (10.0, -5.0, 7.0), ras)


def block_centres(seg: np.ndarray) -> list[int]:
    return [int(seg[2 + r * BLOCK + BLOCK // 2, 7, 6]) for r in range(6)]


@pytest.fixture(scope="module")
def merged():
    a = band_predictor(ABDOMEN, ABDOMEN_P, (2.0, 2.5, 3.0), "Dataset001_Abdomen")    # the input's spacing
    v = band_predictor(VISCERAL, VISCERAL_P, (4.0, 5.0, 6.0), "Dataset002_VISCERAL")  # 2x coarser
    return MultiModelPredictor([a, v], names=["abdomen", "visceral"])


def test_merged_labels_are_the_hand_computed_ones(merged):
    vol = body_volume()
    result = merged.predict_case(vol, probabilities=True)
    seg = result.label_map
    assert merged.labels == {"background": 0, "liver": 1, "stomach": 2, "kidney_left": 3, "kidney_right": 4}
    assert seg.geometry.same_grid(vol.geometry)
    assert block_centres(seg.array) == EXPECTED
    assert seg.array[:2].max() == 0 and seg.array[-2:].max() == 0    # air: background of both
    probs = result.probabilities
    assert probs.shape == (5, *vol.shape) and probs.dtype == np.float16
    c = (2 + 4 * BLOCK + BLOCK // 2, 7, 6)   # region 4: liver .9 and .6 -> .75
    assert probs[(1, *c)] == pytest.approx(0.75, abs=5e-3)
    assert probs[(3, *c)] == pytest.approx(0.35, abs=5e-3)


def test_one_model_merged_is_that_model(merged):
    vol = body_volume()
    single = merged.predictors[1]
    alone = MultiModelPredictor([single]).predict(vol)
    np.testing.assert_array_equal(alone.array, single.predict(vol).array)


def test_models_with_different_inputs_are_refused():
    ct = band_predictor(ABDOMEN, ABDOMEN_P, (2.0, 2.5, 3.0), "Dataset001_Abdomen")
    mr_plans = replace(ct.plans, channel_names={"0": "T1"})
    mr = Predictor(ct.networks, mr_plans, ABDOMEN, device="cpu", precision="fp32")
    with pytest.raises(ValueError, match=r"models abdomen and mri expect different inputs.*T1"):
        MultiModelPredictor([ct, mr], names=["abdomen", "mri"])
    two = replace(ct.plans, channel_names={"0": "CT", "1": "CT"})
    two_channels = Predictor(ct.networks, two, ABDOMEN, device="cpu")
    with pytest.raises(ValueError, match=r"models abdomen and two .*: 1 channel.* 2 chan"):
        MultiModelPredictor([ct, two_channels], names=["abdomen", "two"])


def test_from_model_dirs_names_the_folder_of_a_bad_label(tmp_path):
    good = make_model_dir(tmp_path / "a", plans=tiny_plans({"background": 0, "liver": 1}))
    bad = make_model_dir(tmp_path / "b", plans=replace(tiny_plans({"background": 0, "spleeen": 1}),
                                                       dataset_name="Dataset998_Typo"))
    with pytest.raises(ValueError, match=r"Dataset998_Typo.*label 'spleeen' maps to no known organ"):
        MultiModelPredictor.from_model_dirs([good, bad], device="cpu")
    ok = MultiModelPredictor.from_model_dirs([good, good], weights=[1, 3], device="cpu")
    assert ok.labels == {"background": 0, "liver": 1} and ok.merge_plan.weights == (1.0, 3.0)
