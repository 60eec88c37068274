"""Tests of torsoseg.network.unet (build_network)."""

from __future__ import annotations

import pytest
import torch

from tests.network.conftest import make_plans
from torsoseg.network import build_network, output_scales
from torsoseg.network.unet import UNet3D


def test_output_shapes_hand_computed(tiny_plans):
    torch.manual_seed(0)
    net = build_network(tiny_plans)
    out = net(torch.zeros(2, 1, 32, 32, 16))
    # level 0 full res, level 1 /2 on every axis; lowest stage has no head
    assert [tuple(o.shape) for o in out] == [(2, 3, 32, 32, 16), (2, 3, 16, 16, 8)]
    assert output_scales(tiny_plans) == [(1.0, 1.0, 1.0), (0.5, 0.5, 0.5)]
    assert len(net.seg_heads) == 2
    assert all(h.kernel_size == (1, 1, 1) for h in net.seg_heads)
    assert net.seg_heads[0].out_channels == 3


def test_num_classes_override_and_anisotropic_strides():
    p = make_plans(patch=(16, 16, 8), strides=((1, 1, 1), (2, 2, 1), (2, 2, 2)))
    net = build_network(p, num_classes=5, deep_supervision=False)
    y = net(torch.randn(1, 1, 16, 16, 8))
    assert y.shape == (1, 5, 16, 16, 8)
    assert net.encoder[1][0].conv.stride == (2, 2, 1)
    assert net.upsample[1].stride == (2, 2, 1)  # decoder counted from the deepest


def test_state_dict_independent_of_deep_supervision(tiny_plans):
    a = build_network(tiny_plans, deep_supervision=True)
    b = build_network(tiny_plans, deep_supervision=False)
    assert list(a.state_dict()) == list(b.state_dict())
    b.load_state_dict(a.state_dict())
    a.eval()
    b.eval()
    x = torch.randn(1, 1, 32, 32, 16)
    with torch.no_grad():
        torch.testing.assert_close(a(x)[0], b(x))


def test_invariant_translation_of_batch_and_gradients(tiny_plans):
    net = build_network(tiny_plans)
    x = torch.randn(2, 1, 32, 32, 16)
    out = net(x)
    sum(o.float().mean() for o in out).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    # samples are independent (instance norm, no batch statistics)
    net.eval()
    with torch.no_grad():
        both = net(x)[0]
        one = net(x[1:])[0]
    torch.testing.assert_close(both[1:], one, rtol=1e-4, atol=1e-4)


def test_bad_configuration_messages():
    with pytest.raises(ValueError, match="at least 2 stages"):
        UNet3D(1, 2, (8,), ((1, 1, 1),), ((3, 3, 3),))
    with pytest.raises(ValueError, match="one entry per stage"):
        UNet3D(1, 2, (8, 16), ((1, 1, 1),), ((3, 3, 3), (3, 3, 3)))
    with pytest.raises(ValueError, match="num_classes=0"):
        UNet3D(1, 0, (8, 16), ((1, 1, 1), (2, 2, 2)), ((3, 3, 3), (3, 3, 3)))
