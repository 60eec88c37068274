"""Fixtures of tests/training: a tiny preprocessed dataset written by hand in the cache format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from torsoseg.dataset import write_dataset_json
from torsoseg.plans import CTNormalization, Plans
from torsoseg.preprocessing.cache import cache_folder, write_case

LABELS = {"background": 0, "liver": 1, "kidney_right": 2, "kidney_left": 3}


def tiny_plans(
    name: str = "Dataset990_Tiny", labels: dict | None = None, patch=(24, 24, 16), features=(4, 8, 16), **kw
) -> Plans:
    strides = ((1, 1, 1), (2, 2, 2), (2, 2, 2))[: len(features)]
    return Plans(
        dataset_name=name,
        labels=dict(labels or LABELS),
        target_spacing=(2.0, 2.0, 3.0),
        patch_size=tuple(patch),
        batch_size=2,
        strides=strides,
        kernel_sizes=tuple((3, 3, 3) for _ in features),
        features=tuple(features),
        normalization=CTNormalization(mean=40.0, std=50.0, lower=-150.0, upper=250.0),
        **kw,
    )


def synthetic_case(
    seed: int, shape=(36, 32, 20), labels: dict | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Blocks of distinct intensity: liver on the patient's right (low axis-0 index), kidneys both sides."""
    labels = labels or LABELS
    rng = np.random.default_rng(seed)
    seg = np.zeros(shape, np.int16)
    x, y, z = shape
    jx, jy = rng.integers(-2, 3, 2)
    if "liver" in labels:
        seg[2 + jx : x // 2 - 2, 4 + jy : y - 6, 4 : z - 4] = labels["liver"]
    if "kidney_right" in labels:
        seg[4 + jx : 12 + jx, y - 10 : y - 3, 6:14] = labels["kidney_right"]
    if "kidney_left" in labels:
        seg[x - 12 + jx : x - 4 + jx, y - 10 : y - 3, 6:14] = labels["kidney_left"]
    if "spleen" in labels:
        seg[x - 12 : x - 3, 3:10, 5:12] = labels["spleen"]
    means = {
        0: -1.0,
        labels.get("liver", -9): 1.0,
        labels.get("kidney_right", -9): 2.0,
        labels.get("kidney_left", -9): 2.0,
        labels.get("spleen", -9): 0.3,
    }
    data = np.vectorize(lambda v: means.get(int(v), 0.5))(seg).astype(np.float32)
    data += rng.normal(0, 0.3, shape).astype(np.float32)
    return data[None], seg


def write_tiny_dataset(root: Path, plans: Plans, n_cases: int = 5, seed: int = 0) -> Path:
    """``root/<plans.dataset_name>/{dataset.json, plans.json, torsoseg_plans_3d_fullres/...}``."""
    d = root / plans.dataset_name
    d.mkdir(parents=True, exist_ok=True)
    write_dataset_json(d, plans.labels, n_cases)
    plans.save(d / "plans.json")
    folder = cache_folder(d, plans)
    for i in range(n_cases):
        data, seg = synthetic_case(seed + i, labels=plans.labels)
        write_case(folder, f"case_{i:03d}", data, seg, {"spacing": list(plans.target_spacing)})
    return d


@pytest.fixture
def tiny_roots(tmp_path: Path) -> dict[str, Path]:
    pre, res = tmp_path / "preprocessed", tmp_path / "results"
    write_tiny_dataset(pre, tiny_plans())
    return {"preprocessed_root": pre, "results_root": res}
