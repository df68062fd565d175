"""VOI windowing (PS3.3 C.11.2) of modality values to display values, on the CPU.

napari windows on the GPU through ``contrast_limits`` (see
:func:`window_to_contrast_limits`); this module produces the *same* picture
as an array, for exports, snapshots and thumbnails.

Functions (PS3.3 C.11.2.1.2, ``x`` = modality value, ``[ymin, ymax]`` = output range)
-------------------------------------------------------------------------------------
* ``LINEAR`` (width ``w >= 1``): ``x <= c - 0.5 - (w-1)/2`` -> ymin;
  ``x > c - 0.5 + (w-1)/2`` -> ymax; otherwise
  ``y = ((x - (c - 0.5)) / (w - 1) + 0.5) * (ymax - ymin) + ymin``.
  ``w == 1`` is a step at ``c - 0.5`` (both bounds coincide).
* ``LINEAR_EXACT`` (``w > 0``): ``x <= c - w/2`` -> ymin; ``x > c + w/2`` ->
  ymax; otherwise ``y = ((x - c) / w + 0.5) * (ymax - ymin) + ymin``.
* ``SIGMOID`` (``w > 0``): ``y = (ymax - ymin) / (1 + exp(-4 (x - c) / w)) + ymin``.

Output range and rounding rule
------------------------------
* ``out_dtype=np.uint8``: ``[0, 255]``; ``np.uint16``: ``[0, 65535]``.  The
  real-valued ``y`` of the formula above (with ``ymin = 0``, ``ymax = M``) is
  rounded **half up**: ``out = floor(y + 0.5)``.  ``y`` is evaluated in
  float64 as ``(x - c') * M / w' + M/2``, which is exact whenever the true
  ``y`` is a half-integer and ``c``, ``w`` and ``x`` are binary-exact (e.g.
  integers or halves), so ties round the same way every time.  A value
  within float64 rounding (~1e-13) of a half-integer without being one (e.g.
  float input -20.3) may round either way; pydicom's float64 has the same
  limit.  With integer ``c`` and ``w``, LINEAR on integer input never meets
  a tie (``2 (w - 1)`` is even, the numerator odd).
* floating ``out_dtype`` (float32/float64): the unrounded fraction
  ``y / M`` in ``[0, 1]``.
* ``invert=True`` (MONOCHROME1, PS3.3 C.7.6.3.1.2: minimum displayed white):
  integer outputs become ``M - out`` (the exact complement of the
  non-inverted output), float outputs ``1 - f``.
* NaN input maps to ``ymin`` (0) before inversion; +/-inf to the ends.

Speed
-----
Integer input of at most 16 bits goes through one lookup table over the
whole input domain (65,536 entries, built in float64 by the same formula and
cached), applied with ``np.take(..., out=)`` on cache-sized flat chunks,
each of the `threads` (:mod:`miss_imaging._parallel`) walking its own share of
the volume (numpy releases the GIL in ``take``).  LINEAR/LINEAR_EXACT windows
on 16-bit input to an integer output use a float32 affine kernel instead
(unless ``affine_kernel=False``): clip the input to the ramp's ends, convert,
multiply, add, truncate, on blocks of 2**18 values, on the same threads.  It is
used only if it reproduces the table bit for bit on all 65,536 possible inputs
(checked once per window and cached); it needs no gather, which is where the
table's time goes (``np.take`` costs ~0.6 ns per value even from cache).
With numba installed (``miss-imaging[fast]``), inputs of at least 2**20 values
run the same affine operations compiled in one pass (:mod:`._window_jit`,
about the speed of a plain cast), again only once verified on all 65,536
inputs; ``compiled=False`` forces numpy.  Wider integers use a table
over ``[min, max]`` when that range is small, else the float path.  Float
input is computed in float64 in cache-sized chunks (no volume-sized
temporaries).  Dask arrays are windowed lazily chunk by chunk.

References
----------
DICOM PS3.3 C.11.1 (Modality LUT), C.11.2 (VOI LUT), C.11.2.1.2 (window
center and width), C.8.11.3.1.5 (LUT Descriptor).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from miss_imaging import _parallel
from miss_imaging.model import contrast_limits

__all__ = [
    "VOI_FUNCTIONS",
    "apply_window",
    "apply_voi_table",
    "apply_modality_lut",
    "display_dataset",
    "window_to_contrast_limits",
    "contrast_limits_to_window",
]

VoiFunction = Literal["LINEAR", "LINEAR_EXACT", "SIGMOID"]
VOI_FUNCTIONS: tuple[str, ...] = ("LINEAR", "LINEAR_EXACT", "SIGMOID")

# Elements per chunk: 2**16 -> a 512 KiB intp index temporary inside np.take
# (or a 512 KiB float64 buffer on the float path), which stays in L2 cache.
CHUNK = 1 << 16
# The affine kernel's blocks are this many CHUNKs: 2**18 values (1.5 MB of int16 + float32 scratch).
AFFINE_BLOCKS = 4
# Inputs smaller than this run on the calling thread (a 512x512 slice does:
# the pool's hand-off costs more than it saves there).
THREAD_MIN = 1 << 20
# Integer inputs wider than 16 bits use a table over [min, max] below this size.
MAX_TABLE = 1 << 20

# A transfer maps float64 modality values, in place, to unrounded outputs in [0, top].
Transfer = Callable[[npt.NDArray[np.float64], float], None]


class _Run(NamedTuple):
    """How to run the kernels: threads at most, and whether the verified affine kernel may be used."""

    threads: int
    affine_kernel: bool
    compiled: bool = True


# ----------------------------------------------------------------------------- public API


def apply_window(
    values: Any,
    center: float,
    width: float,
    *,
    function: str = "LINEAR",
    out_dtype: npt.DTypeLike = np.uint8,
    out: npt.NDArray[Any] | None = None,
    invert: bool = False,
    slope: float = 1.0,
    intercept: float = 0.0,
    threads: int | None = None,
    affine_kernel: bool = True,
    compiled: bool = True,
) -> Any:
    """Window modality values to display values (PS3.3 C.11.2.1.2).

    Parameters
    ----------
    values : ndarray or dask array, any shape, integer or float dtype
        Modality values (HU for CT), or stored values when `slope` /
        `intercept` are given (the rescale is folded into the window).
    center, width : float
        (0028,1050) Window Center and (0028,1051) Window Width, in the units of
        the modality values.
    function : {"LINEAR", "LINEAR_EXACT", "SIGMOID"}
        (0028,1056) VOI LUT Function (case-insensitive).
    out_dtype : uint8, uint16, float32 or float64
        uint8 -> [0, 255], uint16 -> [0, 65535] rounded half up; float -> the
        fraction in [0, 1] (see module docstring).
    out : ndarray, optional
        Preallocated output of ``values.shape`` and `out_dtype`; written in
        place and returned.
    invert : bool
        MONOCHROME1 display: complement the output (``M - out``, ``1 - f``).
    slope, intercept : float
        (0028,1053) Rescale Slope and (0028,1052) Rescale Intercept applied to
        `values` first (``x = values * slope + intercept``, float64, as
        pydicom's ``apply_modality_lut``).  Defaults leave values unchanged.
    threads : int, optional
        Threads for inputs of at least 2**20 values (default: the machine's
        CPUs, see :mod:`miss_imaging._parallel`).  The output does not depend on it.
    affine_kernel : bool
        Use the float32 affine kernel where it is verified bit-identical to the
        table (16-bit input on one thread); False forces the table.  The output
        does not depend on it (the benchmark times both).
    compiled : bool
        For inputs of at least 2**20 values, run the affine kernel compiled
        by numba when it is installed (``pip install miss-imaging[fast]``) and
        reproduces the table on all 65,536 inputs; False forces numpy.  The
        output does not depend on it.

    Returns
    -------
    ndarray of `out_dtype` (`out` if given), or a lazy dask array for dask input
    without `out`.

    Raises
    ------
    ValueError
        Width out of range for `function`, unknown function, bad `out`.

    Examples
    --------
    >>> apply_window(np.array([-1024, 39, 40, 1000], np.int16), 40, 400).tolist()
    [0, 127, 128, 255]
    >>> apply_window(np.array([0, 1], np.int16), 1, 1).tolist()   # width 1: a step at c - 0.5
    [0, 255]
    """
    func = _check_window(center, width, function)
    _top(out_dtype)
    transfer = _window_transfer(float(center), float(width), func)
    return _apply(values, transfer, ("window", func, float(center), float(width)), out_dtype, out, invert,
                  float(slope), float(intercept), _Run(_parallel.resolve_workers(threads), affine_kernel, compiled))


def apply_voi_table(
    values: Any,
    descriptor: Sequence[int],
    table: npt.ArrayLike,
    *,
    out_dtype: npt.DTypeLike = np.uint8,
    out: npt.NDArray[Any] | None = None,
    invert: bool = False,
    slope: float = 1.0,
    intercept: float = 0.0,
    threads: int | None = None,
) -> Any:
    """Apply one (0028,3010) VOI LUT Sequence item (PS3.3 C.11.2.1.1).

    Parameters
    ----------
    values : ndarray or dask array
        Modality values (after rescale), or stored values with `slope` /
        `intercept`.
    descriptor : (3,) sequence of int
        (0028,3002) LUT Descriptor: number of entries (0 means 65,536), first
        input value mapped (may be negative), bits per entry (8 or 10-16).
    table : (entries,) array-like of int
        (0028,3006) LUT Data.  Values span ``[0, 2**bits - 1]``.
    out_dtype, out, invert, slope, intercept, threads
        As in :func:`apply_window`.

    Notes
    -----
    Inputs below the first mapped value take the first entry, inputs beyond
    the last take the last entry (C.11.2.1.1).  A non-integer input uses
    ``floor(x)`` (pydicom truncates, which is the same for mapped inputs).
    The entry ``v`` is scaled to the output as ``floor(v * M / (2**bits - 1)
    + 0.5)``; M and ``2**bits - 1`` are both odd, so no ties occur.

    Examples
    --------
    >>> apply_voi_table(np.array([-5, 0, 1, 2, 9]), (3, 0, 8), [0, 100, 255]).tolist()
    [0, 0, 100, 255, 255]
    """
    n, first, bits = (int(v) for v in descriptor)
    n = n or 65536
    if bits not in (8, *range(10, 17)):
        raise ValueError(f"(0028,3002) LUT Descriptor: {bits} bits per entry is not allowed (8 or 10-16)")
    lut = np.asarray(table).reshape(-1)
    if lut.size < n:
        raise ValueError(f"(0028,3006) LUT Data has {lut.size} entries; (0028,3002) LUT Descriptor says {n}")
    lut = np.ascontiguousarray(lut[:n], dtype=np.float64)
    _top(out_dtype)
    transfer = _table_transfer(first, lut, float(2**bits - 1))
    key = ("table", n, first, bits, lut.tobytes())
    return _apply(values, transfer, key, out_dtype, out, invert, float(slope), float(intercept),
                  _Run(_parallel.resolve_workers(threads), True))


def apply_modality_lut(
    stored: npt.ArrayLike,
    *,
    slope: float = 1.0,
    intercept: float = 0.0,
    descriptor: Sequence[int] | None = None,
    table: npt.ArrayLike | None = None,
) -> npt.NDArray[Any]:
    """Stored values -> modality values (PS3.3 C.11.1), as pydicom does.

    With a (0028,3000) Modality LUT Sequence item (`descriptor`, `table`) the
    table is applied (inputs clipped to its ends) and the table's dtype
    returned (uint8 for 8 bits, else uint16); otherwise
    ``stored * slope + intercept`` in float64, or `stored` unchanged when
    ``slope == 1`` and ``intercept == 0``.
    """
    arr = np.asarray(stored)
    if descriptor is not None and table is not None:
        n, first, bits = (int(v) for v in descriptor)
        n = n or 65536
        lut = np.asarray(table).reshape(-1)[:n].astype(np.uint8 if bits <= 8 else np.uint16)
        idx = np.clip(np.floor(arr.astype(np.float64)) - first, 0, n - 1).astype(np.intp)
        return lut[idx]
    if slope == 1.0 and intercept == 0.0:
        return arr
    res = arr.astype(np.float64) * float(slope)
    res += float(intercept)
    return res


def window_to_contrast_limits(center: float, width: float, function: str = "LINEAR") -> tuple[float, float]:
    """(lo, hi) input values mapped to the bottom and top of the display.

    LINEAR (C.11.2.1.2.1): ``(c - 0.5 - (w-1)/2, c - 0.5 + (w-1)/2)``; napari
    maps ``lo`` -> 0 and ``hi`` -> 1 linearly and clamps outside, which is the
    LINEAR function exactly.  LINEAR_EXACT/SIGMOID: ``c -/+ w/2`` (SIGMOID is
    only approximated by a linear ramp on the GPU).

    Examples
    --------
    >>> window_to_contrast_limits(40, 400)
    (-160.0, 239.0)
    """
    return contrast_limits(float(center), float(width), function)


def contrast_limits_to_window(lo: float, hi: float, function: str = "LINEAR") -> tuple[float, float]:
    """Inverse of :func:`window_to_contrast_limits`: ``(center, width)``.

    Examples
    --------
    >>> contrast_limits_to_window(-160.0, 239.0)
    (40.0, 400.0)
    """
    lo, hi = float(lo), float(hi)
    if function.upper() == "LINEAR":
        return ((lo + hi) / 2.0 + 0.5, hi - lo + 1.0)
    return ((lo + hi) / 2.0, hi - lo)


def display_dataset(
    ds: Any,
    arr: npt.NDArray[Any] | None = None,
    *,
    index: int = 0,
    prefer_lut: bool = True,
    out_dtype: npt.DTypeLike = np.uint8,
) -> npt.NDArray[Any]:
    """Stored pixels of a pydicom dataset -> display values, as a viewer shows them.

    Order (PS3.3 C.11, PS3.4 N.2): Modality LUT Sequence or Rescale
    Slope/Intercept, then VOI LUT Sequence item `index` (if `prefer_lut` or no
    window) or Window Center/Width `index` with (0028,1056) VOI LUT Function,
    then MONOCHROME1 inversion.  Without any VOI, the full stored range
    (from BitsStored and PixelRepresentation, after the modality transform)
    is shown linearly.

    Parameters
    ----------
    ds : pydicom.Dataset
    arr : ndarray, optional
        Stored values (default ``ds.pixel_array``).
    """
    if arr is None:
        arr = ds.pixel_array
    invert = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper() == "MONOCHROME1"
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    bits = int(ds.get("BitsStored", 16))
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    lo_stored, hi_stored = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    if ds.get("ModalityLUTSequence"):
        item = ds.ModalityLUTSequence[0]
        desc = [int(v) for v in item.LUTDescriptor]
        arr = apply_modality_lut(arr, descriptor=desc, table=_lut_data(item, ds))
        slope, intercept = 1.0, 0.0
        lo_stored, hi_stored = 0, 2 ** desc[2] - 1
    voi = ds.get("VOILUTSequence")
    has_window = "WindowCenter" in ds and "WindowWidth" in ds
    if voi and (prefer_lut or not has_window):
        item = voi[index]
        return apply_voi_table(arr, [int(v) for v in item.LUTDescriptor], _lut_data(item, ds),
                               out_dtype=out_dtype, invert=invert, slope=slope, intercept=intercept)
    if has_window:
        center, width = (_multi(ds["WindowCenter"].value, index), _multi(ds["WindowWidth"].value, index))
        func = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR")
        return apply_window(arr, center, width, function=func, out_dtype=out_dtype, invert=invert,
                            slope=slope, intercept=intercept)
    # No VOI in the file: map the whole possible modality range linearly.
    ends = sorted((lo_stored * slope + intercept, hi_stored * slope + intercept))
    center, width = contrast_limits_to_window(*ends)
    return apply_window(arr, center, width, out_dtype=out_dtype, invert=invert, slope=slope, intercept=intercept)


# ----------------------------------------------------------------------------- checks


def _check_window(center: float, width: float, function: str) -> str:
    func = str(function).strip().upper()
    if func not in VOI_FUNCTIONS:
        raise ValueError(f"Unsupported (0028,1056) VOI LUT Function {function!r}; expected one of {VOI_FUNCTIONS}")
    if not (math.isfinite(float(center)) and math.isfinite(float(width))):
        raise ValueError(f"(0028,1050) Window Center {center!r} and (0028,1051) Window Width {width!r} must be finite")
    if func == "LINEAR" and not width >= 1:
        raise ValueError(f"(0028,1051) Window Width must be >= 1 for LINEAR (PS3.3 C.11.2.1.2.1); got {width!r}")
    if func != "LINEAR" and not width > 0:
        raise ValueError(f"(0028,1051) Window Width must be > 0 for {func}; got {width!r}")
    return func


def _top(out_dtype: npt.DTypeLike) -> float:
    """M: the largest output value (1.0 for float outputs)."""
    dt = np.dtype(out_dtype)
    if dt == np.uint8:
        return 255.0
    if dt == np.uint16:
        return 65535.0
    if dt in (np.float32, np.float64):
        return 1.0
    raise ValueError(f"`out_dtype` must be uint8, uint16, float32 or float64; got {dt}")


def _multi(value: Any, index: int) -> float:
    """Value `index` of a possibly multi-valued DS element."""
    if isinstance(value, (str, bytes)):
        return float(value)
    try:
        return float(value[index])  # pydicom MultiValue
    except TypeError:  # a single DSfloat/float is not subscriptable
        return float(value)


def _lut_data(item: Any, ds: Any) -> npt.NDArray[np.uint16]:
    """(0028,3006) LUT Data as integers whether encoded US or OW."""
    elem = item["LUTData"]
    if elem.VR == "OW" or isinstance(elem.value, (bytes, bytearray)):
        little = True
        meta = getattr(ds, "file_meta", None)
        tsyntax = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
        if tsyntax is not None and not tsyntax.is_little_endian:
            little = False
        return np.frombuffer(bytes(elem.value), dtype="<u2" if little else ">u2").astype(np.uint16)
    val = elem.value
    return np.asarray([val] if isinstance(val, int) else list(val), dtype=np.uint16)


# ----------------------------------------------------------------------------- transfers


def _window_transfer(c: float, w: float, func: str) -> Transfer:
    """In-place float64 x -> unrounded y in [0, top] for one window."""

    def linear(x: npt.NDArray[np.float64], top: float) -> None:
        if w == 1.0:  # a step: every x <= c - 0.5 is ymin, every x above is ymax
            np.greater(x, c - 0.5, out=x)  # NaN -> False -> ymin
            x *= top
            return
        _ramp(x, c - 0.5, w - 1.0, top)

    def linear_exact(x: npt.NDArray[np.float64], top: float) -> None:
        _ramp(x, c, w, top)

    def sigmoid(x: npt.NDArray[np.float64], top: float) -> None:
        x -= c
        x *= -4.0 / w
        with np.errstate(over="ignore"):  # exp overflow -> inf -> y = 0, as intended
            np.exp(x, out=x)
        x += 1.0
        np.divide(top, x, out=x)
        np.fmax(x, 0.0, out=x)  # NaN -> 0

    return {"LINEAR": linear, "LINEAR_EXACT": linear_exact, "SIGMOID": sigmoid}[func]


def _ramp(x: npt.NDArray[np.float64], c: float, w: float, top: float) -> None:
    # y = (x - c) * top / w + top/2; multiply before dividing so that exact
    # half-integer results stay exact (see module docstring), then clamp.
    x -= c
    x *= top
    x /= w
    x += top / 2.0
    np.fmax(x, 0.0, out=x)  # fmax/fmin treat NaN as missing: NaN -> 0
    np.fmin(x, top, out=x)


def _table_transfer(first: int, lut: npt.NDArray[np.float64], lut_max: float) -> Transfer:
    n = lut.size

    def table(x: npt.NDArray[np.float64], top: float) -> None:
        np.floor(x, out=x)
        x -= first
        np.fmax(x, 0.0, out=x)  # NaN -> first entry
        np.fmin(x, n - 1.0, out=x)
        scaled = lut * (top / lut_max)
        x[...] = np.take(scaled, x.astype(np.intp))

    return table


def _finish(x: npt.NDArray[np.float64], top: float, invert: bool, integer: bool) -> None:
    """Round half up (integer outputs) and complement for MONOCHROME1."""
    if integer:
        x += 0.5
        np.floor(x, out=x)
    if invert:
        np.subtract(top, x, out=x)


# ----------------------------------------------------------------------------- drivers


def _apply(
    values: Any,
    transfer: Transfer,
    key: tuple[Any, ...],
    out_dtype: npt.DTypeLike,
    out: npt.NDArray[Any] | None,
    invert: bool,
    slope: float,
    intercept: float,
    how: _Run,
) -> Any:
    odt = np.dtype(out_dtype)
    top = _top(odt)
    shape = tuple(values.shape) if hasattr(values, "shape") else np.shape(values)
    if out is not None:
        if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != odt:
            got = f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}"
            raise ValueError(f"`out` must be a {odt} ndarray of shape {shape}; got {got}")
        if not out.flags.writeable:
            raise ValueError("`out` is read-only")
    if hasattr(values, "__dask_graph__"):
        return _apply_dask(values, transfer, key, odt, out, invert, slope, intercept, how)
    values = np.asarray(values)
    if out is None:
        out = np.empty(values.shape, odt)
    if values.dtype == np.bool_:
        values = values.view(np.uint8)
    if values.size == 0:
        return out
    kind = values.dtype.kind
    if kind in "iu" and values.dtype.itemsize <= 2:
        lut, affine = _domain_lut(values.dtype.str, transfer, key, top, invert, odt.str, slope, intercept)
        # The affine kernel is verified bit-identical to `lut` on every possible input and
        # needs no gather: CPU time 28-31 ms vs 77 ms for the table (512x512x300, one
        # thread).  Its five calls per block cost ~2 us each whatever the size, so its
        # blocks are 4x larger (still L3-resident); that also keeps two threads from
        # convoying on the GIL between calls.
        if affine is not None and how.affine_kernel:
            jit = _compiled_affine(affine, values.dtype, odt, lut) if how.compiled and values.size >= THREAD_MIN else None
            _run(values, out, jit or (lambda v, o: _affine_kernel(v, o, affine)), how.threads, AFFINE_BLOCKS * CHUNK)
            return out
        src = values.view(np.dtype(f"u{values.dtype.itemsize}"))  # bit patterns index the table

        def lut_kernel(v: npt.NDArray[Any], o: npt.NDArray[Any]) -> None:
            # np.take wants intp indices: convert into a reused per-thread buffer
            # rather than letting take allocate (and fault in) one per chunk
            idx = _index_buffer(v.shape)
            np.copyto(idx, v, casting="unsafe")
            np.take(lut, idx, out=o, mode="wrap")

        _run(src, out, lut_kernel, how.threads)
        return out
    if kind in "iu":
        lo, hi = int(values.min()), int(values.max())
        if hi - lo < MAX_TABLE:
            xs = np.arange(lo, hi + 1, dtype=np.float64)
            lut = _lut_from(xs, transfer, top, invert, odt, slope, intercept)

            def kernel(v: npt.NDArray[Any], o: npt.NDArray[Any]) -> None:
                idx = np.subtract(v, lo, dtype=np.intp)
                np.take(lut, idx, out=o, mode="wrap")

            _run(values, out, kernel, how.threads)
            return out
    if kind not in "iuf":
        raise ValueError(f"`values` must be an integer or float array; got {values.dtype}")

    def float_kernel(v: npt.NDArray[Any], o: npt.NDArray[Any]) -> None:
        x = np.array(v, dtype=np.float64)  # chunk-sized working copy
        if slope != 1.0:
            x *= slope
        if intercept != 0.0:
            x += intercept
        transfer(x, top)
        _finish(x, top, invert, odt.kind == "u")
        np.copyto(o, x, casting="unsafe")

    _run(values, out, float_kernel, how.threads)
    return out


_local = threading.local()


def _scratch(shape: tuple[int, ...], dtype: npt.DTypeLike) -> npt.NDArray[Any]:
    """A per-thread scratch array of `shape` and `dtype` (buffers up to AFFINE_BLOCKS * CHUNK elements are kept)."""
    dt = np.dtype(dtype)
    n = int(np.prod(shape))
    bufs = _local.__dict__.setdefault("bufs", {})
    buf = bufs.get(dt)
    if buf is None or buf.size < n:
        buf = np.empty(max(n, CHUNK), dt)
        if n <= AFFINE_BLOCKS * CHUNK:
            bufs[dt] = buf
    return buf[:n].reshape(shape)


def _index_buffer(shape: tuple[int, ...]) -> npt.NDArray[np.intp]:
    return _scratch(shape, np.intp)


class _Affine(NamedTuple):
    """``out = trunc(float32(clip(x, lo, hi)) * a + b)`` for LINEAR windows on 16-bit input."""

    a: np.float32
    b: np.float32  # includes the +0.5 of rounding half up
    lo: np.generic  # the ramp's ends, in the input dtype: inputs beyond them give the same output
    hi: np.generic


def _affine_kernel(v: npt.NDArray[Any], o: npt.NDArray[Any], p: _Affine) -> None:
    # five streaming SIMD passes over cache-resident scratch, no gather; the clip is on
    # the 16-bit input (half the cost of a float32 clip)
    c = _scratch(v.shape, v.dtype)
    f = _scratch(v.shape, np.float32)
    np.clip(v, p.lo, p.hi, out=c)
    np.copyto(f, c)
    np.multiply(f, p.a, out=f)
    np.add(f, p.b, out=f)
    np.copyto(o, f, casting="unsafe")  # truncation of values in [0, M + 1) (checked in _affine_params)


_jit_verified: dict[tuple[Any, ...], bool] = {}


def _compiled_affine(p: _Affine, dt: np.dtype, odt: np.dtype,
                     lut: npt.NDArray[Any]) -> Callable[[npt.NDArray[Any], npt.NDArray[Any]], None] | None:
    """The numba form of the affine kernel (:mod:`._window_jit`) when installed and exact on every input."""
    from miss_imaging.display import _window_jit  # imports numba: only for large inputs

    if not _window_jit.AVAILABLE:
        return None
    key = (p, dt.str, odt.str)
    if key not in _jit_verified:
        domain = np.arange(1 << (8 * dt.itemsize), dtype=np.uint64).astype(np.dtype(f"u{dt.itemsize}")).view(dt)
        check = np.empty(domain.shape, odt)
        _window_jit.affine(domain, check, p.a, p.b, p.lo, p.hi)
        _jit_verified[key] = bool(np.array_equal(check, lut))
    if not _jit_verified[key]:
        return None

    def kernel(v: npt.NDArray[Any], o: npt.NDArray[Any]) -> None:
        if v.ndim == 1 and o.ndim == 1:
            _window_jit.affine(v, o, p.a, p.b, p.lo, p.hi)
        else:  # blocks of non-contiguous arrays: the numpy kernel (verified on the same inputs)
            _affine_kernel(v, o, p)

    return kernel


def _ramp_ends(domain: npt.NDArray[Any], lut: npt.NDArray[Any]) -> tuple[np.generic, np.generic] | None:
    """The input values beyond which `lut` (indexed by bit pattern) is constant, or None if it never is."""
    # the domain is every bit pattern in order: signed values ascend from the middle (-2**15) on
    half = domain.size // 2 if domain.dtype.kind == "i" else 0
    xs, ys = np.roll(domain, -half), np.roll(lut, -half)
    low = np.flatnonzero(ys != ys[0])
    high = np.flatnonzero(ys != ys[-1])
    if low.size == 0:
        return None
    return xs[low[0] - 1], xs[high[-1] + 1]


def _affine_params(dt: np.dtype, key: tuple[Any, ...], top: float, invert: bool, odt: np.dtype, slope: float,
                   intercept: float, domain: npt.NDArray[Any], lut: npt.NDArray[Any]) -> _Affine | None:
    """Float32 affine form of a LINEAR/LINEAR_EXACT window, if exact on the whole input domain.

    float32 rounding can move a value across an integer, so the kernel is run
    on every possible input value (65,536 for 16-bit input) and used only if
    it reproduces the exact table bit for bit; otherwise the table is used.
    """
    if invert or odt.kind != "u" or dt.itemsize != 2 or not dt.isnative:
        return None
    if key[0] != "window" or key[1] not in ("LINEAR", "LINEAR_EXACT"):
        return None
    _, func, c, w = key
    ce, we = (c - 0.5, w - 1.0) if func == "LINEAR" else (c, w)
    if we <= 0:
        return None
    ends = _ramp_ends(domain, lut)
    if ends is None:
        return None
    a = top / we * slope
    b = top / we * (intercept - ce) + top / 2.0 + 0.5
    params = _Affine(np.float32(a), np.float32(b), *ends)
    if not (np.isfinite(params.a) and np.isfinite(params.b)):
        return None
    # float32 multiply and add are monotonic, so every clipped input lands between the
    # ends' values: keep them inside [0, M + 1), where the cast to `odt` truncates
    y_ends = np.array(ends, np.float32) * params.a + params.b
    if not (y_ends.min() > -1.0 and y_ends.max() < top + 1.0):
        return None
    check = np.empty(domain.shape, odt)
    for s in range(0, domain.size, CHUNK):
        _affine_kernel(domain[s : s + CHUNK], check[s : s + CHUNK], params)
    return params if np.array_equal(check, lut) else None


@lru_cache(maxsize=32)
def _domain_lut_cached(dtype_str: str, key: tuple[Any, ...], top: float, invert: bool, odt_str: str,
                       slope: float, intercept: float, transfer: Transfer) -> tuple[npt.NDArray[Any], _Affine | None]:
    dt = np.dtype(dtype_str)
    n = 1 << (8 * dt.itemsize)
    # table index = the value's unsigned bit pattern, so signed inputs need no offset
    domain = np.arange(n, dtype=np.uint64).astype(np.dtype(f"u{dt.itemsize}")).view(dt)
    lut = _lut_from(domain.astype(np.float64), transfer, top, invert, np.dtype(odt_str), slope, intercept)
    lut.flags.writeable = False
    return lut, _affine_params(dt, key, top, invert, np.dtype(odt_str), slope, intercept, domain, lut)


class _KeyedTransfer:
    """Hashable by `key` only, so the LUT cache ignores the closure's identity."""

    def __init__(self, key: tuple[Any, ...], transfer: Transfer):
        self.key, self.transfer = key, transfer

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _KeyedTransfer) and other.key == self.key

    def __call__(self, x: npt.NDArray[np.float64], top: float) -> None:
        self.transfer(x, top)


