"""Tests of torsoseg.training.checkpoint."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from torsoseg.training.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state


class _Arbitrary:
    """An object a weights-only load must refuse."""


def _minimal(**extra):
    return {
        "format_version": 1,
        "network_weights": {"w": torch.arange(3.0)},
        "plans": {},
        "dataset_json": {},
        "labels": {"background": 0},
        "settings": {},
        "epoch": 2,
        **extra,
    }


def test_round_trip_weights_only(tmp_path):
    c = _minimal(rng=rng_state(), optimizer={"state": {}, "param_groups": [{"lr": 0.1, "params": [0]}]})
    p = save_checkpoint(tmp_path / "checkpoint_latest.pt", c)
    raw = torch.load(p, weights_only=True)  # plain types only
    assert raw["epoch"] == 2
    back = load_checkpoint(p)
    torch.testing.assert_close(back["network_weights"]["w"], torch.arange(3.0))
    assert not list(tmp_path.glob(".*.tmp"))  # atomic: no leftovers


def test_rng_state_restores_all_streams():
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    state = rng_state()
    a = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(state)
    b = (torch.rand(3), np.random.rand(3), random.random())
    torch.testing.assert_close(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2]


def test_bad_checkpoints(tmp_path):
    with pytest.raises(ValueError, match="lacks key"):
        save_checkpoint(tmp_path / "x.pt", {"epoch": 1})
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="not a torsoseg checkpoint"):
        load_checkpoint(tmp_path / "list.pt")
    torch.save(_minimal(format_version=7), tmp_path / "v7.pt")
    with pytest.raises(ValueError, match="format_version 7 is not supported"):
        load_checkpoint(tmp_path / "v7.pt")
    torch.save({"obj": _Arbitrary()}, tmp_path / "pickle.pt")
    with pytest.raises(ValueError, match="weights-only"):
        load_checkpoint(tmp_path / "pickle.pt")
