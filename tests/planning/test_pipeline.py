"""plan_dataset: files written, --plans-from by id, errors."""

from __future__ import annotations

import pytest

from tests.preprocessing.rawdata import write_raw_dataset
from torsoseg.dataset import DatasetJson
from torsoseg.planning import plan_dataset
from torsoseg.planning.fingerprint import Fingerprint
from torsoseg.planning.pipeline import resolve_plans_source
from torsoseg.plans import Plans


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("roots")
    write_raw_dataset(base / "raw", 1, "Synth", n=3, synthetic=True)
    write_raw_dataset(base / "raw", 2, "Other", n=2, seed=5, synthetic=True)
    return base / "raw", base / "pre"


def test_plan_dataset_writes_the_three_files(roots):
    raw, pre = roots
    plans = plan_dataset(raw / "Dataset001_Synth", pre, budget="8gb", workers=1)
    out = pre / "Dataset001_Synth"
    assert Plans.load(out / "plans.json") == plans
    assert Fingerprint.load(out).dataset_name == "Dataset001_Synth"
    assert DatasetJson.load(out).labels == plans.labels
    assert plans.budget == "8gb" and plans.features[0] == 32 and plans.planned_from is None


def test_plans_from_a_dataset_id(roots):
    raw, pre = roots
    source = plan_dataset(raw / "Dataset001_Synth", pre, budget="cpu", workers=1)
    # the second dataset gets another label set to check that labels stay its own
    ds = DatasetJson.load(raw / "Dataset002_Other")
    assert ds.labels == source.labels
    plans = plan_dataset(raw / "Dataset002_Other", pre, plans_from=1, workers=1)
    assert plans.planned_from == "Dataset001_Synth"
    for key in ("target_spacing", "patch_size", "strides", "kernel_sizes", "features", "normalization"):
        assert getattr(plans, key) == getattr(source, key)
    assert resolve_plans_source("Dataset001_Synth", pre) == source
    assert resolve_plans_source(pre / "Dataset001_Synth" / "plans.json", pre) == source


def test_errors(roots, tmp_path):
    raw, pre = roots
    with pytest.raises(FileNotFoundError, match="no folder Dataset009"):
        plan_dataset(raw / "Dataset001_Synth", pre, plans_from=9, workers=1)
    with pytest.raises(ValueError, match="valid presets"):
        plan_dataset(raw / "Dataset001_Synth", pre, budget="huge")
    with pytest.raises(FileNotFoundError, match="no dataset.json"):
        plan_dataset(tmp_path, pre)
    with pytest.raises(FileNotFoundError, match="neither a plans.json nor a dataset id"):
        resolve_plans_source("not-a-plan", pre)
