"""Signed-distance primitives: hand-computed values, invariants and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from torsoseg.phantom import shapes


def _pts(*xyz):
    a = np.asarray(xyz, dtype=np.float32)
    return a[:, 0], a[:, 1], a[:, 2]


def test_ellipsoid_hand_values():
    x, y, z = _pts((0, 0, 0), (10, 0, 0), (20, 0, 0), (0, 5, 0), (0, 0, 8))
    d = shapes.ellipsoid(x, y, z, (0, 0, 0), (10, 5, 5))
    assert d[1] == pytest.approx(0.0, abs=1e-5)
    assert d[2] == pytest.approx(10.0, abs=1e-4)  # on the long axis the bound is exact
    assert d[3] == pytest.approx(0.0, abs=1e-5)
    assert d[0] < 0 and d[4] > 0


def test_rotation_is_orthonormal_and_rotates_axes():
    r = shapes.rotation(0, 0, 90)
    assert np.allclose(r @ r.T, np.eye(3))
    assert np.allclose(r @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    # an ellipsoid long along x, rotated 90 degrees about z, is long along y
    x, y, z = _pts((0, 9, 0), (9, 0, 0))
    d = shapes.ellipsoid(x, y, z, (0, 0, 0), (10, 3, 3), r)
    assert d[0] < 0 < d[1]


def test_tube_distance_and_radius_interpolation():
    path = np.array([[0, 0, 0], [0, 0, 100.0]])
    x, y, z = _pts((5, 0, 0), (5, 0, 100), (0, 0, 110), (3, 0, 50))
    d = shapes.tube(x, y, z, path, [2.0, 4.0])
    assert d[0] == pytest.approx(3.0, abs=1e-4)
    assert d[1] == pytest.approx(1.0, abs=1e-4)
    assert d[2] == pytest.approx(6.0, abs=1e-4)  # beyond the cap
    assert d[3] == pytest.approx(0.0, abs=1e-4)  # radius 3 at the middle


def test_tube_needs_two_points():
    x, y, z = _pts((0, 0, 0))
    with pytest.raises(ValueError, match="at least 2 path points"):
        shapes.tube(x, y, z, np.zeros((1, 3)), [1.0])


def test_superellipse_is_zero_on_the_outline_and_signed():
    x, y, z = _pts((30, 0, 0), (0, -20, 0), (0, 15, 0), (0, 0, 0), (40, 0, 0))
    d = shapes.superellipse_2d(x, y, 30.0, 20.0, 15.0, 2.4)
    assert np.allclose(d[:3], 0.0, atol=1e-3)
    assert d[3] < 0 < d[4]
    assert d[4] == pytest.approx(10.0, abs=0.05)


def test_smooth_union_bounds_and_occupancy():
    a = np.array([-1.0, 2.0, 5.0], dtype=np.float32)
    b = np.array([3.0, 2.0, -4.0], dtype=np.float32)
    u = shapes.smooth_union(a, b, 2.0)
    assert np.all(u <= np.minimum(a, b) + 1e-6)
    assert np.allclose(shapes.smooth_union(a, b, 0.0), np.minimum(a, b))
    occ = shapes.occupancy(np.array([-10.0, 0.0, 10.0], dtype=np.float32), 2.0)
    assert occ.tolist() == [1.0, 0.5, 0.0]
    assert np.allclose(shapes.shell(np.array([0.0, -1.0, -3.0]), 2.0), [0.0, -1.0, 1.0])


def test_smooth_path_passes_through_points():
    pts = np.array([[0, 0, 0], [10, 0, 0], [10, 10, 0], [0, 10, 5.0]])
    path = shapes.smooth_path(pts, 4)
    for p in pts:
        assert np.min(np.linalg.norm(path - p, axis=1)) < 1e-9
