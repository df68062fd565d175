"""Private interpolation kernels shared by :mod:`resample` and :mod:`reslice`.

Everything here works in *array index* units (axis order ``(z, y, x)``,
index 0 = centre of the first voxel) and returns float32.  Two families:

* separable 1-D kernels (:func:`axis_weights`, :func:`apply_axis`) for grids
  whose axes are parallel to the input's axes (isotropic resampling);
* point samplers (:func:`sample_points`, :func:`sample_slices`) for arbitrary
  points (tilted grids, oblique planes): ``scipy.ndimage.map_coordinates``
  (compiled, GIL-free) for regular volumes, a flat-index bilinear gather for
  the per-slice sampling of irregular stacks;
* :class:`PointSampler` -- a volume prepared once (decoded, inverse affine or
  the slice geometry of an irregular stack, :class:`Stack`) and sampled at
  LPS points laid out on affine grids (tilted output grids, oblique planes);
  linear sampling of regular volumes there uses a numpy trilinear kernel on
  the grid's affine rows (``PointSampler._trilinear_rows``), faster than
  ``map_coordinates``.

Boundary rule (both families): a sample inside the *footprint* of the
volume (index in ``[-0.5, n - 0.5]`` on every axis) takes the value
interpolated from the nearest voxels, clamped at the edge; a sample outside
the footprint gets ``cval``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from miss_imaging.model import ImageVolume

__all__ = [
    "axis_weights", "apply_axis", "prefilter_axis", "sample_points", "sample_slices", "Workspace", "CUBIC_MARGIN",
    "Stack", "PointSampler", "affine_coord", "source_name",
]

# Cubic B-spline prefilter is an IIR filter with pole z = sqrt(3) - 2 (|z| = 0.268);
# cropping the input this many voxels beyond the samples changes results by
# < 0.268**16 ~ 7e-10 relative, far below float32 resolution.
CUBIC_MARGIN = 16

# index tolerance (voxels) for "exactly on a grid position"
_ON_GRID = 1e-9
_EPS = 1e-9  # mm tolerance on slice positions

# Sample only the inside points of a grid when fewer than this fraction are inside
SPARSE_FRACTION = 0.85

# Points per block of the trilinear row kernel (PointSampler._trilinear_rows):
# 8192 measured fastest (its 8 gathers stay in L2; 2k: +20 %, 32k: +60 %).
_TRI_BLOCK = 8192
# Block size when two threads share a plane: each numpy call hands the GIL to the
# other thread, so blocks must be large.  Measured (512 x 512 plane, 2 x 40 rounds,
# median): one thread 8k blocks 10.6 ms; two threads 8k 13.3, 24k 9.9-11.0,
# 32k 9.7-11.5, 64k 9.35-9.5 ms (SimpleITK, two threads, 10.2 ms).
TRI_BLOCK_THREADED = 1 << 16


def _bspline3(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Cubic B-spline basis at offsets ``t`` (voxels)."""
    a = np.abs(t)
    out = np.where(a < 1.0, 2.0 / 3.0 - a * a + 0.5 * a**3, 0.0)
    return np.where((a >= 1.0) & (a < 2.0), (2.0 - a) ** 3 / 6.0, out)


def _mirror(idx: npt.NDArray[np.int64], n: int) -> npt.NDArray[np.int64]:
    """Whole-sample symmetric boundary (scipy mode ``"mirror"``): -1 -> 1, n -> n-2."""
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    idx = np.mod(idx, period)
    return np.where(idx >= n, period - idx, idx)


