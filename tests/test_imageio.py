"""Image I/O and orientation: exact geometry round trips, real samples, world-coordinate matching."""

from __future__ import annotations

import json

import numpy as np
import pytest

from torsoseg import imageio
from torsoseg.imageio import Geometry, Volume


def oblique_direction(angle_deg: float = 17.0) -> np.ndarray:
    """A rotation about z by ``angle_deg`` then about x by half of it (orthonormal, not axis-aligned)."""
    a, b = np.deg2rad(angle_deg), np.deg2rad(angle_deg / 2)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rz @ rx


@pytest.fixture
def oblique_volume(rng) -> Volume:
    arr = rng.integers(-1024, 2000, size=(7, 9, 5)).astype(np.int16)
    return Volume(
        arr, spacing=(0.7, 0.85, 3.0), origin=(-120.5, 33.25, -801.0), direction=oblique_direction()
    )


# --- fixture: hand-computed geometry ---------------------------------------------------------------


def test_index_to_world_by_hand():
    # axis 0 along -x (R), axis 1 along +y (P), axis 2 along +z (S): an RPS image
    geo = Geometry((4, 3, 2), (2.0, 0.5, 3.0), (10.0, 20.0, 30.0), ((-1, 0, 0), (0, 1, 0), (0, 0, 1)))
    np.testing.assert_allclose(geo.index_to_world([1, 2, 1]), [10 - 2.0, 20 + 1.0, 30 + 3.0])
    np.testing.assert_allclose(geo.world_to_index([8.0, 21.0, 33.0]), [1, 2, 1])
    assert imageio.orientation_code(geo) == "RPS"


def test_sitk_array_axis_order_is_itk_index_order(tmp_path):
    import SimpleITK as sitk

    arr = np.zeros((4, 3, 2), np.int16)
    arr[3, 1, 0] = 7  # x=3, y=1, z=0
    imageio.write_image(Volume(arr, (1.0, 1.0, 1.0)), tmp_path / "a.nii.gz")
    img = sitk.ReadImage(str(tmp_path / "a.nii.gz"))
    assert img.GetSize() == (4, 3, 2)
    assert img.GetPixel(3, 1, 0) == 7


# --- round trips -----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_write_read_round_trip_keeps_geometry_and_voxels(tmp_path, oblique_volume, suffix):
    path = imageio.write_image(oblique_volume, tmp_path / f"img{suffix}")
    back = imageio.read_image(path)
    np.testing.assert_array_equal(back.array, oblique_volume.array)
    assert back.array.dtype == oblique_volume.array.dtype
    np.testing.assert_allclose(back.spacing, oblique_volume.spacing, rtol=1e-6)
    np.testing.assert_allclose(back.origin, oblique_volume.origin, atol=1e-4)
    np.testing.assert_allclose(np.asarray(back.direction), np.asarray(oblique_volume.direction), atol=1e-6)
    assert imageio.read_geometry(path).same_grid(oblique_volume.geometry)


@pytest.mark.parametrize("code", ["LPS", "RAS", "LAS", "RPI", "SPL", "ASL"])
def test_reorient_then_restore_is_identity(rng, code):
    import SimpleITK as sitk

    arr = rng.normal(size=(6, 5, 4)).astype(np.float32)
    img = imageio.to_sitk(Volume(arr, (0.8, 1.1, 2.5), (5.0, -7.0, 100.0)))
    vol = imageio.from_sitk(sitk.DICOMOrient(img, code))
    assert imageio.orientation_code(vol.geometry) == code
    canon, record = imageio.reorient_to_canonical(vol)
    assert imageio.orientation_code(canon.geometry) == "LPS"
    np.testing.assert_allclose(canon.direction, np.eye(3), atol=1e-12)
    back = imageio.restore_orientation(canon.array, record)
    np.testing.assert_array_equal(back.array, vol.array)
    assert back.geometry.same_grid(vol.geometry, tol=1e-9)


