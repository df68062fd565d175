"""napari sample-data contributions: the bundled phantoms of ``sample_dicoms/``.

The phantoms sit at the repository root, beside ``src/`` and ``plugins/``,
not inside the package: they are found relative to this source file (an
editable install of a checkout) or through ``$MISS_IMAGING_SAMPLES``.  When
they are absent (a wheel install), each entry raises one clear error naming
the folder and what to do; napari shows it as a notification.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["samples_folder", "lumbar_ct", "lumbar_fluoro", "spine_ct", "enhanced_ct", "fluoro", "radiograph", "SAMPLES"]

#: sample key -> sub-folder of sample_dicoms/
SAMPLES = {
    "lumbar_ct": "lumbar_ct",
    "lumbar_fluoro": "lumbar_fluoro",
    "spine_ct": "spine_ct",
    "enhanced_ct": "spine_ct_enhanced",
    "fluoro": "fluoro",
    "radiograph": "radiograph",
}


def samples_folder() -> Path:
    """``sample_dicoms/`` of this checkout (or ``$MISS_IMAGING_SAMPLES``)."""
    env = os.environ.get("MISS_IMAGING_SAMPLES")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "sample_dicoms"


def _load(key: str) -> list[tuple[Any, ...]]:
    from miss_imaging.errors import MissImagingError

    from ._reader import read_dicom

    folder = samples_folder() / SAMPLES[key]
    if not folder.is_dir():
        raise MissImagingError(
            f"sample '{key}' not found: {folder} is absent. The phantoms ship with the source checkout "
            "(sample_dicoms/); install with `pip install -e .` from a clone, or set MISS_IMAGING_SAMPLES.",
            path=folder,
        )
    layers = read_dicom(str(folder))
    # read_dicom's "nothing loadable" sentinel [(None,)] is for readers; sample data adds nothing instead
    # (the reason was already shown as a notification)
    return [ld for ld in layers if ld[0] is not None]


def lumbar_ct() -> list[tuple[Any, ...]]:
    """Anatomical lumbar-spine CT phantom T12-S2 (screws, a medial breach, a slip, a narrowed disc)."""
    return _load("lumbar_ct")


def lumbar_fluoro() -> list[tuple[Any, ...]]:
    """AP, lateral and needle-cine fluoroscopy of the same spine, made with the virtual C-arm."""
    return _load("lumbar_fluoro")


def spine_ct() -> list[tuple[Any, ...]]:
    """Lumbar-spine CT phantom (tilted, one file per slice), as napari LayerData."""
    return _load("spine_ct")


def enhanced_ct() -> list[tuple[Any, ...]]:
    """The same phantom as one Enhanced CT multi-frame file."""
    return _load("enhanced_ct")


def fluoro() -> list[tuple[Any, ...]]:
    """Fluoroscopy cine phantom (XA multi-frame, ERMF-calibrated)."""
    return _load("fluoro")


def radiograph() -> list[tuple[Any, ...]]:
    """DX radiograph phantom (MONOCHROME1, GEOMETRY-calibrated Pixel Spacing)."""
    return _load("radiograph")
