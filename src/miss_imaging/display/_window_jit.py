"""Optional compiled affine windowing kernel (``pip install miss-imaging[fast]``: numba).

Why: windowing a 512 x 512 x 300 CT that allocates its output pays the
fresh output pages (``benchmarks/bench_window.py`` floor row: 2.8x the cast
limit in a busy run) plus the numpy affine kernel's five passes (clip,
convert, multiply, add, truncate: ~0.32 ns per value from cache, 3-4x the
cast's own CPU time), so numpy alone cannot reach 4x the limit.  This loop
does the same float32 operations per value in one pass.

Exactness: the same operations as ``window._affine_kernel`` (clip to the
ramp's ends in the input dtype, float32 convert, multiply, add, truncate; no
fused multiply-add: numba keeps IEEE semantics), and ``window`` uses it only
after it has reproduced the exact table on all 65,536 inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    import numba
except ImportError:  # importable without numba; window then runs its numpy kernels
    numba = None  # type: ignore[assignment]

__all__ = ["AVAILABLE", "affine"]

#: True when numba is installed and :func:`affine` is compiled.
AVAILABLE = numba is not None


def _identity(f: Any) -> Any:
    return f


_jit = numba.njit(nogil=True, cache=True, fastmath=False) if numba else _identity


@_jit
def affine(v, o, a, b, lo, hi):
    """``o[i] = trunc(float32(clip(v[i], lo, hi)) * a + b)`` for 1-D `v` and `o` of one length."""
    for i in range(v.shape[0]):
        x = v[i]
        if x < lo:
            x = lo
        elif x > hi:
            x = hi
        o[i] = np.float32(x) * a + b
