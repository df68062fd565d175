"""Find burned-in annotation text in projection images (fluoroscopy, radiographs).

Modalities write the patient's name, ID and date *into the pixels* of many
fluoroscopy runs and flag it with BurnedInAnnotation (0028,0301) = YES.
Such overlay text is drawn at the brightest stored value (it must read on any
anatomy) and, in a cine, it does not move.  :func:`detect_text_regions` finds
pixels that are

* at the maximum value (``2**BitsStored - 1``, or the brightest value found),
* identical in every sampled frame (multi-frame runs),
* in small, line-shaped clusters: letters joined by a 2-pixel dilation, each
  cluster at most 12 % of the rows high and 5 % of the image in area; in a
  single frame (no constancy test) only clusters within the outer 20 % band
  of the image count, so that saturated metal in the middle of a radiograph is
  never taken for text,

and returns their bounding boxes ``(row0, col0, row1, col1)`` (0-based, end
excluded, padded by 2 pixels), the format of
:func:`miss_imaging.sharing.deid.deidentify_series`'s ``blank_regions``.  It is a
helper, not a guarantee: the exports that use it still report the flag so
that a person checks the result.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["detect_text_regions", "MAX_TEXT_HEIGHT", "MAX_TEXT_AREA", "BORDER_BAND", "PAD_PX"]

MAX_TEXT_HEIGHT = 0.12  # fraction of the rows: taller clusters are anatomy or hardware
MAX_TEXT_AREA = 0.05  # fraction of the image per cluster (a line of text)
BORDER_BAND = 0.20  # single frames: clusters must lie within this outer band
PAD_PX = 2  # margin around each box (anti-aliased glyph edges)
_SAMPLE_FRAMES = 8


def _boxes(mask: np.ndarray, *, border_only: bool) -> list[tuple[int, int, int, int]]:
    from scipy import ndimage

    rows, cols = mask.shape
    joined = ndimage.binary_dilation(mask, structure=np.ones((5, 5), bool))
    labels, n = ndimage.label(joined)
    out = []
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        inside = mask[sl] & (labels[sl] == k)
        if not inside.any():
            continue
        rr, cc = np.nonzero(inside)
        r0, r1 = sl[0].start + rr.min(), sl[0].start + rr.max() + 1
        c0, c1 = sl[1].start + cc.min(), sl[1].start + cc.max() + 1
        if (r1 - r0) > MAX_TEXT_HEIGHT * rows or (r1 - r0) * (c1 - c0) > MAX_TEXT_AREA * rows * cols:
            continue
        if inside.sum() < 6:  # an isolated hot pixel is not text
            continue
        if border_only:
            band_r, band_c = BORDER_BAND * rows, BORDER_BAND * cols
            if not (r1 <= band_r or r0 >= rows - band_r or c1 <= band_c or c0 >= cols - band_c):
                continue
        out.append((int(max(0, r0 - PAD_PX)), int(max(0, c0 - PAD_PX)), int(min(rows, r1 + PAD_PX)),
                    int(min(cols, c1 + PAD_PX))))
    return _merge(out)


def _merge(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Merge boxes that overlap or lie within 2 pixels until none do (the lines of a text block become one box)."""
    boxes = sorted(boxes)
    changed = True
    while changed:
        changed = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if a[0] <= b[2] + 2 and b[0] <= a[2] + 2 and a[1] <= b[3] + 2 and b[1] <= a[3] + 2:
                    boxes[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del boxes[j]
                    changed = True
                    break
            if changed:
                break
    return sorted(boxes)


def detect_text_regions(pixels: Any, *, bits_stored: int | None = None) -> list[tuple[int, int, int, int]]:
    """Bounding boxes of burned-in text in a projection image or run.

    Parameters
    ----------
    pixels : (rows, cols) or (frames, rows, cols) array-like (numpy or dask)
        Stored values; at most 8 evenly spaced frames are read.
    bits_stored : int, optional
        (0028,0101) BitsStored; the text value is ``2**bits_stored - 1`` when
        that value occurs, else the brightest value found.

    Returns
    -------
    list of (row0, col0, row1, col1)
        0-based pixel boxes, end excluded, sorted; empty when nothing
        text-like is found.

    Examples
    --------
    >>> run = np.full((4, 128, 128), 900, np.uint16)
    >>> run[:, 3:10, 4:40:3] = 4095            # a "word" in the top-left corner, in every frame
    >>> run[1, 60:64, 60:64] = 4095            # a bright spot in one frame only
    >>> detect_text_regions(run, bits_stored=12)
    [(1, 2, 12, 40)]
    """
    arr = pixels
    if getattr(arr, "ndim", np.ndim(arr)) == 2:
        arr = arr[None]
    n = int(arr.shape[0])
    idx = np.unique(np.linspace(0, n - 1, min(n, _SAMPLE_FRAMES)).round().astype(int))
    sample = np.stack([np.asarray(arr[int(k)]) for k in idx])
    top = float(sample.max())
    if bits_stored is not None and np.issubdtype(sample.dtype, np.integer):
        full = float(2 ** int(bits_stored) - 1)
        if (sample == full).any():
            top = full
    mask = np.all(sample >= top, axis=0)  # saturated in every sampled frame
    if len(idx) > 1:
        mask &= np.all(sample == sample[0], axis=0)
    if not mask.any():
        return []
    return _boxes(mask, border_only=len(idx) == 1)
