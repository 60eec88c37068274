"""The canonical organ vocabulary: every converter, remap, fine-tune and evaluation goes through it.

Canonical names are snake_case and follow TotalSegmentator where it has the structure (``kidney_right``,
``lung_left``, ``inferior_vena_cava``). Each organ knows its synonyms (the spellings of BTCV, AMOS22,
WORD, FLARE22, MSD, CT-ORG, VISCERAL and TotalSegmentator v2), its RadLex ID where VISCERAL uses one,
and its laterality. Left/right twins are found by name (``*_right`` <-> ``*_left``).

Lookup ignores case and separators: ``"Right Kidney"``, ``"kidney-right"`` and ``"KIDNEY_RIGHT"`` are the
same key. Example::

    >>> canonical_name("Gall Bladder")
    'gallbladder'
    >>> canonical_name("arota")          # AMOS22's misspelling
    'aorta'
    >>> pair_of("kidney_left")
    'kidney_right'
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Organ:
    """One structure of the vocabulary.

    Attributes:
        name: canonical snake_case name.
        synonyms: other spellings found in public datasets (matched case/separator insensitively).
        radlex: RadLex ID used by VISCERAL Anatomy3, if any.
        part_of: canonical name of the structure this one combines into (lung lobes -> lungs).
    """

    name: str
    synonyms: tuple[str, ...] = ()
    radlex: int | None = None
    part_of: str | None = None

    @property
    def side(self) -> str | None:
        """``"right"``, ``"left"`` or ``None`` (from a ``right``/``left`` word of the name)."""
        return side_in_name(self.name)


def _o(name: str, *synonyms: str, radlex: int | None = None, part_of: str | None = None) -> Organ:
    return Organ(name, tuple(synonyms), radlex, part_of)


_VERTEBRA_WORDS = {"C": "cervical", "T": "thoracic", "L": "lumbar", "S": "sacral"}

# Order matters only for documentation. Synonyms list the spellings of the public datasets.
_ORGAN_LIST: tuple[Organ, ...] = (
    # --- abdominal set of the paper ---
    _o("artery", "arteries", "abdominal_artery", "abdominal_arteries"),
    _o("portal_vein", "portal vein", "pv"),
    _o("liver", "hepar", radlex=58),
    _o("spleen", "lien", radlex=86),
    _o("stomach", "sto", "gaster"),
    _o("gallbladder", "gall bladder", "gall", "gb", radlex=187),
    _o("pancreas", "pancreatic", radlex=170),
    # --- VISCERAL Anatomy3 ---
    _o("urinary_bladder", "bladder", "urinarybladder", "urinary bladder", radlex=237),
    _o("aorta", "arota", "aorta_abdominalis", radlex=480),
    _o("trachea", radlex=1247),
    _o("lung_right", "right lung", "lung_r", "rlung", radlex=1302),
    _o("lung_left", "left lung", "lung_l", "llung", radlex=1326),
    _o("sternum", radlex=2473),
    _o("thyroid_gland", "thyroid", radlex=7578),
    _o("vertebrae_L1", "first lumbar vertebra", "lumbar_vertebra_1", "l1", "vertebra_l1", radlex=29193),
    _o("kidney_right", "right kidney", "rkid", "kidney_r", "rk", radlex=29662),
    _o("kidney_left", "left kidney", "lkid", "kidney_l", "lk", radlex=29663),
    _o("adrenal_gland_right", "right adrenal gland", "right adrenal", "rad", "rag", "adrenal_right",
       radlex=30324),
    _o("adrenal_gland_left", "left adrenal gland", "left adrenal", "lad", "lag", "adrenal_left",
       radlex=30325),
    _o("psoas_major_right", "right psoas major", "psoas_right", "right psoas", radlex=32248),
    _o("psoas_major_left", "left psoas major", "psoas_left", "left psoas", radlex=32249),
    _o("rectus_abdominis_right", "right rectus abdominis", "rectus_right", radlex=40357),
    _o("rectus_abdominis_left", "left rectus abdominis", "rectus_left", radlex=40358),
    # --- BTCV / AMOS22 / WORD / FLARE22 ---
    _o("esophagus", "eso", "oesophagus"),
    _o("inferior_vena_cava", "ivc", "postcava", "vena cava inferior", "inferior vena cava"),
    _o("portal_vein_and_splenic_vein", "veins", "portal and splenic vein", "portal vein and splenic vein",
       "portal_splenic_vein"),
    _o("duodenum",),
    _o("prostate_uterus", "prostate/uterus", "prostate or uterus"),
    _o("prostate",),
    _o("colon", "large_bowel", "large intestine"),
    _o("small_bowel", "intestine", "small intestine", "small_intestine"),
    _o("rectum",),
    _o("adrenal_glands", "adrenal", "adrenals", "adrenal gland", "adrenal_gland"),
    _o("femur_head_left", "head_of_femur_l", "femoral head left", "left femoral head"),
    _o("femur_head_right", "head_of_femur_r", "femoral head right", "right femoral head"),
    # --- CT-ORG (bilateral structures without laterality) ---
    _o("lungs", "lung"),
    _o("kidneys", "kidney"),
    _o("bone", "bones", "skeleton"),
    _o("brain",),
    # --- TotalSegmentator v2 structures of those organs (and a few more the phantom draws) ---
    _o("lung_upper_lobe_left", part_of="lung_left"),
    _o("lung_lower_lobe_left", part_of="lung_left"),
    _o("lung_upper_lobe_right", part_of="lung_right"),
    _o("lung_middle_lobe_right", part_of="lung_right"),
    _o("lung_lower_lobe_right", part_of="lung_right"),
    _o("heart", "cor"),
    _o("spinal_cord",),
    _o("vertebrae", "spine", "vertebral column"),
    _o("rib_right", "ribs_right", "right ribs"),
    _o("rib_left", "ribs_left", "left ribs"),
    _o("iliopsoas_right",),
    _o("iliopsoas_left",),
    _o("body", "body_trunc", "skin"),
    # --- the rest of TotalSegmentator v2's whole-body ``total`` task (117 classes in all) ---
    _o("kidney_cyst_left",),
    _o("kidney_cyst_right",),
    _o("sacrum", "os_sacrum"),
    *(_o(f"vertebrae_{v}", f"vertebra_{v}", f"{_VERTEBRA_WORDS[v[0]]} vertebra {v[1:]}")
      for v in ("S1", "L5", "L4", "L3", "L2", "T12", "T11", "T10", "T9", "T8", "T7", "T6", "T5", "T4", "T3",
                "T2", "T1", "C7", "C6", "C5", "C4", "C3", "C2", "C1")),
    _o("pulmonary_vein", "pulmonary_veins"),
    _o("brachiocephalic_trunk",),
    _o("subclavian_artery_right",),
    _o("subclavian_artery_left",),
    _o("common_carotid_artery_right",),
    _o("common_carotid_artery_left",),
    _o("brachiocephalic_vein_left",),
    _o("brachiocephalic_vein_right",),
    _o("atrial_appendage_left", "left atrial appendage"),
    _o("superior_vena_cava", "svc", "superior vena cava"),
    _o("iliac_artery_left", "common_iliac_artery_left", "left iliac artery"),
    _o("iliac_artery_right", "common_iliac_artery_right", "right iliac artery"),
    _o("iliac_vena_left", "iliac_vein_left", "common_iliac_vein_left", "left iliac vein"),
    _o("iliac_vena_right", "iliac_vein_right", "common_iliac_vein_right", "right iliac vein"),
    _o("humerus_left",),
    _o("humerus_right",),
    _o("scapula_left",),
    _o("scapula_right",),
    _o("clavicula_left", "clavicle_left"),
    _o("clavicula_right", "clavicle_right"),
    _o("femur_left", "left femur"),
    _o("femur_right", "right femur"),
    _o("hip_left", "hip_bone_left", "left hip"),
    _o("hip_right", "hip_bone_right", "right hip"),
    _o("gluteus_maximus_left",),
    _o("gluteus_maximus_right",),
    _o("gluteus_medius_left",),
    _o("gluteus_medius_right",),
    _o("gluteus_minimus_left",),
    _o("gluteus_minimus_right",),
    _o("autochthon_left", "autochthonous_muscle_left", "erector_spinae_left"),
    _o("autochthon_right", "autochthonous_muscle_right", "erector_spinae_right"),
    _o("skull", "cranium"),
    *(_o(f"rib_{side}_{k}", f"{side} rib {k}") for side in ("left", "right") for k in range(1, 13)),
    _o("costal_cartilages", "costal_cartilage"),
)

# Tumour / lesion labels that converters merge into their host organ (MSD, KiTS style).
TUMOUR_HOSTS: Mapping[str, str] = {
    "liver_tumor": "liver", "liver_tumour": "liver", "liver_cancer": "liver", "hepatic_tumor": "liver",
    "pancreas_tumor": "pancreas", "pancreas_tumour": "pancreas", "pancreas_cancer": "pancreas",
    "pancreatic_tumor": "pancreas",
}


def normalize_key(name: str) -> str:
    """Lower-cases and removes separators (space, ``_``, ``-``, ``.``, ``/``)."""
    return re.sub(r"[\s_\-./]+", "", str(name).strip().lower())


class UnknownOrganError(ValueError):
    """A name that no organ of the vocabulary answers to; the message suggests close names."""


def _build_index(organs: Iterable[Organ]) -> tuple[dict[str, Organ], dict[str, str], dict[int, str]]:
    by_name: dict[str, Organ] = {}
    keys: dict[str, str] = {}
    radlex: dict[int, str] = {}
    for o in organs:
        if o.name in by_name:
            raise RuntimeError(f"organ {o.name!r} defined twice")
        by_name[o.name] = o
        for s in (o.name, *o.synonyms):
            k = normalize_key(s)
            if k in keys and keys[k] != o.name:
                raise RuntimeError(f"synonym {s!r} maps to both {keys[k]!r} and {o.name!r}")
            keys[k] = o.name
        if o.radlex is not None:
            radlex[o.radlex] = o.name
    return by_name, keys, radlex


ORGANS, _KEYS, _RADLEX = _build_index(_ORGAN_LIST)


def canonical_name(name: str) -> str:
    """Resolves any known spelling to the canonical organ name.

    Raises:
        UnknownOrganError: with the closest known names as suggestions.
    """
    key = normalize_key(name)
    if key in _KEYS:
        return _KEYS[key]
    tumour = TUMOUR_HOSTS.get(str(name).strip().lower().replace(" ", "_"))
    if tumour is not None:
        raise UnknownOrganError(
            f"{name!r} is a lesion label, not an organ; converters merge it into {tumour!r}"
        )
    close = difflib.get_close_matches(key, list(_KEYS), n=5, cutoff=0.6)
    suggestions = sorted({_KEYS[c] for c in close})
    hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
    raise UnknownOrganError(f"unknown organ name {name!r}{hint}")


def is_known(name: str) -> bool:
    return normalize_key(name) in _KEYS


def key(name: str) -> str:
    """The name organs are matched by: the canonical name of a known spelling, else the name itself (a
    custom label, matched only by an identical spelling).

    Example:
        >>> key("Left Kidney"), key("tumour_bed")
        ('kidney_left', 'tumour_bed')
    """
    return canonical_name(name) if is_known(name) else str(name)


def organ(name: str) -> Organ:
    """The :class:`Organ` for any known spelling."""
    return ORGANS[canonical_name(name)]


def by_radlex(radlex_id: int | str) -> str:
    """Canonical name of a VISCERAL RadLex ID (``1302`` -> ``lung_right``)."""
    try:
        return _RADLEX[int(radlex_id)]
    except (KeyError, ValueError):
        raise UnknownOrganError(
            f"unknown RadLex ID {radlex_id!r}; known: {', '.join(str(k) for k in sorted(_RADLEX))}"
        ) from None


def side_of(name: str) -> str | None:
    """``"right"``, ``"left"`` or ``None``."""
    return organ(name).side


def side_in_name(name: str) -> str | None:
    """``"right"`` or ``"left"`` when exactly one ``_``-separated word of ``name`` says so, else ``None``.

    Works for any name, in the vocabulary or not: ``kidney_left`` and ``rib_left_7`` are left.
    """
    words = str(name).lower().split("_")
    sides = [w for w in words if w in ("right", "left")]
    return sides[0] if len(sides) == 1 else None


def swap_side_in_name(name: str) -> str | None:
    """``name`` with its ``right``/``left`` word swapped (``rib_left_7`` -> ``rib_right_7``) or ``None``."""
    side = side_in_name(name)
    if side is None:
        return None
    other = "left" if side == "right" else "right"
    return "_".join(other if w.lower() == side else w for w in str(name).split("_"))


def pair_of(name: str) -> str | None:
    """The left/right twin's canonical name, or ``None`` for midline structures and unpaired ones."""
    twin = swap_side_in_name(canonical_name(name))
    return twin if twin in ORGANS else None