def _domain_lut(dtype_str: str, transfer: Transfer, key: tuple[Any, ...], top: float, invert: bool,
                odt_str: str, slope: float, intercept: float) -> tuple[npt.NDArray[Any], _Affine | None]:
    return _domain_lut_cached(dtype_str, key, top, invert, odt_str, slope, intercept, _KeyedTransfer(key, transfer))


def _lut_from(xs: npt.NDArray[np.float64], transfer: Transfer, top: float, invert: bool, odt: np.dtype,
              slope: float, intercept: float) -> npt.NDArray[Any]:
    """Evaluate the exact per-value rule on the input values `xs` (float64, modified)."""
    if slope != 1.0:
        xs *= slope
    if intercept != 0.0:
        xs += intercept
    transfer(xs, top)
    _finish(xs, top, invert, odt.kind == "u")
    return xs.astype(odt)


def _blocks(values: npt.NDArray[Any], out: npt.NDArray[Any],
            size: int) -> Iterator[tuple[npt.NDArray[Any], npt.NDArray[Any]]]:
    """Matching views of `values` and `out` of at most about `size` elements, no copies."""
    if values.flags.c_contiguous and out.flags.c_contiguous:
        fv, fo = values.reshape(-1), out.reshape(-1)
        for s in range(0, fv.size, size):
            yield fv[s : s + size], fo[s : s + size]
    elif values.ndim <= 1:
        for s in range(0, values.shape[0] if values.ndim else 1, size):
            yield (values[s : s + size], out[s : s + size]) if values.ndim else (values, out)
    elif values.size <= size:
        yield values, out
    else:
        for i in range(values.shape[0]):
            yield from _blocks(values[i], out[i], size)


