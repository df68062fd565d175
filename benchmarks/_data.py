"""Synthetic benchmark data, generated on demand into a temporary folder.

* ``ct_series(root)``: 512 x 512 x 300 CT, one Explicit VR Little Endian file
  per slice, with a realistic header (~110 elements incl. a few sequences,
  as a Siemens/GE CT writes: BitsStored 12 unsigned, intercept -1024), file
  names in random order.  157 MB of pixels.
* ``xa_cine(root)``: 60 x 1024 x 1024 XA multi-frame cine, uint16 with
  BitsStored 12, FrameTime, ImagerPixelSpacing, SID/SOD/ERMF.  126 MB.

Both take a few seconds, built with the shared builder
``sample_dicoms/dicom_builder.py`` (the one the tests and the phantoms use).
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

sys.path.append(str(Path(__file__).resolve().parents[1] / "sample_dicoms"))
from dicom_builder import image_pixel, item, new_dataset, sequence, write  # noqa: E402

__all__ = ["ct_series", "xa_cine", "CT_SHAPE", "XA_SHAPE"]

CT_SHAPE = (300, 512, 512)
XA_SHAPE = (60, 1024, 1024)
_UID_ROOT = "1.2.826.0.1.3680043.10.1387."  # deterministic fake UIDs


def _uid(*parts: object) -> str:
    return generate_uid(_UID_ROOT, entropy_srcs=[str(p) for p in parts])


def _new(sop_class: str, sop_uid: str, modality: str, series_uid: str) -> Dataset:
    ds = new_dataset(sop_class, sop_uid, modality=modality, series_uid=series_uid,
                     implementation_uid=_uid("impl"), implementation_version="MISS_BENCH_1")
    _common(ds)
    return ds


def _common(ds: Dataset) -> None:
    today = datetime.date(2026, 1, 1).strftime("%Y%m%d")
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = today
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = "101500.000000"
    ds.AccessionNumber = "BENCH0001"
    ds.Manufacturer = "Synthetic"
    ds.InstitutionName = "Benchmark Hospital"
    ds.ReferringPhysicianName = "Doe^Referrer"
    ds.StationName = "BENCH01"
    ds.StudyDescription = "Lumbar spine"
    ds.SeriesDescription = "Benchmark"
    ds.ManufacturerModelName = "Bench 9000"
    ds.PatientName = "Bench^Patient"
    ds.PatientID = "BENCH-001"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.PatientAge = "056Y"
    ds.BodyPartExamined = "LSPINE"
    ds.SoftwareVersions = ["VB20A", "SOM5"]
    ds.ProtocolName = "Spine 0.5"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = _uid("study")
    ds.StudyID = "1"
    ds.FrameOfReferenceUID = _uid("for")
    ds.PositionReferenceIndicator = ""
    ds.AnatomicRegionSequence = sequence(item(CodeValue="T-11503", CodingSchemeDesignator="SRT",
                                              CodeMeaning="Lumbar spine"))
    ds.ReferencedPerformedProcedureStepSequence = sequence(item(
        ReferencedSOPClassUID="1.2.840.10008.3.1.2.3.1", ReferencedSOPInstanceUID=_uid("pps")))


def _ct_pixels(rng: np.random.Generator) -> np.ndarray:
    """Stored values (uint16, 12 bits) of a body-like phantom: HU + 1024."""
    z, y, x = CT_SHAPE
    yy, xx = np.mgrid[:y, :x]
    body = ((yy - y / 2) / (0.42 * y)) ** 2 + ((xx - x / 2) / (0.47 * x)) ** 2 < 1
    bone = ((yy - 0.62 * y) / (0.08 * y)) ** 2 + ((xx - x / 2) / (0.07 * x)) ** 2 < 1
    base = np.where(body, 1024 + 40, 0).astype(np.int32)  # air -1024 HU, soft tissue 40 HU
    base[bone] = 1024 + 700
    noise = rng.integers(-20, 21, size=(8, y, x), dtype=np.int32)  # 8 noise patterns, reused
    vol = np.empty(CT_SHAPE, np.uint16)
    for k in range(z):
        vol[k] = np.clip(base + noise[k % 8], 0, 4095)
    return vol


def ct_series(root: Path, seed: int = 0) -> tuple[Path, np.ndarray]:
    """Write the CT series into ``root/ct``; returns (folder, stored int16 HU volume in z order)."""
    rng = np.random.default_rng(seed)
    folder = root / "ct"
    folder.mkdir(parents=True, exist_ok=True)
    stored = _ct_pixels(rng)
    n, rows, cols = CT_SHAPE
    series_uid = _uid("ct-series")
    sop_class = "1.2.840.10008.5.1.4.1.1.2"
    names = rng.permutation(n)
    for k in range(n):
        ds = _new(sop_class, _uid("ct", k), "CT", series_uid)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SeriesNumber = 3
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = n - k  # runs against position on purpose
        ds.ScanOptions = "HELICAL MODE"
        ds.SliceThickness = "0.75"
        ds.KVP = "120"
        ds.DataCollectionDiameter = "500"
        ds.ReconstructionDiameter = "350"
        ds.DistanceSourceToDetector = "1085.6"
        ds.DistanceSourceToPatient = "595"
        ds.GantryDetectorTilt = "0"
        ds.TableHeight = "160"
        ds.RotationDirection = "CW"
        ds.ExposureTime = "500"
        ds.XRayTubeCurrent = "200"
        ds.Exposure = "100"
        ds.FilterType = "FLAT"
        ds.GeneratorPower = "24"
        ds.FocalSpots = "1.2"
        ds.ConvolutionKernel = "B70s"
        ds.ImagePositionPatient = [-175.0, -175.0, -400.0 + 0.7 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SliceLocation = f"{-400.0 + 0.7 * k:.2f}"
        image_pixel(ds, rows, cols)
        ds.PixelSpacing = [0.68359375, 0.68359375]
        ds.WindowCenter = [40, 480]
        ds.WindowWidth = [400, 2500]
        ds.WindowCenterWidthExplanation = ["SOFT", "BONE"]
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.PixelData = stored[k].tobytes()
        write(ds, folder / f"IM{names[k]:05d}")
    hu = stored.astype(np.int16)
    hu -= 1024
    return folder, hu


def xa_cine(root: Path, seed: int = 1) -> tuple[Path, np.ndarray]:
    """Write the XA cine as ``root/xa/XA0001.dcm``; returns (path, stored frames)."""
    rng = np.random.default_rng(seed)
    folder = root / "xa"
    folder.mkdir(parents=True, exist_ok=True)
    f, rows, cols = XA_SHAPE
    yy, xx = np.mgrid[:rows, :cols]
    field = ((yy - rows / 2) ** 2 + (xx - cols / 2) ** 2) < (0.45 * rows) ** 2
    base = np.where(field, 2400, 200).astype(np.uint16)
    frames = np.empty(XA_SHAPE, np.uint16)
    noise = rng.integers(0, 64, size=(4, rows, cols), dtype=np.uint16)
    for k in range(f):
        frames[k] = base + noise[k % 4]
    sop_class = "1.2.840.10008.5.1.4.1.1.12.1"
    ds = _new(sop_class, _uid("xa"), "XA", _uid("xa-series"))
    ds.ImageType = ["ORIGINAL", "PRIMARY", "SINGLE PLANE"]
    ds.SeriesNumber = 7
    ds.InstanceNumber = 1
    ds.KVP = "75"
    ds.FrameTime = "66.67"
    ds.CineRate = 15
    ds.DistanceSourceToDetector = "1200"
    ds.DistanceSourceToPatient = "800"
    ds.EstimatedRadiographicMagnificationFactor = "1.5"
    ds.ImagerPixelSpacing = [0.2, 0.2]
    ds.PositionerPrimaryAngle = "0"
    ds.PositionerSecondaryAngle = "0"
    image_pixel(ds, rows, cols, frames=f)
    ds.FrameIncrementPointer = 0x00181063
    ds.WindowCenter = 2048
    ds.WindowWidth = 4096
    ds.PixelData = frames.tobytes()
    return write(ds, folder / "XA0001.dcm"), frames
