"""Coded concepts of the miss-imaging SR (PS3.16), and the local coding scheme.

Standard codes where PS3.16 has one; the rest in the private scheme
``99MISSIMG`` (PS3.16 8.2: designators beginning with "99" are local),
declared in the CodingSchemeIdentificationSequence of every object.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

SCHEME = "99MISSIMG"
#: dcmjs / OHIF's free-text finding: CodeMeaning is the label the user typed
FREE_TEXT = ("CORNERSTONEFREETEXT", "CST4")

# TID 300 concept names by measurement kind (as OHIF/dcmjs write them)
LENGTH = Code("410668003", "SCT", "Length")
PATH_LENGTH = Code("121211", "DCM", "Path length")
ANGLE = Code("1483009", "SCT", "Angle")
COBB = Code("285285000", "SCT", "Cobb angle")
CONCEPT = {"distance": LENGTH, "path": PATH_LENGTH, "angle": ANGLE, "cobb": COBB}

# units (UCUM); "{pixels}" is a UCUM annotation (dimensionless) for values without spacing
UNITS = {"mm": Code("mm", "UCUM", "millimeter"), "deg": Code("deg", "UCUM", "degree"),
         "px": Code("{pixels}", "UCUM", "pixels"), "%": Code("%", "UCUM", "percent"),
         "mm2": Code("mm2", "UCUM", "square millimeter")}
#: lengths read from other tools: UCUM code -> factor to mm
LENGTH_UNITS = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "um": 1e-3}
ANGLE_UNITS = {"deg": 1.0, "rad": 57.29577951308232}

# calibration items (children of the value, HAS PROPERTIES)
CALIBRATION = Code("122505", "DCM", "Calibration")  # TEXT: the label shown beside the value
CALIBRATION_METHOD = Code("122422", "DCM", "Calibration Method")  # CODE from CID 3452
CALIBRATION_OBJECT = Code("122421", "DCM", "Calibration Object")  # TEXT: what the user measured
CALIBRATION_OBJECT_SIZE = Code("122423", "DCM", "Calibration Object Size")  # NUM mm
VERTICAL_SPACING = Code("111066", "DCM", "Vertical Pixel Spacing")  # NUM mm per row
HORIZONTAL_SPACING = Code("111026", "DCM", "Horizontal Pixel Spacing")  # NUM mm per column
DETECTOR_VERTICAL = Code("DETROWSPACING", SCHEME, "Detector vertical pixel spacing")
DETECTOR_HORIZONTAL = Code("DETCOLSPACING", SCHEME, "Detector horizontal pixel spacing")
IN_DETECTOR_PLANE = Code("113941", "DCM", "In Detector Plane")  # method of the detector-plane value

# CID 3452 Calibration Method
OBJECT_USED = Code("122488", "DCM", "Calibration Object Used")
GEOMETRIC_ISOCENTER = Code("122486", "DCM", "Geometric Isocenter")

#: Measurement Method (SCT 370129005) by Calibration.source: what the mm rest on
METHODS = {
    "geometry": Code("GEOMETRY", SCHEME, "patient geometry (cross-sectional)"),
    "volume": Code("VOLUME", SCHEME, "spacing of the image"),
    "calibrated": Code("CALIBRATED", SCHEME, "calibrated Pixel Spacing of the image"),
    "ermf": Code("ERMF", SCHEME, "magnification-corrected (ERMF)"),
    "sid_sod": Code("SIDSOD", SCHEME, "magnification-corrected (SID/SOD)"),
    "detector": Code("DETECTOR", SCHEME, "at detector (not corrected)"),
    "user": Code("USER", SCHEME, "user-calibrated (known object length)"),
    "pixels": Code("PIXELS", SCHEME, "pixels only (no physical spacing)"),
}
SOURCE_OF_METHOD = {c.value: k for k, c in METHODS.items()}


_LABEL_SOURCES = (
    ("magnification-corrected (ERMF)", "ermf"), ("magnification-corrected (SID/SOD)", "sid_sod"),
    ("at detector", "detector"), ("user-calibrated", "user"), ("calibrated", "calibrated"),
    ("Pixel Spacing", "calibrated"), ("pixels only", "pixels"),
)


def source_of(source: str, label: str) -> str:
    """The specific source of a calibration whose source is the generic ``"volume"`` (read from its label)."""
    if source != "volume":
        return source
    return next((s for prefix, s in _LABEL_SOURCES if label.startswith(prefix)), "volume")


def cid3452(source: str, label: str) -> Code | None:
    """The standard Calibration Method (CID 3452) for a calibration source, if one fits."""
    if source == "user" or label.endswith("(FIDUCIAL)"):
        return OBJECT_USED
    if source in ("ermf", "sid_sod") or label.endswith("(GEOMETRY)"):
        return GEOMETRIC_ISOCENTER
    return None


def coding_schemes(with_free_text: bool) -> list[Dataset]:
    """CodingSchemeIdentificationSequence items for the local schemes used."""
    items = []
    for designator, name in ((SCHEME, "miss-imaging local codes"),
                             *((FREE_TEXT[1], "Cornerstone free text (dcmjs)"),) * with_free_text):
        item = Dataset()
        item.CodingSchemeDesignator = designator
        item.CodingSchemeName = name
        item.CodingSchemeResponsibleOrganization = "miss-imaging" if designator == SCHEME else "OHIF / dcmjs"
        items.append(item)
    return items
