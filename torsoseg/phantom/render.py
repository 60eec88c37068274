"""Painting anatomy parts onto a voxel grid with partial volume, then blurring and adding noise.

An anatomy is a list of :class:`Part` objects painted in order (later parts cover earlier ones). Each
part has a signed-distance function of patient coordinates; its partial-volume fraction in a voxel is
``clip(0.5 - d / w, 0, 1)`` with ``w`` the voxel size, and the voxel's HU moves that fraction of the
way to the part's HU. The label of a voxel is the last part covering at least half of it. Thick slices
are supersampled along z (HU averaged, label taken at the slice centre). Parts are evaluated only
inside their bounding box, and everything is vectorised over voxels.

The grid is canonical (array axis 0 = patient's left, 1 = posterior, 2 = superior); storage
orientations are produced afterwards by flipping axes (:mod:`torsoseg.phantom.case`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from torsoseg.phantom.fields import FourierField, LatticeNoise, correlated_noise_2d
from torsoseg.phantom.shapes import occupancy, segment_distance

HUValue = float | Callable[["Block"], np.ndarray]


@dataclass(frozen=True)
class Grid:
    """A canonical voxel grid in patient coordinates.

    Attributes:
        shape: ``(nx, ny, nz)``.
        spacing: mm per axis.
        origin: patient-frame position (mm) of voxel ``(0, 0, 0)``.
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]

    def axis_coords(self, axis: int) -> np.ndarray:
        return (self.origin[axis] + np.arange(self.shape[axis]) * self.spacing[axis]).astype(np.float32)


@dataclass
class Part:
    """One painted piece of anatomy.

    Attributes:
        name: for logs and debugging.
        lo, hi: bounding box (patient mm, before deformation) outside which the part is empty.
        sdf: signed distance (mm, negative inside) of the part on a :class:`Block`.
        hu: the part's HU, a number or a function of the block (textures).
        label: internal label value painted where the part covers >= half a voxel; 0 clears the label,
            ``None`` leaves labels alone (intensity-only detail such as vessels inside an organ).
        label_fn: optional per-voxel label (overrides ``label``), e.g. the vertebra that is L1.
    """

    name: str
    lo: Sequence[float]
    hi: Sequence[float]
    sdf: Callable[[Block], np.ndarray]
    hu: HUValue
    label: int | None = 0
    label_fn: Callable[[Block], np.ndarray] | None = None


@dataclass
class Block:
    """Deformed patient coordinates of a box of voxels, and access to the patient's noise fields.

    Attributes:
        x, y, z: deformed patient coordinates (mm) of the box's voxels.
        axes: the undeformed coordinates along each axis (1D arrays), for separable evaluations.
        key: identifies the box within the current slab (for :meth:`memo`).
        box: the painted part's bounding box (lo, hi), the default extent of its noise fields.
        margin: bound (mm) of the deformation, for bounding-box tests.
        ctx: the patient's render context.
    """

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    axes: tuple[np.ndarray, np.ndarray, np.ndarray]
    key: tuple
    margin: float
    ctx: RenderContext
    box: tuple = ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0))

    @property
    def zo(self) -> np.ndarray:
        """Undeformed z, shaped ``(1, 1, nz)`` to broadcast (for functions of z only, e.g. the outline)."""
        return self.axes[2][None, None, :]

    def noise(self, key: str, feature_mm: float, lo=None, hi=None) -> np.ndarray:
        """Unit-variance smooth noise ``key`` (one fixed field per patient and key) on this block.

        Evaluated on the undeformed axes (separable interpolation), so it is cheap on any block.
        """
        if lo is None:
            lo, hi = self.box
        return self.ctx.noise(key, feature_mm, lo, hi).on_axes(*self.axes)

    def memo(self, name: str, fn: Callable[[], np.ndarray]) -> np.ndarray:
        """``fn()`` computed once per box and slab (parts sharing a bounding box share the result)."""
        return self.ctx.memo((name, self.key), fn)

    def tube(self, path: np.ndarray, radii) -> np.ndarray:
        """:func:`~torsoseg.phantom.shapes.tube`, evaluating each segment only near itself."""
        return tube_windowed(self.x, self.y, self.z, self.axes, self.margin, path, radii)


