"""The C-arm shot beside the CT, decided without Qt: pose, placement, projected marks, session record.

The shot is a 2-D image layer placed beside the CT (top-aligned, :data:`GAP_MM`
to its right); its data is the DRR's single frame, its scale the
magnification-corrected (ERMF) pixel size, and its metadata holds the
projection ImageVolume and the :class:`~miss_imaging.carm.CArm` that made it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from miss_imaging.carm import CArm, drr
from miss_imaging.model import ImageVolume

from ._layers import VOLUME_KEY, image_kwargs

__all__ = ["carm_for", "view_to_show", "with_patient_of", "shot_translate", "project_world_points", "decimated", "show_shot", "volume_center_lps",
           "session_entry", "restore_shot", "CARM_KEY", "ROLE_KEY", "GAP_MM", "DETECTOR_PX", "DETECTOR_PIXEL_MM",
           "PREVIEW_BINNING"]

CARM_KEY = "miss_imaging_carm"  # layer.metadata: the CArm of the shot
ROLE_KEY = "miss_imaging_carm_role"  # "shot" | "projections"
GAP_MM = 10.0
DETECTOR_PX = 512
DETECTOR_PIXEL_MM = 0.4
PREVIEW_BINNING = 4


# --------------------------------------------------------------------------- Qt-free decisions


def volume_center_lps(volume: ImageVolume) -> np.ndarray:
    """LPS mm of the centre of the volume's voxel grid."""
    return volume.index_to_patient((np.array(volume.shape, dtype=np.float64) - 1) / 2)


def carm_for(volume: ImageVolume, primary: float, secondary: float, sid: float, sod: float,
             isocenter: np.ndarray | None = None, rows: int = DETECTOR_PX,
             pixel_mm: float = DETECTOR_PIXEL_MM) -> CArm:
    """The C-arm pose for the widget's controls (isocentre default: the CT's centre)."""
    iso = volume_center_lps(volume) if isocenter is None else np.asarray(isocenter, dtype=np.float64)
    return CArm(sid=sid, sod=sod, primary_deg=primary, secondary_deg=secondary, isocenter=tuple(iso),
                rows=rows, cols=rows, pixel_mm=(pixel_mm, pixel_mm))


def decimated(volume: ImageVolume, step: int) -> ImageVolume:
    """Every `step`-th voxel along each axis (a view), with the affine that keeps it in place (for previews)."""
    if step <= 1:
        return volume
    A = volume.affine.copy()
    A[:3, :3] *= step
    px = volume.pixels[::step, ::step, ::step]
    return ImageVolume(px, tuple(s * step for s in volume.spacing), A, "volume", modality=volume.modality,
                       series_uid=volume.series_uid, frame_of_reference_uid=volume.frame_of_reference_uid)


def _world_bounds(volume: ImageVolume) -> tuple[np.ndarray, np.ndarray]:
    n = np.array(volume.shape) - 1
    corners = np.array([[a, b, c] for a in (0, n[0]) for b in (0, n[1]) for c in (0, n[2])], dtype=np.float64)
    w = volume.index_to_patient(corners)[:, ::-1]  # LPS -> world (z, y, x)
    return w.min(0), w.max(0)


def shot_translate(volume: ImageVolume) -> tuple[float, float]:
    """World (y, x) of the shot's first pixel: top-aligned with the CT, GAP_MM to its right."""
    lo, hi = _world_bounds(volume)
    return float(lo[1]), float(hi[2] + GAP_MM)


def project_world_points(carm: CArm, shot: ImageVolume, translate: tuple[float, float],
                         world_zyx: np.ndarray) -> np.ndarray:
    """CT world points ``(n, 3)`` (z, y, x) = LPS reversed -> the shot layer's world ``(n, 2)`` (y, x)."""
    rc = carm.project(np.asarray(world_zyx, dtype=np.float64)[:, ::-1])
    return np.asarray(translate) + rc * np.array([shot.spacing[1], shot.spacing[2]])


