"""Cross-validation splits: 5-fold KFold (scikit-learn), written once to ``splits.json`` and reused.

``splits.json`` (next to ``plans.json`` in the preprocessed dataset folder) is a JSON list of
``{"train": [...], "val": [...]}``, one per fold, as nnU-Net writes it. Fold ``"all"`` trains on every
case and validates on them too (the paper's pretraining uses all data).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from torsoseg.fileio import atomic_write_json, read_json

log = logging.getLogger(__name__)

FOLDS = ("0", "1", "2", "3", "4", "all")


def make_splits(
    identifiers: Sequence[str], n_folds: int = 5, seed: int = 12345
) -> list[dict[str, list[str]]]:
    """KFold splits of the sorted identifiers (shuffled with ``seed``).

    With fewer cases than folds, each fold holds out one case (cycling), so every fold exists.

    Raises:
        ValueError: fewer than 2 cases.
    """
    from sklearn.model_selection import KFold

    ids = sorted(set(identifiers))
    if len(ids) < 2:
        raise ValueError(f"need at least 2 cases to split, got {len(ids)}: {ids}")
    if len(ids) < n_folds:
        out = []
        for f in range(n_folds):
            val = [ids[f % len(ids)]]
            out.append({"train": [i for i in ids if i not in val], "val": val})
        return out
    kf = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [{"train": [ids[i] for i in tr], "val": [ids[i] for i in va]} for tr, va in kf.split(ids)]


def load_or_create_splits(
    path: str | os.PathLike, identifiers: Sequence[str], n_folds: int = 5, seed: int = 12345
) -> list[dict[str, list[str]]]:
    """Reads ``path`` when it exists (checking its cases exist), else creates and writes it atomically."""
    p = Path(path)
    ids = set(identifiers)
    if p.is_file():
        splits = read_json(p)
        if not isinstance(splits, list) or not all(
            isinstance(s, dict) and {"train", "val"} <= set(s) for s in splits
        ):
            raise ValueError(f"{p}: expected a list of {{'train': [...], 'val': [...]}} objects")
        missing = sorted({c for s in splits for c in (*s["train"], *s["val"])} - ids)
        if missing:
            raise ValueError(
                f"{p}: case(s) {', '.join(missing[:10])} are not in the preprocessed data; "
                "delete splits.json to re-split"
            )
        return splits
    splits = make_splits(identifiers, n_folds, seed)
    atomic_write_json(p, splits)
    log.info("wrote %s (%d folds)", p, len(splits))
    return splits


def fold_cases(
    splits: list[dict[str, list[str]]], fold: str | int, identifiers: Sequence[str]
) -> tuple[list[str], list[str]]:
    """``(train, val)`` identifiers of ``fold`` (``0..n-1`` or ``"all"``: every case in both)."""
    f = str(fold)
    if f == "all":
        ids = sorted(identifiers)
        return ids, ids
    if not f.isdigit() or int(f) >= len(splits):
        raise ValueError(f"unknown fold {f!r}; valid: {', '.join(str(i) for i in range(len(splits)))}, all")
    s = splits[int(f)]
    return list(s["train"]), list(s["val"])
