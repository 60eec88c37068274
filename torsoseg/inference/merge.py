"""Merging the probabilities of several models with different label sets, by organ name.

Each model knows its own organs; its background means only "none of *my* organs". Labels are matched
through the organ vocabulary (:mod:`torsoseg.organs`): ``Right Kidney`` in one model and ``kidney_right``
in another are one organ, ``kidney_left`` and ``kidney_right`` stay two (laterality is kept). A label
outside the vocabulary is a *custom* label, matched by its exact name only.

The rule, per voxel, for the union of the models' organs (weights ``w_m``, default 1; an organ may
carry its own weights, ``w_m(o)``, e.g. chosen on validation data by :func:`organ_weights_from_scores`):

* for organ ``o`` known by the models ``S(o)``: the merged probability
  ``p(o) = sum_{m in S(o)} w_m P_m(o) / sum_{m in S(o)} w_m`` and the background evidence against it
  ``b(o) = sum_{m in S(o)} w_m P_m(background) / sum_{m in S(o)} w_m``: only the models that know ``o``
  may speak against it, so an organ known to one model is never suppressed by another model's
  background;
* ``o`` is a *candidate* where ``p(o) > b(o)``;
* the voxel gets the candidate with the highest ``p(o)`` (the first in label order on a tie), or
  background when there is no candidate.

With one model this is exactly its argmax; with models sharing one label set it is the argmax of the
(weighted) mean probabilities, i.e. the usual ensemble. A worked example is in
``documentation/inference.md`` ("Merging models").

Memory: :func:`merge_to_canonical` works slab by slab along canonical axis 0 and class by class; each
model's scores stay on its own network grid and are resampled one class and one slab at a time (the
export's code). Only the output label map (and the merged probabilities when asked for) is full size.
"""

from __future__ import annotations

import difflib
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from torsoseg import organs as vocab
from torsoseg.inference import export

logger = logging.getLogger(__name__)

NEAR_MISS_CUTOFF = 0.85  # the same rule as dataset.json validation: a custom name this close is a typo


@dataclass(frozen=True)
class MergedOrgan:
    """One label of the merged set.

    Attributes:
        name: canonical organ name, or the exact custom label name.
        value: its value in the merged label map (1, 2, ...).
        sources: ``(model index, channel of that model)`` for every model that knows it.
        weights: one weight per source (the model's weight, or the organ's own weight for that model;
            0 means the model does not speak for this organ).
    """

    name: str
    value: int
    sources: tuple[tuple[int, int], ...]
    weights: tuple[float, ...] = ()

    def active(self) -> list[tuple[int, int, float]]:
        """``(model, channel, weight)`` of the sources that speak for this organ (weight > 0)."""
        ws = self.weights or (1.0,) * len(self.sources)
        return [(m, c, w) for (m, c), w in zip(self.sources, ws) if w > 0]


@dataclass(frozen=True)
class MergePlan:
    """How the label sets of several models combine (see :func:`plan_merge`).

    Attributes:
        labels: merged label set, name -> value (``background`` 0, then the first model's organs in its
            order, then each further model's new organs).
        organs: one :class:`MergedOrgan` per foreground label, in value order.
        weights: one positive weight per model.
        model_names: the models' names (for messages).
        num_classes: classes of each model (background included).
    """

    labels: dict[str, int]
    organs: tuple[MergedOrgan, ...]
    weights: tuple[float, ...]
    model_names: tuple[str, ...]
    num_classes: tuple[int, ...]

    @property
    def num_models(self) -> int:
        return len(self.model_names)

    def only_in(self, model: int) -> list[str]:
        """Organs that only model ``model`` knows (what the merge adds through it)."""
        return [o.name for o in self.organs if [m for m, _ in o.sources] == [model]]

    def shared(self) -> list[str]:
        """Organs that several models know."""
        return [o.name for o in self.organs if len(o.sources) > 1]


def organ_key(label: str, model_name: str) -> str:
    """The name a label is matched by: its canonical organ name, or itself when it is a custom label.

    Args:
        label: a label name of a model (any vocabulary spelling, or a custom name).
        model_name: the model (for the message).

    Raises:
        ValueError: the label is not in the vocabulary but is a near miss of an organ name (almost surely
            a typo that would silently stop it from merging); the message names the label and the model.
    """
    if vocab.is_known(label):
        return vocab.canonical_name(label)
    key = vocab.normalize_key(label)
    names = {vocab.normalize_key(n): n for n in vocab.ORGANS}
    close = difflib.get_close_matches(key, list(names), n=1, cutoff=NEAR_MISS_CUTOFF)
    if close:
        raise ValueError(
            f"model {model_name}: label {label!r} maps to no known organ name (closest: "
            f"{names[close[0]]!r}); labels outside the organ vocabulary merge only by exact name, so "
            f"rename it or add it to the vocabulary"
        )
    return str(label)


