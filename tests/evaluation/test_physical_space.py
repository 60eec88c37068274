"""Evaluation compares in physical space: a reference stored on a flipped grid of the same voxels is
reoriented exactly; truly different grids are refused. Uses TotalSegmentator's own segmentation of the
shared DICOM series (stored with y flipped) as the reference."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from torsoseg import imageio
from torsoseg.cli.evaluate import main
from torsoseg.evaluation import evaluate_folders


def _dicom_grid_image(shared_data) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(shared_data / "ts_dicom_ct")))
    return reader.Execute()


@pytest.fixture(scope="module")
def folders(shared_data, tmp_path_factory):
    """ref/ holds TotalSegmentator's file as it is; pred/ a prediction on the DICOM series' own grid,
    resampled there by SimpleITK in world coordinates (a route independent of torsoseg's reorientation),
    in torsoseg's label spelling and numbering (name -> value, other values than the reference)."""
    root = tmp_path_factory.mktemp("physical")
    ref_img = sitk.ReadImage(str(shared_data / "ts_dicom_ct_seg.nii.gz"))
    ct = _dicom_grid_image(shared_data)
    on_ct = sitk.Resample(ref_img, ct, sitk.Transform(), sitk.sitkNearestNeighbor, 0, ref_img.GetPixelID())
    ts = {int(k): v for k, v in json.loads((shared_data / "ts_labels_total_v2.json").read_text()).items()}
    ts_value = {v: k for k, v in ts.items()}
    pred_labels = {"background": 0, "Liver": 1, "spleen": 2, "stomach": 3, "aorta": 4, "rib_left_8": 5,
                   "autochthon_right": 6, "kidney_left": 7}
    arr = sitk.GetArrayFromImage(on_ct)
    pred = np.zeros_like(arr, dtype=np.uint8)
    for name, value in pred_labels.items():
        if name != "background":
            pred[arr == ts_value[name.lower()]] = value
    out = sitk.GetImageFromArray(pred)
    out.CopyInformation(ct)
    (root / "ref").mkdir()
    (root / "pred").mkdir()
    sitk.WriteImage(ref_img, str(root / "ref" / "ts_dicom_ct.nii.gz"))
    sitk.WriteImage(out, str(root / "pred" / "ts_dicom_ct.nii.gz"))
    (root / "pred" / "labels.json").write_text(json.dumps(pred_labels))
    return root, pred_labels


def test_reference_on_flipped_grid_scores_every_organ(folders, shared_data):
    root, pred_labels = folders
    ref_geo = imageio.read_geometry(root / "ref" / "ts_dicom_ct.nii.gz")
    pred_geo = imageio.read_geometry(root / "pred" / "ts_dicom_ct.nii.gz")
    assert not ref_geo.same_grid(pred_geo)  # the situation of the issue: y stored flipped
    result = evaluate_folders(root / "ref", root / "pred", ref_labels=shared_data / "ts_labels_total_v2.json",
                              progress=False, skip_failed=False)
    assert not result.failed
    scores = result.cases[0].scores
    present = [n.lower() for n in pred_labels if n != "background" and n != "kidney_left"]
    for organ in present:
        assert scores[organ].dice == pytest.approx(1.0), organ  # exact reorientation: a perfect overlap
    # kidney_left is in neither map on these 20 slices: scored as empty in both, never an error
    assert "kidney_left" in scores


def test_truly_different_grids_are_refused(folders, shared_data, tmp_path):
    root, _ = folders
    ref = imageio.read_image(root / "ref" / "ts_dicom_ct.nii.gz")
    shifted = imageio.Volume(ref.array, ref.spacing, tuple(o + 0.5 for o in ref.origin), ref.direction)
    (tmp_path / "ref").mkdir()
    imageio.write_image(shifted, tmp_path / "ref" / "ts_dicom_ct.nii.gz")
    with pytest.raises(ValueError, match="describe different voxels"):
        evaluate_folders(tmp_path / "ref", root / "pred", ref_labels=shared_data / "ts_labels_total_v2.json",
                         progress=False, skip_failed=False)


def test_cli_scores_and_lists_one_sided_organs_once(folders, shared_data, capsys):
    root, _ = folders
    rc = main(["--ref", str(root / "ref"), "--ref-labels", str(shared_data / "ts_labels_total_v2.json"),
               "--pred", str(root / "pred"), "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 0
    assert "different" not in err
    both = out + err
    assert both.count("vertebrae_C1") == 1  # a reference-only organ, listed once (notes), not twice
    assert "liver: reference 'liver' (5) <-> prediction 'Liver' (1)" in out
