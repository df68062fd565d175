"""Exact truth of the lumbar phantom, computed from the analytic model (never from pixels).

Definitions follow the spine tools (issue 15, README "Spine measurements"): corners in the
order anterior-superior, posterior-superior, posterior-inferior, anterior-inferior; disc
heights between facing corners and endplate midpoints; angles in the sagittal plane,
positive lordotic; slip along the lower body's superior endplate in % of its length,
positive anterior, Meyerding grades; modified Gertzbein-Robbins breach grades.
"""

from __future__ import annotations

import numpy as np

import _anatomy as an
import _soft_tissue as st


def inclination_deg(posterior: np.ndarray, anterior: np.ndarray) -> float:
    """Angle (deg) of an endplate line below the axial plane toward anterior (LPS: -y, -z)."""
    v = anterior - posterior
    return float(np.degrees(np.arctan2(-v[2], -v[1])))


def meyerding(percent: float) -> str:
    """Meyerding grade of a slip in % ("none" for no translation, by construction exact 0)."""
    if abs(percent) < 1e-6:
        return "none"
    if percent < 0:
        return "retrolisthesis"
    for limit, grade in ((25, "I"), (50, "II"), (75, "III"), (100, "IV")):
        if percent <= limit:
            return grade
    return "V"


def gertzbein_robbins(distance_mm: float) -> str:
    if distance_mm <= 0:
        return "A"
    return "B" if distance_mm < 2 else "C" if distance_mm < 4 else "D" if distance_mm < 6 else "E"


def _foramen(u: an.Vertebra, lo: an.Vertebra, side: int) -> dict:
    """Pedicle-to-pedicle height on the parasagittal plane midway between the two isthmus
    centres: upper pedicle's inferior edge line to lower pedicle's superior edge line."""
    x = (u.pedicle_axis_point(side, 0.0)[0] + lo.pedicle_axis_point(side, 0.0)[0]) / 2

    def edge_point(v: an.Vertebra, ds: float) -> np.ndarray:
        a, b = v.pedicle_axis_point(side, 0.0), v.pedicle_axis_point(side, 1.0)
        t = (x - a[0]) / (b[0] - a[0])
        return a + t * (b - a) + ds * v.vec([0, 0, 1.0])

    pu, pl = edge_point(u, -u.dims["h"] / 2), edge_point(lo, lo.dims["h"] / 2)
    return {"height_mm": float(np.linalg.norm(pu - pl)), "plane_x_lps_mm": float(x),
            "upper_point_lps_mm": pu.tolist(), "lower_point_lps_mm": pl.tolist()}


def foramina(spine: dict[str, an.Vertebra]) -> dict:
    return {f"{u}-{lo}": {"left": _foramen(spine[u], spine[lo], 1), "right": _foramen(spine[u], spine[lo], -1)}
            for (u, lo) in an.DISCS}


def disc_truth(spine: dict[str, an.Vertebra], fora: dict) -> dict:
    out = {}
    for (upper, lower) in an.DISCS:
        cu, cl = spine[upper].corners(), spine[lower].corners()
        ep = np.linalg.norm(cl[0] - cl[1])
        e = (cl[0] - cl[1]) / ep
        pct = round(float((cu[2] - cl[1]) @ e / ep * 100), 9)
        post = float(np.linalg.norm(cu[2] - cl[1]))
        fh = fora[f"{upper}-{lower}"]
        out[f"{upper}-{lower}"] = {
            "anterior_mm": float(np.linalg.norm(cu[3] - cl[0])), "posterior_mm": post,
            "middle_mm": float(np.linalg.norm((cu[2] + cu[3]) / 2 - (cl[0] + cl[1]) / 2)),
            "disc_angle_deg": inclination_deg(cl[1], cl[0]) - inclination_deg(cu[2], cu[3]),
            "segmental_angle_deg": inclination_deg(cl[2], cl[3]) - inclination_deg(cu[1], cu[0]),
            "slip_percent": pct, "slip_grade": meyerding(pct),
            "slip_mm": float((cu[2] - cl[1]) @ e), "lower_endplate_length_mm": float(ep),
            "foraminal_height_mm": {s: fh[s]["height_mm"] for s in ("left", "right")},
            "likely_root_compression": bool(post <= 4.0 or min(fh[s]["height_mm"] for s in fh) <= 15.0),
        }
    return out


