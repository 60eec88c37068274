"""Tiling, Gaussian weights and tiled-vs-whole equivalence of the sliding window."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from torsoseg.inference.sliding_window import (
    mirror_combinations,
    pad_to_patch,
    predict_tiles,
    sliding_window_logits,
)
from torsoseg.inference.tiling import (
    gaussian_1d,
    normalized_tile_weights_1d,
    tile_grid,
    tile_starts,
    tile_window,
    tiles_and_cells,
    weight_sum_1d,
    whole_image_tiles,
)

# --------------------------------------------------------------------------------------------------
# tile starts: hand-computed fixtures, invariants, bad input
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, patch, step, expected",
    [
        (4, 3, 0.5, [0, 1]),  # the 1x1x4 volume / 1x1x3 tile of the style guide
        (10, 4, 0.5, [0, 2, 4, 6]),
        (3, 3, 0.5, [0]),
        (2, 3, 0.5, [0]),  # smaller than the patch: one tile (the volume gets padded)
        (8, 4, 1.0, [0, 4]),
        (9, 4, 1.0, [0, 2, 5]),  # ceil(5/4)+1 = 3 tiles, spread 2.5 apart, rounded
        (100, 32, 0.5, [0, 14, 27, 41, 54, 68]),
    ],
)
def test_tile_starts_hand_computed(size, patch, step, expected):
    assert tile_starts(size, patch, step) == expected


@pytest.mark.parametrize("size", [1, 31, 32, 33, 47, 64, 100, 257])
@pytest.mark.parametrize("patch, step", [(32, 0.5), (32, 0.25), (17, 1.0), (5, 0.7)])
def test_tile_starts_cover_every_voxel_and_end_flush(size, patch, step):
    starts = tile_starts(size, patch, step)
    n = max(size, patch)
    covered = np.zeros(n, dtype=int)
    for s in starts:
        covered[s:s + patch] += 1
    assert covered.min() >= 1
    assert starts[0] == 0 and starts[-1] + patch == n  # last tile flush with the border
    assert starts == sorted(set(starts))
    gaps = np.diff(starts)
    assert (gaps <= math.ceil(step * patch)).all()  # neighbours are never further apart than the step


@pytest.mark.parametrize("step", [0.0, -0.5, 1.5])
def test_tile_starts_rejects_bad_step(step):
    with pytest.raises(ValueError, match="step"):
        tile_starts(10, 4, step)


def test_tile_grid_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        tile_grid((10, 10), (4, 4, 4))


# --------------------------------------------------------------------------------------------------
# Gaussian importance map and weights
# --------------------------------------------------------------------------------------------------


def test_gaussian_1d_hand_computed():
    # patch 3: sigma = 3/8, centre 1 -> [exp(-1/(2*0.140625)), 1, same]
    e = math.exp(-1.0 / (2 * 0.375**2))
    np.testing.assert_allclose(gaussian_1d(3), [e, 1.0, e])
    np.testing.assert_allclose(gaussian_1d(1), [1.0])


def test_gaussian_invariants():
    for n in (16, 24, 9):
        g = gaussian_1d(n)
        assert g.shape == (n,) and g.max() == pytest.approx(1.0) and g[n // 2] == pytest.approx(1.0)
        assert g.min() > 0  # no zero weights, even at the tile border
    # at the border, patch/2 = 4 sigma away: exp(-8) per axis
    assert gaussian_1d(16)[0] == pytest.approx(math.exp(-8.0))


def test_normalized_weights_hand_computed_1x1x4():
    e = math.exp(-1.0 / (2 * 0.375**2))
    w = normalized_tile_weights_1d(4, 3, 0.5)
    assert len(w) == 2
    np.testing.assert_allclose(w[0], [1.0, 1.0 / (1 + e), e / (1 + e)])
    np.testing.assert_allclose(w[1], [e / (1 + e), 1.0 / (1 + e), 1.0])
    np.testing.assert_allclose(weight_sum_1d(4, 3), [e, 1 + e, 1 + e, e])


@pytest.mark.parametrize("size, patch, step", [(4, 3, 0.5), (50, 16, 0.5), (77, 20, 0.33), (64, 64, 0.5)])
def test_normalized_weights_sum_to_one(size, patch, step):
    total = np.zeros(size)
    for s, w in zip(tile_starts(size, patch, step), normalized_tile_weights_1d(size, patch, step)):
        assert (w > 0).all()
        total[s:s + patch] += w
    np.testing.assert_allclose(total, 1.0, rtol=1e-12)


@pytest.mark.parametrize("shape, patch, step", [((20, 8, 4), (8, 8, 8), 0.5),
                                                ((50, 33, 16), (16, 12, 16), 0.5),
                                                ((77, 40, 9), (20, 16, 12), 0.33)])
def test_nearest_cells_partition_the_image_each_inside_its_tile_where_its_gaussian_weighs_most(
        shape, patch, step):
    owner = np.full(shape, -1)
    pairs = list(tiles_and_cells(shape, patch, step))
    assert [t for t, _ in pairs] == list(whole_image_tiles(shape, patch, step))
    for i, (tile, cell) in enumerate(pairs):
        assert all(t.start <= c.start < c.stop <= t.stop for t, c in zip(tile, cell))
        assert (owner[cell] == -1).all()  # no voxel in two cells
        owner[cell] = i
    assert (owner >= 0).all()  # every voxel in one
    # along an axis, the cell's tile weighs its voxels at least as much as any other tile does
    size, p = shape[0], patch[0]
    g = gaussian_1d(p)
    starts = tile_starts(size, p, step)
    cells = sorted({(c[0].start, c[0].stop) for _, c in pairs})
    for (a, b), s in zip(cells, starts):
        for x in range(a, b):
            best = max(g[x - t] for t in starts if t <= x < t + p)
            assert g[x - s] == best


def test_gaussian_rejects_bad_arguments():
    with pytest.raises(ValueError, match="patch"):
        gaussian_1d(0)
    with pytest.raises(ValueError, match="sigma_scale"):
        gaussian_1d(8, 0.0)
    with pytest.raises(ValueError, match="size >= patch"):
        weight_sum_1d(3, 4)


# --------------------------------------------------------------------------------------------------
# sliding window
# --------------------------------------------------------------------------------------------------


class ConstantNet(torch.nn.Module):
    """Logit ``c`` for class ``c`` everywhere."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def forward(self, x):
        vals = torch.arange(self.k, dtype=x.dtype).reshape(1, self.k, 1, 1, 1)
        return vals.expand(x.shape[0], self.k, *x.shape[2:]).clone()


