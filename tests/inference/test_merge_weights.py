"""Per-organ merge weights: chosen on validation scores, applied to the shared organ only."""

from __future__ import annotations

import numpy as np
import pytest

from tests.inference.test_merge import ABDOMEN, ABDOMEN_P, VISCERAL, VISCERAL_P
from torsoseg.inference.merge import merge_arrays, plan_merge
from torsoseg.inference.merge_weights import organ_weights_from_scores


def test_weights_follow_the_validation_scores_within_the_margin():
    scores = [{"liver": 0.80, "spleen": 0.90, "stomach": 0.7},
              {"Liver": 0.93, "spleen": 0.91, "kidney_left": 0.8}]
    assert organ_weights_from_scores(scores) == {"liver": [0.0, 1.0], "spleen": [1.0, 1.0]}
    assert organ_weights_from_scores(scores, margin=0.2)["liver"] == [1.0, 1.0]


def test_organ_weight_zero_leaves_the_shared_organ_to_the_other_model():
    """Liver weights (0, 1): liver is VISCERAL's liver against VISCERAL's background.
    voxel 1: p .5 > b .4 -> liver; voxel 2: p .1 < b .8, stomach .1 < .3 -> background;
    voxel 4: liver .6 > kidney_left .35 -> liver. Stomach and the kidneys are unchanged.
    Weights (1, 0) give abdomen's liver alone: voxel 2 becomes liver."""
    plan = plan_merge([ABDOMEN, VISCERAL], ["abdomen", "visceral"], organ_weights={"liver": [0, 1]})
    seg, probs = merge_arrays(plan, [np.array(ABDOMEN_P), np.array(VISCERAL_P)], return_probabilities=True)
    assert seg.tolist() == [2, 1, 0, 3, 1, 4]
    np.testing.assert_allclose(probs[1], np.array(VISCERAL_P)[1], atol=1e-6)
    only_abdomen = plan_merge([ABDOMEN, VISCERAL], organ_weights={"liver": [1, 0]})
    seg_a, probs_a = merge_arrays(only_abdomen, [np.array(ABDOMEN_P), np.array(VISCERAL_P)],
                                  return_probabilities=True)
    np.testing.assert_allclose(probs_a[1], np.array(ABDOMEN_P)[1], atol=1e-6)
    assert seg_a.tolist() == [2, 1, 1, 3, 1, 4]  # voxel 2: abdomen's liver .6 > its background .3


@pytest.mark.parametrize("organ_weights, message", [
    ({"kidney": [1, 1]}, "not an organ of any model"),
    ({"liver": [1]}, "one non-negative weight per model"),
    ({"liver": [-1, 1]}, "one non-negative weight per model"),
    ({"liver": [0, 0]}, "weight 0"),
])
def test_bad_organ_weights(organ_weights, message):
    with pytest.raises(ValueError, match=message):
        plan_merge([ABDOMEN, VISCERAL], organ_weights=organ_weights)
