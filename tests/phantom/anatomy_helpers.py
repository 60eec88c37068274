"""Painting one builder's parts of a sampled patient on a coarse grid (shared by the anatomy tests)."""

from __future__ import annotations

import numpy as np

from torsoseg.phantom.intensities import sample_hu
from torsoseg.phantom.layout import sample_layout
from torsoseg.phantom.patient import sample_patient
from torsoseg.phantom.render import Grid, RenderContext, paint
from torsoseg.phantom.trunk import body_box


def patient_and_layout(seed: int = 0):
    pt = sample_patient(np.random.default_rng(seed))
    return pt, sample_layout(pt, np.random.default_rng(seed + 1000))


def paint_parts(pt, parts, step: float = 6.0):
    """Paints ``parts`` on an isotropic grid over the body; returns (hu, internal labels, axis coords)."""
    lo, hi = body_box(pt)
    shape = tuple(int(np.ceil((h - lo_) / step)) + 1 for lo_, h in zip(lo, hi))
    grid = Grid(shape, (step, step, step), tuple(lo))
    hu, label = paint(parts, grid, RenderContext(0, lo, hi, min_step=step), None)
    return hu, label, [grid.axis_coords(a) for a in range(3)]


def centroid(label, value, axes):
    idx = np.argwhere(label == value)
    assert len(idx), f"label {value} is empty"
    return np.array([axes[a][idx[:, a]].mean() for a in range(3)])


def hu_table(seed: int = 0, phase: str = "portal_venous"):
    return sample_hu(np.random.default_rng(seed), phase)
