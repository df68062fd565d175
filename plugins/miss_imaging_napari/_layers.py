"""ImageVolume -> napari layer: physical scale, patient placement, window.

The one place where core geometry becomes napari keyword arguments; the
reader, the sample data and the demo all go through :func:`layer_data`.

World coordinates
-----------------
* Volumes: patient LPS mm in napari's ``(z, y, x)`` order, i.e. world axis 0
  = LPS z (toward the head), axis 1 = LPS y (posterior), axis 2 = LPS x
  (patient's left).  napari draws axis 1 downward and axis 2 to the right, so
  an axial slice appears in the radiological convention: anterior at the
  top, the patient's left on the screen's right.
* Projections: ``(frame, row mm, col mm)``; axis 0 counts frames (unit-less),
  axes 1/2 use the calibrated spacing chosen by
  :func:`miss_imaging.measurement.calibration.projection_calibration`, or pixels when
  there is none.

napari's 2-D view cannot show a stack whose slices are tilted out of the
display plane (NAPARI.md section 1: it shows a stored slice, shrunk), so
tilted, sheared or non-uniform stacks are displayed resampled onto an
LPS-aligned grid (:func:`miss_imaging.spatial.resampling.to_patient_grid`); the layer
metadata keeps the original under ``"miss_imaging_source"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from miss_imaging.model import ImageVolume

__all__ = [
    "VOLUME_KEY",
    "SOURCE_KEY",
    "NOTE_KEY",
    "AXIS_ALIGNED_MM",
    "is_patient_grid",
    "tilt_degrees",
    "display_volume",
    "resample_notice",
    "image_kwargs",
    "layer_data",
    "mark_viewer",
]

VOLUME_KEY = "miss_imaging_volume"  # layer.metadata key: the ImageVolume shown (shares pixels with layer.data)
SOURCE_KEY = "miss_imaging_source"  # the original, when the shown one was resampled for display
NOTE_KEY = "miss_imaging_note"  # why it was resampled (str), shown to the user once

#: An array axis counts as parallel to its patient axis when its off-axis step
#: components move the farthest voxel by at most this much (mm); the same rule
#: as :data:`miss_imaging.spatial.resampling.ALIGNED_TOL_MM`, so that what napari shows
#: with scale/translate is exactly what ``to_patient_grid`` would not resample.
AXIS_ALIGNED_MM = 0.01

_VOLUME_AXES = ("z", "y", "x")  # LPS: +z head, +y posterior, +x patient left
_PROJECTION_AXES = ("frame", "row", "col")


def _directions(affine: np.ndarray) -> np.ndarray:
    """Unit step vectors of the array axes, as columns (3x3, LPS)."""
    m = np.asarray(affine, dtype=np.float64)[:3, :3]
    norms = np.linalg.norm(m, axis=0)
    return m / np.where(norms > 0, norms, 1.0)


def is_patient_grid(volume: ImageVolume) -> bool:
    """True when napari can show `volume` exactly with scale + translate.

    That is when array axes 0, 1, 2 step along +z, +y, +x of LPS (the layout of
    a standard axial CT with ImageOrientationPatient ``[1,0,0, 0,1,0]``), off-axis
    components below :data:`AXIS_ALIGNED_MM` over the whole volume, and the
    slices sit on a regular grid.  Projections always qualify.
    """
    if volume.kind != "volume":
        return True
    if not volume.regular:
        return False
    a = volume.affine[:3, :3]
    for axis, n in enumerate(volume.shape):
        lps = 2 - axis  # array axis 0 -> z, 1 -> y, 2 -> x
        off = np.delete(a[:, axis], lps)
        if a[lps, axis] <= 0 or np.abs(off).max() * max(n - 1, 1) > AXIS_ALIGNED_MM:
            return False
    return True


def tilt_degrees(volume: ImageVolume) -> float:
    """Largest angle (degrees) between an array axis and its nearest patient axis."""
    d = np.abs(_directions(volume.affine))
    return float(np.degrees(np.arccos(np.clip(d.max(axis=0), -1.0, 1.0))).max())


def display_volume(volume: ImageVolume) -> tuple[ImageVolume, str | None]:
    """The volume napari shows for `volume`, and a note when it was resampled.

    Axis-aligned stacks with flipped or permuted axes come back as exact views
    (no interpolation, no note); tilted, sheared or non-uniform stacks are
    resampled (linear) onto an LPS-aligned grid covering the whole stack by
    :func:`miss_imaging.spatial.resampling.to_patient_grid`.

    Returns
    -------
    shown : ImageVolume
        ``volume`` itself for projections and LPS-aligned volumes.
    note : str or None
        What was done and why, for the user, when interpolation was needed.
    """
    if is_patient_grid(volume):
        return volume, None
    from miss_imaging.spatial.resampling import to_patient_grid

    shown = to_patient_grid(volume)
    added = [w for w in shown.warnings if w not in volume.warnings]
    if not added:
        return shown, None  # flips/permutations only: exact views, nothing to tell
    note = " ".join(added) + (
        ". napari's 2-D view cannot show a tilted or sheared stack exactly (it would show stored slices, "
        "shrunk), so the resampled grid is displayed; positions in mm are unchanged."
    )
    return shown, note


def resample_notice(volume: ImageVolume) -> str:
    """The one plain sentence the user is told when `volume` is shown resampled (details: info panel).

    Examples
    --------
    >>> import numpy as np
    >>> from miss_imaging.model import ImageVolume
    >>> c, s = np.cos(np.radians(5)), np.sin(np.radians(5))
    >>> a = np.eye(4); a[:3, :3] = [[0, 0, 1], [s, c, 0], [c, -s, 0]]  # slices tilted 5 degrees about x
    >>> vol = ImageVolume(np.zeros((2, 2, 2)), (1, 1, 1), a, "volume", modality="CT", series_description="spine")
    >>> print(resample_notice(vol))
    CT spine: shown resampled onto patient axes because the slices are tilted 5°; measurements use the original geometry
    """
    d = _directions(volume.affine)
    normal = np.cross(d[:, 1], d[:, 2])  # slice plane normal (rows x columns), LPS
    tilt = float(np.degrees(np.arccos(np.clip(np.abs(normal).max() / np.linalg.norm(normal), -1.0, 1.0))))
    turn = tilt_degrees(volume)
    if tilt >= 0.05:  # the plane itself leans (gantry tilt); an in-plane rotation is not a tilt
        why = f"the slices are tilted {tilt:.0f}°" if tilt >= 1 else f"the slices are tilted {tilt:.1f}°"
    elif turn >= 0.05:
        why = f"the image axes are rotated {turn:.0f}° in the slice plane"
    else:
        why = "the slices are unevenly spaced or sheared"
    return f"{volume.label}: shown resampled onto patient axes because {why}; measurements use the original geometry"


def _world_affine(volume: ImageVolume) -> np.ndarray:
    """4x4 index -> world matrix, world = LPS reordered to napari's (z, y, x)."""
    perm = np.zeros((4, 4))
    perm[0, 2] = perm[1, 1] = perm[2, 0] = perm[3, 3] = 1.0  # (x, y, z) -> (z, y, x)
    return perm @ volume.affine


