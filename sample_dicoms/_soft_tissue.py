"""Soft tissues, discs, canal contents and table around the analytic spine (LPS mm, HU).

``layers(spine, screws, z_range)`` lists ``(name, HU, solid, supersampling)`` in
painting order (later layers cover earlier ones): air is the background, then the
table, skin, subcutaneous fat, abdominal wall and viscera, retroperitoneal fat,
psoas and paraspinal muscles, vessels, bowel gas, epidural and foraminal fat, the
thecal sac and nerve roots, discs (annulus, nucleus), cortical then cancellous bone,
and the titanium screws last.
"""

from __future__ import annotations

import numpy as np

import _anatomy as an
from _solids import Box, EllipticCylinder, Ellipsoid, HalfSpace, Intersection, Solid

HU = {"air": -1000.0, "table": 150.0, "skin": 40.0, "fat": -100.0, "muscle": 50.0, "wall": 40.0,
      "viscera": 30.0, "gas": -950.0, "blood": 40.0, "csf": 8.0, "nerve": 35.0, "annulus": 90.0,
      "nucleus": 60.0, "vacuum": -700.0, "cortical": 1100.0, "cancellous": 180.0, "titanium": 4000.0}

#: Body outline: elliptic cylinder along z, centre (x, y) and semi-axes (mm).
BODY_CENTER_XY = (0.0, 5.0)
BODY_SEMI = (124.0, 97.0)
SKIN_MM = 2.0
TABLE_TOP_GAP_MM, TABLE_MM = 2.0, 10.0
#: Abdominal wall / viscera interior (inside the subcutaneous fat): centre y and semi-axes.
INTERIOR = ((0.0, 8.0), (108.0, 82.0))
PSOAS_RADIUS = {"L1": 9.0, "L2": 12.0, "L3": 15.0, "L4": 18.0, "L5": 20.0, "S1": 18.0}

Layer = tuple[str, float, Solid, int]


def _zcyl(cx: float, cy: float, a: float, b: float, z0: float, z1: float) -> EllipticCylinder:
    return EllipticCylinder(np.array([cx, cy, (z0 + z1) / 2]), np.eye(3), a, b, (z1 - z0) / 2)


def outline_layers(z0: float, z1: float) -> list[Layer]:
    """Table, skin, fat and the abdominal interior (z-invariant between z0 and z1)."""
    (bx, by), (a, b) = BODY_CENTER_XY, BODY_SEMI
    table_y = by - b - TABLE_TOP_GAP_MM - TABLE_MM / 2
    (ix, iy), (ia, ib) = INTERIOR
    return [("table", HU["table"], Box([0.0, table_y, (z0 + z1) / 2], np.eye(3), [150.0, TABLE_MM / 2, (z1 - z0) / 2]), 2),
            ("skin", HU["skin"], _zcyl(bx, by, a, b, z0, z1), 2),
            ("subcutaneous fat", HU["fat"], _zcyl(bx, by, a - SKIN_MM, b - SKIN_MM, z0, z1), 2),
            ("abdominal wall", HU["wall"], _zcyl(ix, iy, ia, ib, z0, z1), 2),
            ("viscera", HU["viscera"], _zcyl(0.0, -22.0, 96.0, 50.0, z0, z1), 1),
            ("retroperitoneal fat", HU["fat"], _zcyl(0.0, 12.0, 72.0, 34.0, z0, z1), 1)]


def muscle_and_vessel_layers(spine: dict[str, an.Vertebra]) -> list[Layer]:
    """Psoas and paraspinal muscles, aorta/iliacs, IVC and bowel gas, per level."""
    out: list[Layer] = []
    planes: list[Layer] = []  # painted first, so that the muscles of adjacent levels join
    for name, v in spine.items():
        z, y, d = v.origin[2], v.origin[1], v.dims
        ant = y - d["D"] / 2
        lam_y = y + d["D"] / 2 + d["ap"] + 6.0
        for side in (-1, 1):
            planes.append(("paraspinal fat plane", HU["fat"], _zcyl(side * 28.0, lam_y + 12.0, 27.0, 23.0, z - 20, z + 20), 1))
            out.append(("paraspinal", HU["muscle"], _zcyl(side * 28.0, lam_y + 12.0, 26.0, 22.0, z - 20, z + 20), 2))
            if name in PSOAS_RADIUS:
                r = PSOAS_RADIUS[name]
                shift = 14.0 if name == "S1" else 0.0
                out.append(("psoas", HU["muscle"],
                            _zcyl(side * (d["W"] / 2 + 0.85 * r + shift), y + 4.0 - shift, r, r * 0.85, z - 20, z + 20), 2))
        if name in ("T12", "L1", "L2", "L3"):
            out.append(("aorta", HU["blood"], _zcyl(9.0, ant - 11.0, 10.0, 10.0, z - 20, z + 20), 2))
            out.append(("vena cava", HU["blood"], _zcyl(-19.0, ant - 7.0, 11.0, 8.0, z - 20, z + 20), 2))
        elif name in ("L4", "L5"):
            spread = 14.0 if name == "L4" else 26.0
            for side in (-1, 1):
                out.append(("iliac vessels", HU["blood"], _zcyl(side * spread, ant - 8.0, 7.0, 6.5, z - 20, z + 20), 2))
    for c, s in (((40.0, -58.0, -120.0), (15.0, 10.0, 20.0)), ((-35.0, -52.0, -200.0), (18.0, 9.0, 14.0)),
                 ((12.0, -64.0, -245.0), (12.0, 8.0, 10.0))):
        out.append(("bowel gas", HU["gas"], Ellipsoid(np.array(c), np.eye(3), np.array(s)), 2))
    return planes + out


