"""Tiny raw datasets (nnU-Net layout) for the planning and preprocessing tests.

Cases come from the phantom (``torsoseg.phantom.generate_case(kind, seed, size="tiny")``) when it is
available, else from a synthetic torso: a soft-tissue ellipsoid body in air (-1000 HU) on a separate
dense couch, holding a liver-like, a spleen-like and a lung-like organ. Spacings are anisotropic and
differ per case; every other case is stored in RAS orientation so reorientation is exercised.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from torsoseg import dataset, imageio
from torsoseg.imageio import Volume

SYNTH_LABELS = {"background": 0, "liver": 1, "spleen": 2, "lung_right": 3}


def synthetic_case(seed: int, shape=(44, 40, 32), spacing=(1.6, 1.6, 2.5), ras: bool = False):
    """``(image Volume int16 HU, label Volume uint8, labels)`` of a synthetic torso."""
    rng = np.random.default_rng(seed)
    nx, ny, nz = shape
    x, y, z = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in shape), indexing="ij")
    cx, cy, cz = nx / 2 + rng.uniform(-1, 1), ny / 2 - 2 + rng.uniform(-1, 1), nz / 2
    body = ((x - cx) / (0.38 * nx)) ** 2 + ((y - cy) / (0.33 * ny)) ** 2 + ((z - cz) / (0.45 * nz)) ** 2 <= 1
    img = np.full(shape, -1000.0, dtype=np.float32)
    img[body] = 30.0
    img[:, ny - 3 : ny - 1, :] = 300.0  # couch, separate from the body
    lab = np.zeros(shape, dtype=np.uint8)

    def blob(c, r):
        return ((x - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((z - c[2]) / r[2]) ** 2 <= 1

    liver = blob((cx - 0.15 * nx, cy, cz - 2), (0.14 * nx, 0.16 * ny, 0.2 * nz)) & body
    spleen = blob((cx + 0.18 * nx, cy + 2, cz - 3), (0.07 * nx, 0.08 * ny, 0.12 * nz)) & body
    lung = blob((cx - 0.12 * nx, cy - 1, cz + 0.28 * nz), (0.12 * nx, 0.14 * ny, 0.12 * nz)) & body
    lab[liver], img[liver] = 1, 100.0
    lab[spleen], img[spleen] = 2, 140.0
    lab[lung], img[lung] = 3, -800.0
    img += rng.normal(0, 12, shape).astype(np.float32)
    img = np.clip(np.round(img), -1024, 3000).astype(np.int16)
    vol, lvol = Volume(img, spacing, (-30.0, -20.0, 10.0)), Volume(lab, spacing, (-30.0, -20.0, 10.0))
    if ras:  # same voxels in the world, stored flipped along x and y
        d = np.diag([-1.0, -1.0, 1.0])
        origin = vol.geometry.index_to_world(np.array([nx - 1, ny - 1, 0]))
        vol = Volume(img[::-1, ::-1].copy(), spacing, tuple(origin), d)
        lvol = Volume(lab[::-1, ::-1].copy(), spacing, tuple(origin), d)
    return vol, lvol, dict(SYNTH_LABELS)


def phantom_available() -> bool:
    try:
        from torsoseg.phantom import generate_case  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=16)
def _phantom(kind: str, seed: int):
    from torsoseg.phantom import generate_case

    case = generate_case(kind, seed, size="tiny")  # a few seconds: generated once per test session
    return case.image, case.label_map, dict(case.labels)


def make_case(seed: int, kind: str = "abdomen", synthetic: bool | None = None):
    """One case: the tiny phantom when available (and ``synthetic`` is not True), else synthetic."""
    if synthetic is None:
        synthetic = not phantom_available()
    if not synthetic:
        image, label, labels = _phantom(kind, seed)
        return image, label, dict(labels)
    spacing = ((1.6, 1.6, 2.5), (1.4, 1.4, 3.0), (1.8, 1.8, 2.0), (1.5, 1.5, 2.5))[seed % 4]
    return synthetic_case(seed, spacing=spacing, ras=bool(seed % 2))


def write_raw_dataset(
    root: Path, dataset_id: int = 1, name: str = "Synth", n: int = 3, seed: int = 0, **kw
) -> Path:
    """Writes ``root/DatasetXXX_name`` with ``n`` cases; returns the folder."""
    folder = Path(root) / dataset.dataset_dir_name(dataset_id, name)
    labels = None
    for i in range(n):
        img, lab, labels = make_case(seed + i, **kw)
        imageio.write_image(img, folder / "imagesTr" / f"case_{i:03d}_0000.nii.gz")
        imageio.write_image(lab, folder / "labelsTr" / f"case_{i:03d}.nii.gz")
    dataset.write_dataset_json(folder, labels, n, name=name)
    return folder
