"""Projection phantoms: an XA fluoroscopy cine and a DX radiograph.

Projection geometry (PS3.3 10.7.1.3): a point source, the detector at
SID = DistanceSourceToDetector mm, the isocentre plane at SOD =
DistanceSourceToPatient mm.  A point in the isocentre plane at lateral
position ``p`` mm (from the central ray) projects to ``p * M`` mm on the
detector, M = SID / SOD.  The central ray hits the detector at the image
centre, pixel index ``((rows - 1) / 2, (cols - 1) / 2)``; pixel ``(r, c)``
(0-based) is at detector mm ``((r - r0) * IPS_row, (c - c0) * IPS_col)``.

Spheres (beads, calibration sphere) are rendered exactly in the cone beam:
their chord length along each ray.  Flat objects (anatomy, the instrument) are
rendered in the isocentre plane with thickness along the beam (paraxial; the
landmark points, e.g. the instrument tip, are exact central projections).
Every pixel is the mean of 4 x 4 sub-pixel samples (antialiasing).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import DigitalXRayImageStorageForPresentation, XRayAngiographicImageStorage

from _common import PATIENT, as_written, base_dataset, ds_list, ds_str, uid, write
from dicom_builder import image_pixel

SUPERSAMPLE = 4
FLUORO_SEED = 41
DX_SEED = 42


@dataclass(frozen=True)
class ProjectionGeometry:
    """Detector and source geometry; spacings in mm as (row, col)."""

    rows: int
    cols: int
    ips: tuple[float, float]  # ImagerPixelSpacing as written (row, col), mm at the detector
    sid: float  # mm
    sod: float  # mm

    @property
    def magnification(self) -> float:
        return self.sid / self.sod

    @property
    def center(self) -> tuple[float, float]:
        return ((self.rows - 1) / 2, (self.cols - 1) / 2)

    def iso_to_pixel(self, xy_iso: np.ndarray) -> np.ndarray:
        """Isocentre-plane mm ``(x = along columns, y = along rows)`` -> (row, col) indices."""
        xy = np.asarray(xy_iso, float)
        m = self.magnification
        return np.stack([self.center[0] + xy[..., 1] * m / self.ips[0],
                         self.center[1] + xy[..., 0] * m / self.ips[1]], -1)

    def sample_grid(self, n: int = SUPERSAMPLE) -> tuple[np.ndarray, np.ndarray]:
        """Detector mm (y, x) of n x n sub-samples per pixel, shape (rows, cols, n*n)."""
        f = (np.arange(n) + 0.5) / n - 0.5
        sy, sx = np.meshgrid(f, f, indexing="ij")
        r = np.arange(self.rows)[:, None, None] + sy.ravel()[None, None, :]
        c = np.arange(self.cols)[None, :, None] + sx.ravel()[None, None, :]
        y = (r - self.center[0]) * self.ips[0]
        x = (c - self.center[1]) * self.ips[1]
        return np.broadcast_to(y, (self.rows, self.cols, n * n)), np.broadcast_to(x, (self.rows, self.cols, n * n))


def sphere_chord(geo: ProjectionGeometry, y_det: np.ndarray, x_det: np.ndarray,
                 center_iso: tuple[float, float], radius: float, depth: float | None = None) -> np.ndarray:
    """Exact chord length (mm) of each source-to-detector ray through a sphere.

    The sphere's centre is at isocentre-plane position ``center_iso`` (x, y mm)
    and at ``depth`` mm from the source (default SOD).
    """
    depth = geo.sod if depth is None else depth
    c = np.array([center_iso[0], center_iso[1], depth])
    # ray direction from the source (origin) to the detector point (x, y, SID)
    norm = np.sqrt(x_det**2 + y_det**2 + geo.sid**2)
    proj = (x_det * c[0] + y_det * c[1] + geo.sid * c[2]) / norm
    d2 = c @ c - proj**2
    return 2.0 * np.sqrt(np.clip(radius**2 - d2, 0.0, None))


def sphere_outline_px(geo: ProjectionGeometry, center_iso: tuple[float, float], radius: float) -> dict:
    """Projected outline of a sphere at the isocentre depth: an ellipse (cone section).

    Semi-axes at the detector (mm): minor b = SID sin(a) / sqrt(cos^2(t) - sin^2(a)),
    major a' = SID sin(a) cos(a) / (cos^2(t) - sin^2(a)), a = asin(R / D), t = angle
    of the sphere centre off the central ray, D = source-to-centre distance.
    """
    c = np.array([center_iso[0], center_iso[1], geo.sod])
    dist = np.linalg.norm(c)
    alpha = np.arcsin(radius / dist)
    theta = np.arccos(geo.sod / dist)
    den = np.cos(theta) ** 2 - np.sin(alpha) ** 2
    minor = geo.sid * np.sin(alpha) / np.sqrt(den)
    major = geo.sid * np.sin(alpha) * np.cos(alpha) / den
    return {"semi_minor_mm_at_detector": float(minor), "semi_major_mm_at_detector": float(major),
            "diameter_mm_at_detector_if_magnified": float(2 * radius * geo.magnification)}


def capsule_thickness(y: np.ndarray, x: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float) -> np.ndarray:
    """Thickness (mm) along the beam of a cylinder lying in a plane, ends at ``a``/``b`` (x, y mm).

    Flat-ended: points beyond the end caps have zero thickness.
    """
    ab = b - a
    length = np.hypot(*ab)
    t = ((x - a[0]) * ab[0] + (y - a[1]) * ab[1]) / length
    d = np.abs((x - a[0]) * ab[1] - (y - a[1]) * ab[0]) / length
    inside = (t >= 0) & (t <= length)
    return np.where(inside, 2.0 * np.sqrt(np.clip(radius**2 - d**2, 0.0, None)), 0.0)


def ellipse_thickness(y, x, cx, cy, ax, ay, depth_mm) -> np.ndarray:
    """Thickness of an ellipsoidal slab: ``depth_mm`` at the centre, 0 at the ellipse edge."""
    q = 1.0 - ((x - cx) / ax) ** 2 - ((y - cy) / ay) ** 2
    return depth_mm * np.sqrt(np.clip(q, 0.0, None))


def spine_ap_attenuation(y_iso: np.ndarray, x_iso: np.ndarray, centers_y: tuple[float, ...],
                         transverse: bool = True) -> np.ndarray:
    """Line integral (dimensionless) of an AP lumbar-spine silhouette in the isocentre plane (mm).

    Vertebral bodies 40 x 25 mm (|x| < 20), pedicle ovals at x = +-14, spinous
    processes, and (``transverse``) transverse processes out to |x| = 40 mm.
    """
    mu_soft, mu_bone = 0.010, 0.045  # 1/mm
    # a uniform 180 mm water-equivalent slab: flat background around the beads
    att = np.full(np.broadcast(y_iso, x_iso).shape, mu_soft * 180.0)
    for cy in centers_y:
        # vertebral body (elliptic cylinder seen from the front: rectangle 40 x 25 mm)
        body = np.where((np.abs(x_iso) < 20) & (np.abs(y_iso - cy) < 12.5),
                        30.0 * np.sqrt(np.clip(1 - (x_iso / 20.0) ** 2, 0, None)), 0.0)
        att += mu_bone * body
        for side in (-1, 1):  # pedicles: the "owl eyes", dense cortical rings
            att += mu_bone * 1.5 * ellipse_thickness(y_iso, x_iso, side * 14.0, cy - 5.0, 4.5, 6.5, 12.0)
        att += mu_bone * ellipse_thickness(y_iso, x_iso, 0.0, cy + 8.0, 3.5, 8.0, 14.0)  # spinous
        for side in (-1, 1) if transverse else ():  # transverse processes
            att += mu_bone * np.where((np.abs(x_iso - side * 30.0) < 10) & (np.abs(y_iso - cy + 3.0) < 3.0),
                                      8.0, 0.0)
    return att


def burn_text(frame: np.ndarray, lines: list[str], top_left: tuple[int, int], value: int) -> list[int]:
    """Draw text into ``frame`` (in place) with PIL's built-in bitmap font; return its box.

    The bitmap font (``ImageFont.load_default_imagefont``) is embedded in Pillow
    and rendered without antialiasing, so the result is deterministic.
    Returns ``[row0, col0, row1, col1]`` (0-based, end exclusive).
    """
    font = (ImageFont.load_default_imagefont() if hasattr(ImageFont, "load_default_imagefont")
            else ImageFont.load_default())
    mask = Image.new("L", (frame.shape[1], frame.shape[0]), 0)
    draw = ImageDraw.Draw(mask)
    y = top_left[0]
    for line in lines:
        draw.text((top_left[1], y), line, fill=255, font=font)
        y += 12
    m = np.asarray(mask) > 127
    frame[m] = value
    rr, cc = np.nonzero(m)
    return [int(rr.min()), int(cc.min()), int(rr.max()) + 1, int(cc.max()) + 1]


# --- fluoroscopy ----------------------------------------------------------------------------

FLUORO = ProjectionGeometry(rows=256, cols=256, ips=(0.6, 0.6), sid=1000.0, sod=720.0)
N_FRAMES = 10
FRAME_TIME_MS = 66.7
COLLIMATOR_CENTER = (128, 128)  # 0-based (row, col)
COLLIMATOR_RADIUS = 118  # pixels
BEAD_RADIUS = 0.9  # mm (1.8 mm steel beads)
SPHERE_RADIUS = 12.5  # mm (25.0 mm calibration sphere)
MU_STEEL = 0.25  # 1/mm, effective for the small beads and the rod (they stay below saturation)
MU_SPHERE = 1.5  # 1/mm, steel calibration sphere: saturates within 0.03 mm of its edge (sharp disc)
ROD_RADIUS = 1.5  # mm (3 mm trocar / Jamshidi needle)
ROD_STEP_MM = 1.5  # tip advance per frame in the isocentre plane
FLUORO_BEADS_ISO = {"bead_a": np.array([-42.0, -12.0]),
                    "bead_b": np.array([-42.0, -12.0]) + 25.4 * np.array([np.cos(np.pi / 3), np.sin(np.pi / 3)])}
SPHERE_CENTER_ISO = np.array([34.0, -10.0])
ROD_TIP0_ISO = np.array([38.0, 26.0])
ROD_DIR = np.array([-0.6, -0.8])  # unit vector of the advance in the isocentre plane (x, y)
ROD_LENGTH = 90.0
BURNED_TEXT = ["SPINEPHANTOM^JANE", "MISS-000417", "14-MAR-2026 10:15"]


def fluoro_tips_iso() -> np.ndarray:
    """(N_FRAMES, 2) instrument tip in the isocentre plane (x, y mm) per frame."""
    return ROD_TIP0_ISO + ROD_STEP_MM * np.arange(N_FRAMES)[:, None] * ROD_DIR


def log_pixels(att: np.ndarray) -> np.ndarray:
    """Log-encoded detector value (PixelIntensityRelationship LOG), 12-bit range, before noise."""
    return 3900.0 - 900.0 * att


def render_fluoro(ips: tuple[float, float]) -> tuple[np.ndarray, list[int]]:
    """(frames, rows, cols) uint16, 12 bits stored; and the burned-in text box."""
    geo = ProjectionGeometry(FLUORO.rows, FLUORO.cols, ips, FLUORO.sid, FLUORO.sod)
    y_det, x_det = geo.sample_grid()
    m = geo.magnification
    y_iso, x_iso = y_det / m, x_det / m
    # no transverse processes: the sphere and the instrument lie on flat background
    static = spine_ap_attenuation(y_iso, x_iso, (-33.0, 0.0, 33.0), transverse=False)
    for c in FLUORO_BEADS_ISO.values():
        static += MU_STEEL * sphere_chord(geo, y_det, x_det, tuple(c), BEAD_RADIUS)
    static += MU_SPHERE * sphere_chord(geo, y_det, x_det, tuple(SPHERE_CENTER_ISO), SPHERE_RADIUS)
    rr, cc = np.meshgrid(np.arange(geo.rows), np.arange(geo.cols), indexing="ij")
    # collimator: antialiased disc coverage (linear ramp over one pixel)
    dist = np.hypot(rr - COLLIMATOR_CENTER[0], cc - COLLIMATOR_CENTER[1])
    open_frac = np.clip(COLLIMATOR_RADIUS + 0.5 - dist, 0.0, 1.0)
    rng = np.random.default_rng(FLUORO_SEED)
    frames = np.empty((N_FRAMES, geo.rows, geo.cols), np.uint16)
    box: list[int] = []
    for f, tip in enumerate(fluoro_tips_iso()):
        tail = tip - ROD_LENGTH * ROD_DIR
        att = static + MU_STEEL * capsule_thickness(y_iso, x_iso, tail, tip, ROD_RADIUS)
        value = log_pixels(att).clip(60.0, 4095.0).mean(axis=-1)
        value = open_frac * value + (1.0 - open_frac) * 60.0
        value += rng.normal(0.0, 2.0, value.shape)
        frame = np.clip(np.rint(value), 0, 4095).astype(np.uint16)
        box = burn_text(frame, BURNED_TEXT, (2, 3), 4095)
        frames[f] = frame
    return frames, box


def fluoro_dataset(frames: np.ndarray, ips: tuple[float, float], ermf: float) -> Dataset:
    """XA multi-frame cine (X-Ray Angiographic Image Storage)."""
    series = uid("series", "fluoro")
    ds = base_dataset(XRayAngiographicImageStorage, uid("instance", "fluoro"), modality="XA",
                      series_uid=series, series_number=5, series_description="FLUORO LSPINE AP")
    # General Image / X-Ray Image
    ds.ImageType = ["ORIGINAL", "PRIMARY", "SINGLE PLANE"]
    ds.InstanceNumber = 1
    ds.PatientOrientation = ["L", "F"]
    ds.ContentDate = PATIENT["StudyDate"]
    ds.ContentTime = "102200"
    ds.AcquisitionDate = PATIENT["StudyDate"]
    ds.AcquisitionTime = "102200"
    # DISP: processed values ready for display (LOG would require a Modality LUT, PS3.3 C.8.7.1.1.2)
    ds.PixelIntensityRelationship = "DISP"
    ds.LossyImageCompression = "00"
    ds.BurnedInAnnotation = "YES"
    # Image Pixel + Multi-frame
    image_pixel(ds, *frames.shape[1:], frames=frames.shape[0])
    # Cine
    ds.FrameIncrementPointer = 0x00181063  # FrameTime
    ds.FrameTime = ds_str(FRAME_TIME_MS)
    ds.CineRate = 15
    ds.RecommendedDisplayFrameRate = 15
    ds.ActualFrameDuration = 10
    # X-Ray Acquisition
    ds.KVP = "78"
    ds.RadiationSetting = "SC"
    ds.XRayTubeCurrent = 4
    ds.ExposureTime = 800
    ds.Exposure = 3
    ds.RadiationMode = "PULSED"
    ds.ImagerPixelSpacing = ds_list(ips)
    ds.FieldOfViewShape = "ROUND"
    ds.FieldOfViewDimensions = [int(round(2 * COLLIMATOR_RADIUS * ips[0]))]
    ds.IntensifierSize = ds_str(FLUORO.rows * ips[0])
    ds.FocalSpots = ["0.6"]
    ds.Grid = "IN"
    # XA Positioner
    ds.DistanceSourceToDetector = ds_str(FLUORO.sid)
    ds.DistanceSourceToPatient = ds_str(FLUORO.sod)
    ds.EstimatedRadiographicMagnificationFactor = ds_str(ermf, 10)
    ds.PositionerMotion = "STATIC"
    ds.PositionerPrimaryAngle = "0"
    ds.PositionerSecondaryAngle = "0"
    # X-Ray Collimator + Display Shutter: circular, (row, col) 1-based pixel positions
    ds.CollimatorShape = "CIRCULAR"
    ds.CenterOfCircularCollimator = [COLLIMATOR_CENTER[0] + 1, COLLIMATOR_CENTER[1] + 1]
    ds.RadiusOfCircularCollimator = COLLIMATOR_RADIUS
    ds.ShutterShape = "CIRCULAR"
    ds.CenterOfCircularShutter = [COLLIMATOR_CENTER[0] + 1, COLLIMATOR_CENTER[1] + 1]
    ds.RadiusOfCircularShutter = COLLIMATOR_RADIUS
    ds.ShutterPresentationValue = 0
    # VOI LUT
    ds.WindowCenter = "2400"
    ds.WindowWidth = "3000"
    ds.WindowCenterWidthExplanation = "FLUORO DEFAULT"
    ds.PatientPosition = "HFP"
    ds.BodyPartExamined = "LSPINE"
    ds.PixelData = frames.tobytes()
    return ds


def fluoro_truth(ips: tuple[float, float], ermf: float, text_box: list[int]) -> dict:
    geo = ProjectionGeometry(FLUORO.rows, FLUORO.cols, ips, FLUORO.sid, FLUORO.sod)
    m = geo.magnification
    beads_px = {k: geo.iso_to_pixel(v) for k, v in FLUORO_BEADS_ISO.items()}
    tips = fluoro_tips_iso()
    tips_px = geo.iso_to_pixel(tips)
    bead_iso = float(np.linalg.norm(FLUORO_BEADS_ISO["bead_a"] - FLUORO_BEADS_ISO["bead_b"]))
    last_tip = f"tip_00-tip_{N_FRAMES - 1:02d}"
    travel = float(np.linalg.norm(tips[-1] - tips[0]))
    landmarks = {k: [0.0, *v.tolist()] for k, v in beads_px.items()}
    landmarks["sphere_center"] = [0.0, *geo.iso_to_pixel(SPHERE_CENTER_ISO).tolist()]
    for f in range(N_FRAMES):
        landmarks[f"tip_{f:02d}"] = [float(f), *tips_px[f].tolist()]
    return {
        "folder": "fluoro", "file": "FLUORO_XA.dcm", "sop_class_uid": XRayAngiographicImageStorage,
        "modality": "XA", "kind": "projection",
        "spacing_mm": [1.0, ips[0] / ermf, ips[1] / ermf], "calibration_source": "ermf",
        "shape": [N_FRAMES, geo.rows, geo.cols], "rows": geo.rows, "columns": geo.cols,
        "n_frames": N_FRAMES, "bits_stored": 12, "photometric": "MONOCHROME2",
        "imager_pixel_spacing_mm": list(ips),
        "sid_mm": geo.sid, "sod_mm": geo.sod, "magnification": m, "ermf": ermf,
        "pixel_spacing_at_isocenter_mm": [ips[0] / ermf, ips[1] / ermf],
        "frame_time_ms": FRAME_TIME_MS, "frame_rate_fps": 15,
        "positioner_primary_angle_deg": 0.0, "positioner_secondary_angle_deg": 0.0,
        "principal_point_px": list(geo.center),
        "collimator": {"shape": "CIRCULAR", "center_px": list(COLLIMATOR_CENTER), "radius_px": COLLIMATOR_RADIUS,
                       "note": "0-based (row, col); the tags are 1-based"},
        "burned_in_text": {"lines": BURNED_TEXT, "box_px": text_box,
                           "note": "[row0, col0, row1, col1], 0-based, end exclusive, in every frame"},
        "landmarks_px": landmarks,
        "landmarks_iso_mm": {"bead_a": FLUORO_BEADS_ISO["bead_a"].tolist(),
                             "bead_b": FLUORO_BEADS_ISO["bead_b"].tolist(),
                             "sphere_center": SPHERE_CENTER_ISO.tolist(),
                             **{f"tip_{f:02d}": tips[f].tolist() for f in range(N_FRAMES)}},
        "distances_mm": {"bead_a-bead_b": bead_iso, last_tip: travel},
        "distances_mm_at_detector": {"bead_a-bead_b": bead_iso * m, last_tip: travel * m},
        "calibration_sphere": {"diameter_mm": 2 * SPHERE_RADIUS,
                               "center_px": landmarks["sphere_center"][1:],
                               **sphere_outline_px(geo, tuple(SPHERE_CENTER_ISO), SPHERE_RADIUS)},
        "instrument": {"radius_mm": ROD_RADIUS, "tip_step_mm_per_frame": ROD_STEP_MM,
                       "direction_iso_xy": ROD_DIR.tolist(),
                       "tip_speed_mm_per_s": ROD_STEP_MM / (FRAME_TIME_MS / 1000.0)},
        "bead_diameter_mm": 2 * BEAD_RADIUS,
        "note": "landmarks_px are (frame, row, col) 0-based pixel indices; iso mm x runs along columns "
                "(patient left), y along rows (feet); all objects lie in the isocentre plane (depth SOD)",
    }


# --- DX radiograph --------------------------------------------------------------------------

DX = ProjectionGeometry(rows=320, cols=256, ips=(0.6, 0.5), sid=1000.0, sod=850.0)
DX_BEADS_ISO = {"bead_a": np.array([-36.0, -48.0]),
                "bead_b": np.array([-36.0, -48.0]) + 25.4 * np.array([0.28, 0.96]),
                "bead_c": np.array([33.0, 6.0]),
                "bead_d": np.array([33.0, 6.0]) + 12.7 * np.array([0.2, 0.98]) / np.hypot(0.2, 0.98)}
DX_VERTEBRAE_Y = (-60.0, -30.0, 0.0, 30.0, 60.0)  # L1..L5 body centres, mm in the isocentre plane
DX_SUPERSAMPLE = 8  # per axis: the body edges (landmarks) are placed to 1/16 pixel


def render_dx(ips: tuple[float, float]) -> np.ndarray:
    """(1, rows, cols) uint16, MONOCHROME1: value grows with the detector signal (log), so bone
    and metal have low values and display white (the minimum displays white)."""
    geo = ProjectionGeometry(DX.rows, DX.cols, ips, DX.sid, DX.sod)
    y_det, x_det = geo.sample_grid(DX_SUPERSAMPLE)
    m = geo.magnification
    att = spine_ap_attenuation(y_det / m, x_det / m, DX_VERTEBRAE_Y)
    for c in DX_BEADS_ISO.values():
        att += MU_STEEL * sphere_chord(geo, y_det, x_det, tuple(c), BEAD_RADIUS)
    value = log_pixels(att).clip(60.0, 4095.0).mean(axis=-1)
    value += np.random.default_rng(DX_SEED).normal(0.0, 3.0, value.shape)
    return np.clip(np.rint(value), 0, 4095).astype(np.uint16)[None]


def dx_dataset(pixels: np.ndarray, ips: tuple[float, float], ps: tuple[float, float], ermf: float) -> Dataset:
    """DX For Presentation, MONOCHROME1, PixelSpacing calibrated by GEOMETRY."""
    ds = base_dataset(DigitalXRayImageStorageForPresentation, uid("instance", "radiograph"), modality="DX",
                      series_uid=uid("series", "radiograph"), series_number=2,
                      series_description="LSPINE AP STANDING")
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.InstanceNumber = 1
    ds.PatientOrientation = ["L", "F"]
    ds.ContentDate = PATIENT["StudyDate"]
    ds.ContentTime = "093000"
    ds.AcquisitionDate = PATIENT["StudyDate"]
    ds.AcquisitionTime = "093000"
    ds.ImageLaterality = "U"
    ds.AnatomicRegionSequence = Sequence([Dataset()])
    region = ds.AnatomicRegionSequence[0]
    region.CodeValue = "122496007"
    region.CodingSchemeDesignator = "SCT"
    region.CodeMeaning = "Lumbar spine"
    ds.BodyPartExamined = "LSPINE"
    ds.ViewPosition = "AP"
    ds.AcquisitionContextSequence = Sequence([])
    # DX Image
    image_pixel(ds, *pixels.shape[1:], photometric="MONOCHROME1")
    ds.PixelIntensityRelationship = "LOG"
    ds.PixelIntensityRelationshipSign = 1  # lower value = less beam intensity (bone, metal)
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.PresentationLUTShape = "INVERSE"
    ds.LossyImageCompression = "00"
    ds.BurnedInAnnotation = "NO"
    ds.WindowCenter = "2300"
    ds.WindowWidth = "2600"
    ds.WindowCenterWidthExplanation = "DX DEFAULT"
    # DX Detector
    ds.DetectorType = "SCINTILLATOR"
    ds.DetectorConfiguration = "AREA"
    ds.DetectorID = "FPD-PH-01"
    ds.ImagerPixelSpacing = ds_list(ips)
    ds.PixelSpacing = ds_list(ps, 9)
    ds.PixelSpacingCalibrationType = "GEOMETRY"
    ds.PixelSpacingCalibrationDescription = f"ImagerPixelSpacing / {ds_str(ermf, 10)} (SID/SOD) at spine"
    # DX Positioning + X-Ray Generation
    ds.DistanceSourceToDetector = ds_str(DX.sid)
    ds.DistanceSourceToPatient = ds_str(DX.sod)
    ds.EstimatedRadiographicMagnificationFactor = ds_str(ermf, 10)
    ds.KVP = "85"
    ds.ExposureTime = 40
    ds.XRayTubeCurrent = 400
    ds.Exposure = 16
    ds.Grid = "FOCUSED"
    ds.PositionerType = "COLUMN"
    ds.ViewCodeSequence = Sequence([Dataset()])
    view = ds.ViewCodeSequence[0]
    view.CodeValue = "399348003"
    view.CodingSchemeDesignator = "SCT"
    view.CodeMeaning = "antero-posterior"
    ds.PatientPosition = ""
    ds.PixelData = pixels.tobytes()
    return ds


def dx_truth(ips: tuple[float, float], ps: tuple[float, float], ermf: float) -> dict:
    geo = ProjectionGeometry(DX.rows, DX.cols, ips, DX.sid, DX.sod)
    px = {k: [0.0, *geo.iso_to_pixel(v).tolist()] for k, v in DX_BEADS_ISO.items()}
    dist = lambda a, b: float(np.linalg.norm(DX_BEADS_ISO[a] - DX_BEADS_ISO[b]))  # noqa: E731
    return {
        "folder": "radiograph", "file": "DX_LSPINE_AP.dcm", "sop_class_uid": DigitalXRayImageStorageForPresentation,
        "modality": "DX", "kind": "projection",
        "spacing_mm": [1.0, ps[0], ps[1]], "calibration_source": "calibrated",
        "shape": [1, geo.rows, geo.cols], "rows": geo.rows, "columns": geo.cols, "bits_stored": 12,
        "photometric": "MONOCHROME1",
        "imager_pixel_spacing_mm": list(ips), "pixel_spacing_mm": list(ps),
        "calibration_type": "GEOMETRY", "sid_mm": geo.sid, "sod_mm": geo.sod,
        "magnification": geo.magnification, "ermf": ermf,
        "principal_point_px": list(geo.center),
        "landmarks_px": px,
        "landmarks_iso_mm": {k: v.tolist() for k, v in DX_BEADS_ISO.items()},
        "vertebral_body_centers_iso_mm": {f"L{i + 1}": [0.0, y] for i, y in enumerate(DX_VERTEBRAE_Y)},
        "vertebral_body_size_iso_mm": [40.0, 25.0],
        "distances_mm": {"bead_a-bead_b": dist("bead_a", "bead_b"), "bead_c-bead_d": dist("bead_c", "bead_d"),
                         "L1-L5 body centres": float(DX_VERTEBRAE_Y[-1] - DX_VERTEBRAE_Y[0])},
        "distances_mm_at_detector": {"bead_a-bead_b": dist("bead_a", "bead_b") * geo.magnification,
                                     "bead_c-bead_d": dist("bead_c", "bead_d") * geo.magnification},
        "note": "PixelSpacing = ImagerPixelSpacing / ERMF (row, col); landmarks (frame, row, col) 0-based; "
                "imager pixels are anisotropic (row 0.6 mm, col 0.5 mm) on purpose; vertebral bodies are "
                "40 x 25 mm rectangles in the isocentre plane (|x| < 20)",
    }


def build(out_root: Path, truth: dict) -> dict:
    """Write ``fluoro/`` and ``radiograph/``; return their truth blocks."""
    ips_f = tuple(as_written(FLUORO.ips).tolist())
    ermf_f = float(as_written([FLUORO.sid / FLUORO.sod], 10)[0])
    frames, box = render_fluoro(ips_f)
    write(fluoro_dataset(frames, ips_f, ermf_f), out_root / "fluoro" / "FLUORO_XA.dcm")
    ips_d = tuple(as_written(DX.ips).tolist())
    ermf_d = float(as_written([DX.sid / DX.sod], 10)[0])
    ps_d = tuple(as_written(np.array(ips_d) / ermf_d, 9).tolist())
    write(dx_dataset(render_dx(ips_d), ips_d, ps_d, ermf_d), out_root / "radiograph" / "DX_LSPINE_AP.dcm")
    return {"fluoro": fluoro_truth(ips_f, ermf_f, box), "radiograph": dx_truth(ips_d, ps_d, ermf_d)}
