"""The two-stage cascade: candidate region, empty coarse stage, geometry, agreement with the fine model."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from tests.inference.model_factory import TINY_LABELS, make_model_dir, tiny_plans
from tests.inference.test_predictor import as_oblique, as_ras
from torsoseg.imageio import Volume
from torsoseg.inference import Predictor
from torsoseg.inference.cascade import CascadePredictor, coarse_model_dir
from torsoseg.inference.export import resample_argmax, resample_probabilities
from torsoseg.inference.region import box_plan, candidate_region, grid_index_map, resample_box
from torsoseg.plans import StageConfiguration

LOWRES = StageConfiguration((8.0, 8.0, 10.0), (32, 32, 32), ((1, 1, 1), (2, 2, 2), (2, 2, 2)),
                            ((3, 3, 3),) * 3, (4, 8, 16), 2, (20, 20, 20))


def cascade_plans():
    return tiny_plans().replace(cascade=LOWRES)


class ThresholdNet(torch.nn.Module):
    """Liver where the normalised intensity exceeds ``threshold``, background elsewhere (no weights)."""

    def __init__(self, threshold: float):
        super().__init__()
        self.threshold = threshold

    def forward(self, x):
        fg = 10.0 * (x[:, :1] - self.threshold)
        low = torch.full_like(fg, -50.0)
        return torch.cat([torch.zeros_like(fg), fg, low, low], dim=1)


def body_with_organ(organ_hu: int = 150) -> Volume:
    """Soft tissue (0 HU) in air with one bright block (the 'organ'), anisotropic spacing."""
    a = np.full((110, 90, 50), -1000, np.int16)
    a[10:100, 10:80, 5:45] = 0
    a[30:55, 25:50, 15:30] = organ_hu
    return Volume(a, (2.0, 2.5, 3.0), (10.0, -20.0, 5.0), np.eye(3))


def threshold_cascade(coarse_threshold: float = 0.8, **kw) -> CascadePredictor:
    plans = cascade_plans()
    # tiny_plans' normalisation: (HU + 200) / 350; the organ (150 HU) is 1.0, soft tissue 0.57, air -2.3
    coarse = Predictor([ThresholdNet(coarse_threshold)], plans.for_configuration("3d_lowres"), TINY_LABELS,
                       device="cpu", precision="fp32")
    fine = Predictor([ThresholdNet(0.8)], plans.for_configuration("3d_cascade"), TINY_LABELS, device="cpu",
                     precision="fp32")
    return CascadePredictor(coarse, fine, **kw)


# ------------------------------------------------------------------------------------------------
# the region and its grids
# ------------------------------------------------------------------------------------------------


def test_candidate_region_contains_every_organ_and_grows_by_the_margin_in_mm():
    seg = np.zeros((30, 30, 12), np.uint8)
    seg[5:8, 5:8, 2:4] = 1
    seg[20:22, 22:25, 8:10] = 3
    region = candidate_region(seg, (2.0, 2.0, 5.0), 6.0)
    assert region[seg > 0].all()
    # 6 mm: 3 voxels along x/y, 1 voxel along z (5 mm), not 2 (10 mm)
    assert region[4, 6, 3] and region[2, 6, 3] and not region[1, 6, 3]
    assert region[6, 6, 4] and not region[6, 6, 5]
    assert not region[15, 15, 6]
    assert not candidate_region(np.zeros((4, 4, 4), np.uint8), (1, 1, 1), 10).any()
    with pytest.raises(ValueError, match="margin_mm"):
        candidate_region(seg, (1, 1, 1), -1)


def test_grid_maps_boxes_and_box_resampling_match_the_whole_grid():
    assert grid_index_map(2, 5).tolist() == [0, 0, 1, 1, 1]
    box = ((15, 25), (15, 25), (2, 18))
    # the box's scores resampled alone equal the whole grid's resampling over the outputs they reach
    rng = np.random.default_rng(0)
    scores = torch.as_tensor(rng.normal(size=(3, 40, 40, 20)).astype(np.float16))
    out_shape = (55, 47, 31)
    whole = resample_argmax(scores, out_shape)
    ranges = [box_plan(n, o, b)[0] for n, o, b in zip((40, 40, 20), out_shape, box)]
    sub = scores[(slice(None), *(slice(a, b) for a, b in box))]
    part = resample_box(sub, (40, 40, 20), out_shape, box)
    np.testing.assert_array_equal(part, whole[tuple(slice(a, b) for a, b in ranges)])
    for chunk in (1, 2**30):  # one output slice per slab, and one slab
        tiny = resample_box(sub, (40, 40, 20), out_shape, box, chunk_bytes=chunk)
        np.testing.assert_array_equal(tiny, part)
    whole_p = resample_probabilities(scores.float().softmax(0), out_shape)
    probs = resample_box(sub.float().softmax(0), (40, 40, 20), out_shape, box, probabilities=True)
    cut = whole_p[(slice(None), *(slice(a, b) for a, b in ranges))].astype(np.float32)
    np.testing.assert_allclose(probs.astype(np.float32), cut, rtol=0, atol=1e-3)  # float16 rounding
    np.testing.assert_allclose(probs.astype(np.float32).sum(0), 1.0, atol=2e-3)


# ------------------------------------------------------------------------------------------------
# prediction
# ------------------------------------------------------------------------------------------------


def test_the_fine_stage_runs_only_in_the_region_and_finds_the_organ():
    vol = body_with_organ()
    cascade = threshold_cascade()
    stage = cascade.coarse_stage(vol)
    assert stage.seg.max() == 1 and stage.region[stage.seg > 0].all()
    assert 0 < stage.region.mean() < 0.6  # the region is far smaller than the image
    seg = cascade.predict(vol).array
    truth = vol.array == 150
    dice = 2 * (truth & (seg == 1)).sum() / (truth.sum() + (seg == 1).sum())
    assert dice > 0.95
    assert not seg[vol.array == 0].any()  # soft tissue away from the organ stays background


def test_inside_the_region_the_prediction_is_the_fine_model_alones(tmp_path):
    # the fine stage predicts the tiles of its whole-image grid that reach into the region, so inside
    # the region its scores are the fine model's own: the same labels voxel for voxel, probabilities
    # within float16 rounding (a random U-Net, whose output changes wherever tiles are placed differently)
    plans = tiny_plans(patch_size=(16, 16, 16)).replace(cascade=LOWRES)  # 6 x 6 x 3 tiles on the fine grid
    fine_dir = make_model_dir(tmp_path, plans=plans.for_configuration("3d_cascade"), seed=3)
    fine = Predictor.from_model_dir(fine_dir, device="cpu", precision="fp32", cascade=False)
    coarse = Predictor([ThresholdNet(1.1)], plans.for_configuration("3d_lowres"), TINY_LABELS,
                       device="cpu", precision="fp32")
    a = np.zeros((110, 90, 50), np.int16)  # soft tissue filling the image, one bright organ (300 HU)
    a[30:55, 25:50, 15:30] = 300
    vol = Volume(a, (2.0, 2.5, 3.0), (10.0, -20.0, 5.0), np.eye(3))
    ref = fine.predict_case(vol, probabilities=True)
    alone = ref.label_map.array
    for margin in (0.0, 20.0):
        cascade = CascadePredictor(coarse, fine, margin_mm=margin)
        stage = cascade.coarse_stage(vol)
        assert stage.region.mean() < 0.1
        kept, total = cascade.fine_tiles(stage)  # what the fine stage predicts, of the whole grid's tiles
        assert total == 6 * 6 * 3 and 0 < kept < total
        result = cascade.predict_case(vol, probabilities=True)
        out = result.label_map.array
        found = out > 0  # only inside the region
        assert found.sum() > 1000 and len(np.unique(alone[found])) > 1
        np.testing.assert_array_equal(out[found], alone[found])
        assert not out[alone == 0].any()
        np.testing.assert_allclose(result.probabilities[:, found].astype(np.float32),
                                   ref.probabilities[:, found].astype(np.float32), atol=2e-3, rtol=0)
    organ = a == 300  # with a 20 mm margin well inside the region: every label the model gives it
    np.testing.assert_array_equal(out[organ], alone[organ])


def test_nearest_tiles_run_fewer_tiles_and_still_cover_the_region(tmp_path):
    # tiles="nearest" predicts only each region voxel's nearest tile: a pointwise network, whose logits do
    # not depend on where tiles lie, gives exactly the whole image's labels inside the region (so no region
    # voxel is left without a tile), and a random U-Net nearly the same labels with fewer tiles
    plans = tiny_plans(patch_size=(16, 16, 16)).replace(cascade=LOWRES)
    coarse = Predictor([ThresholdNet(1.1)], plans.for_configuration("3d_lowres"), TINY_LABELS,
                       device="cpu", precision="fp32")
    pointwise = Predictor([ThresholdNet(0.8)], plans.for_configuration("3d_cascade"), TINY_LABELS,
                          device="cpu", precision="fp32")
    fine_dir = make_model_dir(tmp_path, plans=plans.for_configuration("3d_cascade"), seed=3)
    unet = Predictor.from_model_dir(fine_dir, device="cpu", precision="fp32", cascade=False)
    a = np.zeros((110, 90, 50), np.int16)
    a[30:55, 25:50, 15:30] = 300
    a[38:48, 30:42, 19:27] = -100  # inside the organ a dark core the pointwise model calls background
    vol = Volume(a, (2.0, 2.5, 3.0), (10.0, -20.0, 5.0), np.eye(3))
    for fine in (pointwise, unet):
        exact = CascadePredictor(coarse, fine, margin_mm=20.0)
        nearest = CascadePredictor(coarse, fine, margin_mm=20.0, tiles="nearest")
        assert nearest.record()["cascade"]["tiles"] == "nearest" and "tiles=nearest" in repr(nearest)
        stage = exact.coarse_stage(vol)
        (n_exact, total), (n_nearest, total2) = exact.fine_tiles(stage), nearest.fine_tiles(stage)
        assert total == total2 == 6 * 6 * 3 and 0 < n_nearest < n_exact
        out_exact, out_near = exact.predict(vol).array, nearest.predict(vol).array
        found = out_exact > 0
        if fine is pointwise:
            np.testing.assert_array_equal(out_near, out_exact)
            alone = fine.predict(vol).array
            assert found.sum() > 1000 and (alone[found] == 1).all()
            assert not out_near[40:46, 32:40, 21:25].any()
        else:
            assert found.sum() > 1000 and len(np.unique(out_exact[found])) > 1
            agree = 2 * ((out_near == out_exact) & found).sum() / (found.sum() + (out_near > 0).sum())
            assert agree > 0.9
            # --save-probabilities: the same label map, probabilities that sum to 1 and agree with it
            with_probs = nearest.predict_case(vol, probabilities=True)
            np.testing.assert_array_equal(with_probs.label_map.array, out_near)
            probs = with_probs.probabilities.astype(np.float32)
            np.testing.assert_allclose(probs.sum(0), 1.0, atol=5e-3)
            assert (probs.argmax(0) == out_near).mean() > 0.999
    with pytest.raises(ValueError, match="tiles must be one of exact, nearest"):
        CascadePredictor(coarse, pointwise, tiles="some")


class BandNet(torch.nn.Module):
    """Liver where the normalised intensity exceeds 1.1, right kidney where it lies in (0.75, 1.0)."""

    def forward(self, x):
        v = x[:, :1]
        liver, kidney = 10.0 * (v - 1.1), 10.0 * torch.minimum(v - 0.75, 1.0 - v)
        return torch.cat([torch.zeros_like(v), liver, kidney, torch.full_like(v, -50.0)], dim=1)


def test_roi_subset_segments_only_the_chosen_organs_and_only_around_them(tmp_path):
    plans = tiny_plans(patch_size=(16, 16, 16)).replace(cascade=LOWRES)
    fine_dir = make_model_dir(tmp_path, plans=plans.for_configuration("3d_cascade"), seed=3)
    fine = Predictor.from_model_dir(fine_dir, device="cpu", precision="fp32", cascade=False)
    coarse = Predictor([BandNet()], plans.for_configuration("3d_lowres"), TINY_LABELS, device="cpu",
                       precision="fp32")
    a = np.zeros((110, 90, 50), np.int16)  # soft tissue, a "liver" (300 HU) and far from it a "kidney" (100)
    a[10:35, 10:35, 15:30] = 300
    a[75:100, 55:80, 15:30] = 100
    kidney = (slice(20, 24), slice(18, 23), slice(5, 9))  # inside the kidney on the coarse grid (28, 28, 15)
    vol = Volume(a, (2.0, 2.5, 3.0), (10.0, -20.0, 5.0), np.eye(3))
    every = CascadePredictor(coarse, fine, margin_mm=10.0)
    liver = every.with_roi_subset("Liver")
    assert liver.roi_subset == {"background": 0, "liver": 1} and liver.margin_mm == 10.0
    assert liver.record()["cascade"]["roi_subset"] == ["liver"] and "roi_subset=liver)" in repr(liver)
    assert every.record()["cascade"]["roi_subset"] is None
    s_every, s_liver = every.coarse_stage(vol), liver.coarse_stage(vol)
    assert set(np.unique(s_every.seg)) == {0, 1, 2} and (s_every.seg[kidney] == 2).all()
    # the region is grown around the liver alone, so the fine stage predicts fewer tiles
    assert s_liver.region[s_liver.seg == 1].all() and not s_liver.region[kidney].any()
    assert s_every.region[kidney].all() and liver.fine_tiles(s_liver)[0] < every.fine_tiles(s_every)[0]
    alone = fine.predict(vol).array
    result = liver.predict_case(vol, probabilities=True)
    out = result.label_map.array
    assert set(np.unique(out)) == {0, 1}
    found = out == 1  # the fine model's own liver voxels, only near the coarse liver
    assert found.sum() > 100 and (alone[found] == 1).all()
    assert not found[a == 100].any() and alone[a == 100].any()  # the fine model alone labels the kidney
    probs = result.probabilities.astype(np.float32)
    assert not probs[2:].any()
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=5e-3)
    # an organ the coarse stage does not find: on_empty decides, and only that organ is written
    assert not CascadePredictor(coarse, fine, roi_subset=["kidney_left"], on_empty="background").predict(
        vol).array.any()
    left = CascadePredictor(coarse, fine, roi_subset=["left kidney"]).predict(vol).array
    np.testing.assert_array_equal(left == 3, alone == 3)
    assert set(np.unique(left)) <= {0, 3}
    with pytest.raises(ValueError, match=r"does not predict pancreas \(it predicts: liver, kidney_right"):
        CascadePredictor(coarse, fine, roi_subset=["pancreas", "liver"])


def test_a_whole_image_region_equals_the_fine_model_alone(tmp_path):
    plans = cascade_plans()
    make_model_dir(tmp_path, plans=plans.for_configuration("3d_lowres"))
    fine_dir = make_model_dir(tmp_path, plans=plans.for_configuration("3d_cascade"), seed=3)
    cascade = Predictor.from_model_dir(fine_dir, device="cpu", precision="fp32", margin_mm=1000.0)
    assert isinstance(cascade, CascadePredictor) and coarse_model_dir(fine_dir).name.endswith("3d_lowres")
    vol = body_with_organ()
    alone = Predictor.from_model_dir(fine_dir, device="cpu", precision="fp32", cascade=False)
    assert isinstance(alone, Predictor)
    np.testing.assert_array_equal(cascade.predict(vol).array, alone.predict(vol).array)
    record = cascade.record()["cascade"]  # what prediction.json says made the label maps
    assert record["fine"]["model"] == str(fine_dir) and record["fine"]["configuration"] == "3d_cascade"
    assert record["coarse"]["model"] == str(coarse_model_dir(fine_dir)) and record["margin_mm"] == 1000.0


@pytest.mark.parametrize("on_empty", ["background", "fine"])
def test_an_empty_coarse_prediction_says_so_and_falls_back(on_empty, caplog):
    vol = body_with_organ()
    cascade = threshold_cascade(coarse_threshold=50.0, on_empty=on_empty)  # the coarse stage sees nothing
    with caplog.at_level(logging.WARNING, logger="torsoseg.inference.cascade"):
        result = cascade.predict_case(vol, probabilities=True)
    assert "the coarse stage found no organ" in caplog.text and f"on_empty={on_empty}" in caplog.text
    assert result.label_map.geometry.same_grid(vol.geometry)
    assert result.probabilities.shape == (4, *vol.shape)
    if on_empty == "background":
        assert not result.label_map.array.any() and (result.probabilities[0] == 1).all()
    else:  # the fine stage over the whole image still finds the organ
        assert (result.label_map.array[vol.array == 150] == 1).mean() > 0.95
    with pytest.raises(ValueError, match="on_empty"):
        threshold_cascade(on_empty="coarse")


def test_flipped_and_oblique_inputs_come_back_on_their_grid():
    vol = body_with_organ()
    cascade = threshold_cascade()
    ref = cascade.predict(vol)
    assert ref.geometry.same_grid(vol.geometry) and ref.array.any()
    ras = as_ras(vol)
    seg = cascade.predict(ras)
    assert seg.geometry.same_grid(ras.geometry)
    np.testing.assert_array_equal(seg.array[::-1, ::-1, :], ref.array)
    obl = as_oblique(vol, 17.0)
    seg = cascade.predict(obl)
    assert seg.geometry.same_grid(obl.geometry) and seg.spacing == obl.spacing
    np.testing.assert_array_equal(seg.array, ref.array)


def test_stages_with_different_labels_are_refused():
    plans = cascade_plans()
    coarse = Predictor([ThresholdNet(0.8)], plans.for_configuration("3d_lowres"), TINY_LABELS, device="cpu")
    other = {"background": 0, "spleen": 1, "kidney_right": 2, "kidney_left": 3}
    fine = Predictor([ThresholdNet(0.8)], plans.for_configuration("3d_cascade"), other, device="cpu")
    with pytest.raises(ValueError, match="different labels"):
        CascadePredictor(coarse, fine)


def test_a_missing_coarse_stage_says_how_to_train_it(tmp_path):
    fine_dir = make_model_dir(tmp_path, plans=cascade_plans().for_configuration("3d_cascade"))
    with pytest.raises(FileNotFoundError, match="-c 3d_lowres"):
        Predictor.from_model_dir(fine_dir, device="cpu")


def test_preprocessing_only_the_fine_box_gives_the_whole_image_result(tmp_path):
    """Bounded memory (slabs, and only the fine box) vs the whole image in one piece, as training does.

    The fine stage is a random U-Net (its receptive field crosses the box's faces); both paths tile the
    same box, so they differ only by the cubic prefilter at the box's cut faces, which the 12-voxel
    margin of :mod:`torsoseg.preprocessing.boxed` pushes below float32 rounding: equal labels, and
    probabilities within 1e-3.
    """
    plans = cascade_plans()
    fine_dir = make_model_dir(tmp_path, plans=plans.for_configuration("3d_cascade"), seed=3)
    fine = Predictor.from_model_dir(fine_dir, device="cpu", precision="fp32", cascade=False)
    coarse = Predictor([ThresholdNet(0.8)], plans.for_configuration("3d_lowres"), TINY_LABELS,
                       device="cpu", precision="fp32")
    vol = as_ras(body_with_organ())
    results = [CascadePredictor(coarse, fine, margin_mm=6.0, bounded_memory=b).predict_case(vol, True)
               for b in (True, False)]
    stage = results[0]
    assert 0 < CascadePredictor(coarse, fine, margin_mm=6.0).coarse_stage(vol).region.mean() < 0.3
    assert stage.label_map.geometry.same_grid(vol.geometry)
    np.testing.assert_array_equal(results[0].label_map.array, results[1].label_map.array)
    np.testing.assert_allclose(results[0].probabilities.astype(np.float32),
                               results[1].probabilities.astype(np.float32), atol=1e-3)


def test_the_cascade_applies_its_fine_stage_postprocessing_and_each_stage_its_own_mirror_axes(tmp_path):
    import torch as _torch
    from scipy import ndimage

    from torsoseg.inference.postprocessing import Postprocessing, keep_largest_component

    plans = cascade_plans()
    coarse_dir = make_model_dir(tmp_path, plans=plans.for_configuration("3d_lowres"))
    fine_dir = make_model_dir(tmp_path, plans=plans.for_configuration("3d_cascade"), seed=3)
    vol = body_with_organ()
    raw = Predictor.from_model_dir(fine_dir, device="cpu", precision="fp32", margin_mm=1000.0).predict(vol)
    Postprocessing(("kidney_left",)).save(fine_dir)
    cascade = Predictor.from_model_dir(fine_dir, device="cpu", precision="fp32", margin_mm=1000.0)
    assert cascade.postprocessing.keep_largest == ("kidney_left",)
    out = cascade.predict(vol).array
    full = ndimage.generate_binary_structure(3, 3)
    assert ndimage.label(raw.array == 3, structure=full)[1] > 1  # random weights: scattered pieces
    np.testing.assert_array_equal(out, keep_largest_component(raw.array, [3]))
    # tta=True: each stage mirrors the axes its own training mirrored
    for folder, axes in ((coarse_dir, [1, 2]), (fine_dir, [])):
        path = folder / "fold_0" / "checkpoint_final.pt"
        ck = _torch.load(path, weights_only=True)
        ck["settings"] = {"preset": "test", "augmentation": {"mirror_axes": axes}}
        _torch.save(ck, path)
    cascade = Predictor.from_model_dir(fine_dir, device="cpu", precision="fp32", tta=True)
    assert (cascade.fine.mirror_axes, cascade.coarse.mirror_axes) == ((), (1, 2))


def test_asking_for_probabilities_does_not_change_the_cascades_label_map(tmp_path):
    plans = cascade_plans()
    fine_dir = make_model_dir(tmp_path, plans=plans.for_configuration("3d_cascade"), seed=3)
    fine = Predictor.from_model_dir(fine_dir, device="cpu", precision="fp32", cascade=False)
    coarse = Predictor([ThresholdNet(0.8)], plans.for_configuration("3d_lowres"), TINY_LABELS,
                       device="cpu", precision="fp32")
    cascade = CascadePredictor(coarse, fine, margin_mm=6.0)
    vol = as_ras(body_with_organ())
    with_probs = cascade.predict_case(vol, probabilities=True)
    np.testing.assert_array_equal(cascade.predict_case(vol).label_map.array, with_probs.label_map.array)
    probs = with_probs.probabilities.astype(np.float32)
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=5e-3)
    assert (probs.argmax(0) == with_probs.label_map.array).mean() > 0.999


def test_a_fullres_model_given_a_coarse_model_is_the_fine_stage(tmp_path):
    # TotalSegmentator-style region of interest: the single-stage model itself runs only around the
    # organs the coarse model finds; with the region covering the image it is that model alone
    plans = cascade_plans()
    coarse_dir = make_model_dir(tmp_path, plans=plans.for_configuration("3d_lowres"))
    full_dir = make_model_dir(tmp_path, plans=plans.for_configuration("3d_fullres"), seed=3)
    roi = Predictor.from_model_dir(full_dir, device="cpu", precision="fp32", coarse_model=coarse_dir,
                                   margin_mm=1000.0)
    assert isinstance(roi, CascadePredictor) and roi.fine.plans.configuration == "3d_fullres"
    assert roi.record()["cascade"]["coarse"]["model"] == str(coarse_dir.resolve())
    alone = Predictor.from_model_dir(full_dir, device="cpu", precision="fp32")
    assert isinstance(alone, Predictor)
    vol = body_with_organ()
    np.testing.assert_array_equal(roi.predict(vol).array, alone.predict(vol).array)
    with pytest.raises(ValueError, match="margin_mm apply to a cascade.*coarse_model"):
        Predictor.from_model_dir(full_dir, device="cpu", margin_mm=5.0)


def test_a_cascade_made_for_some_organs_writes_only_them_from_the_python_api(tmp_path):
    # as torsoseg_predict --roi-subset: labels.json lists only the organs the cascade segments, so
    # torsoseg_evaluate does not score the others as missed
    from torsoseg.imageio import write_image
    from torsoseg.inference.batch import find_cases, predict_cases

    (tmp_path / "in").mkdir()
    write_image(body_with_organ(), tmp_path / "in" / "case_0000.nii.gz")
    report = predict_cases(threshold_cascade().with_roi_subset("liver"), find_cases(tmp_path / "in"),
                           tmp_path / "out")
    assert report.done == ["case"]
    assert json.loads((tmp_path / "out" / "labels.json").read_text()) == {"background": 0, "liver": 1}
    assert json.loads((tmp_path / "out" / "prediction.json").read_text())["labels"] == {"background": 0,
                                                                                        "liver": 1}
