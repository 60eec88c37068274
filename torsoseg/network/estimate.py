"""Memory and compute estimates of the plans' 3D U-Net, by arithmetic only (no torch import).

The planner calls these to fit patch size, topology and batch size under a budget. The network they
describe is the one :func:`torsoseg.network.build_network` makes from a :class:`Plans` record:

* encoder stage ``s``: ``n_conv`` blocks Conv3d -> InstanceNorm3d -> LeakyReLU (in place); the first
  conv of stage ``s`` is strided by ``strides[s]``;
* decoder level ``s = S-2 .. 0``: a transposed conv (kernel = stride = ``strides[s+1]``, no bias) from
  ``features[s+1]`` to ``features[s]`` channels, concatenation with the encoder skip of stage ``s``,
  ``n_conv`` blocks, and a 1x1x1 segmentation head (deep supervision: a head at every decoder level).

What autograd keeps for the backward pass, per sample (``V_s`` = voxels of stage ``s``, ``F_s`` its
features):

* per conv block: the conv output (InstanceNorm needs it) and the normalised output (the in-place
  LeakyReLU's result, which is also the next conv's saved input): ``2 * F_s * V_s``;
* the network input ``C_in * V_0``;
* per decoder level: the transposed-conv output ``F_s * V_s``, the concatenation ``2 * F_s * V_s``
  (the first decoder conv's saved input) and, with deep supervision, the logits plus the softmax of the
  loss ``2 * K * V_s``.

Memory = batch * elements * bytes per element + 4 copies of the parameters (weights, gradients,
momentum, a workspace) + a transient workspace of the two largest activations (the backward pass of a
conv holds its input gradient and output gradient at the same time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import prod
from typing import Any

__all__ = [
    "NetworkEstimate",
    "estimate_network",
    "estimate_memory",
    "feature_map_elements",
    "stage_shapes",
]


@dataclass(frozen=True)
class NetworkEstimate:
    """Sizes of one U-Net configuration for ONE sample (multiply by the batch where noted).

    Attributes:
        activation_elements: tensor elements autograd keeps for backward, per sample.
        largest_activation: elements of the largest single activation tensor, per sample.
        parameters: trainable parameters.
        forward_flops: multiply-adds x 2 of one forward pass, per sample (convolutions only).
    """

    activation_elements: int
    largest_activation: int
    parameters: int
    forward_flops: int

    def memory_bytes(self, batch_size: int, bytes_per_element: float = 4.0) -> int:
        """Estimated peak training memory (bytes) for ``batch_size`` samples."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        acts = batch_size * (self.activation_elements + 2 * self.largest_activation) * bytes_per_element
        return int(acts + 4 * 4 * self.parameters)

    def train_flops(self, batch_size: int) -> int:
        """Forward + backward FLOPs of one training step (backward ~ 2x forward)."""
        return int(3 * batch_size * self.forward_flops)


