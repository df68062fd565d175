"""Shared pieces of the phantom generator: UIDs, fixed identifiers, writing.

Everything here is deterministic: UIDs are name-based UUIDs of fixed strings
(``2.25.<int>`` of a UUID version 5, ISO/IEC 9834-8; note that
``pydicom.uid.generate_uid(prefix=None, ...)`` ignores its entropy sources and
is random), dates and times are constants, and the file meta information names
this generator instead of the installed pydicom version, so that regenerating
gives byte-identical files on any machine.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from pydicom import config
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from dicom_builder import new_dataset, write  # noqa: F401 - write is re-exported to the phantom modules

#: Fixed seed text of every UID: changing it changes every file.
UID_ROOT_TEXT = "miss-imaging sample phantoms v1"
#: Implementation identity written into the file meta (instead of pydicom's own).
IMPLEMENTATION_VERSION_NAME = "MISSIMG_PHANTOM1"

#: Fake but realistic identifiers, distinctive so that tests can search raw bytes for them.
PATIENT: dict[str, str] = {
    "PatientName": "SPINEPHANTOM^JANE^Q",
    "PatientID": "MISS-000417",
    "PatientBirthDate": "19580314",
    "PatientSex": "F",
    "PatientAge": "068Y",
    "OtherPatientIDs": "MISS-ALT-99021",
    "PatientAddress": "17 PHANTOM LANE^SPRINGFIELD",
    "InstitutionName": "ST PHANTOMS SPINE HOSPITAL",
    "InstitutionAddress": "1 PHANTOM WAY, SPRINGFIELD",
    "ReferringPhysicianName": "REFERRER^ROBERT^DR",
    "PerformingPhysicianName": "SURGEON^SARAH^DR",
    "OperatorsName": "RADTECH^OLIVER",
    "AccessionNumber": "ACC-PH-55821",
    "StudyID": "STUDY-PH-0417",
    "StudyDate": "20260314",
    "StudyTime": "101530",
    "StationName": "ORSUITE3-CARM",
}


@contextmanager
def strict_validation() -> Iterator[None]:
    """Make pydicom raise on invalid values (wrong VR, too long) while generating.

    Restores the previous modes afterwards, so that importing or running the
    generator inside a test session does not change pydicom's behaviour elsewhere.
    """
    saved = (config.settings.reading_validation_mode, config.settings.writing_validation_mode)
    config.settings.reading_validation_mode = config.RAISE
    config.settings.writing_validation_mode = config.RAISE
    try:
        yield
    finally:
        config.settings.reading_validation_mode, config.settings.writing_validation_mode = saved


def uid(*parts: object) -> UID:
    """Deterministic UID for the object named by ``parts`` (``2.25.`` + UUID5 as integer)."""
    text = "|".join([UID_ROOT_TEXT, *map(str, parts)])
    return UID(f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, text).int}")


#: The study every phantom belongs to (one patient, one study, several series).
STUDY_UID = uid("study")
IMPLEMENTATION_CLASS_UID = uid("implementation")


def ds_str(value: float, decimals: int = 6) -> str:
    """Format a float as a Decimal String (<= 16 chars) with a fixed number of decimals.

    Trailing zeros are dropped so that the text is short; the value written is
    exactly ``float(ds_str(value))``: truth is computed from that, not from
    ``value``.
    """
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    if len(text) > 16:
        raise ValueError(f"DS {text!r} is longer than 16 characters")
    return text


def ds_list(values: Any, decimals: int = 6) -> list[str]:
    """:func:`ds_str` over a sequence."""
    return [ds_str(float(v), decimals) for v in values]


def as_written(values: Any, decimals: int = 6) -> np.ndarray:
    """The float64 values a reader gets back from :func:`ds_list`."""
    return np.array([float(s) for s in ds_list(values, decimals)], dtype=np.float64)


def base_dataset(sop_class: str, sop_instance: str, *, modality: str, series_uid: str,
                 series_number: int, series_description: str, transfer_syntax: str = ExplicitVRLittleEndian
                 ) -> Dataset:
    """Dataset with file meta and the Patient, General Study, General Series,
    General Equipment and SOP Common attributes (types 1 and 2) filled in."""
    ds = new_dataset(sop_class, sop_instance, modality=modality, series_uid=series_uid,
                     transfer_syntax=transfer_syntax, implementation_uid=IMPLEMENTATION_CLASS_UID,
                     implementation_version=IMPLEMENTATION_VERSION_NAME)
    ds.preamble = b"\x00" * 128
    # SOP Common
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.InstanceCreationDate = PATIENT["StudyDate"]
    ds.InstanceCreationTime = "102000"
    # General Study
    ds.StudyDate = PATIENT["StudyDate"]
    ds.StudyTime = PATIENT["StudyTime"]
    ds.AccessionNumber = PATIENT["AccessionNumber"]
    ds.ReferringPhysicianName = PATIENT["ReferringPhysicianName"]
    ds.StudyDescription = "LUMBAR SPINE INSTRUMENTATION L4-L5"
    ds.StudyInstanceUID = STUDY_UID
    ds.StudyID = PATIENT["StudyID"]
    # General Series
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description
    ds.SeriesDate = PATIENT["StudyDate"]
    ds.SeriesTime = "101800"
    ds.PerformingPhysicianName = PATIENT["PerformingPhysicianName"]
    ds.OperatorsName = PATIENT["OperatorsName"]
    # Patient + Patient Study
    ds.PatientName = PATIENT["PatientName"]
    ds.PatientID = PATIENT["PatientID"]
    ds.PatientBirthDate = PATIENT["PatientBirthDate"]
    ds.PatientSex = PATIENT["PatientSex"]
    # (0010,1000) is retired but common in real files: de-identification must still remove it
    ds.OtherPatientIDs = PATIENT["OtherPatientIDs"]
    other = Dataset()
    other.PatientID = PATIENT["OtherPatientIDs"]
    other.IssuerOfPatientID = PATIENT["InstitutionName"]
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = [other]
    ds.PatientAddress = PATIENT["PatientAddress"]
    ds.PatientAge = PATIENT["PatientAge"]
    ds.PatientSize = "1.64"
    ds.PatientWeight = "61"
    # General Equipment
    ds.Manufacturer = "MISS-IMAGING PHANTOM WORKS"
    ds.InstitutionName = PATIENT["InstitutionName"]
    ds.InstitutionAddress = PATIENT["InstitutionAddress"]
    ds.StationName = PATIENT["StationName"]
    ds.ManufacturerModelName = "SYNTHETIC-1"
    ds.DeviceSerialNumber = "PH-0001"
    ds.SoftwareVersions = "generate.py 1"
    return ds


def random_names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct 8-hex-digit file names (no extension), in random order."""
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < n:
        name = "".join(rng.choice(list("0123456789ABCDEF"), 8))
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def rounded(x: Any, nd: int = 9) -> Any:
    """Round floats (recursively through lists/tuples/arrays) for a stable truth.json."""
    if isinstance(x, np.ndarray):
        return rounded(x.tolist(), nd)
    if isinstance(x, (list, tuple)):
        return [rounded(v, nd) for v in x]
    if isinstance(x, dict):
        return {k: rounded(v, nd) for k, v in x.items()}
    if isinstance(x, (float, np.floating)):
        v = round(float(x), nd)
        return 0.0 if v == 0 else v
    if isinstance(x, np.integer):
        return int(x)
    return x
