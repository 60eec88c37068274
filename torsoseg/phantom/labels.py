"""The phantom's label values: one internal label map, three source numberings.

The renderer paints one internal label map whose values index :data:`STRUCTURES` (value ``i + 1`` is
``STRUCTURES[i]``). Each kind maps it to the numbering of its source dataset (:data:`KIND_LABELS`), where
one source label may gather several internal structures (the abdominal ``artery`` label is the aorta plus
its visceral and iliac branches).
"""

from __future__ import annotations

import numpy as np

from torsoseg.organs import ORGANS

KINDS: tuple[str, ...] = ("abdomen", "visceral", "torso")

#: Internal structures the renderer labels. ``artery`` here means the arteries other than the aorta.
STRUCTURES: tuple[str, ...] = (
    "aorta",
    "artery",
    "portal_vein",
    "liver",
    "spleen",
    "stomach",
    "gallbladder",
    "pancreas",
    "urinary_bladder",
    "trachea",
    "lung_right",
    "lung_left",
    "sternum",
    "thyroid_gland",
    "vertebrae_L1",
    "kidney_right",
    "kidney_left",
    "adrenal_gland_right",
    "adrenal_gland_left",
    "psoas_major_right",
    "psoas_major_left",
    "rectus_abdominis_right",
    "rectus_abdominis_left",
)

INTERNAL: dict[str, int] = {name: i + 1 for i, name in enumerate(STRUCTURES)}

# VISCERAL Anatomy3: the 20 structures, ordered by RadLex ID (from the organ vocabulary).
_VISCERAL = tuple(o.name for o in sorted((o for o in ORGANS.values() if o.radlex), key=lambda o: o.radlex))

#: kind -> source label name -> (value, internal structures gathered into it)
KIND_LABELS: dict[str, dict[str, tuple[int, tuple[str, ...]]]] = {
    "abdomen": {
        "artery": (1, ("aorta", "artery")),
        "portal_vein": (2, ("portal_vein",)),
        "liver": (3, ("liver",)),
        "spleen": (4, ("spleen",)),
        "stomach": (5, ("stomach",)),
        "gallbladder": (6, ("gallbladder",)),
        "pancreas": (7, ("pancreas",)),
    },
    "torso": {
        "lung_right": (1, ("lung_right",)),
        "lung_left": (2, ("lung_left",)),
        "liver": (3, ("liver",)),
        "gallbladder": (4, ("gallbladder",)),
        "spleen": (5, ("spleen",)),
        "kidney_right": (6, ("kidney_right",)),
        "kidney_left": (7, ("kidney_left",)),
        "pancreas": (8, ("pancreas",)),
    },
    "visceral": {name: (i + 1, (name,)) for i, name in enumerate(_VISCERAL)},
}


def check_kind(kind: str) -> str:
    """Returns ``kind`` or raises ``ValueError`` listing the valid kinds."""
    if kind not in KINDS:
        raise ValueError(f"unknown phantom kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    return kind


def source_labels(kind: str) -> dict[str, int]:
    """``{"background": 0, name: value, ...}`` of ``kind``'s source numbering (canonical names)."""
    check_kind(kind)
    out = {"background": 0}
    out.update({name: v for name, (v, _) in KIND_LABELS[kind].items()})
    return out


def internal_to_source(kind: str) -> np.ndarray:
    """Lookup table (uint8, length ``len(STRUCTURES) + 1``): ``source = table[internal]``."""
    check_kind(kind)
    table = np.zeros(len(STRUCTURES) + 1, dtype=np.uint8)
    for _name, (value, parts) in KIND_LABELS[kind].items():
        for p in parts:
            table[INTERNAL[p]] = value
    return table