def stage_shapes(patch_size: Sequence[int], strides: Sequence[Sequence[int]]) -> list[tuple[int, int, int]]:
    """Feature-map shape of every encoder stage: ``patch // prod(strides[:s+1])`` per axis.

    Args:
        patch_size: voxels per axis ``(X, Y, Z)``.
        strides: per stage the stride per axis; stage 0 is ``(1, 1, 1)``.

    Returns:
        One ``(x, y, z)`` tuple per stage.

    Raises:
        ValueError: a stage would have an axis of fewer than one voxel, or shapes do not match.
    """
    if len(patch_size) != 3:
        raise ValueError(f"patch_size must have 3 entries, got {tuple(patch_size)}")
    shape = [int(p) for p in patch_size]
    if any(p < 1 for p in shape):
        raise ValueError(f"patch_size must be positive, got {tuple(patch_size)}")
    out = []
    for s, st in enumerate(strides):
        if len(st) != 3 or any(int(x) < 1 for x in st):
            raise ValueError(f"strides[{s}] must be 3 positive integers, got {tuple(st)}")
        shape = [a // int(x) for a, x in zip(shape, st)]
        if any(a < 1 for a in shape):
            raise ValueError(
                f"patch {tuple(patch_size)} is too small for strides {list(map(tuple, strides))}"
            )
        out.append(tuple(shape))
    return out


def _check_arguments(n: int, strides: Sequence[Sequence[int]], kernel_sizes: Sequence[Sequence[int]],
                     num_classes: int, in_channels: int, n_conv_per_stage: int) -> None:
    if n < 1 or len(strides) != n or len(kernel_sizes) != n:
        raise ValueError(
            f"features ({n}), strides ({len(strides)}) and kernel_sizes ({len(kernel_sizes)}) need one entry "
            "per stage"
        )
    if num_classes < 1 or in_channels < 1 or n_conv_per_stage < 1:
        raise ValueError(
            f"num_classes, in_channels and n_conv_per_stage must be >= 1, got {num_classes}, {in_channels}, "
            f"{n_conv_per_stage}"
        )


def estimate_network(
    patch_size: Sequence[int],
    strides: Sequence[Sequence[int]],
    kernel_sizes: Sequence[Sequence[int]],
    features: Sequence[int],
    num_classes: int,
    in_channels: int = 1,
    n_conv_per_stage: int = 2,
    deep_supervision: bool = True,
) -> NetworkEstimate:
    """Counts activations, parameters and FLOPs of the U-Net for one sample (see the module docstring).

    Args:
        patch_size: input voxels per axis.
        strides, kernel_sizes, features: per stage, as in :class:`~torsoseg.plans.Plans`.
        num_classes: output channels (background included).
        in_channels: input channels.
        n_conv_per_stage: conv blocks per encoder and decoder stage.
        deep_supervision: a segmentation head (and loss) at every decoder level, not only the top.

    Returns:
        The :class:`NetworkEstimate`.

    Example:
        >>> e = estimate_network((8, 8, 8), [(1, 1, 1), (2, 2, 2)], [(3, 3, 3)] * 2, (4, 8), 2)
        >>> e.activation_elements
        27136
    """
    n = len(features)
    _check_arguments(n, strides, kernel_sizes, num_classes, in_channels, n_conv_per_stage)
    shapes = stage_shapes(patch_size, strides)
    vox = [prod(s) for s in shapes]
    feats = [int(f) for f in features]
    ks = [prod(int(x) for x in k) for k in kernel_sizes]

    elements = in_channels * vox[0]
    largest = in_channels * vox[0]
    params = 0
    flops = 0
    # encoder
    prev = in_channels
    for s in range(n):
        f, v = feats[s], vox[s]
        for i in range(n_conv_per_stage):
            cin = prev if i == 0 else f
            params += cin * f * ks[s] + f + 2 * f  # conv weight + bias, norm affine
            flops += 2 * cin * f * ks[s] * v
            elements += 2 * f * v
        largest = max(largest, f * v)
        prev = f
    # decoder, deepest first
    for s in range(n - 2, -1, -1):
        f, v = feats[s], vox[s]
        up = prod(int(x) for x in strides[s + 1])
        params += feats[s + 1] * f * up  # transposed conv, no bias (the norm that follows makes it moot)
        flops += 2 * feats[s + 1] * f * up * vox[s + 1]
        elements += f * v + 2 * f * v
        for i in range(n_conv_per_stage):
            cin = 2 * f if i == 0 else f
            params += cin * f * ks[s] + f + 2 * f
            flops += 2 * cin * f * ks[s] * v
            elements += 2 * f * v
        largest = max(largest, 2 * f * v)
        if deep_supervision or s == 0:
            params += f * num_classes + num_classes
            flops += 2 * f * num_classes * v
            elements += 2 * num_classes * v
    if n == 1:  # no decoder: a single head on the only stage
        params += feats[0] * num_classes + num_classes
        flops += 2 * feats[0] * num_classes * vox[0]
        elements += 2 * num_classes * vox[0]
    return NetworkEstimate(int(elements), int(largest), int(params), int(flops))


def feature_map_elements(
    patch_size: Sequence[int],
    strides: Sequence[Sequence[int]],
    features: Sequence[int],
    num_classes: int,
    in_channels: int = 1,
    n_conv_per_stage: int = 2,
) -> int:
    """Activation elements kept for backward per sample (kernel sizes do not change it)."""
    return estimate_network(
        patch_size, strides, [(3, 3, 3)] * len(features), features, num_classes, in_channels, n_conv_per_stage
    ).activation_elements


def estimate_memory(
    plans: Any,
    batch_size: int | None = None,
    patch_size: Sequence[int] | None = None,
    bytes_per_element: float = 4.0,
    deep_supervision: bool = True,
) -> int:
    """Estimated peak training memory in bytes of the network a :class:`Plans` record describes.

    Args:
        plans: a :class:`~torsoseg.plans.Plans` (anything with its topology attributes).
        batch_size: defaults to ``plans.batch_size``.
        patch_size: defaults to ``plans.patch_size`` (e.g. pass an inference tile).
        bytes_per_element: 4 for float32 activations; about 3 under bfloat16 autocast (convolution
            outputs in bf16, normalisation in float32).
        deep_supervision: count a head and a loss at every decoder level.

    Returns:
        Bytes (int).

    Example:
        >>> estimate_memory(plans) / 2**30  # doctest: +SKIP
        1.4
    """
    est = estimate_network(
        patch_size if patch_size is not None else plans.patch_size,
        plans.strides,
        plans.kernel_sizes,
        plans.features,
        plans.num_classes,
        plans.num_input_channels,
        plans.n_conv_per_stage,
        deep_supervision,
    )
    return est.memory_bytes(batch_size if batch_size is not None else plans.batch_size, bytes_per_element)
