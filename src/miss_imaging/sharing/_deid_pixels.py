"""Pixel side of the de-identified export: blanking regions, keeping pixels writable.

Blanked objects are decoded, the rectangles set to display-black (the
minimum stored value, the maximum for MONOCHROME1) in every frame, and the
pixels re-encoded uncompressed, little endian (PS3.5 Explicit VR Little
Endian).  Big endian sources are converted the same way (values unchanged).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from miss_imaging.errors import MissImagingError

__all__ = ["normalize_regions", "blank_regions_in", "ensure_writable_syntax", "BOX_CONVENTION", "format_box"]

#: The one rectangle convention of the project, read (``--blank``, ``blank_regions``) and printed alike.
BOX_CONVENTION = "row0,col0,row1,col1: 0-based pixel indices, rows down, columns right, end excluded"


def format_box(box: Sequence[int]) -> str:
    """``row0,col0,row1,col1`` (see :data:`BOX_CONVENTION`): what ``--blank`` takes, ready to paste."""
    return ",".join(str(int(v)) for v in box)


def normalize_regions(regions: Iterable[Sequence[int]] | None) -> tuple[tuple[int, int, int, int], ...]:
    out = []
    for r in regions or ():
        if len(r) != 4:
            raise ValueError(f"`blank_regions` items must be (row0, col0, row1, col1); got {r!r}")
        r0, c0, r1, c1 = (int(v) for v in r)
        if r0 < 0 or c0 < 0 or r1 <= r0 or c1 <= c0:
            raise ValueError(
                f"`blank_regions` item {r!r}: need 0 <= row0 < row1 and 0 <= col0 < col1 (pixel indices, end excluded)"
            )
        out.append((r0, c0, r1, c1))
    return tuple(out)


def blank_regions_in(ds: Dataset, regions: tuple[tuple[int, int, int, int], ...], path: Path) -> None:
    """Blank `regions` in every frame and re-encode uncompressed (Explicit VR Little Endian)."""
    try:
        arr = ds.pixel_array
    except Exception as exc:  # any decoder failure: say which file
        raise MissImagingError(f"(7FE0,0010) PixelData cannot be decoded to blank regions: {exc}", path=path,
                               tag="(7FE0,0010) PixelData") from exc
    rows, cols = int(ds.Rows), int(ds.Columns)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1))
    arr = np.array(arr, dtype=arr.dtype.newbyteorder("<"), copy=True)  # little endian output
    view = arr.reshape((frames, rows, cols, samples) if samples > 1 else (frames, rows, cols))
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    # fill with what displays as black: the minimum (the maximum for MONOCHROME1)
    fill = view.max() if photometric == "MONOCHROME1" else view.min()
    for r0, c0, r1, c1 in regions:
        if r0 >= rows or c0 >= cols:
            raise ValueError(f"{path.name}: blank region {(r0, c0, r1, c1)} lies outside the {rows}x{cols} image")
        view[:, r0:min(r1, rows), c0:min(c1, cols)] = fill
    if samples > 1 and photometric.startswith("YBR"):
        photometric = "RGB"  # pydicom returns RGB after decoding YBR
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.set_original_encoding(False, True)
    ds.set_pixel_data(view if frames > 1 else view[0], photometric, int(ds.BitsStored), generate_instance_uid=False)


def ensure_writable_syntax(ds: Dataset) -> None:
    """Big endian data sets are converted to Explicit VR Little Endian (pixels decoded, values unchanged)."""
    ts = UID(str(ds.file_meta.TransferSyntaxUID))
    if ts.is_little_endian or ts.is_compressed:
        return
    arr = ds.pixel_array
    arr = arr.astype(arr.dtype.newbyteorder("<"))  # decoded big endian data come back as ">i2"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.set_original_encoding(False, True)
    ds.set_pixel_data(arr, str(ds.PhotometricInterpretation), int(ds.BitsStored), generate_instance_uid=False)
