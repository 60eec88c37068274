"""benchmarks/bench_cascade.py's region-of-interest mode: the random-weight fine model it builds must form
a cascade with the trained coarse model it is given (no benchmark is run here)."""

from __future__ import annotations

import sys

import pytest

from tests.inference.model_factory import make_model_dir, tiny_plans
from tests.script_modules import load_script


@pytest.fixture(scope="module")
def bench():
    module = load_script("benchmarks/bench_cascade.py", "torsoseg_bench_cascade")
    yield module
    sys.modules.pop(module.__name__, None)


def test_the_random_fine_model_takes_the_coarse_models_labels_and_normalisation(bench, tmp_path):
    from torsoseg.inference import Predictor
    from torsoseg.inference.cascade import CascadePredictor

    plans = tiny_plans()
    coarse_dir = make_model_dir(tmp_path / "coarse", plans=plans)
    fine_dir = bench.random_fine_model(coarse_dir, (1.5, 1.5, 2.0), (16, 16, 16), (4, 8), tmp_path)
    fine = Predictor.from_model_dir(fine_dir, device="cpu", precision="fp32")
    assert fine.plans.target_spacing == (1.5, 1.5, 2.0) and fine.plans.patch_size == (16, 16, 16)
    assert fine.labels == plans.labels and fine.plans.normalization == plans.normalization
    roi = Predictor.from_model_dir(fine_dir, device="cpu", precision="fp32", coarse_model=coarse_dir)
    assert isinstance(roi, CascadePredictor) and roi.fine.plans.target_spacing == (1.5, 1.5, 2.0)


def test_the_benchmark_needs_one_source_of_models(bench, tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--work", str(tmp_path)])
    assert "either --results with -d, or --coarse-model" in capsys.readouterr().err
