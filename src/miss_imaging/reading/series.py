"""Series assembly: how files and frames become ordered, split and checked stacks.

This module owns every ordering rule: :func:`assemble` turns the file headers
of a scan into series, each with its :class:`StackPlan` (``SeriesInfo.plan``),
and :func:`frame_stack` orders the frames of one multi-frame file when it is
loaded.  Nothing here reads pixels.

Rules (those of the trusted viewers, see REFERENCE.md §1):

1. Files are grouped by (0020,000E) SeriesInstanceUID.
2. Colour images and localizers ((0008,0008) ImageType contains LOCALIZER)
   never enter a volume; they are reported as series of kind ``"other"``.
3. Every multi-frame file (Enhanced CT/MR, XA/RF cine...) is its own series;
   its frames are ordered at load time from the functional groups
   (:func:`frame_stack`: the largest orientation group is the volume, frames
   sorted by ``n . IPP``, repeated positions dropped as in rule 5).  Enhanced
   volume files holding one frame each (a series written one frame per file)
   are slices instead: their functional groups give each its position,
   orientation, spacing and rescale, and rules 4-6 apply.
4. Single-frame slices are split by Rows/Columns, then by (0028,0030)
   PixelSpacing (beyond :data:`SPACING_SPLIT_RTOL`), then by orientation
   (IOP): the majority forms the volume; a minority orientation with fewer
   than :data:`MIN_STACK` slices is treated as a localizer, a larger one
   becomes its own volume.  Slices without (0020,0032) ImagePositionPatient
   or (0020,0037) ImageOrientationPatient are left out (warning).
5. Slices are sorted by ``d = n . IPP`` (never InstanceNumber or file name).
   Slices at the same position are duplicates: when they come from different
   (0020,0012) AcquisitionNumbers and each acquisition alone is clean, the
   series is split by acquisition; otherwise the first file (in position,
   then InstanceNumber, then path order) is kept and each dropped file is
   named in a warning.
6. Gaps and non-uniform steps keep one volume whose ``slice_positions``
   hold every slice's true IPP, flagged ``regular=False`` with a warning
   naming the slices around each gap (physical positions stay right; the
   resampler regrids on request).  A sheared stack (gantry tilt) gets the true
   step vector as the affine's axis-0 column and a warning with the angle.
7. Single-frame projections (DX, CR, single XA frames) of one series and size
   are stacked as frames in (0020,0013) InstanceNumber order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

from miss_imaging.reading._header import FileHeader, floats, integer
from miss_imaging.reading.enhanced import FrameFacts, frame_facts
from miss_imaging.errors import MissImagingError, MissingTagError, SeriesGeometryError
from miss_imaging.spatial.geometry import (
    DUPLICATE_ATOL_MM,
    TILT_ATOL_DEG,
    StackGeometry,
    orientation_axes,
    same_orientation,
    stack_geometry,
    valid_orientation,
)
from miss_imaging.model import Kind, SeriesInfo

__all__ = [
    "StackPlan",
    "FrameStack",
    "assemble",
    "frame_stack",
    "geometry_warnings",
    "check_spacing",
    "summarize",
    "MIN_STACK",
    "MAX_LISTED",
    "SPACING_SPLIT_RTOL",
]

#: A minority orientation inside a series with fewer slices than this is a localizer.
MIN_STACK = 3


#: What a plan builds: a 3-D volume, frames of a projection, or nothing ("other").
PlanKind = Literal["volume", "projection", "other"]


@dataclass(eq=False)
class StackPlan:
    """How the files of one series become one image (``SeriesInfo.plan``, made by :func:`assemble`).

    Attributes
    ----------
    kind : {"volume", "projection", "other"}
        ``"other"``: not loaded as an image (see `reason`).
    headers : list of FileHeader
        The files in array order (axis 0): sorted by ``n . IPP`` for a
        volume of single-frame slices, by InstanceNumber for projection
        frames; one header for a multi-frame file (its frames are ordered by
        :func:`frame_stack` when loaded).
    iop : tuple of 6 float or None
        (0020,0037) ImageOrientationPatient shared by the slices.
    geometry : StackGeometry or None
        Slice positions, step, gaps and tilt of a single-frame volume (mm).
    warnings : list of str
        What assembly decided (files left out, splits, duplicates, gaps).
    error : Exception or None
        Raised when this series is loaded (e.g. no slice can be placed).
    reason : str
        Why `kind` is ``"other"``: ``"localizer"`` or ``"colour"``.
    """

    kind: PlanKind
    headers: list[FileHeader]
    iop: tuple[float, ...] | None = None
    geometry: StackGeometry | None = None
    warnings: list[str] = field(default_factory=list)
    error: Exception | None = None
    reason: str = ""

    @property
    def n_frames(self) -> int:
        """Frames over all files."""
        return sum(h.frames for h in self.headers)


#: At most this many warnings of one kind are listed one by one (then a count).
MAX_LISTED = 10


def summarize(lines: list[str], what: str, limit: int = MAX_LISTED) -> list[str]:
    """`lines` as they are, or the first `limit` and a count of the rest of `what`."""
    if len(lines) <= limit:
        return lines
    return lines[:limit] + [f"... and {len(lines) - limit} more {what} ({len(lines)} in all)"]


def _names(hs: list[FileHeader], limit: int = 6) -> str:
    names = [h.path.name for h in hs]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


_T = TypeVar("_T")


def _majority(groups: list[list[_T]]) -> list[list[_T]]:
    """Largest group first (stable: ties keep their first-seen order)."""
    return sorted(groups, key=len, reverse=True)


def _group(items: Sequence[_T], same: Callable[[_T, _T], bool]) -> list[list[_T]]:
    """`items` grouped with the first member of a group they are `same` as; largest group first."""
    groups: list[list[_T]] = []
    for x in items:
        for g in groups:
            if same(g[0], x):
                g.append(x)
                break
        else:
            groups.append([x])
    return _majority(groups)


def _orientation_groups(hs: list[FileHeader]) -> list[list[FileHeader]]:
    return _group(hs, lambda a, b: same_orientation(a.iop, b.iop))  # type: ignore[arg-type]


#: PixelSpacings within this relative difference are the same (rounding of the DS text).
SPACING_SPLIT_RTOL = 1e-3


def _same_spacing(a: tuple[float, ...] | None, b: tuple[float, ...] | None) -> bool:
    if a is None or b is None:
        return a is b
    return len(a) == len(b) and all(abs(x - y) <= SPACING_SPLIT_RTOL * max(abs(x), abs(y)) for x, y in zip(a, b))


def _spacing_groups(hs: list[FileHeader]) -> list[list[FileHeader]]:
    return _group(hs, lambda a, b: _same_spacing(a.pixel_spacing, b.pixel_spacing))


def _spacing_text(h: FileHeader) -> str:
    ps = h.pixel_spacing
    return "(absent)" if ps is None else "\\".join(f"{v:g}" for v in ps)


def _sort_stack(hs: list[FileHeader], iop: tuple[float, ...]) -> tuple[list[FileHeader], np.ndarray]:
    _, _, normal = orientation_axes(iop)
    nx, ny, nz = (float(v) for v in normal)
    d = np.array([nx * h.ipp[0] + ny * h.ipp[1] + nz * h.ipp[2] for h in hs])  # type: ignore[index]
    inst = [h.instance_number if h.instance_number is not None else 1 << 62 for h in hs]
    # ties (duplicates) go by InstanceNumber, then by scan order (paths sorted)
    order = sorted(range(len(hs)), key=lambda k: (d[k], inst[k], k))
    return [hs[k] for k in order], d[order]


def _repeats(d: Sequence[float] | npt.NDArray[np.float64]) -> list[tuple[int, int]]:
    """``(k, kept)`` for each position of sorted `d` within DUPLICATE_ATOL_MM of the last kept one."""
    pairs = []
    last = 0
    for k in range(1, len(d)):
        if abs(d[k] - d[last]) < DUPLICATE_ATOL_MM:
            pairs.append((k, last))
        else:
            last = k
    return pairs


def _placement_problem(h: FileHeader) -> str:
    """The geometry tag that keeps `h` from being placed in patient space ("" if none)."""
    if h.ipp is None or len(h.ipp) != 3 or not all(np.isfinite(h.ipp)):
        return "(0020,0032) ImagePositionPatient"
    if h.iop is None or not valid_orientation(h.iop):
        return "(0020,0037) ImageOrientationPatient"
    return ""


def _state(h: FileHeader, tag: str) -> str:
    value = h.ipp if "0032" in tag else h.iop
    return "missing" if value is None else f"malformed ({', '.join(f'{v:g}' for v in value)})"


def _unplaceable(missing: list[FileHeader], tag: str, msg: str, uid: str) -> StackPlan:
    """The plan of a series none of whose slices can be placed in patient space."""
    if len(missing) == 1:
        # one picture without patient geometry (e.g. a lone slice): shown in its own pixel frame
        return StackPlan("projection", missing, warnings=[msg.replace("left out of the volume", "shown as a 2-D image "
                                                                      "without patient coordinates")])
    err = MissingTagError(
        f"{tag} {_state(missing[0], tag)} in every slice of series {uid or '(no UID)'}: cannot place the slices "
        "in patient space",
        path=missing[0].path,
        tag=tag,
    )
    return StackPlan("volume", sorted(missing, key=lambda h: str(h.path)), warnings=[str(err)], error=err)


def _size_and_spacing_groups(usable: list[FileHeader], notes: list[str]) -> list[list[FileHeader]]:
    """Slices split by Rows x Columns, then by PixelSpacing (rule 4); each split is noted."""
    # split by rows/columns: the largest group is the volume, the others separate series
    by_size: dict[tuple[int, int], list[FileHeader]] = defaultdict(list)
    for h in usable:
        by_size[(h.rows, h.cols)].append(h)
    size_groups = _majority(list(by_size.values()))
    if len(size_groups) > 1:
        main = size_groups[0]
        for g in size_groups[1:]:
            notes.append(
                f"{_names(g)}: (0028,0010) Rows x (0028,0011) Columns = {g[0].rows}x{g[0].cols} differs from "
                f"the series' {main[0].rows}x{main[0].cols}; loaded as a separate series"
            )
    # then by PixelSpacing: one volume has one in-plane spacing, so slices reconstructed with
    # another field of view (same matrix) would be drawn and measured at the wrong scale
    split = []
    for sg in size_groups:
        groups = _spacing_groups(sg)
        for g in groups[1:]:
            notes.append(
                f"{_names(g)}: (0028,0030) PixelSpacing {_spacing_text(g[0])} differs from the series' "
                f"{_spacing_text(groups[0][0])}; loaded as a separate series"
            )
        split.extend(groups)
    return split


def _volume_plans(hs: list[FileHeader], uid: str) -> list[StackPlan]:
    """Split, sort and check the single-frame slices of one series."""
    plans: list[StackPlan] = []
    problems = {id(h): _placement_problem(h) for h in hs}
    missing = [h for h in hs if problems[id(h)]]
    usable = [h for h in hs if not problems[id(h)]]
    notes: list[str] = []
    if missing:
        tag = problems[id(missing[0])]
        msg = f"{_names(missing)}: {tag} missing or malformed; left out of the volume (its position is unknown)"
        if not usable:
            return [_unplaceable(missing, tag, msg, uid)]
        notes.append(msg)
    size_groups = _size_and_spacing_groups(usable, notes)
    for gi, sg in enumerate(size_groups):
        ori_groups = _orientation_groups(sg)
        for oi, og in enumerate(ori_groups):
            if oi > 0 and len(og) < MIN_STACK:
                plans.append(
                    StackPlan(
                        "other",
                        og,
                        iop=og[0].iop,
                        reason="localizer",
                        warnings=[
                            f"{_names(og)}: (0020,0037) ImageOrientationPatient differs from the rest of the "
                            "series: treated as a localizer and left out of the volume"
                        ],
                    )
                )
                continue
            w = list(notes) if gi == 0 and oi == 0 else []
            if oi > 0:
                w.append(
                    f"{_names(og)}: a second orientation ((0020,0037) ImageOrientationPatient) in the series; "
                    "loaded as a separate volume"
                )
            plans.extend(_stack_plans(og, w))
    return plans


def _stack_plans(hs: list[FileHeader], notes: list[str]) -> list[StackPlan]:
    iop = hs[0].iop
    assert iop is not None
    hs, d = _sort_stack(hs, iop)
    dups = _repeats(d)
    if dups:
        acqs = {h.acquisition_number for h in hs}
        if len(acqs) > 1:
            per_acq: dict[int | None, list[FileHeader]] = defaultdict(list)
            for h in hs:
                per_acq[h.acquisition_number].append(h)
            clean = all(not _repeats(_sort_stack(g, iop)[1]) for g in per_acq.values())
            if clean:
                out: list[StackPlan] = []
                for acq, g in sorted(per_acq.items(), key=lambda kv: -len(kv[1])):
                    w = notes + [
                        f"the series holds {len(per_acq)} acquisitions at the same positions: split by "
                        f"(0020,0012) AcquisitionNumber (this is acquisition {acq})"
                    ]
                    out.extend(_stack_plans(g, w))
                return out
        dropped = {k for k, _ in dups}
        keep = [k for k in range(len(hs)) if k not in dropped]
        lines = [
            f"duplicate slice: {hs[k].path.name} is at the same position as {hs[first].path.name} "
            f"(n.IPP = {d[k]:.3f} mm); kept {hs[first].path.name}, dropped {hs[k].path.name}"
            for k, first in dups
        ]
        hs = [hs[k] for k in keep]
        d = d[keep]
        notes = list(notes) + summarize(lines, "duplicate slices dropped")
    ipps = np.array([h.ipp for h in hs], dtype=np.float64)
    thickness = _slice_thickness(hs[0])
    geom = stack_geometry(ipps, iop, thickness)
    warnings = list(notes) + geometry_warnings(geom, [h.path.name for h in hs])
    return [StackPlan("volume", hs, iop=iop, geometry=geom, warnings=warnings)]


def geometry_warnings(geom: StackGeometry, labels: list[str]) -> list[str]:
    """Warnings for gaps, non-uniform spacing and shear; `labels` name the slices in order."""
    warnings: list[str] = []
    gap_lines = []
    for k, step in geom.gaps:
        missing = round(step / geom.median_step_mm) - 1
        gap_lines.append(
            f"gap: {step:.3f} mm between {labels[k]} and {labels[k + 1]} where the median step "
            f"is {geom.median_step_mm:.3f} mm (about {missing} slice(s) missing); kept as one volume with "
            "regular=False: slice_positions hold the true positions (resample to regrid)"
        )
    warnings += summarize(gap_lines, "gaps")
    if geom.tilt_deg > TILT_ATOL_DEG:
        warnings.append(
            f"sheared stack (gantry tilt {geom.tilt_deg:.2f} degrees): slices step along IPP_last - IPP_first, "
            "not along the slice normal; the affine's axis 0 is that step vector (exact for a uniform tilt)"
        )
    elif not geom.gaps and not geom.regular:
        steps = np.diff(geom.positions)
        warnings.append(
            f"non-uniform slice spacing: slices lie up to {geom.residual_mm:.3f} mm from a uniform grid "
            f"(steps {steps.min():.3f}..{steps.max():.3f} mm); regular=False, slice_positions hold the true "
            "positions"
        )
    return warnings


def _slice_thickness(h: FileHeader) -> float:
    """SliceThickness (mm) of a header, used only as the step of a 1-slice volume."""
    t = floats(h.dataset, 0x00180050)
    return float(t[0]) if t and t[0] > 0 else 1.0


def _projection_plans(hs: list[FileHeader]) -> list[StackPlan]:
    by_size: dict[tuple[int, int], list[FileHeader]] = defaultdict(list)
    for h in hs:
        by_size[(h.rows, h.cols)].append(h)
    plans = []
    for g in _majority(list(by_size.values())):
        g = sorted(g, key=lambda h: (h.instance_number if h.instance_number is not None else 1 << 62, str(h.path)))
        plans.append(StackPlan("projection", g))
    return plans


def _flatten_enhanced(h: FileHeader) -> bool:
    """Copy a one-frame enhanced file's functional-group geometry and rescale onto `h`.

    Returns False (and leaves `h` alone) when the frame cannot be placed; the
    file then stays a series of its own and reports its problem when loaded.
    """
    try:
        facts = frame_facts(h.dataset, 1, h.path)
    except MissImagingError:
        return False
    if facts.ipp is None or facts.iop is None or np.isnan(facts.ipp).any() or np.isnan(facts.iop).any():
        return False
    h.ipp = tuple(float(v) for v in facts.ipp[0])
    h.iop = tuple(float(v) for v in facts.iop[0])
    h.pixel_spacing = facts.pixel_spacing
    h.slope, h.intercept = float(facts.slope[0]), float(facts.intercept[0])
    h.warnings.extend(facts.warnings)
    return True


class _LazyHeaders(list):
    """The series' pydicom Datasets (no pixels), each built on first access.

    Holds FileHeaders; indexing and iteration return their ``.dataset`` so that
    scanning does not pay pydicom's per-element cost for headers nobody reads.
    """

    def __getitem__(self, i):
        v = super().__getitem__(i)
        return [h.dataset for h in v] if isinstance(i, slice) else v.dataset

    def __iter__(self):
        return (h.dataset for h in super().__iter__())


def _info(plan: StackPlan) -> SeriesInfo:
    h0 = plan.headers[0]
    ds = h0.dataset
    try:
        description = str(ds.get("SeriesDescription", "") or "")
    except Exception:  # undecodable text: not worth failing a scan
        description = ""
    return SeriesInfo(
        series_uid=h0.series_uid,
        modality=h0.modality,
        sop_class_uid=h0.sop_class,
        description=description,
        series_number=integer(ds, 0x00200011),
        n_files=len({h.path for h in plan.headers}),
        n_frames=plan.n_frames,
        rows=h0.rows,
        columns=h0.cols,
        kind=Kind(plan.kind),
        files=[h.path for h in plan.headers],
        warnings=list(plan.warnings),
        headers=_LazyHeaders(plan.headers),
        plan=plan,
    )


def _series_plans(uid: str, hs: list[FileHeader]) -> list[StackPlan]:
    """Rules 2, 3 and 7 for the files of one SeriesInstanceUID (rules 4-6 in :func:`_volume_plans`)."""
    plans: list[StackPlan] = []
    colour = [h for h in hs if not h.is_mono]
    if colour:
        plans.append(
            StackPlan(
                "other",
                colour,
                reason="colour",
                warnings=[
                    f"{_names(colour)}: (0028,0004) PhotometricInterpretation {colour[0].photometric} "
                    "(colour) is not supported: not loaded"
                ],
            )
        )
    loc = [h for h in hs if h.is_mono and h.is_localizer]
    if loc:
        plans.append(
            StackPlan(
                "other",
                sorted(loc, key=lambda h: str(h.path)),
                iop=loc[0].iop,
                reason="localizer",
                warnings=[
                    f"{_names(loc)}: localizer/scout ((0008,0008) ImageType LOCALIZER): never part of a volume"
                ],
            )
        )
    rest = [h for h in hs if h.is_mono and not h.is_localizer]
    one_frame = [h for h in rest if h.enhanced and h.frames == 1 and h.kind == "volume"]
    if len(one_frame) > 1:
        # some exporters write an enhanced series one frame per file: each file's functional
        # groups place its frame, so those files are slices of one stack, not N series
        one_frame = [h for h in one_frame if _flatten_enhanced(h)]
    else:
        one_frame = []
    multi = [h for h in rest if (h.frames > 1 or h.enhanced) and h not in one_frame]
    for h in multi:
        plans.append(StackPlan(h.kind, [h]))
    single = [h for h in rest if not (h.frames > 1 or h.enhanced) or h in one_frame]
    vols = [h for h in single if h.kind == "volume"]
    projs = [h for h in single if h.kind == "projection"]
    if vols:
        plans.extend(_volume_plans(vols, uid))
    if projs:
        plans.extend(_projection_plans(projs))
    return plans


def assemble(headers: list[FileHeader]) -> list[SeriesInfo]:
    """Group, split and order file headers into series (rules in the module docstring).

    Returns
    -------
    list of SeriesInfo
        Image series (volumes, projections) largest first, then ``"other"``
        series (localizers, colour images).  Each carries its
        :class:`StackPlan` as ``plan``, which :func:`miss_imaging.reading.loader.load` builds.
    """
    by_uid: dict[str, list[FileHeader]] = defaultdict(list)
    for h in headers:
        by_uid[h.series_uid].append(h)
    plans = [p for uid, hs in by_uid.items() for p in _series_plans(uid, hs)]
    for p in plans:
        p.warnings = [w for h in p.headers for w in h.warnings] + p.warnings
    infos = [_info(p) for p in plans]
    infos.sort(key=lambda s: (s.kind == "other", -(s.n_frames * s.rows * s.columns)))
    return infos



def check_spacing(ps: Sequence[float], path: Path, where: str = "") -> None:
    """Raise unless PixelSpacing is two finite values > 0 (PS3.3 10.7.1.3).

    Zero would collapse the image and a negative value would mirror an axis
    (the affine column flips) while ``spacing`` still looked positive.
    """
    r, c = float(ps[0]), float(ps[1])
    if not (np.isfinite(r) and np.isfinite(c) and r > 0 and c > 0):
        raise SeriesGeometryError(
            f"{where}(0028,0030) PixelSpacing = [{r:g}, {c:g}]: row and column spacing must be > 0 mm",
            path=path,
            tag="(0028,0030) PixelSpacing",
        )


@dataclass(eq=False)
class FrameStack:
    """The frames of one multi-frame file in array order (made by :func:`frame_stack`).

    Attributes
    ----------
    order : list of int
        0-based frame indices of the file, in array (axis 0) order.
    facts : FrameFacts
        Per-frame geometry and rescale, in file frame order.
    iop : tuple of 6 float or None
        Orientation of the stack (volumes only).
    ipps : ndarray (N, 3) or None
        ImagePositionPatient (mm) of the frames in `order` (volumes only).
    geometry : StackGeometry or None
        Step, gaps and tilt of the stack (volumes only).
    warnings : list of str
        Frames left out (other orientations, repeated positions), gaps, shear.
    """

    order: list[int]
    facts: FrameFacts
    iop: tuple[float, ...] | None = None
    ipps: npt.NDArray[np.float64] | None = None
    geometry: StackGeometry | None = None
    warnings: list[str] = field(default_factory=list)


def frame_stack(h: FileHeader, kind: PlanKind) -> FrameStack:
    """Order the frames of the multi-frame file `h` (rule 3; functional groups or top level).

    A projection keeps file frame order.  A volume's frames are split by
    orientation (the largest group is the volume, like a single-frame
    series' majority orientation), sorted by ``n . IPP`` and frames at a
    repeated position dropped (temporal or duplicate frames).

    Raises
    ------
    MissingTagError, SeriesGeometryError
        A volume's frames cannot be placed (position, orientation or
        spacing missing or invalid), naming the file and tag.
    """
    facts = frame_facts(h.dataset, h.frames, h.path, geometry=kind == "volume")
    if kind != "volume":
        return FrameStack(list(range(h.frames)), facts, warnings=list(facts.warnings))
    fg = "(5200,9230) PerFrameFunctionalGroupsSequence > " if facts.functional_groups else ""
    ipp, iops = _frame_positions(h, facts, fg)
    warnings = list(facts.warnings)
    order = _orientation_stack(h, iops, warnings)
    if facts.pixel_spacing is None:
        raise MissingTagError(f"{fg}(0028,0030) PixelSpacing missing", path=h.path, tag="(0028,0030) PixelSpacing")
    check_spacing(facts.pixel_spacing, h.path, fg)
    if not all(valid_orientation(v) for v in iops):
        bad = next(i for i, v in enumerate(iops) if not valid_orientation(v))
        raise SeriesGeometryError(
            f"{fg}(0020,0037) ImageOrientationPatient of frame {bad} = {iops[bad].tolist()} is not two "
            "unit vectors at right angles: cannot place the frames in patient space",
            path=h.path,
            tag="(0020,0037) ImageOrientationPatient",
        )
    iop = tuple(float(v) for v in iops[order[0]])
    d = ipp @ orientation_axes(iop)[2]
    order = sorted(order, key=lambda i: (d[i], i))
    repeats = _repeats([d[i] for i in order])
    lines = [
        f"{h.path.name}: frame {order[k]} is at the same position as frame {order[kept]} "
        f"(n.IPP = {d[order[k]]:.3f} mm); kept frame {order[kept]}, dropped frame {order[k]}"
        for k, kept in repeats
    ]
    warnings += summarize(lines, "frames at repeated positions dropped (temporal or duplicate frames)")
    dropped = {k for k, _ in repeats}
    order = [i for k, i in enumerate(order) if k not in dropped]
    ipps = ipp[order]
    geometry = stack_geometry(ipps, iop, facts.slice_thickness or 1.0)
    warnings += geometry_warnings(geometry, [f"{h.path.name} frame {i}" for i in order])
    return FrameStack(order, facts, iop, ipps, geometry, warnings)


def _frame_positions(h: FileHeader, facts: FrameFacts, fg: str) -> tuple[np.ndarray, np.ndarray]:
    """Every frame's IPP (F, 3) and IOP (F, 6); raises when a frame has none."""
    if facts.ipp is None or np.isnan(facts.ipp).any():
        raise MissingTagError(
            f"{fg}(0020,0032) ImagePositionPatient missing for some or all of the {h.frames} frames: "
            "cannot place them in patient space",
            path=h.path,
            tag="(0020,0032) ImagePositionPatient",
        )
    if facts.iop is None or np.isnan(facts.iop).any():
        raise MissingTagError(
            f"{fg}(0020,0037) ImageOrientationPatient missing", path=h.path, tag="(0020,0037) ImageOrientationPatient"
        )
    return facts.ipp, facts.iop


def _orientation_stack(h: FileHeader, iops: np.ndarray, warnings: list[str]) -> list[int]:
    """Frames of the largest orientation group (multi-stack enhanced MR...); the others are named and left out."""
    groups = _group(range(h.frames), lambda a, b: same_orientation(iops[a], iops[b]))
    order = groups[0]
    if len(groups) > 1:
        if len(order) < 2:
            raise SeriesGeometryError(
                f"its {h.frames} frames have {len(groups)} different (0020,0037) ImageOrientationPatient: "
                "no stack to build a volume from",
                path=h.path,
                tag="(0020,0037) ImageOrientationPatient",
            )
        warnings.append(
            f"{h.path.name}: {sum(len(g) for g in groups[1:])} frame(s) in {len(groups) - 1} other orientation(s) "
            "((0020,0037) ImageOrientationPatient) left out; the volume is the largest stack "
            f"({len(order)} frames)"
        )
    return order
