"""The 3D U-Net of torsoseg, built from a :class:`~torsoseg.plans.Plans` record alone.

Layout (``S = plans.num_stages``):

* encoder stage ``s`` (``encoder[s]``): ``n_conv_per_stage`` blocks Conv3d -> InstanceNorm3d ->
  LeakyReLU; the first conv of stage ``s`` has stride ``plans.strides[s]`` (strided-conv downsampling,
  stage 0 has stride 1), kernel ``plans.kernel_sizes[s]``, ``plans.features[s]`` output channels;
* decoder stage ``d = 0..S-2`` (``upsample[d]``, ``decoder[d]``), counted from the DEEPEST: it lifts
  stage ``s = S-2-d`` back up with a transposed conv (kernel = stride = ``plans.strides[s+1]``),
  concatenates the skip of encoder stage ``s`` and applies ``n_conv_per_stage`` blocks;
* ``seg_heads[i]`` (1x1x1 Conv3d) maps the decoder output at resolution level ``i`` (0 = full
  resolution, ``i`` = downsampled by the first ``i`` strides) to class logits.

With ``model.deep_supervision = True`` the forward returns a list of ``S-1`` logit tensors, highest
resolution first; otherwise the full-resolution logits only. The state dict does not depend on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from torsoseg.network.cpu_conv import Conv3d
from torsoseg.plans import Plans


class ConvBlock(nn.Module):
    """Conv3d -> InstanceNorm3d (affine) -> LeakyReLU(0.01)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: Sequence[int], stride: Sequence[int] = (1, 1, 1)):
        super().__init__()
        pad = tuple(int(k) // 2 for k in kernel)
        self.conv = Conv3d(in_ch, out_ch, tuple(kernel), tuple(stride), pad, bias=True)
        self.norm = nn.InstanceNorm3d(out_ch, eps=1e-5, affine=True)
        self.act = nn.LeakyReLU(0.01, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


def _stage(
    in_ch: int, out_ch: int, kernel: Sequence[int], stride: Sequence[int], n_conv: int
) -> nn.Sequential:
    blocks = [ConvBlock(in_ch, out_ch, kernel, stride)]
    blocks += [ConvBlock(out_ch, out_ch, kernel) for _ in range(n_conv - 1)]
    return nn.Sequential(*blocks)


class UNet3D(nn.Module):
    """Plain 3D U-Net with strided-conv downsampling and deep supervision heads.

    Args:
        in_channels: input channels (CT: 1).
        num_classes: output channels (background included).
        features: channels per stage.
        strides: per stage the downsampling stride per axis (stage 0: ``(1, 1, 1)``).
        kernel_sizes: per stage the kernel size per axis.
        n_conv_per_stage: conv blocks per encoder and decoder stage.
        deep_supervision: return the logits of every decoder level (highest resolution first).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        features: Sequence[int],
        strides: Sequence[Sequence[int]],
        kernel_sizes: Sequence[Sequence[int]],
        n_conv_per_stage: int = 2,
        deep_supervision: bool = True,
    ):
        super().__init__()
        n = len(features)
        if n < 2:
            raise ValueError(f"a U-Net needs at least 2 stages, got features={tuple(features)}")
        if len(strides) != n or len(kernel_sizes) != n:
            raise ValueError(
                f"features ({n}), strides ({len(strides)}) and kernel_sizes ({len(kernel_sizes)}) "
                "need one entry per stage"
            )
        if num_classes < 1 or in_channels < 1 or n_conv_per_stage < 1:
            raise ValueError(
                f"in_channels={in_channels}, num_classes={num_classes}, n_conv_per_stage={n_conv_per_stage} "
                "must all be >= 1"
            )
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.features = tuple(int(f) for f in features)
        self.strides = tuple(tuple(int(x) for x in s) for s in strides)
        self.kernel_sizes = tuple(tuple(int(x) for x in k) for k in kernel_sizes)
        self.deep_supervision = bool(deep_supervision)

        self.encoder = nn.ModuleList()
        ch = self.in_channels
        for s in range(n):
            self.encoder.append(
                _stage(ch, self.features[s], self.kernel_sizes[s], self.strides[s], n_conv_per_stage)
            )
            ch = self.features[s]
        self.upsample = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for s in range(n - 2, -1, -1):  # decoder index d = n-2-s
            st = self.strides[s + 1]
            self.upsample.append(
                nn.ConvTranspose3d(self.features[s + 1], self.features[s], st, st, bias=False)
            )
            self.decoder.append(
                _stage(
                    2 * self.features[s], self.features[s], self.kernel_sizes[s], (1, 1, 1), n_conv_per_stage
                )
            )
        # seg_heads[i]: resolution level i (0 = full resolution)
        self.seg_heads = nn.ModuleList(nn.Conv3d(self.features[i], self.num_classes, 1) for i in range(n - 1))

    @property
    def num_stages(self) -> int:
        return len(self.features)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """``x`` (B, C_in, X, Y, Z) -> logits (B, K, X, Y, Z), or a list of them when deep supervised."""
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        n = self.num_stages
        x = skips[-1]
        outs: list[torch.Tensor] = []
        for d, (up, dec) in enumerate(zip(self.upsample, self.decoder)):
            level = n - 2 - d
            x = dec(torch.cat((up(x), skips[level]), dim=1))
            if self.deep_supervision:
                outs.append(self.seg_heads[level](x))
        if self.deep_supervision:
            return outs[::-1]
        return self.seg_heads[0](x)


def build_network(plans: Plans, num_classes: int | None = None, deep_supervision: bool = True) -> UNet3D:
    """The U-Net that ``plans`` describes.

    Args:
        plans: the dataset's plans (channels, features, strides, kernel sizes, convs per stage).
        num_classes: output channels; ``None`` = ``plans.num_classes``.
        deep_supervision: forward returns every decoder level's logits (highest resolution first).

    Returns:
        A :class:`UNet3D` in float32 on the CPU, in training mode.

    Example:
        >>> from torsoseg.plans import Plans
        >>> net = build_network(Plans.load("preprocessed/Dataset001_Abdomen"))  # doctest: +SKIP
        >>> net(torch.zeros(1, 1, *plans.patch_size))[0].shape  # doctest: +SKIP
    """
    return UNet3D(
        in_channels=plans.num_input_channels,
        num_classes=plans.num_classes if num_classes is None else int(num_classes),
        features=plans.features,
        strides=plans.strides,
        kernel_sizes=plans.kernel_sizes,
        n_conv_per_stage=plans.n_conv_per_stage,
        deep_supervision=deep_supervision,
    )


def output_scales(plans: Plans) -> list[tuple[float, float, float]]:
    """Per deep-supervision output (highest resolution first) its size relative to the patch per axis."""
    scales = []
    cum = [1, 1, 1]
    for s in range(plans.num_stages - 1):
        cum = [c * st for c, st in zip(cum, plans.strides[s])]
        scales.append(tuple(1.0 / c for c in cum))
    return scales
