"""Tests of torsoseg.training.param_groups (the fine-tuning strategies' learning rates)."""

from __future__ import annotations

import pytest
import torch

from tests.training.conftest import tiny_plans
from torsoseg.network import build_network
from torsoseg.training.param_groups import apply_group_rates, group_of, group_rates, parameter_groups
from torsoseg.training.settings import get_settings


def test_groups_cover_every_parameter_once():
    model = build_network(tiny_plans())
    groups = parameter_groups(model)
    assert [g["name"] for g in groups] == ["encoder", "decoder", "heads"]
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert group_of("seg_heads.1.bias") == "heads" and group_of("upsample.0.weight") == "decoder"


@pytest.mark.parametrize(
    ("kw", "epoch", "expected"),
    [
        ({}, 0, (1e-4, 1e-4, 1e-4)),
        ({"head_lr_factor": 10.0}, 0, (1e-4, 1e-4, 1e-3)),
        ({"head_lr_factor": 10.0, "head_first_epochs": 2}, 1, (0.0, 0.0, 1e-3)),
        ({"head_lr_factor": 10.0, "head_first_epochs": 2}, 2, (1e-4, 1e-4, 1e-3)),
        ({"freeze_encoder_epochs": 1}, 0, (0.0, 1e-4, 1e-4)),
    ],
)
def test_group_rates(kw, epoch, expected):
    r = group_rates(get_settings("cpu", **kw), epoch, 1e-4)
    assert (r["encoder"], r["decoder"], r["heads"]) == pytest.approx(expected)


def test_frozen_groups_stop_requiring_gradients():
    model = build_network(tiny_plans())
    opt = torch.optim.AdamW(parameter_groups(model))
    apply_group_rates(opt, {"encoder": 0.0, "decoder": 0.0, "heads": 1e-3})
    assert all(not p.requires_grad for n, p in model.named_parameters() if not n.startswith("seg_heads"))
    assert all(p.requires_grad for p in model.seg_heads.parameters())
    apply_group_rates(opt, {"encoder": 1e-4, "decoder": 1e-4, "heads": 1e-3})
    assert all(p.requires_grad for p in model.parameters())


def test_invalid_strategy_settings_are_refused():
    with pytest.raises(ValueError, match="head_lr_factor must be > 0"):
        get_settings("cpu", head_lr_factor=0.0)
    with pytest.raises(ValueError, match="new_row_init must be one of zero, random"):
        get_settings("cpu", new_row_init="ones")
