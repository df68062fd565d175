"""The lumbar-spine phantom as signed-distance functions in patient LPS mm.

The anatomy is defined in a local frame ``(u, v, w) = LPS - ORIGIN`` (mm):
``u`` toward the patient's left, ``v`` toward posterior, ``w`` toward the head.
The patient lies straight (anatomy aligned with LPS); it is the *scanner* that
is tilted (see ``_ct.py``), so every voxel is sampled at its true LPS position.

Values are Hounsfield units.  Soft edges use a linear partial-volume ramp
over about one voxel (``coverage``); the screw is rendered by 4x4x4
supersampling (exact partial volume); the beads, whose intensity centroids the
tests measure, are the analytic convolution of a ball with an isotropic
Gaussian point-spread function (sigma 0.5 mm): sampled on the voxel grid, their
centroid equals the true centre to < 0.001 mm (plain box partial volume would be
biased by up to 0.02 mm for a 1.8 mm bead on 0.6-0.9 mm voxels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import erf

#: LPS mm of the local frame's origin: mid-disc, centre of the vertebral bodies.
ORIGIN = np.array([-2.5, 31.0, -615.0])

# Hounsfield units of the materials.
HU_AIR = -1000.0
HU_SKIN = 100.0
HU_FAT = -90.0
HU_MUSCLE = 45.0
HU_CSF = 15.0
HU_CORTICAL = 1150.0
HU_CANCELLOUS = 230.0
HU_ANNULUS = 110.0
HU_NUCLUS = 75.0
HU_SCREW = 4000.0  # titanium alloy on an extended CT scale
HU_STEEL = 8000.0  # stainless-steel beads; blurred by the PSF their peak stays > 4000 HU
BEAD_PSF_SIGMA_MM = 0.5  # isotropic Gaussian point-spread of the scanner, applied to the beads

# Body outline: elliptic cylinder along w (mm).
BODY_CENTER_V = 10.0
BODY_SEMI = (40.0, 40.0)  # (u, v) semi-axes of the skin surface
SKIN_MM = 1.5
FAT_MM = 4.0
CORTEX_MM = 1.2

# Vertebrae: (name, w of the body centre) and shared dimensions (mm).
VERTEBRAE = (("L5", -14.0), ("L4", 14.0))
VB_SEMI = (16.0, 12.5)  # vertebral body (u, v) semi-axes
VB_HALF_HEIGHT = 10.0
DISC_HALF_HEIGHT = 4.0  # disc fills |w| <= 4 between the bodies
CANAL_CENTER_V = 20.5
CANAL_RADIUS = 7.5
PEDICLE_CENTER = (12.5, 19.0)  # |u|, v of the pedicle midpoint
PEDICLE_HALF_LENGTH = 10.5
PEDICLE_RADIUS = 4.2
PEDICLE_MEDIAL_DEG = 15.0  # pedicle axis converges medially going anterior


@dataclass(frozen=True)
class Screw:
    """A pedicle screw: shaft from ``entry`` (bone surface) to ``tip`` (LPS mm)."""

    entry: np.ndarray
    tip: np.ndarray
    diameter_mm: float
    head_diameter_mm: float
    head_length_mm: float

    @property
    def length_mm(self) -> float:
        return float(np.linalg.norm(self.tip - self.entry))

    @property
    def axis(self) -> np.ndarray:
        return (self.tip - self.entry) / self.length_mm


def pedicle_axis(side: float) -> np.ndarray:
    """Unit vector of a pedicle axis, pointing anterior; ``side`` +1 = left, -1 = right."""
    a = np.deg2rad(PEDICLE_MEDIAL_DEG)
    return np.array([-side * np.sin(a), -np.cos(a), 0.0])


def make_screw() -> Screw:
    """Left L4 pedicle screw, 6.5 x 40 mm, along the pedicle with 2 deg caudal tilt."""
    w_l4 = VERTEBRAE[1][1]
    mid = np.array([PEDICLE_CENTER[0], PEDICLE_CENTER[1], w_l4 + 0.5])
    d = pedicle_axis(+1.0)
    tilt = np.deg2rad(2.0)
    d = np.array([d[0] * np.cos(tilt), d[1] * np.cos(tilt), -np.sin(tilt)])
    d /= np.linalg.norm(d)
    entry_local = mid - 14.0 * d
    tip_local = entry_local + 40.0 * d
    return Screw(entry=ORIGIN + entry_local, tip=ORIGIN + tip_local, diameter_mm=6.5,
                 head_diameter_mm=10.0, head_length_mm=9.0)


#: Steel beads (LPS mm), diameter BEAD_DIAMETER_MM.  Placed in uniform muscle
#: (>= 5 mm from any other structure) on oblique 3-D lines.
BEAD_DIAMETER_MM = 1.8


def _along(p: tuple[float, float, float], d: tuple[float, float, float], dist: float) -> np.ndarray:
    v = np.asarray(d, float)
    return np.asarray(p, float) + dist * v / np.linalg.norm(v)


def make_beads() -> dict[str, np.ndarray]:
    """Bead centres in LPS mm by name.

    ``inch_a``-``inch_b`` are 25.4 mm apart, ``half_a``-``half_b`` 12.7 mm,
    and ``angle_vertex`` with ``angle_arm1`` (15 mm) / ``angle_arm2`` (11 mm)
    makes an angle of about 60 degrees (exact value in truth).
    """
    local: dict[str, np.ndarray] = {}
    local["inch_a"] = np.array([-23.5, 0.0, -19.0])
    local["inch_b"] = _along(tuple(local["inch_a"]), (-0.12, 0.36, 0.925), 25.4)
    local["half_a"] = np.array([24.0, 4.0, -20.0])
    local["half_b"] = _along(tuple(local["half_a"]), (0.25, 0.35, 0.90), 12.7)
    vertex = np.array([22.5, 3.0, 3.0])
    arm1 = np.array([0.05, 0.25, 0.967])
    arm1 /= np.linalg.norm(arm1)
    # arm2 = arm1 rotated by 60 deg about the u axis (then renormalised: the angle is in truth)
    c, s = np.cos(np.pi / 3), np.sin(np.pi / 3)
    arm2 = np.array([arm1[0], c * arm1[1] - s * arm1[2], s * arm1[1] + c * arm1[2]])
    local["angle_vertex"] = vertex
    local["angle_arm1"] = vertex + 15.0 * arm1
    local["angle_arm2"] = vertex + 11.0 * arm2
    return {k: ORIGIN + v for k, v in local.items()}


# --- signed distance primitives (negative inside, mm) -----------------------------------

def sdf_ellipse(u: np.ndarray, v: np.ndarray, a: float, b: float) -> np.ndarray:
    """Approximate signed distance to an ellipse with semi-axes ``a`` (u), ``b`` (v)."""
    k0 = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    k1 = np.sqrt((u / a**2) ** 2 + (v / b**2) ** 2)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-9)


def sdf_box(u, v, w, center, half) -> np.ndarray:
    """Signed distance to an axis-aligned box (centre, half sizes in mm)."""
    q = [np.abs(c - c0) - h for c, c0, h in zip((u, v, w), center, half)]
    outside = np.sqrt(sum(np.maximum(qi, 0.0) ** 2 for qi in q))
    inside = np.minimum(np.maximum(np.maximum(q[0], q[1]), q[2]), 0.0)
    return outside + inside


def sdf_capsule(u, v, w, a, b, r: float) -> np.ndarray:
    """Signed distance to a capsule (segment ``a``-``b``, radius ``r``)."""
    a = np.asarray(a, float)
    ab = np.asarray(b, float) - a
    pu, pv, pw = u - a[0], v - a[1], w - a[2]
    t = np.clip((pu * ab[0] + pv * ab[1] + pw * ab[2]) / ab.dot(ab), 0.0, 1.0)
    return np.sqrt((pu - t * ab[0]) ** 2 + (pv - t * ab[1]) ** 2 + (pw - t * ab[2]) ** 2) - r


def sdf_capped_cylinder(p: np.ndarray, a: np.ndarray, b: np.ndarray, r: float) -> np.ndarray:
    """Signed distance to a flat-ended cylinder from ``a`` to ``b`` radius ``r``; ``p`` (..., 3)."""
    ab = b - a
    length = np.linalg.norm(ab)
    axis = ab / length
    rel = p - a
    t = rel @ axis
    radial = np.linalg.norm(rel - t[..., None] * axis, axis=-1) - r
    along = np.abs(t - length / 2) - length / 2
    outside = np.sqrt(np.maximum(radial, 0) ** 2 + np.maximum(along, 0) ** 2)
    return outside + np.minimum(np.maximum(radial, along), 0.0)


def blurred_ball(rho: np.ndarray, radius: float, sigma: float) -> np.ndarray:
    """Ball of ``radius`` (mm) convolved with an isotropic Gaussian (``sigma`` mm), at
    distance ``rho`` (mm) from its centre; 1 deep inside, 0 far outside."""
    rho = np.maximum(rho, 1e-9)
    s2 = np.sqrt(2.0) * sigma
    near = np.exp(-((radius - rho) ** 2) / (2 * sigma**2))
    far = np.exp(-((radius + rho) ** 2) / (2 * sigma**2))
    return (0.5 * (erf((radius - rho) / s2) + erf((radius + rho) / s2))
            - sigma / (rho * np.sqrt(2 * np.pi)) * (near - far))


def coverage(sdf: np.ndarray, ramp_mm: float) -> np.ndarray:
    """Partial-volume fraction in [0, 1] from a signed distance (linear ramp)."""
    return np.clip(0.5 - sdf / ramp_mm, 0.0, 1.0)


# --- anatomy ------------------------------------------------------------------------------

def vertebra_sdf(u, v, w, wc: float) -> np.ndarray:
    """Union of one vertebra's bone: body, pedicles, lamina, spinous and transverse processes."""
    body = np.maximum(sdf_ellipse(u, v, *VB_SEMI), np.abs(w - wc) - VB_HALF_HEIGHT)
    parts = [body]
    for side in (+1.0, -1.0):
        mid = np.array([side * PEDICLE_CENTER[0], PEDICLE_CENTER[1], wc])
        d = pedicle_axis(side)
        parts.append(sdf_capsule(u, v, w, mid - PEDICLE_HALF_LENGTH * d,
                                 mid + PEDICLE_HALF_LENGTH * d, PEDICLE_RADIUS))
        parts.append(sdf_box(u, v, w, (side * 22.0, 27.0, wc), (9.0, 2.5, 3.5)))  # transverse
    lamina_v = CANAL_CENTER_V + CANAL_RADIUS + 2.5
    parts.append(sdf_box(u, v, w, (0.0, lamina_v, wc + 1.0), (15.0, 2.5, 7.0)))
    parts.append(sdf_box(u, v, w, (0.0, lamina_v + 8.0, wc - 1.0), (2.5, 8.0, 6.0)))  # spinous
    out = parts[0]
    for p in parts[1:]:
        out = np.minimum(out, p)
    return out