def _check_weights(weights: Sequence[float] | None, n: int) -> tuple[float, ...]:
    if weights is None:
        return (1.0,) * n
    w = tuple(float(x) for x in weights)
    if len(w) != n:
        raise ValueError(f"weights: one per model expected ({n}), got {len(w)}: {list(w)}")
    bad = [x for x in w if not (math.isfinite(x) and x > 0)]
    if bad:
        raise ValueError(f"weights must be positive finite numbers, got {list(w)}")
    return w


def _check_organ_weights(
    organ_weights: Mapping[str, Sequence[float]] | None, sources: Mapping[str, list[tuple[int, int]]],
    n: int,
) -> dict[str, tuple[float, ...]]:
    """Validates per-organ weights (one non-negative weight per model) and maps names to the merged keys."""
    out: dict[str, tuple[float, ...]] = {}
    for name, ws in (organ_weights or {}).items():
        key = vocab.key(name)
        if key not in sources:
            raise ValueError(f"organ weights: {name!r} is not an organ of any model (known: "
                             f"{sorted(sources)})")
        w = tuple(float(x) for x in ws)
        if len(w) != n or any(not (math.isfinite(x) and x >= 0) for x in w):
            raise ValueError(f"organ weights of {name!r}: one non-negative weight per model expected ({n}), "
                             f"got {list(w)}")
        if not any(w[m] > 0 for m, _ in sources[key]):
            raise ValueError(f"organ weights of {name!r}: every model that knows it has weight 0 ({list(w)})")
        out[key] = w
    return out


def plan_merge(
    label_sets: Sequence[Mapping[str, int]],
    model_names: Sequence[str] | None = None,
    weights: Sequence[float] | None = None,
    organ_weights: Mapping[str, Sequence[float]] | None = None,
) -> MergePlan:
    """Matches the label sets of several models by organ name.

    Args:
        label_sets: per model, its labels name -> value (consecutive, ``background`` 0).
        model_names: per model, a name for messages (default ``model 1``, ``model 2``, ...).
        weights: per model, a positive weight (default: equal).
        organ_weights: organ name -> one non-negative weight per model, replacing ``weights`` for that
            organ (0: the model does not speak for it); see :func:`organ_weights_from_scores`.

    Returns:
        A :class:`MergePlan`.

    Raises:
        ValueError: no model; a label set without ``background`` 0 or not consecutive; two labels of one
            model that are the same organ; a label that is a near miss of an organ name
            (:func:`organ_key`); wrong weights. Messages name the model and the label.

    Example:
        >>> plan = plan_merge([{"background": 0, "liver": 1, "stomach": 2},
        ...                    {"background": 0, "Liver": 1, "kidney_left": 2}], ["abdomen", "visceral"])
        >>> plan.labels
        {'background': 0, 'liver': 1, 'stomach': 2, 'kidney_left': 3}
        >>> [o.sources for o in plan.organs]
        [((0, 1), (1, 1)), ((0, 2),), ((1, 2),)]
    """
    if not label_sets:
        raise ValueError("merging needs at least one model")
    names = tuple(str(n) for n in model_names) if model_names is not None else tuple(
        f"model {i + 1}" for i in range(len(label_sets)))
    if len(names) != len(label_sets):
        raise ValueError(f"model_names: {len(names)} names for {len(label_sets)} models")
    w = _check_weights(weights, len(label_sets))
    order: list[str] = []
    sources: dict[str, list[tuple[int, int]]] = {}
    num_classes = []
    for m, labels in enumerate(label_sets):
        values = sorted(int(v) for v in labels.values())
        if labels.get("background") != 0 or values != list(range(len(values))):
            raise ValueError(f"model {names[m]}: labels must be consecutive values with background 0, "
                             f"got {dict(labels)}")
        num_classes.append(len(values))
        seen: dict[str, str] = {}
        for label, value in sorted(labels.items(), key=lambda kv: kv[1]):
            if label == "background":
                continue
            key = organ_key(label, names[m])
            if key in seen:
                raise ValueError(f"model {names[m]}: labels {seen[key]!r} and {label!r} are both {key!r}")
            seen[key] = label
            if key not in sources:
                order.append(key)
                sources[key] = []
            sources[key].append((m, int(value)))
    per_organ = _check_organ_weights(organ_weights, sources, len(label_sets))
    organs = tuple(
        MergedOrgan(k, i + 1, tuple(sources[k]), tuple(per_organ.get(k, w)[m] for m, _ in sources[k]))
        for i, k in enumerate(order)
    )
    merged = {"background": 0, **{o.name: o.value for o in organs}}
    _warn_overlapping_names(merged)
    return MergePlan(merged, organs, w, names, tuple(num_classes))


