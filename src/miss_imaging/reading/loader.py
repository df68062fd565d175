"""Loading: a scanned series -> :class:`~miss_imaging.model.ImageVolume`.

* ``load(path_or_series, *, lazy=None)``: one series.  For a path holding
  several image series the largest is loaded and a warning lists the others.
* ``load_all(path, *, lazy=None, progress=None, errors="warn")``: every
  image series, largest first (the napari reader); localizers, colour and
  unreadable files are skipped with warnings, or collected on the result
  with ``errors="collect"``.

How files and frames become a stack is decided in :mod:`.series` (the
:class:`~miss_imaging.reading.series.StackPlan` that :func:`scan` puts on each
``SeriesInfo.plan``); this module turns a plan into an ``ImageVolume`` in
named steps: sources (which frame of which file, with its rescale), pixels,
geometry (volumes) or calibration (projections), and display attributes.

Eager loading preallocates the output and reads each slice/frame straight
into its place (see :mod:`miss_imaging.reading._pixels`).  Above
:data:`LAZY_THRESHOLD_BYTES` of output (or with ``lazy=True``) ``pixels``
is a dask array with one chunk per file (single-frame series) or per frame
(multi-frame files), rescaled per chunk; ``lazy=False`` forces eager.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from miss_imaging.reading import _attributes as attrs
from miss_imaging.reading._header import FileHeader, floats, text
from miss_imaging.reading._pixels import FrameSource, check_decodable, choose_dtype, fill, read_one, stored_range
from miss_imaging.reading._structure import parse_failure, pydicom_warnings_named
from miss_imaging.reading.dicom_scan import PathOrPaths, Progress, read_header, scan
from miss_imaging.errors import (
    MissImagingError,
    MissingTagError,
    NotDicomError,
    PixelDataError,
    warn_and_log,
)
from miss_imaging.spatial.geometry import StackGeometry, plane_affine
from miss_imaging.model import ImageVolume, Kind, ProjectionTags, ScanResult, SeriesInfo
from miss_imaging.reading.series import StackPlan, assemble, check_spacing, frame_stack

__all__ = ["load", "load_all", "plan_of", "LoadResult", "LAZY_THRESHOLD_BYTES"]

#: Output size (bytes) above which ``load(..., lazy=None)`` returns a dask array: 1 GiB.
LAZY_THRESHOLD_BYTES = 1 << 30
VOLUME_CALIBRATION = "patient geometry (CT)"


def _image_series(result: ScanResult) -> list[SeriesInfo]:
    return [s for s in result if s.kind in ("volume", "projection")]


def _no_image_error(path: Path, result: ScanResult) -> MissImagingError:
    errors = getattr(result, "errors", {})
    if len(errors) == 1 and not len(result):
        return next(iter(errors.values()))  # a single bad file: its own specific error
    if len(result):
        s = result[0]
        return MissImagingError(f"no loadable image series: only {s.label} ({s.kind}: {'; '.join(s.warnings)})",
                                path=path)
    reasons = "; ".join(f"{p.name}: {why.split(': ', 1)[-1]}" for p, why in result.skipped[:5])
    return NotDicomError(f"no DICOM image found ({len(result.skipped)} file(s) skipped: {reasons})", path=path)


def plan_of(info: SeriesInfo) -> StackPlan:
    """The stack plan of `info`: ``info.plan``, or (a SeriesInfo made by hand) its files re-read and assembled."""
    if info.plan is not None:
        return info.plan
    infos = assemble([read_header(Path(f)) for f in info.files])
    if not infos or infos[0].plan is None:
        raise MissingTagError("no image in the series' files", path=info.files[0] if info.files else None)
    return infos[0].plan


def load(path_or_series: str | os.PathLike | SeriesInfo, *, lazy: bool | None = None,
         fast_path: bool = True) -> ImageVolume:
    """Load one series as an :class:`~miss_imaging.model.ImageVolume`.

    Parameters
    ----------
    path_or_series : str, Path or SeriesInfo
        A file, folder tree or DICOMDIR (the largest image series is loaded;
        a warning lists the others), or one entry of :func:`miss_imaging.scan`.
    lazy : bool or None
        None: dask array above LAZY_THRESHOLD_BYTES (1 GiB) of output, numpy
        below.  True/False force it.
    fast_path : bool
        True: uncompressed little-endian pixels are read straight from the
        file; False: pydicom decodes every file (same values, slower; for
        comparison in tests and benchmarks).

    Returns
    -------
    ImageVolume
        ``pixels`` (z, y, x) HU int16 for CT (float32 when rescale is not
        integral), (frame, y, x) for projections; geometry per model.py.

    Raises
    ------
    MissImagingError subclasses naming the file and tag: NotDicomError,
    TruncatedFileError, PixelDataError, MissingTagError, AbsurdDimensionsError,
    UnsupportedTransferSyntaxError, SeriesGeometryError.
    """
    if isinstance(path_or_series, SeriesInfo):
        return _build(plan_of(path_or_series), path_or_series, lazy, [], fast_path)
    path = Path(path_or_series)
    result = scan(path)
    images = _image_series(result)
    if not images:
        if len(result) and result[0].kind == "other" and plan_of(result[0]).reason == "localizer":
            images = [result[0]]  # only a localizer: show it as the projection it is
        else:
            raise _no_image_error(path, result)
    failures: list[str] = []
    first_error: MissImagingError | None = None
    for chosen in images:  # the largest that loads; a failing one is reported, not fatal
        others = [s for s in result if s is not chosen]
        extra = list(failures)
        if others:
            listing = "; ".join(f"{s.label} ({s.kind}, {s.n_frames} frame(s) {s.rows}x{s.columns})" for s in others)
            extra.append(f"{path.name}: {len(others)} other series not loaded (use load_all or scan): {listing}")
            extra += [w for s in others if s.kind == "other" for w in s.warnings]  # localizers, colour
        extra += [f"skipped {p.name}: {why}" for p, why in result.skipped]
        try:
            return _build(plan_of(chosen), chosen, lazy, extra, fast_path)
        except MissImagingError as exc:
            first_error = first_error or exc
            failures.append(f"series {chosen.label} could not be loaded: {exc}")
    assert first_error is not None
    raise first_error


class LoadResult(list):  # list[ImageVolume]
    """The volumes :func:`load_all` loaded, largest first, and what it left out.

    ``problems`` names each skipped file and each series that failed to load
    (file and reason); ``not_shown`` names each series deliberately not
    loaded (localizers, colour images).
    """

    def __init__(self, volumes: Sequence[ImageVolume] = ()):
        super().__init__(volumes)
        self.problems: list[str] = []
        self.not_shown: list[str] = []


def _estimated_bytes(s: SeriesInfo) -> int:
    """Decoded size of a series as int16 (the usual output), from its header."""
    return int(s.n_frames) * int(s.rows) * int(s.columns) * 2


def load_all(
    path: PathOrPaths | ScanResult,
    *,
    lazy: bool | None = None,
    progress: Progress | None = None,
    errors: Literal["warn", "collect"] = "warn",
    fast_path: bool = True,
) -> LoadResult:
    """Every image series under `path`, largest first (for the napari reader).

    Parameters
    ----------
    path : str or Path, a list of them, or ScanResult
        What :func:`miss_imaging.scan` takes (files, folders, DICOMDIR; a
        list is scanned as one set of files), or its result.
    lazy : bool or None
        As for :func:`load`.
    progress : callable, optional
        ``progress(done, total, label)`` with the estimated decoded bytes
        (frames x rows x columns x 2) loaded so far and in all, before each
        series (`label` names it) and once at the end (`label` "").
    errors : {"warn", "collect"}
        "warn": each skipped file, left-out series and failed series is a
        warning, and an error is raised when nothing at all can be loaded.
        "collect": nothing is warned or raised for them (only the loaded
        volumes' own warnings are); read ``problems`` and ``not_shown`` of
        the result, which may be empty.

    fast_path : bool
        As for :func:`load`.
    Returns
    -------
    LoadResult
        The volumes, with ``problems`` and ``not_shown`` (filled in both modes).
    """
    result = path if isinstance(path, ScanResult) else scan(path)
    out = LoadResult()
    warn = errors == "warn"
    for f, why in result.skipped:
        out.problems.append(why if why.startswith(str(f)) else f"{f}: {why}")
        if warn:
            warn_and_log(f"skipped {f.name}: {why}")
    images = [s for s in result if s.kind != "other"]
    for s in result:
        if s.kind == "other":
            out.not_shown.append(f"{s.label}: not shown ({s.kind}: {s.n_files} file(s), e.g. {s.files[0].name})")
            for w in s.warnings if warn else ():
                warn_and_log(w)
    total, done = sum(_estimated_bytes(s) for s in images), 0
    last_error: Exception | None = None
    for s in images:
        if progress is not None:
            progress(done, total, s.label)
        try:
            out.append(_build(plan_of(s), s, lazy, [], fast_path))
        except (MissImagingError, OSError, ValueError, MemoryError) as exc:
            if warn and not isinstance(exc, MissImagingError):
                raise  # only the collecting caller (the napari reader) takes decoder failures as a problem
            last_error = exc
            out.problems.append(str(exc) if isinstance(exc, MissImagingError)
                                else f"{s.files[0] if s.files else s.label}: {type(exc).__name__}: {exc}")
            if warn:
                warn_and_log(f"series {s.label} not loaded: {exc}")
        done += _estimated_bytes(s)
    if progress is not None:
        progress(total, total, "")
    if warn and not out:
        raise last_error or _no_image_error(_where(path, result), result)
    return out


def _where(path: PathOrPaths | ScanResult, result: ScanResult) -> Path:
    """The path an error about the whole of `path` names: the (first) path given, or the scanned files' folder."""
    if isinstance(path, (str, os.PathLike)):
        return Path(path)
    if not isinstance(path, ScanResult) and path:
        return Path(path[0])
    files = [str(f) for s in result for f in s.files] + [str(f) for f, _ in result.skipped]
    return Path(os.path.commonpath(files)) if files else Path(".")


class _Placement(NamedTuple):
    """Where a volume's slices lie: orientation, IPP of each slice (N, 3) mm, PixelSpacing (row, col) mm."""

    iop: tuple[float, ...]
    ipps: npt.NDArray[np.float64]
    pixel_spacing: tuple[float, ...]
    geometry: StackGeometry


def _multiframe_sources(plan: StackPlan, kind: str, warnings: list[str]) -> tuple[list[FrameSource], _Placement | None]:
    """Sources of one multi-frame file in the order :func:`~.series.frame_stack` decides."""
    h = plan.headers[0]
    stack = frame_stack(h, "volume" if kind == "volume" else "projection")
    warnings += stack.warnings
    facts = stack.facts
    sources = [FrameSource(h, i, float(facts.slope[i]), float(facts.intercept[i])) for i in stack.order]
    if stack.geometry is None:
        return sources, None
    assert stack.iop is not None and stack.ipps is not None and facts.pixel_spacing is not None
    return sources, _Placement(stack.iop, stack.ipps, facts.pixel_spacing, stack.geometry)


def _slice_sources(plan: StackPlan, kind: str, warnings: list[str]) -> tuple[list[FrameSource], _Placement | None]:
    """One source per single-frame file, in the plan's order; a volume's in-plane spacing checked."""
    h0 = plan.headers[0]
    sources = [FrameSource(h, 0, h.slope, h.intercept) for h in plan.headers]
    if kind != "volume":
        return sources, None
    in_plane = h0.pixel_spacing
    if in_plane is None or len(in_plane) < 2:
        raise MissingTagError(
            "(0028,0030) PixelSpacing missing: in-plane distances unknown", path=h0.path,
            tag="(0028,0030) PixelSpacing",
        )
    check_spacing(in_plane, h0.path)
    odd = [h.path.name for h in plan.headers if h.pixel_spacing != h0.pixel_spacing]
    if odd:
        warnings.append(
            f"{', '.join(odd[:5])}: (0028,0030) PixelSpacing differs from {h0.path.name}'s "
            f"{in_plane}; {h0.path.name}'s is used"
        )
    assert plan.iop is not None and plan.geometry is not None
    ipps = np.array([h.ipp for h in plan.headers], dtype=np.float64)
    return sources, _Placement(plan.iop, ipps, in_plane, plan.geometry)


#: Tags whose value sets a projection's in-plane calibration (see calibration.py).
_CALIBRATION_TAGS = {
    0x00280030: "(0028,0030) PixelSpacing",
    0x00181164: "(0018,1164) ImagerPixelSpacing",
    0x00280A02: "(0028,0A02) PixelSpacingCalibrationType",
    0x00181114: "(0018,1114) EstimatedRadiographicMagnificationFactor",
    0x00181110: "(0018,1110) DistanceSourceToDetector",
    0x00181111: "(0018,1111) DistanceSourceToPatient",
}


def _calibration_differences(headers: list[FileHeader]) -> list[str]:
    """Warnings for single-frame projections stacked as frames whose calibration tags differ.

    Only the first file's tags set the stack's spacing, so a frame acquired
    with another magnification would be measured with the wrong one.
    """
    out = []
    h0 = headers[0]
    for tag, name in _CALIBRATION_TAGS.items():
        # numbers compared as numbers ("0.1" == "0.10"), the calibration type as text
        get = text if tag == 0x00280A02 else floats
        v0 = get(h0.source, tag)
        odd = [h.path.name for h in headers[1:] if get(h.source, tag) != v0]
        if odd:
            shown = "(absent)" if not v0 else v0 if isinstance(v0, str) else "\\".join(f"{v:g}" for v in v0)
            out.append(
                f"{', '.join(odd[:5])}{' and more' if len(odd) > 5 else ''}: {name} differs from "
                f"{h0.path.name}'s {shown}; every frame is measured with {h0.path.name}'s calibration"
            )
    return out


def _pixels(sources: list[FrameSource], lazy: bool | None, fast_path: bool):
    h0 = sources[0].header
    for s in {id(s.header): s for s in sources}.values():
        check_decodable(s.header, fast_path)
    dtype, check = choose_dtype(sources)
    shape = (len(sources), h0.rows, h0.cols)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if lazy is None:
        lazy = nbytes > LAZY_THRESHOLD_BYTES
    if lazy:
        import dask.array as da

        if check:
            dtype = np.dtype(np.float32)  # actual ranges are unknown until read
        return da.map_blocks(
            lambda block_id=None: read_one(sources[block_id[0]], dtype, fast_path),
            dtype=dtype,
            chunks=((1,) * shape[0], (shape[1],), (shape[2],)),
            meta=np.empty((0, 0, 0), dtype),
        )
    out = np.empty(shape, dtype)
    return fill(sources, out, check, fast_path)


def _build(plan: StackPlan, info: SeriesInfo, lazy: bool | None, extra: list[str],
           fast_path: bool = True) -> ImageVolume:
    """Build the ImageVolume of `plan`; a header element pydicom cannot convert becomes our error.

    Attributes are converted by pydicom on first access (after the scan), so a
    corrupt element (unknown VR, undecodable value) surfaces here as one of
    pydicom's many exception types; it is reported naming the file (and the
    tag pydicom names) instead of escaping as a bare ValueError or the like.
    """
    try:
        h0 = plan.headers[0]
        with pydicom_warnings_named(h0.path, h0.dataset) as named:
            vol = _build_volume(plan, info, lazy, extra, fast_path)
        vol.warnings.extend(named)
        return vol
    except MissImagingError:
        raise
    except (OSError, EOFError, RecursionError) as exc:  # a damaged sequence, parsed on first access
        raise parse_failure(exc, plan.headers[0].path) from exc
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, NotImplementedError, struct.error) as exc:
        found = re.search(r"\(([0-9A-Fa-f]{4}),\s*([0-9A-Fa-f]{4})\)", str(exc))
        tag = f"({found.group(1).upper()},{found.group(2).upper()})" if found else None
        raise MissImagingError(
            f"a header element cannot be read ({type(exc).__name__}: {exc}); the file is damaged or not valid DICOM",
            path=plan.headers[0].path,
            tag=tag,
        ) from exc


