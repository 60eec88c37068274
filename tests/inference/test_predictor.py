"""``Predictor``: loading model folders, geometry on real CT, ensembling, precision, API reuse."""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import pytest
import torch

from tests.inference.model_factory import TINY_LABELS, make_model_dir, save_checkpoint, tiny_plans
from torsoseg.imageio import Volume, read_image
from torsoseg.inference.export import softmax_
from torsoseg.inference.mirroring import resolve_mirror_axes
from torsoseg.inference.predictor import Predictor
from torsoseg.model_folder import ModelFolder, load_checkpoint
from torsoseg.network import precision as precision_mod


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_model_dir(tmp_path_factory.mktemp("results"), folds=(0, 1), checkpoints=("final", "best"))


@pytest.fixture(scope="module")
def predictor(model_dir):
    return Predictor.from_model_dir(model_dir, folds=[0], device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def lung_ct(shared_data_module):
    return read_image(shared_data_module / "elastix_lung_ct_small.mha")


@pytest.fixture(scope="module")
def shared_data_module():
    from tests.conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"real CT samples not found at {SHARED_DATA}")
    return SHARED_DATA


# --------------------------------------------------------------------------------------------------
# geometry variants of a real CT (same voxels, different storage)
# --------------------------------------------------------------------------------------------------


def as_ras(vol: Volume) -> Volume:
    """The same image stored right-to-left and anterior-to-posterior (flip of axes 0 and 1)."""
    n = vol.shape
    origin = vol.geometry.index_to_world(np.array([n[0] - 1, n[1] - 1, 0]))
    d = vol.geometry.direction_matrix.copy()
    d[:, 0] *= -1
    d[:, 1] *= -1
    return Volume(vol.array[::-1, ::-1, :].copy(), vol.spacing, tuple(origin), d)


def as_permuted(vol: Volume) -> Volume:
    """The same image with its array axes stored in the order (z, x, y)."""
    perm = (2, 0, 1)
    d = vol.geometry.direction_matrix[:, list(perm)]
    return Volume(np.ascontiguousarray(vol.array.transpose(perm)), tuple(np.array(vol.spacing)[list(perm)]),
                  vol.origin, d)


def as_oblique(vol: Volume, degrees: float = 12.0) -> Volume:
    """The same voxels with a direction rotated about the superior axis (an oblique acquisition)."""
    a = math.radians(degrees)
    rot = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    return Volume(vol.array, vol.spacing, vol.origin, rot @ vol.geometry.direction_matrix)


def _check_on_grid(seg: Volume, vol: Volume) -> None:
    assert seg.shape == vol.shape
    assert seg.spacing == vol.spacing and seg.origin == vol.origin and seg.direction == vol.direction
    assert seg.array.dtype == np.uint8
    assert set(np.unique(seg.array).tolist()) <= set(TINY_LABELS.values())


def test_lps_ras_permuted_and_oblique_inputs_come_back_on_their_grid(predictor, lung_ct):
    ref = predictor.predict(lung_ct)
    _check_on_grid(ref, lung_ct)
    assert len(np.unique(ref.array)) > 1

    ras = as_ras(lung_ct)
    seg = predictor.predict(ras)
    _check_on_grid(seg, ras)
    np.testing.assert_array_equal(seg.array[::-1, ::-1, :], ref.array)  # the same prediction, stored as RAS

    perm = as_permuted(lung_ct)
    seg = predictor.predict(perm)
    _check_on_grid(seg, perm)
    np.testing.assert_array_equal(seg.array.transpose(1, 2, 0), ref.array)

    obl = as_oblique(lung_ct)
    seg = predictor.predict(obl)
    _check_on_grid(seg, obl)
    np.testing.assert_array_equal(seg.array, ref.array)


def test_dicom_series_comes_back_on_its_grid(predictor, shared_data_module):
    vol = read_image(shared_data_module / "ts_dicom_ct")
    seg = predictor.predict_file(shared_data_module / "ts_dicom_ct")
    _check_on_grid(seg, vol)
    # the stored TotalSegmentator map of that series lies on a y-flipped grid: ours must not
    other = read_image(shared_data_module / "ts_dicom_ct_seg.nii.gz")
    assert not seg.geometry.same_grid(other.geometry)


