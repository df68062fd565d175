"""Key Object Selection (PS3.3 A.35.4, TID 2010): flag chosen images "For Teaching" or "Of Interest".

The document title is the CID 7010 code ("For Teaching" 113004, "Of
Interest" 113000, both DCM); the note is the Key Object Description
(113012) TEXT.  The selected images are referenced by SOP instance (a KOS
names whole instances; the frames chosen are listed in the note).  SR and
SC files written by the same export can be flagged with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import highdicom as hd
import pydicom
from pydicom.sr.codedict import codes

from miss_imaging.errors import SRError
from miss_imaging.model import ImageVolume
from miss_imaging.sharing.sr._refs import Package, evidence_headers, image_refs
from miss_imaging.sharing.sr.write import MANUFACTURER, _mark_deidentified

__all__ = ["save_key_objects", "TITLES"]

#: accepted titles -> CID 7010 code
TITLES = {"For Teaching": codes.DCM.ForTeaching, "Of Interest": codes.DCM.OfInterest}


def save_key_objects(
    volume: ImageVolume,
    path: str | Path,
    *,
    frames: Sequence[int] | None = None,
    title: str = "For Teaching",
    note: str = "",
    also: Iterable[str | Path] = (),
    deidentified: bool = False,
    package: Package | None = None,
) -> Path:
    """Write a Key Object Selection document flagging images of `volume`.

    Parameters
    ----------
    volume : ImageVolume
        The series (with its source files).
    path : str or Path
        Output ``.dcm``.
    frames : sequence of int, optional
        Axis-0 indices (slices/frames) to flag; default all.
    title : {"For Teaching", "Of Interest"}
    note : str
        Key Object Description (up to 1024 characters).
    also : iterable of paths
        Further objects of the same study to flag (e.g. the SR and SC of the
        same export).
    deidentified, package
        As in :func:`miss_imaging.save_sr` (forced in teaching mode).

    Returns
    -------
    Path

    Raises
    ------
    SRError
        Unknown title, frames outside the volume, or a note that contains
        the patient's identifiers in a de-identified export.
    """
    from miss_imaging.settings import get_teaching_mode

    if title not in TITLES:
        raise SRError(f"Key Object title {title!r}: use one of {sorted(TITLES)}")
    path = Path(path)
    n = int(volume.shape[0])
    idx = list(range(n)) if frames is None else [int(k) for k in frames]
    if not idx or any(not 0 <= k < n for k in idx):
        raise SRError(f"frames {idx} outside 0..{n - 1} of {volume.label}")
    deidentified = deidentified or get_teaching_mode() or package is not None
    if deidentified and package is None:
        package = Package(path.with_name(path.stem + "_images"))
    if deidentified and note:
        from miss_imaging.sharing.deid import find_identifiers, identifier_variants

        if find_identifiers(note, identifier_variants(volume.patient or {})):
            raise SRError("the note contains a patient identifier; not written to a de-identified Key Object Selection")
    uid = package.uid if package is not None else (lambda u: u)
    refs = image_refs(volume)
    evidence = evidence_headers(volume, {uid(refs[k].sop_instance_uid) for k in idx}, package)
    extra: list[Any] = [pydicom.dcmread(p, stop_before_pixels=True) for p in also]
    text = note.strip()
    if any(r.frame_number is not None for r in refs):
        text = (text + "\n" if text else "") + "frames: " + ", ".join(str(k + 1) for k in idx)
    content = hd.ko.KeyObjectSelection(document_title=TITLES[title], referenced_objects=evidence + extra,
                                       description=text[:1024] or None)
    ko = hd.ko.KeyObjectSelectionDocument(
        evidence=evidence + extra, content=content, series_instance_uid=hd.UID(), series_number=902,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer=MANUFACTURER)
    if deidentified:
        _mark_deidentified(ko)
    path.parent.mkdir(parents=True, exist_ok=True)
    ko.save_as(path, enforce_file_format=True)
    return path
