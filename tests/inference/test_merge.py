"""The merge rule of several models by organ name: hand-computed voxels, invariants, slabs, bad input."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from torsoseg.inference.merge import merge_arrays, merge_to_canonical, organ_key, plan_merge

ABDOMEN = {"background": 0, "liver": 1, "stomach": 2}
VISCERAL = {"background": 0, "Liver": 1, "kidney_left": 2, "kidney_right": 3}

# one column per voxel; rows are the classes of each model (background, then its organs)
#                 0 stomach 1 liver  2 bg    3 conflict 4 conflict 5 kidney_right
ABDOMEN_P = [[0.30, 0.20, 0.30, 0.10, 0.05, 0.90],   # background
             [0.10, 0.70, 0.60, 0.20, 0.90, 0.05],   # liver
             [0.60, 0.10, 0.10, 0.70, 0.05, 0.05]]   # stomach
VISCERAL_P = [[0.90, 0.40, 0.80, 0.10, 0.05, 0.10],  # background
              [0.05, 0.50, 0.10, 0.10, 0.60, 0.00],  # liver
              [0.03, 0.05, 0.05, 0.80, 0.35, 0.20],  # kidney_left
              [0.02, 0.05, 0.05, 0.00, 0.00, 0.70]]  # kidney_right


def test_plan_matches_by_organ_name_and_keeps_laterality():
    plan = plan_merge([ABDOMEN, VISCERAL], ["abdomen", "visceral"])
    assert plan.labels == {"background": 0, "liver": 1, "stomach": 2, "kidney_left": 3, "kidney_right": 4}
    assert [o.sources for o in plan.organs] == [((0, 1), (1, 1)), ((0, 2),), ((1, 2),), ((1, 3),)]
    assert plan.shared() == ["liver"]
    assert plan.only_in(0) == ["stomach"] and plan.only_in(1) == ["kidney_left", "kidney_right"]


def test_hand_computed_voxels():
    """Voxel by voxel (p = merged organ probability, b = background of the models that know the organ):
    0: stomach only in abdomen: p .6 > b .3 although visceral says background .9 -> stomach
    1: liver in both: p (.7+.5)/2 = .6 > b (.2+.4)/2 = .3 -> liver
    2: liver in both, visceral disagrees: p .35 < b .55; stomach .1 < .3 -> background
    3: conflict stomach (p .7, b .1) vs kidney_left (p .8, b .1) vs liver (.15, .1) -> kidney_left
    4: conflict liver (p .75, b .05) vs kidney_left (p .35, b .05) -> liver (the mean beats .6 and .35)
    5: kidney_right only in visceral: p .7 > b .1; abdomen's background .9 does not count -> kidney_right
    """
    plan = plan_merge([ABDOMEN, VISCERAL], ["abdomen", "visceral"])
    seg, probs = merge_arrays(plan, [np.array(ABDOMEN_P), np.array(VISCERAL_P)], return_probabilities=True)
    assert seg.tolist() == [2, 1, 0, 3, 1, 4]
    assert seg.dtype == np.uint8
    np.testing.assert_allclose(probs[1], [0.075, 0.6, 0.35, 0.15, 0.75, 0.025], atol=1e-6)
    np.testing.assert_allclose(probs[2], np.array(ABDOMEN_P)[2], atol=1e-6)
    np.testing.assert_allclose(probs[0], (np.array(ABDOMEN_P)[0] + np.array(VISCERAL_P)[0]) / 2, atol=1e-6)


def test_weights_change_the_shared_organ_only():
    """Voxel 2 with weights 3:1: liver p = (3 * .6 + .1) / 4 = .475 > b = (3 * .3 + .8) / 4 = .425."""
    plan = plan_merge([ABDOMEN, VISCERAL], ["abdomen", "visceral"], weights=[3, 1])
    seg, _ = merge_arrays(plan, [np.array(ABDOMEN_P), np.array(VISCERAL_P)])
    assert seg.tolist() == [2, 1, 1, 3, 1, 4]


def test_one_model_is_its_argmax_and_one_label_set_is_the_mean_ensemble():
    rng = np.random.default_rng(3)
    a = rng.dirichlet(np.ones(4), size=(6, 5, 4)).transpose(3, 0, 1, 2)
    b = rng.dirichlet(np.ones(4), size=(6, 5, 4)).transpose(3, 0, 1, 2)
    labels = {"background": 0, "liver": 1, "spleen": 2, "lesion": 3}
    seg, _ = merge_arrays(plan_merge([labels]), [a])
    np.testing.assert_array_equal(seg, a.argmax(0))
    seg2, probs = merge_arrays(plan_merge([labels, dict(labels)], weights=[1, 2]), [a, b],
                               return_probabilities=True)
    mean = (a + 2 * b) / 3
    np.testing.assert_array_equal(seg2, mean.argmax(0))
    np.testing.assert_allclose(probs, mean, atol=1e-6)


def test_custom_labels_match_by_exact_name_only():
    plan = plan_merge([{"background": 0, "lesion": 1}, {"background": 0, "Lesion": 1, "lesion": 2}],
                      ["a", "b"])
    assert plan.labels == {"background": 0, "lesion": 1, "Lesion": 2}
    assert plan.organs[0].sources == ((0, 1), (1, 2))


def test_unknown_organ_name_names_label_and_model():
    msg = r"model visceral: label 'kidney_lef' maps to no known organ.*'kidney_left'"
    with pytest.raises(ValueError, match=msg):
        plan_merge([ABDOMEN, {"background": 0, "kidney_lef": 1}], ["abdomen", "visceral"])
    assert organ_key("Right Kidney", "m") == "kidney_right"
    assert organ_key("tumour", "m") == "tumour"


@pytest.mark.parametrize("labels, weights, message", [
    ({"background": 0, "kidney_r": 1, "kidney_right": 2}, None, "'kidney_r' and 'kidney_right' are both"),
    ({"liver": 1}, None, "background 0"),
    ({"background": 0, "liver": 2}, None, "consecutive"),
    ({"background": 0, "liver": 1}, [1, 0], "positive"),
    ({"background": 0, "liver": 1}, [1], "one per model"),
])
def test_bad_label_sets_and_weights(labels, weights, message):
    with pytest.raises(ValueError, match=message):
        plan_merge([ABDOMEN, labels], ["abdomen", "other"], weights=weights)


def _props(crop_bbox, canonical):
    """The CaseProperties fields the merge reads (identity reorientation)."""
    reo = SimpleNamespace(original=SimpleNamespace(shape=canonical), axes=(0, 1, 2))
    shape = tuple(b - a for a, b in crop_bbox)
    return SimpleNamespace(reorientation=reo, crop_bbox=crop_bbox, shape_after_crop=shape)


def test_slabs_on_the_canonical_grid_equal_the_whole_array_merge():
    """No resampling (network grid = crop grid): slab by slab (tiny budget, one slice a slab) equals the
    rule on whole padded arrays, and outside each model's crop box that model says background."""
    rng = np.random.default_rng(0)
    canonical = (9, 7, 6)
    boxes = [((1, 8), (0, 7), (1, 5)), ((2, 9), (1, 6), (0, 6))]
    sets = [ABDOMEN, VISCERAL]
    scores, full = [], []
    for box, labels in zip(boxes, sets):
        shape = tuple(b - a for a, b in box)
        p = rng.dirichlet(np.ones(len(labels)), size=shape).transpose(3, 0, 1, 2).astype(np.float32)
        scores.append(torch.as_tensor(p))
        padded = np.zeros((len(labels), *canonical), np.float32)
        padded[0] = 1.0
        padded[(slice(None),) + tuple(slice(a, b) for a, b in box)] = p
        full.append(padded)
    plan = plan_merge(sets, ["abdomen", "visceral"])
    expected, expected_p = merge_arrays(plan, full, return_probabilities=True)
    props = [_props(b, canonical) for b in boxes]
    for chunk in (1, 1 << 30):
        seg, probs = merge_to_canonical(plan, scores, props, probabilities=True, chunk_bytes=chunk)
        np.testing.assert_array_equal(seg, expected)
        np.testing.assert_allclose(probs.astype(np.float32), expected_p, atol=1e-3)
    assert seg[0].max() == 0  # outside both boxes


