"""Tests of torsoseg.training.finetune (transfer rules, readable plan diff, source lookup)."""

from __future__ import annotations

import json

import pytest
import torch

from tests.training.conftest import tiny_plans, write_tiny_dataset
from torsoseg.network import build_network
from torsoseg.training.finetune import (
    IncompatiblePlansError,
    check_compatible,
    head_row_map,
    transfer_weights,
)

SRC = {"background": 0, "liver": 1, "spleen": 2, "Right Kidney": 3}
TGT = {"background": 0, "kidney_right": 1, "kidney_left": 2, "liver": 3}


def test_head_row_map_by_canonical_name():
    assert head_row_map(SRC, TGT) == {"background": (0, 0), "kidney_right": (3, 1), "liver": (1, 3)}


def test_transfer_copies_shared_rows_and_keeps_new_ones():
    torch.manual_seed(0)
    src = build_network(tiny_plans(labels=SRC))
    torch.manual_seed(1)
    tgt = build_network(tiny_plans(labels=TGT))
    fresh = {k: v.clone() for k, v in tgt.state_dict().items()}
    rec = transfer_weights(tgt, src.state_dict(), SRC, TGT)
    s, t = src.state_dict(), tgt.state_dict()
    for i in range(len(tgt.seg_heads)):
        for kind in ("weight", "bias"):
            key = f"seg_heads.{i}.{kind}"
            torch.testing.assert_close(t[key][1], s[key][3])  # kidney_right
            torch.testing.assert_close(t[key][3], s[key][1])  # liver
            torch.testing.assert_close(t[key][0], s[key][0])  # background
            torch.testing.assert_close(t[key][2], fresh[key][2])  # kidney_left: new
    torch.testing.assert_close(t["encoder.0.0.conv.weight"], s["encoder.0.0.conv.weight"])
    assert rec["new_organs"] == ["kidney_left"]
    assert rec["head_rows"]["liver"] == [1, 3]
    assert "encoder.1.0.conv.weight" in rec["loaded"] and not rec["skipped"]
    json.dumps(rec)  # recordable


def test_incompatible_plans_readable_diff():
    a = tiny_plans("Dataset001_Abdomen")
    b = tiny_plans("Dataset002_VISCERAL", patch=(32, 32, 16), features=(4, 8, 32))
    with pytest.raises(IncompatiblePlansError) as e:
        check_compatible(a, b)
    msg = str(e.value)
    assert "cannot fine-tune Dataset002_VISCERAL from Dataset001_Abdomen" in msg
    assert "  patch_size: pretrained [24, 24, 16] != target [32, 32, 16]" in msg
    assert "  features: pretrained [4, 8, 16] != target [4, 8, 32]" in msg
    assert "torsoseg_plan_and_preprocess -d 2 --plans-from 1" in msg
    assert "strides" not in msg  # only the differing fields
    assert check_compatible(a, a.replace(target_spacing=(1.0, 1.0, 1.0))) == [
        "  target_spacing: pretrained [1.0, 1.0, 3.0] != target [1.0, 1.0, 1.0]".replace(
            "[1.0, 1.0, 3.0]", "[2.0, 2.0, 3.0]"
        )
    ]


@pytest.mark.slow
def test_finetune_end_to_end(tmp_path):
    from torsoseg.training.run import train_model

    pre, res = tmp_path / "pre", tmp_path / "res"
    write_tiny_dataset(
        pre, tiny_plans("Dataset001_Src", labels={"background": 0, "liver": 1, "spleen": 2}), 3
    )
    write_tiny_dataset(pre, tiny_plans("Dataset002_Tgt"), 3)
    kw = dict(
        preprocessed_root=pre,
        results_root=res,
        device="cpu",
        num_epochs=1,
        iterations_per_epoch=2,
        val_iterations=1,
        precision="fp32",
    )
    train_model(1, fold="all", preset="cpu", **kw)
    out = train_model(2, fold="all", pretrained=1, preset="finetune_cpu", **kw)
    assert out["fold_dir"].parent.name == "FineTuneTrainer_finetune_cpu__torsoseg_plans__3d_fullres"
    rec = json.loads((out["fold_dir"] / "pretrained_transfer.json").read_text())
    assert rec["head_rows"] == {"background": [0, 0], "liver": [1, 1]}
    assert rec["new_organs"] == ["kidney_right", "kidney_left"]
    # encoder frozen for the only epoch: encoder weights stay the pretrained ones, the decoder moves
    frozen = train_model(2, fold=0, pretrained=1, preset="finetune_cpu", freeze_encoder_epochs=1, **kw)
    src = torch.load(
        res
        / "Dataset001_Src"
        / "Trainer_cpu__torsoseg_plans__3d_fullres"
        / "fold_all"
        / "checkpoint_final.pt",
        weights_only=True,
    )["network_weights"]
    tuned = frozen["model"].state_dict()
    for k, v in src.items():
        if k.startswith("encoder."):
            torch.testing.assert_close(tuned[k], v, rtol=0, atol=0)
    assert not torch.equal(tuned["decoder.0.0.conv.weight"], src["decoder.0.0.conv.weight"])
    # incompatible target: readable diff from the high-level call
    write_tiny_dataset(pre, tiny_plans("Dataset003_Bad", patch=(16, 16, 16)), 2)
    with pytest.raises(IncompatiblePlansError, match="patch_size: pretrained"):
        train_model(3, fold="all", pretrained=1, **kw)


