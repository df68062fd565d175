"""Tiny synthetic DICOM writers for the loader tests (known geometry by construction).

Built with the shared builder ``sample_dicoms/dicom_builder.py`` (on sys.path via conftest).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from dicom_builder import image_pixel, item, new_dataset, sequence, write
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

CT = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
XA = "1.2.840.10008.5.1.4.1.1.12.1"
DX = "1.2.840.10008.5.1.4.1.1.1.1"


def tilted_iop(deg: float = 7.0) -> list[float]:
    """Row and column cosines rotated by `deg` about the patient's left-right axis (x)."""
    a = np.radians(deg)
    return [1.0, 0.0, 0.0, 0.0, float(np.cos(a)), float(np.sin(a))]


def base_dataset(sop_class: str, modality: str, series_uid: str, *, implicit: bool = False) -> Dataset:
    """A new instance (random SOP Instance UID) with fake patient and a grayscale photometric."""
    ds = new_dataset(sop_class, generate_uid(), modality=modality, series_uid=series_uid,
                     transfer_syntax=ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian)
    ds.StudyInstanceUID = "1.2.3.4"
    ds.FrameOfReferenceUID = "1.2.3.5"
    ds.SeriesNumber = 2
    ds.SeriesDescription = "synthetic"
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "ID-42"
    ds.PatientBirthDate = "19600101"
    ds.InstitutionName = "Test Hospital"
    ds.Manufacturer = "TestCo"
    ds.KVP = "120"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    return ds


def ct_slices(
    folder: Path,
    stored: np.ndarray,
    *,
    iop: list[float] | None = None,
    pixel_spacing: tuple[float, float] = (0.5, 0.7),
    step: np.ndarray | None = None,
    origin: tuple[float, float, float] = (-30.0, -20.0, 100.0),
    positions: np.ndarray | None = None,
    intercept: float = -1024,
    slope: float = 1,
    bits_stored: int = 12,
    signed: bool = False,
    series_uid: str = "1.2.3.4.100",
    names: list[str] | None = None,
    implicit: bool = False,
    extra: dict | None = None,
) -> tuple[list[Path], np.ndarray]:
    """Write one CT file per slice of `stored` (k, rows, cols); returns (paths in k order, IPPs).

    The slice normal is row x col cosines; positions default to
    ``origin + k * step`` with ``step = 1.25 * normal``.  File names are
    shuffled and InstanceNumber runs against position.
    """
    folder.mkdir(parents=True, exist_ok=True)
    iop = iop or [1.0, 0, 0, 0, 1.0, 0]
    x, y = np.array(iop[:3]), np.array(iop[3:])
    normal = np.cross(x, y)
    n = stored.shape[0]
    if positions is None:
        st = normal * 1.25 if step is None else np.asarray(step, float)
        positions = np.asarray(origin, float) + np.arange(n)[:, None] * st
    rng = np.random.default_rng(7)
    names = names or [f"f{v:04d}.dcm" for v in rng.permutation(n)]
    paths = []
    for k in range(n):
        ds = base_dataset(CT, "CT", series_uid, implicit=implicit)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.InstanceNumber = n - k
        ds.AcquisitionNumber = 1
        ds.ImagePositionPatient = [float(v) for v in positions[k]]
        ds.ImageOrientationPatient = [float(v) for v in iop]
        ds.PixelSpacing = [float(pixel_spacing[0]), float(pixel_spacing[1])]
        ds.SliceThickness = "1.25"
        image_pixel(ds, *stored.shape[1:], bits_stored=bits_stored, signed=signed)
        ds.RescaleIntercept = intercept
        ds.RescaleSlope = slope
        ds.WindowCenter = [40, 480]
        ds.WindowWidth = [400, 2500]
        ds.WindowCenterWidthExplanation = ["SOFT", "BONE"]
        for key, val in (extra or {}).items():
            setattr(ds, key, val)
        arr = stored[k].astype("<i2" if signed else "<u2")
        ds.PixelData = arr.tobytes()
        paths.append(write(ds, folder / names[k]))
    return paths, np.asarray(positions, float)


def phantom(n: int = 6, rows: int = 12, cols: int = 10, seed: int = 0) -> np.ndarray:
    """Stored values 0..4095 (12-bit) with a distinct value per voxel region."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 4096, size=(n, rows, cols)).astype(np.uint16)


def enhanced_ct(path: Path, stored: np.ndarray, ipps: np.ndarray, iop: list[float], ps=(0.5, 0.7),
                slopes=None, intercepts=None, frame_order=None) -> None:
    """One Enhanced CT file; frames written in `frame_order` (a permutation of slice indices)."""
    n = stored.shape[0]
    order = list(range(n)) if frame_order is None else list(frame_order)
    ds = base_dataset(ENHANCED_CT, "CT", "1.2.3.4.200")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    image_pixel(ds, *stored.shape[1:], frames=n)
    shared = item(
        PixelMeasuresSequence=sequence(item(PixelSpacing=[float(ps[0]), float(ps[1])], SliceThickness="1.0")),
        PlaneOrientationSequence=sequence(item(ImageOrientationPatient=[float(v) for v in iop])),
        PixelValueTransformationSequence=sequence(item(RescaleIntercept=-1024, RescaleSlope=1, RescaleType="HU")),
        FrameVOILUTSequence=sequence(item(WindowCenter=400, WindowWidth=2000)),
    )
    ds.SharedFunctionalGroupsSequence = sequence(shared)
    frames = []
    for k in order:
        f = item(PlanePositionSequence=sequence(item(ImagePositionPatient=[float(v) for v in ipps[k]])))
        if slopes is not None:
            f.PixelValueTransformationSequence = sequence(
                item(RescaleSlope=slopes[k], RescaleIntercept=intercepts[k], RescaleType="HU"))
        frames.append(f)
    ds.PerFrameFunctionalGroupsSequence = sequence(*frames)
    ds.PixelData = np.ascontiguousarray(stored[order]).astype("<u2").tobytes()
    write(ds, path)


def xa_cine(path: Path, frames: np.ndarray, **tags) -> None:
    ds = base_dataset(XA, "XA", "1.2.3.4.300")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "SINGLE PLANE"]
    image_pixel(ds, *frames.shape[1:], frames=frames.shape[0])
    for k, v in tags.items():
        setattr(ds, k, v)
    ds.PixelData = frames.astype("<u2").tobytes()
    write(ds, path)
