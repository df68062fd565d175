"""Spine tools: the answers a MISS surgeon measures for, each with its calibration and definition.

Points are patient LPS mm (array-likes of shape (3,) or (N, 3)); volumes are
:class:`~miss_imaging.model.ImageVolume`.  Contract::

    Vertebra(label, corners)                      # AS, PS, PI, AI corners
    snap_corners(volume, corners, *, radius_mm=3.0)
    disc_height(upper, lower) -> .anterior_mm .middle_mm .posterior_mm
    disc_angle(upper, lower), segmental_angle(upper, lower), lordosis(vertebrae, upper="L1", lower="S1")
    slip(upper, lower) -> .percent .grade
    canal(volume, seed_lps, *, normal=None) -> .ap_mm .area_mm2 .outline_lps .stenosis
    foramen(volume, seed_lps, *, normal=None) -> .height_mm
    find_screws(volume) -> [Screw(.entry_lps .tip_lps .axis .length_mm .diameter_mm)]
    breach(volume, screw) -> .distance_mm .direction .grade
    plan_screw(volume, entry_lps, target_lps) -> ScrewPlan
    access_plan(volume, target_lps, toward_lps, *, tube_diameter_mm=18.0, margin_mm=2.0) -> AccessPlan

Definitions, normal values and their sources: :mod:`miss_imaging.spine.norms`
and the README's "Spine tools" section.
"""

from __future__ import annotations

from miss_imaging.spine.access import TUBE_LENGTHS_MM, AccessPlan, access_plan
from miss_imaging.spine.breach import Breach, breach
from miss_imaging.spine.canal import Canal, Foramen, canal, foramen
from miss_imaging.spine.disc import DiscHeight, Slip, SpineAngle, disc_angle, disc_height, lordosis, segmental_angle, slip
from miss_imaging.spine.norms import NormalRange, gertzbein_robbins_grade, meyerding_grade, stenosis_grade
from miss_imaging.spine.records import access_records, canal_records, level_records, plan_records, screw_records
from miss_imaging.spine.plan import STOCK_DIAMETERS_MM, ScrewPlan, plan_screw
from miss_imaging.spine.screws import METAL_HU, Screw, find_screws
from miss_imaging.spine.vertebra import CORNER_NAMES, Vertebra, snap_corners

__all__ = [
    "AccessPlan", "Breach", "CORNER_NAMES", "Canal", "DiscHeight", "Foramen", "METAL_HU", "NormalRange",
    "STOCK_DIAMETERS_MM", "Screw", "ScrewPlan", "Slip", "SpineAngle", "TUBE_LENGTHS_MM", "Vertebra",
    "access_plan", "breach", "canal", "disc_angle", "disc_height", "find_screws", "foramen",
    "gertzbein_robbins_grade", "lordosis", "meyerding_grade", "plan_screw", "segmental_angle", "slip",
    "snap_corners", "stenosis_grade", "level_records", "screw_records", "plan_records", "access_records",
    "canal_records",
]