def anatomy_hu(u: np.ndarray, v: np.ndarray, w: np.ndarray, ramp_mm: float) -> np.ndarray:
    """Phantom HU (without metal) at local coordinates (mm), float64, same shape."""
    out = np.full(u.shape, HU_AIR, dtype=np.float64)

    def paint(sdf: np.ndarray, hu: float) -> None:
        f = coverage(sdf, ramp_mm)
        out[...] += f * (hu - out)

    vb = v - BODY_CENTER_V
    outline = sdf_ellipse(u, vb, *BODY_SEMI)
    paint(outline, HU_SKIN)
    paint(sdf_ellipse(u, vb, BODY_SEMI[0] - SKIN_MM, BODY_SEMI[1] - SKIN_MM), HU_FAT)
    inner = SKIN_MM + FAT_MM
    paint(sdf_ellipse(u, vb, BODY_SEMI[0] - inner, BODY_SEMI[1] - inner), HU_MUSCLE)
    paint(np.hypot(u, v - CANAL_CENTER_V) - CANAL_RADIUS, HU_CSF)
    for _, wc in VERTEBRAE:
        bone = vertebra_sdf(u, v, w, wc)
        paint(bone, HU_CORTICAL)
        paint(bone + CORTEX_MM, HU_CANCELLOUS)
    disc = np.maximum(sdf_ellipse(u, v, *VB_SEMI), np.abs(w) - DISC_HALF_HEIGHT)
    paint(disc, HU_ANNULUS)
    paint(np.maximum(sdf_ellipse(u, v + 1.5, 8.0, 6.0), np.abs(w) - DISC_HALF_HEIGHT + 1.0), HU_NUCLUS)
    return out


def screw_sdf(p: np.ndarray, screw: Screw) -> np.ndarray:
    """Signed distance (mm) to the screw (shaft with conical tip + head); ``p`` (..., 3) LPS."""
    d = screw.axis
    r = screw.diameter_mm / 2
    taper = 4.0  # last 4 mm narrow linearly to a 1 mm radius point
    shaft = sdf_capped_cylinder(p, screw.entry, screw.tip - taper * d, r)
    rel = p - screw.tip
    t = -(rel @ d)  # distance back from the tip along the axis
    radial = np.linalg.norm(rel + t[..., None] * d, axis=-1)
    cone_r = 1.0 + (r - 1.0) * np.clip(t / taper, 0, 1)
    cone = np.maximum(radial - cone_r, np.maximum(-t, t - taper))
    head = sdf_capped_cylinder(p, screw.entry - screw.head_length_mm * d, screw.entry,
                               screw.head_diameter_mm / 2)
    return np.minimum(np.minimum(shaft, cone), head)