def test_slabs_resample_each_model_from_its_own_grid():
    """A model on a 2x coarser grid is linearly resampled (the export's rule): constant fields stay exact."""
    canonical = (8, 6, 4)
    box = ((0, 8), (0, 6), (0, 4))
    coarse = torch.zeros((3, 4, 3, 2))
    coarse[0], coarse[1], coarse[2] = 0.2, 0.5, 0.3   # abdomen: liver everywhere
    fine = torch.zeros((4, 8, 6, 4))
    fine[0], fine[2] = 0.4, 0.6                       # visceral: kidney_left everywhere, liver 0
    plan = plan_merge([ABDOMEN, VISCERAL], ["abdomen", "visceral"])
    seg, _ = merge_to_canonical(plan, [coarse, fine], [_props(box, canonical)] * 2)
    # liver p = .25 vs b = .3: no; stomach .3 > .2; kidney_left .6 > .4 -> kidney_left (3)
    assert (seg == 3).all()


def test_slab_merge_rejects_mismatched_inputs():
    plan = plan_merge([ABDOMEN, VISCERAL], ["abdomen", "visceral"])
    props = [_props(((0, 2), (0, 2), (0, 2)), (2, 2, 2)), _props(((0, 3), (0, 2), (0, 2)), (3, 2, 2))]
    with pytest.raises(ValueError, match="visceral: canonical grid"):
        merge_to_canonical(plan, [torch.zeros(3, 2, 2, 2), torch.zeros(4, 3, 2, 2)], props)
    with pytest.raises(ValueError, match="abdomen: scores of shape"):
        merge_to_canonical(plan, [torch.zeros(4, 2, 2, 2), torch.zeros(4, 2, 2, 2)], [props[0]] * 2)
