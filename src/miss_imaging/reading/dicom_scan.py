"""Discovery: find every DICOM image series under a path, reading headers only.

:func:`scan` takes a file, a folder tree or a DICOMDIR (or a list of them).  Each file's header is
split by the minimal walker of :mod:`miss_imaging.reading._fastread` (little endian
files, with or without preamble) or, for anything else, by
``pydicom.dcmread(stop_before_pixels=True)``; Pixel Data is never read.
Files are then assembled into series by :func:`miss_imaging.reading.series.assemble`
(split, sort, duplicates, gaps, tilt).  Files that are not usable images are
listed in ``ScanResult.skipped`` with the reason; nothing here is fatal.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError

from miss_imaging.reading._fastread import HeaderTooDeep, HeaderTruncated, RawHeader, walk_header
from miss_imaging.reading._header import FileHeader, header_from_dataset
from miss_imaging.reading._structure import check_sequences, parse_failure, pydicom_warnings_named
from miss_imaging.errors import MalformedDicomError, MissImagingError, NotDicomError, TruncatedFileError
from miss_imaging.model import ScanResult
from miss_imaging.reading.series import assemble

__all__ = ["scan", "read_header", "iter_files", "Progress"]

#: ``progress(done, total, what)``: `done` of `total` steps finished, `what` names the next one ("" at the end).
Progress = Callable[[int, int, str], None]
PathOrPaths = str | os.PathLike | Sequence[str | os.PathLike]


def iter_files(path: str | os.PathLike) -> list[Path]:
    """Every regular file under `path` (a file, folder tree or DICOMDIR), sorted.

    A DICOMDIR stands for the folder tree it indexes (its parent folder); the
    DICOMDIR file itself holds no pixels and is left out.
    """
    p = Path(path)
    if p.is_file():
        if p.name.upper() == "DICOMDIR":
            return iter_files(p.parent)
        return [p]
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or folder")
    out: list[Path] = []
    for root, dirs, files in os.walk(p):
        dirs.sort()
        base = Path(root)
        for name in sorted(files):
            if name.upper() == "DICOMDIR" or name.startswith("."):
                continue
            out.append(base / name)
    return out


def _pydicom_header(path: Path) -> tuple[Dataset, str]:
    """Header via pydicom (big endian, deflated, odd files); raises our errors."""
    try:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except InvalidDicomError:
            # no preamble/DICM: accept only if it parses into a plausible image data set
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
            if 0x00080016 not in ds and 0x00280010 not in ds:
                raise NotDicomError("not a DICOM file (no DICM prefix, no SOP Class or Rows)", path=path) from None
        check_sequences(ds, path)  # pydicom parses sequences lazily: damage surfaces now, named
    except MissImagingError:
        raise
    except RecursionError as exc:
        raise parse_failure(exc, path) from None
    except (EOFError, struct.error) as exc:
        raise TruncatedFileError(f"truncated: the header ends early ({exc})", path=path) from None
    except Exception as exc:  # pydicom raises many types on garbage
        if "end of file" in str(exc).lower() or "eof" in str(exc).lower():
            raise TruncatedFileError(f"truncated: the header ends early ({exc})", path=path) from None
        raise NotDicomError(f"not a readable DICOM file ({type(exc).__name__}: {exc})", path=path) from None
    ts = str(getattr(ds.get("file_meta", None) or FileMetaDataset(), "TransferSyntaxUID", "") or "")
    if not ts:
        implicit, little = ds.original_encoding
        ts = "1.2.840.10008.1.2" if implicit else ("1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2")
    return ds, ts


def read_header(path: str | os.PathLike, template: FileHeader | None = None) -> FileHeader:
    """Read one file's header (never its pixels) into a :class:`FileHeader`.

    `template` is the header of another file (usually the previous one in
    the folder): when this file's layout bytes match, its element positions
    are reused instead of walked (see :meth:`RawHeader.layout_key`).

    Raises
    ------
    NotDicomError, TruncatedFileError, PixelDataError, AbsurdDimensionsError
        Each naming the file and the tag concerned.
    """
    p = path if isinstance(path, Path) else Path(path)
    tsrc = template.source if template is not None and isinstance(template.source, RawHeader) else None
    try:
        raw = walk_header(p, tsrc)
    except HeaderTruncated as exc:
        raise TruncatedFileError(f"truncated: {exc}", path=p) from None
    except HeaderTooDeep as exc:
        raise MalformedDicomError(f"{exc}; the file is damaged or hostile", path=p) from None
    except OSError as exc:
        raise NotDicomError(f"cannot be read ({exc.strerror or exc})", path=p) from None
    if raw is not None:
        if not raw.meta and 0x00080016 not in raw.elements and 0x00280010 not in raw.elements:
            raise NotDicomError("not a DICOM file (no DICM prefix, no SOP Class or Rows)", path=p)
        has_pixels = raw.pixel_offset is not None
        return header_from_dataset(
            p, raw, raw.transfer_syntax, raw.pixel_offset, raw.pixel_length, raw.file_size, has_pixels
        )
    ds, ts = _pydicom_header(p)
    ds.filename = str(p)
    # stop_before_pixels hides Pixel Data; image attributes stand in for it and
    # its length is checked when the pixels are decoded
    has_pixels = 0x00280010 in ds
    with pydicom_warnings_named(p, ds):
        return header_from_dataset(p, ds, ts, None, None, None, has_pixels)


def scan(path: PathOrPaths, *, progress: Progress | None = None) -> ScanResult:
    """Find every DICOM series under `path`, reading headers only.

    Parameters
    ----------
    path : str or Path, or a list of them
        A file, a folder (searched recursively) or a DICOMDIR.  Several paths
        (e.g. slice files selected one by one) are scanned as one set of
        files, so that slices of one series still form one volume.
    progress : callable, optional
        ``progress(done, total, name)`` before each file is read (`name` is
        the file's name) and ``progress(total, total, "")`` at the end.

    Returns
    -------
    ScanResult
        A list of :class:`~miss_imaging.model.SeriesInfo`, largest image series
        first (localizers and other non-volume objects last), each with its
        assembly plan as ``plan``; ``.skipped`` = ``[(path, reason), ...]``
        for files that are not usable images (not DICOM, truncated, no or
        wrong-length Pixel Data, absurd dimensions) and ``.errors`` =
        ``{path: exception}`` for the same files.
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    files = [f for p in paths for f in iter_files(p)]
    headers: list[FileHeader] = []
    skipped: list[tuple[Path, str]] = []
    errors: dict[Path, MissImagingError] = {}
    template = None
    for k, f in enumerate(files):
        if progress is not None:
            progress(k, len(files), f.name)
        try:
            h = read_header(f, template)
            headers.append(h)
            if isinstance(h.source, RawHeader) and h.source.walked:
                template = h  # the next files of a series usually share this layout
        except MissImagingError as exc:
            skipped.append((f, str(exc)))
            errors[f] = exc
    if progress is not None:
        progress(len(files), len(files), "")
    result = ScanResult(assemble(headers), skipped)
    result.errors.update(errors)
    return result


def describe(series: ScanResult) -> str:
    """A short human-readable listing (no patient identifiers)."""
    lines = []
    for s in series:
        lines.append(f"{s.label}: {s.kind}, {s.n_files} file(s), {s.n_frames} frame(s) of {s.rows}x{s.columns}")
    for p, why in series.skipped:
        lines.append(f"skipped {p.name}: {why}")
    return "\n".join(lines)