def _warn_overlapping_names(labels: Mapping[str, int]) -> None:
    """Logs organs of the union that describe the same tissue at two levels (``lungs`` and ``lung_left``)."""
    known = [n for n in labels if n != "background" and n in vocab.ORGANS]
    for n in known:
        whole = vocab.whole_of(n)
        if whole in labels:
            logger.warning("merged labels hold both %r and its part %r; they compete voxel by voxel",
                           whole, n)


def merge_slab(
    plan: MergePlan,
    channel: Callable[[int, int], torch.Tensor],
    probabilities: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The merge rule on one slab (see the module docstring).

    Args:
        plan: from :func:`plan_merge`.
        channel: ``channel(model, class)`` -> float32 probabilities of that class of that model on the
            slab (all the same shape); it is called once per (model, class) that the plan uses.
        probabilities: also return the merged probabilities.

    Returns:
        ``(labels, probs)``: ``labels`` int64 label values on the slab; ``probs`` float32
        ``(K, *slab)`` (channel 0: the weighted mean background of all models, channel ``v``: the merged
        probability ``p`` of the organ with value ``v``) or ``None``.
    """
    bgs = [channel(m, 0) for m in range(plan.num_models)]
    shape = tuple(bgs[0].shape)
    best = torch.zeros(shape, dtype=torch.float32)
    idx = torch.zeros(shape, dtype=torch.int64)
    probs = torch.empty((len(plan.labels), *shape), dtype=torch.float32) if probabilities else None
    for organ in plan.organs:
        active = organ.active()
        if len(active) == 1:  # only one model speaks: its probability against its background
            (m, c, _), = active
            p, b = channel(m, c), bgs[m]
        else:
            wsum = sum(w for _, _, w in active)
            p = torch.zeros(shape, dtype=torch.float32)
            b = torch.zeros(shape, dtype=torch.float32)
            for m, c, w in active:
                p.add_(channel(m, c), alpha=w / wsum)
                b.add_(bgs[m], alpha=w / wsum)
        win = (p > b) & (p > best)
        idx.masked_fill_(win, organ.value)
        best = torch.where(win, p, best)
        if probs is not None:
            probs[organ.value] = p
    if probs is not None:
        total = sum(plan.weights)
        probs[0] = sum(bg * (w / total) for bg, w in zip(bgs, plan.weights))
    return idx, probs


def merge_arrays(
    plan: MergePlan, probabilities: Sequence[np.ndarray], return_probabilities: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """The merge rule on whole arrays already on one grid (small inputs, tests, user code).

    Args:
        plan: from :func:`plan_merge`.
        probabilities: per model ``(K_m, ...)`` class probabilities on the same grid.
        return_probabilities: also return the merged ``(K, ...)`` float32 probabilities.

    Returns:
        ``(label map (uint8 / int16), merged probabilities or None)``.
    """
    if len(probabilities) != plan.num_models:
        raise ValueError(f"{len(probabilities)} probability arrays for {plan.num_models} models")
    for m, (p, k) in enumerate(zip(probabilities, plan.num_classes)):
        if p.shape[0] != k or p.shape[1:] != probabilities[0].shape[1:]:
            raise ValueError(f"model {plan.model_names[m]}: probabilities of shape {p.shape}, expected "
                             f"({k}, *{tuple(probabilities[0].shape[1:])})")
    tensors = [torch.as_tensor(np.asarray(p, dtype=np.float32)) for p in probabilities]
    idx, probs = merge_slab(plan, lambda m, c: tensors[m][c], return_probabilities)
    out = idx.numpy().astype(export.label_dtype(len(plan.labels)))
    return out, None if probs is None else probs.numpy()


class _ModelSlabs:
    """One model's scores on its network grid, resampled to canonical slabs one class at a time."""

    def __init__(self, scores: torch.Tensor, props: Any):
        self.scores = scores
        self.bbox = tuple((int(a), int(b)) for a, b in props.crop_bbox)
        self.crop_shape = tuple(int(s) for s in props.shape_after_crop)
        if tuple(b - a for a, b in self.bbox) != self.crop_shape:
            raise ValueError(f"crop box {self.bbox} does not match the cropped shape {self.crop_shape}")
        self.same_x = int(scores.shape[1]) == self.crop_shape[0]
        self.x_plan = export.linear_resize_indices(int(scores.shape[1]), self.crop_shape[0])

    def channel(self, c: int, x0: int, x1: int, yz: tuple[int, int]) -> torch.Tensor:
        """Class ``c`` on canonical slab ``[x0, x1)``: float32 ``(x1 - x0, *yz)``; outside the crop box
        the background has probability 1 and every organ 0."""
        out = torch.full((x1 - x0, *yz), 1.0 if c == 0 else 0.0, dtype=torch.float32)
        (bx0, bx1), (by0, by1), (bz0, bz1) = self.bbox
        cx0, cx1 = max(x0, bx0) - bx0, min(x1, bx1) - bx0
        if cx0 >= cx1:
            return out
        lo, hi, plan = export._slab_source(self.scores, cx0, cx1, self.x_plan, self.same_x)
        v = export._resample_slab(self.scores[c:c + 1, lo:hi].float(), plan, self.crop_shape[1:])[0]
        out[cx0 + bx0 - x0:cx1 + bx0 - x0, by0:by1, bz0:bz1] = v
        return out


def merge_to_canonical(
    plan: MergePlan,
    scores: Sequence[torch.Tensor],
    props: Sequence[Any],
    probabilities: bool = False,
    chunk_bytes: int = export.DEFAULT_CHUNK_BYTES,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Merges the models' probabilities on the canonical uncropped grid of the input, slab by slab.

    Args:
        plan: from :func:`plan_merge`.
        scores: per model, float ``(K_m, X_m, Y_m, Z_m)`` softmax probabilities on its network grid.
        props: per model, the :class:`~torsoseg.preprocessing.CaseProperties` of the same input.
        probabilities: also return the merged probabilities (float16, ``(K, *canonical shape)``).
        chunk_bytes: budget of the float32 slab buffers.

    Returns:
        ``(label map, probabilities or None)`` on the canonical grid (undo with
        :func:`torsoseg.imageio.restore_orientation` and ``props[0].reorientation``).

    Raises:
        ValueError: counts that do not match the plan, or models that saw different canonical grids.
    """
    if not (len(scores) == len(props) == plan.num_models):
        raise ValueError(f"{len(scores)} scores and {len(props)} properties for {plan.num_models} models")
    shape = export.canonical_shape(props[0])
    for m, (s, p) in enumerate(zip(scores, props)):
        if export.canonical_shape(p) != shape:
            raise ValueError(f"model {plan.model_names[m]}: canonical grid {export.canonical_shape(p)} "
                             f"differs from {shape} of model {plan.model_names[0]}")
        if s.ndim != 4 or int(s.shape[0]) != plan.num_classes[m]:
            raise ValueError(f"model {plan.model_names[m]}: scores of shape {tuple(s.shape)}, expected "
                             f"{plan.num_classes[m]} classes")
    models = [_ModelSlabs(s, p) for s, p in zip(scores, props)]
    k = len(plan.labels)
    seg = np.zeros(shape, dtype=export.label_dtype(k))
    probs = np.empty((k, *shape), dtype=np.float16) if probabilities else None
    # float32 slices alive at once: the models' backgrounds, p, b, best, one class, the padded class, the
    # resampling temporaries (~3), the int64 labels (2) and the merged probabilities when asked for
    per_slice = 4 * (plan.num_models + 10 + (k if probabilities else 0)) * shape[1] * shape[2]
    yz = (shape[1], shape[2])
    with torch.inference_mode():
        for x0, x1 in export._slabs(shape[0], per_slice, chunk_bytes):
            def channel(m: int, c: int, x0: int = x0, x1: int = x1) -> torch.Tensor:
                return models[m].channel(c, x0, x1, yz)

            idx, p = merge_slab(plan, channel, probabilities)
            seg[x0:x1] = idx.numpy()
            if probs is not None and p is not None:
                probs[:, x0:x1] = p.numpy()
    return seg, probs
