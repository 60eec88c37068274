"""Batch prediction: case discovery, parts, broken cases, atomic outputs, resuming."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from tests.inference.model_factory import TINY_LABELS, make_model_dir
from torsoseg.fileio import read_json
from torsoseg.imageio import Volume, read_image, write_image
from torsoseg.inference.batch import InputCase, find_cases, predict_cases, read_case, split_parts
from torsoseg.inference.outputs import PredictionOptions
from torsoseg.inference.postprocessing import Postprocessing
from torsoseg.inference.predictor import Predictor


def _ct(shape=(24, 20, 16), seed=0) -> Volume:
    rng = np.random.default_rng(seed)
    arr = np.full(shape, -1000, np.int16)
    arr[3:-3, 3:-3, 2:-2] = rng.integers(-100, 200, (shape[0] - 6, shape[1] - 6, shape[2] - 4))
    return Volume(arr, (3.0, 3.5, 4.0), (1.0, 2.0, 3.0))


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    d = make_model_dir(tmp_path_factory.mktemp("results"))
    return Predictor.from_model_dir(d, device="cpu")


def test_find_cases_groups_channels_and_names(tmp_path):
    for name in ("b_0000.nii.gz", "a_0000.nii.gz", "a_0001.nii.gz", "plain.mha", "x.nrrd"):
        write_image(_ct((8, 8, 6)), tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    cases = find_cases(tmp_path)
    assert [c.name for c in cases] == ["a", "b", "plain", "x"]
    assert [p.name for p in cases[0].channels] == ["a_0000.nii.gz", "a_0001.nii.gz"]
    single = find_cases(tmp_path / "b_0000.nii.gz")
    assert single == [InputCase("b", (tmp_path / "b_0000.nii.gz",))]


def test_find_cases_dicom_folder_and_dicom_subfolders(tmp_path, shared_data):
    dicom = shared_data / "ts_dicom_ct"
    assert find_cases(dicom) == [InputCase("ts_dicom_ct", (dicom,))]
    (tmp_path / "series1").symlink_to(dicom, target_is_directory=True)
    write_image(_ct((8, 8, 6)), tmp_path / "c_0000.nii.gz")
    assert [c.name for c in find_cases(tmp_path)] == ["c", "series1"]


def test_find_cases_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="input not found"):
        find_cases(tmp_path / "missing")
    with pytest.raises(ValueError, match="no images"):
        find_cases(tmp_path)


def test_split_parts_cover_every_case_once():
    cases = [InputCase(f"c{i}", ()) for i in range(7)]
    parts = [split_parts(cases, 3, k) for k in range(3)]
    assert sorted(c.name for p in parts for c in p) == sorted(c.name for c in cases)
    assert [c.name for c in parts[1]] == ["c1", "c4"]
    with pytest.raises(ValueError, match="part_id must be in 0..2"):
        split_parts(cases, 3, 3)
    with pytest.raises(ValueError, match="num_parts"):
        split_parts(cases, 0, 0)


def test_read_case_rejects_wrong_channel_count(tmp_path):
    with pytest.raises(ValueError, match="expects 1 channel"):
        read_case(InputCase("two", (tmp_path / "a", tmp_path / "b")), 1)


def _write_broken_inputs(folder) -> None:
    (folder / "garbage_0000.nii.gz").write_bytes(b"\x00 definitely not gzip")
    sitk.WriteImage(sitk.Image([12, 10], sitk.sitkInt16), str(folder / "flat_0000.nii.gz"))
    sitk.WriteImage(sitk.Image([6, 5, 4, 2], sitk.sitkInt16), str(folder / "movie_0000.nii.gz"))
    write_image(_ct(seed=3), folder / "two_0000.nii.gz")
    write_image(_ct(seed=4), folder / "two_0001.nii.gz")


def test_broken_cases_are_reported_and_the_rest_finish(predictor, tmp_path):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    write_image(_ct(seed=1), inp / "good_0000.nii.gz")
    write_image(_ct((20, 22, 14), seed=2), inp / "also_good.nrrd")
    _write_broken_inputs(inp)
    before = {p.name: p.read_bytes() for p in inp.iterdir()}
    report = predict_cases(predictor, find_cases(inp), out)
    assert sorted(report.done) == ["also_good", "good"]
    assert set(report.failed) == {"garbage", "flat", "movie", "two"}
    assert "cannot be read" in report.failed["garbage"]
    assert "2D" in report.failed["flat"] and "4D" in report.failed["movie"]
    assert "expects 1 channel" in report.failed["two"]
    assert not report.ok
    assert read_json(out / "labels.json") == TINY_LABELS
    seg = read_image(out / "good.nii.gz")
    assert seg.geometry.same_grid(read_image(inp / "good_0000.nii.gz").geometry)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["also_good.nii.gz", "good.nii.gz", "labels.json", "labels_itksnap.txt",
                     "labels_slicer.ctbl", "prediction.json"]  # no temporary files left
    assert {p.name: p.read_bytes() for p in inp.iterdir()} == before  # inputs untouched


def test_resume_skips_finished_cases_and_extras_are_written(predictor, tmp_path):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for k in range(2):
        write_image(_ct(seed=k), inp / f"case{k}_0000.nii.gz")
    first = predict_cases(predictor, find_cases(inp)[:1], out, save_probabilities=True, preview=True)
    assert first.done == ["case0"]
    stamp = (out / "case0.nii.gz").stat().st_mtime_ns
    second = predict_cases(predictor, find_cases(inp), out, resume=True)
    assert second.skipped == ["case0"] and second.done == ["case1"]
    assert (out / "case0.nii.gz").stat().st_mtime_ns == stamp
    probs = np.load(out / "case0.npz")["probabilities"]
    assert probs.shape == (4, 24, 20, 16) and probs.dtype == np.float16
    assert (out / "case0.png").stat().st_size > 1000


def test_resume_refuses_a_folder_made_with_another_postprocessing(tmp_path, caplog):
    d = make_model_dir(tmp_path / "results")
    raw = Predictor.from_model_dir(d, device="cpu")
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for k in range(2):
        write_image(_ct(seed=k), inp / f"case{k}_0000.nii.gz")
    predict_cases(raw, find_cases(inp)[:1], out)
    assert read_json(out / "prediction.json")["keep_largest_component"] == []
    stamp = (out / "case0.nii.gz").stat().st_mtime_ns
    # the model folder gains a postprocessing choice after case0 was written without one
    Postprocessing(keep_largest=["liver"]).save(d)
    chosen = Predictor.from_model_dir(d, device="cpu")
    mixed = r"prediction.json: --continue would mix.*keep_largest_component \[\] there, \['liver'\] now"
    with pytest.raises(ValueError, match=mixed):
        predict_cases(chosen, find_cases(inp), out, resume=True)
    assert not (out / "case1.nii.gz").exists()
    assert (out / "case0.nii.gz").stat().st_mtime_ns == stamp  # nothing lost
    # redoing every case is allowed, and records the new way
    report = predict_cases(chosen, find_cases(inp), out)
    assert report.done == ["case0", "case1"]
    assert read_json(out / "prediction.json")["keep_largest_component"] == ["liver"]
    assert predict_cases(chosen, find_cases(inp), out, resume=True).skipped == ["case0", "case1"]
    # a folder from before the record existed is continued with a warning that names it
    (out / "prediction.json").unlink()
    with caplog.at_level("WARNING"):
        assert predict_cases(chosen, find_cases(inp), out, resume=True).skipped == ["case0", "case1"]
    assert "2 finished case(s) but no prediction.json" in caplog.text and str(out) in caplog.text
    (out / "prediction.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="prediction.json: unreadable"):
        predict_cases(chosen, find_cases(inp), out, resume=True)
    (out / "prediction.json").write_text("{not json")
    with pytest.raises(ValueError, match="prediction.json: unreadable"):
        predict_cases(chosen, find_cases(inp), out, resume=True)


def test_resume_refuses_another_label_set_and_checks_every_part(predictor, tmp_path):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for k in range(2):
        write_image(_ct(seed=k), inp / f"case{k}_0000.nii.gz")
    cases = find_cases(inp)
    # part 0 wrote case0 with --roi-subset liver; part 1 (case1, nothing done yet) writes every organ
    predict_cases(predictor, cases[:1], out, options=PredictionOptions(roi_subset=["liver"]))
    mixed = r"--continue would mix.*labels \{'background': 0, 'liver': 1\} there"
    with pytest.raises(ValueError, match=mixed):
        predict_cases(predictor, cases[1:], out, resume=True)
    assert not (out / "case1.nii.gz").exists()
    assert read_json(out / "prediction.json")["labels"] == {"background": 0, "liver": 1}


def test_the_record_names_the_models_and_continue_refuses_another_one(tmp_path):
    d = make_model_dir(tmp_path / "results", folds=(0, 1), checkpoints=("final", "best"))
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for k in range(2):
        write_image(_ct(seed=k), inp / f"case{k}_0000.nii.gz")
    final = Predictor.from_model_dir(d, device="cpu", precision="fp32")
    predict_cases(final, find_cases(inp)[:1], out)
    models = read_json(out / "prediction.json")["models"]
    assert models == {"model": str(d.resolve()), "checkpoint": "final", "dataset": final.plans.dataset_name,
                      "configuration": "3d_fullres", "folds": ["0", "1"], "tta_axes": [], "step": 0.5,
                      "precision": "fp32"}
    # another checkpoint or another fold set would mix label maps of two models in one folder
    for other in (Predictor.from_model_dir(d, device="cpu", checkpoint="best"),
                  Predictor.from_model_dir(d, device="cpu", folds=[0])):
        with pytest.raises(ValueError, match=r"prediction.json: --continue would mix.*models"):
            predict_cases(other, find_cases(inp), out, resume=True)
    assert not (out / "case1.nii.gz").exists()
    # the precision may differ (bf16 and fp32 agree on > 99 % of the voxels), and the results may be
    # mounted elsewhere (parts of one run on several nodes): the folder is continued
    auto = Predictor.from_model_dir(d, device="cpu", precision="auto")
    auto.source["model"] = str(Path("/mnt/node2/results", *d.parts[-2:]))  # as another node mounts it
    assert predict_cases(auto, find_cases(inp), out, resume=True).done == ["case1"]


def test_a_merge_records_its_models_and_weights(tmp_path):
    from torsoseg.inference import MultiModelPredictor

    a = make_model_dir(tmp_path / "a")
    b = make_model_dir(tmp_path / "b", seed=5)
    merged = MultiModelPredictor.from_model_dirs([a, b], weights=[1.0, 3.0], device="cpu")
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    write_image(_ct(seed=0), inp / "case0_0000.nii.gz")
    predict_cases(merged, find_cases(inp), out)
    models = read_json(out / "prediction.json")["models"]
    assert [m["model"] for m in models["merge"]] == [str(a.resolve()), str(b.resolve())]
    assert models["weights"] == [1.0, 3.0]
