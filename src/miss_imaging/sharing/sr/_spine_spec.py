"""How each spine result of :mod:`miss_imaging.spine` maps onto one TID 1501 measurement group.

One table drives both writing (:mod:`.spine_groups`) and reading, so a
result read back is the same dataclass with the same values.  Concepts are
standard where PS3.16 has one (SCT Length, Width, Area, Diameter, Depth,
Angle; DCM Height; SCT finding sites: the intervertebral disc levels,
vertebral canal, pedicle of vertebra; SCT Screw), the rest in the local
scheme ``99MISSIMG`` (:data:`._codes.SCHEME`).  Field paths may be dotted
(``predicted_breach.grade``): the nested result is rebuilt from its fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from miss_imaging.sharing.sr._codes import CALIBRATION, SCHEME
from miss_imaging.spine import AccessPlan, Breach, Canal, DiscHeight, Foramen, Screw, ScrewPlan, Slip, SpineAngle


def _local(value: str, meaning: str) -> Code:
    return Code(value, SCHEME, meaning)


@dataclass(frozen=True)
class Num:
    """A numeric field: NUM content item with `code` and UCUM `unit` (and a Topographical modifier, if any)."""

    field: str
    code: Code
    unit: str
    optional: bool = False
    modifier: Code | None = None


@dataclass(frozen=True)
class Text:
    """A text field (or, with `multi`, a tuple of texts: one TEXT item each)."""

    field: str
    code: Code
    optional: bool = False
    multi: bool = False


@dataclass(frozen=True)
class Points:
    """An (N, 3) or (3,) LPS field: SCOORD3D INFERRED FROM the NUM of field `on`."""

    field: str
    code: Code
    graphic: str  # POINT, POLYLINE, POLYGON
    on: str
    optional: bool = False


@dataclass(frozen=True)
class Kind:
    """A spine result type: its finding, its fields, and the citation when it has no normal range."""

    cls: type
    finding: Code
    fields: tuple
    citation: str = ""
    nested: tuple[tuple[str, type], ...] = ()


# -- concepts --------------------------------------------------------------------------------------------------------
LABEL = _local("SPINELABEL", "Spine label (level, angle or screw name)")
DEFINITION = _local("DEFINITION", "Measurement definition")
FLAG = _local("FLAG", "Outside the published normal range")
NORMAL = _local("NORMALRANGE", "Published normal range")
TOPOGRAPHICAL_MODIFIER = codes.SCT.TopographicalModifier  # (106233006, SCT): which height of the disc
METHOD_CITATION = codes.DCM.MethodCitation  # (121423, DCM): the publication behind a definition or range
GRADE = {"meyerding": _local("MEYERDING", "Meyerding grade"),
         "gr": _local("GRGRADE", "Gertzbein-Robbins grade"),
         "stenosis": _local("STENOSIS", "Canal stenosis grade")}
DIRECTION = _local("BREACHDIR", "Breach direction")
SCREW = codes.SCT.Screw  # (68183006, SCT)
_DISC = re.compile(r"^LevelOf([CTLS]\d+)([CTLS]\d+)IntervertebralDisc$")
FINDING_SITES = {
    "canal": codes.SCT.VertebralCanal, "pedicle": codes.SCT.PedicleOfVertebra,
    **{"-".join(m.groups()): getattr(codes.SCT, n) for n in codes.SCT.dir() if (m := _DISC.match(n))},
}  # "L4-L5" -> (243923001, SCT, Level of L4/L5 intervertebral disc)

KINDS: dict[str, Kind] = {k.cls.__name__: k for k in (
    Kind(DiscHeight, _local("DISCHEIGHT", "Intervertebral disc height"), (
        Text("level", LABEL),
        Num("anterior_mm", codes.DCM.Height, "mm", modifier=codes.SCT.Anterior),
        Num("middle_mm", codes.DCM.Height, "mm", modifier=codes.SCT.Central),  # Hurxthal: endplate midpoints
        Num("posterior_mm", codes.DCM.Height, "mm", modifier=codes.SCT.Posterior))),
    Kind(SpineAngle, _local("SAGANGLE", "Sagittal spine angle"), (
        Text("name", LABEL), Num("degrees", codes.SCT.Angle, "deg"))),
    Kind(Slip, _local("SLIP", "Vertebral slip"), (
        Text("level", LABEL),
        Num("percent", _local("SLIPPCT", "Slip, percent of endplate length"), "%"),
        Num("mm", _local("SLIPMM", "Slip distance"), "mm"),
        Text("grade", GRADE["meyerding"])),
        citation="Meyerding HW, Surg Gynecol Obstet 1932;54:371-377"),
    Kind(Canal, _local("CANAL", "Bony spinal canal"), (
        Num("ap_mm", _local("CANALAP", "Canal anteroposterior diameter"), "mm"),
        Num("width_mm", codes.SCT.Width, "mm"),
        Num("area_mm2", codes.SCT.Area, "mm2"),
        Text("stenosis", GRADE["stenosis"]),
        Points("ap_points_lps", _local("APLINE", "Anteroposterior line"), "POLYLINE", "ap_mm"),
        Points("outline_lps", codes.DCM.Outline, "POLYGON", "area_mm2"),
        Points("centroid_lps", codes.DCM.Center, "POINT", "area_mm2"))),
    Kind(Foramen, _local("FORAMEN", "Neural foramen"), (
        Num("height_mm", codes.DCM.Height, "mm"),
        Num("width_mm", codes.SCT.Width, "mm"),
        Num("area_mm2", codes.SCT.Area, "mm2"),
        Points("height_points_lps", _local("HEIGHTLINE", "Foraminal height line"), "POLYLINE", "height_mm"),
        Points("outline_lps", codes.DCM.Outline, "POLYGON", "area_mm2"),
        Points("centroid_lps", codes.DCM.Center, "POINT", "area_mm2"))),
    Kind(Breach, _local("BREACH", "Pedicle screw cortical breach"), (
        Num("distance_mm", _local("BREACHMM", "Breach distance outside the cortex"), "mm"),
        Text("grade", GRADE["gr"]), Text("direction", DIRECTION, optional=True),
        Points("at_lps", _local("BREACHAT", "Point farthest outside"), "POINT", "distance_mm", optional=True)),
        citation="modified Gertzbein-Robbins, J Robot Surg 2024, doi:10.1007/s11701-024-02001-w"),
    Kind(Screw, SCREW, (
        Text("label", LABEL, optional=True),
        Num("length_mm", codes.SCT.Length, "mm"),
        Num("diameter_mm", codes.SCT.Diameter, "mm"),
        Points("entry_lps", _local("ENTRY", "Entry point"), "POINT", "length_mm"),
        Points("tip_lps", _local("TIP", "Tip"), "POINT", "length_mm"),
        Points("head_lps", _local("HEAD", "Screw head centre"), "POINT", "length_mm", optional=True))),
    Kind(ScrewPlan, _local("SCREWPLAN", "Planned pedicle screw trajectory"), (
        Num("length_mm", codes.SCT.Length, "mm"),
        Num("pedicle_width_mm", _local("ISTHMUSW", "Pedicle isthmus width"), "mm"),
        Num("suggested_diameter_mm", _local("SUGDIAM", "Suggested screw diameter"), "mm"),
        Num("suggested_length_mm", _local("SUGLEN", "Suggested screw length"), "mm"),
        Num("medial_angle_deg", _local("MEDIALANG", "Medial angulation"), "deg"),
        Num("caudal_angle_deg", _local("CAUDALANG", "Caudal angulation"), "deg"),
        Points("entry_lps", _local("ENTRY", "Entry point"), "POINT", "length_mm"),
        Points("target_lps", codes.DCM.Target, "POINT", "length_mm"),
        Points("isthmus_lps", _local("ISTHMUS", "Pedicle isthmus"), "POINT", "pedicle_width_mm"),
        Num("predicted_breach.distance_mm", _local("PREDBREACH", "Predicted breach distance"), "mm"),
        Text("predicted_breach.grade", _local("PREDGRADE", "Predicted Gertzbein-Robbins grade")),
        Text("predicted_breach.direction", _local("PREDDIR", "Predicted breach direction"), optional=True),
        Points("predicted_breach.at_lps", _local("PREDAT", "Predicted breach point"), "POINT",
               "predicted_breach.distance_mm", optional=True),
        Text("predicted_breach.calibration", _local("PREDCAL", "Predicted breach calibration")),
        Text("predicted_breach.definition", _local("PREDDEF", "Predicted breach definition")),
        Text("predicted_breach.flags", _local("PREDFLAG", "Predicted breach flag"), multi=True)),
        nested=(("predicted_breach", Breach),)),
    Kind(AccessPlan, _local("ACCESS", "Tubular access plan"), (
        Num("depth_mm", codes.SCT.Depth, "mm"),
        Num("tube_length_mm", _local("TUBELEN", "Tube length"), "mm", optional=True),
        Num("tube_diameter_mm", _local("TUBEDIAM", "Tube diameter"), "mm"),
        Num("incision_mm", _local("INCISION", "Incision length"), "mm"),
        Num("angle_from_vertical_deg", _local("VERTANG", "Angle from vertical (axial)"), "deg"),
        Num("cranial_angle_deg", _local("CRANIALANG", "Cranial angle (sagittal)"), "deg"),
        Points("target_lps", codes.DCM.Target, "POINT", "depth_mm"),
        Points("skin_entry_lps", _local("SKINENTRY", "Skin entry point"), "POINT", "depth_mm"))),
)}

#: fields every kind may have (written when the result has them)
COMMON = (Text("calibration", CALIBRATION), Text("definition", DEFINITION),
          Text("flags", FLAG, multi=True))
TRACKING_PREFIX = "miss-imaging:spine:"


def kind_of(obj: object) -> Kind | None:
    """The Kind of a spine result object, None for anything else."""
    return KINDS.get(type(obj).__name__) if type(obj) in {k.cls for k in KINDS.values()} else None


def site_of(obj: object) -> Code | None:
    """The SCT finding site of a result, when one fits (disc levels, the canal, the pedicle)."""
    level = getattr(obj, "level", None)
    if isinstance(level, str) and level.upper() in FINDING_SITES:
        return FINDING_SITES[level.upper()]
    if isinstance(obj, Canal):
        return FINDING_SITES["canal"]
    if isinstance(obj, (ScrewPlan, Breach)):
        return FINDING_SITES["pedicle"]
    return None
