"""The default demo: the anatomical lumbar CT beside the lateral fluoroscopy shot of the same spine.

Every ruler is :func:`miss_imaging.measure_distance` on ``truth.json``
landmarks (CT: LPS mm through the CT's affine; lateral: the CT landmarks
projected by the shot's :class:`miss_imaging.CArm`, or the truth's detector
pixels), so the numbers show the tool at work and the truth printed beside
them shows how close it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from miss_imaging.carm import CArm
from miss_imaging.demo.scene import DemoItem, Ruler
from miss_imaging.demo.spine import access_findings, screw_findings
from miss_imaging.display.presets import PRESETS, default_window
from miss_imaging.measurement.measure import measure_distance
from miss_imaging.reading.loader import load
from miss_imaging.model import ImageVolume
from miss_imaging.spine import Vertebra, disc_height, lordosis, slip, snap_corners

__all__ = ["lumbar_scene", "shot_carm"]

SCREW = ("L4", "left")  # the screw the rulers measure: the one that breaches medially (truth grade C)
DISC = ("L4", "L5")  # the slipped level (grade I) whose disc the rulers measure


def shot_carm(shot: dict[str, Any]) -> CArm:
    """The C-arm pose of a fluoroscopy shot recorded in ``truth.json`` (``lumbar_fluoro.shots.<name>``)."""
    return CArm(sid=shot["sid_mm"], sod=shot["sod_mm"], primary_deg=shot["positioner_primary_angle_deg"],
                secondary_deg=shot["positioner_secondary_angle_deg"], isocenter=tuple(shot["isocenter_lps_mm"]),
                rows=shot["rows"], cols=shot["columns"], pixel_mm=tuple(shot["imager_pixel_spacing_mm"]))


def _screw(records: list[dict[str, Any]]) -> dict[str, Any]:
    return next(s for s in records if (s["level"], s["side"]) == SCREW)


def _snapped(ct: ImageVolume, v: Vertebra) -> Vertebra:
    s = snap_corners(ct, v)
    return s if isinstance(s, Vertebra) else Vertebra(v.label, s)


def _level_findings(ct: ImageVolume, tc: dict[str, Any]) -> list[str]:
    """Disc heights, slip and lordosis from the truth corners snapped onto the image, truth beside."""
    verts = [Vertebra(k, v["corners_lps_mm"]) for k, v in tc["levels"].items() if "corners_lps_mm" in v]
    by = {v.label: v for v in verts}
    up, lo = (_snapped(ct, by[k]) for k in DISC)  # as a user's clicks would be: moved onto the image's edges
    d, s, t = disc_height(up, lo), slip(up, lo), tc["discs"]["-".join(DISC)]
    out = [f"{d.level} disc height (corners snapped onto the CT) anterior/middle/posterior {d.anterior_mm:.1f} / {d.middle_mm:.1f} / "
           f"{d.posterior_mm:.1f} mm (truth {t['anterior_mm']:.1f} / {t['middle_mm']:.1f} / {t['posterior_mm']:.1f})"
           f" [{d.calibration}]",
           f"{s.level} slip {s.percent:.1f} % = {s.mm:.1f} mm, Meyerding {s.grade} (truth {t['slip_percent']:.1f} %, "
           f"{t['slip_mm']:.1f} mm, grade {t['slip_grade']})"]
    if "L1" in by and "S1" in by:
        lo_ = lordosis(verts, "L1", "S1")
        out.append(f"lordosis L1-S1 (truth corners) {lo_.degrees:.1f} deg (truth {tc['lordosis_deg']['L1-S1']:.1f} deg; prone, "
                   "not compared with standing norms)")
    return out


def _ct_item(samples: Path, tc: dict[str, Any]) -> DemoItem:
    ct = load(samples / tc["folder"])
    sc = _screw(tc["screws"])
    p0, p1 = (tuple(float(v) for v in ct.patient_to_index(sc[k])) for k in ("entry_lps_mm", "tip_lps_mm"))
    name = f"{SCREW[0]} {SCREW[1]} screw"
    ruler = Ruler(f"{name} (entry-tip)", (p0, p1), measure_distance(ct, p0, p1, name=name),  # type: ignore[arg-type]
                  f"truth {sc['length_mm']:.2f} mm")
    item = DemoItem("lumbar_ct", ct, PRESETS["bone"] if ct.modality == "CT" else default_window(ct), [ruler])
    item.findings = _level_findings(ct, tc)
    lines, outlines, _ = screw_findings(ct, tc["screws"], draw_levels=(SCREW[0],))
    entry = np.asarray(sc["entry_lps_mm"], float)
    acc_lines, acc_draw = access_findings(ct, entry, entry - np.asarray(sc["axis_lps"]), f"the {name}'s entry "
                                          "along its axis", sc["skin_to_entry_mm"])
    item.findings += lines + acc_lines
    item.overlays = outlines + acc_draw
    return item


def _lateral_item(samples: Path, tc: dict[str, Any], tf: dict[str, Any]) -> DemoItem:
    shot = tf["shots"]["lateral"]
    fl = load(samples / tf["folder"] / shot["file"])
    carm = shot_carm(shot)
    ss = _screw(shot["screws"])
    q0, q1 = ((0.0, *map(float, ss[k])) for k in ("entry_px", "tip_px"))
    name = f"{SCREW[0]} {SCREW[1]} screw"
    screw = Ruler(name, (q0, q1), measure_distance(fl, q0, q1, name=name),  # type: ignore[arg-type]
                  f"truth {ss['length_ermf_corrected_mm']:.2f} mm after ERMF; the screw is {ss['ct_length_mm']:.1f} mm "
                  f"on CT, {ss['ct_length_in_detector_plane_mm']:.1f} mm in the detector plane (tilted "
                  f"{np.degrees(np.arccos(ss['foreshortening'])):.0f} deg), "
                  f"{ss['midpoint_depth_from_isocenter_plane_mm']:.1f} mm off the isocentre plane")
    up, lo = (np.asarray(tc["levels"][k]["corners_lps_mm"], float) for k in DISC)
    (r0, c0), (r1, c1) = carm.project([up[2], lo[1]])  # posterior corners: PI of the upper, PS of the lower
    d0, d1 = (0.0, float(r0), float(c0)), (0.0, float(r1), float(c1))
    dname = f"{'-'.join(DISC)} disc"  # posterior height: kept short, the label carries the calibration
    disc = Ruler(dname, (d0, d1), measure_distance(fl, d0, d1, name=dname),
                 f"posterior height; truth {tc['discs']['-'.join(DISC)]['posterior_mm']:.2f} mm, midline = isocentre plane")
    return DemoItem("lumbar_lateral", fl, default_window(fl), [screw, disc])


def lumbar_scene(samples: Path, truth: dict[str, Any]) -> list[DemoItem]:
    """The lumbar CT (axial slab through the L4 screws) and its lateral shot, with rulers and the spine tools."""
    return [_ct_item(samples, truth["lumbar_ct"]), _lateral_item(samples, truth["lumbar_ct"], truth["lumbar_fluoro"])]
