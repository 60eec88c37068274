"""How organs are shown and coded outside torsoseg: display colours and SNOMED-CT codes.

Colours are 8-bit RGB, chosen so that neighbouring abdominal organs differ clearly (the liver is brown,
the spleen purple, the kidneys orange ...). A structure without a fixed colour gets one derived from its
name (stable between runs and machines). Codes are SNOMED-CT concept IDs for the DICOM-SEG "segmented
property type"; a structure without one is coded as the generic "Anatomical structure".

Example::

    >>> display_colour("liver")
    (177, 122, 101)
    >>> snomed_code("kidney_left")
    ('18639004', 'Left kidney')
"""

from __future__ import annotations

import colorsys
import hashlib

from torsoseg import organs as vocab

_COLOURS: dict[str, tuple[int, int, int]] = {
    "liver": (177, 122, 101),
    "spleen": (157, 108, 162),
    "pancreas": (249, 180, 111),
    "gallbladder": (60, 160, 60),
    "stomach": (216, 132, 105),
    "kidney_right": (230, 120, 30),
    "kidney_left": (250, 170, 60),
    "kidneys": (240, 140, 40),
    "aorta": (224, 40, 40),
    "artery": (224, 40, 40),
    "inferior_vena_cava": (40, 90, 220),
    "portal_vein": (0, 170, 210),
    "portal_vein_and_splenic_vein": (0, 170, 210),
    "lung_right": (90, 200, 230),
    "lung_left": (150, 220, 250),
    "lungs": (120, 210, 240),
    "heart": (200, 60, 90),
    "esophagus": (210, 160, 160),
    "trachea": (180, 230, 200),
    "duodenum": (255, 210, 140),
    "small_bowel": (255, 230, 160),
    "colon": (200, 170, 90),
    "urinary_bladder": (240, 230, 60),
    "adrenal_gland_right": (250, 90, 170),
    "adrenal_gland_left": (255, 150, 210),
    "psoas_major_right": (190, 60, 50),
    "psoas_major_left": (220, 100, 90),
    "rectus_abdominis_right": (170, 80, 60),
    "rectus_abdominis_left": (200, 110, 90),
    "sternum": (240, 240, 220),
    "vertebrae_L1": (230, 220, 180),
    "thyroid_gland": (120, 60, 200),
    "spinal_cord": (250, 250, 120),
    "prostate": (110, 180, 160),
}

# SNOMED-CT concept ID and display name of structures whose concept is unambiguous.
_SNOMED: dict[str, tuple[str, str]] = {
    "liver": ("10200004", "Liver"),
    "spleen": ("78961009", "Spleen"),
    "pancreas": ("15776009", "Pancreas"),
    "gallbladder": ("28231008", "Gallbladder"),
    "stomach": ("69695003", "Stomach"),
    "kidney_right": ("9846003", "Right kidney"),
    "kidney_left": ("18639004", "Left kidney"),
    "kidneys": ("64033007", "Kidney"),
    "aorta": ("15825003", "Aorta"),
    "inferior_vena_cava": ("64131007", "Inferior vena cava"),
    "portal_vein": ("32764006", "Portal vein"),
    "lung_right": ("3341006", "Right lung"),
    "lung_left": ("44029006", "Left lung"),
    "lungs": ("39607008", "Lung"),
    "heart": ("80891009", "Heart"),
    "esophagus": ("32849002", "Esophagus"),
    "trachea": ("44567001", "Trachea"),
    "duodenum": ("38848004", "Duodenum"),
    "small_bowel": ("30315005", "Small intestine"),
    "colon": ("71854001", "Colon"),
    "rectum": ("34402009", "Rectum"),
    "urinary_bladder": ("89837001", "Urinary bladder"),
    "adrenal_glands": ("23451007", "Adrenal gland"),
    "sternum": ("56873002", "Sternum"),
    "thyroid_gland": ("69748006", "Thyroid"),
    "spinal_cord": ("2748008", "Spinal cord"),
    "prostate": ("41216001", "Prostate"),
    "brain": ("12738006", "Brain"),
}

ANATOMICAL_STRUCTURE = ("91723000", "Anatomical structure")


def _key(name: str) -> str:
    return vocab.key(name)


def display_colour(name: str) -> tuple[int, int, int]:
    """Recommended 8-bit RGB display colour of a structure (any spelling; custom names get a stable one).

    Args:
        name: organ or custom label name.

    Returns:
        ``(r, g, b)`` in 0..255.
    """
    key = _key(name)
    if key in _COLOURS:
        return _COLOURS[key]
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    hue = digest[0] / 255.0
    sat = 0.55 + 0.35 * digest[1] / 255.0
    val = 0.65 + 0.3 * digest[2] / 255.0
    r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def snomed_code(name: str) -> tuple[str, str] | None:
    """``(concept id, meaning)`` of a structure in SNOMED-CT, or ``None`` when the table has none."""
    return _SNOMED.get(_key(name))
