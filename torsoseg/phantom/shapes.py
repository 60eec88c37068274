"""Signed-distance primitives of the phantom, evaluated on arrays of patient coordinates.

Every function takes coordinate arrays ``x, y, z`` (mm, any common shape, float32) in the phantom's
patient frame (x to the patient's left, y posterior, z superior) and returns an array of the same shape:
an approximate signed distance in mm, negative inside. The approximations are exact on the surface and
good to within a few tenths of a millimetre near it, which is all the partial-volume rendering needs.

Example:
    >>> import numpy as np
    >>> x = np.array([0.0, 10.0, 20.0], dtype=np.float32)
    >>> o = np.zeros_like(x)
    >>> ellipsoid(x, o, o, (0, 0, 0), (10, 5, 5)).round(3).tolist()
    [-5.0, 0.0, 10.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Vec3 = Sequence[float]


def rotation(rx: float = 0.0, ry: float = 0.0, rz: float = 0.0) -> np.ndarray:
    """Rotation matrix (3x3) for angles in degrees about x, then y, then z (applied in that order)."""
    a, b, c = np.deg2rad([rx, ry, rz])
    mx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    my = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    mz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return mz @ my @ mx


def to_local(x, y, z, center: Vec3, rot: np.ndarray | None = None):
    """Coordinates relative to ``center`` in the frame whose axes are the columns of ``rot``."""
    dx = x - np.float32(center[0])
    dy = y - np.float32(center[1])
    dz = z - np.float32(center[2])
    if rot is None:
        return dx, dy, dz
    r = np.asarray(rot, dtype=np.float32)
    return (
        r[0, 0] * dx + r[1, 0] * dy + r[2, 0] * dz,
        r[0, 1] * dx + r[1, 1] * dy + r[2, 1] * dz,
        r[0, 2] * dx + r[1, 2] * dy + r[2, 2] * dz,
    )


def ellipsoid_local(u, v, w, radii: Vec3):
    """Ellipsoid centred at the origin of local coordinates ``u, v, w`` (bound of Quilez)."""
    rx, ry, rz = (np.float32(r) for r in radii)
    k0 = np.sqrt((u / rx) ** 2 + (v / ry) ** 2 + (w / rz) ** 2)
    k1 = np.sqrt((u / rx**2) ** 2 + (v / ry**2) ** 2 + (w / rz**2) ** 2)
    return np.where(k1 > 1e-6, k0 * (k0 - 1.0) / np.maximum(k1, 1e-6), -min(rx, ry, rz)).astype(np.float32)


def ellipsoid(x, y, z, center: Vec3, radii: Vec3, rot: np.ndarray | None = None):
    """Signed distance to an ellipsoid with semi-axes ``radii`` (mm) along the columns of ``rot``."""
    u, v, w = to_local(x, y, z, center, rot)
    return ellipsoid_local(u, v, w, radii)


def superellipse_2d(x, y, a, b_front, b_back, power: float):
    """Signed distance (approx.) to a superellipse cross-section ``|x/a|^p + |y/b|^p = 1``.

    ``b`` is ``b_front`` for ``y < 0`` (anterior) and ``b_back`` for ``y >= 0``; ``a``, ``b_front`` and
    ``b_back`` may be arrays broadcasting with ``x`` (e.g. functions of z). The implicit value is divided by
    its gradient norm, which gives the distance near the curve.
    """
    p = np.float32(power)
    b = np.where(y < 0, b_front, b_back)
    ax = np.abs(x) / a + 1e-6
    by = np.abs(y) / b + 1e-6
    s = ax**p + by**p
    rho = s ** (1.0 / p)
    # gradient of rho: rho^(1-p) * (ax^(p-1)/a, by^(p-1)/b)
    g = rho ** (1.0 - p) * np.sqrt((ax ** (p - 1) / a) ** 2 + (by ** (p - 1) / b) ** 2)
    return ((rho - 1.0) / np.maximum(g, 1e-6)).astype(np.float32)


def segment_distance(x, y, z, a: Vec3, b: Vec3):
    """Distance to the segment ``a``-``b`` and the position ``t`` in [0, 1] of the closest point."""
    ax, ay, az = (np.float32(v) for v in a)
    bx, by, bz = (np.float32(v) for v in b)
    ex, ey, ez = bx - ax, by - ay, bz - az
    ll = float(ex * ex + ey * ey + ez * ez)
    px, py, pz = x - ax, y - ay, z - az
    if ll < 1e-9:
        t = np.zeros_like(x)
    else:
        t = np.clip((px * ex + py * ey + pz * ez) / np.float32(ll), 0.0, 1.0)
    dx, dy, dz = px - t * ex, py - t * ey, pz - t * ez
    return np.sqrt(dx * dx + dy * dy + dz * dz), t


def tube(x, y, z, path: np.ndarray, radii: np.ndarray):
    """Signed distance to a tube along the polyline ``path`` ``(M, 3)`` with radius ``radii`` ``(M,)``.

    The radius varies linearly along each segment; joints are rounded (capsule union).
    """
    path = np.asarray(path, dtype=np.float64)
    radii = np.broadcast_to(np.asarray(radii, dtype=np.float64), (len(path),))
    if len(path) < 2:
        raise ValueError(f"a tube needs at least 2 path points, got {len(path)}")
    out = None
    for i in range(len(path) - 1):
        d, t = segment_distance(x, y, z, path[i], path[i + 1])
        r = np.float32(radii[i]) + t * np.float32(radii[i + 1] - radii[i])
        s = d - r
        out = s if out is None else np.minimum(out, s)
    return out.astype(np.float32)


def smooth_path(points: Sequence[Vec3], samples_per_segment: int = 4) -> np.ndarray:
    """A Catmull-Rom spline through ``points`` sampled into a denser polyline ``(M, 3)``."""
    p = np.asarray(points, dtype=np.float64)
    if len(p) < 3:
        return p
    ext = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    out = []
    for i in range(1, len(ext) - 2):
        p0, p1, p2, p3 = ext[i - 1], ext[i], ext[i + 1], ext[i + 2]
        for t in np.linspace(0, 1, samples_per_segment, endpoint=False):
            t2, t3 = t * t, t * t * t
            out.append(
                0.5
                * (
                    (2 * p1)
                    + (-p0 + p2) * t
                    + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2
                    + (-p0 + 3 * p1 - 3 * p2 + p3) * t3
                )
            )
    out.append(p[-1])
    return np.asarray(out)


def resample_radii(radii: Sequence[float], n_out: int) -> np.ndarray:
    """Linearly resamples per-control-point radii to ``n_out`` path samples."""
    r = np.asarray(radii, dtype=np.float64)
    return np.interp(np.linspace(0, len(r) - 1, n_out), np.arange(len(r)), r)


def smooth_union(a, b, k: float):
    """Union of two distance fields with a fillet of size ``k`` mm."""
    if k <= 0:
        return np.minimum(a, b)
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return (b * (1 - h) + a * h - k * h * (1 - h)).astype(np.float32)


def intersect(*fields):
    """Intersection of distance fields (maximum)."""
    out = fields[0]
    for f in fields[1:]:
        out = np.maximum(out, f)
    return out


def subtract(a, b):
    """``a`` minus ``b``."""
    return np.maximum(a, -b)


def shell(d, thickness: float):
    """A shell of ``thickness`` mm lying just inside the surface of field ``d``."""
    t = np.float32(thickness) / 2
    return np.abs(d + t) - t


def occupancy(d, width: float):
    """Partial-volume fraction in [0, 1] of a voxel of size ``width`` whose centre is at distance ``d``."""
    return np.clip(0.5 - d / np.float32(width), 0.0, 1.0)
