"""The model folder and checkpoint contract: the one place that names, finds, writes and opens checkpoints.

A trained model lives in ``<results>/DatasetXXX_Name/<trainer>__<plans_name>__<configuration>/`` (a
:class:`ModelFolder`) with ``plans.json``, ``dataset.json`` and one ``fold_K/`` per trained fold holding
``checkpoint_{final,best,latest}.pt``, ``training_log.csv`` and ``progress.png``.

A checkpoint (:class:`Checkpoint`) is a dict of plain values and tensors, written atomically and read with
``torch.load(weights_only=True)`` (never an unpickler that can run code). Keys: ``format_version``,
``network_weights`` (state dict), ``plans`` (``Plans.to_json()``), ``dataset_json``, ``labels`` (name ->
value), ``settings`` (the training settings as JSON), ``epoch`` (completed epochs), and, from training,
``num_epochs``, ``trainer``, ``fold``, ``optimizer``, ``scheduler``, ``rng``, ``logging``, ``best_ema``,
``pretrained`` (the fine-tuning transfer record).

Example:
    >>> folder = ModelFolder("results/Dataset001_Abdomen/Trainer__torsoseg_plans__3d_fullres")
    >>> folder.available_folds("final")  # doctest: +SKIP
    ['0', '1']
    >>> ckpt = load_checkpoint(folder.checkpoint_path("0", "final"))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from torsoseg.fileio import atomic_path
from torsoseg.paths import check_name, inside_root
from torsoseg.plans import Plans

CHECKPOINT_FORMAT_VERSION = 1
#: Checkpoint names, in the order a model is preferred for prediction.
CHECKPOINT_NAMES = ("final", "best", "latest")
REQUIRED_KEYS = ("format_version", "network_weights", "plans", "dataset_json", "labels", "settings", "epoch")
_FOLD_DIR = re.compile(r"^fold_(\w+)$")


@dataclass(frozen=True, eq=False)  # tensors have no single truth value: compare fields explicitly
class Checkpoint:
    """One checkpoint file, typed. Fields after ``epoch`` are the training state (empty in hand-made ones).

    Attributes:
        network_weights: the network's state dict (CPU tensors).
        plans: the plans the network was built from.
        dataset_json: the dataset's ``dataset.json`` as a dict.
        labels: output label name -> value (background 0, consecutive).
        settings: the training settings as JSON (``TrainingSettings.to_json()``).
        epoch: completed epochs.
        source: the file it was read from (not saved).
    """

    network_weights: dict[str, Any]
    plans: Plans
    dataset_json: dict[str, Any]
    labels: dict[str, int]
    settings: dict[str, Any]
    epoch: int
    num_epochs: int | None = None
    trainer: str | None = None
    fold: str | None = None
    optimizer: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    rng: dict[str, Any] | None = None
    logging: list[dict[str, Any]] = field(default_factory=list)
    best_ema: float | None = None
    pretrained: dict[str, Any] | None = None
    format_version: int = CHECKPOINT_FORMAT_VERSION
    source: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The dict that is saved (plain values and tensors only)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "source"}
        d["plans"] = self.plans.to_json()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str | os.PathLike = "checkpoint") -> Checkpoint:
        """Validates a loaded dict (keys, version, plans, labels); errors name ``source``."""
        if not isinstance(d, dict):
            raise ValueError(f"{source}: not a torsoseg checkpoint (a {type(d).__name__}, expected a dict)")
        missing = [k for k in REQUIRED_KEYS if k not in d]
        if missing:
            raise ValueError(f"{source}: not a torsoseg checkpoint: lacks key(s) {', '.join(missing)}")
        if d["format_version"] != CHECKPOINT_FORMAT_VERSION:
            raise ValueError(
                f"{source}: checkpoint format_version {d['format_version']!r} is not supported "
                f"(expected {CHECKPOINT_FORMAT_VERSION})"
            )
        if d.get("trainer") is not None:  # read from a file: data, and only ever a plain name
            check_name(d["trainer"], "trainer", source)
        labels = {str(k): int(v) for k, v in dict(d["labels"]).items()}
        values = sorted(labels.values())
        if values != list(range(len(values))) or labels.get("background") != 0:
            raise ValueError(f"{source}: labels must be consecutive values with background 0, got {labels}")
        known = {f.name for f in fields(cls)} - {"source"}
        kw = {k: v for k, v in d.items() if k in known}
        kw["plans"] = Plans.from_json(d["plans"], source=f"{source} [plans]")
        kw["labels"] = labels
        return cls(**kw, source=Path(source))


def save_checkpoint(path: str | os.PathLike, checkpoint: Checkpoint) -> Path:
    """Writes ``checkpoint`` atomically (temporary file in the same folder, then rename)."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(checkpoint.to_dict(), tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> Checkpoint:
    """Reads a checkpoint with ``torch.load(weights_only=True)`` and validates it.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable, refused by the weights-only loader, or not a valid torsoseg checkpoint
            (the message names the file and the problem).
    """
    import torch

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such checkpoint")
    try:
        raw = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise ValueError(
            f"{p}: cannot be loaded as a torsoseg checkpoint: it holds objects other than tensors and plain "
            "values, which the weights-only loader refuses (torsoseg checkpoints never do; do not trust "
            "this file)"
        ) from None
    except Exception as e:  # zip/pickle errors of every kind
        first = next((ln for ln in str(e).splitlines() if ln.strip()), "")
        reason = type(e).__name__ + (f": {first}" if first and "weights_only" not in first else "")
        raise ValueError(f"{p}: cannot be loaded as a torsoseg checkpoint ({reason})") from None
    return Checkpoint.from_dict(raw, source=p)


def fold_dir_name(fold: str | int) -> str:
    return f"fold_{fold}"


