"""Fine-tuning transfer: find the source model, check plan compatibility, copy weights and head rows.

Rules (Roth et al. 2017 / DESIGN.md): every tensor whose name and shape match is loaded; the output heads
``seg_heads[i]`` are rebuilt for the new label set and the rows of organs both label sets share (matched
by canonical organ name; background always) are copied from the pretrained heads; everything else keeps
its fresh initialisation. What was transferred is returned as a JSON-able record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from torsoseg import organs
from torsoseg.dataset import parse_dataset_id
from torsoseg.plans import Plans

#: Plan fields that must agree between the pretrained model and the fine-tuning target.
COMPATIBILITY_FIELDS = (
    "num_input_channels",
    "patch_size",
    "strides",
    "kernel_sizes",
    "features",
    "n_conv_per_stage",
)
#: Fields that should agree (a difference is reported as a warning line, not an error).
ADVISORY_FIELDS = ("target_spacing", "normalization")
_HEAD_KEY = re.compile(r"^seg_heads\.(\d+)\.(weight|bias)$")


class IncompatiblePlansError(ValueError):
    """The target plans cannot take the pretrained weights; the message is a readable diff."""


def _value(plans: Plans, name: str) -> Any:
    v = getattr(plans, name)
    if name == "normalization":
        return {k: round(float(x), 3) for k, x in vars(v).items()}
    if isinstance(v, tuple):
        return [list(x) if isinstance(x, tuple) else x for x in v]
    return v


def plans_diff(source: Plans, target: Plans) -> tuple[list[str], list[str]]:
    """``(errors, warnings)``: one line per differing field, ``name: source X != target Y``."""
    errors, warns = [], []
    for name in COMPATIBILITY_FIELDS:
        a, b = _value(source, name), _value(target, name)
        if a != b:
            errors.append(f"  {name}: pretrained {a} != target {b}")
    for name in ADVISORY_FIELDS:
        a, b = _value(source, name), _value(target, name)
        if a != b:
            warns.append(f"  {name}: pretrained {a} != target {b}")
    return errors, warns


def check_compatible(source: Plans, target: Plans, source_name: str = "pretrained") -> list[str]:
    """Raises :class:`IncompatiblePlansError` with a readable diff; returns advisory difference lines.

    Example message::

        cannot fine-tune Dataset002_VISCERAL from Dataset001_Abdomen: plans differ
          patch_size: pretrained [64, 64, 64] != target [80, 80, 48]
        plan the target with the source's plans: torsoseg_plan_and_preprocess -d 2 --plans-from 1
    """
    errors, warns = plans_diff(source, target)
    if errors:
        ids = []
        for name in (target.dataset_name, source.dataset_name):
            try:
                ids.append(parse_dataset_id(name))
            except ValueError:
                break
        hint = (
            f"plan the target with the source's plans: torsoseg_plan_and_preprocess -d {ids[0]} "
            f"--plans-from {ids[1]}"
            if len(ids) == 2
            else "plan the target with --plans-from the source dataset"
        )
        raise IncompatiblePlansError(
            f"cannot fine-tune {target.dataset_name} from {source.dataset_name} ({source_name}): "
            "plans differ\n"
            + "\n".join(errors)
            + "\n"
            + hint
        )
    return warns


def head_row_map(
    source_labels: Mapping[str, int], target_labels: Mapping[str, int]
) -> dict[str, tuple[int, int]]:
    """Canonical organ name -> ``(source value, target value)`` for every label both sets share.

    Names are matched through :mod:`torsoseg.organs` (so ``"Right Kidney"`` meets ``kidney_right``);
    names outside the vocabulary match only verbatim. Background is always shared.
    """

    def canon(labels: Mapping[str, int]) -> dict[str, int]:
        out = {}
        for name, v in labels.items():
            key = (
                "background"
                if name == "background"
                else organs.key(name)
            )
            out[key] = int(v)
        return out

    s, t = canon(source_labels), canon(target_labels)
    return {k: (s[k], t[k]) for k in sorted(set(s) & set(t), key=lambda k: t[k])}


def init_new_rows(
    head: torch.Tensor, source_head: torch.Tensor, new_rows: list[int], kind: str = "weight"
) -> torch.Tensor:
    """The ``zero`` initialisation of the rows of new organs in one output head tensor.

    Weights of new rows are 0, so every new organ starts with the same logit everywhere: neither organ of
    a left/right pair is favoured by a lucky random row, and the data alone breaks the tie (the gradient
    of a zero row is not zero). Biases of new rows are the mean bias of the source model's foreground
    organs: a new organ starts as likely as a typical known organ, not far behind it or ahead of it.

    Args:
        head: target head tensor, ``(K_target, C, 1, 1, 1)`` weight or ``(K_target,)`` bias (modified copy
            returned).
        source_head: the pretrained tensor of the same head, ``(K_source, ...)``.
        new_rows: target row indices of the new organs.
        kind: ``"weight"`` or ``"bias"``.
    """
    out = head.clone()
    if not new_rows:
        return out
    if kind == "weight":
        out[new_rows] = 0.0
    else:
        fg = source_head[1:] if source_head.shape[0] > 1 else source_head
        out[new_rows] = fg.float().mean().to(out.dtype)
    return out


def transfer_weights(
    model: torch.nn.Module,
    source_state: Mapping[str, torch.Tensor],
    source_labels: Mapping[str, int],
    target_labels: Mapping[str, int],
    new_row_init: str = "random",
) -> dict[str, Any]:
    """Loads the matching part of ``source_state`` into ``model`` (in place).

    Args:
        model: the freshly built target network.
        source_state: the pretrained ``network_weights``.
        source_labels, target_labels: name -> value of the two label sets.
        new_row_init: ``"random"`` (keep the fresh init of the rows of new organs) or ``"zero"``
            (:func:`init_new_rows`).

    Returns:
        The transfer record: ``loaded`` (names), ``skipped`` (name -> reason), ``head_rows``
        (organ -> [source value, target value]), ``new_organs`` (target organs with fresh rows).
    """
    if new_row_init not in ("random", "zero"):
        raise ValueError(f"new_row_init must be 'random' or 'zero', got {new_row_init!r}")
    target = model.state_dict()
    rows = head_row_map(source_labels, target_labels)
    shared_rows = {t for _, t in rows.values()}
    loaded, skipped = [], {}
    new_state = {}
    for name, tensor in target.items():
        src = source_state.get(name)
        if _HEAD_KEY.match(name):
            if src is None:
                skipped[name] = "missing in pretrained model"
                continue
            if src.shape[1:] != tensor.shape[1:]:
                skipped[name] = f"shape {tuple(src.shape)} vs {tuple(tensor.shape)}"
                continue
            t = tensor.clone()
            if new_row_init == "zero":
                fresh = [r for r in range(t.shape[0]) if r not in shared_rows]
                t = init_new_rows(t, src, fresh, _HEAD_KEY.match(name).group(2))
            for s_val, t_val in rows.values():
                if s_val < src.shape[0] and t_val < t.shape[0]:
                    t[t_val] = src[s_val]
            new_state[name] = t
            continue
        if src is None:
            skipped[name] = "missing in pretrained model"
        elif tuple(src.shape) != tuple(tensor.shape):
            skipped[name] = f"shape {tuple(src.shape)} vs {tuple(tensor.shape)}"
        else:
            new_state[name] = src.to(tensor.dtype)
            loaded.append(name)
    unused = sorted(set(source_state) - set(target))
    model.load_state_dict({**target, **new_state})
    shared = {k: list(v) for k, v in rows.items()}
    new = [
        n
        for n, v in sorted(target_labels.items(), key=lambda kv: kv[1])
        if n != "background" and not any(v == tv for _, tv in rows.values())
    ]
    return {
        "loaded": loaded,
        "skipped": skipped,
        "unused_pretrained": unused,
        "head_rows": shared,
        "new_organs": new,
        "new_row_init": new_row_init,
    }
