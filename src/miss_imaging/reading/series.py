"""Series assembly: files -> ordered, split and checked image series.

Rules (those of the trusted viewers, see REFERENCE.md §1):

1. Files are grouped by (0020,000E) SeriesInstanceUID.
2. Colour images and localizers ((0008,0008) ImageType contains LOCALIZER)
   never enter a volume; they are reported as series of kind ``"other"``.
3. Every multi-frame file (Enhanced CT/MR, XA/RF cine...) is its own series;
   its frames are ordered at load time from the functional groups.  Enhanced
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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from miss_imaging.reading._header import FileHeader, integer
from miss_imaging.errors import MissingTagError
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
    "Plan",
    "assemble",
    "plan_of",
    "geometry_warnings",
    "summarize",
    "MIN_STACK",
    "MAX_LISTED",
    "SPACING_SPLIT_RTOL",
]

#: A minority orientation inside a series with fewer slices than this is a localizer.
MIN_STACK = 3


@dataclass(eq=False)
class Plan:
    """How to build one image from files (attached to SeriesInfo as ``_plan``)."""

    kind: str  # "volume" | "projection" | "other"
    headers: list[FileHeader]  # in array order
    iop: tuple[float, ...] | None = None
    geometry: StackGeometry | None = None
    warnings: list[str] = field(default_factory=list)
    error: Exception | None = None  # raised when this series is loaded
    reason: str = ""  # why kind is "other"

    @property
    def n_frames(self) -> int:
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


def _majority(groups: list[list[FileHeader]]) -> list[list[FileHeader]]:
    return sorted(groups, key=len, reverse=True)


def _orientation_groups(hs: list[FileHeader]) -> list[list[FileHeader]]:
    groups: list[list[FileHeader]] = []
    for h in hs:
        for g in groups:
            if same_orientation(g[0].iop, h.iop):  # type: ignore[arg-type]
                g.append(h)
                break
        else:
            groups.append([h])
    return _majority(groups)


#: PixelSpacings within this relative difference are the same (rounding of the DS text).
SPACING_SPLIT_RTOL = 1e-3


def _same_spacing(a: tuple[float, ...] | None, b: tuple[float, ...] | None) -> bool:
    if a is None or b is None:
        return a is b
    return len(a) == len(b) and all(abs(x - y) <= SPACING_SPLIT_RTOL * max(abs(x), abs(y)) for x, y in zip(a, b))


def _spacing_groups(hs: list[FileHeader]) -> list[list[FileHeader]]:
    groups: list[list[FileHeader]] = []
    for h in hs:
        for g in groups:
            if _same_spacing(g[0].pixel_spacing, h.pixel_spacing):
                g.append(h)
                break
        else:
            groups.append([h])
    return _majority(groups)


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


def _duplicates(hs: list[FileHeader], d: np.ndarray) -> list[int]:
    """Indices (in sorted order) of slices at the same position as the previous kept one."""
    dups = []
    last = 0
    for k in range(1, len(hs)):
        if abs(d[k] - d[last]) < DUPLICATE_ATOL_MM:
            dups.append(k)
        else:
            last = k
    return dups


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


def _volume_plans(hs: list[FileHeader], uid: str) -> list[Plan]:
    """Split, sort and check the single-frame slices of one series."""
    plans: list[Plan] = []
    problems = {id(h): _placement_problem(h) for h in hs}
    missing = [h for h in hs if problems[id(h)]]
    usable = [h for h in hs if not problems[id(h)]]
    notes: list[str] = []
    if missing:
        tag = problems[id(missing[0])]
        msg = f"{_names(missing)}: {tag} missing or malformed; left out of the volume (its position is unknown)"
        if not usable and len(missing) == 1:
            # one picture without patient geometry (e.g. a lone slice): shown in its own pixel frame
            return [Plan("projection", missing, warnings=[msg.replace("left out of the volume", "shown as a 2-D image "
                                                                       "without patient coordinates")])]
        if not usable:
            err = MissingTagError(
                f"{tag} {_state(missing[0], tag)} in every slice of series {uid or '(no UID)'}: cannot place the slices "
                "in patient space",
                path=missing[0].path,
                tag=tag,
            )
            return [Plan("volume", sorted(missing, key=lambda h: str(h.path)), warnings=[str(err)], error=err)]
        notes.append(msg)
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
    size_groups = split
    for gi, sg in enumerate(size_groups):
        ori_groups = _orientation_groups(sg)
        for oi, og in enumerate(ori_groups):
            if oi > 0 and len(og) < MIN_STACK:
                plans.append(
                    Plan(
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


def _stack_plans(hs: list[FileHeader], notes: list[str]) -> list[Plan]:
    iop = hs[0].iop
    assert iop is not None
    hs, d = _sort_stack(hs, iop)
    dups = _duplicates(hs, d)
    if dups:
        acqs = {h.acquisition_number for h in hs}
        if len(acqs) > 1:
            per_acq: dict[int | None, list[FileHeader]] = defaultdict(list)
            for h in hs:
                per_acq[h.acquisition_number].append(h)
            clean = all(not _duplicates(*_sort_stack(g, iop)) for g in per_acq.values())
            if clean:
                out: list[Plan] = []
                for acq, g in sorted(per_acq.items(), key=lambda kv: -len(kv[1])):
                    w = notes + [
                        f"the series holds {len(per_acq)} acquisitions at the same positions: split by "
                        f"(0020,0012) AcquisitionNumber (this is acquisition {acq})"
                    ]
                    out.extend(_stack_plans(g, w))
                return out
        dset = set(dups)
        keep = [k for k in range(len(hs)) if k not in dset]
        lines = []
        first = 0
        for k in range(len(hs)):
            if k not in dset:
                first = k  # the kept slice that later duplicates repeat
                continue
            lines.append(
                f"duplicate slice: {hs[k].path.name} is at the same position as {hs[first].path.name} "
                f"(n.IPP = {d[k]:.3f} mm); kept {hs[first].path.name}, dropped {hs[k].path.name}"
            )
        hs = [hs[k] for k in keep]
        d = d[keep]
        notes = list(notes) + summarize(lines, "duplicate slices dropped")
    ipps = np.array([h.ipp for h in hs], dtype=np.float64)
    thickness = _slice_thickness(hs[0])
    geom = stack_geometry(ipps, iop, thickness)
    warnings = list(notes) + geometry_warnings(geom, [h.path.name for h in hs])
    return [Plan("volume", hs, iop=iop, geometry=geom, warnings=warnings)]


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
    from miss_imaging.reading._header import floats

    t = floats(h.dataset, 0x00180050)
    return float(t[0]) if t and t[0] > 0 else 1.0


def _projection_plans(hs: list[FileHeader]) -> list[Plan]:
    by_size: dict[tuple[int, int], list[FileHeader]] = defaultdict(list)
    for h in hs:
        by_size[(h.rows, h.cols)].append(h)
    plans = []
    for g in _majority(list(by_size.values())):
        g = sorted(g, key=lambda h: (h.instance_number if h.instance_number is not None else 1 << 62, str(h.path)))
        plans.append(Plan("projection", g))
    return plans


def _flatten_enhanced(h: FileHeader) -> bool:
    """Copy a one-frame enhanced file's functional-group geometry and rescale onto `h`.

    Returns False (and leaves `h` alone) when the frame cannot be placed; the
    file then stays a series of its own and reports its problem when loaded.
    """
    from miss_imaging.reading.enhanced import frame_facts
    from miss_imaging.errors import MissImagingError

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

    def __getitem__(self, i):  # type: ignore[override]
        v = super().__getitem__(i)
        return [h.dataset for h in v] if isinstance(i, slice) else v.dataset

    def __iter__(self):  # type: ignore[override]
        return (h.dataset for h in super().__iter__())


def _info(plan: Plan) -> SeriesInfo:
    h0 = plan.headers[0]
    ds = h0.dataset
    try:
        description = str(ds.get("SeriesDescription", "") or "")
    except Exception:  # undecodable text: not worth failing a scan
        description = ""
    info = SeriesInfo(
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
    )
    info._plan = plan  # type: ignore[attr-defined]
    return info


def assemble(headers: list[FileHeader]) -> list[SeriesInfo]:
    """Group, split and order file headers into series (rules in the module docstring).

    Returns
    -------
    list of SeriesInfo
        Image series (volumes, projections) largest first, then ``"other"``
        series (localizers, colour images).  Each carries a ``_plan`` used by
        :func:`miss_imaging.reading.loader.load`.
    """
    by_uid: dict[str, list[FileHeader]] = defaultdict(list)
    for h in headers:
        by_uid[h.series_uid].append(h)
    plans: list[Plan] = []
    for uid, hs in by_uid.items():
        colour = [h for h in hs if not h.is_mono]
        if colour:
            plans.append(
                Plan(
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
                Plan(
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
            plans.append(Plan(h.kind, [h]))
        single = [h for h in rest if not (h.frames > 1 or h.enhanced) or h in one_frame]
        vols = [h for h in single if h.kind == "volume"]
        projs = [h for h in single if h.kind == "projection"]
        if vols:
            plans.extend(_volume_plans(vols, uid))
        if projs:
            plans.extend(_projection_plans(projs))
    for p in plans:
        p.warnings = [w for h in p.headers for w in h.warnings] + p.warnings
    infos = [_info(p) for p in plans]
    infos.sort(key=lambda s: (s.kind == "other", -(s.n_frames * s.rows * s.columns)))
    return infos


def plan_of(info: SeriesInfo) -> Plan:
    """The assembly plan of `info` (re-read from its files if it was built by hand)."""
    plan = getattr(info, "_plan", None)
    if plan is not None:
        return plan
    from miss_imaging.reading.dicom_scan import read_header

    infos = assemble([read_header(Path(f)) for f in info.files])
    if not infos:
        raise MissingTagError("no image in the series' files", path=info.files[0] if info.files else None)
    return infos[0]._plan  # type: ignore[attr-defined]
