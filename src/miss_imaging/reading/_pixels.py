"""Pixel decoding into modality values (HU for CT), slice by slice.

Two paths give identical results (a test checks it):

* **fast path** (uncompressed little endian, 8/16/32 bits, one sample): the
  Pixel Data bytes of each slice/frame are read with ``readinto`` straight
  into their place in the preallocated output.  When the output is int16 and
  the stored values are 16-bit, the unused high bits are corrected and the
  rescale applied in place, with no temporary at all.
* **pydicom path** (everything else: compressed, big endian, deflated):
  pydicom's pixel plugins decode (pylibjpeg for JPEG incl. 12-bit extended,
  JPEG-LS, JPEG 2000, RLE), then rescale is applied per slice.

Output dtype (ImageVolume contract): int16 when every slice's Rescale Slope
and Intercept are integers and the rescaled range of the stored bits fits
int16; float32 otherwise (exact for integers below 2**24 and computed from
float64, like ``pydicom.pixels.apply_modality_lut``).  When the *theoretical*
range does not fit (e.g. unsigned 16-bit stored values) but slope/intercept
are integers, eager loading checks each slice's actual range and promotes to
float32 only if a value would not fit.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pydicom
import pydicom.pixels
from pydicom.uid import UID

from miss_imaging.reading._fastread import UNCOMPRESSED_LE
from miss_imaging.reading._header import FileHeader
from miss_imaging.errors import MissImagingError, PixelDataError, TruncatedFileError, UnsupportedTransferSyntaxError

__all__ = ["FrameSource", "choose_dtype", "fill", "read_one", "fast_ok", "check_decodable", "stored_range"]

_I16 = (-32768, 32767)
# Bytes read per preadv on the in-place path: small enough that the bit fix and rescale find them in L2.
_PIECE = 1 << 18
_INSTALL_HINT = (
    "install the pixel plugins: pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg pylibjpeg-rle "
    "(or python-gdcm)"
)


@dataclass(slots=True)
class FrameSource:
    """One output slice/frame: frame `frame` of `header`'s file, with its rescale."""

    header: FileHeader
    frame: int
    slope: float
    intercept: float


class _Promote(Exception):
    """A slice's rescaled values do not fit int16: switch to float32."""


def stored_dtype(h: FileHeader) -> np.dtype:
    kind = "i" if h.pixel_representation == 1 else "u"
    return np.dtype(f"<{kind}{max(1, h.bits_allocated // 8)}")


def stored_range(h: FileHeader) -> tuple[int, int]:
    """(min, max) stored value allowed by BitsStored and PixelRepresentation."""
    bs = h.bits_stored if 0 < h.bits_stored <= h.bits_allocated else h.bits_allocated
    if h.pixel_representation == 1:
        return -(1 << (bs - 1)), (1 << (bs - 1)) - 1
    return 0, (1 << bs) - 1


def _integral(x: float) -> bool:
    return math.isfinite(x) and float(x).is_integer()


def _fits(lo: int, hi: int, slope: float, icpt: float) -> bool:
    a, b = lo * slope + icpt, hi * slope + icpt
    return _I16[0] <= min(a, b) and max(a, b) <= _I16[1]


def choose_dtype(sources: list[FrameSource]) -> tuple[np.dtype, bool]:
    """(output dtype, whether int16 needs a per-slice range check)."""
    if not all(_integral(s.slope) and _integral(s.intercept) for s in sources):
        return np.dtype(np.float32), False
    check = False
    for s in sources:
        lo, hi = stored_range(s.header)
        if not _fits(lo, hi, s.slope, s.intercept):
            check = True
            break
    return np.dtype(np.int16), check


def fast_ok(h: FileHeader, fast_path: bool = True) -> bool:
    """True when the file's pixels can be read raw (uncompressed little endian, mono).

    ``fast_path=False`` answers False for every file: pydicom decodes them all
    (tests and benchmarks compare both readers).
    """
    return (
        fast_path
        and h.transfer_syntax in UNCOMPRESSED_LE
        and h.pixel_offset is not None
        and h.pixel_length is not None
        and h.bits_allocated in (8, 16, 32)
        and h.samples == 1
    )


