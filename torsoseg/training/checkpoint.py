"""Checkpoints (COMMON.md interface 6): a dict of plain types and tensors, loadable with
``torch.load(path, weights_only=True)``, written atomically.

Keys: ``format_version`` (1), ``network_weights`` (state dict), ``plans`` (``Plans.to_json()``),
``dataset_json`` (``DatasetJson.to_json()``), ``labels`` (name -> value), ``settings``
(``TrainingSettings.to_json()``), ``epoch`` (completed epochs), ``num_epochs``, ``trainer``, ``fold``,
``optimizer`` (state dict), ``scheduler`` (``{"epoch", "num_epochs", "lr"}``), ``rng`` (torch, numpy and
python random states as tensors/lists), ``logging`` (per-epoch lists), ``best_ema``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torsoseg.fileio import atomic_path

CHECKPOINT_FORMAT_VERSION = 1
REQUIRED_KEYS = ("format_version", "network_weights", "plans", "dataset_json", "labels", "settings", "epoch")


def rng_state() -> dict[str, Any]:
    """torch / numpy / python random states as tensors and plain lists (weights_only-safe)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {
            "version": int(py_version),
            "state": list(py_state),
            "gauss": None if py_gauss is None else float(py_gauss),
        },
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restores what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        (
            n["kind"],
            np.asarray(n["keys"].numpy(), dtype=np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


def save_checkpoint(path: str | os.PathLike, checkpoint: dict[str, Any]) -> Path:
    """Writes ``checkpoint`` atomically (temporary file in the same folder, then rename).

    Raises:
        ValueError: a required key is missing.
    """
    missing = [k for k in REQUIRED_KEYS if k not in checkpoint]
    if missing:
        raise ValueError(f"{path}: checkpoint lacks key(s) {', '.join(missing)}")
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Loads a torsoseg checkpoint with ``weights_only=True`` and checks its format.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a torsoseg checkpoint, or an unsupported ``format_version`` (named in the message).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such checkpoint")
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # unpickling errors come in many types
        raise ValueError(f"{p}: cannot be read as a weights-only torch checkpoint ({e})") from None
    if not isinstance(ckpt, dict):
        raise ValueError(f"{p}: not a torsoseg checkpoint (a {type(ckpt).__name__}, expected a dict)")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise ValueError(f"{p}: not a torsoseg checkpoint (missing {', '.join(missing)})")
    if ckpt["format_version"] != CHECKPOINT_FORMAT_VERSION:
        raise ValueError(
            f"{p}: checkpoint format_version {ckpt['format_version']!r} is not supported "
            f"(expected {CHECKPOINT_FORMAT_VERSION})"
        )
    return ckpt
