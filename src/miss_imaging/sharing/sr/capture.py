"""Annotated figure -> DICOM Secondary Capture in the study of the source images.

What the surgeon saw, as pixels a PACS shows: the windowed image with the
measurement lines and their labels (value, unit, calibration), the scale bar
and the calibration line (:func:`miss_imaging.sharing.export.render_cine_frames`).
One frame: Secondary Capture Image Storage (highdicom ``SCImage``).  A cine
clip: Multi-frame True Color Secondary Capture, frames timed by
FrameTimeVector (0018,1065) from the source's own timing.

Burned-in text of the source (BurnedInAnnotation = YES, e.g. the patient's
name on a fluoro run) is blanked as in the GIF export; the capture itself has
BurnedInAnnotation = YES (its measurement labels are burned in) and carries
no patient text in its pixels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset

from miss_imaging import __version__
from miss_imaging.errors import SRError
from miss_imaging.sharing.export import blanked_volume, burned_in_regions, frame_times_ms, render_cine_frames
from miss_imaging.measurement.measure import Measurement
from miss_imaging.model import ImageVolume, Window
from miss_imaging.sharing.sr._refs import Package, evidence_headers, image_refs
from miss_imaging.sharing.sr.write import MANUFACTURER, _mark_deidentified

__all__ = ["save_annotated_sc", "MULTIFRAME_TRUE_COLOR_SC"]

MULTIFRAME_TRUE_COLOR_SC = "1.2.840.10008.5.1.4.1.1.7.4"


def _frames(volume: ImageVolume, frames: Sequence[int] | None, measurements: list[Measurement]) -> list[int]:
    n = int(volume.shape[0])
    if frames is None:  # the frames measured on, else the middle one
        frames = sorted({f for m in measurements for f in m.frame_indices}) or [n // 2]
    out = [int(k) for k in frames]
    bad = [k for k in out if not 0 <= k < n]
    if bad or not out:
        raise SRError(f"frames {bad or out} outside 0..{n - 1} of {volume.label}")
    return out


def _sc_dataset(rgb: np.ndarray, header: Dataset) -> Any:
    """Single-frame SC from one RGB frame, patient and study from the evidence header."""
    ds = hd.sc.SCImage(
        pixel_array=rgb, photometric_interpretation="RGB", bits_allocated=8, coordinate_system="PATIENT",
        study_instance_uid=str(header.StudyInstanceUID), series_instance_uid=hd.UID(), series_number=901,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer=MANUFACTURER,
        patient_id=str(header.get("PatientID", "")), patient_name=header.get("PatientName", ""),
        patient_birth_date=str(header.get("PatientBirthDate", "")), patient_sex=str(header.get("PatientSex", "")) or None,
        accession_number=str(header.get("AccessionNumber", "")), study_id=str(header.get("StudyID", "")),
        study_date=str(header.get("StudyDate", "")) or None, study_time=str(header.get("StudyTime", "")) or None,
        referring_physician_name=header.get("ReferringPhysicianName", ""), patient_orientation=("L", "F"),
        series_description="miss-imaging annotated capture",
    )
    ds.PatientOrientation = None  # type: ignore[assignment]  # type 2: unknown for a rendered figure (never guessed)
    ds.Laterality = None  # type: ignore[assignment]  # type 2C, empty: a spine figure has no laterality
    ds.ConversionType = "WSD"  # workstation rendering
    ds.BurnedInAnnotation = "YES"
    ds.DerivationDescription = f"annotated rendering (measurements, scale bar, calibration) by miss-imaging {__version__}"
    return ds


def _to_multiframe(ds: Any, frames: list[np.ndarray], durations_ms: Sequence[float]) -> None:
    """Turn the single-frame SC into a Multi-frame True Color SC of `frames`."""
    ds.SOPClassUID = MULTIFRAME_TRUE_COLOR_SC
    ds.file_meta.MediaStorageSOPClassUID = MULTIFRAME_TRUE_COLOR_SC
    ds.NumberOfFrames = len(frames)
    data = b"".join(np.ascontiguousarray(f, dtype=np.uint8).tobytes() for f in frames)
    ds.PixelData = data + (b"\0" if len(data) % 2 else b"")
    vector = [0.0] + [float(d) for d in durations_ms[:-1]]  # increment before each frame, first = 0
    ds.FrameTimeVector = [round(v, 3) for v in vector]
    ds.FrameIncrementPointer = 0x00181065


def save_annotated_sc(
    volume: ImageVolume,
    path: str | Path,
    *,
    measurements: Iterable[Measurement] = (),
    frames: Sequence[int] | None = None,
    window: Window | None = None,
    width_px: int = 512,
    deidentified: bool = False,
    package: Package | None = None,
    blank_regions: Sequence[tuple[int, int, int, int]] | None = None,
) -> Path:
    """Write the annotated figure as a DICOM Secondary Capture in the source's study.

    Parameters
    ----------
    volume : ImageVolume
        The series shown (with its source files).
    path : str or Path
        Output ``.dcm``.
    measurements : iterable of Measurement
        Drawn on the frame/slice they were made on.
    frames : sequence of int, optional
        Axis-0 indices to capture; more than one gives a multi-frame capture
        (a cine clip: pass ``range(n_frames)``).  Default: the frames
        measured on, else the middle one.
    window : Window, optional
        Display window (default the series' default).
    width_px : int
        Output width; the height follows the physical aspect ratio.
    deidentified, package
        As in :func:`miss_imaging.save_sr` (forced in teaching mode).
    blank_regions : list of (row0, col0, row1, col1), optional
        Source pixel boxes shown black; default the burned-in text found in
        a series flagged BurnedInAnnotation = YES.

    Returns
    -------
    Path
    """
    from miss_imaging.settings import get_teaching_mode

    path = Path(path)
    ms = list(measurements)
    idx = _frames(volume, frames, ms)
    deidentified = deidentified or get_teaching_mode() or package is not None
    if deidentified and package is None:
        package = Package(path.with_name(path.stem + "_images"))
    uid = package.uid if package is not None else (lambda u: u)
    refs = image_refs(volume)
    regions = burned_in_regions(volume) if blank_regions is None else list(blank_regions)
    images = render_cine_frames(blanked_volume(volume, regions), window=window, measurements=ms, frames=idx,
                                width_px=width_px)
    rgb = [np.asarray(im.convert("RGB"), dtype=np.uint8) for im in images]
    used = [refs[k] for k in idx]
    header = evidence_headers(volume, {uid(r.sop_instance_uid) for r in used}, package)[0]
    ds = _sc_dataset(rgb[0], header)
    if len(rgb) > 1:
        durations = frame_times_ms(volume)[0]
        starts = np.concatenate([[0.0], np.cumsum(durations)])
        ends = idx[1:] + [idx[-1] + 1]
        _to_multiframe(ds, rgb, [float(starts[e] - starts[s]) for s, e in zip(idx, ends)])
    items = []
    for r in {(r.sop_class_uid, r.sop_instance_uid): r for r in used}.values():
        item = Dataset()
        item.ReferencedSOPClassUID = r.sop_class_uid
        item.ReferencedSOPInstanceUID = uid(r.sop_instance_uid)
        fr = sorted({int(refs[k].frame_number or 0) for k in idx if refs[k].sop_instance_uid == r.sop_instance_uid
                     and refs[k].frame_number is not None})
        if fr:
            item.ReferencedFrameNumber = fr if len(fr) > 1 else fr[0]
        items.append(item)
    ds.SourceImageSequence = items
    if deidentified:
        _mark_deidentified(ds)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
