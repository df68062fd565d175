"""Hostile inputs for loader tests: one folder per problem under ``hostile/``.

Each case folder holds a tiny valid CT series (32 x 32, 6 slices, axial,
PixelSpacing [0.8, 0.7] mm, slice step 1.25 mm, a 6 mm bright disc that moves
one column per slice) plus the bad file, or is itself a damaged run (``gap``).
The bad file, where it is a slice, sits at the *end* of the run, so a loader
that drops it with a warning is left with a uniform 6-slice volume.  Every
case has its own Series/SOP Instance UIDs, so scanning all of ``hostile/`` at
once does not merge cases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import CTImageStorage

from _common import PATIENT, base_dataset, ds_list, uid, write
from dicom_builder import image_pixel

ROWS = COLS = 32
ROW_MM, COL_MM, STEP_MM = 0.8, 0.7, 1.25
N_VALID = 6
ORIGIN = np.array([-12.4, -12.0, -40.0])  # IPP of slice 0, LPS mm


def tiny_slice_pixels(k: int) -> np.ndarray:
    """Stored values (HU + 1024) of slice ``k``: water with a 6 mm disc of 700 HU at column 10 + k."""
    r, c = np.indices((ROWS, COLS))
    inside = np.hypot((r - 15.5) * ROW_MM, (c - 10 - k) * COL_MM) < 3.0
    return np.where(inside, 700 + 1024, 1024).astype(np.uint16)


def tiny_slice(case: str, k: int, *, position_index: float | None = None, instance: int | None = None) -> Dataset:
    """A valid axial CT slice of the case's tiny series, at ``position_index`` steps from ORIGIN."""
    pos = k if position_index is None else position_index
    ds = base_dataset(CTImageStorage, uid("instance", "hostile", case, k), modality="CT",
                      series_uid=uid("series", "hostile", case), series_number=900,
                      series_description=f"HOSTILE {case.upper()}")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = (k + 1) if instance is None else instance
    ds.ContentDate = PATIENT["StudyDate"]
    ds.ContentTime = "110000"
    ds.FrameOfReferenceUID = uid("frame-of-reference", "hostile", case)
    ds.PositionReferenceIndicator = ""
    ds.ImagePositionPatient = ds_list(ORIGIN + [0.0, 0.0, pos * STEP_MM])
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PixelSpacing = [str(ROW_MM), str(COL_MM)]
    ds.SliceThickness = str(STEP_MM)
    ds.KVP = "120"
    ds.PatientPosition = "HFS"
    ds.BodyPartExamined = "LSPINE"
    image_pixel(ds, ROWS, COLS)
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.PixelData = tiny_slice_pixels(int(round(pos))).tobytes()
    return ds


def write_valid_run(folder: Path, case: str, n: int = N_VALID) -> list[str]:
    names = []
    for k in range(n):
        name = f"CT{k + 1:03d}.dcm"
        write(tiny_slice(case, k), folder / name)
        names.append(name)
    return names


def _case(root: Path, case: str) -> tuple[Path, list[str]]:
    folder = root / case
    return folder, write_valid_run(folder, case)


