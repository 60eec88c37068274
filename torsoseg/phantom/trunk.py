"""The body wall and skeleton: skin, fat, muscle, rectus abdominis, spine, ribs, sternum, pelvis, table.

Each builder takes the :class:`~torsoseg.phantom.patient.Patient`, the patient's HU per tissue and a
random generator, and returns :class:`~torsoseg.phantom.render.Part` objects in painting order.
Vertebrae and ribs are evaluated without loops over bones: every voxel finds its nearest vertebral
level (or rib) from its z coordinate and is tested against that bone only.
"""

from __future__ import annotations

import numpy as np

from torsoseg.phantom.labels import INTERNAL
from torsoseg.phantom.patient import LEVELS, Patient
from torsoseg.phantom.render import Part
from torsoseg.phantom.shapes import ellipsoid, ellipsoid_local, rotation, shell, to_local

BIG = 1e4


def arm_reach(pt: Patient) -> float:
    """How far (mm) the arms reach beyond the trunk's widest half-width: gap plus arm (0 with arms up)."""
    return 2 * pt.arm_radius + pt.arm_gap if pt.arm_radius > 0 else 0.0


def body_box(pt: Patient) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Bounding box (lo, hi) of the whole body (arms included) and table in the patient frame."""
    a = max(pt.body_a) + 5 + arm_reach(pt)
    return (-a, -max(pt.body_bf) - 5, pt.body_z[0]), (a, max(pt.body_bb) + 45, pt.body_z[-1])


def body_wall(pt: Patient, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """Table, skin, subcutaneous fat, muscle wall, paraspinal muscles and the (fat-filled) body cavity."""
    lo, hi = body_box(pt)
    y_table = max(pt.body_bb) + 4.0
    table_curve = np.float32(1.0 / 1500.0)

    def table(b):
        yy = b.y - np.float32(y_table) - table_curve * b.x**2
        return np.maximum(np.abs(yy - 3.0) - 3.0, np.abs(b.x) - 230.0)

    def foam(b):
        yy = b.y - np.float32(y_table) - table_curve * b.x**2
        return np.maximum(np.abs(yy - 22.0) - 16.0, np.abs(b.x) - 215.0)

    def skin(b):
        return pt.skin_b(b)

    def fat(b):
        return pt.skin_b(b) + 2.0

    def fat_hu(b):
        return hu["fat"] + 6.0 * b.noise("fat", 12.0)

    def muscle(b):
        return pt.fat_inner_b(b)

    def muscle_hu(b):
        return hu["muscle"] + 4.0 * b.noise("muscle", 10.0)

    ys = pt.y_spine
    para_r = (30.0 * pt.width, 24.0 * pt.depth)

    def paraspinal(b):
        right = ellipsoid(b.x, b.y, b.z * 0, (-para_r[0] - 4, ys + 36, 0), (para_r[0], para_r[1], BIG))
        left = ellipsoid(b.x, b.y, b.z * 0, (para_r[0] + 4, ys + 36, 0), (para_r[0], para_r[1], BIG))
        return np.maximum(np.minimum(right, left), pt.fat_inner_b(b))

    def cavity(b):
        return pt.cavity_b(b)

    def cavity_hu(b):
        return hu["fat"] + 8.0 + 8.0 * b.noise("visceral_fat", 6.0)

    return [
        Part("table_foam", lo, hi, foam, hu["table_foam"], 0),
        Part("table", lo, hi, table, hu["table"], 0),
        Part("skin", lo, hi, skin, hu["skin"], 0),
        Part("subcutaneous_fat", lo, hi, fat, fat_hu, 0),
        Part("muscle_wall", lo, hi, muscle, muscle_hu, 0),
        Part("paraspinal", lo, hi, paraspinal, muscle_hu, 0),
        Part("cavity", lo, hi, cavity, cavity_hu, 0),
    ]


def rectus_abdominis(pt: Patient, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """The paired rectus abdominis: straps in the anterior wall from the xiphoid to the pubis."""
    width = float(rng.uniform(55, 75) * pt.width)
    thick = pt.muscle * float(rng.uniform(0.8, 1.0))
    gap = float(rng.uniform(3.0, 8.0))  # linea alba
    z_top = pt.level_z("T9") - float(rng.uniform(0, 15))
    z_bot = pt.level_z("S1") - 110.0 * pt.height
    lo, hi = body_box(pt)
    parts = []
    for side, sign in (("right", -1.0), ("left", 1.0)):
        c = sign * (gap / 2 + width / 2)

        def sdf(b, c=c):
            sh = shell(pt.fat_inner_b(b), thick)
            band = np.abs(b.x - np.float32(c)) - np.float32(width / 2)
            zlim = np.maximum(b.z - np.float32(z_top), np.float32(z_bot) - b.z)
            return np.maximum(np.maximum(sh, band), np.maximum(zlim, b.y + 20.0))

        box_lo = (min(c - width, c + width), lo[1], z_bot)
        box_hi = (max(c - width, c + width), 0.0, z_top)
        parts.append(
            Part(
                f"rectus_abdominis_{side}",
                box_lo,
                box_hi,
                sdf,
                hu["muscle"] + 3.0,
                INTERNAL[f"rectus_abdominis_{side}"],
            )
        )
    return parts


def _vertebra_fields(pt: Patient, b):
    """Per voxel: the nearest level index, and the signed distances of the disc column and the bone."""
    centres = pt.level_centres()  # decreasing z
    order = np.argsort(centres)
    k = np.rint(np.interp(b.z, centres[order], order.astype(np.float64))).astype(np.int64)
    n = len(LEVELS)
    frac = k / (n - 1)
    r_lat = (13.0 + 14.0 * frac) * pt.width**0.5
    r_ap = 0.78 * r_lat + 2.0
    pitch = np.where(k >= LEVELS.index("L1"), pt.pitch_lumbar, pt.pitch_thoracic)
    h = 0.78 * pitch
    dz = b.z - centres[k].astype(np.float32)
    ys = np.float32(pt.y_spine)
    q = np.sqrt((b.x / r_lat) ** 2 + ((b.y - ys) / r_ap) ** 2)
    d_xy = (q - 1.0) * np.minimum(r_lat, r_ap)
    d_body = np.maximum(d_xy, np.abs(dz) - h / 2)
    rc = 7.5 + 2.5 * frac
    yc = ys + r_ap + rc + 1.0
    dist_c = np.sqrt(b.x**2 + (b.y - yc) ** 2)
    d_arch = np.maximum(np.abs(dist_c - (rc + 3.5)) - 3.5, np.abs(dz) - h * 0.42)
    d_arch = np.maximum(d_arch, -(b.y - (yc - rc * 0.6)))  # only the posterior ring and pedicles
    sp_len = 26.0 + 6.0 * frac
    dz_sp = dz + 0.45 * np.clip(b.y - yc - rc, 0, None)
    d_spinous = np.maximum(
        np.maximum(np.abs(b.x) - 3.5, np.abs(b.y - (yc + rc + sp_len / 2)) - sp_len / 2),
        np.abs(dz_sp) - h * 0.3,
    )
    tp = r_lat + 8.0
    d_trans = np.maximum(
        np.maximum(np.abs(np.abs(b.x) - tp) - 8.0, np.abs(b.y - (yc - 2.0)) - 3.5), np.abs(dz) - 4.5
    )
    bone = np.minimum(np.minimum(d_body, d_arch), np.minimum(d_spinous, d_trans))
    below_s1 = b.z < centres[-1] - pitch / 2
    bone = np.where(below_s1, BIG, bone)
    disc = np.where(below_s1 | (b.z > centres[0] + pitch / 2), BIG, d_xy)
    return k, disc.astype(np.float32), bone.astype(np.float32), (dist_c - rc).astype(np.float32)


def spine(pt: Patient, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """Vertebrae C6-L5 (bodies with cortex and marrow, arches, processes), discs, canal and cord."""
    centres = pt.level_centres()
    lo = (-60.0, pt.y_spine - 40, centres[-1] - 40)
    hi = (60.0, pt.y_spine + 95, centres[0] + 40)
    l1 = LEVELS.index("L1")
    l1_label = INTERNAL["vertebrae_L1"]

    def label_fn(b):
        k = b.memo("vertebra", lambda: _vertebra_fields(pt, b))[0]
        return np.where(k == l1, l1_label, 0).astype(np.uint8)

    def disc(b):
        return b.memo("vertebra", lambda: _vertebra_fields(pt, b))[1]

    def cortex(b):
        return b.memo("vertebra", lambda: _vertebra_fields(pt, b))[2]

    def marrow(b):
        return b.memo("vertebra", lambda: _vertebra_fields(pt, b))[2] + 1.8

    def marrow_hu(b):
        return hu["bone_marrow"] + 30.0 * b.noise("marrow", 4.0)

    def canal(b):
        return b.memo("vertebra", lambda: _vertebra_fields(pt, b))[3]

    def cord(b):
        d = b.memo("vertebra", lambda: _vertebra_fields(pt, b))[3] + 3.0
        return np.maximum(d, pt.level_z("L1") - b.z)

    return [
        Part("discs", lo, hi, disc, hu["disc"], 0),
        Part("vertebrae", lo, hi, cortex, hu["bone_cortex"], 0, label_fn=label_fn),
        Part("vertebral_marrow", lo, hi, marrow, marrow_hu, None),
        Part("spinal_canal", lo, hi, canal, hu["csf"], 0),
        Part("spinal_cord", lo, hi, cord, hu["cord"], 0),
    ]


def _rib_field(pt: Patient, b, drops: np.ndarray, phi_end: np.ndarray, phi_cart: np.ndarray):
    """Signed distance to the nearest rib and whether the nearest point is cartilage."""
    d_c = pt.cavity_b(b)
    phi = np.arctan2(np.abs(b.x), b.y)  # 0 posterior, pi anterior
    bend = (1.0 - np.cos(phi)) / 2.0
    zk = np.array([pt.level_z(f"T{i}") for i in range(1, 13)], dtype=np.float64)
    mean_drop = float(drops.mean())
    approx = np.interp(b.z + mean_drop * bend, zk[::-1], np.arange(11, -1, -1, dtype=np.float64))
    k0 = np.rint(approx).astype(np.int64)
    best = np.full(b.x.shape, BIG, dtype=np.float32)
    cart = np.zeros(b.x.shape, dtype=bool)
    r_rad, r_z = 3.5, 6.0
    for off in (-1, 0, 1):
        k = np.clip(k0 + off, 0, 11)
        zr = zk[k] - drops[k] * bend
        dr = d_c - (r_rad + 1.5)
        q = np.sqrt((dr / r_rad) ** 2 + ((b.z - zr) / r_z) ** 2)
        d = (q - 1.0) * r_rad
        arc = 110.0
        d = np.maximum(d, np.maximum((0.3 - phi) * arc, (phi - phi_end[k]) * arc)).astype(np.float32)
        better = d < best
        best = np.where(better, d, best)
        cart = np.where(better, phi > phi_cart[k], cart)
    return best, cart


def ribs(pt: Patient, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """Twelve rib pairs following the thoracic wall and sloping down anteriorly; costal cartilages."""
    drops = (np.arange(1, 13) * 4.0 + 38.0) * pt.height * rng.uniform(0.85, 1.15)
    phi_end = np.array([np.pi - 0.2] * 7 + [2.6, 2.45, 2.3, 1.9, 1.45])
    phi_end = phi_end + rng.uniform(-0.06, 0.06, size=12)
    phi_cart = np.where(np.arange(12) < 10, phi_end - rng.uniform(0.45, 0.6), phi_end + 1)
    lo, hi = body_box(pt)
    lo = (lo[0], lo[1], pt.level_z("T12") - drops[-1] - 30)
    hi = (hi[0], hi[1], pt.level_z("T1") + 30)

    def rib(b):
        return b.memo("ribs", lambda: _rib_field(pt, b, drops, phi_end, phi_cart))[0]

    def rib_hu(b):
        cart = b.memo("ribs", lambda: _rib_field(pt, b, drops, phi_end, phi_cart))[1]
        return np.where(cart, hu["cartilage"], hu["bone_cortex"] * 0.85).astype(np.float32)

    def marrow(b):
        d, cart = b.memo("ribs", lambda: _rib_field(pt, b, drops, phi_end, phi_cart))
        return np.where(cart, BIG, d + 1.5).astype(np.float32)

    return [
        Part("ribs", lo, hi, rib, rib_hu, 0),
        Part("rib_marrow", lo, hi, marrow, hu["bone_marrow"], None),
    ]


def sternum(pt: Patient, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """Manubrium and body of the sternum in the anterior chest wall, with the xiphoid."""
    z_top = pt.level_z("T3") + float(rng.uniform(0, 15))
    z_bot = pt.level_z("T9") - float(rng.uniform(0, 15))
    half_w = float(rng.uniform(14, 19))
    half_t = 6.0
    lo = (-40.0, -max(pt.body_bf), z_bot - 5)
    hi = (40.0, 0.0, z_top + 5)

    def sdf(b, inset=0.0):
        _, bf, _ = pt.outline(b.z, 0, pt.fat_ant + pt.muscle, 0)
        yc = -bf - half_t + 3.0
        t = np.clip((b.z - z_bot) / (z_top - z_bot), 0, 1)
        w = half_w * (0.55 + 0.45 * np.sqrt(t)) + 10.0 * np.clip((t - 0.8) / 0.2, 0, 1)
        d = np.maximum(np.abs(b.x) - w, np.abs(b.y - yc) - half_t)
        d = np.maximum(d, np.maximum(b.z - z_top, z_bot - b.z))
        return (d + inset).astype(np.float32)

    return [
        Part("sternum", lo, hi, sdf, hu["bone_cortex"], INTERNAL["sternum"]),
        Part("sternal_marrow", lo, hi, lambda b: sdf(b, 1.8), hu["bone_marrow"], None),
    ]


def pelvis(pt: Patient, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """Iliac wings, sacrum, pubic rami and femoral heads (bone only, unlabelled)."""
    s1 = pt.level_z("S1")
    a = float(np.interp(s1, pt.body_z, pt.body_a))
    bf = float(np.interp(s1 - 100, pt.body_z, pt.body_bf))
    ys = pt.y_spine
    bone = hu["bone_marrow"] + 60.0
    parts = []
    for sign in (-1.0, 1.0):
        c = (sign * 0.5 * a, ys + 5.0, s1 - 10.0)
        rot = rotation(0, 0, sign * 40.0)

        def wing(b, c=c, rot=rot, sign=sign):
            u, v, w = to_local(b.x, b.y, b.z, c, rot)
            d = shell(ellipsoid_local(u, v, w, (22.0, 62.0, 58.0)), 8.0)
            d = np.maximum(d, -sign * u)  # the lateral half of the shell: a bowl, like the iliac fossa
            d = np.maximum(d, -w - 20.0)  # the wing rises from the acetabulum
            return np.maximum(d, b.y - np.float32(ys + 55))

        parts.append(Part("iliac_wing", np.subtract(c, 70), np.add(c, 70), wing, bone, 0))
        fh = (sign * 0.58 * a, -0.1 * bf, s1 - 150.0 * pt.height)
        parts.append(
            Part(
                "femoral_head",
                np.subtract(fh, 30),
                np.add(fh, 30),
                lambda b, fh=fh: ellipsoid(b.x, b.y, b.z, fh, (23.0, 23.0, 23.0)),
                bone + 20,
                0,
            )
        )
        ramus = np.array(
            [
                [sign * 0.5 * a, -0.05 * bf, s1 - 125.0 * pt.height],
                [sign * 12.0, -0.7 * bf, s1 - 120.0 * pt.height],
            ]
        )
        parts.append(
            Part(
                "pubic_ramus",
                ramus.min(axis=0) - 15,
                ramus.max(axis=0) + 15,
                lambda b, r=ramus: b.tube(r, [11.0, 9.0]),
                bone + 40,
                0,
            )
        )
    sac = np.array([[0, ys + 5, s1 + 10], [0, ys + 25, s1 - 50], [0, ys + 55, s1 - 110]])
    parts.append(
        Part(
            "sacrum",
            sac.min(axis=0) - 50,
            sac.max(axis=0) + 50,
            lambda b: b.tube(sac, [30.0, 24.0, 12.0]),
            hu["bone_marrow"],
            0,
        )
    )
    return parts


def arms(pt: Patient, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """Arms lying beside the trunk (patients with ``arm_radius > 0``), ``pt.arm_gap`` away from it (0: on
    the flank), unlabelled.

    Skin and fat, muscle, the humerus down to the elbow, then the forearm with radius and ulna.
    """
    if pt.arm_radius <= 0:
        return []
    r = pt.arm_radius
    shoulder = pt.level_z("T2")
    elbow = pt.dome_right - float(rng.uniform(60, 110)) * pt.height
    wrist = elbow - float(rng.uniform(230, 260)) * pt.height
    fat = float(rng.uniform(4, 10)) + 12.0 * pt.obesity
    z_ctrl = [wrist, elbow, shoulder]
    r_ctrl = [0.6 * r, 0.8 * r, r]
    gap = np.float32(pt.arm_gap)
    reach = float(np.max(pt.body_a)) + arm_reach(pt) + 10
    inner = float(np.interp(np.linspace(wrist, shoulder, 32), pt.body_z, pt.body_a).min()) + pt.arm_gap - 10

    def radius_at(z):
        return np.interp(z, z_ctrl, r_ctrl).astype(np.float32)

    parts = []
    for sign in (-1.0, 1.0):
        arm_y = float(rng.uniform(-10, 25))

        def centre(z, sign=sign, arm_y=arm_y):
            a = np.interp(z, pt.body_z, pt.body_a).astype(np.float32)
            return sign * (a + gap + radius_at(z)), np.float32(arm_y)

        def limb(b, inset=0.0, centre=centre):
            cx, cy = centre(b.zo)
            d = np.sqrt((b.x - cx) ** 2 + (b.y - cy) ** 2) - radius_at(b.zo) + inset
            return np.maximum(d, np.maximum(b.z - np.float32(shoulder), np.float32(wrist) - b.z))

        def bones(b, inset=0.0, centre=centre, sign=sign):
            cx, cy = centre(b.zo)
            upper = np.sqrt((b.x - cx) ** 2 + (b.y - cy) ** 2) - 11.0 + inset
            upper = np.where(b.z > elbow, upper, BIG)
            fx = cx + sign * 9.0
            fore = np.minimum(
                np.sqrt((b.x - fx) ** 2 + (b.y - cy + 8) ** 2),
                np.sqrt((b.x - fx) ** 2 + (b.y - cy - 10) ** 2),
            )
            fore = np.where(b.z <= elbow, fore - 7.0 + inset, BIG)
            d = np.minimum(upper, fore)
            return np.maximum(d, np.maximum(b.z - np.float32(shoulder - 20), np.float32(wrist) - b.z))

        lo = (-reach if sign < 0 else inner, -r - 40, wrist)
        hi = (-inner if sign < 0 else reach, r + 40, shoulder)
        parts += [
            Part("arm_skin", lo, hi, limb, hu["skin"], 0),
            Part("arm_fat", lo, hi, lambda b, limb=limb: limb(b, 1.5), hu["fat"], 0),
            Part("arm_muscle", lo, hi, lambda b, limb=limb: limb(b, fat), hu["muscle"], 0),
            Part("arm_bone", lo, hi, bones, hu["bone_cortex"], 0),
            Part("arm_marrow", lo, hi, lambda b, bones=bones: bones(b, 3.0), hu["bone_marrow"] - 100, None),
        ]
    return parts
