"""Optional compiled trilinear kernel for oblique planes (``pip install miss-imaging[fast]``: numba).

Why: an oblique 512 x 512 plane through a 512 x 512 x 300 CT is redrawn on
every drag of the MPR workspace and the screw planner.  The numpy kernel
(:meth:`miss_imaging.spatial._interp.PointSampler._trilinear_rows`) needs
eight ``take`` gathers per point plus ~20 array passes of index arithmetic;
``benchmarks/bench_resample.py`` measures the eight gathers alone, with the
indices precomputed, at 0.7-0.75x SimpleITK's time for the whole plane, so no
numpy formulation reaches half of SimpleITK's time.  This kernel does the
same arithmetic per point in one loop (no temporaries, one pass).

Exactness: it performs the numpy kernel's operations in the same order and
precision (float64 indices, float32 weights and lerps, no fused
multiply-add: numba's default keeps IEEE semantics), so both give the same
float32 values bit for bit (tests/test_reslice_jit.py checks it).

This module imports numba (slow to import): :mod:`._interp` imports it only
when a compiled sampler first samples, and runs its numpy kernel when numba
is missing (:data:`AVAILABLE` False).
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    import numba
except ImportError:  # the module stays importable; _interp then runs the numpy kernel
    numba = None  # type: ignore[assignment]

__all__ = ["AVAILABLE", "trilinear_rows"]

#: True when numba is installed and :func:`trilinear_rows` is compiled.
AVAILABLE = numba is not None


def _identity(f: Any) -> Any:
    return f


_jit = numba.njit(nogil=True, cache=True, fastmath=False) if numba else _identity
_inline = numba.njit(nogil=True, cache=True, fastmath=False, inline="always") if numba else _identity


@_inline
def _point(flat, s0, s1, d0, d1, d2, x0, x1, x2, f0, f1, f2):
    """Trilinear value at index (x0, x1, x2) whose lower corner is (f0, f1, f2), as numpy does it."""
    wz = np.float32(x0 - f0)
    wy = np.float32(x1 - f1)
    wx = np.float32(x2 - f2)
    f = np.uint64(f0 * s0 + f1 * s1 + f2)  # exact: the flat index is an integer below 2**53
    ga = np.float32(flat[f])
    res = (np.float32(flat[f + d2]) - ga) * wx + ga
    i = f + d1
    ga = np.float32(flat[i])
    t0 = (np.float32(flat[i + d2]) - ga) * wx + ga
    i = f + d0
    ga = np.float32(flat[i])
    t1 = (np.float32(flat[i + d2]) - ga) * wx + ga
    i = f + d0 + d1
    ga = np.float32(flat[i])
    t2 = (np.float32(flat[i + d2]) - ga) * wx + ga
    res = res + (t0 - res) * wy
    t1 = t1 + (t2 - t1) * wy
    return res + (t1 - res) * wz


@_inline
def _inside(r, g, c_lo, c_last, top):
    """Both ends of a row (so, x being monotonic in c, all of it) lie in [0, top): no clamping needed."""
    a, b = r + float(c_lo) * g, r + float(c_last) * g
    return 0.0 <= min(a, b) and max(a, b) < top


@_jit
def trilinear_rows(flat, n, rows0, rows1, rows2, g0, g1, g2, cmin, counts, cval, out):
    """out[a, c] for every grid row a: trilinear at ``rows_k[a] + c * g_k`` (index units), else cval.

    `flat`: the C-contiguous volume raveled; `n`: its shape (3,); `cmin`,
    `counts`: the inside span of each row; `out`: float32 (rows, cols).
    Mirrors ``PointSampler._trilinear_rows`` operation by operation.
    """
    n0, n1, n2 = n[0], n[1], n[2]
    # unsigned offsets: numba then skips its negative-index wrap-around test on each of the 8 loads
    d0 = np.uint64(n1 * n2 if n0 > 1 else 0)
    d1 = np.uint64(n2 if n1 > 1 else 0)
    d2 = np.uint64(1 if n2 > 1 else 0)
    top0, top1, top2 = float(n0 - 1), float(n1 - 1), float(n2 - 1)
    fl_max0, fl_max1, fl_max2 = float(max(n0 - 2, 0)), float(max(n1 - 2, 0)), float(max(n2 - 2, 0))
    s0, s1 = float(n1 * n2), float(n2)
    fill = np.float32(cval)
    n_rows, n_cols = out.shape
    for a in range(n_rows):
        c_lo = max(cmin[a], 0)
        c_hi = min(cmin[a] + counts[a], n_cols)
        if c_hi <= c_lo:
            c_lo = c_hi = 0
        for c in range(c_lo):
            out[a, c] = fill
        for c in range(c_hi, n_cols):
            out[a, c] = fill
        r0, r1, r2 = rows0[a], rows1[a], rows2[a]
        if (c_hi > c_lo and _inside(r0, g0, c_lo, c_hi - 1, top0) and _inside(r1, g1, c_lo, c_hi - 1, top1)
                and _inside(r2, g2, c_lo, c_hi - 1, top2)):
            for c in range(c_lo, c_hi):  # no clamping: x in [0, n - 1), so floor(x) <= n - 2 already
                cf = float(c)
                x0, x1, x2 = r0 + cf * g0, r1 + cf * g1, r2 + cf * g2
                out[a, c] = _point(flat, s0, s1, d0, d1, d2, x0, x1, x2, np.floor(x0), np.floor(x1), np.floor(x2))
            continue
        for c in range(c_lo, c_hi):
            cf = float(c)
            x0 = min(max(r0 + cf * g0, 0.0), top0)
            x1 = min(max(r1 + cf * g1, 0.0), top1)
            x2 = min(max(r2 + cf * g2, 0.0), top2)
            out[a, c] = _point(flat, s0, s1, d0, d1, d2, x0, x1, x2, min(np.floor(x0), fl_max0),
                               min(np.floor(x1), fl_max1), min(np.floor(x2), fl_max2))
