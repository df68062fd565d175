"""The spine tools on the demo CT: screws found with their breach grade, and a tubular access plan.

Each result is printed with the phantom's truth beside it (when the phantom
records it) and drawn: the screw outline with its grade, the access line from
the skin entry, the tube and the incision to scale (in-plane projections on
the axial slab).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from miss_imaging.demo.scene import Overlay
from miss_imaging.errors import MissImagingError
from miss_imaging.model import ImageVolume
from miss_imaging.spine import AccessPlan, Screw, access_plan, breach, find_screws

__all__ = ["screw_findings", "access_findings", "spine_demo_text"]


def _in_plane_normal(axis: npt.ArrayLike) -> np.ndarray:
    """Unit vector in the axial plane perpendicular to `axis` (LPS): the width direction of a drawn cylinder."""
    n = np.cross(np.asarray(axis, float), [0.0, 0.0, 1.0])
    return np.asarray(n / np.linalg.norm(n))


def _band(volume: ImageVolume, a: np.ndarray, b: np.ndarray, width_mm: float) -> np.ndarray:
    """Index-space outline (4, 3) of a band `width_mm` wide from LPS point `a` to `b` (a cylinder's projection)."""
    h = _in_plane_normal(b - a) * width_mm / 2
    return np.asarray(volume.patient_to_index(np.array([a + h, b + h, b - h, a - h])))


def _truth_screw(screw: Screw, truth_screws: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The truth record whose entry is nearest the found screw's (within 10 mm), or None."""
    best = min(truth_screws, key=lambda t: float(np.linalg.norm(np.subtract(t["entry_lps_mm"], screw.entry_lps))),
               default=None)
    if best is None or np.linalg.norm(np.subtract(best["entry_lps_mm"], screw.entry_lps)) > 10.0:
        return None
    return best


def _grade_text(volume: ImageVolume, screw: Screw) -> str:
    try:
        b = breach(volume, screw)
    except MissImagingError as exc:
        return f"not gradable: {exc}"
    return f"Gertzbein-Robbins {b.grade}" + (f" ({b.direction} {b.distance_mm:.1f} mm)" if b.direction else "")


def screw_findings(volume: ImageVolume, truth_screws: Sequence[dict[str, Any]] = (), *,
                   draw_levels: Sequence[str] = ()) -> tuple[list[str], list[Overlay], list[Screw]]:
    """``find_screws`` + ``breach`` on `volume`: printed lines (truth beside), outlines, the screws found.

    Screws matched to a truth record of a level in `draw_levels` are outlined
    (shank diameter to scale) and labelled with their grade.
    """
    try:
        screws = find_screws(volume)
    except MissImagingError as exc:
        return [f"spine tools: {exc}"], [], []
    lines, overlays = ["spine tools (miss_imaging.spine) on this CT:"], []
    for s in screws:
        grade, t = _grade_text(volume, s), _truth_screw(s, truth_screws)
        name = f"{s.label} ({t['level']} {t['side']})" if t else s.label
        line = f"  {name}: length {s.length_mm:.1f} mm, diameter {s.diameter_mm:.1f} mm, {grade} [{s.calibration}]"
        if t:
            where = f", {t['breach_direction']} {t['breach_mm']:.1f} mm" if t["breach_direction"] else ""
            line += (f" (truth {t['length_mm']:.1f} mm, {t['diameter_mm']:.1f} mm, "
                     f"Gertzbein-Robbins {t['gertzbein_robbins']}{where})")
            if t["level"] in draw_levels:
                overlays.append(Overlay(name, _band(volume, s.entry_lps, s.tip_lps, s.diameter_mm),
                                        f"{t['level']} {t['side']}: {grade.replace('Gertzbein-Robbins', 'GR')}",
                                        "orange", closed=True,
                                        anchor="upper_left" if t["side"] == "left" else "upper_right",
                                        label_shift_mm=(-9.0, 12.0) if t["side"] == "left" else (-4.0, -8.0)))
        lines.append(line)
    return lines, overlays, screws


def _access_overlays(volume: ImageVolume, a: AccessPlan) -> list[Overlay]:
    """Access line (skin entry -> target), the tube from the skin and the incision across it, to scale."""
    skin, target = np.asarray(a.skin_entry_lps, float), np.asarray(a.target_lps, float)
    d = (target - skin) / np.linalg.norm(target - skin)
    idx = volume.patient_to_index
    tube = "no stock tube reaches" if a.tube_length_mm is None else f"{a.tube_length_mm:.0f} mm tube"
    out = [Overlay("access", np.asarray(idx(np.array([skin, target]))),
                   f"access {a.depth_mm:.1f} mm: {tube}, {a.tube_diameter_mm:.0f} mm", "lime",
                   anchor="upper_right", label_shift_mm=(86.0, 51.0))]
    if a.tube_length_mm is not None:
        out.append(Overlay("tube", _band(volume, skin, skin + d * a.tube_length_mm, a.tube_diameter_mm),
                           "", "lime", closed=True))  # its size is in the access label
    h = _in_plane_normal(d) * a.incision_mm / 2
    out.append(Overlay("incision", np.asarray(idx(np.array([skin - h, skin + h]))),
                       f"incision {a.incision_mm:.0f} mm", "magenta", anchor="lower_right",
                       label_shift_mm=(4.0, 4.0)))
    return out


def access_findings(volume: ImageVolume, target_lps: npt.ArrayLike, toward_lps: npt.ArrayLike, what: str,
                    truth_depth_mm: float | None = None) -> tuple[list[str], list[Overlay]]:
    """``access_plan`` from `target_lps` toward `toward_lps`: printed lines and drawings."""
    try:
        a = access_plan(volume, target_lps, toward_lps)
    except MissImagingError as exc:
        return [f"  access: {exc}"], []
    tube = "no stock tube reaches" if a.tube_length_mm is None else f"{a.tube_length_mm:.0f} mm tube"
    truth = f" (truth {truth_depth_mm:.1f} mm)" if truth_depth_mm is not None else ""
    skin = ", ".join(f"{v:.1f}" for v in a.skin_entry_lps)
    lines = [f"  access plan to {what}: skin entry ({skin}) LPS mm, skin depth {a.depth_mm:.1f} mm{truth}, {tube}, "
             f"incision {a.incision_mm:.0f} mm, {a.angle_from_vertical_deg:.1f} deg from vertical, "
             f"{a.cranial_angle_deg:.1f} deg cranial [{a.calibration}]"]
    return lines, _access_overlays(volume, a)


def spine_demo_text(volume: ImageVolume) -> str:
    """Screws found with length, diameter and breach grade, and a posterior access to the first one's entry."""
    lines, _, screws = screw_findings(volume)
    if screws:
        entry = np.asarray(screws[0].entry_lps, float)
        lines += access_findings(volume, entry, entry + [0.0, 10.0, 0.0], f"{screws[0].label}'s entry from "
                                 "straight posterior")[0]
    return "\n".join(lines)
