"""miss-imaging: intraoperative spine imaging with exact DICOM geometry.

The public API (a contract other tools rely on)::

    scan(path) -> ScanResult (list of SeriesInfo, plus .skipped)
    load(path_or_series, *, lazy=None) -> ImageVolume
    load_all(path, *, lazy=None) -> list[ImageVolume]
    apply_window(values, center, width, *, function="LINEAR", out_dtype=np.uint8, out=None, invert=False)
    resample(volume, spacing, *, order=1, ...) -> ImageVolume
    reslice(volume, plane, ...) -> ImageVolume
    measure_distance(volume, p0, p1) -> Measurement (.mm, .pixels, .calibration)

Submodules are imported on first use so that ``import miss_imaging`` stays
fast and never pulls in napari or Qt.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> submodule that defines it
_EXPORTS = {
    "ImageVolume": "model",
    "SeriesInfo": "model",
    "ScanResult": "model",
    "Window": "model",
    "ProjectionTags": "model",
    "MissImagingError": "errors",
    "MissImagingWarning": "errors",
    "scan": "dicom_scan",
    "load": "loader",
    "load_all": "loader",
    "apply_window": "window",
    "resample": "resampling",
    "reslice": "reslicing",
    "Plane": "reslicing",
    "measure_distance": "measure",
    "measure_path": "measure",
    "measure_angle": "measure",
    "measure_cobb": "measure",
    "intensity_profile": "measure",
    "Measurement": "measure",
    "Calibration": "calibration",
    "projection_calibration": "calibration",
    "user_calibration": "calibration",
    "to_patient_grid": "resampling",
    "PRESETS": "presets",
    "default_window": "presets",
    "auto_window": "presets",
    "deidentify_series": "deid",
    "get_teaching_mode": "settings",
    "set_teaching_mode": "settings",
    "export_cine_gif": "export",
    "save_session": "session",
    "load_session": "session",
    "ViewportFrame": "mpr",
    "viewport_frame": "mpr",
    "viewport_planes": "mpr",
    "crosshair": "mpr",
    "trajectory_plane": "mpr",
    "bullseye_plane": "mpr",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'miss_imaging' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
