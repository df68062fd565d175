"""``lumbar_ct/``: the anatomical lumbar-spine phantom as an intraoperative CT series.

Axial slices (ImageOrientationPatient 1\\0\\0\\0\\1\\0), 1.0 x 1.0 mm pixels, 1.5 mm slice
step, patient prone (HFP).  Voxelisation: every analytic solid (``_anatomy``,
``_soft_tissue``) is painted in order with its partial-volume coverage; a voxel whose
centre lies within half a voxel diagonal of a solid's surface (by the solid's signed
distance lower bound) is supersampled (n^3 points), the others are fully in or out.
Then a Gaussian point-spread (sigma 0.5 mm) and O-arm-like correlated noise (seeded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.uid import CTImageStorage
from scipy.ndimage import gaussian_filter

import _anatomy as an
import _lumbar_truth as lt
import _soft_tissue as st
from _common import PATIENT, base_dataset, ds_list, ds_str, uid, write

ROWS, COLS, N_SLICES = 220, 256, 148
ROW_MM = COL_MM = 1.0
SLICE_MM = 1.5
#: LPS of voxel (k=0, j=0, i=0): x of column 0, y of row 0, z of the most inferior slice.
ORIGIN = np.array([-127.5, -110.5, -282.0])
RESCALE_INTERCEPT = -1024
BITS_STORED = 16
PSF_SIGMA_MM = 0.5
NOISE_HU, NOISE_CORRELATION_VOX = 18.0, 0.7
SEED = 20260415
CHUNK = 8  # slices painted at a time (bounds memory)
FOR_UID = uid("frame-of-reference", "lumbar-ct")
SERIES_UID = uid("series", "lumbar_ct")
WINDOWS = (("BONE", 500.0, 2000.0), ("SOFT TISSUE", 40.0, 400.0), ("METAL", 3000.0, 10000.0))
STEP = np.array([SLICE_MM, ROW_MM, COL_MM])  # (z, y, x) step per (k, j, i)


def slice_z() -> np.ndarray:
    return ORIGIN[2] + SLICE_MM * np.arange(N_SLICES)


def affine() -> np.ndarray:
    """4x4 index (k, j, i, 1) -> LPS (x, y, z, 1) mm."""
    a = np.zeros((4, 4))
    a[2, 0], a[1, 1], a[0, 2] = SLICE_MM, ROW_MM, COL_MM
    a[:3, 3], a[3, 3] = ORIGIN, 1.0
    return a


def _index_range(lo: float, hi: float, origin: float, step: float, n: int) -> tuple[int, int]:
    a = int(np.floor((lo - origin) / step)) - 1
    b = int(np.ceil((hi - origin) / step)) + 2
    return max(a, 0), min(b, n)


def _coverage(solid, pts: np.ndarray, n: int) -> np.ndarray:
    """Fraction of each voxel (centres ``pts`` (..., 3) LPS) inside ``solid``."""
    f = solid.sdf(pts)
    cov = (f < 0).astype(np.float32)
    reach = 0.5 * np.linalg.norm(STEP)
    edge = np.abs(f) <= reach
    if n > 1 and edge.any():
        g = (np.arange(n) + 0.5) / n - 0.5
        offs = np.stack(np.meshgrid(g * COL_MM, g * ROW_MM, g * SLICE_MM, indexing="ij"), -1).reshape(-1, 3)
        sub = pts[edge][:, None, :] + offs[None]
        cov[edge] = (solid.sdf(sub) < 0).mean(axis=1)
    return cov


def paint(vol: np.ndarray, z: np.ndarray, solid, hu: float, n: int) -> None:
    """Paint one solid with partial volume into ``vol`` (k, j, i) covering slices at ``z``."""
    k0, k1 = _index_range(solid.lo[2], solid.hi[2], z[0], SLICE_MM, len(z))
    j0, j1 = _index_range(solid.lo[1], solid.hi[1], ORIGIN[1], ROW_MM, ROWS)
    i0, i1 = _index_range(solid.lo[0], solid.hi[0], ORIGIN[0], COL_MM, COLS)
    if k0 >= k1 or j0 >= j1 or i0 >= i1:
        return
    zz, yy, xx = np.meshgrid(z[k0:k1], ORIGIN[1] + ROW_MM * np.arange(j0, j1),
                             ORIGIN[0] + COL_MM * np.arange(i0, i1), indexing="ij")
    cov = _coverage(solid, np.stack([xx, yy, zz], -1), n)
    block = vol[k0:k1, j0:j1, i0:i1]
    block += cov * (np.float32(hu) - block)


def render_hu(layer_list: list[st.Layer]) -> np.ndarray:
    """Noise-free HU volume (k, j, i) float32 with partial volume and the point spread."""
    z = slice_z()
    vol = np.full((N_SLICES, ROWS, COLS), st.HU["air"], np.float32)
    for c0 in range(0, N_SLICES, CHUNK):
        zc = z[c0:c0 + CHUNK]
        for _, hu, solid, n in layer_list:
            if solid.hi[2] >= zc[0] - SLICE_MM and solid.lo[2] <= zc[-1] + SLICE_MM:
                paint(vol[c0:c0 + CHUNK], zc, solid, hu, n)
    sigma = PSF_SIGMA_MM / STEP
    return gaussian_filter(vol, sigma, mode="nearest")


def add_noise(hu: np.ndarray) -> np.ndarray:
    """Seeded correlated Gaussian noise of standard deviation NOISE_HU; stored uint16."""
    rng = np.random.default_rng(SEED)
    white = rng.standard_normal(hu.shape).astype(np.float32)
    noise = gaussian_filter(white, NOISE_CORRELATION_VOX)
    noise *= NOISE_HU / float(noise.std())
    stored = np.clip(np.rint(hu + noise) - RESCALE_INTERCEPT, 0, 2**BITS_STORED - 1)
    return stored.astype(np.uint16)


def slice_dataset(k: int, pixels: np.ndarray) -> object:
    """One CT Image Storage slice; InstanceNumber 1 = most superior."""
    ds = base_dataset(CTImageStorage, uid("instance", "lumbar_ct", k), modality="CT", series_uid=SERIES_UID,
                      series_number=5, series_description="INTRAOP CT LSPINE T12-S2 1.5")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = N_SLICES - k
    ds.ContentDate = ds.AcquisitionDate = PATIENT["StudyDate"]
    ds.ContentTime, ds.AcquisitionTime = "103500", "103430"
    ds.FrameOfReferenceUID = FOR_UID
    ds.PositionReferenceIndicator = ""
    ipp = ORIGIN + [0.0, 0.0, k * SLICE_MM]
    ds.ImagePositionPatient = ds_list(ipp, 6)
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PixelSpacing = [ds_str(ROW_MM), ds_str(COL_MM)]
    ds.SliceThickness = ds_str(SLICE_MM)
    ds.SliceLocation = ds_str(float(ipp[2]), 6)
    ds.KVP, ds.ExposureTime, ds.XRayTubeCurrent = "120", "13000", 40
    ds.ConvolutionKernel = "BONE"
    ds.PatientPosition = "HFP"
    ds.BodyPartExamined = "LSPINE"
    ds.ReconstructionDiameter = ds_str(COLS * COL_MM, 3)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = ROWS, COLS
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, BITS_STORED, BITS_STORED - 1, 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = str(RESCALE_INTERCEPT), "1", "HU"
    ds.WindowCenter = [ds_str(c) for _, c, _ in WINDOWS]
    ds.WindowWidth = [ds_str(w) for _, _, w in WINDOWS]
    ds.WindowCenterWidthExplanation = [e for e, _, _ in WINDOWS]
    ds.LossyImageCompression = "00"
    ds.BurnedInAnnotation = "NO"
    ds.PixelData = pixels[k].tobytes()
    return ds


def file_name(k: int) -> str:
    return f"IM{N_SLICES - k:04d}.dcm"


def model() -> tuple[dict, list, dict]:
    """The analytic spine, its screws and the foramina."""
    spine = an.build_spine()
    return spine, an.place_screws(spine), lt.foramina(spine)


def truth_block(spine: dict, screws: list, fora: dict) -> dict:
    """The ``lumbar_ct`` entry of truth.json."""
    levels = lt.level_truth(spine)
    discs = lt.disc_truth(spine, fora)
    return {
        "folder": "lumbar_ct", "sop_class_uid": CTImageStorage, "modality": "CT", "kind": "volume",
        "shape": [N_SLICES, ROWS, COLS], "rows": ROWS, "columns": COLS, "n_slices": N_SLICES,
        "spacing_mm": STEP.tolist(), "pixel_spacing_tag": [ROW_MM, COL_MM],
        "image_orientation_patient": [1, 0, 0, 0, 1, 0], "affine": affine().tolist(),
        "origin_lps_mm": ORIGIN.tolist(), "patient_position": "HFP",
        "rescale": {"slope": 1.0, "intercept": float(RESCALE_INTERCEPT), "type": "HU"},
        "bits_stored": BITS_STORED, "pixel_representation": 0,
        "windows": [{"explanation": e, "center": c, "width": w} for e, c, w in WINDOWS],
        "frame_of_reference_uid": FOR_UID, "series_instance_uid": SERIES_UID,
        "files_in_array_order": [file_name(k) for k in range(N_SLICES)],
        "levels": levels, "discs": discs, "foramina": fora,
        "lordosis_deg": {"L1-S1": levels["S1"]["superior_endplate_inclination_deg"]
                         - levels["L1"]["superior_endplate_inclination_deg"]},
        "sacral_slope_deg": levels["S1"]["superior_endplate_inclination_deg"],
        "screws": [lt.screw_truth(spine, s) for s in screws],
        "clinical": {"spondylolisthesis": "L4-L5", "narrowed_disc": "L5-S1", "laminectomy": an.LAMINECTOMY,
                     "fusion_levels": ["L4", "L5"], "breaching_screw": "L4 left"},
        "hu": st.HU, "cortex_mm": an.CORTEX_MM, "psf_sigma_mm": PSF_SIGMA_MM, "noise_hu_sd": NOISE_HU,
        "skin": {"body_center_xy_lps_mm": list(st.BODY_CENTER_XY), "semi_axes_xy_mm": list(st.BODY_SEMI),
                 "note": "skin surface = elliptic cylinder along z"},
    }


def build(out_root: Path) -> dict:
    """Write ``lumbar_ct/`` and return its truth block."""
    spine, screws, fora = model()
    z = slice_z()
    hu = render_hu(st.layers(spine, screws, fora, z[0] - 10, z[-1] + 10))
    pixels = add_noise(hu)
    for k in range(N_SLICES):
        write(slice_dataset(k, pixels), out_root / "lumbar_ct" / file_name(k))
    return {"lumbar_ct": truth_block(spine, screws, fora)}
