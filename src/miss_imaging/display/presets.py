"""Window presets for spine surgery, the file's own windows, and an automatic window.

Presets (LINEAR, PS3.3 C.11.2.1.2.1, in HU)
-------------------------------------------
``bone``: W 2500 / L 480 -- OHIF Viewers' CT "Bone" preset
    (OHIF/Viewers ``extensions/cornerstone/src/components/WindowLevelActionMenu/
    defaultWindowLevelPresets.ts``).  Chosen over Weasis' 2000/350 because its
    top, 1729 HU, keeps dense cortical bone (about 1000-2000 HU, e.g. pedicle
    cortex and endplates) from saturating, so the cortex stays readable.
``soft_tissue``: W 400 / L 40 -- OHIF "Soft tissue" (same file); Weasis and
    most PACS use the same value.
``metal``: W 6000 / L 1500 -- limits -1500 ... 4499 HU.  No viewer ships a
    hardware preset; the reasoning: titanium and cobalt-chrome screws and rods
    reach 3000 HU and more (3071 on a 12-bit scale, higher on extended-scale
    scanners) while cortical bone is about 1000-2000 HU.  In the bone window
    both saturate to white and a screw breaching the cortex cannot be told
    from the cortex; with a top near 4500 HU the screw stays brighter than
    bone and its edge against the cortex stays visible, while soft tissue
    (~40 HU, grey 0.26) still gives the anatomy.

Automatic window (fluoroscopy, radiographs)
-------------------------------------------
:func:`auto_window` takes the 1st and 99th percentiles of the pixels inside
the collimated field, on a few evenly spaced frames, subsampled to about
256 x 256 each.  Excluded per frame: the minimum and maximum values
(saturated burned-in text, padding, pure black shutters); flat regions near
either end of the range that touch the image border (collimator blades,
circular image-intensifier shutters, black or white masks); small regions
in one grey near either end with a sharp edge anywhere (burned-in text and
markers);
and small islands cut off from the field (text in the corners).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from miss_imaging.model import ImageVolume, Window
from miss_imaging.display.window import contrast_limits_to_window

__all__ = ["PRESETS", "default_window", "auto_window", "file_windows", "table_window", "AUTO_EXPLANATION"]

PRESETS: dict[str, Window] = {
    "bone": Window(480.0, 2500.0, "Bone (spine CT; OHIF preset)"),
    "soft_tissue": Window(40.0, 400.0, "Soft tissue (OHIF preset)"),
    "metal": Window(1500.0, 6000.0, "Metal / hardware (screws 3000+ HU above cortex)"),
}

AUTO_EXPLANATION = "Auto (1st-99th percentile inside the collimated field)"

# Tuning of the field detection, all relative to the frame's value range.
DARK_FRACTION = 0.10  # border regions within 10 % of the range from an end are candidates
FLAT_FRACTION = 0.03  # ... and are masks only if their std is below 3 % of the range
MIN_MASK_AREA = 0.005  # ... and cover at least 0.5 % of the frame
TEXT_AREA = 0.02  # text/markers: near-end components of at most 2 % of the frame ...
TEXT_MIN_PIXELS = 20  # ... and at least 20 pixels (not noise specks) ...
TEXT_FLAT_FRACTION = 0.01  # ... in one grey (std below 1 % of the range) ...
TEXT_CONTRAST = 0.25  # ... differing from their surroundings by a quarter of the range
MIN_ISLAND = 0.10  # field components smaller than 10 % of the largest are dropped (text islands)
SAMPLE_SIDE = 256  # frames are subsampled to about this many rows/cols


def default_window(volume: ImageVolume) -> Window:
    """The window a volume is first displayed with.

    CT volumes: the ``bone`` preset (spine surgery reads bone first).
    Projections and non-CT volumes: the file's first window if it has one,
    otherwise :func:`auto_window` on three frames (first, middle, last).
    """
    if volume.kind == "volume" and volume.modality.upper() == "CT":
        return PRESETS["bone"]
    if volume.windows:
        return volume.windows[0]
    return auto_window(volume.pixels, max_frames=3)


def auto_window(
    frame_or_volume: Any,
    *,
    low: float = 1.0,
    high: float = 99.0,
    max_frames: int = 8,
) -> Window:
    """LINEAR window from robust percentiles inside the collimated field.

    Parameters
    ----------
    frame_or_volume : (rows, cols) or (frames, rows, cols) array, dask array or ImageVolume
        Modality values.  Only the sampled frames are read (dask computes them).
    low, high : float
        Percentiles (0-100) mapped to the bottom and top of the display.
    max_frames : int
        At most this many evenly spaced frames are used.

    Returns
    -------
    Window
        ``contrast_limits`` equal to the two percentiles; explanation
        :data:`AUTO_EXPLANATION`.
    """
    arr = frame_or_volume.pixels if isinstance(frame_or_volume, ImageVolume) else frame_or_volume
    if arr.ndim == 2:
        frames = [arr]
    elif arr.ndim == 3:
        n = arr.shape[0]
        picks = np.unique(np.linspace(0, n - 1, min(n, max(1, max_frames))).round().astype(int))
        frames = [arr[int(i)] for i in picks]
    else:
        raise ValueError(f"auto_window expects a 2-D frame or a 3-D (frames, rows, cols) array; got shape {arr.shape}")
    samples = [_field_pixels(_subsample(f)) for f in frames]
    pixels = np.concatenate(samples)
    lo, hi = (float(v) for v in np.percentile(pixels, [low, high]))
    if not hi > lo:  # flat field: one grey step around the value
        lo, hi = lo - 0.5, lo + 0.5
    center, width = contrast_limits_to_window(lo, hi)
    return Window(center, width, AUTO_EXPLANATION)


def file_windows(volume: ImageVolume | None) -> list[Window]:
    """The windows stored in the file, in file order, with their explanations.

    (0028,1050/1051) pairs first (``volume.windows``), then each (0028,3010)
    VOI LUT Sequence table as its LINEAR approximation (:func:`table_window`).
    """
    if volume is None:
        return []
    return [*volume.windows, *(table_window(d, t) for d, t in volume.voi_lut)]


def table_window(descriptor: tuple[int, int, int], table: npt.ArrayLike) -> Window:
    """LINEAR approximation of a (0028,3010) VOI LUT Sequence table for the GPU.

    The input range over which the table rises from its first to its last
    distinct output; napari can only show a linear ramp, so a non-linear
    table is approximated (exports use the exact table via
    :func:`miss_imaging.display.window.apply_voi_table`).
    """
    n, first, _ = descriptor
    data = np.asarray(table, dtype=np.float64).reshape(-1)[: n or 65536]
    changing = np.flatnonzero(np.diff(data) != 0)
    if changing.size == 0:
        lo, hi = float(first), float(first + data.size - 1)
    else:
        lo, hi = float(first + changing[0]), float(first + changing[-1] + 1)
    center, width = contrast_limits_to_window(lo, max(hi, lo + 1.0))
    return Window(center, width, "VOI LUT table (linear approximation)")


# ----------------------------------------------------------------------------- field detection


def _subsample(frame: Any) -> npt.NDArray[np.float64]:
    step = max(1, math.ceil(max(frame.shape) / SAMPLE_SIDE))
    return np.asarray(frame[::step, ::step], dtype=np.float64)


def _field_pixels(f: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Pixels of one (subsampled) frame inside the collimated field."""
    from scipy import ndimage

    finite = np.isfinite(f)
    if not finite.any():
        raise ValueError("auto_window: frame has no finite values")
    vals = f[finite]
    fmin, fmax = float(vals.min()), float(vals.max())
    if fmax == fmin:
        return vals
    span = fmax - fmin
    valid = finite & (f > fmin) & (f < fmax)  # saturated text, padding, pure black
    mask = np.zeros(f.shape, bool)
    for candidates in (valid & (f <= fmin + DARK_FRACTION * span), valid & (f >= fmax - DARK_FRACTION * span)):
        labels, count = ndimage.label(candidates)
        if count == 0:
            continue
        # per-component area and standard deviation, vectorised over labels
        lab = labels.ravel()
        area = np.bincount(lab, minlength=count + 1).astype(np.float64)
        s1 = np.bincount(lab, weights=f.ravel(), minlength=count + 1)
        s2 = np.bincount(lab, weights=f.ravel() ** 2, minlength=count + 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            std = np.sqrt(np.maximum(s2 / area - (s1 / area) ** 2, 0.0))
        on_border = np.zeros(count + 1, bool)
        on_border[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = True
        # collimator / shutter / mask: flat, near an end, touching the border, not tiny
        drop = on_border & (area >= MIN_MASK_AREA * f.size) & (std <= FLAT_FRACTION * span)
        # burned-in text or marker: one grey (near-constant), near an end, small, and
        # with a sharp edge: its surroundings differ by a large part of the range
        text = (std <= TEXT_FLAT_FRACTION * span) & (area >= TEXT_MIN_PIXELS) & (area <= TEXT_AREA * f.size)
        if text[1:].any():
            ring_label = ndimage.grey_dilation(labels, size=(3, 3))
            ring = (labels == 0) & (ring_label > 0)
            r_n = np.bincount(ring_label[ring], minlength=count + 1)
            r_sum = np.bincount(ring_label[ring], weights=f[ring], minlength=count + 1)
            with np.errstate(invalid="ignore", divide="ignore"):
                contrast = np.abs(s1 / area - r_sum / r_n)
            drop |= text & (contrast >= TEXT_CONTRAST * span)
        drop[0] = False
        mask |= drop[labels]
    field = valid & ~mask
    labels, count = ndimage.label(field, structure=np.ones((3, 3), bool))
    if count > 1:
        sizes = np.bincount(labels.ravel())[1:]
        keep = np.flatnonzero(sizes >= MIN_ISLAND * sizes.max()) + 1
        field = np.isin(labels, keep)
    if field.sum() < 100:  # nothing credible left: fall back to the unsaturated pixels
        field = valid if valid.sum() >= 100 else finite
    return f[field]
