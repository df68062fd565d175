"""Synthetic DICOM objects full of fake identifiers, for the de-identification tests.

Built with the shared builder ``sample_dicoms/dicom_builder.py`` (on sys.path via conftest).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from dicom_builder import image_pixel, item, new_dataset, sequence, write
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, RLELossless, XRayAngiographicImageStorage

FAKE = {
    "name": "DOEFAKE^JOHNATHAN^QUINCY",
    "id": "MRN-483920",
    "birth_date": "19650312",
    "accession": "ACC778899",
    "institution": "St Fakename Hospital",
    "other_id": "OTHER-55127",
    "physician": "HOUSEFAKE^GREGORY",
}
STUDY_UID = "1.2.826.0.1.3680043.8.498.1111"
FOR_UID = "1.2.826.0.1.3680043.8.498.2222"
CT_SERIES_UID = "1.2.826.0.1.3680043.8.498.4444"
XA_SERIES_UID = "1.2.826.0.1.3680043.8.498.6666"


def _identify(ds: Dataset, series_uid: str) -> None:
    ds.PatientName = FAKE["name"]
    ds.PatientID = FAKE["id"]
    ds.PatientBirthDate = FAKE["birth_date"]
    ds.PatientSex = "M"
    ds.PatientAge = "058Y"
    ds.OtherPatientIDs = FAKE["other_id"]
    ds.AccessionNumber = FAKE["accession"]
    ds.InstitutionName = FAKE["institution"]
    ds.InstitutionAddress = "1 Fake Street, Faketown"
    ds.ReferringPhysicianName = FAKE["physician"]
    ds.OperatorsName = "OPFAKE^ANNA"
    ds.StationName = "CTSTATION7"
    ds.DeviceSerialNumber = "SN-99812"
    ds.StudyDate = "20240105"
    ds.StudyTime = "101500"
    ds.SeriesDate = "20240105"
    ds.ContentDate = "20240105"
    ds.ContentTime = "101600"
    ds.AcquisitionDateTime = "20240105101530"
    ds.StudyID = "STUDY42"
    ds.StudyDescription = "Spine for Johnathan"  # holds a name part: removed by Clean Descriptors
    ds.SeriesDescription = "Lumbar spine"  # clean: kept
    ds.ImageComments = "patient DOEFAKE moved"
    ds.ConvolutionKernel = "DOEFAKE"  # not in Table E.1-1: caught by the identifier scrub
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = FOR_UID
    ds.Manufacturer = "FakeVendor"
    ds.ManufacturerModelName = "Model X"
    # private block with the name in it
    block = ds.private_block(0x0009, "FAKE CREATOR", create=True)
    block.add_new(0x01, "LO", FAKE["name"])
    # overlay and curve groups
    ds.add_new(0x60000010, "US", 4)
    ds.add_new(0x60000011, "US", 4)
    ds.add_new(0x60003000, "OW", b"\x00\x00")
    ds.add_new(0x50000005, "US", 1)
    # nested: a request with the accession and a person name
    ds.RequestAttributesSequence = sequence(item(AccessionNumber=FAKE["accession"], RequestedProcedureID="RP1"))
    ds.AcquisitionContextSequence = sequence(item(ConceptNameCodeSequence=sequence()))
    ds.BodyPartExamined = "LSPINE"


def write_ct_series(folder: Path, n: int = 4, rows: int = 12, cols: int = 10) -> list[Path]:
    """Axial CT slices, PixelSpacing (0.5, 0.7) mm, 2.5 mm apart; every slice references the first."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    paths = []
    sop_uids = [f"1.2.826.0.1.3680043.8.498.3333.{k + 1}" for k in range(n)]
    for k in range(n):
        ds = new_dataset(CTImageStorage, sop_uids[k], modality="CT", series_uid=CT_SERIES_UID)
        ds.file_meta.SourceApplicationEntityTitle = "FAKEHOSP_PACS"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        _identify(ds, CT_SERIES_UID)
        ds.SeriesNumber = 3
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [-2.5, -4.0, 10.0 + 2.5 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.5, 0.7]
        ds.SliceThickness = 2.5
        ds.RescaleSlope = 1
        ds.RescaleIntercept = -1024
        ds.WindowCenter = 400
        ds.WindowWidth = 2000
        ds.KVP = 120
        ds.ReferencedImageSequence = sequence(item(
            ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=sop_uids[0],
            VerifyingObserverName=FAKE["physician"],  # a Person Name inside a kept sequence
        ))
        image_pixel(ds, rows, cols)
        ds.PixelData = rng.integers(0, 4096, (rows, cols), dtype=np.uint16).tobytes()
        paths.append(write(ds, folder / f"DOEFAKE_JOHNATHAN_{k:03d}.dcm"))  # identifying file names
    return paths


TEXT_BOX = (2, 3, 9, 40)  # (row0, col0, row1, col1) of the burned-in "name" drawn by write_xa_run(text=True)


def write_xa_run(folder: Path, frames: int = 5, rows: int = 16, cols: int = 20, *, compress: bool = True,
                 text: bool = False) -> Path:
    """XA multi-frame cine, 66.7 ms per frame, detector spacing + SID/SOD/ERMF, burned-in annotation."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    ds = new_dataset(XRayAngiographicImageStorage, "1.2.826.0.1.3680043.8.498.5555.1", modality="XA", series_uid=XA_SERIES_UID)
    _identify(ds, XA_SERIES_UID)
    ds.SeriesNumber = 5
    ds.InstanceNumber = 1
    ds.ImagerPixelSpacing = [0.308, 0.308]
    ds.DistanceSourceToDetector = 1009.0
    ds.DistanceSourceToPatient = 720.0
    ds.EstimatedRadiographicMagnificationFactor = 1.4014
    ds.FrameTime = 66.7
    ds.FrameIncrementPointer = 0x00181063
    ds.PositionerPrimaryAngle = 12.5
    ds.PositionerSecondaryAngle = -3.0
    ds.KVP = 78
    ds.XRayTubeCurrent = 9
    ds.BurnedInAnnotation = "YES"
    image_pixel(ds, rows, cols, frames=frames)
    arr = rng.integers(100, 4000, (frames, rows, cols), dtype=np.uint16)
    if text:  # glyph-like strokes at the 12-bit maximum, the same in every frame (an overlay burned in)
        r0, c0, r1, c1 = TEXT_BOX
        arr[:, r0:r1:2, c0:c1] = 4095
        arr[:, r0:r1, c0:c1:4] = 4095
    ds.PixelData = arr.tobytes()
    if compress:
        ds.compress(RLELossless, arr, generate_instance_uid=False)
    return write(ds, folder / "xa_run.dcm")