def test_zero_init_gives_new_rows_no_favourite():
    torch.manual_seed(0)
    src = build_network(tiny_plans(labels=SRC))
    tgt = build_network(tiny_plans(labels=TGT))
    rec = transfer_weights(tgt, src.state_dict(), SRC, TGT, new_row_init="zero")
    s, t = src.state_dict(), tgt.state_dict()
    assert rec["new_row_init"] == "zero" and rec["new_organs"] == ["kidney_left"]
    for i in range(len(tgt.seg_heads)):
        w, b = t[f"seg_heads.{i}.weight"], t[f"seg_heads.{i}.bias"]
        assert torch.count_nonzero(w[2]) == 0  # kidney_left: new, no spatial preference
        torch.testing.assert_close(b[2], s[f"seg_heads.{i}.bias"][1:].mean())
        torch.testing.assert_close(w[1], s[f"seg_heads.{i}.weight"][3])  # kidney_right: transferred
    with pytest.raises(ValueError, match="new_row_init"):
        transfer_weights(tgt, src.state_dict(), SRC, TGT, new_row_init="ones")


def _finetune_movement(tmp_path, preset: str, **extra) -> tuple[float, float, dict, dict]:
    """Fine-tunes a few steps; returns (mean |change| of new head rows, of body weights, before, after).

    ``before`` is the transferred model with zero-initialised new rows (``new_row_init`` must be "zero").
    """
    from torsoseg.training.run import train_model

    pre, res = tmp_path / "pre", tmp_path / "res"
    if not (pre / "Dataset001_Src").exists():
        write_tiny_dataset(
            pre, tiny_plans("Dataset001_Src", labels={"background": 0, "liver": 1, "spleen": 2}), 3
        )
        write_tiny_dataset(pre, tiny_plans("Dataset002_Tgt"), 3)
    kw = dict(preprocessed_root=pre, results_root=res, device="cpu", val_iterations=0, precision="fp32")
    if not (res / "Dataset001_Src").exists():
        train_model(1, fold="all", preset="cpu", num_epochs=1, iterations_per_epoch=2, **kw)
    src = torch.load(
        res / "Dataset001_Src" / "Trainer_cpu__torsoseg_plans__3d_fullres" / "fold_all"
        / "checkpoint_final.pt",
        weights_only=True,
    )
    torch.manual_seed(0)
    before = build_network(tiny_plans("Dataset002_Tgt"))
    transfer_weights(
        before, src["network_weights"], src["labels"], tiny_plans("Dataset002_Tgt").labels,
        extra.get("new_row_init", "zero"),
    )
    out = train_model(
        2, fold="all", pretrained=1, preset=preset, num_epochs=2, iterations_per_epoch=3, **kw, **extra
    )
    after = out["model"].state_dict()
    b0 = before.state_dict()
    new_rows = [2, 3]  # kidney_right, kidney_left
    head = torch.cat(
        [(after[k][new_rows] - b0[k][new_rows]).abs().flatten() for k in after if "seg_heads" in k]
    )
    body = torch.cat(
        [(after[k] - b0[k]).abs().flatten() for k in after if k.endswith("conv.weight") and "seg_" not in k]
    )
    return float(head.mean()), float(body.mean()), b0, after


def test_new_rows_move_several_times_further_than_the_body(tmp_path):
    head, body, before, after = _finetune_movement(tmp_path, "finetune_cpu")
    assert head > 4 * body > 0, (head, body)
    last = max(int(k.split(".")[1]) for k in after if k.startswith("seg_heads"))
    for k in after:
        # every trained head (the lowest deep-supervision output has loss weight 0) has left its zero init
        if k.startswith("seg_heads") and k.endswith("weight") and int(k.split(".")[1]) < last:
            for row in (2, 3):
                assert torch.count_nonzero(after[k][row]) == after[k][row].numel()
    # the paper's plain rule (same start) moves new rows and body alike: the test above can fail
    head_p, body_p, _, _ = _finetune_movement(tmp_path, "finetune_cpu_plain", new_row_init="zero")
    assert head_p < 2.5 * body_p, (head_p, body_p)


def test_head_first_phase_keeps_the_body(tmp_path):
    head, body, before, after = _finetune_movement(tmp_path, "finetune_cpu", head_first_epochs=2)
    assert body == 0.0 and head > 0.0
    for k, v in after.items():
        if not k.startswith("seg_heads"):
            torch.testing.assert_close(v, before[k], rtol=0, atol=0)