def build(out_root: Path, truth: dict) -> dict:
    """Write ``hostile/<case>/``; return ``{"hostile": {case: description}}``."""
    root = out_root / "hostile"
    cases: dict[str, dict] = {}
    expected_ok = {"valid_slices": N_VALID, "shape": [N_VALID, ROWS, COLS],
                   "spacing_mm": [STEP_MM, ROW_MM, COL_MM]}

    folder, names = _case(root, "non_dicom")
    (folder / "notes.txt").write_text("Scanner export log: not a DICOM file.\n")
    (folder / "IM_TEXT").write_bytes(b"ASCII text without a DICOM preamble or header\n" * 4)
    cases["non_dicom"] = {"bad_files": ["notes.txt", "IM_TEXT"], "valid_files": names,
                          "problem": "text files (one without extension) beside a valid series",
                          "expected": {**expected_ok, "action": "skip the text files (warn or ignore)"}}

    folder, names = _case(root, "truncated")
    full = folder / "CT007.dcm"
    write(tiny_slice("truncated", N_VALID), full)
    data = full.read_bytes()
    full.write_bytes(data[: len(data) - ROWS * COLS])  # cut in the middle of PixelData
    cases["truncated"] = {"bad_files": ["CT007.dcm"], "valid_files": names,
                          "problem": f"file cut {ROWS * COLS} bytes before the end of PixelData "
                                     f"(header intact, pixel data half missing)",
                          "expected": {**expected_ok, "action": "skip CT007.dcm with a warning naming it"}}

    folder, names = _case(root, "no_preamble")
    ds = tiny_slice("no_preamble", N_VALID)
    del ds.file_meta
    ds.preamble = None
    # a bare data set (implicit VR little endian, no 128-byte preamble, no 'DICM', no file meta)
    dcmwrite(folder / "CT007_NOPREAMBLE", ds, implicit_vr=True, little_endian=True)
    cases["no_preamble"] = {"bad_files": ["CT007_NOPREAMBLE"], "valid_files": names,
                            "problem": "valid data set without preamble/DICM/file meta (implicit VR LE)",
                            "expected": {"valid_slices": N_VALID + 1, "shape": [N_VALID + 1, ROWS, COLS],
                                         "spacing_mm": [STEP_MM, ROW_MM, COL_MM],
                                         "action": "read it (pydicom force=True; its transfer syntax is implicit VR little endian) as slice 7, "
                                                   "or skip it with a warning (then 6 slices)"}}

    folder, names = _case(root, "missing_ipp")
    ds = tiny_slice("missing_ipp", N_VALID)
    del ds.ImagePositionPatient
    write(ds, folder / "CT007.dcm")
    cases["missing_ipp"] = {"bad_files": ["CT007.dcm"], "valid_files": names,
                            "problem": "slice without ImagePositionPatient (0020,0032)",
                            "expected": {**expected_ok, "action": "exclude CT007.dcm with a warning naming "
                                                                  "(0020,0032); never place it by InstanceNumber"}}

    folder, names = _case(root, "localizer")
    ds = tiny_slice("localizer", N_VALID, position_index=2.5, instance=N_VALID + 1)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.ImageOrientationPatient = ["0", "1", "0", "0", "0", "-1"]  # sagittal
    ds.ImagePositionPatient = ds_list([0.0, -12.0, -20.0])
    ds.PixelSpacing = ["1.5", "1.5"]
    write(ds, folder / "CT007_LOCALIZER.dcm")
    cases["localizer"] = {"bad_files": ["CT007_LOCALIZER.dcm"], "valid_files": names,
                          "problem": "sagittal localizer (ImageType ...\\LOCALIZER, other IOP and spacing) "
                                     "in the same series and folder",
                          "expected": {**expected_ok, "action": "exclude the localizer (or offer it as its own "
                                                                "image), never stack it"}}

    folder, names = _case(root, "duplicate")
    ds = tiny_slice("duplicate", 3)
    ds.SOPInstanceUID = uid("instance", "hostile", "duplicate", "copy-of-3")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.InstanceNumber = N_VALID + 1
    write(ds, folder / "CT007_DUP.dcm")
    cases["duplicate"] = {"bad_files": ["CT007_DUP.dcm"], "valid_files": names,
                          "problem": "same ImagePositionPatient as CT004.dcm, different SOPInstanceUID "
                                     "(identical pixels)",
                          "duplicate_of": "CT004.dcm",
                          "expected": {**expected_ok, "action": "warn about the duplicate position, keep one"}}

    folder = root / "gap"
    present = [k for k in range(N_VALID + 1) if k != 3]
    names = []
    for k in present:
        name = f"CT{k + 1:03d}.dcm"
        write(tiny_slice("gap", k), folder / name)
        names.append(name)
    cases["gap"] = {"bad_files": [], "valid_files": names, "missing_position_index": 3,
                    "problem": "7-slice uniform run (step 1.25 mm) with slice 4 (z = -36.25) missing: "
                               "one step of 2.5 mm",
                    "expected": {"valid_slices": N_VALID, "action": "warn about the missing slice / "
                                 "non-uniform spacing (regular=False or per-slice positions); never "
                                 "assume a uniform 1.25 mm step",
                                 "slice_z_lps_mm": [float(ORIGIN[2] + k * STEP_MM) for k in present]}}

    folder, names = _case(root, "zero_length_pixeldata")
    ds = tiny_slice("zero_length_pixeldata", N_VALID)
    ds.PixelData = b""
    write(ds, folder / "CT007.dcm")
    cases["zero_length_pixeldata"] = {"bad_files": ["CT007.dcm"], "valid_files": names,
                                      "problem": "PixelData (7FE0,0010) present with length 0",
                                      "expected": {**expected_ok, "action": "skip CT007.dcm with a warning "
                                                                            "naming (7FE0,0010)"}}

    folder, names = _case(root, "wrong_length_pixeldata")
    ds = tiny_slice("wrong_length_pixeldata", N_VALID)
    ds.PixelData = ds.PixelData[: -2 * COLS]  # one row short
    write(ds, folder / "CT007.dcm")
    cases["wrong_length_pixeldata"] = {"bad_files": ["CT007.dcm"], "valid_files": names,
                                       "problem": f"PixelData is {ROWS * COLS * 2 - 2 * COLS} bytes, "
                                                  f"Rows x Columns x 2 = {ROWS * COLS * 2}",
                                       "expected": {**expected_ok, "action": "skip CT007.dcm with a warning "
                                                                             "naming (7FE0,0010)"}}
    for case, info in cases.items():
        info["folder"] = f"hostile/{case}"
    return {"hostile": {
        "series": {"rows": ROWS, "columns": COLS, "pixel_spacing_tag": [ROW_MM, COL_MM],
                   "slice_step_mm": STEP_MM, "origin_lps_mm": ORIGIN.tolist(),
                   "image_orientation_patient": [1, 0, 0, 0, 1, 0], "bits_stored": 12,
                   "disc": "6 mm disc of 700 HU (stored 1724) in water (0 HU), centred at row 15.5, "
                           "column 10 + slice index"},
        "cases": cases,
    }}
