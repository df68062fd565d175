"""The demo's DICOM SR: one TID 1500 report per demo series, beside the demo PNG."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from miss_imaging.sharing.sr import Package, save_sr

__all__ = ["write_demo_sr"]


def _only_ours(folder: Path) -> bool:
    """True when `folder` holds nothing but what :func:`write_demo_sr` writes (safe to replace)."""
    for p in folder.iterdir():
        if p.is_file() and p.name.endswith("_sr.dcm"):
            continue
        if p.is_dir() and p.name.startswith("images_") and all(f.is_file() and f.name.startswith("IM")
                                                                for f in p.iterdir()):
            continue
        return False
    return True


def write_demo_sr(items: Sequence[Any], png: Path) -> str:
    """Write ``<png stem>_sr/<series>_sr.dcm`` (de-identified package) for each demo item; a one-line report.

    The folder is replaced when it holds only a previous demo's output, else left alone.
    """
    folder = png.with_name(png.stem + "_sr")
    if folder.exists():
        if not folder.is_dir() or not _only_ours(folder):
            return f"SR: {folder} exists with other files; not written"
        shutil.rmtree(folder)
    package = Package(folder)  # phantoms carry fake identifiers: the demo shares what teaching would
    written = [save_sr(it.measurements, it.volume, folder / f"{it.key}_sr.dcm", package=package) for it in items]
    return "DICOM SR (TID 1500, de-identified): " + ", ".join(str(p) for p in written)