def axis_weights(
    pos: npt.ArrayLike, n: int, order: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Taps and weights of 1-D interpolation at fractional positions.

    Parameters
    ----------
    pos : (m,) array-like of float
        Sample positions in index units of an axis of length `n`.
    n : int
        Number of input samples along the axis.
    order : {0, 1, 3}
        Nearest, linear, cubic B-spline (applied to prefiltered coefficients).

    Returns
    -------
    idx : (m, K) intp
        Input indices of the K taps (K = 1, 2, 4), always inside ``[0, n)``.
    w : (m, K) float32
        Weights (rows sum to 1).
    inside : (m,) bool
        True where the position lies in the footprint ``[-0.5, n - 0.5]``.
    """
    p = np.asarray(pos, dtype=np.float64)
    inside = (p >= -0.5 - _ON_GRID) & (p <= n - 0.5 + _ON_GRID)
    pc = np.clip(p, 0.0, n - 1.0)
    if order == 0:
        idx = np.clip(np.floor(pc + 0.5), 0, n - 1).astype(np.intp)[:, None]
        return idx, np.ones(idx.shape, np.float32), inside
    if order == 1:
        i0 = np.clip(np.floor(pc), 0, max(n - 2, 0)).astype(np.intp)
        w1 = pc - i0
        w1[np.abs(w1) < _ON_GRID] = 0.0
        i1 = np.minimum(i0 + 1, n - 1)
        idx = np.stack([i0, i1], axis=1)
        w = np.stack([1.0 - w1, w1], axis=1).astype(np.float32)
        return idx, w, inside
    if order == 3:
        base = np.floor(pc).astype(np.intp) - 1
        taps = base[:, None] + np.arange(4)[None, :]
        w = _bspline3(pc[:, None] - taps).astype(np.float32)
        return _mirror(taps, n).astype(np.intp), w, inside
    raise ValueError(f"`order` must be 0, 1 or 3; got {order!r}")


def prefilter_axis(block: npt.NDArray, axis: int) -> npt.NDArray[np.float32]:
    """Cubic B-spline coefficients along one axis (mirror boundary), float32."""
    if block.shape[axis] == 1:
        return block.astype(np.float32, copy=False)
    return ndimage.spline_filter1d(block, order=3, axis=axis, mode="mirror", output=np.float32)


class Workspace:
    """Reusable scratch arrays (one per thread): fresh multi-MB allocations are
    page-faulted on every use, which costs more than the arithmetic."""

    def __init__(self) -> None:
        self._bufs: dict[str, npt.NDArray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: npt.DTypeLike) -> npt.NDArray:
        buf = self._bufs.get(name)
        dt = np.dtype(dtype)
        if buf is None or buf.dtype != dt or buf.size < int(np.prod(shape)):
            buf = self._bufs[name] = np.empty(int(np.prod(shape)), dt)
        return buf[: int(np.prod(shape))].reshape(shape)


def apply_axis(
    src: npt.NDArray,
    axis: int,
    idx: npt.NDArray[np.intp],
    w: npt.NDArray[np.float32],
    out: npt.NDArray | None = None,
    ws: Workspace | None = None,
    tag: str = "",
) -> npt.NDArray:
    """Resample `src` along `axis` with taps `idx` and weights `w` (from :func:`axis_weights`).

    A pure gather (one tap, or extra taps whose weight is zero everywhere)
    keeps the input dtype when `out` is None; otherwise the result is float32.
    Scratch arrays come from `ws` (named with `tag`) when given, so that
    repeated chunk calls allocate nothing.
    """
    ws = ws or Workspace()
    m, k = idx.shape
    shape = list(src.shape)
    shape[axis] = m
    shape_t = tuple(shape)
    bshape = [1] * src.ndim
    bshape[axis] = m
    live = [t for t in range(k) if np.any(w[:, t] != 0)]
    if len(live) == 1 and np.all(w[:, live[0]] == 1):
        t = live[0]
        dst = out if out is not None and out.dtype == src.dtype else ws.get(tag + "g", shape_t, src.dtype)
        np.take(src, idx[:, t], axis=axis, out=dst, mode="clip")  # mode="clip": unbuffered out=
        if out is not None and dst is not out:
            out[...] = dst
            return out
        return dst
    res = out if out is not None else ws.get(tag + "r", shape_t, np.float32)
    g0 = ws.get(tag + "g0", shape_t, src.dtype)
    if k == 2 and live == [0, 1]:
        # linear: a0 + w1 (a1 - a0), three passes
        g1 = ws.get(tag + "g1", shape_t, src.dtype)
        np.take(src, idx[:, 0], axis=axis, out=g0, mode="clip")
        np.take(src, idx[:, 1], axis=axis, out=g1, mode="clip")
        np.subtract(g1, g0, out=res, dtype=np.float32)
        np.multiply(res, w[:, 1].reshape(bshape), out=res)
        np.add(res, g0, out=res, dtype=np.float32)
        return res
    tmp = ws.get(tag + "t", shape_t, np.float32)
    for n_done, t in enumerate(live):
        np.take(src, idx[:, t], axis=axis, out=g0, mode="clip")
        if n_done == 0:
            np.multiply(g0, w[:, t].reshape(bshape), out=res, dtype=np.float32)
        else:
            np.multiply(g0, w[:, t].reshape(bshape), out=tmp, dtype=np.float32)
            np.add(res, tmp, out=res)
    return res


def _footprint(i: npt.NDArray, n: int) -> npt.NDArray[np.bool_]:
    return (i >= -0.5 - _ON_GRID) & (i <= n - 0.5 + _ON_GRID)


def _split(i: npt.NDArray[np.float64], n: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
    """Lower tap and fractional weight of linear interpolation, clamped at the edges."""
    ic = np.clip(i, 0.0, n - 1.0)
    i0 = ic.astype(np.intp)  # ic >= 0 so astype == floor
    np.minimum(i0, max(n - 2, 0), out=i0)
    np.subtract(ic, i0, out=ic)
    return i0, ic.astype(np.float32)


def sample_points(
    arr: npt.NDArray,
    coords: npt.NDArray[np.float64],
    *,
    order: int = 1,
    cval: float = 0.0,
    bounds: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None,
) -> npt.NDArray[np.float32]:
    """Interpolate a 3-D array at fractional indices ``coords`` of shape ``(3, ...)``.

    Orders 0 and 1 call ``scipy.ndimage.map_coordinates`` with mode
    ``"nearest"`` (compiled, and it releases the GIL, so callers can split
    the points over threads); order 3 crops the needed box (plus
    :data:`CUBIC_MARGIN`), prefilters it and evaluates the spline with mode
    ``"mirror"``.  Points outside the footprint get `cval`; `bounds` (per-axis
    min and max of `coords`, when the caller knows them) skips that test
    when every point is inside.
    """
    n = np.array(arr.shape, dtype=np.float64)
    if order == 3:
        res = _cubic_points(arr, coords)
    elif order in (0, 1):
        res = np.empty(coords.shape[1:], np.float32)
        ndimage.map_coordinates(arr, coords, output=res, order=order, mode="nearest", prefilter=False)
    else:
        raise ValueError(f"`order` must be 0, 1 or 3; got {order!r}")
    if bounds is not None and np.all(bounds[0] >= -0.5) and np.all(bounds[1] <= n - 0.5):
        return res
    inside = _footprint(coords[0], arr.shape[0])
    inside &= _footprint(coords[1], arr.shape[1])
    inside &= _footprint(coords[2], arr.shape[2])
    if not inside.all():
        res[~inside] = cval
    return res


def _lerp(flat: npt.NDArray, f: npt.NDArray[np.intp], d: int, w: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """flat[f] + w (flat[f + d] - flat[f]) in float32, casting inside the ufunc loops (no astype passes)."""
    a = flat.take(f)
    b = flat.take(f + d) if d else a
    out = np.subtract(b, a, dtype=np.float32)
    out *= w
    np.add(out, a, out=out, dtype=np.float32)
    return out


def _bilerp(
    flat: npt.NDArray,
    f: npt.NDArray[np.intp],
    d1: int,
    d2: int,
    wj: npt.NDArray[np.float32],
    wk: npt.NDArray[np.float32],
) -> npt.NDArray[np.float32]:
    lo = _lerp(flat, f, d2, wk)
    hi = _lerp(flat, f + d1, d2, wk)
    hi -= lo
    hi *= wj
    lo += hi
    return lo


def _cubic_points(arr: npt.NDArray, coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    crop = []
    shifted = np.empty_like(coords)
    for a, n in enumerate(arr.shape):
        np.clip(coords[a], 0.0, n - 1.0, out=shifted[a])
        lo = max(int(np.floor(shifted[a].min())) - CUBIC_MARGIN, 0) if shifted[a].size else 0
        hi = min(int(np.ceil(shifted[a].max())) + CUBIC_MARGIN + 1, n) if shifted[a].size else n
        crop.append(slice(lo, hi))
        shifted[a] -= lo
    box = np.asarray(arr[tuple(crop)])
    coef = ndimage.spline_filter(box, order=3, mode="mirror", output=np.float32)
    return ndimage.map_coordinates(coef, shifted, order=3, mode="mirror", prefilter=False, output=np.float32)


def sample_slices(
    arr: npt.NDArray,
    kslice: npt.NDArray[np.intp],
    j: npt.NDArray[np.float64],
    k: npt.NDArray[np.float64],
    *,
    order: int = 1,
    cval: float = 0.0,
) -> npt.NDArray[np.float32]:
    """Interpolate in-plane only: slice ``kslice`` (integer) at fractional ``(j, k)``.

    Used for stacks whose slices are not on a regular grid (non-uniform or
    sheared): each slice is sampled at its own in-plane coordinates.
    Order 0 or 1 (bilinear).
    """
    _, n1, n2 = arr.shape
    inside = _footprint(j, n1) & _footprint(k, n2)
    a = arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)
    flat = a.reshape(-1)
    base = kslice.astype(np.intp) * (n1 * n2)
    if order == 0:
        f = base + np.clip(np.rint(j), 0, n1 - 1).astype(np.intp) * n2 + np.clip(np.rint(k), 0, n2 - 1).astype(np.intp)
        res = flat.take(f).astype(np.float32)
    else:
        j0, wj = _split(j, n1)
        k0, wk = _split(k, n2)
        res = _bilerp(flat, base + j0 * n2 + k0, n2 if n1 > 1 else 0, 1 if n2 > 1 else 0, wj, wk)
    res[~inside] = cval
    return res


# ---------------------------------------------------------------------------
# geometry of a (possibly irregular) stack, and sampling on affine grids
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Stack:
    """Slice geometry: in-plane unit vectors, spacings, and each slice's IPP."""

    X: npt.NDArray[np.float64]  # row direction (col index grows), unit
    Y: npt.NDArray[np.float64]  # column direction (row index grows), unit
    n: npt.NDArray[np.float64]  # slice normal, oriented so that d grows with index
    d_row: float  # mm per row step
    d_col: float  # mm per column step
    ipp: npt.NDArray[np.float64]  # (N, 3) LPS mm
    d: npt.NDArray[np.float64]  # (N,) position along n, increasing

    @classmethod
    def of(cls, volume: ImageVolume) -> "Stack":
        A = volume.affine[:3, :3]
        d_row, d_col = float(np.linalg.norm(A[:, 1])), float(np.linalg.norm(A[:, 2]))
        Y, X = A[:, 1] / d_row, A[:, 2] / d_col
        n = np.cross(X, Y)
        n /= np.linalg.norm(n)
        if volume.slice_positions is not None and len(volume.slice_positions) == volume.shape[0]:
            ipp = np.asarray(volume.slice_positions, dtype=np.float64)
        else:
            ipp = volume.affine[:3, 3][None, :] + np.arange(volume.shape[0])[:, None] * A[:, 0][None, :]
        d = ipp @ n
        if len(d) > 1 and d[-1] < d[0]:
            n, d = -n, -d
        if np.any(np.diff(d) <= 0):
            raise ValueError(
                f"{source_name(volume)}: slice positions (0020,0032) ImagePositionPatient are not strictly "
                "monotonic along the slice normal; cannot regrid"
            )
        return cls(X, Y, n, d_row, d_col, ipp, d)


def source_name(volume: ImageVolume) -> str:
    return str(volume.files[0]) if volume.files else volume.label


class PointSampler:
    """Samples a volume at LPS points laid out on an affine grid.

    Regular volumes map LPS to fractional indices with the inverse affine
    (one multiply-add per axis per point, computed by broadcasting from the
    grid's step vectors).  Irregular stacks (``regular=False``) find each
    point's two neighbouring slices from its position along the slice normal
    and sample each slice at the foot of the normal (true positions).
    """

    def __init__(self, volume: ImageVolume, order: int, cval: float | None = None, compiled: bool = True) -> None:
        if order not in (0, 1, 3):
            raise ValueError(f"`order` must be 0, 1 or 3; got {order!r}")
        src = np.asarray(volume.pixels)  # a lazy (dask) volume is decoded once, here
        self.src = src if src.flags.c_contiguous else np.ascontiguousarray(src)
        self.regular = volume.regular
        self.requested_order = order
        self.order = order if volume.regular else min(order, 1)
        self.cval = float(self.src.min()) if cval is None else float(cval)
        self.compiled = compiled  # use the optional numba kernel for linear rows when it is installed
        if self.regular:
            self.Ainv = np.linalg.inv(volume.affine[:3, :3])
            self.t = volume.affine[:3, 3]
        else:
            st = self.stack = Stack.of(volume)
            N = len(st.d)
            # slice footprint along the normal: half the end gaps beyond the first/last slice
            self.d_lo = st.d[0] - ((st.d[1] - st.d[0]) / 2 if N > 1 else 0.5)
            self.d_hi = st.d[-1] + ((st.d[-1] - st.d[-2]) / 2 if N > 1 else 0.5)
            self.ipY, self.ipX = st.ipp @ st.Y, st.ipp @ st.X
            self.P = np.stack([st.n, st.Y, st.X])  # LPS -> (d, y', x') projections

    def grid(self, origin: npt.ArrayLike, steps: list[npt.NDArray[np.float64]],
             coords: list[npt.NDArray[np.float64]], block: int = _TRI_BLOCK) -> npt.NDArray[np.float32]:
        """Values at ``origin + sum_k coords[k] * steps[k]`` (coords broadcast together), float32.

        `block`: points per block of the linear kernel (:data:`TRI_BLOCK_THREADED` when
        another thread samples at the same time).
        """
        O = np.asarray(origin, dtype=np.float64)
        if self.regular:
            base = self.Ainv @ (O - self.t)
            M = [self.Ainv @ e for e in steps]
            shape = np.broadcast_shapes(*[c.shape for c in coords])
            if self.order == 1 and _is_inner_arange(coords[-1]):
                # affine rows: numpy trilinear gather (see _trilinear_rows for the measurements)
                return self._trilinear_rows(self._row_spans(base, M, coords, shape), shape, block)
            ijk = np.empty((3, *shape))
            lo, hi = np.empty(3), np.empty(3)
            for r in range(3):
                lo[r], hi[r] = affine_coord(base[r], [m[r] for m in M], coords, out=ijk[r])
            n = np.array(self.src.shape, dtype=np.float64)
            partly_outside = np.any(lo < -0.5) or np.any(hi > n - 0.5)
            if partly_outside and self.order == 0 and _is_inner_arange(coords[-1]):
                spans = self._row_spans(base, M, coords, shape)
                # compacting the inside points costs ~10 cheap passes: worth it only when many are outside
                if spans[3].sum() < SPARSE_FRACTION * int(np.prod(shape)):
                    return self._sample_spans(spans, shape)
            return sample_points(self.src, ijk, order=self.order, cval=self.cval, bounds=(lo, hi))
        st, N = self.stack, len(self.stack.d)
        base = self.P @ O
        M = [self.P @ e for e in steps]
        shape = np.broadcast_shapes(*[c.shape for c in coords])
        d, pY, pX = np.empty((3, *shape))
        for r, dst in enumerate((d, pY, pX)):
            affine_coord(base[r], [m[r] for m in M], coords, out=dst)
        kf = np.interp(d, st.d, np.arange(N, dtype=np.float64))
        res: npt.NDArray[Any]
        if self.order == 0:
            k0 = np.rint(kf).astype(np.intp)
            res = sample_slices(self.src, k0, (pY - self.ipY[k0]) / st.d_row,
                                        (pX - self.ipX[k0]) / st.d_col, order=0, cval=self.cval)
        else:
            k0 = np.clip(np.floor(kf).astype(np.intp), 0, max(N - 2, 0))
            k1 = np.minimum(k0 + 1, N - 1)
            frac = (kf - k0).astype(np.float32)
            # each slice sampled at the foot of the normal through the point (true positions)
            res = sample_slices(self.src, k0, (pY - self.ipY[k0]) / st.d_row,
                                        (pX - self.ipX[k0]) / st.d_col, order=1, cval=self.cval)
            upper = sample_slices(self.src, k1, (pY - self.ipY[k1]) / st.d_row,
                                  (pX - self.ipX[k1]) / st.d_col, order=1, cval=self.cval)
            upper -= res
            upper *= frac
            res += upper
        res[(d < self.d_lo - _EPS) | (d > self.d_hi + _EPS)] = self.cval
        return res


    def _row_spans(self, base: npt.NDArray[np.float64], M: list[npt.NDArray[np.float64]],
                   coords: list[npt.NDArray[np.float64]], shape: tuple[int, ...]) -> tuple[Any, ...]:
        """Per grid row, the interval of the last index whose points lie inside the footprint.

        The grid's last coordinate is ``arange(n)`` along the last axis, so on
        every row the index coordinates are ``row_value + c * gain``; the
        footprint ``[-0.5, n - 0.5]`` of each axis bounds ``c`` to an interval
        solved in closed form (cost: a few operations per row, not per point).
        Returns ``(rows, gains, cmin, counts)``.
        """
        n_inner = shape[-1]
        n = self.src.shape
        rows_shape = np.broadcast_shapes(*[c.shape for c in coords[:-1]], (1,) * len(shape))
        R = int(np.prod(rows_shape))
        rows = []
        for r in range(3):
            acc = np.full(rows_shape, base[r])
            for c, m in zip(coords[:-1], M[:-1]):
                acc = acc + c * m[r]
            rows.append(np.broadcast_to(acc, rows_shape).reshape(-1))
        gains = [float(M[-1][r]) for r in range(3)]
        c_lo = np.zeros(R)
        c_hi = np.full(R, n_inner - 1.0)
        for r in range(3):
            a, b = -0.5 - _ON_GRID, n[r] - 0.5 + _ON_GRID
            if abs(gains[r]) < 1e-15:
                c_hi[(rows[r] < a) | (rows[r] > b)] = -1.0
                continue
            c1, c2 = (a - rows[r]) / gains[r], (b - rows[r]) / gains[r]
            np.maximum(c_lo, np.minimum(c1, c2), out=c_lo)
            np.minimum(c_hi, np.maximum(c1, c2), out=c_hi)
        cmin = np.ceil(c_lo - 1e-9).astype(np.intp)
        counts = np.maximum(np.floor(c_hi + 1e-9).astype(np.intp) - cmin + 1, 0)
        return rows, gains, cmin, counts

    def _trilinear_rows(self, spans: tuple[Any, ...], shape: tuple[int, ...],
                        block: int = _TRI_BLOCK) -> npt.NDArray[np.float32]:
        """Trilinear interpolation on a grid of affine rows (from :meth:`_row_spans`), float32.

        Along a row the fractional indices are ``row_start + c * gain``, so
        each block of rows needs only: float64 coordinates (one add per axis),
        floor indices and float32 weights, flat indices
        ``i0 * s0 + i1 * s1 + i2``, eight ``take`` of the raw (e.g. int16)
        volume and seven float32 lerps.  Points outside the footprint (per-row
        column spans) are skipped and get `cval`; edge points are clamped
        (mode ``"nearest"``), as :func:`sample_points`.

        Measured (oblique 512 x 512 plane through 512 x 512 x 300 int16, one
        thread, best of 30, busy 2-core machine): ``map_coordinates`` order 1
        12.8-17 ms, and it holds the GIL (two threads: no gain); the same
        arithmetic on the whole plane at once 10.6 ms (8 takes 5.7 ms,
        indices 3.5 ms, lerps 1.7 ms); in blocks of :data:`_TRI_BLOCK`
        points, with scratch reused, 9.6 ms (the eight gathers of a block
        hit cache lines still in L2).  The clip/min passes are skipped for
        blocks whose indices are inside.
        """
        # long: one hot loop over row blocks whose temporaries (coordinates, indices, weights, the
        # eight gathers) are allocated once and reused in place; the steps share them all.
        rows, gains, cmin, counts = spans
        n_inner = shape[-1]
        n_rows = len(cmin)
        src = self.src
        jit = _compiled_kernel() if self.compiled else None
        if jit is not None:  # the same operations, compiled: bit-identical, one pass (see _trilinear_jit)
            out = np.empty((n_rows, n_inner), np.float32)
            r0, r1, r2 = (np.ascontiguousarray(r, np.float64) for r in rows)
            jit(src.reshape(-1), np.array(src.shape, np.int64), r0, r1, r2, *(float(g) for g in gains),
                np.ascontiguousarray(cmin, np.int64), np.ascontiguousarray(counts, np.int64), self.cval, out)
            return out.reshape(shape)
        flat = src.reshape(-1)
        n = src.shape
        # flat offset of +1 along each axis (0 for a length-1 axis: both taps are the same voxel)
        d0, d1, d2 = (n[1] * n[2] if n[0] > 1 else 0, n[2] if n[1] > 1 else 0, 1 if n[2] > 1 else 0)
        out = np.empty((n_rows, n_inner), np.float32)
        cmax = cmin + counts  # exclusive
        cg = [np.arange(n_inner, dtype=np.float64) * g for g in gains]
        per = max(1, block // n_inner)
        # scratch for one block, reused (fresh allocations per block cost more than the arithmetic)
        size = min(per, n_rows) * n_inner
        bufs = {k: np.empty(size, dt) for k, dt in (("x", np.float64), ("fl", np.float64), ("f", np.intp),
                                                    ("idx", np.intp), ("ga", src.dtype), ("gb", src.dtype),
                                                    ("wz", np.float32), ("wy", np.float32), ("wx", np.float32),
                                                    ("t0", np.float32), ("t1", np.float32), ("t2", np.float32),
                                                    ("ff", np.float64))}
        for a in range(0, n_rows, per):
            b = min(a + per, n_rows)
            live = counts[a:b] > 0
            if not live.any():
                out[a:b] = self.cval
                continue
            c0, c1 = int(cmin[a:b][live].min()), int(cmax[a:b][live].max())
            out[a:b, :c0] = self.cval
            out[a:b, c1:] = self.cval
            bshape = (b - a, c1 - c0)
            m = bshape[0] * bshape[1]
            x, fl, f, idx, ga, gb, wz, wy, wx, t0, t1, t2, ff = (v[:m].reshape(bshape) for v in bufs.values())
            # float64 throughout (the flat index is exact below 2**53): floor, fraction -> float32
            # weight, flat index accumulated in float64 and converted once (measured 0.2 ms less per
            # 512 x 512 plane than converting each axis and subtracting mixed int/float)
            for ax, w in enumerate((wz, wy, wx)):
                r = rows[ax][a:b]
                np.add(r[:, None], cg[ax][None, c0:c1], out=x)
                ends = (cg[ax][c0], cg[ax][c1 - 1])
                if float(r.min()) + min(ends) < 0.0 or float(r.max()) + max(ends) >= n[ax] - 1.0:
                    np.clip(x, 0.0, n[ax] - 1.0, out=x)
                    np.floor(x, out=fl)
                    np.minimum(fl, max(n[ax] - 2, 0), out=fl)
                else:
                    np.floor(x, out=fl)
                np.subtract(x, fl, out=x)
                np.copyto(w, x, casting="same_kind")
                if ax == 0:
                    np.multiply(fl, n[1] * n[2], out=ff)
                elif ax == 1:
                    fl *= n[2]
                    ff += fl
                else:
                    ff += fl
            np.copyto(f, ff, casting="unsafe")
            res = out[a:b, c0:c1]
            # four lerps along x at the (z, y) corners, then y, then z; all float32
            for k, (dz, dy) in enumerate(((0, 0), (0, d1), (d0, 0), (d0, d1))):
                dst = (res, t0, t1, t2)[k]
                np.add(f, dz + dy, out=idx)
                flat.take(idx, out=ga, mode="clip")  # indices are in range; "clip" skips the error path
                idx += d2
                flat.take(idx, out=gb, mode="clip")
                np.subtract(gb, ga, out=dst, dtype=np.float32)
                dst *= wx
                np.add(dst, ga, out=dst, dtype=np.float32)
            t0 -= res
            t0 *= wy
            res += t0
            t2 -= t1
            t2 *= wy
            t1 += t2
            t1 -= res
            t1 *= wz
            res += t1
            if not live.all() or cmin[a:b][live].max() > c0 or cmax[a:b][live].min() < c1:
                col = np.arange(c0, c1)[None, :]
                res[(col < cmin[a:b, None]) | (col >= cmax[a:b, None])] = self.cval
        return out.reshape(shape)

    def _sample_spans(self, spans: tuple[Any, ...], shape: tuple[int, ...]) -> npt.NDArray[np.float32]:
        """Interpolate only the points inside the footprint (from :meth:`_row_spans`); the rest get `cval`.

        A tilted grid's bounding box is often a quarter empty: those points
        are never interpolated.
        """
        rows, gains, cmin, counts = spans
        n_inner = shape[-1]
        out = np.full(len(cmin) * n_inner, self.cval, np.float32)
        total = int(counts.sum())
        if total:
            row_id = np.repeat(np.arange(len(cmin)), counts)
            starts = np.cumsum(counts) - counts
            col = np.arange(total) - starts[row_id] + cmin[row_id]
            pts = np.empty((3, total))
            for r in range(3):
                np.multiply(col, gains[r], out=pts[r])
                pts[r] += rows[r][row_id]
            vals = np.empty(total, np.float32)
            ndimage.map_coordinates(self.src, pts, output=vals, order=self.order, mode="nearest", prefilter=False)
            out[row_id * n_inner + col] = vals
        return out.reshape(shape)


@functools.lru_cache(maxsize=1)
def _compiled_kernel() -> Any:
    """The numba trilinear row kernel (:mod:`._trilinear_jit`), or None when numba is not installed."""
    from miss_imaging.spatial import _trilinear_jit

    return _trilinear_jit.trilinear_rows if _trilinear_jit.AVAILABLE else None


def _is_inner_arange(c: npt.NDArray[np.float64]) -> bool:
    """True when `c` is ``arange(n)`` laid along the last axis (shape ``(1, ..., n)``)."""
    return c.ndim >= 1 and c.size == c.shape[-1] and np.array_equal(c.reshape(-1), np.arange(c.shape[-1]))


def affine_coord(
    base: float, gains: list[float], coords: list[npt.NDArray[np.float64]], *, out: npt.NDArray[np.float64]
) -> tuple[float, float]:
    """Write ``base + sum(gains[k] * coords[k])`` (coords broadcast) into `out`; return its (min, max).

    The coordinate arrays are small broadcastable vectors (one axis each), so
    only the last addition touches every point, and the extremes follow from
    the vectors' extremes without a pass over `out`.
    """
    terms = [c * g for c, g in zip(coords, gains)]
    order = sorted(range(len(terms)), key=lambda k: terms[k].size)
    acc = terms[order[0]] + base
    for k in order[1:-1]:
        acc = acc + terms[k]
    np.add(acc, terms[order[-1]], out=out) if len(order) > 1 else np.copyto(out, np.broadcast_to(acc, out.shape))
    lo = base + sum(float(t.min()) for t in terms if t.size)
    hi = base + sum(float(t.max()) for t in terms if t.size)
    return lo, hi