def lr_pairs() -> list[tuple[str, str]]:
    """Every (right, left) pair of the vocabulary."""
    return [(n, pair_of(n)) for n in ORGANS if side_in_name(n) == "right" and pair_of(n) is not None]


def whole_of(name: str) -> str | None:
    """The structure a part combines into (``lung_upper_lobe_left`` -> ``lung_left``), else ``None``."""
    return organ(name).part_of


def parts_of(name: str) -> list[str]:
    """The canonical parts that combine into ``name`` (``lung_right`` -> its three lobes)."""
    n = canonical_name(name)
    return [o.name for o in ORGANS.values() if o.part_of == n]


def lr_swap_table(labels: Mapping[str, int]) -> np.ndarray:
    """Label-value permutation for a left-right mirror.

    Args:
        labels: name -> value of a label set (``background`` included or not); names may be any spelling.

    Returns:
        ``table`` (int64, length max value + 1) with ``mirrored_label = table[label]``: each paired
        organ maps to its twin when both are in the set (custom names pair by their ``left``/``right``
        word, e.g. ``lesion_left`` <-> ``lesion_right``), everything else to itself.
    """
    n = max(int(v) for v in labels.values()) + 1
    table = np.arange(n, dtype=np.int64)
    canon = {}
    for k, v in labels.items():
        if k == "background":
            continue
        canon[key(k)] = int(v)
    for name, value in canon.items():
        # vocabulary organs through their twin; custom names (``lesion_left``) by the swapped side word
        twin = pair_of(name) if name in ORGANS else swap_side_in_name(name)
        if twin is not None and twin in canon:
            table[value] = canon[twin]
    return table


def resolve_label_names(names: Iterable[str]) -> dict[str, str]:
    """Maps each given name to its canonical name; lists every unknown one in a single error."""
    out, bad = {}, []
    for n in names:
        try:
            out[n] = canonical_name(n)
        except UnknownOrganError as e:
            bad.append(str(e))
    if bad:
        raise UnknownOrganError("; ".join(bad))
    return out