def test_hand_computed_1x1x4_with_1x1x3_tiles():
    # identity network: the weighted mean of identical values is the value itself, weights summing to 1
    net = torch.nn.Identity()
    data = torch.tensor([[[[1.0, 2.0, 3.0, 4.0]]]])
    out = sliding_window_logits(net, data, (1, 1, 3), 1, accumulate_dtype=torch.float64)
    torch.testing.assert_close(out, data.double())
    # a network that shows which tile it saw (its first value) makes the weights visible
    seen = []

    class TileId(torch.nn.Module):
        def forward(self, x):
            seen.append(float(x[0, 0, 0, 0, 0]))
            return torch.full_like(x, float(x[0, 0, 0, 0, 0]))

    out = sliding_window_logits(TileId(), data, (1, 1, 3), 1, accumulate_dtype=torch.float64)
    assert seen == [1.0, 2.0]  # tiles start at 0 and 1
    e = math.exp(-1.0 / (2 * 0.375**2))
    # voxel 1: tile 0's centre (Gaussian 1) and tile 1's edge (Gaussian e), normalised by 1 + e
    expected = [1.0, (1.0 + 2.0 * e) / (1 + e), (e + 2.0) / (1 + e), 2.0]
    np.testing.assert_allclose(out[0, 0, 0].numpy(), expected, rtol=1e-6)  # weights are float32


def test_constant_logits_are_reproduced_exactly():
    out = sliding_window_logits(ConstantNet(3), torch.zeros(1, 37, 20, 50), (16, 16, 16), 3)
    assert out.dtype == torch.float16 and out.shape == (3, 37, 20, 50)
    for c in range(3):
        assert torch.allclose(out[c].float(), torch.full((37, 20, 50), float(c)), atol=2e-3)


