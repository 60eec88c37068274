"""A Conv3d whose backward pass is fast on CPUs without AMX.

oneDNN's 3D convolution backward-weights kernel is very slow for the small channel counts of the cpu
plans on AVX2/AVX-512 machines (measured on 2 AVX2 cores: the weight gradient of a 32->16 3x3x3 conv on
a 2x48x40x48 batch takes 5.7x its forward pass). Both gradients are themselves convolutions, so
:class:`Conv3d` computes them with forward kernels instead:

* input gradient: ``conv_transpose3d(grad_out, weight, padding)``;
* weight gradient: a convolution of the padded input, batch and channels swapped, with the output
  gradient as the filter (``dW[o, i] = sum_n x[n, i] * g[n, o]``, a correlation over space), for full 3D
  kernels. For kernels flat along an axis (``3 x 3 x 1``, the first stages of plans for thick slices)
  torch's own weight gradient is faster (2 AVX2 cores, 2 x 16 x 56 x 40 x 48 batch: 16->32 channels 113 ms
  vs 203 ms; for 3 x 3 x 3 kernels the correlation is faster, 109 ms vs 168 ms), so those use it.

It takes this path only where it measured faster: float32 on the CPU, stride 1, no groups or dilation,
outside autocast. Everywhere else (GPU, bfloat16, strided convs, inference) it is ``nn.Conv3d``. The
parameters and state dict are ``nn.Conv3d``'s. Whole training step on a demo-like cpu plan (2 AVX2
cores): 0.82 s -> 0.62 s (``python benchmarks/bench_cpu_conv.py``, see documentation/training.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _Conv3dFunction(torch.autograd.Function):
    """Stride-1 3D convolution with the backward written as two forward convolutions."""

    @staticmethod
    def forward(ctx, x, weight, bias, padding):  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.padding = padding
        return F.conv3d(x, weight, bias, padding=padding)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        p = ctx.padding
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = F.conv_transpose3d(grad, weight, padding=p)
        if ctx.needs_input_grad[1] and 1 in weight.shape[2:]:
            gw = torch.nn.grad.conv3d_weight(x, weight.shape, grad, padding=p)
        elif ctx.needs_input_grad[1]:
            xp = F.pad(x, (p[2], p[2], p[1], p[1], p[0], p[0]))
            gw = F.conv3d(xp.transpose(0, 1), grad.transpose(0, 1)).transpose(0, 1)
        if ctx.needs_input_grad[2]:
            gb = grad.sum((0, 2, 3, 4))
        return gx, gw, gb, None


def fast_backward_applies(conv: nn.Conv3d, x: torch.Tensor) -> bool:
    """Whether :class:`Conv3d` takes the forward-kernel backward for input ``x``."""
    return (
        torch.is_grad_enabled()
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.is_autocast_enabled("cpu")
        and conv.stride == (1, 1, 1)
        and conv.dilation == (1, 1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
        and isinstance(conv.padding, tuple)
    )


class Conv3d(nn.Conv3d):
    """``nn.Conv3d`` with a faster backward pass on the CPU in float32 (see the module docstring)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if fast_backward_applies(self, x):
            return _Conv3dFunction.apply(x, self.weight, self.bias, self.padding)
        return super().forward(x)
