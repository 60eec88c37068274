"""Per-organ merge weights chosen on labelled validation data, never on the test set.

When several models know an organ, averaging their probabilities helps only when they are about equally
good at it; a clearly weaker model drags the mean down (on the demo, an abdomen model trained on other
phantoms costs the shared liver 0.05 Dice). The rule here: evaluate every model on the same labelled
validation cases (``torsoseg_evaluate``), then, per organ, give weight 1 to each model whose mean Dice is
within ``margin`` of the best model's and weight 0 to the others. Organs that fewer than two models were
scored on keep the per-model weights.

Example:
    >>> organ_weights_from_scores([{"liver": 0.80, "spleen": 0.90}, {"liver": 0.93, "spleen": 0.91}])
    {'liver': [0.0, 1.0], 'spleen': [1.0, 1.0]}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from torsoseg import organs as vocab

DEFAULT_MARGIN = 0.02


def organ_weights_from_scores(
    scores: Sequence[Mapping[str, float]], margin: float = DEFAULT_MARGIN
) -> dict[str, list[float]]:
    """Per-organ weights from each model's validation score of that organ.

    Args:
        scores: per model (in merge order), organ name -> mean Dice on the shared validation cases; an
            organ the model does not know (or that was not scored) is simply absent.
        margin: models within this much of the best score share the organ with equal weight.

    Returns:
        organ (canonical name, or the custom name) -> one weight per model (1 or 0), only for organs
        scored for at least two models. A model not scored on an organ gets weight 0 for it.
    """
    if not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a non-negative number, got {margin}")
    by_organ: dict[str, dict[int, float]] = {}
    for m, model_scores in enumerate(scores):
        for name, value in model_scores.items():
            v = float(value)
            if math.isfinite(v):
                key = vocab.key(name)
                by_organ.setdefault(key, {})[m] = v
    out: dict[str, list[float]] = {}
    for organ, per_model in by_organ.items():
        if len(per_model) < 2:
            continue
        best = max(per_model.values())
        out[organ] = [1.0 if m in per_model and per_model[m] >= best - margin else 0.0
                      for m in range(len(scores))]
    return out