def _tile_edge_mask(shape, patch, step):
    """True where no covering tile has the voxel on its (zero-padded) border, per axis combined."""
    mask = np.ones(shape, dtype=bool)
    for a, (n, p) in enumerate(zip(shape, patch)):
        bad = np.zeros(n, dtype=bool)
        for s in tile_starts(n, p, step):
            if s > 0:
                bad[s] = True
            if s + p < n:
                bad[s + p - 1] = True
        idx = [None] * 3
        idx[a] = slice(None)
        mask &= ~bad[tuple(idx)]
    return mask


def test_tiled_equals_whole_volume_for_a_convolution():
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(2, 3, 3, padding=1).eval()
    data = torch.randn(2, 40, 33, 27)
    patch, step = (16, 16, 12), 0.5
    with torch.no_grad():
        whole = conv(data[None])[0]
    tiled = sliding_window_logits(conv, data, patch, 3, step=step, accumulate_dtype=torch.float32)
    mask = torch.from_numpy(_tile_edge_mask(data.shape[1:], patch, step))
    assert mask.float().mean() > 0.5
    torch.testing.assert_close(tiled[:, mask], whole[:, mask], atol=1e-5, rtol=1e-5)
    # float16 accumulation: same within half precision
    half = sliding_window_logits(conv, data, patch, 3, step=step)
    torch.testing.assert_close(half[:, mask].float(), whole[:, mask], atol=5e-3, rtol=2e-3)
    # on the tile edges themselves the zero padding of each tile does show (the check above can fail)
    assert not torch.allclose(tiled, whole, atol=1e-4)


def test_pointwise_network_equal_everywhere_incl_small_and_padded_inputs():
    torch.manual_seed(1)
    conv = torch.nn.Conv3d(1, 2, 1).eval()
    for shape in [(30, 30, 30), (10, 40, 5), (3, 3, 3)]:
        data = torch.randn(1, *shape)
        with torch.no_grad():
            whole = conv(data[None])[0]
        tiled = sliding_window_logits(conv, data, (16, 16, 16), 2, accumulate_dtype=torch.float32)
        assert tiled.shape == (2, *shape)
        torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=1e-5)


def test_batch_size_does_not_change_the_result():
    torch.manual_seed(2)
    conv = torch.nn.Conv3d(1, 2, 3, padding=1).eval()
    data = torch.randn(1, 30, 25, 20)
    a = sliding_window_logits(conv, data, (12, 12, 12), 2, batch_size=1, accumulate_dtype=torch.float32)
    b = sliding_window_logits(conv, data, (12, 12, 12), 2, batch_size=5, accumulate_dtype=torch.float32)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