def check_decodable(h: FileHeader, fast_path: bool = True) -> None:
    """Raise UnsupportedTransferSyntaxError when no installed plugin decodes the file."""
    if fast_ok(h, fast_path):
        return
    uid = UID(h.transfer_syntax) if h.transfer_syntax else None
    if uid is None:
        return
    name = uid.name if uid.is_transfer_syntax else "unknown transfer syntax"
    try:
        decoder = pydicom.pixels.get_decoder(uid)
    except NotImplementedError:
        raise UnsupportedTransferSyntaxError(
            f"(0002,0010) TransferSyntaxUID {uid} ({name}) has no pixel decoder in pydicom; convert the file "
            "(e.g. dcmdjpeg/gdcmconv) to an uncompressed syntax",
            path=h.path,
            tag="(0002,0010) TransferSyntaxUID",
        ) from None
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies) or "a decoding plugin"
        raise UnsupportedTransferSyntaxError(
            f"(0002,0010) TransferSyntaxUID {uid} ({name}) cannot be decoded: missing {missing}; {_INSTALL_HINT}",
            path=h.path,
            tag="(0002,0010) TransferSyntaxUID",
        )


def _decode_error(h: FileHeader, exc: BaseException) -> MissImagingError:
    uid = UID(h.transfer_syntax) if h.transfer_syntax else None
    name = uid.name if uid is not None and uid.is_transfer_syntax else "unknown"
    msg = str(exc)
    if isinstance(exc, (EOFError,)) or "end of file" in msg.lower():
        return TruncatedFileError(f"truncated: Pixel Data ends early ({msg})", path=h.path, tag="(7FE0,0010) PixelData")
    if uid is not None and uid.is_compressed:
        return UnsupportedTransferSyntaxError(
            f"(0002,0010) TransferSyntaxUID {uid} ({name}): the installed plugins failed to decode the pixel "
            f"data ({type(exc).__name__}: {msg}); the stream may be corrupt, or try another decoder "
            "(pip install python-gdcm)",
            path=h.path,
            tag="(0002,0010) TransferSyntaxUID",
        )
    return PixelDataError(
        f"(7FE0,0010) Pixel Data cannot be decoded ({type(exc).__name__}: {msg})",
        path=h.path,
        tag="(7FE0,0010) PixelData",
    )


def _fix_bits(a: np.ndarray, h: FileHeader) -> None:
    """Clear/sign-extend bits above BitsStored in place (as pydicom does by default)."""
    bs, ba = h.bits_stored, h.bits_allocated
    if not 0 < bs < ba:
        return
    if h.pixel_representation == 1:
        shift = ba - bs
        a <<= shift
        a >>= shift
    else:
        a &= a.dtype.type((1 << bs) - 1)


def _to_modality(stored: np.ndarray, s: FrameSource, out2d: np.ndarray, check: bool) -> None:
    """out2d[...] = stored * slope + intercept (dtype of out2d), per REFERENCE §2."""
    if out2d.dtype == np.int16:
        _to_int16(stored, s, out2d, check, in_place=False)
        return
    tmp = stored.astype(np.float64)
    if s.slope != 1.0:
        tmp *= s.slope
    if s.intercept != 0.0:
        tmp += s.intercept
    out2d[...] = tmp


def _to_int16(stored: np.ndarray, s: FrameSource, out2d: np.ndarray, check: bool, *, in_place: bool) -> None:
    """The int16 rescale (integer slope and intercept); raises _Promote when `check` finds a value that won't fit.

    ``in_place``: `stored` is a view of `out2d`'s own bytes (the fast path
    read the frame straight into its place), so slope 1 only adds.
    """
    slope, icpt = int(s.slope), int(s.intercept)
    if check:
        lo, hi = int(stored.min()), int(stored.max())
        if not _fits(lo, hi, slope, icpt):
            raise _Promote
    if slope != 1:
        tmp = stored.astype(np.int32)
        tmp *= slope
        tmp += icpt
        out2d[...] = tmp
    elif in_place:
        if icpt:
            # int16 wrap-around arithmetic is exact here: the result fits int16
            out2d += np.int16(icpt)
    else:
        np.add(stored, icpt, out=out2d, dtype=np.int32, casting="unsafe")


def _read_at(fd: int, buf: memoryview, offset: int) -> int:
    """pread straight into `buf` (one syscall; loops only on short reads)."""
    got = os.preadv(fd, [buf], offset)
    while 0 < got < len(buf):
        more = os.preadv(fd, [buf[got:]], offset + got)
        if more <= 0:
            break
        got += more
    return got


