"""Tests of torsoseg.network.cpu_conv: the forward-kernel backward equals autograd's."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torsoseg.network.cpu_conv import Conv3d, fast_backward_applies


@pytest.mark.parametrize("kernel", [(3, 3, 3), (3, 3, 1), (1, 1, 1)])
def test_gradients_equal_nn_conv3d(kernel):
    torch.manual_seed(0)
    pad = tuple(k // 2 for k in kernel)
    ref = nn.Conv3d(5, 3, kernel, padding=pad)
    fast = Conv3d(5, 3, kernel, padding=pad)
    fast.load_state_dict(ref.state_dict())
    x = torch.randn(2, 5, 7, 6, 5)
    g = torch.randn(2, 3, 7, 6, 5)
    xs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    outs = [m(xi) for m, xi in ((ref, xs[0]), (fast, xs[1]))]
    assert fast_backward_applies(fast, xs[1])
    torch.testing.assert_close(outs[1], outs[0])
    for o in outs:
        o.backward(g)
    torch.testing.assert_close(xs[1].grad, xs[0].grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fast.weight.grad, ref.weight.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(fast.bias.grad, ref.bias.grad, rtol=1e-4, atol=1e-5)


def test_falls_back_where_it_does_not_apply():
    strided = Conv3d(2, 2, 3, stride=2, padding=1)
    x = torch.randn(1, 2, 6, 6, 6)
    assert not fast_backward_applies(strided, x)
    conv = Conv3d(2, 2, 3, padding=1)
    assert not fast_backward_applies(conv, x.to(torch.bfloat16))
    with torch.no_grad():
        assert not fast_backward_applies(conv, x)
    assert set(conv.state_dict()) == {"weight", "bias"}