@dataclass
class RenderContext:
    """Per-patient state shared by all parts: the seed, the body box and cached noise fields."""

    seed: int
    lo: Sequence[float]
    hi: Sequence[float]
    min_step: float = 0.0
    _cache: dict = field(default_factory=dict)
    _memo: dict = field(default_factory=dict)

    def rng(self, key: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(key.encode())])

    def noise(self, key: str, feature_mm: float, lo=None, hi=None) -> LatticeNoise:
        ck = (key, feature_mm)
        if ck not in self._cache:
            self._cache[ck] = LatticeNoise(
                self.rng("noise:" + key),
                self.lo if lo is None else lo,
                self.hi if hi is None else hi,
                feature_mm,
                min_step=self.min_step,
            )
        return self._cache[ck]

    def memo(self, key, fn):
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    def clear_memo(self) -> None:
        self._memo.clear()


def tube_windowed(x, y, z, axes, margin: float, path: np.ndarray, radii) -> np.ndarray:
    """Tube distance like :func:`~torsoseg.phantom.shapes.tube`, but each segment is evaluated only in
    the sub-box of voxels within its radius (plus ``margin``) of it; elsewhere the value is an upper
    bound (large), which is all painting needs."""
    path = np.asarray(path, dtype=np.float64)
    radii = np.broadcast_to(np.asarray(radii, dtype=np.float64), (len(path),))
    out = np.full(np.shape(x), 1e4, dtype=np.float32)
    for i in range(len(path) - 1):
        a, b = path[i], path[i + 1]
        r = max(radii[i], radii[i + 1]) + margin + 2.0
        sl = []
        for ax in range(3):
            lo, hi = min(a[ax], b[ax]) - r, max(a[ax], b[ax]) + r
            c = axes[ax]
            i0 = int(np.searchsorted(c, lo, side="left"))
            i1 = int(np.searchsorted(c, hi, side="right"))
            sl.append(slice(i0, i1))
        if any(s.start >= s.stop for s in sl):
            continue
        sl = tuple(sl)
        d, t = segment_distance(x[sl], y[sl], z[sl], a, b)
        rr = np.float32(radii[i]) + t * np.float32(radii[i + 1] - radii[i])
        np.minimum(out[sl], d - rr, out=out[sl])
    return out


def _axis_range(lo: float, hi: float, origin: float, step: float, n: int) -> tuple[int, int]:
    a = int(np.floor((lo - origin) / step))
    b = int(np.ceil((hi - origin) / step)) + 1
    return max(a, 0), min(b, n)


