"""Fixtures of tests/network: tiny plans records."""

from __future__ import annotations

import pytest

from torsoseg.plans import CTNormalization, Plans


def make_plans(
    patch=(32, 32, 16),
    strides=((1, 1, 1), (2, 2, 2), (2, 2, 1)),
    features=(4, 8, 16),
    labels=None,
    **kw,
) -> Plans:
    labels = labels or {"background": 0, "liver": 1, "spleen": 2}
    return Plans(
        dataset_name="Dataset999_Tiny",
        labels=labels,
        target_spacing=(1.5, 1.5, 3.0),
        patch_size=tuple(patch),
        batch_size=2,
        strides=tuple(tuple(s) for s in strides),
        kernel_sizes=tuple((3, 3, 3) if i else (3, 3, 1) for i in range(len(strides))),
        features=tuple(features),
        normalization=CTNormalization(mean=50.0, std=40.0, lower=-100.0, upper=250.0),
        **kw,
    )


@pytest.fixture
def tiny_plans() -> Plans:
    return make_plans()
