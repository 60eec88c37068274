"""The ``--preview`` PNG: slice choice, colours, legend, grid check, atomic write."""

from __future__ import annotations

import numpy as np
import pytest

from torsoseg.imageio import Volume
from torsoseg.inference.preview import label_colors, save_preview, slice_indices


def test_slice_indices_hand_computed():
    lab = np.zeros((10, 8, 6), np.uint8)
    lab[2:5, 6, 1:4] = 1
    assert slice_indices(lab) == (3, 6, 2)
    assert slice_indices(np.zeros((10, 8, 6), np.uint8)) == (5, 4, 3)  # nothing labelled: the centre


def test_label_colors_background_transparent_and_distinct():
    c = label_colors(40)
    assert c.shape == (40, 4) and c[0, 3] == 0.0 and (c[1:, 3] == 1.0).all()
    assert len({tuple(x) for x in c[1:]}) == 39


def _case():
    img = np.full((30, 26, 12), -800, np.int16)
    img[5:25, 4:22, 2:10] = 50
    lab = np.zeros(img.shape, np.uint8)
    lab[6:12, 8:14, 3:8] = 2
    lab[18:24, 8:14, 3:8] = 3
    geo = dict(spacing=(1.2, 1.0, 3.0), origin=(0.0, 0.0, 0.0), direction=((-1, 0, 0), (0, -1, 0), (0, 0, 1)))
    return Volume(img, **geo), Volume(lab, **geo)


def test_save_preview_writes_a_png(tmp_path):
    img, lab = _case()
    out = save_preview(img, lab, {"background": 0, "liver": 1, "kidney_right": 2, "kidney_left": 3},
                       tmp_path / "sub" / "case.png", title="case")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    assert [p.name for p in out.parent.iterdir()] == ["case.png"]  # no temporary file left
    empty = save_preview(img, lab.with_array(np.zeros_like(lab.array)), {"background": 0}, tmp_path / "e.png")
    assert empty.stat().st_size > 1000


def test_save_preview_rejects_a_label_map_on_another_grid(tmp_path):
    img, lab = _case()
    moved = Volume(lab.array, lab.spacing, (5.0, 0.0, 0.0), lab.direction)
    with pytest.raises(ValueError, match="differs from image"):
        save_preview(img, moved, {"background": 0}, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_overlay_colours_tell_neighbouring_organs_apart_and_sides_are_marked():
    from torsoseg.inference.preview import VIEW_MARKERS, overlay_colors

    labels = {"background": 0, "liver": 1, "spleen": 2, "lesion": 3}
    c = overlay_colors(labels, 5)
    assert c[0, 3] == 0.0 and c.shape == (5, 4)
    assert np.abs(c[1, :3] - c[2, :3]).max() > 0.15  # liver and spleen clearly different
    assert np.abs(c[1, :3] - c[3, :3]).max() > 0.0
    assert VIEW_MARKERS["axial"] == ("R", "L") and VIEW_MARKERS["sagittal"] == ("A", "P")