def _build_volume(plan: StackPlan, info: SeriesInfo, lazy: bool | None, extra: list[str],
                  fast_path: bool) -> ImageVolume:
    """The ImageVolume of `plan`, in named steps (sources, pixels, geometry or calibration, display)."""
    _check_loadable(plan)
    h0: FileHeader = plan.headers[0]
    ds = h0.dataset
    kind = Kind.VOLUME if plan.kind == "volume" else Kind.PROJECTION
    warnings = list(plan.warnings)
    multi = len(plan.headers) == 1 and (h0.frames > 1 or h0.enhanced)
    sources, placement = (_multiframe_sources if multi else _slice_sources)(plan, kind, warnings)
    pixels = _pixels(sources, lazy, fast_path)
    if "ModalityLUTSequence" in ds:
        warnings.append(
            f"{h0.path.name}: (0028,3000) ModalityLUTSequence is not applied (only Rescale Slope/Intercept are): "
            "pixels are stored values"
        )
    projection = None
    if placement is not None:
        affine = plane_affine(placement.iop, placement.ipps[0], placement.pixel_spacing[:2], placement.geometry.step)
        calibration = VOLUME_CALIBRATION
    else:
        projection, affine, calibration = _projection_frame(plan, ds, len(sources), multi, warnings)
    s0, s1, s2 = (float(v) for v in np.linalg.norm(affine[:3, :3], axis=0))
    spacing = (1.0 if kind == "projection" else s0, s1, s2)  # a projection's axis 0 counts frames
    file_windows, file_luts, metadata = _display(h0, sources[0], warnings)
    all_warnings = warnings + extra
    for w in all_warnings:
        warn_and_log(w, stacklevel=3)
    return ImageVolume(
        pixels=pixels,
        spacing=spacing,
        affine=affine,
        kind=kind,
        modality=h0.modality,
        photometric=h0.photometric,
        windows=file_windows,
        voi_lut=file_luts,
        projection=projection,
        calibration=calibration,
        series_uid=h0.series_uid,
        study_uid=str(ds.get("StudyInstanceUID", "") or ""),
        frame_of_reference_uid=str(ds.get("FrameOfReferenceUID", "") or ""),
        sop_class_uid=h0.sop_class,
        series_description=info.description,
        series_number=info.series_number,
        metadata=metadata,
        patient=attrs.banner_identifiers(ds),
        warnings=all_warnings,
        files=[h0.path] if multi else [s.header.path for s in sources],
        slice_positions=placement.ipps if placement is not None else None,
        regular=placement.geometry.regular if placement is not None else True,
    )


