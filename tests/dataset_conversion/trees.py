"""Miniature source trees in each format's real on-disk layout, built from tiny synthetic volumes.

A :class:`MiniCase` is drawn in canonical LPS index space (axis 0 grows to the patient's left), so every
``*_right`` structure lies at smaller world x than its ``*_left`` twin; it can then be *stored* in another
orientation (RAS: axes 0 and 1 flipped in the file) to exercise real world-coordinate handling.
Spacing is anisotropic and non-unit. Each structure is a box in its own slot; ``overlap`` grows chosen
structures by one voxel so per-structure masks contest voxels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from torsoseg import imageio
from torsoseg.imageio import Volume

SPACING = (0.8, 1.1, 2.5)
ORIGIN = (-7.0, 20.0, -100.0)


@dataclass(frozen=True)
class MiniCase:
    """A tiny CT with structures: ``image`` int16 HU, ``label_map`` uint8 values ``labels[name]``."""

    image: Volume
    label_map: Volume
    labels: dict[str, int]  # name -> value (no background)

    def masks(self) -> dict[str, np.ndarray]:
        return {n: self.label_map.array == v for n, v in self.labels.items()}


def _side(name: str) -> tuple[str | None, str | None]:
    """(side, canonical twin) of a structure name in any spelling known to the vocabulary."""
    from torsoseg import organs

    if not organs.is_known(name):
        return None, None
    return organs.side_of(name), organs.pair_of(name)


def _slots(names: list[str]) -> dict[str, tuple[slice, slice, slice]]:
    """Box per structure: a pair shares a (y, z) slot, right at low x, left at high x."""
    from torsoseg import organs

    canon = {organs.key(n): n for n in names}
    placed: dict[str, tuple[slice, slice, slice]] = {}
    slot = 0
    done: set[str] = set()
    for n in names:
        if n in done:
            continue
        y0 = 1 + 5 * (slot % 2)
        z0 = 1 + 3 * (slot // 2)
        ys, zs = slice(y0, y0 + 4), slice(z0, z0 + 2)
        side, twin = _side(n)
        twin_name = canon.get(twin) if twin is not None else None
        if side is not None and twin_name is not None:
            right, left = (n, twin_name) if side == "right" else (twin_name, n)
            placed[right] = (slice(1, 7), ys, zs)
            placed[left] = (slice(9, 15), ys, zs)
            done.update((right, left))
        elif side == "right":
            placed[n] = (slice(1, 7), ys, zs)
            done.add(n)
        elif side == "left":
            placed[n] = (slice(9, 15), ys, zs)
            done.add(n)
        else:
            placed[n] = (slice(4 + slot % 3, 11 + slot % 3), ys, zs)
            done.add(n)
        slot += 1
    return placed


def make_case(names: list[str], seed: int = 0, orientation: str = "LPS", drop: tuple[str, ...] = ()
              ) -> MiniCase:
    """A tiny case holding the structures ``names`` (values 1.. in that order) except ``drop``.

    Args:
        names: structure names (any spelling; sides read from ``_right``/``_left`` suffixes).
        seed: intensity noise seed.
        orientation: ``"LPS"`` (identity direction) or ``"RAS"`` (axes 0 and 1 flipped in the file).
        drop: structures left out of this case (values keep their place).
    """
    slots = _slots(list(names))
    nz = 1 + 3 * ((len(slots) + 1) // 2) + 1
    shape = (16, 11, nz)
    rng = np.random.default_rng(seed)
    lab = np.zeros(shape, np.uint8)
    img = rng.normal(-80, 20, shape)
    labels = {}
    for i, n in enumerate(names, start=1):
        labels[n] = i
        if n in drop:
            continue
        lab[slots[n]] = i
        img[slots[n]] += 40 + 7 * i
    img = np.round(img).astype(np.int16)
    image = Volume(img, SPACING, ORIGIN)
    label_map = Volume(lab, SPACING, ORIGIN)
    if orientation == "RAS":
        image, label_map = to_ras(image), to_ras(label_map)
    elif orientation != "LPS":
        raise ValueError(orientation)
    return MiniCase(image, label_map, labels)


def to_ras(vol: Volume) -> Volume:
    """The same voxels stored with axes 0 and 1 reversed (direction diag(-1, -1, 1))."""
    g = vol.geometry
    corner = g.index_to_world(np.array([g.shape[0] - 1, g.shape[1] - 1, 0]))
    arr = np.ascontiguousarray(vol.array[::-1, ::-1, :])
    return Volume(arr, vol.spacing, tuple(corner), ((-1, 0, 0), (0, -1, 0), (0, 0, 1)))


def write(vol: Volume | np.ndarray, path: Path, like: Volume | None = None) -> Path:
    if not isinstance(vol, Volume):
        vol = like.with_array(vol)
    return imageio.write_image(vol, path)


def write_json(obj, path: Path, bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, indent=1)
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return path


def junk(path: Path) -> Path:
    """A macOS AppleDouble file (``._name``) beside ``path``: not an image."""
    j = path.with_name("._" + path.name)
    j.write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    return j


def lps_mask_world_x(case: MiniCase, name: str) -> float:
    """World x of a structure's centre (for laterality assertions)."""
    idx = np.argwhere(case.label_map.array == case.labels[name]).mean(axis=0)
    return float(case.label_map.geometry.index_to_world(idx)[0])


def read(path: Path) -> Volume:
    return imageio.read_image(path)


def load_dataset(folder: Path) -> dict:
    return json.loads((folder / "dataset.json").read_text())


def assert_same_geometry(a: Volume, b: Volume) -> None:
    assert a.shape == b.shape
    np.testing.assert_allclose(a.spacing, b.spacing, rtol=0, atol=1e-6)
    np.testing.assert_allclose(a.origin, b.origin, rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(a.direction), np.asarray(b.direction), rtol=0, atol=1e-9)


def assert_converted(folder: Path, cases: dict[str, MiniCase], expected: list[str], subset: str = "Tr",
                     rename: dict[str, str] | None = None) -> dict:
    """Checks a converted dataset against its source cases.

    ``expected`` is the output label order (canonical names); ``rename`` maps a source structure name
    to its output name where they differ (default: the canonical name of the source name).
    """
    from torsoseg import organs
    from torsoseg.dataset import verify_dataset

    ds = load_dataset(folder)
    assert list(ds["labels"]) == ["background", *expected]
    assert list(ds["labels"].values()) == list(range(len(expected) + 1))
    assert verify_dataset(folder) == []
    for ident, case in cases.items():
        img = read(folder / f"images{subset}" / f"{ident}_0000.nii.gz")
        lab = read(folder / f"labels{subset}" / f"{ident}.nii.gz")
        assert_same_geometry(img, case.image)
        assert_same_geometry(lab, case.image)
        assert img.array.dtype == case.image.array.dtype
        np.testing.assert_array_equal(img.array, case.image.array)
        expected_masks: dict[str, np.ndarray] = {}
        for name, mask in case.masks().items():
            out = (rename or {}).get(name) or (organs.canonical_name(name) if organs.is_known(name) else None)
            if out in ds["labels"]:
                expected_masks[out] = expected_masks.get(out, np.zeros_like(mask)) | mask
        for out, mask in expected_masks.items():
            got = lab.array == ds["labels"][out]
            assert int(got.sum()) == int(mask.sum()), (ident, out)
            assert np.array_equal(got, mask), (ident, out)
        union = np.zeros(lab.shape, bool)
        for m in expected_masks.values():
            union |= m
        assert not (lab.array[~union]).any(), ident
    return ds
