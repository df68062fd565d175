"""Virtual C-arm: cone-beam geometry with DICOM positioner angles and DRRs from a CT.

``CArm`` (:mod:`.geometry`) holds a pose and a detector and projects patient
LPS points to detector pixels; ``drr`` (:mod:`.radiograph`) computes the shot as a
projection :class:`~miss_imaging.model.ImageVolume` tagged like a real XA
(ImagerPixelSpacing, SID, SOD, ERMF = SID/SOD, positioner angles), so the
usual calibration and measurements apply unchanged.
"""

from __future__ import annotations

from .radiograph import DRRError, drr, hu_to_mu, line_integrals
from .geometry import PRESETS, CArm

__all__ = ["CArm", "PRESETS", "drr", "line_integrals", "hu_to_mu", "DRRError"]
