"""What the Series browser lists and shows, decided without Qt: table rows, technical info, cine rate.

Nothing here shows a patient or study identifier: :func:`technical_info` keeps
only technical attributes, and :func:`shown` strips the folders of file paths
in teaching mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from miss_imaging.model import ImageVolume, SeriesInfo

from ._layers import tilt_degrees

__all__ = ["COLUMNS", "volume_row", "series_row", "technical_info", "scanned_info", "skipped_text", "shown",
           "cine_rate"]

COLUMNS = ("Series", "Modality", "Frames", "Size", "Spacing (mm)", "Calibration", "Warnings")

# keys of ImageVolume.metadata that may be shown (technical, non-identifying); anything else is left out
_TECH_PREFIXES = ("Manufacturer", "ManufacturerModelName", "KVP", "XRayTubeCurrent", "Exposure", "ConvolutionKernel",
                  "SliceThickness", "BitsStored", "TransferSyntax", "FrameTime", "Rescale", "Photometric",
                  "PositionerPrimaryAngle", "PositionerSecondaryAngle", "DistanceSource", "Estimated",
                  "ImagerPixelSpacing", "PixelSpacing", "Collimator", "FieldOfView", "SoftwareVersions",
                  "ImageType", "AcquisitionDeviceProcessing", "Grid", "Filter", "FocalSpot", "CineRate",
                  "RecommendedDisplayFrameRate", "BurnedInAnnotation", "transfer_syntax", "bits")


def _identifying() -> frozenset[str]:
    try:
        from miss_imaging.sharing.deid import IDENTIFYING_KEYWORDS

        return frozenset(IDENTIFYING_KEYWORDS)
    except Exception:  # never show an unknown attribute if the list cannot be had
        return frozenset({"*"})


def _spacing_text(vol: ImageVolume) -> str:
    if vol.kind == "projection":
        return "pixels" if vol.calibration == "pixels only" else f"{vol.spacing[1]:.4g} x {vol.spacing[2]:.4g}"
    return " x ".join(f"{s:.4g}" for s in vol.spacing)


def volume_row(vol: ImageVolume) -> tuple[str, ...]:
    """Table row for a loaded volume (see :data:`COLUMNS`)."""
    shape = vol.shape
    return (vol.label, vol.modality, str(shape[0]), f"{shape[1]}x{shape[2]}", _spacing_text(vol), vol.calibration,
            str(len(vol.warnings)))


def series_row(s: SeriesInfo) -> tuple[str, ...]:
    """Table row for a scanned (not loaded) series: spacing/calibration known after loading."""
    return (s.label, s.modality, str(s.n_frames), f"{s.rows}x{s.columns}", "(open to see)", s.kind,
            str(len(s.warnings)))


def technical_info(vol: ImageVolume, source: ImageVolume | None = None, note: str | None = None) -> str:
    """Plain-text technical description of a volume; no patient or study identifiers."""
    lines = [
        f"Series: {vol.label}",
        f"Modality: {vol.modality}   kind: {vol.kind}   SOP class: {vol.sop_class_uid}",
        f"Shape (axis0, rows, cols): {' x '.join(map(str, vol.shape))}   dtype: {vol.pixels.dtype}"
        + ("   (decoded on demand)" if vol.is_lazy else ""),
        f"Spacing (mm, array order): {', '.join(f'{s:.5g}' for s in vol.spacing)}",
        f"Calibration: {vol.calibration}",
        f"Photometric: {vol.photometric}",
    ]
    if vol.kind == "volume":
        orig = source or vol
        lines.append(f"Origin (LPS mm): {', '.join(f'{c:.2f}' for c in vol.origin)}")
        lines.append(f"Slice tilt from patient axes: {tilt_degrees(orig):.2f} deg; regular grid: {orig.regular}")
        # (no UIDs: Frame of Reference / Series / Study UIDs are identifying attributes of PS3.15 Table E.1-1)
    if vol.projection is not None:
        p = vol.projection
        for name, value in (("ImagerPixelSpacing (mm)", p.imager_pixel_spacing), ("PixelSpacing (mm)", p.pixel_spacing),
                            ("Calibration type", p.calibration_type), ("ERMF", p.ermf), ("SID (mm)", p.sid),
                            ("SOD (mm)", p.sod), ("FrameTime (ms)", p.frame_time_ms)):
            if value is not None:
                lines.append(f"{name}: {value}")
    if vol.windows:
        lines.append("Windows in file: " + "; ".join(f"{w.explanation or '-'} C {w.center:g} W {w.width:g}"
                                                      for w in vol.windows))
    banned = _identifying()
    tech = {k: v for k, v in vol.metadata.items()
            if "*" not in banned and k not in banned and k.startswith(_TECH_PREFIXES)}
    for k, v in sorted(tech.items()):
        lines.append(f"{k}: {v}")
    if note:
        lines.append(f"Display: {note}")
    if vol.warnings or (source and source.warnings):
        lines.append("Warnings:")
        lines += [f"  - {w}" for w in (source or vol).warnings]
    return "\n".join(lines)


def shown(text: str) -> str:
    """Text for the info panel: in teaching mode without the folders of file paths (often patient names)."""
    from ._teaching import strip_folders

    return strip_folders(text)


def _frame_time_ms(vol: ImageVolume) -> float | None:
    p = vol.projection
    if p is None:
        return None
    if p.frame_time_ms:
        return float(p.frame_time_ms)
    if p.frame_time_vector_ms and len(p.frame_time_vector_ms) > 1:
        return float(np.median(p.frame_time_vector_ms[1:]))  # first entry is 0 by definition (C.7.6.5.1.2)
    return None


def cine_rate(vol: ImageVolume) -> tuple[float, str | None]:
    """Frames per second to play a run at (1000 / FrameTime), and a note when it is assumed (10 frames/s)."""
    ft = _frame_time_ms(vol)
    if ft:
        return 1000.0 / ft, None
    return 10.0, f"{vol.label}: no (0018,1063) FrameTime; playing at 10 frames/s"


def skipped_text(skipped: Sequence[tuple[Path, str]]) -> str:
    """One line per file a scan skipped, naming it once (reasons usually start with the path)."""
    return "\n".join(f"skipped {why}" if why.startswith(str(p)) else f"skipped {p.name}: {why}" for p, why in skipped)


def scanned_info(s: SeriesInfo, skipped: str = "") -> str:
    """Info panel text of a scanned (not loaded) series, with the folder's skipped files."""
    text = [f"Series: {s.label}", f"Modality: {s.modality}   kind: {s.kind}   SOP class: {s.sop_class_uid}",
            f"{s.n_files} file(s), {s.n_frames} frame(s) of {s.rows}x{s.columns}"]
    text += [f"  - {w}" for w in s.warnings]
    if skipped:
        text += ["", "Files in the folder that are not usable images:", skipped]
    return "\n".join(text)