def _check_loadable(plan: StackPlan) -> None:
    """Raise the error assembly found for this series, or the colour refusal."""
    if plan.error is not None:
        raise plan.error
    h0 = plan.headers[0]
    if plan.kind == "other" and plan.reason == "colour":
        raise PixelDataError(
            f"(0028,0004) PhotometricInterpretation {h0.photometric}: colour images are not supported",
            path=h0.path,
            tag="(0028,0004) PhotometricInterpretation",
        )


def _projection_frame(
    plan: StackPlan, ds: Dataset, n: int, multi: bool, warnings: list[str]
) -> tuple[ProjectionTags, npt.NDArray[np.float64], str]:
    """Projection tags, image-plane affine and calibration label of a projection (see calibration.py)."""
    from miss_imaging.measurement.calibration import projection_calibration

    h0 = plan.headers[0]
    projection = attrs.projection_tags(ds, n)
    warnings += [f"{h0.path.name}: {w}" for w in attrs.calibration_tag_warnings(ds)]
    if not multi:
        warnings += _calibration_differences(plan.headers)
    cal = projection_calibration(projection)
    warnings += list(cal.warnings)
    row_mm = cal.row_mm if cal.row_mm is not None else 1.0
    col_mm = cal.col_mm if cal.col_mm is not None else 1.0
    # image-plane frame: x along columns, y along rows, z = frame index
    affine = np.array([[0, 0, col_mm, 0], [0, row_mm, 0, 0], [1.0, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)
    return projection, affine, cal.label


def _display(h0: FileHeader, s0: FrameSource, warnings: list[str]) -> tuple[list, list, dict]:
    """The file's windows, VOI LUTs and technical metadata (MONOCHROME1 noted)."""
    ds = h0.dataset
    window_notes: list[str] = []
    file_windows = attrs.windows(ds, window_notes)
    # the VOI LUT's input is the modality value: signed when it can be negative (C.11.2.1.1)
    lo, hi = stored_range(h0)
    signed = h0.pixel_representation == 1 or min(lo * s0.slope, hi * s0.slope) + s0.intercept < 0
    file_luts = attrs.voi_luts(ds, window_notes, signed_input=signed)
    warnings += [f"{h0.path.name}: {w}" for w in window_notes]
    metadata = attrs.technical_metadata(ds, h0.transfer_syntax)
    if h0.photometric == "MONOCHROME1":
        metadata["PhotometricNote"] = "MONOCHROME1: stored values kept; the display must invert (minimum shows white)"
    return file_windows, file_luts, metadata
