"""Integrity on every read: truncated/corrupt files and broken DICOM series are refused, naming the file.

The messages asserted here are the ones documentation/checks.md quotes (see tests/checks_table.py).
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from torsoseg import imagecheck, imageio

from .checks_table import CHECKS


def _volume(seed: int = 0) -> imageio.Volume:
    rng = np.random.default_rng(seed)
    arr = rng.integers(-1000, 1500, size=(24, 20, 16)).astype(np.int16)
    return imageio.Volume(arr, spacing=(0.8, 0.9, 2.5), origin=(-10.0, 5.0, 30.0))


def truncate(path: Path, fraction: float = 0.5) -> Path:
    """What ``head -c $((size/2))`` does to a file."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_truncated_nifti_is_refused_not_read_as_zeros(tmp_path, suffix):
    f = truncate(imageio.write_image(_volume(), tmp_path / f"case{suffix}"))
    with pytest.raises(imagecheck.CorruptImageError, match=r"case\.nii.*truncated") as e:
        imageio.read_image(f)
    assert str(f) in str(e.value)
    # the header-only reader (verify --headers-only) catches it too
    with pytest.raises(imagecheck.CorruptImageError, match="truncated"):
        imageio.read_geometry(f)


@pytest.mark.parametrize("suffix", [".nrrd", ".mha"])
@pytest.mark.parametrize("compress", [False, True])
def test_truncated_nrrd_and_mha_are_refused(tmp_path, suffix, compress):
    f = tmp_path / f"case{suffix}"
    imageio.write_image(_volume(), f, compress=compress)
    truncate(f)
    with pytest.raises(imagecheck.CorruptImageError, match=CHECKS["truncated_other"].pattern) as e:
        imageio.read_image(f)
    assert str(f) in str(e.value)


def test_gzip_crc_mismatch_is_refused(tmp_path):
    f = imageio.write_image(_volume(), tmp_path / "case.nii.gz")
    data = bytearray(f.read_bytes())
    data[-8] ^= 0xFF  # the CRC-32 in the trailer
    f.write_bytes(bytes(data))
    with pytest.raises(imagecheck.CorruptImageError, match="corrupt gzip data"):
        imageio.read_image(f)


def test_gzip_with_data_shorter_than_header_is_refused(tmp_path):
    """A complete, valid gzip of a truncated .nii: the CRC is fine, the length is not."""
    nii = truncate(imageio.write_image(_volume(), tmp_path / "x.nii"), 0.7)
    gz = tmp_path / "case.nii.gz"
    gz.write_bytes(gzip.compress(nii.read_bytes()))
    with pytest.raises(imagecheck.CorruptImageError, match="header needs .* decompresses to"):
        imageio.read_image(gz)


def test_intact_multi_member_gzip_is_read(tmp_path):
    vol = _volume()
    nii = imageio.write_image(vol, tmp_path / "x.nii")
    raw = nii.read_bytes()
    gz = tmp_path / "case.nii.gz"
    gz.write_bytes(gzip.compress(raw[:5000]) + gzip.compress(raw[5000:]))
    assert imagecheck.check_gzip_stream(gz) == len(raw)
    np.testing.assert_array_equal(imageio.read_image(gz).array, vol.array)
    imageio.read_geometry(gz)  # trailer differs from the header size: the full check decides (intact)


def test_intact_files_pass_unchanged(tmp_path):
    vol = _volume()
    for suffix in (".nii.gz", ".nii", ".nrrd", ".mha"):
        back = imageio.read_image(imageio.write_image(vol, tmp_path / f"x{suffix}"))
        np.testing.assert_array_equal(back.array, vol.array)


# --- DICOM series -----------------------------------------------------------------------------------


@pytest.fixture
def dicom_copy(tmp_path, shared_data) -> Path:
    d = tmp_path / "series"
    shutil.copytree(shared_data / "ts_dicom_ct", d)
    return d