def canal_truth(v: an.Vertebra) -> dict:
    if v.name == an.LAMINECTOMY:
        return {"enclosed": False, "reason": "laminectomy: laminae and spinous process removed"}
    poly = v.canal_polygon_local()
    x, p = poly[:, 0], poly[:, 1]
    cross = x * np.roll(p, -1) - np.roll(x, -1) * p
    area = cross.sum() / 2
    cx, cp = (x + np.roll(x, -1)) @ cross / (6 * area), (p + np.roll(p, -1)) @ cross / (6 * area)
    ap = v.dims["ap"]
    return {"enclosed": True, "ap_mm": ap, "area_mm2": float(abs(area)),
            "width_at_isthmus_mm": v.dims["ipd"],
            "centroid_lps_mm": v.lps([cx, cp, v.s_pedicle]).tolist(),
            "plane_normal_lps": v.vec([0, 0, 1.0]).tolist(),
            "ap_direction_lps": v.vec([0, 1.0, 0]).tolist(),
            "outline_lps_mm": v.lps(np.column_stack([x, p, np.full(len(x), v.s_pedicle)])).tolist(),
            "stenosis": "absolute" if ap < 10 else "relative" if ap < 12 else "none"}


def pedicle_truth(v: an.Vertebra, side: int) -> dict:
    axis = v.pedicle_dir(side)
    return {"isthmus_center_lps_mm": v.pedicle_axis_point(side, 0.0).tolist(),
            "axis_lps": axis.tolist(), "isthmus_width_mm": v.dims["w"], "height_mm": v.dims["h"],
            "medial_angle_deg": float(np.degrees(np.arctan2(-np.sign(side) * axis[0], -axis[1]))),
            "caudal_angle_deg": float(np.degrees(np.arctan2(-axis[2], -axis[1])))}


def skin_exit(point: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Where the ray point + t*direction (t > 0) leaves the skin's elliptic cylinder."""
    (cx, cy), (a, b) = st.BODY_CENTER_XY, st.BODY_SEMI
    px, py, dx, dy = point[0] - cx, point[1] - cy, direction[0], direction[1]
    qa = (dx / a) ** 2 + (dy / b) ** 2
    qb = 2 * (px * dx / a**2 + py * dy / b**2)
    qc = (px / a) ** 2 + (py / b) ** 2 - 1
    t = (-qb + np.sqrt(qb * qb - 4 * qa * qc)) / (2 * qa)
    return point + t * direction


def screw_truth(spine: dict[str, an.Vertebra], s: an.PlacedScrew) -> dict:
    v = spine[s.level]
    clearance = v.dims["w"] / 2 - s.medial_offset_mm - s.diameter_mm / 2
    breach = max(0.0, -clearance)
    side = 1 if s.side == "left" else -1
    a = s.axis
    skin = skin_exit(s.entry, -a)
    return {
        "level": s.level, "side": s.side, "entry_lps_mm": s.entry.tolist(), "tip_lps_mm": s.tip.tolist(),
        "axis_lps": a.tolist(), "diameter_mm": s.diameter_mm, "length_mm": s.length_mm,
        "head_diameter_mm": an.HEAD_DIAMETER_MM, "head_length_mm": an.HEAD_LENGTH_MM,
        "head_gap_mm": 1.0, "tip_taper_mm": an.SCREW_TAPER_MM, "tip_radius_mm": an.SCREW_TIP_RADIUS_MM,
        "medial_offset_from_pedicle_axis_mm": s.medial_offset_mm,
        "pedicle_wall_clearance_mm": float(max(clearance, 0.0)),
        "breach_mm": breach, "breach_direction": "medial" if breach > 0 else None,
        "gertzbein_robbins": gertzbein_robbins(breach),
        "medial_angle_deg": float(np.degrees(np.arctan2(-side * a[0], -a[1]))),
        "caudal_angle_deg": float(np.degrees(np.arctan2(-a[2], -a[1]))),
        "skin_exit_lps_mm": skin.tolist(), "skin_to_entry_mm": float(np.linalg.norm(skin - s.entry)),
    }


def level_truth(spine: dict[str, an.Vertebra]) -> dict:
    out = {}
    for name, v in spine.items():
        c = v.corners()
        canal = canal_truth(v)
        z_ref = np.asarray(canal["centroid_lps_mm"]) if canal["enclosed"] else v.lps([0, v.dims["D"], v.s_pedicle])
        out[name] = {
            "corners_lps_mm": c.tolist(), "corner_order": ["AS", "PS", "PI", "AI"],
            "body_center_lps_mm": v.origin.tolist(), "tilt_deg": float(np.degrees(v.theta)),
            "superior_endplate_inclination_deg": inclination_deg(c[1], c[0]),
            "inferior_endplate_inclination_deg": inclination_deg(c[2], c[3]),
            "dimensions_mm": {k: v.dims[k] for k in ("W", "D", "Ha", "Hp")},
            "pedicles": {"left": pedicle_truth(v, 1), "right": pedicle_truth(v, -1)},
            "canal": canal,
            "skin_posterior_midline_lps_mm": skin_exit(np.array([0.0, z_ref[1], z_ref[2]]), np.array([0, 1.0, 0])).tolist(),
        }
    return out
