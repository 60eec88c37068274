"""Optional prediction outputs: label names become file names only when they are plain names."""

from __future__ import annotations

import numpy as np
import pytest

from tests.checks_table import CHECKS
from torsoseg.imageio import Volume
from torsoseg.inference.outputs import PredictionOptions, write_split_organs


def test_split_organs_refuses_a_label_name_that_is_a_path(tmp_path):
    arr = np.zeros((4, 3, 2), np.uint8)
    arr[1:3, 1, :] = 1
    label_map = Volume(arr, (0.8, 0.8, 2.5))
    labels = {"background": 0, "../../escaped": 1}
    with pytest.raises(ValueError, match=CHECKS["name_from_json"].pattern):
        PredictionOptions(split_organs=True).validate(labels)
    PredictionOptions().validate(labels)  # without --split-organs the name never reaches the filesystem
    with pytest.raises(ValueError, match="label name .* '../../escaped' is not a valid name"):
        write_split_organs(label_map, labels, tmp_path / "case")
    assert list(tmp_path.iterdir()) == []
    written = write_split_organs(label_map, {"background": 0, "liver": 1}, tmp_path / "case")
    assert [p.name for p in written] == ["liver.nii.gz"]