def _fold_key(fold: str) -> tuple[int, str]:
    return (0, f"{int(fold):06d}") if fold.isdigit() else (1, fold)


@dataclass(frozen=True)
class ModelFolder:
    """``<results>/DatasetXXX_Name/<trainer>__<plans_name>__<configuration>``: paths and fold discovery."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def for_training(
        cls, results_root: str | os.PathLike, dataset_folder: str, trainer: str, plans: Plans
    ) -> ModelFolder:
        """The folder a run of ``trainer`` on ``plans`` writes to.

        Every part is checked to be a plain name and the folder to stay inside ``results_root``.

        Raises:
            ValueError: a part that is not a plain name, or a folder outside the root, named.
        """
        for what, value in (("dataset folder", dataset_folder), ("trainer", trainer),
                            ("plans_name", plans.plans_name), ("configuration", plans.configuration)):
            check_name(value, what)
        folder = Path(results_root) / dataset_folder / f"{trainer}__{plans.model_folder_name}"
        inside_root(folder, results_root, "model folder")
        return cls(folder)

    def fold_dir(self, fold: str | int) -> Path:
        return self.path / fold_dir_name(fold)

    def checkpoint_path(self, fold: str | int, name: str = "final") -> Path:
        if name not in CHECKPOINT_NAMES:
            raise ValueError(f"unknown checkpoint {name!r}; valid: {', '.join(CHECKPOINT_NAMES)}")
        return self.fold_dir(fold) / f"checkpoint_{name}.pt"

    def available_folds(self, checkpoint: str = "final") -> list[str]:
        """Fold names (``"0"``, ``"all"``, ...) that hold ``checkpoint_<checkpoint>.pt``, in order."""
        if not self.path.is_dir():
            raise FileNotFoundError(f"{self.path}: model folder not found")
        folds = [m.group(1) for p in self.path.iterdir() if p.is_dir() and (m := _FOLD_DIR.match(p.name))
                 and (p / f"checkpoint_{checkpoint}.pt").is_file()]
        return sorted(folds, key=_fold_key)

    def resolve_folds(
        self, folds: Sequence[int | str] | str | int | None = None, checkpoint: str = "final"
    ) -> list[Path]:
        """The checkpoint files of ``folds`` (``None``/``"all"``: every fold holding ``checkpoint``).

        Raises:
            ValueError: unknown checkpoint name.
            FileNotFoundError: the folder, a fold or a checkpoint is missing (the message lists what exists).
        """
        if checkpoint not in CHECKPOINT_NAMES:
            raise ValueError(f"unknown checkpoint {checkpoint!r}; valid: {', '.join(CHECKPOINT_NAMES)}")
        have = self.available_folds(checkpoint)
        if folds is None or folds == "all" or (isinstance(folds, Sequence) and list(folds) == ["all"]):
            if not have:
                found = sorted(str(c.relative_to(self.path))
                               for c in self.path.glob("fold_*/checkpoint_*.pt"))
                raise FileNotFoundError(
                    f"{self.path}: no fold holds checkpoint_{checkpoint}.pt "
                    f"(checkpoints found: {', '.join(found) or 'none'})"
                )
            return [self.checkpoint_path(f, checkpoint) for f in have]
        names = [str(f) for f in ([folds] if isinstance(folds, (int, str)) else list(folds))]
        for f in names:
            if f not in have:
                raise FileNotFoundError(
                    f"{self.checkpoint_path(f, checkpoint)}: not found "
                    f"(folds with checkpoint_{checkpoint}.pt: {', '.join(have) or 'none'})"
                )
        return [self.checkpoint_path(f, checkpoint) for f in names]

    def has_run(self, fold: str | int) -> bool:
        """Whether ``fold`` holds a training run (a latest or final checkpoint)."""
        return any(self.checkpoint_path(fold, n).is_file() for n in ("latest", "final"))


def find_trained_checkpoint(
    results_root: str | os.PathLike,
    dataset_id: int | str,
    fold: str = "all",
    plans_name: str | None = None,
    configuration: str | None = None,
) -> Path:
    """The checkpoint of dataset ``dataset_id``'s trained model under ``results_root``.

    Looks in every ``<trainer>__<plans>__<config>`` folder of the dataset for ``fold_all``, then
    ``fold_<fold>``, then any fold; prefers ``checkpoint_final.pt`` over ``checkpoint_best.pt``.

    Raises:
        FileNotFoundError: nothing trained (lists what was searched).
        ValueError: several model folders qualify (lists them; pass ``--pretrained-checkpoint``).
    """
    from torsoseg.dataset import find_dataset

    ds_dir = find_dataset(results_root, dataset_id)
    models = sorted(p for p in ds_dir.iterdir() if p.is_dir() and p.name.count("__") == 2)
    models = [
        m for m in models
        if (plans_name is None or m.name.split("__")[1] == plans_name)
        and (configuration is None or m.name.split("__")[2] == configuration)
    ]
    found = []
    for m in models:
        for f in (m / "fold_all", m / fold_dir_name(fold), *sorted(m.glob("fold_*"))):
            names = ("checkpoint_final.pt", "checkpoint_best.pt")
            c = next((f / n for n in names if (f / n).is_file()), None)
            if c is not None:
                found.append(c)
                break
    if not found:
        raise FileNotFoundError(
            f"{ds_dir}: no trained model (checkpoint_final.pt or checkpoint_best.pt in "
            f"<trainer>__<plans>__<configuration>/fold_*/); train dataset {dataset_id} first"
        )
    if len(found) > 1:
        raise ValueError(
            f"{ds_dir}: several trained models qualify: "
            + ", ".join(str(c.relative_to(ds_dir)) for c in found)
            + "; choose one with --pretrained-checkpoint PATH"
        )
    return found[0]
