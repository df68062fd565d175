"""Resampling and reslicing benchmark (issue 7).

Input: a 512x512x300 int16 volume (seeded random HU in [-1024, 2000]: the
interpolation cost does not depend on the values), 0.7 x 0.7 mm pixels,
1.0 mm slices, axial orientation.

Group "resample 512x512x300 0.7x0.7x1.0 -> 1.0 mm linear" (output 300 x 358 x 358 float32):

* limit kernel: read the whole input once and fill a preallocated float32
  output of the output's size (``np.add(v[:, :358, :358], v[:, 154:, 154:],
  out=out, dtype=float32)``: two reads covering the input, one write).
* ``miss_imaging.resample`` (separable 1-D linear, per-slice row blocks, 2 threads,
  allocating its output).
* references: SimpleITK ``ResampleImageFilter`` (linear, float32, the same
  grid: origin kept, 1 mm spacing, 358 x 358 x 300), timed as ``Execute``
  alone and as a numpy user pays it (``GetImageFromArray`` + ``Execute`` +
  ``GetArrayFromImage``); ``scipy.ndimage.affine_transform``
  with the diagonal matrix ``s_out / s_in`` (its fast zoom-shift path; on
  the exact grid); ``scipy.ndimage.zoom`` (order 1) which is **off grid**:
  its last in-plane sample lands 1 voxel (0.7 mm) away from where
  ``resample`` and SimpleITK put it (the note gives the measured offset).

Group "oblique 512x512 plane (0.6 mm) through 512x512x300":

* limit kernel: nearest-neighbour gather of the 262,144 samples with
  precomputed flat indices (the memory access floor); floor row: the 8
  trilinear corner gathers with precomputed indices, which every numpy
  trilinear kernel must do (bounds the goal of 0.5x SimpleITK's time).
* ``reslice`` with a cached sampler (the widget's live path: the optional
  numba kernel when installed), on two threads, with the numpy kernel
  forced (``make_sampler(compiled=False)``), and without a sampler (first
  call: scans the volume minimum for the fill value).
* references: SimpleITK ``ResampleImageFilter`` for the same plane (linear,
  float32), ``scipy.ndimage.map_coordinates`` (order 1, explicit coordinates).
* a 10 mm MIP slab of the same plane (impl only).

Bars: resample <= 8x the limit and >= 1.5x faster than SimpleITK; extra
peak memory <= output (153.8 MB) + small chunks; oblique plane <= 0.5x
SimpleITK's time (issue 19) and <= 50 ms.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Row, interleaved, peak_extra_mb  # noqa: E402

from miss_imaging.model import ImageVolume  # noqa: E402
from miss_imaging.spatial.resampling import resample  # noqa: E402
from miss_imaging.spatial._interp import _compiled_kernel  # noqa: E402
from miss_imaging.spatial.reslicing import Plane, make_sampler, reslice  # noqa: E402

SHAPE = (300, 512, 512)
SPACING = (1.0, 0.7, 0.7)
OUT_SHAPE = (300, 358, 358)  # floor((n - 1) * s / 1.0) + 1


def _volume() -> ImageVolume:
    rng = np.random.default_rng(0)
    vol = rng.integers(-1024, 2000, size=SHAPE, dtype=np.int16)
    A = np.array([[0, 0, SPACING[2], 0], [0, SPACING[1], 0, 0], [SPACING[0], 0, 0, 0], [0, 0, 0, 1.0]])
    return ImageVolume(vol, SPACING, A, "volume", modality="CT")


def _sitk_image(vol: np.ndarray):  # type: ignore[no-untyped-def]
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(vol)
    img.SetSpacing((SPACING[2], SPACING[1], SPACING[0]))
    return img


def _resample_rows(v: ImageVolume, rounds: int) -> list[Row]:
    from scipy import ndimage

    group = "resample 512x512x300 0.7x0.7x1.0 -> 1.0 mm linear"
    src = v.pixels
    out32 = np.empty(OUT_SHAPE, np.float32)
    out32[...] = 0  # touch it once: the limit writes into a warm buffer

    def limit() -> None:
        np.add(src[:, :358, :358], src[:, 154:, 154:], out=out32, dtype=np.float32)

    fns = {
        "limit: read input once, fill float32 output": limit,
        "miss_imaging.resample (separable, 2 threads)": lambda: resample(v, 1.0),
    }
    notes = {}
    try:
        import SimpleITK as sitk

        img = _sitk_image(src)
        f = sitk.ResampleImageFilter()
        f.SetOutputSpacing((1.0, 1.0, 1.0))
        f.SetSize((OUT_SHAPE[2], OUT_SHAPE[1], OUT_SHAPE[0]))
        f.SetOutputOrigin(img.GetOrigin())
        f.SetOutputDirection(img.GetDirection())
        f.SetInterpolator(sitk.sitkLinear)
        f.SetOutputPixelType(sitk.sitkFloat32)
        fns["SimpleITK ResampleImageFilter linear"] = lambda: f.Execute(img)

        def sitk_numpy() -> np.ndarray:
            im = sitk.GetImageFromArray(src)
            im.SetSpacing((SPACING[2], SPACING[1], SPACING[0]))
            return sitk.GetArrayFromImage(f.Execute(im))

        fns["SimpleITK numpy -> numpy (+ array conversions)"] = sitk_numpy
        ours = resample(v, 1.0).pixels
        theirs = sitk.GetArrayFromImage(f.Execute(img))
        notes["SimpleITK ResampleImageFilter linear"] = f"max |diff| vs resample {np.abs(ours - theirs).max():.2g} HU"
        del ours, theirs
    except ImportError:
        pass
    ratio = np.array(SPACING) / 1.0
    fns["scipy affine_transform (diagonal, on grid)"] = lambda: ndimage.affine_transform(
        src, 1.0 / ratio, output_shape=OUT_SHAPE, order=1, output=np.float32, mode="nearest")
    fns["scipy zoom order 1 (off grid)"] = lambda: ndimage.zoom(src, np.array(OUT_SHAPE) / np.array(SHAPE), order=1,
                                                               output=np.float32)
    # where zoom puts its last in-plane sample (input index), against the exact grid (1.0 / 0.7 * 357)
    zoom_last = (SHAPE[1] - 1) * (OUT_SHAPE[1] - 1) / (OUT_SHAPE[1] - 1)
    exact_last = (OUT_SHAPE[1] - 1) * 1.0 / SPACING[1]
    notes["scipy zoom order 1 (off grid)"] = f"last sample {abs(zoom_last - exact_last) * SPACING[1]:.2f} mm off grid"
    times = interleaved(fns, rounds)
    rows = []
    for name, fn in fns.items():
        kind = "limit" if name.startswith("limit") else ("impl" if name.startswith("miss") else "reference")
        mem = peak_extra_mb(fn) if kind != "limit" else 0.0
        rows.append(Row(group, name, times[name], mem, kind, notes.get(name, "")))
    return rows


def _plane() -> Plane:
    # an oblique plane through the middle of the volume (tilted about two axes)
    centre = np.array([179.0, 179.0, 150.0])
    return Plane.along_line(centre - [20, 60, 30], centre + [20, 60, 30], angle_deg=30, pixel_mm=0.6,
                            shape=(512, 512))


def _oblique_rows(v: ImageVolume, rounds: int) -> list[Row]:
    from scipy import ndimage

    group = "oblique 512x512 plane (0.6 mm) through 512x512x300"
    plane = _plane()
    src = v.pixels
    pts = plane.to_patient(np.arange(512)[:, None], np.arange(512)[None, :])
    idx = (pts - v.affine[:3, 3]) @ np.linalg.inv(v.affine[:3, :3]).T
    coords = np.moveaxis(idx, -1, 0).copy()
    near = np.clip(np.rint(idx), 0, np.array(SHAPE) - 1).astype(np.intp)
    flat_idx = np.ravel_multi_index(tuple(np.moveaxis(near, -1, 0)), SHAPE)
    flat = src.reshape(-1)
    sampler = make_sampler(v)
    numpy_sampler = make_sampler(v, compiled=False)
    reslice(v, plane, sampler=sampler)  # compile the optional numba kernel (or load it from numba's cache)
    # the 8 trilinear corners of every point, precomputed: gathering them is the part of a
    # numpy trilinear kernel no arithmetic can remove (the floor for numpy; see README)
    base = np.clip(np.floor(idx), 0, np.array(SHAPE) - 2).astype(np.intp)
    f0 = np.ravel_multi_index(tuple(np.moveaxis(base, -1, 0)), SHAPE).reshape(-1)
    corners = [f0 + dz * SHAPE[1] * SHAPE[2] + dy * SHAPE[2] + dx
               for dz in (0, 1) for dy in (0, 1) for dx in (0, 1)]
    gathered = np.empty(f0.size, src.dtype)

    def gathers() -> None:
        for c in corners:
            flat.take(c, out=gathered, mode="clip")

    fns = {
        "limit: nearest gather, precomputed indices": lambda: flat.take(flat_idx),
        "floor: 8 corner gathers, precomputed indices": gathers,
        "miss_imaging.reslice (cached sampler)": lambda: reslice(v, plane, sampler=sampler),
        "miss_imaging.reslice (cached sampler, 2 threads)": lambda: reslice(v, plane, sampler=sampler, threads=2),
        "miss_imaging.reslice (numpy kernel, cached sampler)": lambda: reslice(v, plane, sampler=numpy_sampler),
        "miss_imaging.reslice (first call)": lambda: reslice(v, plane),
        "map_coordinates order 1": lambda: ndimage.map_coordinates(src, coords, order=1, output=np.float32),
    }
    notes = {}
    try:
        import SimpleITK as sitk

        img = _sitk_image(src)
        f = sitk.ResampleImageFilter()
        f.SetSize((512, 512, 1))
        f.SetOutputSpacing((0.6, 0.6, 0.6))
        f.SetOutputDirection(tuple(np.stack([plane.u, plane.v, plane.normal], axis=1).ravel()))
        f.SetOutputOrigin(tuple(plane.origin))
        f.SetInterpolator(sitk.sitkLinear)
        f.SetOutputPixelType(sitk.sitkFloat32)
        f.SetDefaultPixelValue(float(src.min()))
        fns["SimpleITK ResampleImageFilter linear (same plane)"] = lambda: f.Execute(img)
        ours = reslice(v, plane, sampler=sampler).pixels[0]
        theirs = sitk.GetArrayFromImage(f.Execute(img))[0]
        notes["SimpleITK ResampleImageFilter linear (same plane)"] = (
            f"max |diff| vs reslice {np.abs(ours - theirs).max():.2g} HU")
        same = np.array_equal(ours, reslice(v, plane, sampler=numpy_sampler).pixels[0])
        notes["miss_imaging.reslice (cached sampler)"] = (
            f"{'numba kernel' if _compiled_kernel() is not None else 'numpy kernel (numba not installed)'}; "
            f"{'bit-identical to' if same else 'DIFFERS from'} the numpy kernel; bar: <= 0.5x SimpleITK")
    except ImportError:
        pass
    times = interleaved(fns, rounds)
    rows = []
    for name, fn in fns.items():
        kind = ("limit" if name.startswith("limit") else "floor" if name.startswith("floor")
                else "impl" if name.startswith("miss") else "reference")
        rows.append(Row(group, name, times[name], peak_extra_mb(fn) if kind not in ("limit", "floor") else 0.0, kind,
                        notes.get(name, "")))
    slab = interleaved({"s": lambda: reslice(v, plane, sampler=sampler, thickness_mm=10.0, mode="mip")},
                       max(1, rounds // 2))["s"]
    rows.append(Row("oblique 10 mm MIP slab 512x512 (0.6 mm) through 512x512x300", "miss_imaging.reslice slab",
                    slab, 0.0, "impl", "15 planes 0.7 mm apart"))
    return rows


def run(workdir: Path, rounds: int) -> list[Row]:
    """Benchmark rows for resampling and reslicing (see the module docstring)."""
    v = _volume()
    return _resample_rows(v, rounds) + _oblique_rows(v, rounds)


if __name__ == "__main__":
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as d:
        results = run(Path(d), n)
    limits = {r.group: r.median_s for r in results if r.kind == "limit"}
    for r in results:
        lim = limits.get(r.group)
        ratio = f"{r.median_s / lim:6.1f}x limit" if lim else ""
        print(f"{r.group[:44]:44s} | {r.name[:48]:48s} | {r.median_s * 1e3:8.1f} ms | {ratio:13s} | "
              f"{r.peak_extra_mb:7.1f} MB | {r.note}")
