"""Tissue attenuation (HU) of the phantom per contrast phase, and its per-patient variation.

The means follow typical clinical values (contrast-enhanced abdominal CT at 120 kVp): portal-venous
liver 100-130 HU, spleen about 120, renal cortex and medulla that differ in the arterial
(corticomedullary) phase and converge in the portal-venous (nephrographic) phase, fat -100, muscle
about 50, lung about -850, cancellous bone 150-300 and cortical bone 600-1000, air -1000.
Each patient draws one contrast-enhancement factor that scales every tissue's rise over its native value
(dose, cardiac output and timing vary between patients and move all organs together), its own value
around each tissue's mean (``jitter`` is one standard deviation), and may have a fatty liver. A
portal-venous scan is also timed per patient, between the hepatic peak (about 70 s after injection) and
the equilibrium (about 3 minutes), where vessels and organs converge and the spleen, which peaks early,
has washed out to about the liver's value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PHASES: tuple[str, ...] = ("native", "arterial", "portal_venous")


@dataclass(frozen=True)
class Tissue:
    """Mean HU per phase (native, arterial, portal-venous) and the per-patient standard deviation.

    ``late`` is the mean at the late end of the portal-venous phase (equilibrium, about 3 minutes after
    injection); ``None`` where it equals :attr:`portal_venous`.
    """

    native: float
    arterial: float
    portal_venous: float
    jitter: float
    late: float | None = None

    def mean(self, phase: str, timing: float = 0.0) -> float:
        """The mean HU in ``phase``; in the portal-venous phase ``timing`` (0 = the hepatic peak, 1 = the
        equilibrium) moves it linearly towards :attr:`late`."""
        value = float(getattr(self, phase))
        if phase == "portal_venous" and self.late is not None:
            value += timing * (self.late - value)
        return value


TISSUES: dict[str, Tissue] = {
    "air": Tissue(-1000, -1000, -1000, 0),
    "fat": Tissue(-100, -100, -100, 8),
    "skin": Tissue(35, 40, 40, 5),
    "muscle": Tissue(48, 55, 58, 5, late=55),
    "lung": Tissue(-865, -865, -865, 20),
    "lung_vessel": Tissue(40, 220, 150, 15, late=135),
    "bone_cortex": Tissue(800, 800, 800, 120),
    "bone_marrow": Tissue(220, 230, 235, 50),
    "cartilage": Tissue(140, 140, 140, 30),
    "disc": Tissue(80, 85, 85, 10),
    "csf": Tissue(8, 8, 8, 3),
    "cord": Tissue(32, 35, 35, 3),
    "liver": Tissue(58, 78, 118, 8, late=105),
    "hepatic_vein": Tissue(45, 60, 160, 12, late=135),
    "spleen": Tissue(48, 125, 122, 8, late=100),
    "kidney_cortex": Tissue(35, 185, 175, 15, late=160),
    "kidney_medulla": Tissue(32, 85, 150, 12, late=165),
    "renal_sinus": Tissue(-70, -70, -70, 10),
    "urine": Tissue(8, 8, 10, 4),
    "adrenal": Tissue(32, 65, 58, 6, late=50),
    "pancreas": Tissue(42, 118, 98, 8, late=85),
    "stomach_wall": Tissue(40, 95, 92, 8, late=80),
    "gastric_fluid": Tissue(12, 12, 12, 6),
    "bile": Tissue(8, 8, 8, 5),
    "gallbladder_wall": Tissue(40, 70, 75, 8, late=68),
    "bowel_wall": Tissue(40, 90, 95, 8, late=82),
    "bowel_fluid": Tissue(15, 15, 15, 8),
    "oral_contrast": Tissue(260, 260, 260, 60),
    "stool": Tissue(-60, -60, -60, 30),
    "aorta_blood": Tissue(45, 320, 165, 30, late=135),
    "ivc_blood": Tissue(45, 95, 145, 15, late=135),
    "portal_blood": Tissue(45, 110, 180, 15, late=135),
    "visceral_artery_blood": Tissue(45, 300, 160, 30, late=135),
    "heart_muscle": Tissue(48, 110, 105, 8, late=90),
    "heart_blood_left": Tissue(45, 330, 160, 30, late=135),
    "heart_blood_right": Tissue(45, 190, 155, 25, late=135),
    "thyroid": Tissue(95, 160, 140, 12, late=120),
    "esophagus": Tissue(38, 60, 62, 6),
    "trachea_wall": Tissue(20, 25, 25, 8),
    "table": Tissue(250, 250, 250, 40),
    "table_foam": Tissue(-780, -780, -780, 30),
}


def check_phase(phase: str) -> str:
    """Returns ``phase`` or raises ``ValueError`` listing the valid phases."""
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; valid phases: {', '.join(PHASES)}")
    return phase


#: Per-patient scale of the contrast enhancement (HU above native) of every enhancing tissue: one standard
#: deviation, clipped at 2 sd (0.5-1.5). Iodine dose per body weight, cardiac output and scan timing vary
#: between patients and scale every organ's enhancement together: portal-venous hepatic enhancement is
#: reported as 50 +- 12 HU and 55 +- 11 HU (about 22% coefficient of variation) even with weight-based dosing.
ENHANCEMENT_SD = 0.25
#: Share of patients with a fatty liver (hepatic steatosis, common in CT populations) and how much it
#: lowers the liver's attenuation in every phase (HU, uniform range).
STEATOSIS_P = 0.2
STEATOSIS_HU = (10.0, 45.0)
#: Timing of a portal-venous scan, drawn per patient as ``u ** PORTAL_TIMING_POWER`` with ``u`` uniform
#: in [0, 1): 0 is the hepatic peak (about 70 s after injection, where most portal-venous protocols
#: scan), 1 the equilibrium (about 3 minutes). The power 2 puts half of the patients in the first quarter
#: (a median of 0.25) and some up to the equilibrium (late scans, slow circulation, a second series).
#: Stored in the sampled values as ``"portal_timing"`` (0 outside the portal-venous phase).
PORTAL_TIMING_POWER = 2.0
#: HU amplitude of the spleen's arterial-phase mottling (heterogeneous red-pulp enhancement) at the mean
#: enhancement; stored in the sampled values as ``"spleen_mottling"`` (0 outside the arterial phase).
SPLEEN_MOTTLING_HU = 25.0


def sample_hu(rng: np.random.Generator, phase: str) -> dict[str, float]:
    """Draws this patient's HU per tissue for ``phase``.

    Each tissue's value is its native HU plus the phase's enhancement over native scaled by the patient's
    enhancement factor (one for all tissues, mean 1, sd :data:`ENHANCEMENT_SD`), plus the tissue's own
    Gaussian jitter (clipped at 2 sd). A fatty liver (probability :data:`STEATOSIS_P`) is darker in
    every phase. ``"spleen_mottling"`` is the amplitude of the arterial spleen's mottling (0 in the other
    phases); ``"portal_timing"`` the scan's timing within the portal-venous phase (see
    :data:`PORTAL_TIMING_POWER`; 0 in the other phases), which moves each tissue's mean towards its
    equilibrium value (:attr:`Tissue.late`).

    The draws are made in a fixed order for every phase, so a patient's anatomy and its draws do not
    depend on the phase; the timing is the last draw, so the earlier ones are those of a phantom without it.
    """
    check_phase(phase)
    z = {name: float(np.clip(rng.standard_normal(), -2.0, 2.0)) for name in sorted(TISSUES)}
    enhancement = 1.0 + ENHANCEMENT_SD * float(np.clip(rng.standard_normal(), -2.0, 2.0))
    fatty = rng.random() < STEATOSIS_P
    fat_hu = float(rng.uniform(*STEATOSIS_HU))
    u = float(rng.random())
    timing = u**PORTAL_TIMING_POWER if phase == "portal_venous" else 0.0
    out = {}
    for name, t in TISSUES.items():
        out[name] = t.native + enhancement * (t.mean(phase, timing) - t.native) + z[name] * t.jitter
    if fatty:
        out["liver"] -= fat_hu
    # physiological couplings: the renal cortex never below the medulla once contrast arrives
    if phase != "native":
        out["kidney_cortex"] = max(out["kidney_cortex"], out["kidney_medulla"] + 5)
    out["spleen_mottling"] = SPLEEN_MOTTLING_HU * enhancement if phase == "arterial" else 0.0
    out["portal_timing"] = timing
    return out
