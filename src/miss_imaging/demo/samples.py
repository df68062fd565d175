"""Where the bundled phantoms are: ``sample_dicoms/`` of this checkout, or ``$MISS_IMAGING_SAMPLES``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["samples_dir"]


def samples_dir() -> Path:
    """The bundled phantom folder ``sample_dicoms/`` of this checkout.

    ``$MISS_IMAGING_SAMPLES`` overrides it.  The phantoms live at the
    repository root (not inside the package), so they exist for a source
    checkout with an editable install, not for a wheel.

    Raises
    ------
    FileNotFoundError
        With what to do, when the folder or its ``truth.json`` is absent.
    """
    env = os.environ.get("MISS_IMAGING_SAMPLES")
    folder = Path(env) if env else Path(__file__).resolve().parents[3] / "sample_dicoms"
    if not (folder / "truth.json").is_file():
        raise FileNotFoundError(
            f"{folder}: the bundled phantoms (sample_dicoms/ with truth.json) are not there. They ship with the "
            "source checkout: clone the repository and `pip install -e .`, or set MISS_IMAGING_SAMPLES to the folder."
        )
    return folder
