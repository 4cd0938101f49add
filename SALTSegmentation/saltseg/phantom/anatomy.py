"""Random anatomy of one phantom, and its rasterisation into leaf label values.

All shapes live in a *body frame* in millimetres, patient-LPS like DICOM: +x the patient's left,
+y posterior, +z superior, origin on the midline at the bottom of the pelvis. Shapes are analytic
(superellipse cylinders, rotated ellipsoids, tubes around polylines, periodic bands), so they can
be evaluated at the physical centre of every voxel of any grid, whatever its orientation: the
labels are exact point samples and the image's partial-volume effect comes from blurring later.

Structures are deliberately chunkier than real anatomy (thick rib bands, wide aorta): the demo
model runs at 5 mm, and a phantom is for checking workflow and left/right handling, not anatomy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from .tree import value_of, value_of_path

Array = np.ndarray

#: Body outline control points along z (mm): semi-axes of the body cross-section.
_PROFILE_Z = (-40.0, 0.0, 120.0, 250.0, 400.0, 560.0, 640.0, 690.0, 740.0, 900.0)
_PROFILE_A = (160.0, 160.0, 168.0, 152.0, 158.0, 165.0, 150.0, 75.0, 62.0, 62.0)
_PROFILE_B = (112.0, 112.0, 116.0, 108.0, 108.0, 114.0, 108.0, 72.0, 60.0, 60.0)

#: Landmarks (mm along z, before the height scale).
Z_SACRUM_TOP = 205.0
Z_L1_TOP = 385.0
Z_T1_TOP = 655.0
Z_LUNG_TOP = 660.0
Z_DIAPHRAGM = 425.0
Z_PELVIC_FLOOR = 40.0
Z_MAX = 780.0


@dataclass
class Anatomy:
    """Random shape parameters of one phantom (sizes in mm)."""

    scale: tuple[float, float, float]  # width, depth, height factors
    profile_jitter: tuple[float, ...]
    fat: float
    muscle_wall: float
    cavity_shift: float  # the cavities sit anterior of the spine: posterior wall is thicker
    mediastinum_x: float
    mediastinum_halfwidth: float
    organ_jitter: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Anatomy":
        jitter = {name: rng.uniform(-1.0, 1.0, size=5) for name in (
            "liver", "spleen", "stomach", "kidney_left", "kidney_right", "bladder", "heart", "aorta",
            "hip_left", "hip_right", "sacrum", "diaphragm", "ribs")}
        return cls(
            scale=(float(rng.uniform(0.9, 1.1)), float(rng.uniform(0.9, 1.1)), float(rng.uniform(0.92, 1.08))),
            profile_jitter=tuple(float(v) for v in rng.uniform(-0.05, 0.05, size=len(_PROFILE_Z))),
            fat=float(rng.uniform(16.0, 32.0)),
            muscle_wall=float(rng.uniform(18.0, 26.0)),
            cavity_shift=float(rng.uniform(14.0, 24.0)),
            mediastinum_x=float(rng.uniform(0.0, 10.0)),
            mediastinum_halfwidth=float(rng.uniform(24.0, 34.0)),
            organ_jitter=jitter,
        )

    def z(self, value: float) -> float:
        """A landmark height scaled to this body."""
        return value * self.scale[2]


def _rot(angle_z: float = 0.0, angle_x: float = 0.0) -> np.ndarray:
    """Rotation about z then x (degrees)."""
    cz, sz = np.cos(np.radians(angle_z)), np.sin(np.radians(angle_z))
    cx, sx = np.cos(np.radians(angle_x)), np.sin(np.radians(angle_x))
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    return rz @ rx


def ellipsoid(q: Sequence[Array], center: Sequence[float], semi: Sequence[float],
              angle_z: float = 0.0, angle_x: float = 0.0) -> Array:
    """Normalised radius of a rotated ellipsoid (< 1 inside)."""
    r = _rot(angle_z, angle_x).T  # body → ellipsoid frame
    d = [q[i] - np.float32(center[i]) for i in range(3)]
    total: Optional[Array] = None
    for axis in range(3):
        u = d[0] * np.float32(r[axis, 0]) + d[1] * np.float32(r[axis, 1]) + d[2] * np.float32(r[axis, 2])
        term = (u / np.float32(semi[axis])) ** 2
        total = term if total is None else total + term
    assert total is not None  # three axes
    return total


def tube(q: Sequence[Array], points: Sequence[Sequence[float]], radius: float) -> Array:
    """Boolean mask of voxels closer than ``radius`` to a polyline."""
    best: Optional[Array] = None
    for start, end in zip(points[:-1], points[1:]):
        a, b = np.asarray(start, np.float32), np.asarray(end, np.float32)
        ab = b - a
        t = ((q[0] - a[0]) * ab[0] + (q[1] - a[1]) * ab[1] + (q[2] - a[2]) * ab[2]) / float(ab @ ab)
        np.clip(t, 0.0, 1.0, out=t)
        dist = sum((q[i] - (a[i] + t * ab[i])) ** 2 for i in range(3))
        best = dist if best is None else np.minimum(best, dist)
    assert best is not None  # a polyline has two points or more
    return best < radius * radius


class Rasteriser:
    """Evaluates an :class:`Anatomy` at body-frame points ``q = (x, y, z)`` (float32 arrays)."""

    def __init__(self, anatomy: Anatomy, q: Sequence[Array]) -> None:
        self.a = anatomy
        self.q = q
        self.x, self.y, self.z = q
        sx, sy, sz = anatomy.scale
        jit = np.asarray(anatomy.profile_jitter)
        zs = np.asarray(_PROFILE_Z) * sz
        self.semi_a = np.interp(self.z, zs, np.asarray(_PROFILE_A) * sx * (1 + jit)).astype(np.float32)
        self.semi_b = np.interp(self.z, zs, np.asarray(_PROFILE_B) * sy * (1 - jit)).astype(np.float32)
        #: spine centre (AP) follows the body depth, with a gentle lordosis/kyphosis
        self.spine_y = (0.36 * self.semi_b + 7.0 * np.cos(2 * np.pi * (self.z - 200.0 * sz) / (520.0 * sz))
                        ).astype(np.float32)
        self.labels = np.zeros(self.x.shape, dtype=np.uint8)
        self.disc = np.zeros(self.x.shape, dtype=bool)  # intervertebral discs (intensity only)
        self.kidney_medulla = np.zeros(self.x.shape, dtype=bool)
        self.stomach_gas = np.zeros(self.x.shape, dtype=bool)

    # ---------------------------------------------------------------- helpers
    def _superellipse(self, shrink: float, shift_y: float = 0.0, power: float = 2.4) -> Array:
        a = np.maximum(self.semi_a - shrink, 1.0)
        b = np.maximum(self.semi_b - shrink - abs(shift_y), 1.0)
        return (np.abs(self.x) / a) ** power + (np.abs(self.y + shift_y) / b) ** power

    def paint(self, mask: Array, name: str) -> None:
        self.labels[mask] = value_of(name)

    def jitter(self, organ: str, index: int, amount: float) -> float:
        return float(self.a.organ_jitter[organ][index] * amount)

    def diaphragm(self) -> Array:
        """Height of the diaphragm: a higher dome on the patient's right (under it, the liver)."""
        a = self.a
        base = a.z(Z_DIAPHRAGM) + self.jitter("diaphragm", 0, 12.0)
        right = 32.0 * np.exp(-(((self.x + 65.0 * a.scale[0]) / 75.0) ** 2))
        left = 20.0 * np.exp(-(((self.x - 65.0 * a.scale[0]) / 70.0) ** 2))
        return (base + right + left - 0.12 * self.y).astype(np.float32)

    # ---------------------------------------------------------------- the body, outside in
    def run(self) -> Array:
        a = self.a
        sx, sy, sz = a.scale
        x, y, z = self.x, self.y, self.z
        body = self._superellipse(0.0) <= 1.0
        self.paint(body, "subcutaneous_tissue")
        inner = self._superellipse(a.fat) <= 1.0
        self.labels[inner] = _MUSCLE_OTHER

        cavity = self._superellipse(a.fat + a.muscle_wall, shift_y=a.cavity_shift) <= 1.0
        zd = self.diaphragm()
        lung_top = a.z(Z_LUNG_TOP) - 0.004 * (np.abs(x) - 70.0 * sx) ** 2
        abdomen = cavity & (z >= a.z(Z_PELVIC_FLOOR)) & (z < zd)
        thorax = cavity & (z >= zd) & (z < lung_top)
        self.labels[abdomen] = _ABDOMEN_OTHER
        mediastinum = thorax & (np.abs(x - a.mediastinum_x) <= a.mediastinum_halfwidth + 0.08 * (-y).clip(0))
        self.labels[mediastinum] = _MEDIASTINUM_OTHER
        self.paint(thorax & ~mediastinum & (x > a.mediastinum_x), "lung_left")
        self.paint(thorax & ~mediastinum & (x < a.mediastinum_x), "lung_right")

        # kidneys and spleen lie behind the peritoneum, next to the spine: outside the cavity shape
        retroperitoneum = inner & (z >= a.z(Z_PELVIC_FLOOR)) & (z < zd)
        self._abdominal_organs(abdomen, retroperitoneum, zd)
        self._heart_and_aorta(cavity, zd)
        self._back_muscles(inner)
        self._ribs(zd)
        self._pelvis()
        self._spine()
        return self.labels

    def _abdominal_organs(self, abdomen: Array, retroperitoneum: Array, zd: Array) -> None:
        a, q = self.a, self.q
        sx, sy, sz = a.scale
        zdia = a.z(Z_DIAPHRAGM)
        j = self.jitter
        stomach = ellipsoid(q, (48 * sx + j("stomach", 0, 8), -38 * sy + j("stomach", 1, 8),
                                zdia - 55 + j("stomach", 2, 10)),
                            (46 + j("stomach", 3, 5), 36, 55 + j("stomach", 4, 8)), angle_z=-25)
        stomach = abdomen & (stomach < 1)
        self.paint(stomach, "stomach")
        # gas rises anteriorly (-y) in a supine patient
        self.stomach_gas = stomach & (self.y < -38 * sy + j("stomach", 1, 8) - 14)
        spleen = ellipsoid(q, (82 * sx + j("spleen", 0, 8), 42 * sy + j("spleen", 1, 8),
                               zdia - 45 + j("spleen", 2, 10)),
                           (32 + j("spleen", 3, 5), 52, 52 + j("spleen", 4, 8)), angle_z=35)
        self.paint(retroperitoneum & (spleen < 1), "spleen")
        for side, sign, drop in (("kidney_left", 1.0, 0.0), ("kidney_right", -1.0, 18.0)):
            center = (sign * (74 * sx + j(side, 0, 6)), float(np.median(self.spine_y)) - 6 + j(side, 1, 6),
                      zdia - 125 - drop + j(side, 2, 12))
            semi = (30 + j(side, 3, 4), 25, 56 + j(side, 4, 6))
            r = ellipsoid(q, center, semi, angle_z=sign * 25, angle_x=-12)
            kidney = retroperitoneum & (r < 1)
            self.paint(kidney, side)
            self.kidney_medulla |= kidney & (r < 0.35)
        bladder = ellipsoid(q, (j("bladder", 0, 8), -32 * sy + j("bladder", 1, 8),
                                a.z(Z_PELVIC_FLOOR) + 62 + j("bladder", 2, 10)),
                            (46 + j("bladder", 3, 6), 38, 38 + j("bladder", 4, 6)))
        self.paint((self.labels == _ABDOMEN_OTHER) & (bladder < 1), "urinary_bladder")
        liver = ellipsoid(q, (-58 * sx + j("liver", 0, 8), -8 * sy + j("liver", 1, 8), zdia - 30 + j("liver", 2, 10)),
                          (98 * sx + j("liver", 3, 8), 88 * sy, 82 + j("liver", 4, 10)), angle_z=-18)
        self.paint(abdomen & (liver < 1) & (self.labels != value_of("kidney_right")), "liver")

    def _heart_and_aorta(self, cavity: Array, zd: Array) -> None:
        a, q = self.a, self.q
        sx, sy, sz = a.scale
        j = self.jitter
        zdia = a.z(Z_DIAPHRAGM)
        above = cavity & (self.z >= zd)
        heart = ellipsoid(q, (a.mediastinum_x + 28 * sx + j("heart", 0, 6), -28 * sy + j("heart", 1, 6),
                              zdia + 70 + j("heart", 2, 10)),
                          (58 + j("heart", 3, 6), 48, 62 + j("heart", 4, 6)), angle_z=30, angle_x=-20)
        self.paint(above & (heart < 1), "heart")
        spine_y = float(np.median(self.spine_y))
        front = spine_y - 20 * sy - 16  # just anterior of the vertebral bodies
        xm = a.mediastinum_x
        points = [(xm + 6, -30 * sy, zdia + 110), (xm + 4, -22 * sy, zdia + 185 + j("aorta", 0, 8)),
                  (xm + 16, front - 18, zdia + 205 + j("aorta", 0, 8)), (xm + 26, front, zdia + 165),
                  (xm + 24, front, zdia - 10)]
        self.paint(cavity & tube(q, points, 15.0 + j("aorta", 1, 2)), "aorta")

    def _back_muscles(self, inner: Array) -> None:
        a = self.a
        z_low, z_high = a.z(120.0), a.z(Z_MAX)
        yc = self.spine_y + 34.0
        for name, sign in (("autochthon_left", 1.0), ("autochthon_right", -1.0)):
            r = ((self.x - sign * 40.0 * a.scale[0]) / 27.0) ** 2 + ((self.y - yc) / 21.0) ** 2
            self.paint(inner & (r < 1) & (self.z > z_low) & (self.z < z_high), name)

    def _ribs(self, zd: Array) -> None:
        """Twelve bands per side, sloping up towards the back, with a cartilage gap in front."""
        a = self.a
        shell = self._superellipse(a.fat + a.muscle_wall - 2.0, shift_y=a.cavity_shift)
        band = (shell > 1.0) & (self._superellipse(a.fat + a.muscle_wall - 16.0, shift_y=a.cavity_shift) <= 1.0)
        pitch = 24.0 * a.scale[2]
        zz = self.z - 0.3 * self.y - (a.z(Z_DIAPHRAGM) - 55.0 + self.jitter("ribs", 0, 8.0))
        k = np.round(zz / pitch)
        in_band = (np.abs(zz - k * pitch) < 7.5) & (k >= 0) & (k < 11)
        top = self.z < a.z(Z_LUNG_TOP) + 10.0
        front_gap = (self.y < -0.55 * self.semi_b) & (np.abs(self.x) < 40.0)
        back_gap = np.abs(self.x) < 24.0
        ribs = band & in_band & top & ~front_gap & ~back_gap
        self.paint(ribs & (self.x > 0), "ribs_left")
        self.paint(ribs & (self.x < 0), "ribs_right")

    def _pelvis(self) -> None:
        a, q = self.a, self.q
        sx, sy, sz = a.scale
        j = self.jitter
        for name, sign in (("hip_left", 1.0), ("hip_right", -1.0)):
            wing = ellipsoid(q, (sign * (96 * sx + j(name, 0, 6)), 22 * sy, a.z(185) + j(name, 1, 8)),
                             (20, 58 * sy, 62 * sz), angle_z=-sign * 35)
            socket = ellipsoid(q, (sign * (82 * sx + j(name, 2, 6)), -12 * sy, a.z(80) + j(name, 3, 8)),
                               (30, 32, 46 * sz))
            self.paint((wing < 1) | (socket < 1), name)
        sacrum_y = float(np.median(self.spine_y[np.abs(self.z - a.z(160)) < 40])) if np.any(
            np.abs(self.z - a.z(160)) < 40) else 0.36 * 112 * sy
        sacrum = ellipsoid(q, (0.0, sacrum_y + 8 + j("sacrum", 0, 5), a.z(150) + j("sacrum", 1, 6)),
                           (46 + j("sacrum", 2, 4), 22, 58 * sz), angle_x=25)
        self.paint(sacrum < 1, "sacrum")

    def _spine(self) -> None:
        a = self.a
        z = self.z
        zs = a.z(Z_SACRUM_TOP)
        lumbar, thoracic = a.z(Z_L1_TOP), a.z(Z_T1_TOP)
        semi_x = np.interp(z, [zs, lumbar, thoracic, a.z(Z_MAX)], [27, 22, 19, 16]).astype(np.float32)
        semi_y = np.interp(z, [zs, lumbar, thoracic, a.z(Z_MAX)], [20, 18, 16, 14]).astype(np.float32)
        body = (self.x / semi_x) ** 2 + ((self.y - self.spine_y) / semi_y) ** 2 < 1
        arch = (self.x / 11.0) ** 2 + ((self.y - self.spine_y - semi_y - 13.0) / 15.0) ** 2 < 1
        spine = (body | arch) & (z >= zs)
        self.paint(spine & (z < lumbar), "lumbar_spine")
        self.paint(spine & (z >= lumbar) & (z < thoracic), "thoracic_spine")
        self.paint(spine & (z >= thoracic), "cervical_spine")
        # discs: thin low-density layers between vertebral bodies (intensity cue only)
        pitch = np.where(z < lumbar, 36.0, np.where(z < thoracic, 22.5, 16.0)) * a.scale[2]
        phase = np.mod(z - zs, pitch)
        self.disc = body & (z >= zs) & (phase < 5.0)


# "other" leaves share a name, so they are looked up by path.
_MUSCLE_OTHER = value_of_path("body,muscles,other")
_ABDOMEN_OTHER = value_of_path("body,abdominal_cavity,other")
_MEDIASTINUM_OTHER = value_of_path("body,thoracic_cavity,mediastinum,other")
