"""Smooth random fields: the deformation of a patient and the textures of its tissues.

Two kinds, both sampled once from a seed and then evaluated deterministically anywhere:

* :class:`FourierField` - a sum of a few random sinusoids (infinitely smooth, cheap, no grid), used for
  the smooth deformation of the whole anatomy and for bumps on organ surfaces;
* :class:`LatticeNoise` - white noise on a coarse lattice smoothed by a Gaussian and interpolated
  trilinearly, unit variance, used for tissue texture, lobulation and the bowel and lung-vessel patterns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage


class FourierField:
    """``f(p) = sum_j a_j sin(w_j . p + phi_j)`` for ``components`` output channels.

    Args:
        rng: random generator the parameters are drawn from (drawn once, at construction).
        components: number of output channels (3 for a displacement field).
        terms: sinusoids per channel.
        wavelength_mm: (min, max) wavelength of the sinusoids.
        amplitude: each term's amplitude is uniform in ``[0, amplitude]`` (output units).
    """

    def __init__(
        self,
        rng: np.random.Generator,
        components: int,
        terms: int,
        wavelength_mm: tuple[float, float],
        amplitude: float,
    ) -> None:
        n = components * terms
        direction = rng.normal(size=(n, 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        wavelength = rng.uniform(wavelength_mm[0], wavelength_mm[1], size=n)
        self.omega = (direction * (2 * np.pi / wavelength)[:, None]).reshape(components, terms, 3)
        self.phase = rng.uniform(0, 2 * np.pi, size=(components, terms))
        self.amp = rng.uniform(0, amplitude, size=(components, terms))
        self.components = components
        self.terms = terms

    @property
    def max_amplitude(self) -> float:
        """Upper bound of ``|f|`` over space (per channel)."""
        return float(self.amp.sum(axis=1).max()) if self.amp.size else 0.0

    def __call__(self, x, y, z, component: int = 0):
        out = np.zeros(np.broadcast_shapes(np.shape(x), np.shape(y), np.shape(z)), dtype=np.float32)
        for j in range(self.terms):
            w = self.omega[component, j].astype(np.float32)
            out += np.float32(self.amp[component, j]) * np.sin(
                w[0] * x + w[1] * y + w[2] * z + np.float32(self.phase[component, j])
            )
        return out


class LatticeNoise:
    """Smooth Gaussian noise of unit variance and correlation length ``feature_mm`` over a box.

    Args:
        rng: random generator (drawn once, at construction).
        lo, hi: the box (patient mm) the noise covers; outside it the edge values repeat.
        feature_mm: correlation length (roughly the size of a blob).
        max_points: cap of lattice size; the lattice is coarsened if the box is too large.
        min_step: smallest lattice step (mm); features finer than the voxels need no finer lattice.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        lo: Sequence[float],
        hi: Sequence[float],
        feature_mm: float,
        max_points: int = 1_500_000,
        min_step: float = 0.0,
    ) -> None:
        lo = np.asarray(lo, dtype=np.float64)
        hi = np.asarray(hi, dtype=np.float64)
        step = max(feature_mm / 2.0, min_step)
        extent = np.maximum(hi - lo, step)
        while np.prod(np.ceil(extent / step) + 5) > max_points:
            step *= 1.25
        shape = tuple(int(s) for s in np.ceil(extent / step) + 5)
        sigma = feature_mm / step / 2.0
        white = rng.standard_normal(size=shape).astype(np.float32)
        smooth = ndimage.gaussian_filter(white, sigma=sigma, mode="wrap", truncate=3.0)
        std = float(smooth.std())
        self.grid = (smooth / (std if std > 0 else 1.0)).astype(np.float32)
        self.lo = lo - 2 * step
        self.step = step

    def _interp_axis(self, g: np.ndarray, axis: int, coords: np.ndarray) -> np.ndarray:
        """Linear interpolation of ``g`` along ``axis`` at lattice positions of ``coords`` (mm)."""
        n = self.grid.shape[axis]
        p = (np.asarray(coords, dtype=np.float64).ravel() - self.lo[axis]) / self.step
        i0 = np.clip(np.floor(p).astype(np.int64), 0, n - 2)
        f = np.clip(p - i0, 0.0, 1.0).astype(np.float32)
        shape = [1, 1, 1]
        shape[axis] = -1
        f = f.reshape(shape)
        return np.take(g, i0, axis=axis) * (1.0 - f) + np.take(g, i0 + 1, axis=axis) * f

    def on_axes(self, xs: np.ndarray, ys: np.ndarray, zs: np.ndarray) -> np.ndarray:
        """The noise on the grid ``xs x ys x zs`` (1D coordinates), by separable linear interpolation.

        Returns:
            float32 array ``(len(xs), len(ys), len(zs))``.
        """
        out = self.grid
        for axis, c in enumerate((xs, ys, zs)):
            out = self._interp_axis(out, axis, c)
        return np.ascontiguousarray(out, dtype=np.float32)

    def __call__(self, x, y, z):
        shape = np.broadcast_shapes(np.shape(x), np.shape(y), np.shape(z))
        coords = [
            ((np.broadcast_to(c, shape) - np.float32(self.lo[a])) / np.float32(self.step)).ravel()
            for a, c in enumerate((x, y, z))
        ]
        out = ndimage.map_coordinates(self.grid, coords, order=1, mode="nearest")
        return out.reshape(shape).astype(np.float32)


def correlated_noise_2d(
    rng: np.random.Generator, shape: tuple[int, ...], sigma_px: float, std: float
) -> np.ndarray:
    """In-plane correlated Gaussian noise ``(nx, ny, nz)``: white noise blurred per slice, then scaled.

    The blur (``sigma_px`` voxels along axes 0 and 1) mimics the texture of filtered back-projection
    noise; the result has standard deviation ``std`` (HU).
    """
    white = rng.standard_normal(size=shape).astype(np.float32)
    if sigma_px > 0:
        white = ndimage.gaussian_filter(white, sigma=(sigma_px, sigma_px, 0), mode="reflect")
        # the variance of blurred unit white noise is 1 / (4 pi sigma^2) in 2D (approximately)
        white *= np.float32(np.sqrt(4 * np.pi) * sigma_px)
    return white * np.float32(std)
