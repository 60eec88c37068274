"""Tests of torsoseg.network.precision: resolution rules and the float32 fallback without bf16 support."""

from __future__ import annotations

import warnings

import pytest
import torch

from tests.network.conftest import make_plans
from torsoseg.network import build_network, precision


def test_fp32_is_plain_and_autocast_noop():
    assert precision.resolve_precision("fp32", "cpu") is None
    with precision.autocast(None, "cpu"):
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32


def test_bf16_when_supported(monkeypatch):
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: True)
    assert precision.resolve_precision("auto", "cpu") is torch.bfloat16
    assert precision.resolve_precision("bf16", torch.device("cpu")) is torch.bfloat16


def test_fallback_without_support_warns_and_uses_fp32(monkeypatch):
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: False)
    with pytest.warns(UserWarning, match="no native bfloat16.*using float32"):
        assert precision.resolve_precision("bf16", "cpu") is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto falls back silently
        assert precision.resolve_precision("auto", "cpu") is None


def test_bf16_and_fp32_agree_on_argmax():
    """A fixed small model: bf16 autocast and fp32 give the same argmax on >= 99% of voxels."""
    if not precision.cpu_supports_bf16():
        pytest.skip("this CPU has no native bfloat16; the fallback test covers it")
    torch.manual_seed(0)
    net = build_network(make_plans(), deep_supervision=False).eval()
    x = torch.randn(1, 1, 32, 32, 16)
    with torch.no_grad():
        ref = net(x).argmax(1)
        with precision.autocast(torch.bfloat16, "cpu"):
            low = net(x.contiguous(memory_format=torch.channels_last_3d)).argmax(1)
    assert (ref == low).float().mean() >= 0.99


def test_unknown_precision_and_device():
    with pytest.raises(ValueError, match="unknown precision 'fp16'; valid: fp32, bf16, auto"):
        precision.resolve_precision("fp16", "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            precision.resolve_device("cuda")
    assert precision.resolve_device(None).type in ("cpu", "cuda")
