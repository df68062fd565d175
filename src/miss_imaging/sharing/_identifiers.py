"""Patient identifiers and the variants under which they may appear, for searching.

Used by :mod:`miss_imaging.sharing.deid` (to scrub identifiers typed into attributes
the profile keeps) and by the leak tests (to search written files and
displayed text).  Names are DICOM PN values (``FAMILY^GIVEN^MIDDLE``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import pydicom
from pydicom.dataset import Dataset

__all__ = ["identifier_variants", "patient_identifiers", "find_identifiers"]

# attributes whose values :func:`patient_identifiers` collects before de-identification
_IDENTIFIER_SOURCES = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "OtherPatientIDs",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientMotherBirthName",
    "AccessionNumber",
    "StudyID",
    "InstitutionName",
    "InstitutionAddress",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "MedicalRecordLocator",
    "AdmissionID",
)
_MIN_PART = 3  # name parts shorter than this are too common to search for


def _date_variants(value: str) -> set[str]:
    m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", value.strip())
    if not m:
        return {value} if value else set()
    y, mo, d = m.groups()
    return {
        f"{y}{mo}{d}",
        f"{y}-{mo}-{d}",
        f"{y}/{mo}/{d}",
        f"{y}.{mo}.{d}",
        f"{d}.{mo}.{y}",
        f"{d}/{mo}/{y}",
        f"{mo}/{d}/{y}",
        f"{d}-{mo}-{y}",
        f"{mo}-{d}-{y}",
    }


def _name_variants(value: str) -> set[str]:
    parts = [p for p in re.split(r"[\^ ,]+", value) if p]
    out = {value, " ".join(parts)}
    out |= {p for p in parts if len(p) >= _MIN_PART}
    if len(parts) >= 2:
        fam, giv = parts[0], parts[1]
        out |= {f"{giv} {fam}", f"{fam}, {giv}", f"{fam} {giv}", f"{fam},{giv}", f"{fam}^{giv}"}
    return out


def identifier_variants(
    values: Mapping[str, Any] | Iterable[Any] = (), *, names: Iterable[str] = (), dates: Iterable[str] = ()
) -> set[str]:
    """Strings under which identifiers may appear, for searching.

    Parameters
    ----------
    values : mapping or iterable
        IDs, accession numbers, institution names, dates... used whole;
        ``YYYYMMDD`` values get date variants.  A mapping's values are used,
        and the values of keys containing "name" (but not "institution") are
        treated as person names.  List values are expanded.
    names : iterable of str
        Person names (DICOM PN ``FAMILY^GIVEN^MIDDLE`` or free order).
    dates : iterable of str
        Extra ``YYYYMMDD`` dates (birth dates) to expand.

    Returns
    -------
    set of str
        The values, person-name parts of at least 3 characters,
        "GIVEN FAMILY" / "FAMILY, GIVEN" / "FAMILY GIVEN" orders, and dates in
        compact, ISO, dotted, slashed and dashed day/month orders.  Search
        them case-insensitively (:func:`find_identifiers`).
    """
    names = list(names)
    plain: list[Any] = []
    if isinstance(values, Mapping):
        for key, v in values.items():
            k = str(key).lower()
            (names if "name" in k and "institution" not in k else plain).append(v)
    else:
        plain = list(values)

    def flat(items: Iterable[Any]) -> list[str]:
        out = []
        for v in items:
            if v is None:
                continue
            if isinstance(v, (list, tuple, set, pydicom.multival.MultiValue)):
                out += [str(x).strip() for x in v]
            else:
                out.append(str(v).strip())
        return [v for v in out if v]

    out: set[str] = set()
    for value in flat(plain):
        out |= _date_variants(value) if re.fullmatch(r"\d{8}", value) else {value}
    for value in flat(names):
        out |= _name_variants(value)
    for d in flat(dates):
        out |= _date_variants(d)
    return {v for v in out if len(v) >= _MIN_PART}


_NAME_SOURCES = frozenset(
    {"PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName",
     "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName"}
)


def patient_identifiers(ds: Dataset) -> set[str]:
    """Identifier variants of one data set (before de-identification)."""
    names: list[Any] = []
    values: list[Any] = []
    for kw in _IDENTIFIER_SOURCES:
        v = ds.get(kw)
        if v is None or v == "":
            continue
        v = [str(x) for x in v] if isinstance(v, (list, pydicom.multival.MultiValue)) else str(v)
        (names if kw in _NAME_SOURCES else values).append(v)
    for item in ds.get("OtherPatientIDsSequence", []) or []:
        if item.get("PatientID"):
            values.append(str(item.PatientID))
    return identifier_variants(values, names=names)


def find_identifiers(data: bytes | str, identifiers: Iterable[str]) -> list[str]:
    """Identifiers found in `data`, case-insensitively (bytes as Latin-1, UTF-8 and UTF-16)."""
    if isinstance(data, bytes):
        hay = data.lower()
        found = []
        for ident in identifiers:
            low = ident.lower()
            if any(enc in hay for enc in (low.encode("utf-8"), low.encode("latin-1", "ignore"),
                                          low.encode("utf-16-le"), low.encode("utf-16-be"))):
                found.append(ident)
        return sorted(set(found))
    text = data.lower()
    return sorted({i for i in identifiers if i.lower() in text})
