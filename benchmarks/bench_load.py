"""Loading benchmark (issue 4): CT series, header scan, XA cine.

Groups (interleaved rounds, medians, warm page cache):

* ``load CT 512x512x300``: 300 Explicit VR Little Endian files (157 MB of
  int16 HU out).  limit kernel = ``readinto`` of the same pixel bytes into a
  preallocated buffer (offsets found beforehand); floor = the same into a
  fresh ``np.empty`` (what any loader returning a new array pays: on these
  VMs first-touch page faults cost about as much as the read itself);
  ``miss_imaging.load`` (scan + assembly + allocation + read + rescale);
  references: SimpleITK ImageSeriesReader with GDCM file sorting (int16
  requested, and its default type), naive pydicom (``dcmread`` each file, sort
  by position, ``apply_modality_lut``, ``np.stack``).  Bars: <= 2.5x limit,
  >= 3x faster than SimpleITK, peak <= 1.2x the volume.
* ``scan 300 CT files``: ``miss_imaging.scan`` vs ``dcmread(stop_before_pixels=True)``
  over the same files.  Bar: no slower.
* ``load XA 60x1024x1024``: one multi-frame file (126 MB).  limit kernel =
  ``readinto`` of its Pixel Data; references ``dcmread().pixel_array`` and
  SimpleITK ``ReadImage``.  Bar: <= 1.5x limit.

Correctness is checked outside the timings: the loaded volume must equal the
generator's HU volume (and SimpleITK's int16 result) voxel for voxel.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _data  # noqa: E402
from _harness import Row, interleaved, peak_extra_mb  # noqa: E402

import miss_imaging  # noqa: E402
from miss_imaging.reading._fastread import walk_header  # noqa: E402


def _limit_kernel(files: list[Path], offsets: list[int], out: np.ndarray):
    def run() -> np.ndarray:
        for k, (f, off) in enumerate(zip(files, offsets)):
            with open(f, "rb", buffering=0) as fh:
                fh.seek(off)
                fh.readinto(memoryview(out[k]).cast("B"))
        return out

    return run


def _naive_pydicom(files: list[Path]):
    import pydicom
    from pydicom.pixels import apply_modality_lut

    def run() -> np.ndarray:
        dss = [pydicom.dcmread(f) for f in files]
        dss.sort(key=lambda d: float(d.ImagePositionPatient[2]))
        return np.stack([apply_modality_lut(d.pixel_array, d) for d in dss])

    return run


def _sitk(folder: Path, int16: bool):
    import SimpleITK as sitk

    def run() -> np.ndarray:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
        if int16:
            reader.SetOutputPixelType(sitk.sitkInt16)
        img = reader.Execute()
        return sitk.GetArrayViewFromImage(img), img  # keep the image alive with its view

    return run


def _load(path: Path):
    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return miss_imaging.load(path, lazy=False)

    return run


def _fresh(read_into, shape):
    """The floor of any loader that returns a new array: np.empty + the same reads."""

    def run():
        return read_into(np.empty(shape, np.int16))()

    return run


def _rows(group: str, fns: dict, kinds: dict, rounds: int, notes: dict) -> list[Row]:
    times = interleaved(fns, rounds)
    rows = []
    for name, fn in fns.items():
        mem = peak_extra_mb(fn) if kinds[name] != "limit" else 0.0  # the limit writes a preallocated buffer
        rows.append(Row(group, name, times[name], mem, kinds[name], notes.get(name, "")))
    return rows


def run(workdir: Path, rounds: int) -> list[Row]:
    ct_dir, hu = _data.ct_series(workdir)
    files = sorted(ct_dir.iterdir())
    offsets = [walk_header(f).pixel_offset for f in files]  # type: ignore[union-attr]
    out_mb = hu.nbytes / 1e6
    buf = np.zeros(hu.shape, np.int16)  # touched once: the limit kernel pays no page faults

    vol = _load(ct_dir)()
    ok = vol.pixels.dtype == np.int16 and np.array_equal(vol.pixels, hu)
    notes = {"miss_imaging.load": f"{'identical to truth' if ok else 'MISMATCH vs truth'}; bar: <= 2.5x limit, "
             f">= 3x faster than SimpleITK, peak <= 1.2x out; out_mb={out_mb:.1f}"}
    fns = {
        "limit: readinto preallocated": _limit_kernel(files, offsets, buf),
        "floor: np.empty + readinto (fresh pages)": _fresh(lambda out: _limit_kernel(files, offsets, out), hu.shape),
        "miss_imaging.load": _load(ct_dir),
        "naive pydicom dcmread+stack": _naive_pydicom(files),
    }
    kinds = {
        "limit: readinto preallocated": "limit",
        "floor: np.empty + readinto (fresh pages)": "floor",
        "miss_imaging.load": "impl",
        "naive pydicom dcmread+stack": "reference",
    }
    try:
        import SimpleITK  # noqa: F401

        fns["SimpleITK ImageSeriesReader int16"] = _sitk(ct_dir, True)
        fns["SimpleITK ImageSeriesReader default"] = _sitk(ct_dir, False)
        kinds["SimpleITK ImageSeriesReader int16"] = kinds["SimpleITK ImageSeriesReader default"] = "reference"
        arr, _img = _sitk(ct_dir, True)()
        notes["SimpleITK ImageSeriesReader int16"] = (
            "identical" if np.array_equal(arr, vol.pixels) else "differs from miss_imaging"
        ) + f"; out_mb={out_mb:.1f}"
        del arr, _img
    except ImportError:
        notes["miss_imaging.load"] += "; SimpleITK not installed"
    for k in fns:
        if "out_mb" not in notes.get(k, ""):
            notes[k] = (notes.get(k, "") + f"; out_mb={out_mb:.1f}").lstrip("; ")
    del vol
    rows = _rows(f"load CT {hu.shape[2]}x{hu.shape[1]}x{hu.shape[0]} int16 HU, 300 files", fns, kinds, rounds, notes)

    # header scan
    import pydicom

    scan_fns = {
        "miss_imaging.scan": lambda: miss_imaging.scan(ct_dir),
        "pydicom dcmread(stop_before_pixels)": lambda: [pydicom.dcmread(f, stop_before_pixels=True) for f in files],
    }
    rows += _rows("scan 300 CT files (headers only)", scan_fns,
                  {"miss_imaging.scan": "impl", "pydicom dcmread(stop_before_pixels)": "reference"}, rounds,
                  {"miss_imaging.scan": "bar: no slower than dcmread(stop_before_pixels)"})
    del buf

    # XA cine
    xa_path, frames = _data.xa_cine(workdir)
    raw = walk_header(xa_path)
    xbuf = np.zeros(frames.shape, np.int16)
    xa_mb = frames.nbytes / 1e6

    def xa_read(out):
        def run():
            with open(xa_path, "rb", buffering=0) as fh:
                fh.seek(raw.pixel_offset)  # type: ignore[union-attr]
                fh.readinto(memoryview(out).cast("B"))
            return out

        return run

    xv = _load(xa_path)()
    xa_ok = np.array_equal(xv.pixels, frames)
    del xv
    xa_fns = {
        "limit: readinto preallocated": xa_read(xbuf),
        "floor: np.empty + readinto (fresh pages)": _fresh(xa_read, frames.shape),
        "miss_imaging.load": _load(xa_path),
        "pydicom dcmread().pixel_array": lambda: pydicom.dcmread(xa_path).pixel_array,
    }
    xa_kinds = {"limit: readinto preallocated": "limit", "floor: np.empty + readinto (fresh pages)": "floor",
                "miss_imaging.load": "impl",
                "pydicom dcmread().pixel_array": "reference"}
    try:
        import SimpleITK as sitk

        xa_fns["SimpleITK ReadImage"] = lambda: sitk.GetArrayViewFromImage(sitk.ReadImage(str(xa_path)))
        xa_kinds["SimpleITK ReadImage"] = "reference"
    except ImportError:
        pass
    xa_notes = {k: f"out_mb={xa_mb:.1f}" for k in xa_fns}
    xa_notes["miss_imaging.load"] = f"{'identical' if xa_ok else 'MISMATCH'}; bar: <= 1.5x limit; out_mb={xa_mb:.1f}"
    rows += _rows(f"load XA {frames.shape[0]}x{frames.shape[1]}x{frames.shape[2]} cine, 1 file", xa_fns, xa_kinds,
                  rounds, xa_notes)
    return rows
