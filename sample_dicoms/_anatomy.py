"""Analytic model of a lumbar spine T12 (part) to S2 with lordosis, in patient LPS mm.

Each vertebra lives in its own frame: origin ``o`` = centre of the body (midsagittal,
half-way between the endplates), axes ``x`` (patient left, = LPS x), ``p`` (posterior in
the vertebra's own axial plane) and ``s`` (superior along its axis); the frame is the
LPS frame rotated by ``theta`` about x, ``p = (0, cos t, sin t)``, ``s = (0, -sin t, cos t)``:
``theta`` > 0 tilts the vertebra's anterior edge caudally (as the sacrum is).

Shapes (all analytic, so every truth value is exact):

* body: an elliptic cylinder (semi-axes W/2 and 0.6 D, centre 0.1 D posterior) cut by a
  flat posterior wall at p = D/2 and by two endplate planes through the midsagittal
  corners AS (p=-D/2, s=Ha/2), PS (D/2, Hp/2), PI (D/2, -Hp/2), AI (-D/2, -Ha/2);
  cortical shell = body minus the body shrunk by ``CORTEX_MM``;
* pedicle: elliptic cylinder (width w, height h) whose axis converges medially by the
  pedicle angle; its medial wall and the body's posterior wall and the laminae's inner
  faces bound the canal: in the axial plane through the pedicle axes the bony canal is
  exactly the pentagon (body wall, both pedicle walls, both laminae);
* laminae, spinous and transverse processes, pars, superior and inferior articular
  processes: oriented boxes.

Sizes by level are rounded from published morphometry (see README.md):
Panjabi et al. 1992 (bodies, canal), Zindrick et al. 1987 (pedicles), the T11-L5 pedicle
safe-zone study PMC2200778 (pedicle widths) and an osteometric series for the
interpedicular distances.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from _solids import Box, EllipticCylinder, HalfSpace, Intersection, ScrewShank, Solid

CORTEX_MM = 1.5
TAU_ISTHMUS = 5.0  # isthmus centre: mm along the pedicle's medial wall from the body wall
TAU_LAMINA = 9.0  # where the pedicle's medial wall meets the lamina (mm along the wall)
LAMINA_MM = 6.0
SACRAL_SLOPE_DEG = 30.0
LAMINECTOMY = "L4"

#: Per level: endplate width W, body depth D, anterior/posterior body height Ha/Hp,
#: pedicle width/height, pedicle (transverse) angle, interpedicular distance at the isthmus,
#: bony canal AP (midsagittal), transverse process and spinous process length (mm, deg).
LEVELS: dict[str, dict[str, float]] = {
    "T12": dict(W=40.0, D=30.0, Ha=23.0, Hp=24.5, w=7.8, h=16.0, angle=6.0, ipd=20.0, ap=17.0, tp=8.0, sp=26.0),
    "L1": dict(W=42.0, D=31.0, Ha=24.5, Hp=26.5, w=8.0, h=15.5, angle=10.0, ipd=21.0, ap=17.5, tp=14.0, sp=27.0),
    "L2": dict(W=44.0, D=32.5, Ha=26.0, Hp=27.5, w=8.5, h=15.0, angle=12.0, ipd=22.0, ap=17.0, tp=18.0, sp=28.0),
    "L3": dict(W=46.0, D=34.0, Ha=27.0, Hp=27.5, w=10.0, h=14.8, angle=14.0, ipd=22.5, ap=16.0, tp=22.0, sp=28.0),
    "L4": dict(W=48.0, D=35.0, Ha=27.0, Hp=26.5, w=12.5, h=14.5, angle=18.0, ipd=23.5, ap=15.5, tp=18.0, sp=26.0),
    "L5": dict(W=50.0, D=35.0, Ha=27.0, Hp=24.0, w=17.0, h=14.0, angle=28.0, ipd=25.0, ap=16.0, tp=14.0, sp=22.0),
    "S1": dict(W=50.0, D=36.0, Ha=28.0, Hp=26.0, w=18.0, h=14.0, angle=30.0, ipd=26.0, ap=14.0, tp=0.0, sp=16.0),
}
ORDER = ("S1", "L5", "L4", "L3", "L2", "L1", "T12")  # built from the sacrum upward

#: Discs, (upper, lower): disc angle (deg, lordotic > 0), posterior height along the lower
#: endplate's normal (mm), anterior slip of the upper body along the lower endplate (mm).
DISCS: dict[tuple[str, str], dict[str, float]] = {
    ("L5", "S1"): dict(angle=9.0, hp=3.0, slip=0.0),  # narrowed (degenerated, discectomy level)
    ("L4", "L5"): dict(angle=10.0, hp=6.5, slip=5.6),  # degenerative spondylolisthesis, grade I
    ("L3", "L4"): dict(angle=9.0, hp=7.0, slip=0.0),
    ("L2", "L3"): dict(angle=7.0, hp=7.0, slip=0.0),
    ("L1", "L2"): dict(angle=5.0, hp=6.5, slip=0.0),
    ("T12", "L1"): dict(angle=2.0, hp=6.5, slip=0.0),
}
#: Translation applied to the whole spine so that L3's body centre lands here (LPS mm).
L3_CENTER_LPS = np.array([0.0, 4.0, -160.0])


@dataclass
class Vertebra:
    """One level: its name, size parameters and frame (origin LPS mm, rotation 3x3)."""

    name: str
    dims: dict[str, float]
    origin: np.ndarray
    theta: float  # radians

    @property
    def rot(self) -> np.ndarray:
        c, s = np.cos(self.theta), np.sin(self.theta)
        return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])  # columns x, p, s

    def lps(self, local) -> np.ndarray:
        """Local (x, p, s) mm -> LPS mm (any leading shape)."""
        return self.origin + np.asarray(local, float) @ self.rot.T

    def vec(self, local) -> np.ndarray:
        return np.asarray(local, float) @ self.rot.T

    @property
    def half_wedge(self) -> float:
        d = self.dims
        return float(np.arctan2((d["Ha"] - d["Hp"]) / 2, d["D"]))

    def corners_local(self) -> np.ndarray:
        """AS, PS, PI, AI in local (x, p, s) mm (the order of miss_imaging.spine.Vertebra)."""
        d = self.dims
        return np.array([[0, -d["D"] / 2, d["Ha"] / 2], [0, d["D"] / 2, d["Hp"] / 2],
                         [0, d["D"] / 2, -d["Hp"] / 2], [0, -d["D"] / 2, -d["Ha"] / 2]])

    def corners(self) -> np.ndarray:
        return self.lps(self.corners_local())

    # --- posterior elements in the axial plane through the pedicle axes -------------------
    @property
    def s_pedicle(self) -> float:
        return self.dims["Hp"] / 2 - self.dims["h"] / 2 - 1.0

    def pedicle_2d(self, side: int) -> dict[str, np.ndarray]:
        """Local (x, p) of the pedicle's medial-wall start ``m0`` (at the body wall), its
        posterior-lateral direction ``d``, lateral normal ``n`` and the lamina corner."""
        d, a = self.dims, np.deg2rad(self.dims["angle"])
        direction = np.array([side * np.sin(a), np.cos(a)])
        normal = np.array([side * np.cos(a), -np.sin(a)])
        xm = d["ipd"] / 2 - TAU_ISTHMUS * np.sin(a)
        m0 = np.array([side * xm, d["D"] / 2])
        return {"m0": m0, "d": direction, "n": normal, "corner": m0 + TAU_LAMINA * direction}

    def pedicle_axis_point(self, side: int, tau: float, medial_offset: float = 0.0) -> np.ndarray:
        """LPS point on the pedicle axis (optionally shifted medially), ``tau`` mm along it
        (positive posterior-lateral) from the isthmus."""
        g = self.pedicle_2d(side)
        xy = g["m0"] + (self.dims["w"] / 2 - medial_offset) * g["n"] + (TAU_ISTHMUS + tau) * g["d"]
        return self.lps([xy[0], xy[1], self.s_pedicle])

    def pedicle_dir(self, side: int) -> np.ndarray:
        """Unit LPS vector along the pedicle axis pointing anterior-medially (into the body)."""
        g = self.pedicle_2d(side)
        return self.vec([-g["d"][0], -g["d"][1], 0.0])

    def canal_polygon_local(self) -> np.ndarray:
        """Bony canal outline (x, p) mm in the pedicle plane: R wall, R lamina corner, top,
        L lamina corner, L wall (counter-clockwise in (x, p))."""
        r, l = self.pedicle_2d(-1), self.pedicle_2d(+1)
        top = np.array([0.0, self.dims["D"] / 2 + self.dims["ap"]])
        return np.array([r["m0"], r["corner"], top, l["corner"], l["m0"]])


def _normal_up(v: Vertebra, which: str) -> np.ndarray:
    c = v.corners()
    a, b = (c[1], c[0]) if which == "sup" else (c[2], c[3])
    e = (b - a) / np.linalg.norm(b - a)  # posterior -> anterior along the endplate
    n = np.array([0.0, e[2], -e[1]])  # e rotated +90 deg in the (y, z) plane
    return n if n[2] > 0 else -n


def build_spine() -> dict[str, Vertebra]:
    """Stack the vertebrae from S1 upward through the discs (DISCS), then translate."""
    d = LEVELS["S1"]
    s1 = Vertebra("S1", d, np.zeros(3), 0.0)
    s1.theta = np.deg2rad(SACRAL_SLOPE_DEG) + s1.half_wedge  # superior endplate at the slope
    spine = {"S1": s1}
    for upper, lower in zip(ORDER[1:], ORDER[:-1]):
        lo, disc = spine[lower], DISCS[(upper, lower)]
        c = lo.corners()
        e = (c[0] - c[1]) / np.linalg.norm(c[0] - c[1])
        pi_u = c[1] + disc["hp"] * _normal_up(lo, "sup") + disc["slip"] * e
        v = Vertebra(upper, LEVELS[upper], np.zeros(3), 0.0)
        beta_inf = (lo.theta - lo.half_wedge) - np.deg2rad(disc["angle"])
        v.theta = beta_inf - v.half_wedge
        v.origin = pi_u - v.vec(v.corners_local()[2])
        spine[upper] = v
    shift = L3_CENTER_LPS - spine["L3"].origin
    for v in spine.values():
        v.origin = v.origin + shift
    return spine


# --- solids ---------------------------------------------------------------------------------

def body_solid(v: Vertebra, inset: float = 0.0, scale: float = 1.0) -> Solid:
    """Vertebral body (``inset`` > 0 shrinks it: the cancellous core)."""
    d = v.dims
    w2, b = d["W"] / 2 * scale - inset, 0.6 * d["D"] * scale - inset
    cyl = EllipticCylinder(v.lps([0, 0.1 * d["D"], 0]), v.rot, w2, b, max(d["Ha"], d["Hp"]) / 2 + 1)
    back = HalfSpace(v.lps([0, d["D"] / 2 - inset, 0]), v.vec([0, 1, 0]))
    k = (d["Ha"] - d["Hp"]) / 2
    n_sup, n_inf = v.vec([0, k, d["D"]]), v.vec([0, k, -d["D"]])
    n_sup, n_inf = n_sup / np.linalg.norm(n_sup), n_inf / np.linalg.norm(n_inf)
    sup = HalfSpace(v.lps([0, d["D"] / 2, d["Hp"] / 2]) - inset * n_sup, n_sup)
    inf = HalfSpace(v.lps([0, d["D"] / 2, -d["Hp"] / 2]) - inset * n_inf, n_inf)
    return Intersection([cyl, back, sup, inf])


def _box(v: Vertebra, centre_local, axes_local: np.ndarray, half, inset: float) -> Box:
    return Box(v.lps(centre_local), v.rot @ axes_local, np.maximum(np.asarray(half, float) - inset, 0.3))


def _axes_rot_s(angle_deg: float) -> np.ndarray:
    """Local axes (columns) rotated about s by ``angle_deg`` in the (x, p) plane."""
    a = np.deg2rad(angle_deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]])


def pedicle_solid(v: Vertebra, side: int, inset: float = 0.0) -> Solid:
    g, d = v.pedicle_2d(side), v.dims
    tau_a, tau_b = -TAU_ISTHMUS - 12.0, TAU_LAMINA + 6.0 - TAU_ISTHMUS
    centre = v.pedicle_axis_point(side, (tau_a + tau_b) / 2)
    u = np.column_stack([v.vec([g["n"][0], g["n"][1], 0]), v.vec([0, 0, 1.0]), v.vec([g["d"][0], g["d"][1], 0])])
    return EllipticCylinder(centre, u, d["w"] / 2 - inset, d["h"] / 2 - inset, (tau_b - tau_a) / 2 - inset)


def lamina_solid(v: Vertebra, side: int, inset: float = 0.0) -> Solid:
    corner = v.pedicle_2d(side)["corner"]
    top = np.array([0.0, v.dims["D"] / 2 + v.dims["ap"]])
    e = (top - corner) / np.linalg.norm(top - corner)
    n = np.array([-e[1], e[0]])
    if n[1] < 0:  # the lamina lies on the posterior side of its inner face
        n = -n
    a, b = corner - 6.0 * e, top + 5.0 * e
    mid = (a + b) / 2 + n * LAMINA_MM / 2
    axes = np.array([[e[0], n[0], 0], [e[1], n[1], 0], [0, 0, 1.0]])
    s0 = v.s_pedicle - 5.0
    return _box(v, [mid[0], mid[1], s0], axes, [np.linalg.norm(b - a) / 2, LAMINA_MM / 2, 11.0], inset)


def posterior_boxes(v: Vertebra, side: int, inset: float) -> list[Solid]:
    """Transverse process, pars, superior and inferior articular processes of one side."""
    d, g, sp = v.dims, v.pedicle_2d(side), v.s_pedicle
    cx, cp = g["corner"] + d["w"] * g["n"] / 2  # lateral edge of the pedicle at the lamina
    out = [_box(v, [cx - side * 1.0, cp + 3.0, sp - 9.0], np.eye(3), [3.5, 4.0, 8.0], inset),  # pars
           _box(v, [cx + side * 0.5, cp + 3.0, sp + d["h"] / 2 + 4.0], _axes_rot_s(side * 40.0),
                [2.5, 5.5, 8.0], inset),  # superior articular process
           ]
    if v.name != "S1":
        out.append(_box(v, [cx - side * 3.0, cp + 6.5, sp - 20.0], _axes_rot_s(side * 40.0),
                        [2.5, 5.0, 8.5], inset))  # inferior articular process
    if d["tp"] > 0:
        out.append(_box(v, [cx + side * (d["tp"] / 2 + 1.0), cp - 1.0, sp], np.eye(3),
                        [d["tp"] / 2 + 3.0, 3.0, 5.0], inset))
    return out


def vertebra_solids(v: Vertebra, inset: float) -> list[Solid]:
    """All bony solids of a level; ``inset`` 0 = outer (cortical) surface, > 0 = cancellous core."""
    d = v.dims
    out: list[Solid] = [body_solid(v, inset)]
    for side in (-1, 1):
        out.append(pedicle_solid(v, side, inset))
        out += posterior_boxes(v, side, inset)
        if v.name != LAMINECTOMY:
            out.append(lamina_solid(v, side, inset))
    if v.name != LAMINECTOMY:
        out.append(_box(v, [0, d["D"] / 2 + d["ap"] + d["sp"] / 2 + 4.0, v.s_pedicle - 4.0], np.eye(3),
                        [3.5, d["sp"] / 2 + 3.0, 9.5], inset))
    if v.name == "S1":
        for side in (-1, 1):  # sacral alae
            out.append(_box(v, [side * (d["W"] / 2 + 12.0), 4.0, -4.0], np.eye(3), [16.0, 14.0, 16.0], inset))
        s2 = Vertebra("S2", dict(W=40.0, D=30.0, Ha=24.0, Hp=24.0), v.lps([0, 2.0, -d["Ha"] / 2 - 11.0]), v.theta)
        out.append(body_solid(s2, inset))
        out.append(_box(v, [0, 22.0, -24.0], np.eye(3), [24.0, 7.0, 14.0], inset))  # lateral masses / S2 arch
    return out


@dataclass
class PlacedScrew:
    """A pedicle screw of the phantom (LPS mm)."""

    level: str
    side: str
    diameter_mm: float
    length_mm: float
    medial_offset_mm: float  # trajectory shifted medially from the pedicle axis
    entry: np.ndarray = field(default_factory=lambda: np.zeros(3))
    tip: np.ndarray = field(default_factory=lambda: np.zeros(3))

    @property
    def axis(self) -> np.ndarray:
        return (self.tip - self.entry) / np.linalg.norm(self.tip - self.entry)


SCREWS = (("L4", "left", 6.5, 45.0, 5.6), ("L4", "right", 6.5, 45.0, 0.0),
          ("L5", "left", 7.0, 45.0, 0.0), ("L5", "right", 7.0, 45.0, 0.0))
SCREW_TAPER_MM, SCREW_TIP_RADIUS_MM = 5.0, 1.0
HEAD_DIAMETER_MM, HEAD_LENGTH_MM = 11.0, 14.0


def bone_sdf(spine: dict[str, Vertebra], p: np.ndarray) -> np.ndarray:
    """Signed lower bound of the distance to the union of all outer bone surfaces (mm)."""
    out = np.full(p.shape[:-1], np.inf)
    for v in spine.values():
        for s in vertebra_solids(v, 0.0):
            out = np.minimum(out, s.sdf(p))
    return out


def exit_point(spine: dict[str, Vertebra], start: np.ndarray, inward: np.ndarray) -> np.ndarray:
    """Where the line from ``start`` (inside bone) backward along ``-inward`` leaves the
    posterior bone surface, by bisection to 1e-9 mm (LPS mm)."""
    steps = np.arange(0.0, 60.0, 0.25)
    inside = bone_sdf(spine, start[None] - steps[:, None] * inward[None]) < 0
    k = int(np.argmin(inside))  # first sample outside bone
    lo, hi = steps[k - 1], steps[k]
    while hi - lo > 1e-9:
        mid = (lo + hi) / 2
        if bone_sdf(spine, (start - mid * inward)[None])[0] < 0:
            lo = mid
        else:
            hi = mid
    return start - hi * inward


def place_screws(spine: dict[str, Vertebra]) -> list[PlacedScrew]:
    """Screws along (or medially beside) the pedicle axes; entry = where the trajectory
    leaves the posterior bone."""
    screws = []
    for level, side_name, dia, length, offset in SCREWS:
        v, side = spine[level], (1 if side_name == "left" else -1)
        inward = v.pedicle_dir(side)
        entry = exit_point(spine, v.pedicle_axis_point(side, 0.0, offset), inward)
        screws.append(PlacedScrew(level, side_name, dia, length, offset, entry, entry + length * inward))
    return screws


def screw_solids(s: PlacedScrew) -> list[Solid]:
    """Shank (with tapered tip) and the polyaxial head proximal to the entry."""
    shank = ScrewShank(s.entry, s.tip, s.diameter_mm / 2, SCREW_TAPER_MM, SCREW_TIP_RADIUS_MM)
    head_c = s.entry - s.axis * (HEAD_LENGTH_MM / 2 + 1.0)
    head = EllipticCylinder(head_c, _axis_frame(s.axis), HEAD_DIAMETER_MM / 2, HEAD_DIAMETER_MM / 2,
                            HEAD_LENGTH_MM / 2)
    return [shank, head]


def _axis_frame(axis: np.ndarray) -> np.ndarray:
    """Rotation whose third column is ``axis``."""
    helper = np.array([1.0, 0, 0]) if abs(axis[0]) < 0.9 else np.array([0, 1.0, 0])
    a = np.cross(axis, helper)
    a /= np.linalg.norm(a)
    return np.column_stack([a, np.cross(axis, a), axis])