def test_reorientation_keeps_every_voxel_at_its_world_position(rng, oblique_volume):
    canon, _ = imageio.reorient_to_canonical(oblique_volume)
    # invariant: the same intensity sits at the same world point
    for _ in range(20):
        idx = rng.integers(0, oblique_volume.shape)
        world = oblique_volume.geometry.index_to_world(idx)
        cidx = np.rint(canon.geometry.world_to_index(world)).astype(int)
        assert canon.array[tuple(cidx)] == oblique_volume.array[tuple(idx)]
    # the oblique residue is kept; axes now point mostly L, P, S
    assert imageio.orientation_code(canon.geometry) == "LPS"
    assert np.all(np.diag(np.asarray(canon.direction)) > 0.7)


def test_restore_orientation_channel_first(oblique_volume):
    canon, record = imageio.reorient_to_canonical(oblique_volume)
    stacked = np.stack([canon.array, canon.array * 2])
    back = imageio.restore_orientation(stacked, record, channel_first=True)
    np.testing.assert_array_equal(back[1], oblique_volume.array * 2)


def test_reorientation_record_survives_json(oblique_volume):
    _, record = imageio.reorient_to_canonical(oblique_volume)
    again = imageio.Reorientation.from_json(json.loads(json.dumps(record.to_json())))
    assert again == record


# --- real samples ----------------------------------------------------------------------------------


def test_read_dicom_series(shared_data):
    ct = imageio.read_image(shared_data / "ts_dicom_ct")
    assert ct.shape == (512, 512, 20)
    np.testing.assert_allclose(ct.spacing, (0.9765625, 0.9765625, 2.0), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(ct.direction), np.eye(3), atol=1e-6)
    assert ct.array.min() >= -1100 and ct.array.max() > 1000  # HU, rescale applied
    assert imageio.is_dicom_dir(shared_data / "ts_dicom_ct")
    assert not imageio.is_dicom_dir(shared_data)


@pytest.mark.parametrize("name", ["elastix_lung_ct_small.mha", "ts_dicom_ct_seg.nii.gz"])
def test_real_sample_round_trip(tmp_path, shared_data, name):
    vol = imageio.read_image(shared_data / name)
    for suffix in (".nii.gz", ".mha", ".nrrd"):
        back = imageio.read_image(imageio.write_image(vol, tmp_path / f"x{suffix}"))
        np.testing.assert_array_equal(back.array, vol.array)
        assert back.geometry.same_grid(vol.geometry, tol=1e-6)


def test_dicom_round_trip_to_nifti(tmp_path, shared_data):
    ct = imageio.read_image(shared_data / "ts_dicom_ct")
    back = imageio.read_image(imageio.write_image(ct, tmp_path / "ct.nii.gz"))
    np.testing.assert_array_equal(back.array, ct.array)
    assert back.geometry.same_grid(ct.geometry, tol=1e-6)


def test_flipped_segmentation_matches_the_ct_by_world_coordinates(shared_data):
    ct = imageio.read_image(shared_data / "ts_dicom_ct")
    seg = imageio.read_image(shared_data / "ts_dicom_ct_seg.nii.gz")
    names = {int(k): v for k, v in json.loads((shared_data / "ts_labels_total_v2.json").read_text()).items()}
    value = {v: k for k, v in names.items()}
    assert imageio.orientation_code(seg.geometry) != imageio.orientation_code(ct.geometry)
    on_ct = imageio.resample_to_grid(seg, ct.geometry, is_label=True)
    assert on_ct.geometry.same_grid(ct.geometry)
    # resampling a label map never invents values
    assert set(np.unique(on_ct.array)) <= set(np.unique(seg.array))

    def mean_hu(mask):
        return float(ct.array[mask].mean())

    liver, spleen = on_ct.array == value["liver"], on_ct.array == value["spleen"]
    bone = np.isin(on_ct.array, [value["vertebrae_T12"], value["vertebrae_T11"]])
    aorta = on_ct.array == value["aorta"]
    assert 40 < mean_hu(liver) < 160 and 40 < mean_hu(spleen) < 160  # enhanced soft tissue
    assert mean_hu(bone) > 200 and mean_hu(aorta) > 120
    # read naively (same array indices, ignoring the flipped axis) the organs land on the wrong tissue
    assert float(ct.array[seg.array == value["spleen"]].mean()) < 0
    # the liver lies on the patient's right: smaller LPS x than the spleen
    liver_x = ct.geometry.index_to_world(np.argwhere(liver).mean(0))[0]
    spleen_x = ct.geometry.index_to_world(np.argwhere(spleen).mean(0))[0]
    assert liver_x < spleen_x


