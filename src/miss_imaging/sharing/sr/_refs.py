"""Which DICOM image (SOP instance, frame) each array index of a volume comes from, and the export package.

An :class:`~miss_imaging.model.ImageVolume` keeps its source files in array
order but not their SOP Instance UIDs; these are read back from the headers
(pixels are never read).  Slices are matched to array indices by position
(ImagePositionPatient projected on the slice axis), which also covers
enhanced multi-frame CT whose stored frame order differs from the array
order.  Projections count frames in file order (frame ``k`` = array index
``k``), as the loader stacks them.

:class:`Package` is one de-identified export: the source series copied once
by :func:`miss_imaging.sharing.deid.deidentify_series` with one secret salt, so that
the SR, Secondary Capture and Key Object Selection written into it reference
the UIDs of that copy (the same HMAC mapping), never the originals.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from miss_imaging.sharing.deid import DeidOptions, UIDMapper, deidentify_series
from miss_imaging.errors import SRError
from miss_imaging.model import ImageVolume

__all__ = ["ImageRef", "image_refs", "Package", "evidence_headers"]


@dataclass(frozen=True)
class ImageRef:
    """One image (or one frame of a multi-frame object) of a volume.

    ``frame_number`` is 1-based (PS3.3 C.7.6.6, Referenced Frame Number) and
    ``None`` for single-frame objects (no frame numbers may be referenced).
    """

    sop_class_uid: str
    sop_instance_uid: str
    frame_number: int | None
    path: Path


def _header(path: Path) -> Dataset:
    try:
        return pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception as exc:  # unreadable source: name it
        raise SRError(f"cannot read the header of source image: {exc}", path=path) from None


def _slice_index(volume: ImageVolume, ipp: np.ndarray) -> int:
    """Array slice index of a plane whose first pixel is at `ipp` (LPS mm)."""
    sp = volume.slice_positions
    if sp is not None and len(sp) == volume.shape[0]:
        return int(np.argmin(np.linalg.norm(np.asarray(sp) - ipp, axis=1)))
    return int(round(float(volume.patient_to_index(ipp)[0])))


def _frame_ipps(ds: Dataset) -> list[np.ndarray | None]:
    """IPP of every frame of a (possibly enhanced multi-frame) header."""
    n = int(ds.get("NumberOfFrames", 1) or 1)
    per = ds.get("PerFrameFunctionalGroupsSequence")
    if per is not None and len(per) == n:
        out: list[np.ndarray | None] = []
        for item in per:
            pos = item.get("PlanePositionSequence")
            out.append(np.array(pos[0].ImagePositionPatient, dtype=np.float64) if pos else None)
        return out
    ipp = ds.get("ImagePositionPatient")
    return [np.array(ipp, dtype=np.float64) if ipp is not None else None] * n


def image_refs(volume: ImageVolume) -> list[ImageRef]:
    """The image behind every axis-0 index of `volume` (slice or frame), in array order.

    Raises
    ------
    SRError
        The volume has no source files (computed or resliced) or its files do
        not account for every slice/frame.
    """
    if not volume.files:
        raise SRError(f"{volume.label} has no source DICOM files (a computed or resliced view): "
                      "measure on the original series to reference its images")
    n = int(volume.shape[0])
    refs: list[ImageRef | None] = [None] * n
    counter = 0
    for path in volume.files:
        ds = _header(Path(path))
        multi = "NumberOfFrames" in ds
        ipps = _frame_ipps(ds)
        for f, ipp in enumerate(ipps):
            if volume.kind == "projection" or ipp is None:
                k = counter
            else:
                k = _slice_index(volume, ipp)
            counter += 1
            if 0 <= k < n and refs[k] is None:
                refs[k] = ImageRef(str(ds.SOPClassUID), str(ds.SOPInstanceUID), f + 1 if multi else None, Path(path))
    missing = [k for k, r in enumerate(refs) if r is None]
    if missing:
        raise SRError(f"{volume.label}: no source image found for slice/frame index(es) {missing[:5]}"
                      f"{'...' if len(missing) > 5 else ''} (files do not match the loaded geometry)")
    return refs  # type: ignore[return-value]


class Package:
    """One de-identified export folder shared by the SR, SC and KOS written for teaching.

    Parameters
    ----------
    folder : str or Path
        Where the de-identified image copies go (``images_<n>/`` per series);
        created if needed.  The SR/SC/KOS files can be written anywhere (the
        caller usually puts them in this folder too).
    options : DeidOptions, optional
        De-identification options; a random secret ``uid_salt`` is drawn when
        none is given, so every object of this package maps UIDs alike.

    Notes
    -----
    Each series is copied once (first object that needs it); later objects
    reuse the copy.  UIDs are mapped with the same HMAC as the copy
    (:class:`miss_imaging.sharing.deid.UIDMapper`), so a reference in the SR names
    exactly the SOP Instance UID of the copied file.
    """

    def __init__(self, folder: str | Path, *, options: DeidOptions | None = None):
        self.folder = Path(folder)
        opts = options or DeidOptions()
        if opts.uid_salt is None:
            import dataclasses

            opts = dataclasses.replace(opts, uid_salt=secrets.token_bytes(32))
        self.options = opts
        self._uids = UIDMapper(opts.uid_salt)
        self.copies: dict[str, list[Path]] = {}  # source series UID -> de-identified files

    def uid(self, uid: str) -> str:
        """The UID this package gives to an original instance/series/study UID."""
        return self._uids(uid)

    def copy_of(self, volume: ImageVolume) -> list[Path]:
        """De-identified copy of `volume`'s source files (written on first use)."""
        if volume.series_uid not in self.copies:
            out = self.folder / f"images_{len(self.copies) + 1}"
            report = deidentify_series(volume.files, out, options=self.options, series_uid=volume.series_uid or None)
            self.copies[volume.series_uid] = list(report.files_written)
        return self.copies[volume.series_uid]


def evidence_headers(volume: ImageVolume, sop_uids: set[str], package: Package | None) -> list[Dataset]:
    """Headers of the referenced instances (from the de-identified copy when `package` is given).

    With a package, `sop_uids` are the *mapped* UIDs.
    """
    files = package.copy_of(volume) if package is not None else [Path(f) for f in volume.files]
    out, seen = [], set()
    for f in files:
        ds = _header(Path(f))
        uid = str(ds.SOPInstanceUID)
        if uid in sop_uids and uid not in seen:
            seen.add(uid)
            out.append(ds)
    if not out:
        raise SRError(f"{volume.label}: none of the referenced images was found among its files")
    return out
