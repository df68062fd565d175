"""A small synthetic archive for the batch tests and benchmark: one folder per patient, named after them.

Built from the de-identification fixtures (CT series + XA run full of fake
identifiers) and the loader factory (a CT with a missing slice), with the
UIDs and the patient's name and ID made distinct per study.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.encaps import encapsulate

from _deid_fixtures import FAKE, write_ct_series, write_xa_run
from loader_factory import ct_slices, phantom

UID_ROOT = "1.2.826.0.1.3680043.8.498.77"


def patient(k: int) -> dict[str, str]:
    """Fake identity of patient `k` (its folder is named after it)."""
    return {"name": f"ZEBRAFAKE{k:03d}^JOHNATHAN", "id": f"PID-{700100 + k}", "folder": f"ZEBRAFAKE{k:03d}_JOHNATHAN",
            "family": f"ZEBRAFAKE{k:03d}"}


def _personalize(paths: list[Path], k: int) -> None:
    """Give the files of study `k` their own UIDs and the patient's name and ID."""
    who = patient(k)
    dss = [pydicom.dcmread(p) for p in paths]
    new = {str(ds.SOPInstanceUID): f"{UID_ROOT}.{k}.1.{i + 1}" for i, ds in enumerate(dss)}
    series = {uid: f"{UID_ROOT}.{k}.2.{i + 1}" for i, uid in enumerate(sorted({str(d.SeriesInstanceUID) for d in dss}))}
    for p, ds in zip(paths, dss):
        ds.PatientName, ds.PatientID = who["name"], who["id"]
        if "ConvolutionKernel" in ds:  # the fixtures type the family name into attributes the profile keeps
            ds.ConvolutionKernel = who["family"]
            ds.ImageComments = f"patient {who['family']} moved"
        ds.StudyInstanceUID = f"{UID_ROOT}.{k}"
        ds.SeriesInstanceUID = series[str(ds.SeriesInstanceUID)]
        ds.FrameOfReferenceUID = f"{UID_ROOT}.{k}.9"
        ds.SOPInstanceUID = new[str(ds.SOPInstanceUID)]
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        for item in ds.get("ReferencedImageSequence", []):
            item.ReferencedSOPInstanceUID = new[str(item.ReferencedSOPInstanceUID)]
        ds.save_as(p, enforce_file_format=True)


def write_study(src: Path, k: int, *, frames: int = 4, size: int = 128) -> Path:
    """Patient `k`: a 4-slice CT and an XA run with burned-in text (RLE); returns the patient folder."""
    folder = src / patient(k)["folder"]
    paths = write_ct_series(folder / "CT")
    paths.append(write_xa_run(folder / "XA", frames=frames, rows=size, cols=size, text=True))
    _personalize(paths, k)
    return folder


def write_gap_ct(src: Path, k: int) -> Path:
    """Patient `k`: a CT of 6 slices with the 4th missing (a gap), ImplicitVR, from the loader factory."""
    folder = src / patient(k)["folder"] / "CT_GAP"
    pos = np.array([[0.0, 0.0, 1.25 * i] for i in (0, 1, 2, 4, 5)])
    paths, _ = ct_slices(folder, phantom(5), positions=pos, series_uid="1.2.3.4.100")
    _personalize(paths, k)
    return folder


def write_hostile_study(src: Path, k: int) -> Path:
    """Patient `k`: an XA run flagged burned-in whose RLE pixel data cannot be decoded, and a non-DICOM file."""
    folder = write_study(src, k)
    xa = folder / "XA" / "xa_run.dcm"
    ds = pydicom.dcmread(xa)
    frames = int(ds.NumberOfFrames)
    ds.PixelData = encapsulate([b"\x01\x00\x00\x00" + b"\xff" * 60] * frames)  # RLE header claims 1 segment, garbage
    ds.save_as(xa, enforce_file_format=True)
    (folder / "notes about ZEBRAFAKE.txt").write_text(f"{patient(k)['name']} called on Monday")
    return folder


def build_archive(src: Path, n: int, *, hostile: int | None = None, gap: int | None = None, **kw) -> list[int]:
    """`n` patient folders (0..n-1); `hostile` / `gap` pick special ones. Returns the patient numbers."""
    for k in range(n):
        if k == hostile:
            write_hostile_study(src, k)
        elif k == gap:
            write_gap_ct(src, k)
        else:
            write_study(src, k, **kw)
    return list(range(n))


def identifiers(n: int) -> list[str]:
    """Every fake identity in the archive (for leak searches)."""
    out = [FAKE["name"], FAKE["id"], FAKE["accession"], FAKE["institution"], FAKE["other_id"], FAKE["physician"],
           "Test Hospital", "DOEFAKE_JOHNATHAN", "JOHNATHAN"]  # (names and IDs of the builders are replaced)
    for k in range(n):
        out += [patient(k)["name"], patient(k)["id"], patient(k)["folder"], f"ZEBRAFAKE{k:03d}"]
    return out
