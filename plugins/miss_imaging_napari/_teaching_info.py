"""What the Teaching widget shows and asks, decided without Qt.

:func:`info_lines` (the info panel), :func:`parse_regions` (the blank-region
field), :func:`snapshot_caption` (the text beside the scale bar in a
snapshot) and :func:`layer_window` (the window a layer displays now).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from miss_imaging.display.window import contrast_limits_to_window
from miss_imaging.model import ImageVolume, Window
from miss_imaging.sharing.deid import find_identifiers, identifier_variants
from miss_imaging.sharing.export import frame_times_ms

from . import _teaching

__all__ = ["info_lines", "parse_regions", "snapshot_caption", "layer_window"]


def layer_window(layer: Any, vol: ImageVolume) -> Window:
    """The window (center/width, VOI LUT function of `vol`) an image layer displays with its contrast limits."""
    func = vol.windows[0].function if vol.windows else "LINEAR"
    c, w = contrast_limits_to_window(*layer.contrast_limits, function=func)
    return Window(c, w, "current display", func)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return " x ".join(_fmt(x) for x in v)
    return str(v)


def info_lines(volume: ImageVolume, *, window: Window | None = None, teaching: bool = True) -> list[str]:
    """The info panel's lines for `volume`.

    Technical attributes only; any value that contains one of the volume's
    own patient identifiers is left out (a device field typed with a name).
    In clinician mode (``teaching=False``) the patient banner line comes first.
    """
    idents = identifier_variants(volume.patient or {})
    md = volume.metadata or {}
    lines = [f"Series: {volume.label}", f"Modality: {volume.modality or '?'}"]
    device = " ".join(str(md[k]) for k in ("Manufacturer", "ManufacturerModelName") if md.get(k))
    if device:
        lines.append(f"Device: {device}")
    tech = []
    if md.get("KVP") is not None:
        tech.append(f"{_fmt(md['KVP'])} kV")
    if md.get("XRayTubeCurrent") is not None:
        tech.append(f"{_fmt(md['XRayTubeCurrent'])} mA")
    if tech:
        lines.append("Technique: " + ", ".join(tech))
    shape = " x ".join(str(s) for s in volume.shape)
    if volume.kind == "volume":
        lines.append(f"Size: {shape} (slices x rows x cols)")
        lines.append(f"Spacing: {volume.spacing[0]:.4g} mm between slices, "
                     f"{volume.spacing[1]:.4g} x {volume.spacing[2]:.4g} mm in plane (row x col)")
    else:
        lines.append(f"Size: {shape} (frames x rows x cols)")
        unit = "px" if volume.calibration == "pixels only" else "mm"
        lines.append(f"Pixel spacing: {volume.spacing[1]:.4g} x {volume.spacing[2]:.4g} {unit} (row x col)")
        tags = volume.projection
        if tags is not None and tags.imager_pixel_spacing:
            lines.append(f"Detector spacing: {_fmt(tuple(tags.imager_pixel_spacing))} mm")
        if tags is not None and tags.ermf:
            lines.append(f"ERMF: {tags.ermf:g}")
        if tags is not None and tags.sid and tags.sod:
            lines.append(f"SID / SOD: {tags.sid:g} / {tags.sod:g} mm")
    lines.append(f"Calibration: {volume.calibration}")
    if volume.burned_in_annotation:
        lines.append("Burned-in annotation: YES (text masked in teaching mode and in every export)")
    if volume.kind == "projection" and volume.shape[0] > 1:
        durations, _warn = frame_times_ms(volume)
        has_timing = volume.projection is not None and (
            volume.projection.frame_time_ms or volume.projection.frame_time_vector_ms)
        rate = 1000.0 / float(np.mean(durations))
        lines.append(f"Frame rate: {rate:.3g} frames/s" + ("" if has_timing else " (assumed: no timing tags)"))
    if window is not None:
        lines.append(f"Window: C {window.center:g} / W {window.width:g} ({window.function})")
    lines = [ln for ln in lines if not find_identifiers(ln, idents)]
    if not teaching:
        lines.insert(0, "Patient: " + _teaching.banner_text(volume))
    return lines


def parse_regions(text: str) -> list[tuple[int, int, int, int]] | None:
    """Blank-region field: ``""``/``"auto"`` -> None (burned-in text found automatically),
    ``"none"`` -> [] (no blanking), else ``"row0,col0,row1,col1; ..."`` (pixels, end excluded).

    Examples
    --------
    >>> parse_regions("4,3,35,104; 0,0,10,10"), parse_regions(" auto "), parse_regions("none")
    ([(4, 3, 35, 104), (0, 0, 10, 10)], None, [])
    """
    t = text.strip().lower()
    if t in ("", "auto"):
        return None
    if t == "none":
        return []
    out = []
    for part in t.split(";"):
        if part.strip():
            vals = [int(v) for v in part.replace(" ", "").split(",")]
            if len(vals) != 4:
                raise ValueError(f"blank region {part.strip()!r}: expected row0,col0,row1,col1")
            out.append((vals[0], vals[1], vals[2], vals[3]))
    return out


def snapshot_caption(volume: ImageVolume, calibration_label: str | None, world_point: Any) -> str:
    """Text shown beside napari's scale bar in a snapshot: what its mm rest on, and where the picture is.

    Parameters
    ----------
    volume : ImageVolume
        The displayed volume.
    calibration_label : str or None
        Projections: the calibration in force (``_layer_geometry.current_calibration``).
    world_point : sequence of float
        ``viewer.dims.point``: ``(z, y, x)`` LPS mm for a CT volume (axial
        view), ``(frame, row mm, col mm)`` for a projection.

    Examples
    --------
    >>> import numpy as np
    >>> ct = ImageVolume(np.zeros((3, 2, 2)), (2, 1, 1), np.eye(4), "volume", modality="CT")
    >>> snapshot_caption(ct, None, (12.0, 0, 0))
    'slice z = 12.0 mm (LPS)'
    """
    p = [float(v) for v in world_point]
    if volume.kind == "projection":
        frame = int(round(p[-3])) if len(p) >= 3 else 0
        where = f"frame {frame} of 0-{volume.shape[0] - 1}\n" if volume.shape[0] > 1 else ""
        cal = calibration_label or volume.calibration
        return where + ("scale bar in pixels (pixels only)" if cal == "pixels only" else f"scale bar: mm {cal}")
    if len(p) >= 3:
        return f"slice z = {p[-3]:.1f} mm (LPS)"
    return ""