def test_a_window_tiled_on_the_whole_grid_equals_the_whole_image_where_its_tiles_are_all_kept():
    # the cascade's fine stage: only a box of the image, with the whole image's tile positions and
    # weights, so a voxel whose covering tiles all lie in the box gets exactly the whole image's value
    torch.manual_seed(3)
    conv = torch.nn.Conv3d(1, 3, 3, padding=1).eval()
    data = torch.randn(1, 50, 37, 10)  # z smaller than the patch: padded, the whole axis in any window
    patch = (16, 12, 16)
    whole = sliding_window_logits(conv, data, patch, 3, accumulate_dtype=torch.float32)
    spot = (slice(20, 23), slice(15, 18), slice(2, 5))
    box = tile_window(data.shape[1:], patch, lambda t: all(s.start < b.stop and b.start < s.stop
                                                          for s, b in zip(t, spot)))
    starts = [tile_starts(50, 16), tile_starts(37, 12)]  # x: [0, 7, 14, 20, 27, 34], y: [0, 6, 13, 19, 25]
    assert box == ((min(s for s in starts[0] if s + 16 > 20), max(s for s in starts[0] if s < 23) + 16),
                   (min(s for s in starts[1] if s + 12 > 15), max(s for s in starts[1] if s < 18) + 12),
                   (0, 10))
    sub = data[(slice(None), *(slice(a, b) for a, b in box))]
    part = sliding_window_logits(conv, sub, patch, 3, accumulate_dtype=torch.float32,
                                 window=(data.shape[1:], box))
    assert part.shape == (3, *sub.shape[1:])
    local = tuple(slice(s.start - a, s.stop - a) for s, (a, _) in zip(spot, box))
    torch.testing.assert_close(part[(slice(None), *local)], whole[(slice(None), *spot)], atol=1e-6, rtol=0)
    # tiling the box as an image of its own places the tiles differently: the values differ
    alone = sliding_window_logits(conv, sub, patch, 3, accumulate_dtype=torch.float32)
    assert not torch.allclose(alone[(slice(None), *local)], whole[(slice(None), *spot)], atol=1e-4)
    assert tile_window(data.shape[1:], patch, lambda t: False) is None
    with pytest.raises(ValueError, match="does not match the data's shape"):
        sliding_window_logits(conv, sub, patch, 3, window=(data.shape[1:], ((0, 5), (0, 5), (0, 10))))
    with pytest.raises(ValueError, match="smaller than the patch must be whole"):
        sliding_window_logits(conv, data[:, :, :, 2:8], patch, 3,
                              window=(data.shape[1:], ((0, 50), (0, 37), (2, 8))))


def test_pad_to_patch_round_trip():
    data = torch.arange(2 * 3 * 5 * 7, dtype=torch.float32).reshape(2, 3, 5, 7)
    padded, crop = pad_to_patch(data, (4, 8, 7))
    assert padded.shape == (2, 4, 8, 7)
    torch.testing.assert_close(padded[(slice(None), *crop)], data)
    assert crop == (slice(0, 3), slice(1, 6), slice(0, 7))  # even split, extra voxel after
    assert padded.sum() == data.sum()


def test_deep_supervision_list_output_uses_the_first():
    class DS(torch.nn.Module):
        def forward(self, x):
            return [torch.ones(x.shape[0], 2, *x.shape[2:]), torch.zeros(1)]

    out = sliding_window_logits(DS(), torch.zeros(1, 8, 8, 8), (8, 8, 8), 2)
    assert torch.all(out == 1)


def test_sliding_window_rejects_bad_input():
    net = ConstantNet(2)
    with pytest.raises(ValueError, match=r"\(C, X, Y, Z\)"):
        sliding_window_logits(net, torch.zeros(8, 8, 8), (4, 4, 4), 2)
    with pytest.raises(ValueError, match="does not match"):
        sliding_window_logits(net, torch.zeros(1, 8, 8, 8), (4, 4, 4), 3)
    with pytest.raises(ValueError, match="accumulate_dtype"):
        sliding_window_logits(net, torch.zeros(1, 8, 8, 8), (4, 4, 4), 2, accumulate_dtype=torch.bfloat16)
    with pytest.raises(ValueError, match="patch_size"):
        sliding_window_logits(net, torch.zeros(1, 8, 8, 8), (4, 4), 2)
    with pytest.raises(ValueError, match="batch_size"):
        sliding_window_logits(net, torch.zeros(1, 8, 8, 8), (4, 4, 4), 2, batch_size=0)


# --------------------------------------------------------------------------------------------------
# mirroring test-time augmentation and the left-right channel swap
# --------------------------------------------------------------------------------------------------

BG, LIVER, KIDNEY_R, KIDNEY_L = 0, 1, 2, 3
SWAP = [BG, LIVER, KIDNEY_L, KIDNEY_R]  # torsoseg.organs.lr_swap_table of the four labels


