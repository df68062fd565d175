"""Windowing benchmark: 512x512x300 int16 HU -> uint8, LINEAR W 2500 / L 480.

Rows (one run, interleaved rounds, medians):

* limit kernel: ``np.copyto(out, vol, casting="unsafe")``, a plain int16 ->
  uint8 cast into a preallocated output (the memory-bound floor); floor row:
  the same cast into a new array (``astype``: fresh output pages), what any
  function that allocates its output pays on top.
* ``apply_window`` on the int16 volume into a preallocated ``out`` (all
  threads; the numba affine kernel when installed), on one thread with the
  numpy affine kernel, on one thread with the table forced, and allocating
  its output (numba; numpy on all threads; numpy on one thread); the float
  path on a float32 copy of the volume.
* references: pydicom ``apply_voi_lut`` and ``apply_windowing`` timed alone
  (their float64 output is not yet the uint8 image: this favours them), and
  ``apply_voi_lut`` followed by the mapping to the same uint8 output; the
  naive float64 expression
  ``np.clip((v - c + 0.5) / (w - 1) + 0.5, 0, 1) * 255``.
* one 512x512 slice: cached table, new window (table rebuilt), pydicom.

Identity with pydicom is checked (outside the timings) after mapping its
output to [0, 255] and rounding half up; the note says "identical" or
counts differing voxels.  Bars (issue 19): int16 path allocating its output
<= 4x the limit and >= 15x faster than ``apply_voi_lut``, extra peak memory
<= the output (78.6 MB); one slice <= 1 ms.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Row, interleaved, peak_extra_mb  # noqa: E402

from miss_imaging._parallel import default_workers  # noqa: E402
from miss_imaging.display.window import apply_window  # noqa: E402

SHAPE = (300, 512, 512)
CENTER, WIDTH = 480, 2500  # OHIF bone preset: integer c/w, so no rounding ties (see window.py)


def ct_phantom(shape: tuple[int, int, int] = SHAPE, seed: int = 0) -> np.ndarray:
    """int16 HU: air outside a body ellipse, soft tissue, a vertebra-like bone ring, noise."""
    rng = np.random.default_rng(seed)
    _, rows, cols = shape
    y, x = np.ogrid[-1:1:rows * 1j, -1:1:cols * 1j]
    base = np.full((rows, cols), -1000.0)
    base[(x / 0.9) ** 2 + (y / 0.7) ** 2 < 1] = 40.0
    r = np.hypot(x, y - 0.2)
    base[(r > 0.12) & (r < 0.2)] = 1400.0  # cortex
    base[r <= 0.12] = 250.0  # cancellous bone
    base[(np.abs(x) < 0.02) & (np.abs(y - 0.2) < 0.25)] = 3071.0  # a screw
    noise = rng.normal(0, 25, size=(8, rows, cols))
    vol = np.empty(shape, np.int16)
    for k in range(shape[0]):
        vol[k] = np.round(base + noise[k % 8])
    return vol


def pydicom_dataset():
    from pydicom import Dataset

    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsStored, ds.PixelRepresentation = 16, 1  # int16 HU, no rescale: range [-32768, 32767]
    ds.WindowCenter, ds.WindowWidth = CENTER, WIDTH
    return ds


def pydicom_to_uint8(p: np.ndarray) -> np.ndarray:
    """pydicom's output in [-32768, 32767] -> [0, 255], rounded half up (chunked)."""
    out = np.empty(p.shape, np.uint8)
    for k in range(p.shape[0]):
        out[k] = np.floor((p[k] + 32768.0) / 65535.0 * 255.0 + 0.5)
    return out