def test_canonical_orientation_puts_patient_left_at_larger_axis0_index(shared_data):
    seg = imageio.read_image(shared_data / "ts_dicom_ct_seg.nii.gz")
    canon, _ = imageio.reorient_to_canonical(seg)
    names = json.loads((shared_data / "ts_labels_total_v2.json").read_text())
    value = {v: int(k) for k, v in names.items()}
    liver_i = np.argwhere(canon.array == value["liver"])[:, 0].mean()
    spleen_i = np.argwhere(canon.array == value["spleen"])[:, 0].mean()
    assert spleen_i > liver_i


# --- bad input -------------------------------------------------------------------------------------


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.nii.gz"):
        imageio.read_image(tmp_path / "nope.nii.gz")


def test_unreadable_file_names_the_file(tmp_path):
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"this is not a nifti file")
    with pytest.raises(ValueError, match="broken.nii.gz: cannot be read"):
        imageio.read_image(bad)
    with pytest.raises(ValueError, match="broken.nii.gz"):
        imageio.read_geometry(bad)


def test_2d_and_4d_images_are_rejected(tmp_path):
    import SimpleITK as sitk

    sitk.WriteImage(sitk.Image([5, 6], sitk.sitkInt16), str(tmp_path / "flat.nii.gz"))
    with pytest.raises(ValueError, match="flat.nii.gz: expected a 3D image, got 2D"):
        imageio.read_image(tmp_path / "flat.nii.gz")
    sitk.WriteImage(sitk.Image([5, 6, 4, 2], sitk.sitkInt16), str(tmp_path / "time.nii.gz"))
    with pytest.raises(ValueError, match="time.nii.gz: expected a 3D image, got 4D"):
        imageio.read_image(tmp_path / "time.nii.gz")
    with pytest.raises(ValueError, match="time.nii.gz"):
        imageio.read_geometry(tmp_path / "time.nii.gz")


def test_folder_without_dicom(tmp_path):
    with pytest.raises(ValueError, match="no DICOM series"):
        imageio.read_image(tmp_path)


def test_volume_validation_messages():
    with pytest.raises(ValueError, match="3D array"):
        Volume(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="spacing"):
        Volume(np.zeros((2, 2, 2)), spacing=(1, 0, 1))
    with pytest.raises(ValueError, match="orthonormal"):
        Volume(np.zeros((2, 2, 2)), (1.0, 1.0, 1.0), direction=np.ones((3, 3)))
    with pytest.raises(ValueError, match="shape"):
        Volume(np.zeros((2, 2, 2)), (1.0, 1.0, 1.0)).with_array(np.zeros((2, 2, 3)))


def test_write_is_atomic_and_rejects_unknown_suffix(tmp_path, oblique_volume):
    with pytest.raises(ValueError, match="unsupported output suffix"):
        imageio.write_image(oblique_volume, tmp_path / "x.png")
    imageio.write_image(oblique_volume, tmp_path / "sub" / "x.nii.gz")
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["x.nii.gz"]  # no temp file left


def test_volume_without_spacing_is_refused():
    with pytest.raises(ValueError, match="needs its voxel spacing"):
        Volume(np.zeros((2, 2, 2)))
    v = Volume(np.zeros((2, 2, 2)), (0.5, 0.5, 2.0))  # origin and direction default to 0 and identity
    assert v.origin == (0.0, 0.0, 0.0) and v.direction[0] == (1.0, 0.0, 0.0)