def paint(
    parts: Sequence[Part],
    grid: Grid,
    ctx: RenderContext,
    deformation: FourierField | None,
    background_hu: float = -1000.0,
    max_voxels_per_slab: int = 6_000_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Paints ``parts`` onto ``grid``.

    Args:
        parts: painted in order.
        grid: canonical grid.
        ctx: the patient's render context.
        deformation: smooth displacement (mm) added to every voxel's coordinates before the parts are
            evaluated, or ``None``.
        background_hu: HU of voxels no part covers (air).
        max_voxels_per_slab: memory bound; the volume is painted in slabs of slices.

    Returns:
        ``hu`` float32 ``(nx, ny, nz)`` (no blur, no noise) and ``label`` uint8 internal values.
    """
    nx, ny, nz = grid.shape
    sx, sy, sz = grid.spacing
    k = 1 if sz <= 2.0 * max(sx, sy) else 3
    width = float(np.sqrt((sx * sx + sy * sy + (sz / k) ** 2) / 3.0))
    margin = (deformation.max_amplitude if deformation is not None else 0.0) + 2 * width + sz
    hu = np.full(grid.shape, background_hu, dtype=np.float32)
    label = np.zeros(grid.shape, dtype=np.uint8)
    xs, ys = grid.axis_coords(0), grid.axis_coords(1)
    zs = grid.axis_coords(2)
    sub = ((np.arange(k) - (k - 1) / 2.0) * sz / k).astype(np.float32)
    slab = max(1, min(nz, max_voxels_per_slab // max(1, nx * ny * k)))
    for z0 in range(0, nz, slab):
        z1 = min(nz, z0 + slab)
        zz = (zs[z0:z1, None] + sub[None, :]).ravel()  # (n*k,)
        X = np.broadcast_to(xs[:, None, None], (nx, ny, zz.size))
        Y = np.broadcast_to(ys[None, :, None], (nx, ny, zz.size))
        Z = np.broadcast_to(zz[None, None, :], (nx, ny, zz.size))
        if deformation is not None:
            dx, dy, dz = (deformation(X, Y, Z, c) for c in range(3))
            X, Y, Z = X + dx, Y + dy, Z + dz
        ctx.clear_memo()
        h = np.full(X.shape, background_hu, dtype=np.float32)
        lab = np.zeros(X.shape, dtype=np.uint8)
        zlo, zhi = float(zz.min()), float(zz.max())
        for part in parts:
            i0, i1 = _axis_range(part.lo[0] - margin, part.hi[0] + margin, xs[0], sx, nx)
            j0, j1 = _axis_range(part.lo[1] - margin, part.hi[1] + margin, ys[0], sy, ny)
            if part.hi[2] + margin < zlo or part.lo[2] - margin > zhi:
                continue
            kk0, kk1 = _axis_range(part.lo[2] - margin, part.hi[2] + margin, float(zz[0]), sz / k, zz.size)
            if i0 >= i1 or j0 >= j1 or kk0 >= kk1:
                continue
            sl = (slice(i0, i1), slice(j0, j1), slice(kk0, kk1))
            axes = (xs[i0:i1], ys[j0:j1], zz[kk0:kk1])
            box = (np.subtract(part.lo, margin), np.add(part.hi, margin))
            blk = Block(X[sl], Y[sl], Z[sl], axes, (i0, i1, j0, j1, kk0, kk1), margin, ctx, box)
            f = occupancy(part.sdf(blk), width)
            if not np.any(f > 0):
                continue
            value = part.hu(blk) if callable(part.hu) else np.float32(part.hu)
            hs = h[sl]
            hs += f * (value - hs)
            if part.label_fn is not None:
                lab[sl] = np.where(f >= 0.5, part.label_fn(blk), lab[sl])
            elif part.label is not None:
                lab[sl][f >= 0.5] = part.label
        ctx.clear_memo()
        n = z1 - z0
        hu[:, :, z0:z1] = h.reshape(nx, ny, n, k).mean(axis=3)
        label[:, :, z0:z1] = lab.reshape(nx, ny, n, k)[:, :, :, k // 2]
    return hu, label


def finish_image(
    hu: np.ndarray,
    rng: np.random.Generator,
    psf_px: float,
    noise_std: float,
    noise_corr_px: float,
) -> np.ndarray:
    """Scanner blur (in-plane Gaussian PSF), correlated noise, then quantisation to int16 HU."""
    out = hu
    if psf_px > 0:
        out = ndimage.gaussian_filter(out, sigma=(psf_px, psf_px, 0), mode="nearest")
    if noise_std > 0:
        noise = correlated_noise_2d(rng, out.shape, noise_corr_px, noise_std)
        # less quantum noise in air outside the patient is not modelled; CT noise is roughly uniform
        out = out + noise
    return np.clip(np.rint(out), -1024, 3071).astype(np.int16)