def test_dicom_series_with_a_removed_slice_is_refused_naming_the_gap(dicom_copy):
    files = sorted(dicom_copy.iterdir())
    (files[9]).unlink()
    with pytest.raises(imagecheck.CorruptImageError, match=CHECKS["dicom_gap"].pattern) as e:
        imageio.read_image(dicom_copy)
    msg = str(e.value)
    assert "gap of 4 mm" in msg and "steps 2 mm" in msg and "19 slices" in msg
    assert str(dicom_copy) in msg


def test_dicom_series_with_a_truncated_slice_is_refused_naming_it(dicom_copy):
    bad = sorted(dicom_copy.iterdir())[5]
    truncate(bad)
    with pytest.raises(imagecheck.CorruptImageError, match=CHECKS["dicom_unreadable"].pattern) as e:
        imageio.read_image(dicom_copy)
    assert bad.name in str(e.value)


def test_intact_dicom_series_is_read(dicom_copy):
    (dicom_copy / "README.txt").write_text("notes")  # a note beside the slices is not a slice
    assert imageio.read_image(dicom_copy).shape == (512, 512, 20)


def _write_series(folder: Path, uid: str, n: int, description: str) -> None:
    """A small synthetic CT series written slice by slice with SimpleITK (GDCM).

    GDCM's writer sets the process locale to "C"; it is restored so later tests read UTF-8 text.
    """
    import locale

    saved = locale.setlocale(locale.LC_ALL)
    try:
        _write_slices(folder, uid, n, description)
    finally:
        locale.setlocale(locale.LC_ALL, saved)


def _write_slices(folder: Path, uid: str, n: int, description: str) -> None:
    import SimpleITK as sitk

    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        sl = sitk.GetImageFromArray(np.full((8, 8), k, dtype=np.int16))
        sl.SetSpacing((1.0, 1.0))
        for tag, value in (
            ("0020|000e", uid),
            ("0008|103e", description),
            ("0008|0060", "CT"),
            ("0020|0013", str(k + 1)),
            ("0020|0032", f"0\\0\\{3.0 * k}"),
            ("0020|0037", "1\\0\\0\\0\\1\\0"),
            ("0018|0050", "3.0"),
        ):
            sl.SetMetaData(tag, value)
        w = sitk.ImageFileWriter()
        w.KeepOriginalImageUIDOn()
        w.SetFileName(str(folder / f"{description}_{k:03d}.dcm"))
        w.Execute(sl)


def test_several_dicom_series_are_listed_and_one_is_picked(tmp_path):
    d = tmp_path / "two"
    _write_series(d, "1.2.826.0.1.3680043.2.1125.1.1", 5, "axial")
    _write_series(d, "1.2.826.0.1.3680043.2.1125.1.2", 4, "scout")
    with pytest.raises(ValueError, match=CHECKS["dicom_several"].pattern) as e:
        imageio.read_image(d)
    msg = str(e.value)
    assert "1.2.826.0.1.3680043.2.1125.1.1 (5 files, axial)" in msg
    assert "1.2.826.0.1.3680043.2.1125.1.2 (4 files, scout)" in msg
    vol = imageio.read_image(d, series="1.2.826.0.1.3680043.2.1125.1.2")
    assert vol.shape == (8, 8, 4)
    np.testing.assert_allclose(vol.spacing[2], 3.0)
    with pytest.raises(ValueError, match="no DICOM series '9.9'"):
        imageio.read_image(d, series="9.9")


def test_check_dicom_positions_hand_computed():
    pos = [(0, 0, z) for z in (0.0, 2.5, 5.0, 10.0)]
    eye = (1, 0, 0, 0, 1, 0, 0, 0, 1)
    with pytest.raises(imagecheck.CorruptImageError, match="gap of 5 mm between slices 2 and 3"):
        imagecheck.check_dicom_positions("s", pos, eye)
    assert imagecheck.check_dicom_positions("s", pos[:3], eye) == pytest.approx(2.5)
    with pytest.raises(imagecheck.CorruptImageError, match="share one position"):
        imagecheck.check_dicom_positions("s", [(0, 0, 1.0)] * 3, eye)
