"""Reading Medical Segmentation Decathlon style ``dataset.json`` files (MSD, AMOS22, WORD)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torsoseg.dataset_conversion.sources import ConversionError, resolve_listed
from torsoseg.fileio import read_json


@dataclass(frozen=True)
class MsdJson:
    """The parts of an MSD-style dataset.json a converter needs.

    Attributes:
        path: the file.
        labels: value -> name (background included when listed).
        modality: channel -> modality (``{"0": "CT"}``).
        lists: list name (``training``, ``validation``, ``test``) -> ``(image, label or None)`` paths.
    """

    path: Path
    labels: dict[int, str]
    modality: dict[str, str]
    lists: dict[str, list[tuple[Path, Path | None]]]


def read_msd_json(path: Path, lists: tuple[str, ...] = ("training", "validation")) -> MsdJson:
    """Parses an MSD-style dataset.json; listed files are resolved relative to its folder.

    Raises:
        ConversionError: naming the file for a missing/invalid ``labels`` key or a listed file that
            does not exist.
    """
    try:
        raw = read_json(path)
    except FileNotFoundError:
        raise ConversionError(f"{path}: dataset.json does not exist") from None
    except ValueError as e:
        raise ConversionError(str(e)) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("labels"), dict):
        raise ConversionError(f"{path}: missing 'labels' (value -> name)")
    labels: dict[int, str] = {}
    for k, v in raw["labels"].items():
        if str(k).strip().isdigit():
            labels[int(k)] = str(v)
        elif isinstance(v, int):  # an nnU-Net v2 style table slipped in
            labels[int(v)] = str(k)
        else:
            raise ConversionError(f"{path}: label entry {k!r}: {v!r} is not value -> name")
    modality = {str(k): str(v) for k, v in (raw.get("modality") or raw.get("channel_names") or {}).items()}
    root = path.parent
    out: dict[str, list[tuple[Path, Path | None]]] = {}
    for name in lists:
        entries = raw.get(name) or []
        items = []
        for e in entries:
            if isinstance(e, str):
                items.append((resolve_listed(root, e, f"{name} image", path), None))
                continue
            if not isinstance(e, dict) or "image" not in e:
                raise ConversionError(f"{path}: entry of {name!r} is not {{'image', 'label'}}: {e!r}")
            img = resolve_listed(root, e["image"], f"{name} image", path)
            lab = None
            if e.get("label"):
                lab = resolve_listed(root, e["label"], f"{name} label", path)
            items.append((img, lab))
        out[name] = items
    return MsdJson(path, labels, modality, out)
