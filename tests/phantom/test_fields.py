"""Random fields: determinism, bounds, separable evaluation equals pointwise evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from torsoseg.phantom.fields import FourierField, LatticeNoise, correlated_noise_2d


def test_fourier_field_is_deterministic_and_bounded():
    f1 = FourierField(np.random.default_rng(3), 3, 4, (100, 200), 2.0)
    f2 = FourierField(np.random.default_rng(3), 3, 4, (100, 200), 2.0)
    p = np.random.default_rng(0).uniform(-300, 300, size=(3, 1000)).astype(np.float32)
    for c in range(3):
        v = f1(*p, component=c)
        assert np.array_equal(v, f2(*p, component=c))
        assert np.max(np.abs(v)) <= f1.max_amplitude + 1e-4
    assert f1.max_amplitude <= 4 * 2.0


def test_lattice_noise_unit_variance_and_axes_match_points():
    noise = LatticeNoise(np.random.default_rng(1), (0, 0, 0), (100, 80, 60), 8.0)
    xs = np.linspace(0, 100, 21, dtype=np.float32)
    ys = np.linspace(0, 80, 17, dtype=np.float32)
    zs = np.linspace(0, 60, 13, dtype=np.float32)
    grid = noise.on_axes(xs, ys, zs)
    X, Y, Z = np.meshgrid(xs, ys, zs, indexing="ij")
    assert grid.shape == (21, 17, 13)
    assert np.allclose(grid, noise(X, Y, Z), atol=1e-4)
    assert 0.5 < float(noise.grid.std()) < 1.5


def test_lattice_noise_is_smooth_at_its_feature_size():
    noise = LatticeNoise(np.random.default_rng(2), (0, 0, 0), (200, 200, 200), 20.0)
    xs = np.arange(0, 200, 1.0, dtype=np.float32)
    line = noise.on_axes(xs, np.array([100.0], np.float32), np.array([100.0], np.float32)).ravel()
    step = np.abs(np.diff(line))
    assert step.max() < 0.5  # 1 mm apart, nearly equal
    assert np.abs(line[::40][:-1] - line[::40][1:]).mean() > 0.3  # 40 mm apart, decorrelated


def test_correlated_noise_std_and_correlation():
    n = correlated_noise_2d(np.random.default_rng(0), (96, 96, 8), 1.0, 12.0)
    assert n.std() == pytest.approx(12.0, rel=0.2)
    lag1 = np.corrcoef(n[:-1].ravel(), n[1:].ravel())[0, 1]
    lagz = np.corrcoef(n[:, :, :-1].ravel(), n[:, :, 1:].ravel())[0, 1]
    assert lag1 > 0.4 and abs(lagz) < 0.1