# --------------------------------------------------------------------------------------------------
# API: reuse, ensembling, probabilities, precision
# --------------------------------------------------------------------------------------------------


def test_predictor_is_reusable_and_deterministic(predictor, lung_ct):
    small = Volume(lung_ct.array[10:40, 5:50, 3:40], lung_ct.spacing, lung_ct.origin, lung_ct.direction)
    a = predictor.predict(lung_ct)
    b = predictor.predict(small)
    c = predictor.predict(lung_ct)
    np.testing.assert_array_equal(a.array, c.array)
    assert b.shape == small.shape
    assert "fp32" in repr(predictor) and predictor.num_classes == 4
    assert predictor.labels == TINY_LABELS


def test_fold_ensemble_averages_softmax(model_dir, lung_ct):
    from torsoseg.preprocessing.case import preprocess_volume

    both = Predictor.from_model_dir(model_dir, folds="all", device="cpu", precision="fp32")
    assert both.folds == ["0", "1"]
    data, _ = preprocess_volume(lung_ct, both.plans)
    ens = both.predict_preprocessed(data).float()
    singles = []
    for f in ("0", "1"):
        p = Predictor.from_model_dir(model_dir, folds=[f], device="cpu", precision="fp32")
        singles.append(softmax_(p.predict_preprocessed(data)).float())
    torch.testing.assert_close(ens, (singles[0] + singles[1]) / 2, atol=2e-3, rtol=0)
    torch.testing.assert_close(ens.sum(0), torch.ones(ens.shape[1:]), atol=5e-3, rtol=0)


def test_probabilities_on_the_input_grid_agree_with_the_label_map(predictor, lung_ct):
    volume = as_ras(lung_ct)
    t0 = time.perf_counter()
    res = predictor.predict_case(volume, probabilities=True)
    elapsed = time.perf_counter() - t0
    probs = res.probabilities
    assert probs.shape == (4, *lung_ct.shape) and probs.dtype == np.float16
    np.testing.assert_allclose(probs.astype(np.float32).sum(0), 1.0, atol=5e-3)
    # the probabilities are the softmax of the resampled logits: their argmax is the label map up to
    # float16 ties, and asking for them does not change the label map
    assert (probs.argmax(0) == res.label_map.array).mean() > 0.999
    np.testing.assert_array_equal(predictor.predict_case(volume).label_map.array, res.label_map.array)
    assert 0.5 * elapsed < res.seconds <= elapsed  # the prediction's own wall time, not a constant


def test_save_probabilities_never_changes_the_label_map_of_one_fold_or_an_ensemble(model_dir, lung_ct):
    # one fold: the label map is the argmax of the resampled logits, and the probabilities the softmax of
    # those; before, asking for probabilities took the argmax of resampled probabilities instead, which
    # moved organ borders (0.1 % of the voxels of a demo torso)
    for folds in ([0], "all"):
        p = Predictor.from_model_dir(model_dir, folds=folds, device="cpu", precision="fp32")
        with_probs = p.predict_case(lung_ct, probabilities=True)
        np.testing.assert_array_equal(p.predict_case(lung_ct).label_map.array, with_probs.label_map.array)
        assert (with_probs.probabilities.argmax(0) == with_probs.label_map.array).mean() > 0.999


def test_bf16_and_fp32_give_the_same_argmax_on_99_percent(model_dir, lung_ct):
    fp32 = Predictor.from_model_dir(model_dir, folds=[0], device="cpu", precision="fp32").predict(lung_ct)
    bf16_pred = Predictor.from_model_dir(model_dir, folds=[0], device="cpu", precision="bf16")
    seg = bf16_pred.predict(lung_ct)
    agreement = float((seg.array == fp32.array).mean())
    assert agreement >= 0.99, agreement


def test_bf16_falls_back_to_fp32_with_a_warning_without_cpu_support(model_dir, monkeypatch):
    monkeypatch.setattr(precision_mod, "cpu_supports_bf16", lambda: False)
    with pytest.warns(UserWarning, match="bfloat16"):
        p = Predictor.from_model_dir(model_dir, folds=[0], device="cpu", precision="bf16")
    assert p.autocast_dtype is None and p.precision_name == "fp32"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        auto = Predictor.from_model_dir(model_dir, folds=[0], device="cpu", precision="auto")
    assert auto.precision_name == "fp32"


