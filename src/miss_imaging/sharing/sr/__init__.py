"""Measurements as DICOM: Structured Report (TID 1500), annotated Secondary Capture, Key Objects.

* :func:`save_sr` / :func:`load_sr` (:mod:`.write`, :mod:`.read`): measurements
  of one series as a TID 1500 Measurement Report and back; spine results
  (:mod:`miss_imaging.spine`) as groups of their own (:mod:`.spine_groups`).
* :func:`save_annotated_sc` (:mod:`.capture`): the annotated figure (or a cine
  clip, multi-frame) as a Secondary Capture in the same study.
* :func:`save_key_objects` (:mod:`.key_objects`): Key Object Selection "For
  Teaching" / "Of Interest" with a note.
* :class:`Package`: one de-identified export shared by all of them (teaching).
"""

from __future__ import annotations

from miss_imaging.sharing.sr._refs import ImageRef, Package, image_refs
from miss_imaging.sharing.sr.capture import save_annotated_sc
from miss_imaging.sharing.sr.key_objects import save_key_objects
from miss_imaging.sharing.sr.read import SRMeasurements, load_sr, lps_to_index
from miss_imaging.sharing.sr.write import save_sr

__all__ = ["save_sr", "load_sr", "SRMeasurements", "save_annotated_sc", "save_key_objects", "Package",
           "ImageRef", "image_refs", "lps_to_index"]
