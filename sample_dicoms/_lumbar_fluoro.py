"""``lumbar_fluoro/``: C-arm shots of the anatomical lumbar phantom (the same patient as lumbar_ct).

Made with the virtual C-arm of the core library (``miss_imaging.carm.line_integrals``, a DRR
of the committed ``lumbar_ct`` series) plus an analytic steel needle (exact chord length of
each ray through a cylinder, 3 x 3 rays per pixel), seeded Poisson quantum noise, the
library's fluoroscopy display (``value = 4095 (1 - L / 10)``, dense anatomy dark),
rectangular collimation (0 outside) and burned-in text.  Truth is computed here with an
independent cone-beam projection of the analytic model's points (never from the pixels).

* ``AP.dcm``: XA, one frame, Positioner Primary/Secondary 0/0, isocentre at the L4 body centre.
* ``LATERAL.dcm``: XA, one frame, LAO 90 (source on the patient's right), same isocentre.
* ``NEEDLE_CINE.dcm``: XA cine, lateral, a 3 mm (11 G) bone-access needle advancing along the
  left L3 pedicle axis, 2.5 mm per frame, FrameTime 200 ms (5 pulses/s).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import XRayAngiographicImageStorage

import _anatomy as an
import _lumbar_ct as lct
from _common import PATIENT, base_dataset, ds_list, ds_str, uid, write
from _projection import burn_text

SID_MM, SOD_MM = 1000.0, 650.0
MU_WATER = 0.02
MU_STEEL = 0.02 * (1 + 8000 / 1000)  # 0.18 /mm: steel on the DRR's HU scale (8000 HU)
PHOTONS = 20000.0
SEED = 20260416
NEEDLE_RADIUS_MM, NEEDLE_LENGTH_MM = 1.5, 150.0
NEEDLE_LEVEL, NEEDLE_SIDE = "L3", 1  # left
NEEDLE_START_MM, NEEDLE_STEP_MM, NEEDLE_FRAMES = -6.0, 2.5, 12  # tip depth past the bone entry
FRAME_TIME_MS = 200.0
DISPLAY_MAX, DISPLAY_L_MAX = 4095, 10.0


@dataclass(frozen=True)
class Shot:
    """One acquisition: file, pose, detector and collimation (rows, cols 0-based, stop excluded)."""

    file: str
    title: str
    primary_deg: float
    secondary_deg: float
    rows: int
    cols: int
    pixel_mm: float
    collimation: tuple[int, int, int, int]
    series_number: int


SHOTS = (Shot("AP.dcm", "AP", 0.0, 0.0, 512, 512, 0.45, (16, 496, 56, 456), 11),
         Shot("LATERAL.dcm", "LAT", 90.0, 0.0, 512, 512, 0.45, (16, 496, 16, 496), 12),
         Shot("NEEDLE_CINE.dcm", "LAT CINE", 90.0, 0.0, 256, 256, 0.9, (8, 248, 8, 248), 13))


def basis(primary_deg: float, secondary_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(beam, column direction, row direction) in LPS for the DICOM XA positioner angles.

    At 0/0 the patient faces the detector (PS3.3 C.8.7.5.1.2): the beam runs posterior to
    anterior (-y), columns toward the patient's left (+x), rows toward the feet (-z). The
    primary angle (LAO > 0) turns the beam about the patient's long axis toward +x; the
    secondary angle (cranial > 0) tilts it toward the head about the column direction.
    """
    p, s = np.deg2rad(primary_deg), np.deg2rad(secondary_deg)
    beam_p = np.array([np.sin(p), -np.cos(p), 0.0])
    col = np.array([np.cos(p), np.sin(p), 0.0])
    z = np.array([0.0, 0.0, 1.0])
    return np.cos(s) * beam_p + np.sin(s) * z, col, np.sin(s) * beam_p - np.cos(s) * z


def project(points: np.ndarray, shot: Shot, iso: np.ndarray) -> np.ndarray:
    """Exact cone-beam projection of LPS points to (row, col) pixels (0-based centres)."""
    beam, col, row = basis(shot.primary_deg, shot.secondary_deg)
    rel = np.atleast_2d(points) - (iso - SOD_MM * beam)
    scale = SID_MM / (rel @ beam)
    return np.stack([(rel @ row) * scale / shot.pixel_mm + (shot.rows - 1) / 2,
                     (rel @ col) * scale / shot.pixel_mm + (shot.cols - 1) / 2], -1)


