"""preprocess_dataset: the cache of a raw dataset, reruns, failures and an interrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.preprocessing.rawdata import write_raw_dataset
from torsoseg.planning import plan_dataset
from torsoseg.preprocessing import PreprocessingError, list_cached_cases, load_case, preprocess_dataset
from torsoseg.preprocessing.cache import is_complete


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    return write_raw_dataset(tmp_path_factory.mktemp("raw"), 1, "Synth", n=3)


@pytest.fixture(scope="module")
def planned(raw, tmp_path_factory):
    pre = tmp_path_factory.mktemp("pre")
    return pre, plan_dataset(raw, pre, budget="cpu", workers=1)


def test_preprocess_writes_a_complete_cache_and_skips_it_on_rerun(raw, planned):
    pre, plans = planned
    out = pre / raw.name
    report = preprocess_dataset(raw, out, plans, workers=2)
    assert report.folder == out / "torsoseg_plans_3d_fullres"
    assert sorted(report.processed) == ["case_000", "case_001", "case_002"] and report.skipped == []
    assert list_cached_cases(report.folder) == ["case_000", "case_001", "case_002"]
    for ident in report.processed:
        case = load_case(report.folder, ident)
        assert case.data.dtype == np.float32 and case.data.shape[1:] == case.seg.shape
        assert set(np.unique(case.seg)) <= set(plans.labels.values())
        assert set(case.class_locations) == set(np.unique(case.seg)) - {0}
        assert case.properties["plans_key"]
        sp = np.asarray(case.properties["spacing_after_resample"])
        np.testing.assert_allclose(sp, plans.target_spacing, rtol=0.1)
    again = preprocess_dataset(raw, out, plans, workers=1)
    assert again.processed == [] and sorted(again.skipped) == report.processed


def test_changed_plans_redo_the_cases(raw, planned, tmp_path):
    _, plans = planned
    out = tmp_path / raw.name
    preprocess_dataset(raw, out, plans, workers=1)
    finer = plans.replace(target_spacing=tuple(s * 0.9 for s in plans.target_spacing))
    report = preprocess_dataset(raw, out, finer, workers=1)
    assert len(report.processed) == 3
    assert load_case(report.folder, "case_000").data.shape[1:] != ()


def test_a_broken_case_is_reported_and_the_others_are_written(raw, planned, tmp_path):
    _, plans = planned
    broken = tmp_path / "raw" / raw.name
    import shutil

    shutil.copytree(raw, broken)
    (broken / "imagesTr" / "case_001_0000.nii.gz").write_bytes(b"not an image")
    with pytest.raises(PreprocessingError, match="case_001") as info:
        preprocess_dataset(broken, tmp_path / "out", plans, workers=1)
    assert list(info.value.failed) == ["case_001"]
    assert list_cached_cases(tmp_path / "out" / "torsoseg_plans_3d_fullres") == ["case_000", "case_002"]


def test_labels_that_differ_from_the_plans_are_refused(raw, planned, tmp_path):
    _, plans = planned
    other = plans.replace(labels={"background": 0, "liver": 1})
    with pytest.raises(ValueError, match="differ from the plans' labels"):
        preprocess_dataset(raw, tmp_path, other)


_KILLED_RUN = """
import sys, time
from pathlib import Path
import torsoseg.preprocessing.cache as cache
from torsoseg.plans import Plans
from torsoseg.preprocessing import preprocess_dataset

raw, out, marker = sys.argv[1:4]
original = cache._atomic_save

def stall(path, write):
    if path.name == "case_001_seg.npy":  # mid-case: data written, a partial temporary file, no json
        (path.parent / ".case_001_seg.npy.partial.tmp").write_bytes(b"\\x93NUMPY half")
        Path(marker).write_text("ready")
        time.sleep(120)
    return original(path, write)

cache._atomic_save = stall
preprocess_dataset(raw, out, Plans.load(Path(out) / "plans.json"), workers=1)
"""


def test_a_killed_run_resumes_into_a_complete_valid_cache(raw, planned, tmp_path):
    _, plans = planned
    out = tmp_path / raw.name
    out.mkdir()
    plans.save(out / "plans.json")
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, str(raw), str(out), str(marker)])
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert proc.poll() is None, "the preprocessing subprocess ended before it was killed"
            assert time.monotonic() < deadline, "the preprocessing subprocess never reached case_001"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    folder = out / "torsoseg_plans_3d_fullres"
    assert list_cached_cases(folder) == ["case_000"]
    assert (folder / "case_001.npy").exists() and not is_complete(folder, "case_001")
    assert any(p.name.endswith(".tmp") for p in folder.iterdir())

    report = preprocess_dataset(raw, out, plans, workers=1)
    assert report.skipped == ["case_000"] and report.processed == ["case_001", "case_002"]
    assert list_cached_cases(folder) == ["case_000", "case_001", "case_002"]
    assert not any(p.name.startswith(".") for p in folder.iterdir())
    reference = preprocess_dataset(raw, tmp_path / "reference", plans, workers=1).folder
    for ident in ("case_000", "case_001", "case_002"):
        a, b = load_case(folder, ident), load_case(reference, ident)
        np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_array_equal(a.seg, b.seg)