def view_to_show(lo: Any, hi: Any, center: Any, zoom: float, canvas_hw: Any,
                 margin: float = 0.05) -> tuple[tuple[float, float], float] | None:
    """Camera (centre (y, x) mm, zoom px/mm) that shows the world box ``lo..hi`` (y, x) mm, or None when it is in view.

    The shot is placed beside the CT, usually outside the view: it appeared only
    after *reset view*.  Returns None when the whole box already lies inside the
    canvas at the current `center` and `zoom`; else the box fills the canvas
    (minus `margin` on each side).

    Examples
    --------
    >>> view_to_show((0, 0), (100, 100), (50, 50), 2.0, (400, 400)) is None
    True
    >>> view_to_show((0, 300), (100, 400), (50, 50), 2.0, (400, 400))
    ((50.0, 350.0), 3.6)
    """
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    half = np.asarray(canvas_hw, float) / (2 * zoom)
    c = np.asarray(center, float)[-2:]
    if np.all(lo >= c - half) and np.all(hi <= c + half):
        return None
    span = np.maximum(hi - lo, 1e-9)
    new_zoom = float(np.min(np.asarray(canvas_hw, float) * (1 - 2 * margin) / span))
    mid = (lo + hi) / 2
    return (float(mid[0]), float(mid[1])), new_zoom


def _bring_into_view(viewer: Any, layer: Any) -> None:
    """Move napari's 2-D camera onto the shot layer when it is not on screen."""
    if viewer.dims.ndisplay != 2:
        return
    from ._napari_private import canvas_size_hw

    canvas_hw = canvas_size_hw(viewer)
    if canvas_hw is None:  # headless: nothing to look at
        return
    ext = np.asarray(layer.extent.world, dtype=np.float64)
    step = np.asarray(layer.extent.step, dtype=np.float64)
    camera = viewer.scene.camera  # napari >= 0.9 (viewer.camera is deprecated)
    view = view_to_show(ext[0, -2:] - step[-2:] / 2, ext[1, -2:] + step[-2:] / 2, camera.center,
                        float(camera.zoom), canvas_hw)
    if view is not None:
        camera.center, camera.zoom = view


def with_patient_of(shot: ImageVolume, vol: ImageVolume) -> ImageVolume:
    """The shot carrying the CT's patient and study identity (for the clinical banner; teaching mode hides it).

    A DRR is an image of the CT's own patient: the banner said "name unknown |
    ID unknown" for it.
    """
    if not vol.patient or shot.patient:
        return shot
    return shot.replace(patient=dict(vol.patient))


def show_shot(viewer: Any, vol: ImageVolume, shot: ImageVolume, carm: CArm, layer: Any = None) -> Any:
    """Show `shot` (a DRR of `vol`) as a 2-D layer beside the CT, reusing `layer` if it is still in the viewer.

    The shot carries the CT's patient identity (:func:`with_patient_of`) and is
    brought into view (:func:`view_to_show`).
    """
    shot = with_patient_of(shot, vol)
    data = shot.pixels[0]
    kw = image_kwargs(shot)
    translate = shot_translate(vol)
    scale = (float(shot.spacing[1]), float(shot.spacing[2]))
    meta = {VOLUME_KEY: shot, CARM_KEY: carm, ROLE_KEY: "shot"}
    name = f"C-arm {shot.series_description}"
    if layer is None or layer not in viewer.layers:
        layer = viewer.add_image(data, name=name, scale=scale, translate=translate, units=("mm", "mm"),
                                 axis_labels=("y", "x"), contrast_limits=kw["contrast_limits"], colormap="gray",
                                 metadata=meta)
        _bring_into_view(viewer, layer)
        return layer
    layer.metadata.update(meta)
    layer.name = name
    layer.scale = scale
    layer.translate = translate
    layer.data = data
    if carm.rows >= DETECTOR_PX:  # keep the full shot's contrast while previews pass by
        layer.contrast_limits = kw["contrast_limits"]
    _bring_into_view(viewer, layer)
    return layer


def session_entry(layer: Any) -> dict[str, Any] | None:
    """``{"series_uid", "carm"}`` for a C-arm shot layer (what a session records), else ``None``."""
    md = getattr(layer, "metadata", None) or {}
    carm, shot = md.get(CARM_KEY), md.get(VOLUME_KEY)
    if not isinstance(carm, CArm) or not isinstance(shot, ImageVolume):
        return None
    return {"series_uid": shot.metadata.get("DRR", {}).get("source_series_uid", ""), "carm": carm.to_dict()}


def restore_shot(viewer: Any, ct_layer: Any, entry: dict[str, Any]) -> Any:
    """Recompute a saved shot (:func:`session_entry`) of the CT shown by `ct_layer`; returns its layer."""
    vol = ct_layer.metadata[VOLUME_KEY]
    carm = CArm.from_dict(entry["carm"])
    return show_shot(viewer, vol, drr(vol, carm), carm)
