"""Postprocessing chosen on labelled validation data: keep each organ's largest connected component.

A network that sees one patch at a time leaves small false islands away from an organ; each one costs
Dice and surface distance. nnU-Net's answer is
to try "keep only the largest connected component" per class on validation predictions and keep it
for the classes it helps. The same here: evaluate the validation predictions as they are and with the
largest component kept per organ, then choose the organs whose mean Dice does not drop
(:func:`choose_keep_largest`). The choice lives in the model folder (``postprocessing.json``, organ names),
and every prediction with that model applies it (``--no-postprocessing`` turns it off). Never choose it
on the test set.

Connectivity is 26 (face, edge or corner neighbours), so an organ that touches itself diagonally stays
one piece. The components come from acvl-utils (nnU-Net's helper library, which labels them with the
connected-components-3d package).

Example:
    >>> choose_keep_largest({"liver": 0.80, "thyroid_gland": 0.70}, {"liver": 0.85, "thyroid_gland": 0.55})
    ['liver']
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from acvl_utils.morphology.morphology_helper import cc3d_label_with_component_sizes
from scipy import ndimage

from torsoseg import organs as vocab
from torsoseg.fileio import atomic_write_json, read_json

logger = logging.getLogger(__name__)

__all__ = ["FILE_NAME", "Postprocessing", "choose_keep_largest", "keep_largest_component",
           "load_model_postprocessing", "postprocess_folder"]

#: the postprocessing file of a model folder
FILE_NAME = "postprocessing.json"


def keep_largest_component(label_map: np.ndarray, values: Iterable[int]) -> np.ndarray:
    """A copy of ``label_map`` in which each label of ``values`` keeps only its largest 26-connected
    component (all of the largest when several tie); the other components become background (0). Other
    labels are untouched.

    Works inside each label's bounding box, so a small organ in a large volume costs little.
    """
    out = np.array(label_map, copy=True)
    if not np.issubdtype(out.dtype, np.integer):
        raise ValueError(f"a label map must hold integers, got dtype {out.dtype}")
    wanted = sorted({int(v) for v in values if int(v) > 0})
    if not wanted or out.size == 0:
        return out
    boxes = ndimage.find_objects(out, max_label=max(wanted))
    for v in wanted:
        box = boxes[v - 1] if v - 1 < len(boxes) else None
        if box is None:
            continue
        view = out[box]
        mask = view == v
        # acvl-utils' remove_all_but_largest_component takes max() once per component (quadratic: minutes
        # for a noisy map of 10^5 specks), so only its labelling is used here. The mask gets a one-voxel
        # background rim: cc3d 4.1 (26-connectivity) raises "maximum length exception" on some boxes one
        # voxel thick, e.g. a 3 x 1 x 1 box holding two separate voxels.
        components, sizes = cc3d_label_with_component_sizes(np.pad(mask, 1), connectivity=26)
        components = components[1:-1, 1:-1, 1:-1]
        if len(sizes) > 1:
            ids, counts = np.fromiter(sizes.keys(), np.int64), np.fromiter(sizes.values(), np.int64)
            view[mask & ~np.isin(components, ids[counts == counts.max()])] = 0
    return out


def choose_keep_largest(before: Mapping[str, float], after: Mapping[str, float]) -> list[str]:
    """The organs whose mean validation Dice with only the largest component kept (``after``) is at least
    the Dice as predicted (``before``); organs scored on one side only, or undefined (NaN: absent from
    every reference), are not chosen."""
    chosen = []
    for organ, b in before.items():
        a = after.get(organ)
        if a is None or not (math.isfinite(float(b)) and math.isfinite(float(a))):
            continue
        if float(a) >= float(b):
            chosen.append(organ)
    return chosen


@dataclass(frozen=True)
class Postprocessing:
    """What to do to a model's label maps after prediction.

    Attributes:
        keep_largest: organ names that keep only their largest connected component.
        chosen_on: where the choice was made (the validation dataset), for the record.
        dice: organ -> ``[before, after]`` validation Dice behind the choice, for the record.
    """

    keep_largest: tuple[str, ...] = ()
    chosen_on: str = ""
    dice: dict[str, list[float | None]] = field(default_factory=dict)

    def values(self, labels: Mapping[str, int]) -> list[int]:
        """The label values of :attr:`keep_largest` in ``labels`` (matched by organ name; organs the label
        set lacks are skipped)."""
        by_name = {_key(name): int(v) for name, v in labels.items() if int(v) > 0}
        return [by_name[_key(o)] for o in self.keep_largest if _key(o) in by_name]

    def apply(self, label_map: np.ndarray, labels: Mapping[str, int]) -> np.ndarray:
        """``label_map`` (values of ``labels``) postprocessed; the input array is not modified."""
        values = self.values(labels)
        return keep_largest_component(label_map, values) if values else label_map

    def describe(self) -> str:
        if not self.keep_largest:
            return "postprocessing: none"
        where = f" (chosen on {self.chosen_on})" if self.chosen_on else ""
        return f"postprocessing: keep the largest component of {', '.join(self.keep_largest)}{where}"

    def to_json(self) -> dict:
        return {"format_version": 1, "keep_largest_component": list(self.keep_largest),
                "chosen_on": self.chosen_on, "validation_dice_before_after": self.dice}

    def save(self, model_dir: str | os.PathLike) -> Path:
        """Writes ``<model_dir>/postprocessing.json`` atomically."""
        return atomic_write_json(Path(model_dir) / FILE_NAME, self.to_json())

    @classmethod
    def load(cls, model_dir: str | os.PathLike) -> Postprocessing | None:
        """The model folder's postprocessing, or ``None`` when it has no ``postprocessing.json``.

        Raises:
            ValueError: the file is not valid JSON or not a postprocessing record (the message names it).
        """
        path = Path(model_dir) / FILE_NAME
        if not path.is_file():
            return None
        obj = read_json(path)
        organs = obj.get("keep_largest_component") if isinstance(obj, dict) else None
        if not isinstance(organs, list) or not all(isinstance(o, str) and o for o in organs):
            raise ValueError(f"{path}: 'keep_largest_component' must be a list of organ names "
                             f"(delete the file to predict without postprocessing)")
        dice = obj.get("validation_dice_before_after")
        dice = dict(dice) if isinstance(dice, dict) else {}
        return cls(tuple(organs), str(obj.get("chosen_on") or ""), dice)


def load_model_postprocessing(model_dir: str | os.PathLike,
                              labels: Mapping[str, int]) -> Postprocessing | None:
    """A model folder's ``postprocessing.json`` (``None`` without one), logged; organs it names that the
    model (``labels``) does not predict are warned about."""
    pp = Postprocessing.load(model_dir)
    if pp is not None:
        logger.info("%s: %s", model_dir, pp.describe())
        unknown = [o for o in pp.keep_largest if not Postprocessing((o,)).values(labels)]
        if unknown:
            logger.warning("%s/%s names organs the model does not predict: %s", model_dir, FILE_NAME,
                           ", ".join(unknown))
    return pp


def postprocess_folder(src: str | os.PathLike, dst: str | os.PathLike, postprocessing: Postprocessing,
                       labels: Mapping[str, int]) -> int:
    """Writes a postprocessed copy of every label map of a prediction folder to ``dst`` as
    ``<case>.nii.gz`` (any image format is read; integer-valued float maps are read as integers); the
    source is not modified. Returns the number of label maps.

    Raises:
        ValueError: a label map with non-integer values (the message names the file).
    """
    from torsoseg.imageio import integer_labels, list_images, read_image, strip_suffix, write_image

    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    n = 0
    for f in list_images(src):
        if "_probabilities" in f.name:
            continue
        vol = read_image(f)
        arr = integer_labels(vol.array, f"{f}:")
        write_image(vol.with_array(postprocessing.apply(arr, labels)), dst / f"{strip_suffix(f.name)}.nii.gz")
        n += 1
    return n


def _key(name: str) -> str:
    return vocab.key(name)
