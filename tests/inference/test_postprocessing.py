"""Postprocessing chosen on validation data: keep each chosen organ's largest connected component."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from tests.inference.model_factory import make_model_dir, tiny_plans
from torsoseg.imageio import Volume
from torsoseg.inference import MultiModelPredictor
from torsoseg.inference.postprocessing import (
    FILE_NAME,
    Postprocessing,
    choose_keep_largest,
    keep_largest_component,
)
from torsoseg.inference.predictor import Predictor

FULL = ndimage.generate_binary_structure(3, 3)


def test_only_the_largest_component_of_a_chosen_label_is_kept_and_the_input_is_untouched():
    a = np.zeros((20, 20, 20), np.uint8)
    a[2:8, 2:8, 2:8] = 1  # the organ
    a[15:17, 15:17, 15:17] = 1  # a false island
    a[10:12, 10:12, 10:12] = 2  # another organ, not chosen: keeps its island
    a[14, 14, 14] = 2
    a[8, 8, 8] = 1  # touches the organ's corner only: the same component with 26-connectivity
    before = a.copy()
    out = keep_largest_component(a, [1])
    np.testing.assert_array_equal(a, before)
    assert (out == 1).sum() == 6**3 + 1 and out[15, 15, 15] == 0
    np.testing.assert_array_equal(out == 2, a == 2)
    assert ndimage.label(out == 1, structure=FULL)[1] == 1
    np.testing.assert_array_equal(keep_largest_component(a, []), a)
    dust = np.zeros((100, 100, 100), np.uint8)
    dust[::2, ::2, ::2] = 1  # 125,000 one-voxel pieces: more than a uint16 labelling holds
    dust[:4, :4, :4] = 1
    kept = keep_largest_component(dust, [1]) == 1
    # the cube plus the 19 lattice points of {0, 2, 4}^3 that touch it from outside (a coordinate = 4)
    assert kept.sum() == 4**3 + 19 and kept[:4, :4, :4].all() and kept[4, 4, 4] and not kept[6, 0, 0]
    twins = np.zeros((12, 12, 12), np.int32)
    twins[1:4, 1:4, 1:4] = twins[7:10, 7:10, 7:10] = 3  # two equal largest pieces: both stay
    twins[0, 11, 0] = 3
    assert (keep_largest_component(twins, [3]) == 3).sum() == 2 * 27


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_keep_largest_component_in_a_box_one_voxel_thick(axis):
    # an organ predicted in one row of voxels, broken by another organ: cc3d 4.1 alone raises "maximum
    # length exception" on some such boxes (found on a label map of a demo model on a held-out case)
    a = np.zeros((8, 8, 8), np.uint8)
    line = [2, 2, 2]
    for i, v in zip(range(1, 7), (5, 5, 4, 5, 4, 5)):  # a 6 x 1 x 1 box: a pair and two lone voxels
        line[axis] = i
        a[tuple(line)] = v
    out = keep_largest_component(a, [5])
    assert (out == 5).sum() == 2 and (out == 4).sum() == 2  # the pair stays, the lone voxels go
    assert (out.take([1, 2], axis=axis) == 5).sum() == 2


def test_choice_keeps_the_organs_whose_validation_dice_does_not_drop():
    before = {"liver": 0.80, "thyroid_gland": 0.70, "adrenal_gland_left": 0.0, "gallbladder": float("nan"),
              "spleen": 0.9}
    after = {"liver": 0.85, "thyroid_gland": 0.55, "adrenal_gland_left": 0.0, "gallbladder": float("nan")}
    assert choose_keep_largest(before, after) == ["liver", "adrenal_gland_left"]


def test_record_round_trip_organ_names_and_a_bad_file_named(tmp_path):
    assert Postprocessing.load(tmp_path) is None
    pp = Postprocessing(("liver", "right kidney"), chosen_on="Dataset004", dice={"liver": [0.8, 0.85]})
    path = pp.save(tmp_path)
    assert path.name == FILE_NAME
    back = Postprocessing.load(tmp_path)
    assert back == pp
    assert back.values({"background": 0, "kidney_right": 1, "spleen": 2, "Liver": 3}) == [3, 1]
    path.write_text(json.dumps({"keep_largest_component": "liver"}))
    with pytest.raises(ValueError, match=f"{FILE_NAME}.*list of organ names"):
        Postprocessing.load(tmp_path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=f"{FILE_NAME}: not valid JSON"):
        Postprocessing.load(tmp_path)


@pytest.fixture(scope="module")
def noisy_case():
    rng = np.random.default_rng(3)
    arr = np.full((40, 36, 28), -1000, np.int16)
    arr[3:-3, 3:-3, 2:-2] = rng.integers(-200, 300, (34, 30, 24))
    return Volume(arr, (3.0, 3.0, 4.0))


def test_a_model_folder_postprocessing_is_applied_and_can_be_turned_off(tmp_path, noisy_case):
    model_dir = make_model_dir(tmp_path)
    raw = Predictor.from_model_dir(model_dir, device="cpu", precision="fp32").predict(noisy_case).array
    # a random network scatters every organ in pieces: the case the postprocessing is for
    assert ndimage.label(raw == 1, structure=FULL)[1] > 1
    Postprocessing(("liver", "kidney_left")).save(model_dir)
    predictor = Predictor.from_model_dir(model_dir, device="cpu", precision="fp32")
    assert predictor.postprocessing.keep_largest == ("liver", "kidney_left")
    out = predictor.predict(noisy_case)
    assert out.geometry.same_grid(noisy_case.geometry)
    np.testing.assert_array_equal(out.array, keep_largest_component(raw, [1, 3]))
    off = Predictor.from_model_dir(model_dir, device="cpu", precision="fp32", postprocessing=False)
    assert off.postprocessing is None
    np.testing.assert_array_equal(off.predict(noisy_case).array, raw)


def test_a_merge_keeps_the_largest_component_only_where_every_model_chose_it(tmp_path):
    a = make_model_dir(tmp_path / "a")
    b = make_model_dir(tmp_path / "b", plans=tiny_plans(labels={"background": 0, "liver": 1, "spleen": 2}))
    Postprocessing(("liver", "kidney_right")).save(a)
    Postprocessing(("spleen",)).save(b)
    merged = MultiModelPredictor.from_model_dirs([a, b], device="cpu", precision="fp32")
    # liver: model b speaks for it too and did not choose it; kidney_right and spleen: one model each
    assert merged.postprocessing.keep_largest == ("kidney_right", "spleen")
    stripes = np.where(np.indices((40, 36, 28)).sum(0) % 7 < 3, 200, -100).astype(np.int16)
    vol = Volume(stripes, (3.0, 3.0, 4.0))
    raw = MultiModelPredictor.from_model_dirs([a, b], device="cpu", precision="fp32", postprocessing=False)
    assert raw.postprocessing is None
    before, after = raw.predict(vol).array, merged.predict(vol).array
    kidney, spleen = merged.labels["kidney_right"], merged.labels["spleen"]
    assert max(ndimage.label(before == v, structure=FULL)[1] for v in (kidney, spleen)) > 1
    np.testing.assert_array_equal(after, keep_largest_component(before, [kidney, spleen]))


def test_a_folder_copy_reads_float_maps_as_integers_and_names_a_bad_file(tmp_path):
    from torsoseg.imageio import read_image, write_image
    from torsoseg.inference.postprocessing import postprocess_folder

    a = np.zeros((20, 20, 20), np.float32)
    a[2:8, 2:8, 2:8] = 1
    a[15, 15, 15] = 1
    write_image(Volume(a, (1.0, 1.0, 1.0)), tmp_path / "src" / "case_1.nrrd")
    n = postprocess_folder(tmp_path / "src", tmp_path / "dst", Postprocessing(("liver",)), {"liver": 1})
    out = read_image(tmp_path / "dst" / "case_1.nii.gz").array
    assert n == 1 and out.sum() == 6**3 and np.issubdtype(out.dtype, np.integer)
    a[0, 0, 0] = 0.5
    write_image(Volume(a, (1.0, 1.0, 1.0)), tmp_path / "src" / "case_1.nrrd")
    with pytest.raises(ValueError, match="case_1.nrrd: label map has non-integer values"):
        postprocess_folder(tmp_path / "src", tmp_path / "dst2", Postprocessing(("liver",)), {"liver": 1})
    with pytest.raises(ValueError, match="must hold integers"):
        keep_largest_component(a, [1])
