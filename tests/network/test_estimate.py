"""The U-Net memory / compute estimate (torsoseg.network.estimate), checked against the real network."""

from __future__ import annotations

import pytest

from torsoseg.network.estimate import estimate_memory, estimate_network, feature_map_elements, stage_shapes
from torsoseg.plans import CTNormalization, Plans


def test_hand_computed_two_stage_net():
    # patch 8^3, features (4, 8), 2 classes: V0 = 512, V1 = 64
    e = estimate_network((8, 8, 8), [(1, 1, 1), (2, 2, 2)], [(3, 3, 3)] * 2, (4, 8), 2)
    enc = 2 * 2 * 4 * 512 + 2 * 2 * 8 * 64  # 2 convs x (conv out + norm out)
    dec = 3 * 4 * 512 + 2 * 2 * 4 * 512 + 2 * 2 * 512  # upsample + concat, 2 convs, logits + softmax
    assert e.activation_elements == 512 + enc + dec
    assert e.largest_activation == 2 * 4 * 512  # the concatenation
    params = (1 * 4 * 27 + 12) + (4 * 4 * 27 + 12) + (4 * 8 * 27 + 24) + (8 * 8 * 27 + 24)
    params += 8 * 4 * 8 + (8 * 4 * 27 + 12) + (4 * 4 * 27 + 12) + (4 * 2 + 2)
    assert e.parameters == params


def test_stage_shapes():
    assert stage_shapes((64, 48, 16), [(1, 1, 1), (2, 2, 1), (2, 2, 2)]) == [
        (64, 48, 16),
        (32, 24, 16),
        (16, 12, 8),
    ]
    with pytest.raises(ValueError, match="too small"):
        stage_shapes((4, 4, 4), [(1, 1, 1), (8, 1, 1)])


def test_memory_grows_with_batch_and_patch():
    args = ([(1, 1, 1), (2, 2, 2), (2, 2, 2)], [(3, 3, 3)] * 3, (8, 16, 32), 4)
    small = estimate_network((32, 32, 32), *args)
    big = estimate_network((64, 32, 32), *args)
    assert big.activation_elements == pytest.approx(2 * small.activation_elements, rel=1e-9)
    assert small.memory_bytes(4) > small.memory_bytes(2) > 0
    assert big.train_flops(2) == pytest.approx(2 * small.train_flops(2), rel=1e-9)
    assert feature_map_elements((32, 32, 32), args[0], args[2], 4) == small.activation_elements


def test_bad_input():
    with pytest.raises(ValueError, match="one entry per stage"):
        estimate_network((8, 8, 8), [(1, 1, 1)], [(3, 3, 3)] * 2, (4, 8), 2)
    with pytest.raises(ValueError, match="batch_size"):
        estimate_network((8, 8, 8), [(1, 1, 1)], [(3, 3, 3)], (4,), 2).memory_bytes(0)


def _plans(patch, strides, features, kernels=None) -> Plans:
    return Plans(
        dataset_name="Dataset001_T",
        labels={"background": 0, "liver": 1, "spleen": 2},
        target_spacing=(2.0, 2.0, 2.0),
        patch_size=patch,
        batch_size=2,
        strides=strides,
        kernel_sizes=kernels or tuple((3, 3, 3) for _ in strides),
        features=features,
        normalization=CTNormalization(0.0, 1.0, -1.0, 1.0),
    )


@pytest.mark.parametrize(
    "plans",
    [
        _plans(
            (32, 32, 16),
            ((1, 1, 1), (2, 2, 1), (2, 2, 2), (2, 2, 2)),
            (4, 8, 16, 32),
            ((3, 3, 1), (3, 3, 3), (3, 3, 3), (3, 3, 3)),
        ),
        _plans((16, 16, 16), ((1, 1, 1), (2, 2, 2)), (8, 16)),
    ],
)
def test_estimate_follows_the_real_network(plans):
    torch = pytest.importorskip("torch")
    from torsoseg.network import build_network

    net = build_network(plans)
    est = estimate_network(
        plans.patch_size, plans.strides, plans.kernel_sizes, plans.features, plans.num_classes
    )
    assert est.parameters == sum(p.numel() for p in net.parameters())
    params = {p.data_ptr() for p in net.parameters()}
    saved: dict[tuple, int] = {}

    def pack(t):
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape))
        if key[0] not in params:
            saved[key] = t.numel()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = net(torch.randn(1, 1, *plans.patch_size))
        sum(torch.softmax(o, 1).mean() for o in out).backward()
    # the estimate counts what autograd keeps, a little conservatively
    assert 0.75 < sum(saved.values()) / est.activation_elements <= 1.0
    assert estimate_memory(plans) == est.memory_bytes(2)