class LateralKidneyNet(torch.nn.Module):
    """Bright voxels are kidney: the right kidney on the patient's right half (low axis-0 index).

    A correctly lateralised model, working on whole-volume tiles (the volume is one patch).
    """

    def forward(self, x):
        bright = (x[:, 0] > 0).float()
        n = x.shape[2]
        right_half = (torch.arange(n) < n // 2).float().reshape(1, n, 1, 1)
        out = torch.zeros(x.shape[0], 4, *x.shape[2:])
        out[:, BG] = 1.0 - bright
        out[:, KIDNEY_R] = 2.0 * bright * right_half
        out[:, KIDNEY_L] = 2.0 * bright * (1 - right_half)
        return out


class RightOnlyNet(torch.nn.Module):
    """Calls every bright voxel the right kidney, wherever it is."""

    def forward(self, x):
        bright = (x[:, 0] > 0).float()
        out = torch.zeros(x.shape[0], 4, *x.shape[2:])
        out[:, BG] = 1.0 - bright
        out[:, KIDNEY_R] = 2.0 * bright
        return out


def _two_kidneys() -> torch.Tensor:
    data = -torch.ones(1, 16, 12, 10)
    data[0, 2:5, 3:7, 2:6] = 1.0  # patient's right (low index on axis 0)
    data[0, 10:14, 4:8, 3:8] = 1.0  # patient's left
    return data


def test_mirror_combinations():
    assert mirror_combinations((0, 1, 2)) == [(), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)]
    assert mirror_combinations((2,)) == [(), (2,)]
    with pytest.raises(ValueError, match="spatial axes"):
        mirror_combinations((3,))


def test_tta_with_lr_swap_keeps_a_lateralised_model_consistent():
    data = _two_kidneys()
    plain = sliding_window_logits(LateralKidneyNet(), data, (16, 12, 10), 4, accumulate_dtype=torch.float32)
    tta = sliding_window_logits(LateralKidneyNet(), data, (16, 12, 10), 4, mirror_axes=(0, 1, 2),
                                lr_swap=SWAP, accumulate_dtype=torch.float32)
    torch.testing.assert_close(tta, plain)
    seg = tta.argmax(0)
    assert (seg[2:5, 3:7, 2:6] == KIDNEY_R).all() and (seg[10:14, 4:8, 3:8] == KIDNEY_L).all()
    # without the swap, the mirrored passes call each kidney by its twin's name and the sides blur
    no_swap = sliding_window_logits(LateralKidneyNet(), data, (16, 12, 10), 4, mirror_axes=(0,),
                                    accumulate_dtype=torch.float32)
    assert torch.allclose(no_swap[KIDNEY_R, 2:5, 3:7, 2:6], no_swap[KIDNEY_L, 2:5, 3:7, 2:6])


def test_tta_swap_is_applied_to_a_one_sided_model():
    data = _two_kidneys()
    tiles = data[None]
    plain = predict_tiles(RightOnlyNet(), tiles)
    assert (plain[0, KIDNEY_L] == 0).all()
    flipped = predict_tiles(RightOnlyNet(), tiles, mirror_axes=(0,), lr_swap=SWAP)
    bright = data[0] > 0
    # half of the passes saw a mirrored image: their "right kidney" is the left one after the swap
    torch.testing.assert_close(flipped[0, KIDNEY_R][bright], torch.ones(int(bright.sum())))
    torch.testing.assert_close(flipped[0, KIDNEY_L][bright], torch.ones(int(bright.sum())))
    # mirrors along other axes do not swap
    other = predict_tiles(RightOnlyNet(), tiles, mirror_axes=(1, 2), lr_swap=SWAP)
    assert (other[0, KIDNEY_L] == 0).all()


def test_lr_swap_of_wrong_length_is_rejected():
    with pytest.raises(ValueError, match="lr_swap"):
        predict_tiles(RightOnlyNet(), _two_kidneys()[None], mirror_axes=(0,), lr_swap=[0, 1])


def test_autocast_bfloat16_accumulates_in_float16():
    torch.manual_seed(3)
    conv = torch.nn.Conv3d(1, 3, 3, padding=1).eval()
    data = torch.randn(1, 20, 20, 20)
    ref = sliding_window_logits(conv, data, (12, 12, 12), 3, accumulate_dtype=torch.float32)
    low = sliding_window_logits(conv, data, (12, 12, 12), 3, autocast_dtype=torch.bfloat16)
    assert low.dtype == torch.float16
    torch.testing.assert_close(low.float(), ref, atol=0.05, rtol=0.02)