def _run(values: npt.NDArray[Any], out: npt.NDArray[Any],
         kernel: Callable[[npt.NDArray[Any], npt.NDArray[Any]], None], threads: int, size: int | None = None) -> None:
    """Apply `kernel` block by block (blocks of about `size`, default CHUNK, elements);
    on `threads` threads when there is enough work."""
    blocks = _blocks(values, out, size or CHUNK)
    if threads == 1 or values.size < THREAD_MIN:
        for v, o in blocks:
            kernel(v, o)
        return
    # one contiguous share of the blocks per thread: few tasks (pool overhead is
    # ~0.05 ms per task), and each thread still walks cache-sized blocks
    todo = list(blocks)
    shares = [todo[i * len(todo) // threads : (i + 1) * len(todo) // threads] for i in range(threads)]

    def work(share: list[tuple[npt.NDArray[Any], npt.NDArray[Any]]]) -> None:
        for v, o in share:
            kernel(v, o)

    _parallel.run(work, shares, workers=threads)


def _apply_dask(values: Any, transfer: Transfer, key: tuple[Any, ...], odt: np.dtype, out: npt.NDArray[Any] | None,
                invert: bool, slope: float, intercept: float, how: _Run) -> Any:
    def block(b: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return _apply(b, transfer, key, odt, None, invert, slope, intercept, how)

    lazy = values.map_blocks(block, dtype=odt, meta=np.empty((0,) * values.ndim, odt))
    if out is None:
        return lazy
    import dask.array as da  # only reached with dask input

    da.store(lazy, out, lock=False)
    return out
