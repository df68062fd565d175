"""Per-frame facts of multi-frame objects from the functional groups.

Enhanced CT/MR/XA/XRF and Legacy Converted Enhanced objects hold geometry and
rescale per frame in (5200,9230) PerFrameFunctionalGroupsSequence, with
values common to all frames in (5200,9229) SharedFunctionalGroupsSequence
(PS3.3 C.7.6.16).  A per-frame value wins over the shared one.  Classic
multi-frame objects (XA/RF cine, NM...) have neither and use the top-level
attributes for every frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

__all__ = ["FrameFacts", "frame_facts", "group_value", "find_nested"]

# functional group macro -> attribute inside it
_POSITION = ("PlanePositionSequence", "ImagePositionPatient")
_ORIENTATION = ("PlaneOrientationSequence", "ImageOrientationPatient")
_SPACING = ("PixelMeasuresSequence", "PixelSpacing")
_THICKNESS = ("PixelMeasuresSequence", "SliceThickness")
_SLOPE = ("PixelValueTransformationSequence", "RescaleSlope")
_INTERCEPT = ("PixelValueTransformationSequence", "RescaleIntercept")


def _item_value(item: Dataset | None, macro: str, keyword: str) -> Any:
    if item is None:
        return None
    seq = item.get(macro)
    if not seq:
        return None
    return seq[0].get(keyword)


def group_value(shared: Dataset | None, frame: Dataset | None, macro: str, keyword: str) -> Any:
    """``keyword`` inside functional group ``macro``: the frame's value, else the shared one."""
    v = _item_value(frame, macro, keyword)
    return v if v is not None else _item_value(shared, macro, keyword)


def find_nested(item: Dataset | None, keyword: str, depth: int = 3) -> Any:
    """First value of `keyword` in `item` or its nested sequences (breadth first, up to `depth`)."""
    if item is None:
        return None
    level = [item]
    for _ in range(depth + 1):
        nxt: list[Dataset] = []
        for ds in level:
            v = ds.get(keyword)
            if v is not None:
                return v
            for el in ds:
                if el.VR == "SQ" and el.value:
                    nxt.extend(el.value)
        level = nxt
        if not level:
            break
    return None


@dataclass
class FrameFacts:
    """Geometry and rescale of each frame, in file frame order.

    ``ipp`` (F, 3) and ``iop`` (F, 6) are None when no frame has them;
    ``pixel_spacing`` is (row, column) mm; ``slope``/``intercept`` (F,).
    ``missing`` names tags absent from some (not all) frames.
    """

    ipp: npt.NDArray[np.float64] | None
    iop: npt.NDArray[np.float64] | None
    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    slope: npt.NDArray[np.float64]
    intercept: npt.NDArray[np.float64]
    functional_groups: bool
    warnings: list[str] = field(default_factory=list)


def frame_facts(ds: Dataset, n_frames: int, path: Path | None = None) -> FrameFacts:
    """Read per-frame geometry and rescale of a multi-frame data set.

    Parameters
    ----------
    ds : Dataset
        The header (pixels not needed).
    n_frames : int
        (0028,0008) NumberOfFrames.
    path : Path, optional
        Used in warnings.
    """
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    per_seq = ds.get("PerFrameFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    name = path.name if path is not None else "file"
    warnings: list[str] = []
    if shared is None and not per_seq:
        ipp = ds.get("ImagePositionPatient")
        iop = ds.get("ImageOrientationPatient")
        ps = ds.get("PixelSpacing")
        st = ds.get("SliceThickness")
        slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
        icpt = float(ds.get("RescaleIntercept", 0.0) or 0.0)
        ipps = None if ipp is None else np.tile(np.asarray(ipp, float), (n_frames, 1))
        offsets = ds.get("GridFrameOffsetVector")  # (3004,000C): RT Dose frames along the normal
        if ipps is not None and iop is not None and offsets is not None and len(offsets) == n_frames:
            from .geometry import orientation_axes

            normal = orientation_axes(iop)[2]
            ipps = ipps + np.asarray(offsets, float)[:, None] * normal
        return FrameFacts(
            ipps,
            None if iop is None else np.tile(np.asarray(iop, float), (n_frames, 1)),
            None if ps is None else (float(ps[0]), float(ps[1])),
            None if st in (None, "") else float(st),
            np.full(n_frames, slope),
            np.full(n_frames, icpt),
            functional_groups=False,
        )
    if per_seq is not None and len(per_seq) != n_frames:
        warnings.append(
            f"{name}: (5200,9230) PerFrameFunctionalGroupsSequence has {len(per_seq)} items for "
            f"{n_frames} frames; per-frame values beyond it come from the shared group"
        )
    frames = [per_seq[i] if per_seq is not None and i < len(per_seq) else None for i in range(n_frames)]
    ipps = [group_value(shared, f, *_POSITION) for f in frames]
    iops = [group_value(shared, f, *_ORIENTATION) for f in frames]
    slopes = [group_value(shared, f, *_SLOPE) for f in frames]
    icpts = [group_value(shared, f, *_INTERCEPT) for f in frames]
    ps = group_value(shared, frames[0], *_SPACING)
    spacings = {tuple(float(x) for x in v) for f in frames if (v := group_value(shared, f, *_SPACING)) is not None}
    if len(spacings) > 1:
        warnings.append(
            f"{name}: (0028,0030) PixelSpacing varies between frames {sorted(spacings)}; the first frame's is used"
        )
    st = group_value(shared, frames[0], *_THICKNESS)
    have_ipp = [v is not None for v in ipps]
    if any(have_ipp) and not all(have_ipp):
        warnings.append(f"{name}: (0020,0032) ImagePositionPatient missing in {have_ipp.count(False)} frame(s)")
    return FrameFacts(
        np.array([v if v is not None else [np.nan] * 3 for v in ipps], float) if any(have_ipp) else None,
        np.array([v if v is not None else [np.nan] * 6 for v in iops], float)
        if any(v is not None for v in iops)
        else None,
        None if ps is None else (float(ps[0]), float(ps[1])),
        None if st in (None, "") else float(st),
        np.array([1.0 if v in (None, "") else float(v) for v in slopes]),
        np.array([0.0 if v in (None, "") else float(v) for v in icpts]),
        functional_groups=True,
        warnings=warnings,
    )