def _fast_slot(fd: int, s: FrameSource, out2d: np.ndarray, check: bool) -> None:
    """Read one frame's raw bytes into out2d (in place when stored is 16-bit and out int16)."""
    h = s.header
    offset = h.pixel_offset + s.frame * h.frame_bytes  # type: ignore[operator]
    sd = stored_dtype(h)
    if out2d.dtype == np.int16 and sd.itemsize == 2 and out2d.flags.c_contiguous:
        flat = out2d.reshape(-1)
        buf = memoryview(flat).cast("B")  # type: ignore[arg-type]  # numpy arrays export the buffer protocol
        # in L2-sized pieces, each fixed and rescaled right after its read while still in
        # cache: a second pass over a 2 MB frame would come back from L3 or memory
        for start in range(0, len(buf), _PIECE):
            piece = buf[start : start + _PIECE]
            got = _read_at(fd, piece, offset + start)
            if got != len(piece):
                raise TruncatedFileError(
                    f"truncated: frame {s.frame} of (7FE0,0010) Pixel Data has {start + got} of {len(buf)} bytes",
                    path=h.path,
                    tag="(7FE0,0010) PixelData",
                )
            part = flat[start // 2 : (start + len(piece)) // 2]
            view = part.view(sd)
            _fix_bits(view, h)
            _to_int16(view, s, part, check, in_place=True)
        return
    scratch = np.empty(out2d.shape, sd)
    got = _read_at(fd, memoryview(scratch).cast("B"), offset)  # type: ignore[arg-type]  # buffer protocol
    if got != scratch.nbytes:
        raise TruncatedFileError(
            f"truncated: frame {s.frame} of (7FE0,0010) Pixel Data has {got} of {scratch.nbytes} bytes",
            path=h.path,
            tag="(7FE0,0010) PixelData",
        )
    _fix_bits(scratch, h)
    _to_modality(scratch, s, out2d, check)


def _pydicom_frames(h: FileHeader, indices: list[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, decoded stored values) via pydicom's plugins; errors named."""
    check_decodable(h, fast_path=False)  # pydicom decodes this file whatever the raw reader could do
    try:
        if h.frames == 1:
            ds = pydicom.dcmread(h.path, force=True)
            if "PixelData" not in ds:
                raise PixelDataError("no (7FE0,0010) Pixel Data", path=h.path, tag="(7FE0,0010) PixelData")
            yield 0, ds.pixel_array
            return
        if indices is not None and len(indices) == 1:
            yield indices[0], pydicom.pixels.pixel_array(str(h.path), index=indices[0])
            return
        for i, arr in enumerate(pydicom.pixels.iter_pixels(str(h.path))):
            yield i, arr
    except (MissImagingError, KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - Rust plugins panic with pyo3's PanicException(BaseException)
        raise _decode_error(h, exc) from exc


def _check_shape(h: FileHeader, arr: np.ndarray) -> None:
    if arr.shape[-2:] != (h.rows, h.cols) or arr.ndim != 2:
        raise PixelDataError(
            f"decoded frame has shape {arr.shape}, expected ({h.rows}, {h.cols}) from (0028,0010) Rows and "
            "(0028,0011) Columns",
            path=h.path,
            tag="(0028,0010) Rows",
        )


def fill(sources: list[FrameSource], out: np.ndarray, check: bool, fast_path: bool = True) -> np.ndarray:
    """Fill `out` (N, rows, cols) with every source; returns `out` (float32 if promoted).

    `fast_path` as in :func:`fast_ok`.
    """
    # group consecutive outputs by file so that each file is opened once
    by_file: dict = {}
    for k, s in enumerate(sources):
        by_file.setdefault(s.header.path, []).append(k)
    for path, ks in by_file.items():
        h = sources[ks[0]].header
        while True:
            try:
                if fast_ok(h, fast_path):
                    fd = os.open(path, os.O_RDONLY)
                    try:
                        for k in ks:
                            _fast_slot(fd, sources[k], out[k], check)
                    finally:
                        os.close(fd)
                else:
                    where = {sources[k].frame: k for k in ks}
                    for i, arr in _pydicom_frames(h):
                        slot = where.get(i)
                        if slot is None:
                            continue
                        _check_shape(h, arr)
                        _to_modality(arr, sources[slot], out[slot], check)
                break
            except _Promote:
                # a value does not fit int16: convert what is done, redo this file in float32
                out = out.astype(np.float32)
                check = False
    return out


def read_one(s: FrameSource, dtype: np.dtype, fast_path: bool = True) -> np.ndarray:
    """One (1, rows, cols) chunk for lazy loading (dtype decided up front, no check)."""
    h = s.header
    out = np.empty((1, h.rows, h.cols), dtype)
    if fast_ok(h, fast_path):
        fd = os.open(h.path, os.O_RDONLY)
        try:
            _fast_slot(fd, s, out[0], False)
        finally:
            os.close(fd)
        return out
    for _, arr in _pydicom_frames(h, [s.frame] if h.frames > 1 else None):
        _check_shape(h, arr)
        _to_modality(arr, s, out[0], False)
    return out

