"""Per-file header facts, read fast from undecoded pydicom elements.

``FileHeader`` holds what series assembly and the pixel reader need, taken
from a pydicom ``Dataset`` whose elements are still raw (as left by
:func:`miss_imaging.reading._fastread.walk_header` or ``dcmread``).  Decoding the few
needed values directly from their bytes is ~10x cheaper than pydicom's
per-element conversion; the full ``Dataset`` stays available for everything
else (windows, functional groups, technical metadata).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, Union

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from miss_imaging.reading._fastread import RawHeader
from miss_imaging.errors import AbsurdDimensionsError, MissingTagError, PixelDataError, TruncatedFileError

_US = struct.Struct("<H")

__all__ = [
    "FileHeader",
    "MAX_PIXEL_BYTES",
    "MAX_FRAMES",
    "PROJECTION_MODALITIES",
    "header_from_dataset",
    "text",
    "floats",
    "integer",
]

#: Largest pixel payload (bytes, one file) accepted as plausible: 16 GiB.
#: Above that a header is treated as corrupt rather than allocated.
MAX_PIXEL_BYTES = 16 * 1024**3
#: Largest NumberOfFrames accepted (a 30 fps run of over 9 hours).
MAX_FRAMES = 1_000_000
#: Modalities whose images are projections (frame, row, col), not slices.
PROJECTION_MODALITIES = frozenset({"XA", "RF", "DX", "CR", "MG", "IO", "PX", "DR", "XR"})
_PROJECTION_SOP_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.12.",  # XA, Enhanced XA, XRF, Enhanced XRF, 3D XA excluded below
    "1.2.840.10008.5.1.4.1.1.1",  # CR (…1.1) and DX/MG/IO (…1.1.1.x, …1.1.2.x, …1.1.3.x)
)
_VOLUME_SOP = {
    "1.2.840.10008.5.1.4.1.1.2",  # CT
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT
    "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT
    "1.2.840.10008.5.1.4.1.1.4",  # MR
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR
    "1.2.840.10008.5.1.4.1.1.4.4",  # Legacy Converted Enhanced MR
    "1.2.840.10008.5.1.4.1.1.13.1.1",  # X-Ray 3D Angiographic
    "1.2.840.10008.5.1.4.1.1.13.1.2",  # X-Ray 3D Craniofacial (cone-beam CT)
}



HeaderSource = Union[RawHeader, Dataset]


def _el(ds: Dataset, tag: int) -> Any:
    # raw or converted element, None when absent; get_item does not convert a raw
    # element (ds.get would, and raise on a corrupt value the caller reports itself)
    return ds.get_item(tag, keep_deferred=True)


def text(src: HeaderSource, tag: int) -> str:
    """Value of a text element (UI, CS, DS, IS, LO...) with padding stripped; "" if absent."""
    if isinstance(src, RawHeader):
        v = src.value(tag)
        return v.decode("latin-1").strip(" \x00") if v else ""
    el = _el(src, tag)
    if el is None:
        return ""
    if isinstance(el, RawDataElement):
        v = el.value
        return v.decode("latin-1").strip(" \x00") if v else ""
    v = el.value
    if v is None:
        return ""
    if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue":
        return "\\".join(str(x) for x in v)
    return str(v).strip(" \x00")


def floats(src: HeaderSource, tag: int) -> tuple[float, ...] | None:
    """Backslash-separated DS/IS values as floats; None if absent, empty or not numbers."""
    s = text(src, tag)
    if not s:
        return None
    try:
        return tuple(float(x) for x in s.split("\\"))
    except ValueError:
        return None


def integer(src: HeaderSource, tag: int, default: int | None = None, *, binary: bool = False) -> int | None:
    """First value of an element as int.

    ``binary=True`` for US/SS attributes (2-byte binary; implicit VR files give
    no VR, so the caller says so); otherwise the value is IS/DS text.
    """
    if isinstance(src, RawHeader):
        v = src.value(tag)
        vr, little = src.vr(tag), True
    else:
        el = _el(src, tag)
        if el is None:
            return default
        if not isinstance(el, RawDataElement):
            val = el.value
            if val is None or val == "":
                return default
            if isinstance(val, (list, tuple)) or type(val).__name__ == "MultiValue":
                val = val[0]
            try:
                return int(val)
            except (TypeError, ValueError):
                return default
        v, vr, little = el.value, el.VR, el.is_little_endian
    if not v:
        return default
    if binary:
        if len(v) < 2:
            return default
        fmt = ("<" if little else ">") + ("h" if vr == "SS" else "H")
        return struct.unpack_from(fmt, v)[0]
    s = v.decode("latin-1").strip(" \x00").split("\\")[0].strip()
    try:
        return int(float(s)) if s else default
    except ValueError:
        return default


def _has(src: HeaderSource, tag: int) -> bool:
    return tag in (src.elements if isinstance(src, RawHeader) else src)


@dataclass(slots=True, eq=False)
class FileHeader:
    """What assembly and reading need from one file (values as read, mm)."""

    path: Path
    source: HeaderSource  # RawHeader (fast walker) or pydicom Dataset (fallback)
    transfer_syntax: str
    sop_class: str
    series_uid: str
    modality: str
    rows: int
    cols: int
    frames: int
    samples: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric: str
    iop: tuple[float, ...] | None
    ipp: tuple[float, ...] | None
    pixel_spacing: tuple[float, ...] | None
    slope: float
    intercept: float
    image_type: tuple[str, ...]
    acquisition_number: int | None
    instance_number: int | None
    enhanced: bool
    pixel_offset: int | None = None  # fast path: byte offset of Pixel Data value
    pixel_length: int | None = None
    warnings: list[str] = field(default_factory=list)
    _dataset: Dataset | None = None

    @property
    def dataset(self) -> Dataset:
        """The header as a pydicom Dataset (no pixels), built on first use."""
        if self._dataset is None:
            src = self.source
            ds = src.dataset() if isinstance(src, RawHeader) else src
            ds.filename = str(self.path)
            self._dataset = ds
        return self._dataset

    @property
    def frame_bytes(self) -> int:
        return (self.rows * self.cols * self.samples * self.bits_allocated + 7) // 8

    @property
    def is_localizer(self) -> bool:
        return "LOCALIZER" in self.image_type

    @property
    def is_mono(self) -> bool:
        return self.samples == 1 and self.photometric in ("MONOCHROME1", "MONOCHROME2")

    @property
    def kind(self) -> Literal["volume", "projection", "other"]:
        """``volume``, ``projection`` or ``other`` (localizer, colour)."""
        if not self.is_mono or self.is_localizer:
            return "other"
        if self.sop_class in _VOLUME_SOP:
            return "volume"
        if self.modality in PROJECTION_MODALITIES or self.sop_class.startswith(_PROJECTION_SOP_PREFIXES):
            return "projection"
        if self.enhanced or self.ipp is not None:
            return "volume"
        return "projection"  # secondary capture and the like: a picture without patient geometry


class _Reader:
    """The three value readers of one file's header: text, US (binary), DS/IS numbers.

    Chosen once per file (this runs for every file of a scan): the fast
    walker's raw buffer is decoded directly; a pydicom Dataset goes through
    :func:`text` / :func:`integer` / :func:`floats`.
    """

    __slots__ = ("s", "u", "f")

    def __init__(self, ds: HeaderSource):
        if isinstance(ds, RawHeader):
            el, buf = ds.elements, ds.buf

            def s(tag: int) -> str:
                p = el.get(tag)
                return buf[p[1] : p[1] + p[2]].decode("latin-1").strip(" \x00") if p else ""

            def u(tag: int, default: int) -> int:
                p = el.get(tag)
                return _US.unpack_from(buf, p[1])[0] if p and p[2] >= 2 else default

            def f(tag: int) -> tuple[float, ...] | None:
                v = s(tag)
                if not v:
                    return None
                try:
                    return tuple(map(float, v.split("\\")))
                except ValueError:
                    return None

        else:

            def s(tag: int) -> str:
                return text(ds, tag)

            def u(tag: int, default: int) -> int:
                v = integer(ds, tag, default, binary=True)
                return default if v is None else v

            def f(tag: int) -> tuple[float, ...] | None:
                return floats(ds, tag)

        self.s, self.u, self.f = s, u, f


class _Dimensions(NamedTuple):
    rows: int
    cols: int
    frames: int
    samples: int
    bits: int

    @property
    def total_bytes(self) -> int:
        """Pixel Data length (bytes) the dimensions call for."""
        return (self.rows * self.cols * self.samples * self.bits * self.frames + 7) // 8

    def describe(self) -> str:
        return f"{self.rows} Rows x {self.cols} Columns x {self.frames} frames x {self.samples} samples x {self.bits} bits"


def header_from_dataset(
    path: Path,
    ds: HeaderSource,
    transfer_syntax: str,
    pixel_offset: int | None,
    pixel_length: int | None,
    file_size: int | None,
    has_pixels: bool,
) -> FileHeader:
    """Build a :class:`FileHeader`, validating dimensions and Pixel Data length.

    Raises
    ------
    PixelDataError
        No (7FE0,0010) Pixel Data, zero length, or a length that does not match
        Rows x Columns x NumberOfFrames x SamplesPerPixel x BitsAllocated / 8.
    AbsurdDimensionsError
        Rows/Columns 0, NumberOfFrames <= 0 or > MAX_FRAMES, BitsAllocated not
        in {1, 8, 16, 32, 64}, or more than MAX_PIXEL_BYTES of pixels.
    TruncatedFileError
        The file ends before the Pixel Data length it announces.
    MissingTagError
        Rescale Slope/Intercept present but not a finite number, or slope 0.
    """
    r = _Reader(ds)
    s, u, f = r.s, r.u, r.f
    if not has_pixels:
        raise PixelDataError(
            "no (7FE0,0010) Pixel Data: not an image" + (f" (SOP class {s(0x00080016)})" if s(0x00080016) else ""),
            path=path,
            tag="(7FE0,0010) PixelData",
        )
    dims = _dimensions(r, path)
    photometric = s(0x00280004).upper() or "MONOCHROME2"
    excess_warning = _check_pixel_length(dims, photometric, pixel_offset, pixel_length, file_size, path)
    slope, intercept = _rescale(r, path)
    return FileHeader(
        path=path,
        source=ds,
        transfer_syntax=transfer_syntax,
        sop_class=s(0x00080016),
        series_uid=s(0x0020000E),
        modality=s(0x00080060).upper(),
        rows=dims.rows,
        cols=dims.cols,
        frames=dims.frames,
        samples=dims.samples,
        bits_allocated=dims.bits,
        bits_stored=u(0x00280101, dims.bits) or dims.bits,
        pixel_representation=u(0x00280103, 0),
        photometric=photometric,
        iop=f(0x00200037),
        ipp=f(0x00200032),
        pixel_spacing=f(0x00280030),
        slope=slope,
        intercept=intercept,
        image_type=tuple(x.strip().upper() for x in s(0x00080008).split("\\") if x.strip()),
        acquisition_number=_int_or_none(s(0x00200012)),
        instance_number=_int_or_none(s(0x00200013)),
        enhanced=_has(ds, 0x52009229) or _has(ds, 0x52009230),
        pixel_offset=pixel_offset,
        pixel_length=pixel_length,
        warnings=[excess_warning] if excess_warning else [],
    )


def _dimensions(r: _Reader, path: Path) -> _Dimensions:
    """Rows, Columns, NumberOfFrames, SamplesPerPixel, BitsAllocated; absurd values raise."""
    rows = r.u(0x00280010, 0)
    cols = r.u(0x00280011, 0)
    frames_s = r.s(0x00280008)
    try:
        frames = int(float(frames_s.split("\\")[0])) if frames_s else 1
    except ValueError:
        raise AbsurdDimensionsError(
            f"(0028,0008) NumberOfFrames {frames_s!r} is not a number", path=path, tag="(0028,0008) NumberOfFrames"
        ) from None
    samples = r.u(0x00280002, 1) or 1
    bits = r.u(0x00280100, 0)
    if rows <= 0 or cols <= 0:
        raise AbsurdDimensionsError(
            f"(0028,0010) Rows = {rows}, (0028,0011) Columns = {cols}: an image needs both > 0",
            path=path,
            tag="(0028,0010) Rows",
        )
    if not 0 < frames <= MAX_FRAMES:
        raise AbsurdDimensionsError(
            f"(0028,0008) NumberOfFrames = {frames} is outside 1..{MAX_FRAMES}",
            path=path,
            tag="(0028,0008) NumberOfFrames",
        )
    if bits not in (1, 8, 16, 32, 64):
        raise AbsurdDimensionsError(
            f"(0028,0100) BitsAllocated = {bits} (must be 1, 8, 16, 32 or 64)",
            path=path,
            tag="(0028,0100) BitsAllocated",
        )
    if samples not in (1, 3, 4):
        raise AbsurdDimensionsError(
            f"(0028,0002) SamplesPerPixel = {samples} (must be 1 or 3)", path=path, tag="(0028,0002) SamplesPerPixel"
        )
    dims = _Dimensions(rows, cols, frames, samples, bits)
    if dims.total_bytes > MAX_PIXEL_BYTES:
        raise AbsurdDimensionsError(
            f"{dims.describe()} = {dims.total_bytes / 1024**3:.1f} GiB of pixels exceeds the "
            f"{MAX_PIXEL_BYTES // 1024**3} GiB limit (corrupt header?)",
            path=path,
            tag="(0028,0010) Rows",
        )
    return dims


def _check_pixel_length(
    dims: _Dimensions, photometric: str, offset: int | None, length: int | None, file_size: int | None, path: Path
) -> str:
    """Check the Pixel Data length against the dimensions and the file; a warning for excess bytes ("" if none).

    The length is unknown (None) for files read by pydicom; it is then
    checked when the pixels are decoded.
    """
    if length is None:
        return ""
    if length == 0:
        raise PixelDataError("(7FE0,0010) Pixel Data is empty (zero length)", path=path, tag="(7FE0,0010) PixelData")
    if offset is not None and file_size is not None and offset + length > file_size:
        raise TruncatedFileError(
            f"truncated: (7FE0,0010) Pixel Data announces {length} bytes but the file ends "
            f"{file_size - offset} bytes after its start",
            path=path,
            tag="(7FE0,0010) PixelData",
        )
    total = dims.total_bytes
    if photometric.startswith("YBR") and ("422" in photometric or "420" in photometric):
        return ""  # subsampled colour: length rules differ, and colour is not loaded anyway
    if length > total + 1:
        return (
            f"{path.name}: (7FE0,0010) Pixel Data holds {length} bytes, {length - total} more than "
            f"{dims.rows} Rows x {dims.cols} Columns x {dims.frames} frames x {dims.bits} bits need; the excess is ignored"
        )
    if length < total:
        raise PixelDataError(
            f"(7FE0,0010) Pixel Data holds {length} bytes but {dims.describe()} need {total}",
            path=path,
            tag="(7FE0,0010) PixelData",
        )
    return ""


def _rescale(r: _Reader, path: Path) -> tuple[float, float]:
    """(0028,1053) RescaleSlope and (0028,1052) RescaleIntercept (1 and 0 when absent)."""
    slope_t = r.f(0x00281053)
    icpt_t = r.f(0x00281052)
    for tag, value, name in ((0x00281053, slope_t, "(0028,1053) RescaleSlope"),
                             (0x00281052, icpt_t, "(0028,1052) RescaleIntercept")):
        # present but unusable: reading it as 1 / 0 would give silently wrong HU
        if (value is None and r.s(tag)) or (value is not None and not all(map(math.isfinite, value))):
            raise MissingTagError(f"{name} = {r.s(tag)!r} is not a finite number: modality values (HU) unknown",
                                  path=path, tag=name)
    if slope_t is not None and slope_t[0] == 0:
        raise MissingTagError("(0028,1053) RescaleSlope = 0: every pixel would equal the intercept",
                              path=path, tag="(0028,1053) RescaleSlope")
    return (slope_t[0] if slope_t else 1.0), (icpt_t[0] if icpt_t else 0.0)


def _int_or_none(v: str) -> int | None:
    try:
        return int(float(v.split("\\")[0])) if v else None
    except ValueError:
        return None
