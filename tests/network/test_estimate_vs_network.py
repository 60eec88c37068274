"""The planner's arithmetic estimate (torsoseg.network.estimate, PLANNING's) against the real network."""

from __future__ import annotations

import pytest
import torch

from tests.network.conftest import make_plans
from torsoseg.network import build_network
from torsoseg.network.estimate import estimate_network


def _saved_activation_bytes(net: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes of the distinct tensors autograd saves for backward during one forward pass."""
    seen: dict[tuple[int, int], int] = {}
    params = {p.data_ptr() for p in net.parameters()}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.data_ptr() not in params:
            key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
            seen[key] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = net(x)
    del out
    return sum(seen.values())


@pytest.mark.parametrize(
    "patch,strides,features",
    [
        ((32, 32, 16), ((1, 1, 1), (2, 2, 2), (2, 2, 1)), (4, 8, 16)),
        ((48, 48, 32), ((1, 1, 1), (2, 2, 2), (2, 2, 2), (2, 2, 2)), (8, 16, 32, 64)),
    ],
)
def test_estimate_tracks_real_network(patch, strides, features):
    plans = make_plans(patch=patch, strides=strides, features=features)
    net = build_network(plans)
    est = estimate_network(
        plans.patch_size,
        plans.strides,
        plans.kernel_sizes,
        plans.features,
        plans.num_classes,
        plans.num_input_channels,
        plans.n_conv_per_stage,
    )
    assert est.parameters == sum(p.numel() for p in net.parameters())  # exact
    real = _saved_activation_bytes(net, torch.zeros(2, 1, *patch))
    estimated = 2 * est.activation_elements * 4
    assert 0.5 < estimated / real < 2.0, (estimated, real)
