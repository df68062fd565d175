"""Loading: a scanned series -> :class:`~miss_imaging.model.ImageVolume`.

* ``load(path_or_series, *, lazy=None)``: one series.  For a path holding
  several image series the largest is loaded and a warning lists the others.
* ``load_all(path, *, lazy=None)``: every image series, largest first (the
  napari reader); localizers, colour and unreadable files are skipped with
  warnings.

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
from pathlib import Path

import numpy as np

from miss_imaging.reading import _attributes as attrs
from miss_imaging.reading._header import FileHeader, floats, text
from miss_imaging.reading._pixels import FrameSource, check_decodable, choose_dtype, fill, read_one, stored_range
from miss_imaging.reading.dicom_scan import scan
from miss_imaging.reading.enhanced import frame_facts
from miss_imaging.errors import (
    MissImagingError,
    MissingTagError,
    NotDicomError,
    PixelDataError,
    SeriesGeometryError,
    warn_and_log,
)
from miss_imaging.spatial.geometry import (
    DUPLICATE_ATOL_MM,
    orientation_axes,
    plane_affine,
    same_orientation,
    stack_geometry,
    valid_orientation,
)
from miss_imaging.model import ImageVolume, Kind, ScanResult, SeriesInfo
from miss_imaging.reading.series import Plan, geometry_warnings, plan_of, summarize

__all__ = ["load", "load_all", "LAZY_THRESHOLD_BYTES"]

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
        if len(result) and result[0].kind == "other" and getattr(result[0], "_plan").reason == "localizer":
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


def load_all(path: str | os.PathLike, *, lazy: bool | None = None, fast_path: bool = True) -> list[ImageVolume]:
    """Every image series under `path`, largest first (for the napari reader).

    Localizers, colour images and files that cannot be read are skipped with
    a warning each; series that fail to load are skipped with a warning naming
    the error.  Raises only when nothing at all can be loaded.  `lazy` and
    `fast_path` as in :func:`load`.
    """
    p = Path(path)
    result = scan(p)
    for f, why in result.skipped:
        warn_and_log(f"skipped {f.name}: {why}")
    vols = []
    last_error: MissImagingError | None = None
    for s in result:
        if s.kind == "other":
            for w in s.warnings:
                warn_and_log(w)
            continue
        try:
            vols.append(_build(plan_of(s), s, lazy, [], fast_path))
        except MissImagingError as exc:
            last_error = exc
            warn_and_log(f"series {s.label} not loaded: {exc}")
    if not vols:
        raise last_error or _no_image_error(p, result)
    return vols


def _sources_multiframe(plan: Plan, kind: str, warnings: list[str]):
    """Sources and geometry of one multi-frame file (functional groups or top level)."""
    h = plan.headers[0]
    facts = frame_facts(h.dataset, h.frames, h.path, geometry=kind == "volume")
    warnings += facts.warnings
    order = list(range(h.frames))
    geo = None
    if kind == "volume":
        fg = "(5200,9230) PerFrameFunctionalGroupsSequence > " if facts.functional_groups else ""
        if facts.ipp is None or np.isnan(facts.ipp).any():
            raise MissingTagError(
                f"{fg}(0020,0032) ImagePositionPatient missing for some or all of the {h.frames} frames: "
                "cannot place them in patient space",
                path=h.path,
                tag="(0020,0032) ImagePositionPatient",
            )
        if facts.iop is None or np.isnan(facts.iop).any():
            raise MissingTagError(
                f"{fg}(0020,0037) ImageOrientationPatient missing",
                path=h.path,
                tag="(0020,0037) ImageOrientationPatient",
            )
        # frames in several orientations (multi-stack enhanced MR...): the largest stack
        # is the volume, like the majority orientation of a single-frame series
        groups: list[list[int]] = []
        for i in range(h.frames):
            for g in groups:
                if same_orientation(facts.iop[g[0]], facts.iop[i]):
                    g.append(i)
                    break
            else:
                groups.append([i])
        groups.sort(key=len, reverse=True)
        order = groups[0]
        iop = tuple(facts.iop[order[0]])
        if len(groups) > 1:
            dropped = sum(len(g) for g in groups[1:])
            if len(order) < 2:
                raise SeriesGeometryError(
                    f"its {h.frames} frames have {len(groups)} different (0020,0037) ImageOrientationPatient: "
                    "no stack to build a volume from",
                    path=h.path,
                    tag="(0020,0037) ImageOrientationPatient",
                )
            warnings.append(
                f"{h.path.name}: {dropped} frame(s) in {len(groups) - 1} other orientation(s) "
                "((0020,0037) ImageOrientationPatient) left out; the volume is the largest stack "
                f"({len(order)} frames)"
            )
        if facts.pixel_spacing is None:
            raise MissingTagError(
                f"{fg}(0028,0030) PixelSpacing missing", path=h.path, tag="(0028,0030) PixelSpacing"
            )
        _check_spacing(facts.pixel_spacing, h.path, fg)
        if not all(valid_orientation(v) for v in facts.iop):
            bad = next(i for i, v in enumerate(facts.iop) if not valid_orientation(v))
            raise SeriesGeometryError(
                f"{fg}(0020,0037) ImageOrientationPatient of frame {bad} = {facts.iop[bad].tolist()} is not two "
                "unit vectors at right angles: cannot place the frames in patient space",
                path=h.path,
                tag="(0020,0037) ImageOrientationPatient",
            )
        n = orientation_axes(iop)[2]
        d = facts.ipp @ n
        order = sorted(order, key=lambda i: (d[i], i))
        keep = [order[0]]
        lines = []
        for i in order[1:]:
            if abs(d[i] - d[keep[-1]]) < DUPLICATE_ATOL_MM:
                lines.append(
                    f"{h.path.name}: frame {i} is at the same position as frame {keep[-1]} "
                    f"(n.IPP = {d[i]:.3f} mm); kept frame {keep[-1]}, dropped frame {i}"
                )
            else:
                keep.append(i)
        warnings += summarize(lines, "frames at repeated positions dropped (temporal or duplicate frames)")
        order = keep
        ipps = facts.ipp[order]
        geo = (iop, ipps, facts.pixel_spacing, stack_geometry(ipps, iop, facts.slice_thickness or 1.0))
        warnings += geometry_warnings(geo[3], [f"{h.path.name} frame {i}" for i in order])
    sources = [FrameSource(h, i, float(facts.slope[i]), float(facts.intercept[i])) for i in order]
    return sources, geo, facts.pixel_spacing


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


def _check_spacing(ps, path: Path, where: str = "") -> None:
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


def _build(plan: Plan, info: SeriesInfo, lazy: bool | None, extra: list[str], fast_path: bool = True) -> ImageVolume:
    """Build the ImageVolume of `plan`; a header element pydicom cannot convert becomes our error.

    Attributes are converted by pydicom on first access (after the scan), so a
    corrupt element (unknown VR, undecodable value) surfaces here as one of
    pydicom's many exception types; it is reported naming the file (and the
    tag pydicom names) instead of escaping as a bare ValueError or the like.
    """
    try:
        return _build_volume(plan, info, lazy, extra, fast_path)
    except MissImagingError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, NotImplementedError, struct.error) as exc:
        found = re.search(r"\(([0-9A-Fa-f]{4}),\s*([0-9A-Fa-f]{4})\)", str(exc))
        tag = f"({found.group(1).upper()},{found.group(2).upper()})" if found else None
        raise MissImagingError(
            f"a header element cannot be read ({type(exc).__name__}: {exc}); the file is damaged or not valid DICOM",
            path=plan.headers[0].path,
            tag=tag,
        ) from exc


def _build_volume(plan: Plan, info: SeriesInfo, lazy: bool | None, extra: list[str], fast_path: bool) -> ImageVolume:
    if plan.error is not None:
        raise plan.error
    h0: FileHeader = plan.headers[0]
    if plan.kind == "other" and plan.reason == "colour":
        raise PixelDataError(
            f"(0028,0004) PhotometricInterpretation {h0.photometric}: colour images are not supported",
            path=h0.path,
            tag="(0028,0004) PhotometricInterpretation",
        )
    kind = Kind.VOLUME if plan.kind == "volume" else Kind.PROJECTION
    warnings = list(plan.warnings)
    multi = len(plan.headers) == 1 and (h0.frames > 1 or h0.enhanced)
    if multi:
        sources, geo, in_plane = _sources_multiframe(plan, kind, warnings)
    else:
        sources = [FrameSource(h, 0, h.slope, h.intercept) for h in plan.headers]
        in_plane = h0.pixel_spacing
        geo = None
        if kind == "volume":
            if in_plane is None or len(in_plane) < 2:
                raise MissingTagError(
                    "(0028,0030) PixelSpacing missing: in-plane distances unknown", path=h0.path,
                    tag="(0028,0030) PixelSpacing",
                )
            _check_spacing(in_plane, h0.path)
            odd = [h.path.name for h in plan.headers if h.pixel_spacing != h0.pixel_spacing]
            if odd:
                warnings.append(
                    f"{', '.join(odd[:5])}: (0028,0030) PixelSpacing differs from {h0.path.name}'s "
                    f"{in_plane}; {h0.path.name}'s is used"
                )
            ipps = np.array([h.ipp for h in plan.headers], dtype=np.float64)
            geo = (plan.iop, ipps, in_plane, plan.geometry)
    pixels = _pixels(sources, lazy, fast_path)
    ds = h0.dataset
    if "ModalityLUTSequence" in ds:
        warnings.append(
            f"{h0.path.name}: (0028,3000) ModalityLUTSequence is not applied (only Rescale Slope/Intercept are): "
            "pixels are stored values"
        )
    n = len(sources)
    projection = None
    slice_positions = None
    regular = True
    if kind == "volume":
        iop, ipps, ps, sg = geo
        affine = plane_affine(iop, ipps[0], ps[:2], sg.step)
        slice_positions = ipps
        regular = sg.regular
        calibration = VOLUME_CALIBRATION
    else:
        from miss_imaging.measurement.calibration import projection_calibration

        projection = attrs.projection_tags(ds, n)
        warnings += [f"{h0.path.name}: {w}" for w in attrs.calibration_tag_warnings(ds)]
        if not multi:
            warnings += _calibration_differences(plan.headers)
        cal = projection_calibration(projection)
        warnings += list(cal.warnings)
        calibration = cal.label
        row_mm = cal.row_mm if cal.row_mm is not None else 1.0
        col_mm = cal.col_mm if cal.col_mm is not None else 1.0
        # image-plane frame: x along columns, y along rows, z = frame index
        affine = np.array([[0, 0, col_mm, 0], [0, row_mm, 0, 0], [1.0, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)
    spacing = tuple(float(v) for v in np.linalg.norm(affine[:3, :3], axis=0))
    if kind == "projection":
        spacing = (1.0, spacing[1], spacing[2])
    if h0.photometric == "MONOCHROME1":
        warnings_note = "MONOCHROME1: stored values kept; the display must invert (minimum shows white)"
        metadata_note = warnings_note
    else:
        metadata_note = ""
    window_notes: list[str] = []
    file_windows = attrs.windows(ds, window_notes)
    # the VOI LUT's input is the modality value: signed when it can be negative (C.11.2.1.1)
    lo, hi = stored_range(h0)
    s0 = sources[0]
    signed = h0.pixel_representation == 1 or min(lo * s0.slope, hi * s0.slope) + s0.intercept < 0
    file_luts = attrs.voi_luts(ds, window_notes, signed_input=signed)
    warnings += [f"{h0.path.name}: {w}" for w in window_notes]
    metadata = attrs.technical_metadata(ds, h0.transfer_syntax)
    if metadata_note:
        metadata["PhotometricNote"] = metadata_note
    all_warnings = warnings + extra
    for w in all_warnings:
        warn_and_log(w, stacklevel=3)
    files = [s.header.path for s in sources] if not multi else [h0.path]
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
        files=files,
        slice_positions=slice_positions,
        regular=regular,
    )