def _contrast_limits(volume: ImageVolume) -> tuple[float, float]:
    from miss_imaging.display.presets import default_window

    lo, hi = default_window(volume).contrast_limits
    return (float(lo), float(hi) if hi > lo else float(lo) + 1.0)


def image_kwargs(volume: ImageVolume) -> dict[str, Any]:
    """``add_image`` keyword arguments placing `volume` at its physical size.

    Volumes on the patient grid (see :func:`is_patient_grid`) get ``scale``
    (mm, ``(z, y, x)``) and ``translate`` (LPS mm of voxel (0, 0, 0) reordered
    to ``(z, y, x)``); any other volume gets the full index -> world matrix as
    ``affine`` (exact in napari's 3-D view; use :func:`layer_data` for 2-D).
    Projections get ``(1, row mm, col mm)`` and no patient placement.

    Parameters
    ----------
    volume : ImageVolume

    Returns
    -------
    dict
        ``name``, ``scale``, ``translate`` or ``affine``, ``units``,
        ``axis_labels``, ``contrast_limits``, ``colormap``, ``metadata``.
    """
    kw: dict[str, Any] = {
        "name": volume.label,
        "contrast_limits": _contrast_limits(volume),
        "colormap": "gray_r" if volume.photometric.upper() == "MONOCHROME1" else "gray",
        "metadata": {VOLUME_KEY: volume},
    }
    if volume.kind == "projection":
        calibrated = volume.calibration != "pixels only"
        kw["scale"] = (1.0, float(volume.spacing[1]), float(volume.spacing[2]))
        kw["translate"] = (0.0, 0.0, 0.0)
        # napari keeps one unit per world axis for all layers: a unitless frame axis
        # beside a CT's mm z axis makes it drop every unit (the scale bar loses "mm").
        # The frame axis (step 1, labelled "frame") therefore carries the in-plane unit;
        # it is never displayed as a length.  A pixels-only image must not claim mm.
        kw["units"] = ("mm", "mm", "mm") if calibrated else ("pixel", "pixel", "pixel")
        kw["axis_labels"] = _PROJECTION_AXES
        return kw
    world = _world_affine(volume)
    kw["units"] = ("mm", "mm", "mm")
    kw["axis_labels"] = _VOLUME_AXES
    if is_patient_grid(volume):
        kw["scale"] = tuple(float(world[i, i]) for i in range(3))
        kw["translate"] = tuple(float(t) for t in world[:3, 3])
    else:
        kw["scale"] = tuple(float(s) for s in volume.spacing)
        affine = np.eye(4)
        affine[:3, :3] = world[:3, :3] / np.asarray(volume.spacing)
        affine[:3, 3] = world[:3, 3]
        kw["affine"] = affine
    return kw


_MARKS: dict[tuple[int, str], Any] = {}  # (id(viewer), tool) -> weakref to the viewer


def mark_viewer(viewer: Any, tool: str) -> bool:
    """Record that `tool` is installed on `viewer`; False if it already was.

    napari viewers are pydantic models that refuse new attributes, hence a
    registry keyed by id with a weak reference (ids are reused after deletion).
    """
    import weakref

    key = (id(viewer), tool)
    ref = _MARKS.get(key)
    if ref is not None and ref() is viewer:
        return False
    _MARKS[key] = weakref.ref(viewer)
    return True


def layer_data(volume: ImageVolume) -> tuple[Any, dict[str, Any], str]:
    """napari LayerData tuple ``(data, kwargs, "image")`` for 2-D display.

    Tilted, sheared or non-uniform volumes are resampled first (see
    :func:`display_volume`); the kwargs' metadata then holds the displayed
    volume under ``"miss_imaging_volume"``, the original under
    ``"miss_imaging_source"`` and the reason under ``"miss_imaging_note"``.
    ``layer.data`` is the displayed volume's ``pixels`` (same object: no copy).
    """
    shown, note = display_volume(volume)
    kw = image_kwargs(shown)
    if shown is not volume:
        kw["metadata"][SOURCE_KEY] = volume
    if note:
        kw["metadata"][NOTE_KEY] = note
    return (shown.pixels, kw, "image")