def run(workdir: Path, rounds: int) -> list[Row]:
    from pydicom.pixels import apply_voi_lut, apply_windowing

    vol = ct_phantom()
    out = np.empty(vol.shape, np.uint8)
    vol32 = vol.astype(np.float32)
    ds = pydicom_dataset()
    group = "window CT 512x512x300 int16->uint8"
    out_mb = out.nbytes / 1e6

    def naive():
        return (np.clip((vol.astype(np.float64) - CENTER + 0.5) / (WIDTH - 1) + 0.5, 0, 1) * 255).astype(np.uint8)

    import miss_imaging.display.window as mod

    def one_thread():
        return apply_window(vol, CENTER, WIDTH, out=out, threads=1, compiled=False)

    def table_only():
        return apply_window(vol, CENTER, WIDTH, out=out, threads=1, affine_kernel=False)

    fast = {
        "limit: int16->uint8 cast into preallocated out": lambda: np.copyto(out, vol, casting="unsafe"),
        "floor: np.empty + the same cast (fresh pages)": lambda: vol.astype(np.uint8),
        "apply_window (int16 path, out=)": lambda: apply_window(vol, CENTER, WIDTH, out=out),
        "apply_window (int16 path, out=, 1 thread)": one_thread,
        "apply_window (int16 path, allocates output)": lambda: apply_window(vol, CENTER, WIDTH),
        "apply_window (int16, allocates, numpy kernels)": lambda: apply_window(vol, CENTER, WIDTH, compiled=False),
        "apply_window (int16, allocates, numpy, 1 thread)": lambda: apply_window(vol, CENTER, WIDTH, compiled=False,
                                                                                  threads=1),
        "apply_window (int16, 1 thread, table forced)": table_only,
        "apply_window (float path, float32 input, out=)": lambda: apply_window(vol32, CENTER, WIDTH, out=out),
    }
    slow = {
        "naive float64 np.clip expression": naive,
        "pydicom apply_voi_lut": lambda: apply_voi_lut(vol, ds),
        "pydicom apply_voi_lut + map to uint8": lambda: pydicom_to_uint8(apply_voi_lut(vol, ds)),
        "pydicom apply_windowing": lambda: apply_windowing(vol, ds),
    }
    apply_window(vol[:1], CENTER, WIDTH)  # warm the LUT cache and the thread pool
    times = interleaved(fast, rounds)
    times.update(interleaved(slow, max(1, min(rounds, 3))))

    # identity checks (outside the timings)
    ours = apply_window(vol, CENTER, WIDTH)
    notes: dict[str, str] = {}
    ref = pydicom_to_uint8(apply_voi_lut(vol, ds))
    diff = int(np.count_nonzero(ours != ref))
    notes["pydicom apply_voi_lut"] = "identical output after mapping" if diff == 0 else f"{diff} voxels differ"
    notes["pydicom apply_voi_lut + map to uint8"] = notes["pydicom apply_voi_lut"]
    _, affine = mod._domain_lut(vol.dtype.str, mod._window_transfer(float(CENTER), float(WIDTH), "LINEAR"),
                                ("window", "LINEAR", float(CENTER), float(WIDTH)), 255.0, False, "|u1", 1.0, 0.0)
    notes["apply_window (int16 path, out=)"] = f"{default_workers()} threads; " + (
        "identical to pydicom apply_voi_lut (mapped)" if diff == 0 else f"{diff} voxels differ from pydicom")
    notes["apply_window (int16 path, out=, 1 thread)"] = (
        "numpy float32 affine kernel (verified exact)" if affine is not None else "table")
    jit = mod._compiled_affine(affine, vol.dtype, np.dtype(np.uint8), mod._domain_lut(
        vol.dtype.str, mod._window_transfer(float(CENTER), float(WIDTH), "LINEAR"),
        ("window", "LINEAR", float(CENTER), float(WIDTH)), 255.0, False, "|u1", 1.0, 0.0)[0]) if affine else None
    kernel = "numba affine kernel (verified exact)" if jit else "numpy kernels (numba not installed)"
    notes["apply_window (int16 path, allocates output)"] = kernel
    notes["apply_window (int16 path, out=)"] = kernel + "; " + notes["apply_window (int16 path, out=)"]
    table_only_out = table_only()  # writes into `out`; `ours` is a separate array
    notes["apply_window (int16, 1 thread, table forced)"] = (
        "identical" if np.array_equal(table_only_out, ours) else "differs") + " to the int16 path"
    del ref
    f32 = apply_window(vol32, CENTER, WIDTH)
    notes["apply_window (float path, float32 input, out=)"] = (
        "identical to the int16 path" if np.array_equal(f32, ours) else "differs from the int16 path")
    del f32
    nv = naive()
    notes["naive float64 np.clip expression"] = f"{int(np.count_nonzero(nv != ours))} voxels differ (truncates)"
    del nv

    rows: list[Row] = []
    for name, fn in {**fast, **slow}.items():
        kind = "limit" if name.startswith("limit") else "floor" if name.startswith("floor") else (
            "reference" if name in slow else "impl")
        mem = peak_extra_mb(fn)
        note = notes.get(name, "")
        if name.startswith("apply_window (int16 path"):
            note = (note + "; bar: <= 4x limit (allocating), >= 15x faster than apply_voi_lut, peak <= 1x out").lstrip("; ")
        rows.append(Row(group, name, times[name], mem, kind, f"{note}; out_mb={out_mb:.1f}".lstrip("; ")))
    del vol32

    # one slice
    s, so = vol[150], np.empty(vol.shape[1:], np.uint8)
    state = {"c": 0}

    def new_window():
        state["c"] += 1  # a new window every call: the 65,536-entry table is rebuilt
        return apply_window(s, CENTER + state["c"] * 1e-3, WIDTH, out=so)

    sgroup = "window one 512x512 slice int16->uint8"
    sl = {
        "limit: slice cast into preallocated out": lambda: np.copyto(so, s, casting="unsafe"),
        "apply_window slice (cached window)": lambda: apply_window(s, CENTER, WIDTH, out=so),
        "apply_window slice (new window: table rebuilt)": new_window,
        "pydicom apply_voi_lut slice": lambda: apply_voi_lut(s, ds),
    }
    stimes = interleaved(sl, max(rounds, 20))
    for name, fn in sl.items():
        kind = "limit" if name.startswith("limit") else ("reference" if name.startswith("pydicom") else "impl")
        note = "bar: <= 1 ms" if name.startswith("apply_window") else ""
        rows.append(Row(sgroup, name, stimes[name], peak_extra_mb(fn), kind, note))
    return rows


def _print(rows: list[Row]) -> None:
    limits = {r.group: r.median_s for r in rows if r.kind == "limit"}
    for r in rows:
        ratio = r.median_s / limits[r.group]
        print(f"{r.group:40s} {r.name:50s} {r.median_s * 1e3:9.2f} ms {ratio:7.1f}x limit "
              f"{r.peak_extra_mb:8.1f} MB  {r.note}")


if __name__ == "__main__":
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp:
        _print(run(Path(tmp), n))
