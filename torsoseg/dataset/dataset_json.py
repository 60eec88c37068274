"""The typed content of ``dataset.json`` and its label-set rules."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torsoseg.dataset.names import split_dataset_dir_name
from torsoseg.fileio import atomic_write_json, read_json


@dataclass(frozen=True)
class DatasetJson:
    """The typed content of ``dataset.json``.

    Attributes:
        name: dataset name (the part after ``DatasetXXX_``).
        labels: label name -> value, ``background`` = 0, values consecutive.
        channel_names: channel index (as str) -> modality, ``{"0": "CT"}`` for CT.
        num_training: number of training cases.
        file_ending: e.g. ``.nii.gz``.
        extra: every other key, kept verbatim on save.
    """

    name: str
    labels: dict[str, int]
    channel_names: dict[str, str] = field(default_factory=lambda: {"0": "CT"})
    num_training: int = 0
    file_ending: str = ".nii.gz"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = label_set_problems(self.labels)
        if problems:
            raise ValueError(f"dataset.json of {self.name!r}: " + "; ".join(problems))

    @property
    def foreground(self) -> dict[str, int]:
        """Labels without background, ordered by value."""
        return {k: v for k, v in sorted(self.labels.items(), key=lambda kv: kv[1]) if k != "background"}

    @property
    def num_classes(self) -> int:
        """Number of output channels (background included)."""
        return len(self.labels)

    @property
    def label_names(self) -> list[str]:
        """Names by value: ``label_names[v]`` is the name of value ``v``."""
        return [k for k, _ in sorted(self.labels.items(), key=lambda kv: kv[1])]

    def to_json(self) -> dict[str, Any]:
        d = {
            "name": self.name,
            "channel_names": dict(self.channel_names),
            "labels": dict(sorted(self.labels.items(), key=lambda kv: kv[1])),
            "numTraining": int(self.num_training),
            "file_ending": self.file_ending,
        }
        d.update(self.extra)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any], source: str = "dataset.json") -> DatasetJson:
        missing = [k for k in ("channel_names", "labels", "numTraining", "file_ending") if k not in d]
        if missing:
            raise ValueError(f"{source}: missing key(s) {', '.join(missing)}")
        labels = d["labels"]
        if not isinstance(labels, Mapping):
            raise ValueError(f"{source}: 'labels' must map names to integers")
        parsed: dict[str, int] = {}
        for k, v in labels.items():
            if isinstance(v, (list, tuple)):
                raise ValueError(
                    f"{source}: label {k!r} is a region ({v}); torsoseg supports plain label maps only"
                )
            try:
                parsed[str(k)] = int(v)
            except (TypeError, ValueError):
                raise ValueError(f"{source}: label {k!r} has non-integer value {v!r}") from None
        extra = {
            k: v
            for k, v in d.items()
            if k not in ("name", "channel_names", "labels", "numTraining", "file_ending")
        }
        try:
            return cls(
                name=str(d.get("name", "")),
                labels=parsed,
                channel_names={str(k): str(v) for k, v in d["channel_names"].items()},
                num_training=int(d["numTraining"]),
                file_ending=str(d["file_ending"]),
                extra=extra,
            )
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> DatasetJson:
        p = Path(path)
        if p.is_dir():
            p = p / "dataset.json"
        return cls.from_json(read_json(p), source=str(p))

    def save(self, path: str | os.PathLike) -> Path:
        p = Path(path)
        if p.is_dir():
            p = p / "dataset.json"
        return atomic_write_json(p, self.to_json())


def label_set_problems(labels: Mapping[str, int]) -> list[str]:
    """Everything wrong with a label map (empty list when fine)."""
    problems = []
    if labels.get("background") != 0:
        problems.append("labels must contain 'background': 0")
    values = sorted(labels.values())
    if len(set(values)) != len(values):
        dup = sorted({v for v in values if values.count(v) > 1})
        problems.append(f"label values {dup} are used twice")
    if values and values != list(range(len(values))):
        problems.append(f"label values must be consecutive 0..{len(values) - 1}, got {values}")
    return problems


def write_dataset_json(
    dataset_dir: str | os.PathLike,
    labels: Mapping[str, int],
    num_training: int,
    name: str | None = None,
    channel_names: Mapping[str, str] | None = None,
    file_ending: str = ".nii.gz",
    **extra: Any,
) -> DatasetJson:
    """Builds, validates and writes ``dataset.json`` in ``dataset_dir``."""
    d = Path(dataset_dir)
    if name is None:
        parsed = split_dataset_dir_name(d.name)
        name = parsed[1] if parsed else d.name
    ds = DatasetJson(
        name=name,
        labels=dict(labels),
        channel_names=dict(channel_names or {"0": "CT"}),
        num_training=num_training,
        file_ending=file_ending,
        extra=dict(extra),
    )
    ds.save(d / "dataset.json")
    return ds
