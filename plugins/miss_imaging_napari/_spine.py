"""Qt-free decisions of the Spine widget: corners to levels, table rows, plan/access text and drawings.

napari world coordinates of the plugin's image layers are patient LPS mm in
napari's axis order ``(z, y, x)``; every function here takes and returns LPS
``(x, y, z)`` unless its name says ``world``.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np
import numpy.typing as npt

from miss_imaging.errors import MissImagingError
from miss_imaging.model import ImageVolume
from miss_imaging.spatial.reslicing import Plane, reslice
from miss_imaging.spine import (AccessPlan, Breach, Screw, ScrewPlan, Vertebra, breach, canal, disc_angle,
                                disc_height, segmental_angle, slip, snap_corners)
from miss_imaging.spine.vertebra import CORNER_NAMES

__all__ = ["world_to_lps", "lps_to_world", "level_labels", "corner_texts", "vertebrae_from_points", "level_rows",
           "screw_rows", "plan_text", "access_text", "tube_outline", "incision_line", "EXTRA_KEY", "LEVEL_COLUMNS",
           "SCREW_COLUMNS", "spine_images", "oblique_along_screw", "incision_on_projection", "incision_target", "on_slice",
           "INCISION_KEY", "RESULTS_KEY", "spine_results", "TRAJECTORIES_KEY", "trajectories"]

#: layer metadata key: a list of Measurement records the Measurements widget exports with its own
EXTRA_KEY = "miss_imaging_extra_measurements"
#: image layer metadata key: the spine result objects themselves (for the DICOM SR, which carries all their values)
RESULTS_KEY = "miss_imaging_spine_results"
#: metadata of an "incision on <shot>" Shapes layer: {"image": the projection layer it is drawn on}
INCISION_KEY = "miss_imaging_incision"
#: image layer metadata key: [(label, entry LPS mm, target LPS mm)] of the screws found, the plan and the access,
#: for the MPR workspace's oblique viewport (:func:`trajectories`)
TRAJECTORIES_KEY = "miss_imaging_trajectories"
_ORDER = [f"C{i}" for i in range(1, 8)] + [f"T{i}" for i in range(1, 13)] + [f"L{i}" for i in range(1, 6)] + \
    [f"S{i}" for i in range(1, 6)]
_SHORT = ("AS", "PS", "PI", "AI")
LEVEL_COLUMNS = ("level", "ant mm", "mid mm", "post mm", "disc °", "segment °", "slip %", "Meyerding", "canal AP mm",
                 "flags")
SCREW_COLUMNS = ("screw", "length mm", "Ø mm", "GR grade", "breach", "mm")


def world_to_lps(world: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """napari world ``(..., z, y, x)`` (the last 3 axes) -> LPS ``(x, y, z)`` mm."""
    w = np.asarray(world, dtype=np.float64)
    return w[..., -3:][..., ::-1].copy()


def lps_to_world(lps: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """LPS ``(x, y, z)`` mm -> napari world ``(z, y, x)``."""
    return np.asarray(lps, dtype=np.float64)[..., ::-1].copy()


def level_labels(first: str, n: int) -> list[str]:
    """`n` consecutive level names from `first` downward (``"L4", 3`` -> L4, L5, S1); unknown names get numbers."""
    name = first.strip().upper()
    if name in _ORDER:
        i = _ORDER.index(name)
        return [_ORDER[i + k] if i + k < len(_ORDER) else f"{name}+{k}" for k in range(n)]
    m = re.fullmatch(r"(.*?)(\d+)", name)
    base, num = (m.group(1), int(m.group(2))) if m else (name or "V", 1)
    return [f"{base}{num + k}" for k in range(n)]


def corner_texts(labels: Sequence[str], n_points: int) -> list[str]:
    """Text of each corner point: ``"L4 AS"``, ``"L4 PS"``... in click order."""
    return [f"{labels[i // 4]} {_SHORT[i % 4]}" if i // 4 < len(labels) else _SHORT[i % 4] for i in range(n_points)]


def vertebrae_from_points(volume: ImageVolume, lps: npt.ArrayLike, labels: Sequence[str], *,
                          snap: bool = True) -> tuple[list[Vertebra], list[str]]:
    """Group clicked corners in fours (AS, PS, PI, AI per level), snap them; return bodies and per-level errors.

    A trailing incomplete group is ignored with a message; a level that cannot
    be snapped is kept unsnapped with its error (never silently moved).
    """
    pts = np.asarray(lps, dtype=np.float64).reshape(-1, 3)
    verts, errors = [], []
    for k in range(len(pts) // 4):
        label = labels[k] if k < len(labels) else f"V{k + 1}"
        try:
            v = Vertebra(label, pts[4 * k: 4 * k + 4], volume.calibration)
            verts.append(snap_corners(volume, v) if snap else v)
        except MissImagingError as exc:
            errors.append(f"{label}: {exc}")
            if "order" not in str(exc) and "coincide" not in str(exc):
                verts.append(Vertebra(label, pts[4 * k: 4 * k + 4], volume.calibration))
    if len(pts) % 4:
        errors.append(f"{len(pts) % 4} corner(s) of the next level placed: click all four "
                      f"({', '.join(CORNER_NAMES)})")
    return verts, errors


def _canal_ap(volume: ImageVolume, upper: Vertebra, lower: Vertebra) -> tuple[str, list[str]]:
    """Canal AP at the disc level, seeded 6 mm behind the middle of the posterior disc margin."""
    u, lo = upper.corners, lower.corners
    post = (u[2] + lo[1]) / 2
    ant_dir = (u[3] - u[2]) + (lo[0] - lo[1])
    seed = post - 6.0 * ant_dir / np.linalg.norm(ant_dir)
    try:
        c = canal(volume, seed)
    except MissImagingError as exc:
        return "", [f"canal: {exc}"]
    return f"{c.ap_mm:.1f}", list(c.flags)


def level_rows(vertebrae: Sequence[Vertebra], volume: ImageVolume | None = None) -> list[dict[str, str]]:
    """One row per adjacent pair (upper, lower): disc heights, angles, slip, canal AP, flags."""
    rows = []
    for upper, lower in zip(vertebrae, vertebrae[1:]):
        h, sl = disc_height(upper, lower), slip(upper, lower)
        flags = list(h.flags) + list(sl.flags)
        ap = ""
        if volume is not None:
            ap, more = _canal_ap(volume, upper, lower)
            flags += more
        rows.append({"level": h.level, "ant mm": f"{h.anterior_mm:.1f}", "mid mm": f"{h.middle_mm:.1f}",
                     "post mm": f"{h.posterior_mm:.1f}", "disc °": f"{disc_angle(upper, lower).degrees:+.1f}",
                     "segment °": f"{segmental_angle(upper, lower).degrees:+.1f}", "slip %": f"{sl.percent:+.0f}",
                     "Meyerding": sl.grade if sl.percent > 0 else ("retro" if sl.percent < 0 else "-"),
                     "canal AP mm": ap, "flags": "; ".join(flags)})
    return rows


def screw_rows(volume: ImageVolume, screws: Sequence[Screw]) -> tuple[list[dict[str, str]], list[Breach | None]]:
    """Table rows (length, diameter, grade, direction, distance) and the breach results (None where not gradable)."""
    rows, results = [], []
    for s in screws:
        try:
            b: Breach | None = breach(volume, s)
            grade, where, mm = b.grade, b.direction or "-", f"{b.distance_mm:.1f}"
        except MissImagingError as exc:
            b, grade, where, mm = None, "?", str(exc), ""
        results.append(b)
        rows.append({"screw": s.label, "length mm": f"{s.length_mm:.1f}", "Ø mm": f"{s.diameter_mm:.1f}",
                     "GR grade": grade, "breach": where, "mm": mm})
    return rows, results


def plan_text(plan: ScrewPlan) -> str:
    """Multi-line summary of a planned screw."""
    b = plan.predicted_breach
    pred = f"{b.grade}" + (f" ({b.direction} {b.distance_mm:.1f} mm)" if b.direction else " (contained)")
    return (f"length {plan.length_mm:.1f} mm → stock {plan.suggested_length_mm:.0f} mm\n"
            f"isthmus {plan.pedicle_width_mm:.1f} mm → Ø {plan.suggested_diameter_mm:.1f} mm (≤ 80 %)\n"
            f"medial {plan.medial_angle_deg:+.1f}°, caudal {plan.caudal_angle_deg:+.1f}°\n"
            f"predicted Gertzbein-Robbins {pred}")


def access_text(plan: AccessPlan) -> str:
    tube = "none in stock (> 90 mm)" if plan.tube_length_mm is None else f"{plan.tube_length_mm:.0f} mm"
    return (f"depth {plan.depth_mm:.1f} mm, tube {tube} × Ø {plan.tube_diameter_mm:.0f} mm\n"
            f"incision {plan.incision_mm:.0f} mm; {plan.angle_from_vertical_deg:+.1f}° from vertical "
            f"(+ = patient left), {plan.cranial_angle_deg:+.1f}° cranial")


def _across(direction: npt.NDArray[np.float64], view_normal: npt.ArrayLike) -> npt.NDArray[np.float64]:
    w = np.cross(direction, np.asarray(view_normal, dtype=np.float64))
    n = np.linalg.norm(w)
    if n < 1e-6:  # looking along the trajectory: any perpendicular
        w = np.cross(direction, [1.0, 0.0, 0.0] if abs(direction[0]) < 0.9 else [0.0, 1.0, 0.0])
        n = np.linalg.norm(w)
    return w / n


def tube_outline(plan: AccessPlan, view_normal: npt.ArrayLike = (0.0, 0.0, 1.0)) -> npt.NDArray[np.float64]:
    """(4, 3) LPS corners of the tube, to scale, in the plane of the view (skin to target, diameter wide)."""
    d = plan.skin_entry_lps - plan.target_lps
    d = d / np.linalg.norm(d)
    w = _across(d, view_normal) * plan.tube_diameter_mm / 2
    return np.array([plan.target_lps - w, plan.skin_entry_lps - w, plan.skin_entry_lps + w, plan.target_lps + w])


def incision_line(plan: AccessPlan, view_normal: npt.ArrayLike = (0.0, 0.0, 1.0)) -> npt.NDArray[np.float64]:
    """(2, 3) LPS ends of the skin incision, centred on the skin entry, `incision_mm` long, across the tube."""
    d = plan.skin_entry_lps - plan.target_lps
    w = _across(d / np.linalg.norm(d), view_normal) * plan.incision_mm / 2
    return np.array([plan.skin_entry_lps - w, plan.skin_entry_lps + w])


def screw_outline(entry: npt.ArrayLike, tip: npt.ArrayLike, diameter_mm: float,
                  view_normal: npt.ArrayLike = (0.0, 0.0, 1.0)) -> npt.NDArray[np.float64]:
    """(4, 3) LPS corners of a screw's shank drawn to scale in the view's plane."""
    e, t = np.asarray(entry, dtype=np.float64), np.asarray(tip, dtype=np.float64)
    w = _across((t - e) / np.linalg.norm(t - e), view_normal) * diameter_mm / 2
    return np.array([e - w, t - w, t + w, e + w])


def view_normal(viewer: Any) -> npt.NDArray[np.float64]:
    """LPS normal of the 2-D view (the non-displayed world axis); axial (z) by default."""
    try:
        not_disp = [a for a in viewer.dims.order[:-2]][-1] if viewer.dims.ndisplay == 2 else 0
        world = np.zeros(3)
        world[not_disp - (viewer.dims.ndim - 3)] = 1.0
        return world_to_lps(world)
    except (AttributeError, IndexError):
        return np.array([0.0, 0.0, 1.0])


def extra_measurements(viewer: Any) -> list[Any]:
    """Measurement records other widgets put in layer metadata under :data:`EXTRA_KEY` (for the exports)."""
    out: list[Any] = []
    for lay in viewer.layers:
        out.extend(getattr(lay, "metadata", {}).get(EXTRA_KEY, []) or [])
    return out


def spine_images(viewer: Any) -> list[Any]:
    """The layers the spine tools work on: plugin CT volumes with several slices, not reslice cuts."""
    out = []
    for lay in viewer.layers:
        md = getattr(lay, "metadata", None)
        vol = md.get("miss_imaging_volume") if isinstance(md, dict) else None
        if isinstance(vol, ImageVolume) and vol.kind == "volume" and vol.shape[0] > 1 \
                and "miss_imaging_plane" not in md:
            out.append(lay)
    return out


def oblique_along_screw(volume: ImageVolume, screw: Screw) -> tuple[ImageVolume, Plane, tuple[float, float]]:
    """The cut through a screw's axis (left-right across, 0.25 mm pixels, entry at the top) and where to show it.

    Returns the resliced image, its plane and the 2-D layer's ``(y, x)`` translate in world mm: beside
    the volume (10 mm to the right of its bounding box), level with its top.
    """
    plane = Plane.along_line(screw.entry_lps - 12.0 * screw.axis, screw.tip_lps + 8.0 * screw.axis,
                             pixel_mm=0.25, shape=(280, 160))
    img = reslice(volume, plane)
    corners = volume.index_to_patient(np.array([[a, b, c] for a in (0, volume.shape[0] - 1)
                                                for b in (0, volume.shape[1] - 1) for c in (0, volume.shape[2] - 1)]))
    world = lps_to_world(corners)
    return img, plane, (float(world[:, 1].min()), float(world[:, 2].max() + 10.0))


def incision_on_projection(volume: ImageVolume, frame: float, length_mm: float) -> npt.NDArray[np.float64] | None:
    """A horizontal line of `length_mm` centred on a projection frame, world ``(frame, row mm, col mm)``.

    None for images that are not calibrated projections (no mm to draw it in).
    """
    if volume.kind != "projection" or volume.calibration == "pixels only":
        return None
    cy, cx = (volume.shape[1] - 1) / 2 * volume.spacing[1], (volume.shape[2] - 1) / 2 * volume.spacing[2]
    return np.array([[frame, cy, cx - length_mm / 2], [frame, cy, cx + length_mm / 2]])


def incision_target(active: Any, layers: Sequence[Any], volume_of: Any) -> Any | None:
    """The one projection layer the access plan's incision is drawn on, else None.

    The shot the user chose (the active layer) when it is a calibrated projection; else the top visible
    calibrated projection.  QA: a line on every open shot put "incision on AP" over the CT the user was
    planning on; hidden shots and CTs never get one.

    Parameters
    ----------
    active : layer or None
        The viewer's active layer.
    layers : sequence of layers
        The viewer's layers, bottom first (napari order).
    volume_of : callable
        layer -> its ImageVolume or None.
    """
    def drawable(lay: Any) -> bool:
        vol = volume_of(lay)
        return vol is not None and vol.kind == "projection" and vol.calibration != "pixels only"

    if active is not None and drawable(active):
        return active
    return next((lay for lay in reversed(list(layers)) if getattr(lay, "visible", True) and drawable(lay)), None)


def on_slice(world: npt.NDArray[np.float64], order: Sequence[int], point: Sequence[float], ndisplay: int) -> \
        npt.NDArray[np.float64]:
    """World vertices of an outline drawn in the view's plane, put exactly on the slice shown.

    napari draws a 2-D shape only when every vertex lies within half a slice of the current one (the
    slider snaps to its grid), so the out-of-plane coordinate takes the slider's value.
    """
    world = np.array(world, dtype=np.float64)
    ndim = len(point)
    if ndisplay == 2 and ndim >= 3:
        axis = order[-3]
        world[:, axis - (ndim - 3)] = point[axis]
    return world


def spine_results(vertebrae: Sequence[Vertebra], screws: Sequence[Screw], breaches: Sequence[Breach | None],
                  plan: ScrewPlan | None, access: AccessPlan | None) -> list[Any]:
    """Every spine result as its object, in table order: per level its disc heights, slip and angles; the screws,
    their breach grades; the plan; the access (what :func:`miss_imaging.sharing.sr.save_sr` writes)."""
    out: list[Any] = []
    for upper, lower in zip(vertebrae, vertebrae[1:]):
        out += [disc_height(upper, lower), slip(upper, lower), disc_angle(upper, lower), segmental_angle(upper, lower)]
    out += list(screws) + [b for b in breaches if b is not None]
    return out + [r for r in (plan, access) if r is not None]


def trajectories(screws: Sequence[Screw], plan: ScrewPlan | None,
                 access: AccessPlan | None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(label, entry, target)`` (LPS mm) of every screw found (entry to tip), the planned screw (entry to
    target) and the access path (skin entry to target), in that order: the lines the MPR workspace's
    oblique viewport can be set along."""
    out = [(s.label or f"screw {k + 1}", np.asarray(s.entry_lps, float),
            np.asarray(s.tip_lps, float)) for k, s in enumerate(screws)]
    if plan is not None:
        out.append(("planned screw", np.asarray(plan.entry_lps, float), np.asarray(plan.target_lps, float)))
    if access is not None:
        out.append(("access path", np.asarray(access.skin_entry_lps, float), np.asarray(access.target_lps, float)))
    return out
