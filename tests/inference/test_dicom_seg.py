"""DICOM-SEG output for the shared DICOM series, read back with highdicom and pydicom and compared voxel for
voxel with the NIfTI label map of the same run."""

from __future__ import annotations

import sys

import numpy as np
import pydicom
import pytest

from tests.inference.model_factory import make_model_dir
from torsoseg.cli.predict import main
from torsoseg.fileio import read_json
from torsoseg.imageio import read_image
from torsoseg.inference.dicom_seg import require_highdicom

STUDY_UID = "1.2.826.0.1.3680043.8.498.1111"
SERIES_UID = "1.2.826.0.1.3680043.8.498.2222"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def series(shared_data, tmp_path_factory):
    """A copy of the shared (anonymised) series with Study/Series UIDs, as a PACS export carries them."""
    d = tmp_path_factory.mktemp("series") / "ct_series"
    d.mkdir()
    for f in sorted((shared_data / "ts_dicom_ct").iterdir()):
        ds = pydicom.dcmread(f)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = STUDY_UID, SERIES_UID
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        ds.save_as(d / f.name)
    return d


@pytest.fixture(scope="module")
def prediction(series, tmp_path_factory):
    root = tmp_path_factory.mktemp("dseg")
    model = make_model_dir(root / "results", folds=(0,))
    out = root / "out"
    rc = main(["-i", str(series), "-o", str(out), "-m", str(model), "-f", "0", "--device", "cpu",
               "--output-type", "dicom-seg", "--no-progress"])
    assert rc == 0
    return out


def test_dicom_seg_reads_back_with_one_segment_per_organ_and_same_voxels(series, prediction):
    import highdicom as hd

    labels = read_json(prediction / "labels.json")
    nifti = read_image(prediction / "ct_series.nii.gz")
    present = [n for n, v in labels.items() if v and (nifti.array == v).any()]
    assert present, "the fixture model must predict at least one organ on this CT"

    seg = hd.seg.segread(prediction / "ct_series.dcm")
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == SERIES_UID
    assert seg.StudyInstanceUID == STUDY_UID
    assert seg.number_of_segments == len(present)
    described = {seg.get_segment_description(k).segment_label: k for k in seg.get_segment_numbers()}
    assert list(described) == present
    liver = [d for d in seg.SegmentSequence if d.SegmentLabel == "liver"]
    if liver:
        assert liver[0].SegmentedPropertyTypeCodeSequence[0].CodeValue == "10200004"  # SNOMED-CT liver
        assert len(liver[0].RecommendedDisplayCIELabValue) == 3

    sources = [pydicom.dcmread(f) for f in sorted(series.iterdir())]
    uids = [str(s.SOPInstanceUID) for s in sources]
    pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, combine_segments=True,
                                               relabel=False)
    geo = nifti.geometry
    for frame, ds in zip(pixels, sources):
        k = int(round(float(geo.world_to_index(np.asarray([float(v) for v in ds.ImagePositionPatient]))[2])))
        expected = np.zeros(nifti.array[:, :, k].T.shape, np.int64)
        for name, number in described.items():
            expected[nifti.array[:, :, k].T == labels[name]] = number
        np.testing.assert_array_equal(frame, expected)

    raw = pydicom.dcmread(prediction / "ct_series.dcm")
    assert raw.Modality == "SEG" and raw.SegmentationType == "BINARY"
    assert [s.SegmentLabel for s in raw.SegmentSequence] == present


def test_anonymised_series_gets_derived_uids_with_a_warning(shared_data, tmp_path, caplog):
    from torsoseg.inference.dicom_seg import write_dicom_seg

    ct = read_image(shared_data / "ts_dicom_ct")
    lab = np.zeros(ct.shape, np.uint8)
    lab[200:260, 200:300, 3:9] = 2
    with caplog.at_level("WARNING"):
        path = write_dicom_seg(shared_data / "ts_dicom_ct", ct.with_array(lab),
                               {"background": 0, "liver": 1, "lesion": 2}, tmp_path / "x.dcm")
    assert "no SeriesInstanceUID" in caplog.text
    ds = pydicom.dcmread(path)
    assert [s.SegmentLabel for s in ds.SegmentSequence] == ["lesion"]  # empty organs get no segment
    assert ds.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeValue == "91723000"


def test_non_dicom_input_and_missing_highdicom_are_clear(tmp_path, monkeypatch):
    from torsoseg.imageio import Volume
    from torsoseg.inference.dicom_seg import write_dicom_seg

    eye = ((1, 0, 0), (0, 1, 0), (0, 0, 1))
    vol = Volume(np.ones((4, 4, 2), np.uint8), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), eye)
    with pytest.raises(ValueError, match="needs a DICOM series folder"):
        write_dicom_seg(tmp_path / "ct.nii.gz", vol, {"background": 0, "liver": 1}, tmp_path / "x.dcm")
    monkeypatch.setitem(sys.modules, "highdicom", None)
    with pytest.raises(ValueError, match=r"pip install 'torsoseg\[dicom\]'"):
        require_highdicom()


def test_folder_with_two_series_needs_the_series_uid_of_the_prediction(series, tmp_path):
    """--dicom-series (issue 16) picks the series that is read; the DICOM-SEG references the same one."""
    from pydicom.uid import generate_uid

    from torsoseg.inference.dicom_seg import write_dicom_seg

    d = tmp_path / "two"
    d.mkdir()
    other = "1.2.826.0.1.3680043.8.498.3333"
    for k, f in enumerate(sorted(series.iterdir())):
        ds = pydicom.dcmread(f)
        ds.save_as(d / f.name)
        if k < 3:  # a second, shorter series beside it
            ds.SeriesInstanceUID, ds.SOPInstanceUID = other, generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.save_as(d / f"other_{f.name}")
    ct = read_image(d, series=SERIES_UID)
    lab = np.zeros(ct.shape, np.uint8)
    lab[200:260, 200:300, 3:9] = 1
    labels = {"background": 0, "liver": 1}
    with pytest.raises(ValueError, match="choose one with --dicom-series"):
        write_dicom_seg(d, ct.with_array(lab), labels, tmp_path / "x.dcm")
    path = write_dicom_seg(d, ct.with_array(lab), labels, tmp_path / "x.dcm", series=SERIES_UID)
    seg = pydicom.dcmread(path)
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == SERIES_UID
    assert len(seg.ReferencedSeriesSequence) == 1
    assert len(seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence) == ct.shape[2]
    with pytest.raises(ValueError, match="no DICOM series '9.9'"):
        write_dicom_seg(d, ct.with_array(lab), labels, tmp_path / "y.dcm", series="9.9")
