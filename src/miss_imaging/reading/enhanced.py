"""Per-frame facts of multi-frame objects from the functional groups.

Enhanced CT/MR/XA/XRF and Legacy Converted Enhanced objects hold geometry and
rescale per frame in (5200,9230) PerFrameFunctionalGroupsSequence, with
values common to all frames in (5200,9229) SharedFunctionalGroupsSequence
(PS3.3 C.7.6.16).  A per-frame value wins over the shared one.  Classic
multi-frame objects (XA/RF cine, NM...) have neither and use the top-level
attributes for every frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from miss_imaging.errors import MissingTagError
from miss_imaging.spatial.geometry import orientation_axes

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


def _multi(v: Any) -> list[Any]:
    """A possibly multi-valued element value as a list."""
    return list(v) if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue" else [v]


def _numbers(v: Any, count: int, tag: str, path: Path | None, where: str = "") -> tuple[float, ...] | None:
    """The first `count` values of an element as floats; None when absent or empty.

    Raises
    ------
    MissingTagError
        Present but not `count` finite numbers (naming `where` and `tag`).
    """
    if v is None or v == "":
        return None
    try:
        t = tuple(float(x) for x in _multi(v))[:count]
    except (TypeError, ValueError):
        t = ()
    if len(t) < count or not all(map(np.isfinite, t)):
        raise MissingTagError(f"{where}{tag} = {v!r} is not {count} finite number(s)", path=path, tag=tag)
    return t


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


def frame_facts(ds: Dataset, n_frames: int, path: Path | None = None, *, geometry: bool = True) -> FrameFacts:
    """Read per-frame geometry and rescale of a multi-frame data set.

    Parameters
    ----------
    ds : Dataset
        The header (pixels not needed).
    n_frames : int
        (0028,0008) NumberOfFrames.
    path : Path, optional
        Used in warnings.
    geometry : bool
        False for projections, which are not placed in patient space: a
        malformed position, orientation or spacing is then read as absent
        instead of raising.

    Raises
    ------
    MissingTagError
        A value present but not the expected count of finite numbers.
    """
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    per_seq = ds.get("PerFrameFunctionalGroupsSequence")
    if not shared_seq and not per_seq:
        return _top_level_facts(ds, n_frames, path, geometry)
    return _functional_group_facts(shared_seq[0] if shared_seq else None, per_seq, n_frames, path, geometry)


def _lenient(read: Callable[..., Any], absent: Any, geometry: bool) -> Callable[..., Any]:
    """`read`, raising on malformed geometry when placing frames, else reading it as `absent`."""
    if geometry:
        return read

    def read_or_absent(*args: Any) -> Any:
        try:
            return read(*args)
        except MissingTagError:
            return absent

    return read_or_absent


def _thickness(v: Any) -> float | None:
    """SliceThickness (mm) or None; only gives a one-frame volume its axis-0 length, so malformed is absent."""
    try:
        return None if v in (None, "") else (float(v) or None)
    except (TypeError, ValueError):
        return None


def _top_level_facts(ds: Dataset, n_frames: int, path: Path | None, geometry: bool) -> FrameFacts:
    """Classic multi-frame objects: the top-level attributes hold for every frame."""
    num = _lenient(_numbers, None, geometry)
    ipp = num(ds.get("ImagePositionPatient"), 3, "(0020,0032) ImagePositionPatient", path)
    iop = num(ds.get("ImageOrientationPatient"), 6, "(0020,0037) ImageOrientationPatient", path)
    ps = num(ds.get("PixelSpacing"), 2, "(0028,0030) PixelSpacing", path)
    slope = (_numbers(ds.get("RescaleSlope"), 1, "(0028,1053) RescaleSlope", path) or (1.0,))[0]
    icpt = (_numbers(ds.get("RescaleIntercept"), 1, "(0028,1052) RescaleIntercept", path) or (0.0,))[0]
    ipps = None if ipp is None else np.tile(np.asarray(ipp, float), (n_frames, 1))
    offsets = ds.get("GridFrameOffsetVector")  # (3004,000C): RT Dose frames along the normal
    if ipps is not None and iop is not None and offsets is not None and len(offsets) == n_frames:
        normal = orientation_axes(iop)[2]
        ipps = ipps + np.asarray(offsets, float)[:, None] * normal
    return FrameFacts(
        ipps,
        None if iop is None else np.tile(np.asarray(iop, float), (n_frames, 1)),
        None if ps is None else (ps[0], ps[1]),
        _thickness(ds.get("SliceThickness")),
        np.full(n_frames, slope),
        np.full(n_frames, icpt),
        functional_groups=False,
    )


def _functional_group_facts(
    shared: Dataset | None, per_seq: Any, n_frames: int, path: Path | None, geometry: bool
) -> FrameFacts:
    """Enhanced objects: each frame's functional group item, else the shared one (PS3.3 C.7.6.16)."""
    name = path.name if path is not None else "file"
    warnings: list[str] = []
    if per_seq is not None and len(per_seq) != n_frames:
        warnings.append(
            f"{name}: (5200,9230) PerFrameFunctionalGroupsSequence has {len(per_seq)} items for "
            f"{n_frames} frames; per-frame values beyond it come from the shared group"
        )
    frames = [per_seq[i] if per_seq is not None and i < len(per_seq) else None for i in range(n_frames)]

    def values(macro: str, keyword: str, tag: str, count: int) -> list[tuple[float, ...] | None]:
        """Each frame's first `count` values as floats; anything else is an error naming frame and tag."""
        return [
            _numbers(group_value(shared, f, macro, keyword), count, tag, path, f"frame {i}: {macro} > ")
            for i, f in enumerate(frames)
        ]

    geo = _lenient(values, [None] * n_frames, geometry)
    ipps = geo(*_POSITION, "(0020,0032) ImagePositionPatient", 3)
    iops = geo(*_ORIENTATION, "(0020,0037) ImageOrientationPatient", 6)
    slopes = [v[0] if v else None for v in values(*_SLOPE, "(0028,1053) RescaleSlope", 1)]
    icpts = [v[0] if v else None for v in values(*_INTERCEPT, "(0028,1052) RescaleIntercept", 1)]
    all_ps = geo(*_SPACING, "(0028,0030) PixelSpacing", 2)
    ps = all_ps[0]
    spacings = {v for v in all_ps if v is not None}
    if len(spacings) > 1:
        warnings.append(
            f"{name}: (0028,0030) PixelSpacing varies between frames {sorted(spacings)}; the first frame's is used"
        )
    have_ipp = [v is not None for v in ipps]
    if any(have_ipp) and not all(have_ipp):
        warnings.append(f"{name}: (0020,0032) ImagePositionPatient missing in {have_ipp.count(False)} frame(s)")
    return FrameFacts(
        np.array([v if v is not None else [np.nan] * 3 for v in ipps], float) if any(have_ipp) else None,
        np.array([v if v is not None else [np.nan] * 6 for v in iops], float)
        if any(v is not None for v in iops)
        else None,
        None if ps is None else (ps[0], ps[1]),
        _thickness(group_value(shared, frames[0], *_THICKNESS)),
        np.array([1.0 if v is None else v for v in slopes]),
        np.array([0.0 if v is None else v for v in icpts]),
        functional_groups=True,
        warnings=warnings,
    )