def carm_for(shot: Shot, iso: np.ndarray):
    from miss_imaging import CArm

    return CArm(sid=SID_MM, sod=SOD_MM, primary_deg=shot.primary_deg, secondary_deg=shot.secondary_deg,
                isocenter=tuple(float(v) for v in iso), rows=shot.rows, cols=shot.cols,
                pixel_mm=(shot.pixel_mm, shot.pixel_mm), collimation=shot.collimation)


def needle_chords(carm, tip: np.ndarray, axis_out: np.ndarray, n: int = 3) -> np.ndarray:
    """Mean chord length (mm) through the needle cylinder of the rays of each pixel (n x n)."""
    g = (np.arange(n) + 0.5) / n - 0.5
    rr, cc = np.meshgrid(np.arange(carm.rows, dtype=float), np.arange(carm.cols, dtype=float), indexing="ij")
    total = np.zeros(rr.shape)
    for dr in g:
        for dc in g:
            src, d = carm.ray(rr + dr, cc + dc)
            w = src - tip
            wu, du = w @ axis_out, d @ axis_out
            wp, dp = w - wu * axis_out, d - du[..., None] * axis_out
            a, b, c = (dp * dp).sum(-1), 2 * (dp @ wp), wp @ wp - NEEDLE_RADIUS_MM**2
            disc = b * b - 4 * a * c
            ok = (disc > 0) & (a > 1e-12)
            sq = np.sqrt(np.where(ok, disc, 0.0))
            l0, l1 = (-b - sq) / (2 * np.where(ok, a, 1)), (-b + sq) / (2 * np.where(ok, a, 1))
            # clip to 0 <= (w + l d).u <= length along the needle
            with np.errstate(divide="ignore", invalid="ignore"):
                t0, t1 = (0 - wu) / du, (NEEDLE_LENGTH_MM - wu) / du
            lo, hi = np.maximum(l0, np.minimum(t0, t1)), np.minimum(l1, np.maximum(t0, t1))
            total += np.where(ok, np.clip(hi - lo, 0, None), 0.0)
    return total / n**2


def display(L: np.ndarray, shot: Shot, rng: np.random.Generator) -> np.ndarray:
    """Poisson noise, log display (dense dark), collimation; uint16 12 bits."""
    counts = rng.poisson(PHOTONS * np.exp(-L.astype(np.float64)))
    L = -np.log(np.maximum(counts, 0.5) / PHOTONS)
    out = np.rint(DISPLAY_MAX * np.clip(1.0 - L / DISPLAY_L_MAX, 0.0, 1.0)).astype(np.uint16)
    r0, r1, c0, c1 = shot.collimation
    mask = np.zeros_like(out, dtype=bool)
    mask[r0:r1, c0:c1] = True
    out[~mask] = 0
    return out


def needle_path(spine: dict) -> tuple[np.ndarray, np.ndarray]:
    """Bone entry on the left L3 pedicle axis and the unit inward direction (LPS)."""
    v = spine[NEEDLE_LEVEL]
    inward = v.pedicle_dir(NEEDLE_SIDE)
    return an.exit_point(spine, v.pedicle_axis_point(NEEDLE_SIDE, 0.0), inward), inward


def isocenter(spine: dict, shot: Shot) -> np.ndarray:
    """Shots: the L4 body centre (the field then stays inside the scanned slab); the cine: L3."""
    return spine[NEEDLE_LEVEL if shot.file == "NEEDLE_CINE.dcm" else "L4"].origin.copy()