def canal_layers(spine: dict[str, an.Vertebra], foramina: dict) -> list[Layer]:
    """Epidural fat and thecal sac per level, foraminal fat and exiting nerve roots."""
    out: list[Layer] = []
    for name, v in spine.items():
        d = v.dims
        c = v.lps([0.0, d["D"] / 2 + d["ap"] / 2, 0.0])
        length = (d["Ha"] + d["Hp"]) / 4 + 8.0
        out.append(("epidural fat", HU["fat"], EllipticCylinder(c, v.rot, d["ipd"] / 2 + 3.0, d["ap"] / 2 + 1.0, length), 2))
        sac = 0.5 if name == "S1" else 1.0
        out.append(("thecal sac", HU["csf"],
                    EllipticCylinder(v.lps([0.0, d["D"] / 2 + d["ap"] * 0.5, 0.0]), v.rot,
                                     d["ipd"] * 0.33 * sac, d["ap"] * 0.3 * sac, length), 2))
    for key, f in foramina.items():
        for side, sign in (("left", 1), ("right", -1)):
            mid = (np.asarray(f[side]["upper_point_lps_mm"]) + np.asarray(f[side]["lower_point_lps_mm"])) / 2
            h = f[side]["height_mm"]
            out.append(("foraminal fat", HU["fat"], Ellipsoid(mid + [0, 2.0, 0], np.eye(3),
                                                              np.array([8.0, 6.0, max(h / 2, 3.0)])), 2))
            axis = np.array([sign * 0.8, -0.3, -0.5])
            u = an._axis_frame(axis / np.linalg.norm(axis))
            out.append(("nerve root", HU["nerve"], EllipticCylinder(mid + [0, 0, 3.0], u, 2.5, 2.5, 12.0), 2))
    return out


def disc_layers(spine: dict[str, an.Vertebra]) -> list[Layer]:
    """Annulus between the facing endplates, nucleus (and a vacuum cleft in the narrowed disc)."""
    out: list[Layer] = []
    for (upper, lower), params in an.DISCS.items():
        u, lo = spine[upper], spine[lower]
        ub, lb = an.body_solid(u), an.body_solid(lo)
        below_upper = HalfSpace(ub.parts[3].point, -ub.parts[3].normal)
        above_lower = HalfSpace(lb.parts[2].point, -lb.parts[2].normal)
        d = lo.dims
        cyl = EllipticCylinder(lo.lps([0, 0.1 * d["D"], d["Hp"] / 2]), lo.rot, d["W"] / 2 + 1.0, 0.6 * d["D"] + 1.0, 16.0)
        back = HalfSpace(lo.lps([0, d["D"] / 2 + 1.0, 0]), lo.vec([0, 1.0, 0]))
        out.append(("annulus", HU["annulus"], Intersection([cyl, back, below_upper, above_lower]), 2))
        cu, cl = u.corners(), lo.corners()
        centre = ((cu[2] + cu[3]) / 2 + (cl[0] + cl[1]) / 2) / 2
        height = np.linalg.norm((cu[2] + cu[3]) / 2 - (cl[0] + cl[1]) / 2)
        rot = an.Vertebra("mid", d, centre, (u.theta + lo.theta) / 2).rot
        narrowed = params["hp"] < 4.0
        semi = np.array([d["W"] * 0.22, d["D"] * 0.2, height * 0.3])
        out.append(("nucleus", HU["annulus" if narrowed else "nucleus"], Ellipsoid(centre, rot, semi), 2))
        if narrowed:
            out.append(("vacuum cleft", HU["vacuum"], Ellipsoid(centre, rot, np.array([7.0, 3.0, 0.9])), 3))
    return out


def bone_layers(spine: dict[str, an.Vertebra]) -> list[Layer]:
    cortical = [("cortical bone", HU["cortical"], s, 3) for v in spine.values() for s in an.vertebra_solids(v, 0.0)]
    cancellous = [("cancellous bone", HU["cancellous"], s, 3) for v in spine.values()
                  for s in an.vertebra_solids(v, an.CORTEX_MM)]
    return cortical + cancellous


def layers(spine: dict[str, an.Vertebra], screws: list[an.PlacedScrew], foramina: dict,
           z0: float, z1: float) -> list[Layer]:
    """Everything in painting order."""
    metal = [("titanium screw", HU["titanium"], s, 4) for sc in screws for s in an.screw_solids(sc)]
    return (outline_layers(z0, z1) + muscle_and_vessel_layers(spine) + canal_layers(spine, foramina)
            + disc_layers(spine) + bone_layers(spine) + metal)
