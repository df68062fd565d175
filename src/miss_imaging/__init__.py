"""miss-imaging: intraoperative spine imaging with exact DICOM geometry.

The public API (a contract other tools rely on)::

    scan(path_or_paths, *, progress=None) -> ScanResult (list of SeriesInfo with .plan, plus .skipped)
    load(path_or_series, *, lazy=None) -> ImageVolume
    load_all(path_or_paths, *, lazy=None, progress=None, errors="warn") -> LoadResult (list of ImageVolume)
    apply_window(values, center, width, *, function="LINEAR", out_dtype=np.uint8, out=None, invert=False)
    resample(volume, spacing, *, order=1, ...) -> ImageVolume
    reslice(volume, plane, ...) -> ImageVolume
    measure_distance(volume, p0, p1) -> Measurement (.mm, .pixels, .calibration)
    CArm(sid, sod, primary_deg, secondary_deg, isocenter, rows, cols, pixel_mm, ...) (.project, .ray)
    drr(volume, carm, ...) -> ImageVolume (a projection tagged like an XA: SID, SOD, ERMF, angles)

    miss_imaging.spine: Vertebra, snap_corners, disc_height, ..., find_screws, breach, plan_screw, access_plan

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
    "Kind": "model",
    "SeriesInfo": "model",
    "ScanResult": "model",
    "Window": "model",
    "ProjectionTags": "model",
    "MissImagingError": "errors",
    "MissImagingWarning": "errors",
    "scan": "reading.dicom_scan",
    "load": "reading.loader",
    "load_all": "reading.loader",
    "apply_window": "display.window",
    "resample": "spatial.resampling",
    "reslice": "spatial.reslicing",
    "Plane": "spatial.reslicing",
    "measure_distance": "measurement.measure",
    "measure_path": "measurement.measure",
    "measure_angle": "measurement.measure",
    "measure_cobb": "measurement.measure",
    "intensity_profile": "measurement.measure",
    "Measurement": "measurement.measure",
    "Calibration": "measurement.calibration",
    "CalibrationSource": "measurement.calibration",
    "projection_calibration": "measurement.calibration",
    "user_calibration": "measurement.calibration",
    "to_patient_grid": "spatial.resampling",
    "PRESETS": "display.presets",
    "default_window": "display.presets",
    "auto_window": "display.presets",
    "deidentify_series": "sharing.deid",
    "get_teaching_mode": "settings",
    "set_teaching_mode": "settings",
    "export_cine_gif": "sharing.export",
    "save_session": "sharing.session",
    "load_session": "sharing.session",
    "save_sr": "sharing.sr",
    "load_sr": "sharing.sr",
    "save_annotated_sc": "sharing.sr",
    "save_key_objects": "sharing.sr",
    "deidentify_tree": "batch",
    "index_tree": "batch",
    "CArm": "carm",
    "drr": "carm",
    "ViewportFrame": "spatial.mpr",
    "viewport_frame": "spatial.mpr",
    "viewport_planes": "spatial.mpr",
    "crosshair": "spatial.mpr",
    "trajectory_plane": "spatial.mpr",
    "bullseye_plane": "spatial.mpr",
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
