"""What ``miss-imaging demo`` says about the spine tools on the bundled CT phantom: its screw, its grade, an access."""

from __future__ import annotations

import numpy as np

from miss_imaging.errors import MissImagingError
from miss_imaging.model import ImageVolume
from miss_imaging.spine.access import access_plan
from miss_imaging.spine.breach import breach
from miss_imaging.spine.screws import find_screws

__all__ = ["spine_demo_text"]


def spine_demo_text(volume: ImageVolume) -> str:
    """Screws found with length, diameter and breach grade, and a posterior access to the first one's entry."""
    try:
        screws = find_screws(volume)
    except MissImagingError as exc:
        return f"spine tools: {exc}"
    out = []
    for s in screws:
        try:
            b = breach(volume, s)
            grade = f"Gertzbein-Robbins {b.grade}" + (f" ({b.direction} {b.distance_mm:.1f} mm)" if b.direction else "")
        except MissImagingError as exc:
            grade = f"not gradable: {exc}"
        out.append(f"  {s.label}: length {s.length_mm:.1f} mm, diameter {s.diameter_mm:.1f} mm, {grade} "
                   f"[{s.calibration}]")
    try:
        a = access_plan(volume, screws[0].entry_lps, screws[0].entry_lps + np.array([0.0, 10.0, 0.0]))
        tube = "none in stock" if a.tube_length_mm is None else f"{a.tube_length_mm:.0f} mm tube"
        out.append(f"  access to {screws[0].label}'s entry from straight posterior: skin depth {a.depth_mm:.1f} mm, "
                   f"{tube}, incision {a.incision_mm:.0f} mm")
    except MissImagingError as exc:
        out.append(f"  access: {exc}")
    return "spine tools (miss_imaging.spine):\n" + "\n".join(out)