def test_tta_prediction_runs_and_keeps_the_grid(model_dir, lung_ct):
    p = Predictor.from_model_dir(model_dir, folds=[0], device="cpu", tta=(0,), step=1.0)
    assert p.mirror_axes == (0,)
    _check_on_grid(p.predict(lung_ct), lung_ct)
    assert resolve_mirror_axes(True) == (0, 1, 2) and resolve_mirror_axes(False) == ()


# --------------------------------------------------------------------------------------------------
# loading: folds, checkpoints, bad inputs
# --------------------------------------------------------------------------------------------------


def test_available_folds_and_checkpoint_choice(model_dir):
    folder = ModelFolder(model_dir)
    assert folder.available_folds() == ["0", "1"]
    assert folder.available_folds("best") == ["0", "1"]
    assert folder.available_folds("latest") == []
    p = Predictor.from_model_dir(model_dir, folds=1, checkpoint="best", device="cpu")
    assert p.folds == ["1"]


def test_missing_fold_checkpoint_and_folder_are_reported(model_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"fold_7.*folds with checkpoint_final.pt: 0, 1"):
        Predictor.from_model_dir(model_dir, folds=[7])
    with pytest.raises(FileNotFoundError, match="checkpoints found: .*checkpoint_best.pt"):
        Predictor.from_model_dir(model_dir, checkpoint="latest")
    with pytest.raises(ValueError, match="unknown checkpoint 'last'; valid: final, best, latest"):
        Predictor.from_model_dir(model_dir, checkpoint="last")
    with pytest.raises(FileNotFoundError, match="model folder not found"):
        Predictor.from_model_dir(tmp_path / "nope")
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        Predictor.from_model_dir(model_dir, folds=[0], precision="fp8")


def test_bad_checkpoints_name_the_file(tmp_path):
    bad = tmp_path / "fold_0" / "checkpoint_final.pt"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"checkpoint_final.pt: cannot be loaded"):
        load_checkpoint(bad)
    torch.save({"format_version": 1, "plans": {}}, bad)
    with pytest.raises(ValueError, match="lacks key.*network_weights"):
        load_checkpoint(bad)
    plans = tiny_plans()
    other = tiny_plans(features=(4, 8, 8))
    from torsoseg.network import build_network

    save_checkpoint(bad, plans, build_network(other, deep_supervision=False).state_dict())
    with pytest.raises(ValueError, match="weights do not fit"):
        Predictor.from_model_dir(tmp_path)


def test_wrong_preprocessed_input_is_rejected(predictor):
    with pytest.raises(ValueError, match=r"preprocessed data must be \(1, X, Y, Z\)"):
        predictor.predict_preprocessed(np.zeros((2, 8, 8, 8), np.float32))


def _with_mirror_axes(model_dir, fold: int, axes) -> None:
    path = model_dir / f"fold_{fold}" / "checkpoint_final.pt"
    ck = torch.load(path, weights_only=True)
    ck["settings"] = {"preset": "test", "augmentation": {"mirror_axes": list(axes)}}
    torch.save(ck, path)


def test_tta_mirrors_only_the_axes_the_model_was_trained_to_mirror(tmp_path, caplog):
    d = make_model_dir(tmp_path, folds=(0, 1))
    # checkpoints that do not say (older ones): every axis, as asked
    assert Predictor.from_model_dir(d, tta=True, device="cpu").mirror_axes == (0, 1, 2)
    _with_mirror_axes(d, 0, [0, 1, 2])
    _with_mirror_axes(d, 1, [1, 2])
    assert Predictor.from_model_dir(d, tta=True, device="cpu").mirror_axes == (1, 2)  # what both folds saw
    _with_mirror_axes(d, 1, [])
    with caplog.at_level("WARNING"):
        p = Predictor.from_model_dir(d, tta=True, device="cpu")
    assert p.mirror_axes == () and "trained without mirroring: mirror test-time augmentation is off" in (
        caplog.text)
    caplog.clear()
    with caplog.at_level("WARNING"):  # explicit axes are the user's call, with a warning
        assert Predictor.from_model_dir(d, tta=[0], device="cpu").mirror_axes == (0,)
    assert "never saw" in caplog.text
    assert Predictor.from_model_dir(d, tta=False, device="cpu").mirror_axes == ()