def render(volume, spine: dict) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Pixels (frames, rows, cols) uint16 and the burned-in text box of each shot."""
    from miss_imaging.carm import line_integrals

    rng = np.random.default_rng(SEED)
    entry, inward = needle_path(spine)
    out = {}
    for shot in SHOTS:
        carm = carm_for(shot, isocenter(spine, shot))
        L = line_integrals(volume, carm, mu_water=MU_WATER, threads=1).astype(np.float64)
        frames = []
        depths = needle_depths() if shot.file == "NEEDLE_CINE.dcm" else [None]
        for depth in depths:
            Lf = L if depth is None else L + MU_STEEL * needle_chords(carm, entry + depth * inward, -inward)
            frames.append(display(Lf, shot, rng))
        pix = np.stack(frames)
        box = [0, 0, 0, 0]
        for f in pix:
            box = burn_text(f, burned_text(shot), (shot.collimation[0] + 2, shot.collimation[2] + 3), DISPLAY_MAX)
        out[shot.file] = (pix, box)
    return out


def needle_depths() -> list[float]:
    return [NEEDLE_START_MM + NEEDLE_STEP_MM * f for f in range(NEEDLE_FRAMES)]


def burned_text(shot: Shot) -> list[str]:
    return ["SPINEPHANTOM^JANE", "MISS-000417", "14-MAR-2026 10:41", shot.title]


def xa_dataset(shot: Shot, pixels: np.ndarray, iso: np.ndarray) -> Dataset:
    """X-Ray Angiographic Image Storage (single frame or cine) carrying the C-arm geometry."""
    ds = base_dataset(XRayAngiographicImageStorage, uid("instance", "lumbar_fluoro", shot.file), modality="XA",
                      series_uid=uid("series", "lumbar_fluoro", shot.file), series_number=shot.series_number,
                      series_description=f"FLUORO LSPINE {shot.title}")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "SINGLE PLANE"]
    ds.InstanceNumber = 1
    ds.PatientOrientation = ["L", "F"] if shot.primary_deg == 0 else ["P", "F"]
    ds.ContentDate = ds.AcquisitionDate = PATIENT["StudyDate"]
    ds.ContentTime = ds.AcquisitionTime = "104100"
    ds.PixelIntensityRelationship = "DISP"
    ds.LossyImageCompression = "00"
    ds.BurnedInAnnotation = "YES"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = shot.rows, shot.cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if len(pixels) > 1:
        ds.NumberOfFrames = len(pixels)
        ds.FrameIncrementPointer = 0x00181063  # FrameTime
        ds.FrameTime = ds_str(FRAME_TIME_MS)
        ds.CineRate = ds.RecommendedDisplayFrameRate = int(round(1000 / FRAME_TIME_MS))
        ds.PositionerMotion = "STATIC"
    ds.KVP, ds.RadiationSetting, ds.XRayTubeCurrent, ds.ExposureTime = "80", "GR", 5, 10
    ds.RadiationMode = "PULSED"
    ds.ImagerPixelSpacing = ds_list([shot.pixel_mm, shot.pixel_mm])
    ds.FieldOfViewShape = "RECTANGLE"
    ds.FieldOfViewDimensions = [int(round(shot.rows * shot.pixel_mm)), int(round(shot.cols * shot.pixel_mm))]
    ds.IntensifierSize = ds_str(shot.rows * shot.pixel_mm)
    ds.FocalSpots, ds.Grid = ["0.6"], "IN"
    ds.DistanceSourceToDetector = ds_str(SID_MM)
    ds.DistanceSourceToPatient = ds_str(SOD_MM)
    ds.EstimatedRadiographicMagnificationFactor = ds_str(SID_MM / SOD_MM, 10)
    ds.PositionerPrimaryAngle = ds_str(shot.primary_deg)
    ds.PositionerSecondaryAngle = ds_str(shot.secondary_deg)
    r0, r1, c0, c1 = shot.collimation  # DICOM edges are 1-based pixel positions
    ds.CollimatorShape = "RECTANGULAR"
    ds.CollimatorLeftVerticalEdge, ds.CollimatorRightVerticalEdge = c0 + 1, c1
    ds.CollimatorUpperHorizontalEdge, ds.CollimatorLowerHorizontalEdge = r0 + 1, r1
    ds.ShutterShape = "RECTANGULAR"
    ds.ShutterLeftVerticalEdge, ds.ShutterRightVerticalEdge = c0 + 1, c1
    ds.ShutterUpperHorizontalEdge, ds.ShutterLowerHorizontalEdge = r0 + 1, r1
    ds.ShutterPresentationValue = 0
    lo, hi = np.percentile(pixels[pixels > 0], [1, 99.5])
    ds.WindowCenter, ds.WindowWidth = ds_str((lo + hi) / 2, 0), ds_str(hi - lo, 0)
    ds.WindowCenterWidthExplanation = "FLUORO DEFAULT"
    ds.PatientPosition, ds.BodyPartExamined = "HFP", "LSPINE"
    ds.PixelData = pixels.tobytes()
    return ds


def shot_truth(shot: Shot, spine: dict, screws: list, pixels: np.ndarray, box: list[int]) -> dict:
    iso = isocenter(spine, shot)
    beam, col, row = basis(shot.primary_deg, shot.secondary_deg)
    m = SID_MM / SOD_MM
    t = {"file": shot.file, "sop_class_uid": XRayAngiographicImageStorage, "modality": "XA", "kind": "projection",
         "shape": list(pixels.shape), "rows": shot.rows, "columns": shot.cols, "n_frames": len(pixels),
         "imager_pixel_spacing_mm": [shot.pixel_mm] * 2, "sid_mm": SID_MM, "sod_mm": SOD_MM,
         "magnification": m, "ermf": float(ds_str(m, 10)),
         "pixel_spacing_at_isocenter_mm": [shot.pixel_mm / m] * 2,
         "spacing_mm": [1.0, shot.pixel_mm / m, shot.pixel_mm / m],
         "positioner_primary_angle_deg": shot.primary_deg, "positioner_secondary_angle_deg": shot.secondary_deg,
         "isocenter_lps_mm": iso.tolist(), "source_lps_mm": (iso - SOD_MM * beam).tolist(),
         "beam_lps": beam.tolist(), "column_direction_lps": col.tolist(), "row_direction_lps": row.tolist(),
         "principal_point_px": [(shot.rows - 1) / 2, (shot.cols - 1) / 2],
         "collimation_px": list(shot.collimation),
         "burned_in_text": {"lines": burned_text(shot), "box_px": box}, "screws": []}
    for s in screws:
        ends = project(np.stack([s.entry, s.tip]), shot, iso)
        mid = (s.entry + s.tip) / 2
        depth = float((mid - iso) @ beam)  # + toward the detector
        at_det = float(np.linalg.norm((ends[1] - ends[0]) * shot.pixel_mm))
        foreshortening = float(np.linalg.norm(np.cross(s.axis, beam)))
        t["screws"].append({
            "level": s.level, "side": s.side, "entry_px": ends[0].tolist(), "tip_px": ends[1].tolist(),
            "projected_length_at_detector_mm": at_det, "length_ermf_corrected_mm": at_det / m,
            "ct_length_mm": s.length_mm, "foreshortening": foreshortening,
            "ct_length_in_detector_plane_mm": s.length_mm * foreshortening,
            "midpoint_depth_from_isocenter_plane_mm": depth,
            "local_magnification": SID_MM / (SOD_MM + depth)})
    return t


def build(out_root: Path, ct_truth: dict) -> dict:
    """Write ``lumbar_fluoro/`` from the committed ``lumbar_ct`` series; return its truth."""
    from miss_imaging.reading.loader import load

    spine, screws, _ = lct.model()
    volume = load(out_root / ct_truth["folder"])
    images = render(volume, spine)
    entry, inward = needle_path(spine)
    shots = {}
    for shot in SHOTS:
        pix, box = images[shot.file]
        write(xa_dataset(shot, pix, isocenter(spine, shot)), out_root / "lumbar_fluoro" / shot.file)
        shots[shot.file.removesuffix(".dcm").lower()] = shot_truth(shot, spine, screws, pix, box)
    cine = shots["needle_cine"]
    tips = np.array([entry + d * inward for d in needle_depths()])
    cine.update({"frame_time_ms": FRAME_TIME_MS, "frame_rate_fps": 1000 / FRAME_TIME_MS})
    cine["needle"] = {"level": NEEDLE_LEVEL, "side": "left", "diameter_mm": 2 * NEEDLE_RADIUS_MM,
                      "length_mm": NEEDLE_LENGTH_MM, "mu_per_mm": MU_STEEL, "bone_entry_lps_mm": entry.tolist(),
                      "direction_lps": inward.tolist(), "tip_depth_past_entry_mm": needle_depths(),
                      "tip_lps_mm": tips.tolist(),
                      "tip_px": project(tips, SHOTS[2], isocenter(spine, SHOTS[2])).tolist()}
    return {"lumbar_fluoro": {"folder": "lumbar_fluoro", "source_ct": ct_truth["folder"],
                              "made_with": "miss_imaging.carm.line_integrals (DRR of lumbar_ct) + analytic needle",
                              "mu_water_per_mm": MU_WATER, "photons_per_pixel": PHOTONS, "seed": SEED,
                              "display": f"value = {DISPLAY_MAX} * (1 - L / {DISPLAY_L_MAX:g}), 0 outside the collimation",
                              "shots": shots}}
