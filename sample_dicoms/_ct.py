"""Intraoperative CT of the lumbar-spine phantom: geometry, rendering, writing.

Geometry (PS3.3 C.7.6.2.1.1): the scan plane is tilted out of the patient's
axial plane (rotation 5 deg about x then 3 deg about z), voxels are anisotropic
and sub-millimetre (slice step 0.9 mm, row spacing 0.6 mm, column spacing
0.75 mm, PixelSpacing = [row, col] = [0.6, 0.75]).  Every voxel is sampled at
its exact LPS position computed from the *written* tags (IPP, IOP,
PixelSpacing), so the truth in LPS mm and the files agree to rounding of the
decimal strings (< 1e-6 mm).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, EnhancedCTImageStorage

import _phantom as ph
from dicom_builder import image_pixel
from _common import PATIENT, as_written, base_dataset, ds_list, ds_str, random_names, uid, write

N_SLICES, ROWS, COLS = 64, 140, 120
SLICE_MM, ROW_MM, COL_MM = 0.9, 0.6, 0.75
TILT_X_DEG, TILT_Z_DEG = 5.0, 3.0
#: Centre of the reconstructed field, LPS mm.
FOV_CENTER = ph.ORIGIN + np.array([0.0, 13.0, 0.0])
RESCALE_INTERCEPT = -1024
BITS_STORED = 16  # extended CT scale: stored = HU + 1024 up to 64511 HU
NOISE_HU = 4.0  # standard deviation of the added Gaussian noise
SEED = 20260314
FRAME_OF_REFERENCE_UID = uid("frame-of-reference", "spine-ct")
CT_SERIES_UID = uid("series", "spine_ct")
ENH_SERIES_UID = uid("series", "spine_ct_enhanced")
WINDOWS = (("BONE", 480.0, 2500.0), ("SOFT TISSUE", 40.0, 400.0), ("METAL", 3000.0, 10000.0))


@dataclass(frozen=True)
class CTGeometry:
    """Written geometry of the CT series, sorted along the slice normal.

    Attributes
    ----------
    row_cos, col_cos : (3,) ndarray
        ImageOrientationPatient as written: direction of a row (i grows) and
        of a column (j grows).
    ipp : (N, 3) ndarray
        ImagePositionPatient of each slice as written, LPS mm, ascending along
        the normal.
    """

    row_cos: np.ndarray
    col_cos: np.ndarray
    ipp: np.ndarray

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.row_cos, self.col_cos)

    @property
    def affine(self) -> np.ndarray:
        """4x4 index (k, j, i, 1) -> LPS (x, y, z, 1) mm."""
        a = np.eye(4)
        a[:3, 0] = (self.ipp[-1] - self.ipp[0]) / (len(self.ipp) - 1)
        a[:3, 1] = ROW_MM * self.col_cos
        a[:3, 2] = COL_MM * self.row_cos
        a[:3, 3] = self.ipp[0]
        return a


def rotation() -> np.ndarray:
    """Scanner-to-patient rotation: Rz(TILT_Z) @ Rx(TILT_X)."""
    ax, az = np.deg2rad(TILT_X_DEG), np.deg2rad(TILT_Z_DEG)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ rx


def make_geometry() -> CTGeometry:
    """IOP and per-slice IPP exactly as they will be written (DS strings)."""
    r = rotation()
    row_cos = as_written(r[:, 0], 9)
    col_cos = as_written(r[:, 1], 9)
    normal = np.cross(row_cos, col_cos)
    first = (FOV_CENTER - row_cos * COL_MM * (COLS - 1) / 2 - col_cos * ROW_MM * (ROWS - 1) / 2
             - normal * SLICE_MM * (N_SLICES - 1) / 2)
    ipp = np.array([as_written(first + k * SLICE_MM * normal, 6) for k in range(N_SLICES)])
    return CTGeometry(row_cos=row_cos, col_cos=col_cos, ipp=ipp)


def voxel_lps(geo: CTGeometry) -> np.ndarray:
    """LPS mm of every voxel centre, (N, ROWS, COLS, 3) float64, from each slice's IPP."""
    j = np.arange(ROWS)[:, None, None] * ROW_MM * geo.col_cos
    i = np.arange(COLS)[None, :, None] * COL_MM * geo.row_cos
    return geo.ipp[:, None, None, :] + (j + i)[None]


def metal_coverage(sdf_fn, centres: np.ndarray, steps: np.ndarray, n: int) -> np.ndarray:
    """Fraction of each voxel inside a metal object, by ``n``^3 supersampling.

    Parameters
    ----------
    sdf_fn : callable
        (..., 3) LPS mm -> signed distance in mm (negative inside).
    centres : (..., 3) ndarray
        Voxel centres in LPS mm.
    steps : (3, 3) ndarray
        Rows = LPS step vectors of the three index axes (one voxel).
    n : int
        Samples per axis; only voxels that the surface may cross are
        supersampled, the rest are 0 or 1.
    """
    coarse = sdf_fn(centres)
    out = (coarse < 0).astype(np.float64)
    # Half the sum of the step lengths (1.125 mm here) exceeds the half-diagonal (0.66 mm) by
    # enough to also cover the tip cone, whose distance estimate is up to 1/cos(29 deg) too large.
    reach = 0.5 * np.linalg.norm(steps, axis=1).sum()
    edge = np.abs(coarse) <= reach
    f = (np.arange(n) + 0.5) / n - 0.5
    offs = np.stack(np.meshgrid(f, f, f, indexing="ij"), -1).reshape(-1, 3) @ steps  # (n^3, 3)
    pts = centres[edge]
    inside = np.empty(len(pts), np.float64)
    for s in range(0, len(pts), 2048):
        chunk = pts[s:s + 2048, None, :] + offs[None]
        inside[s:s + 2048] = (sdf_fn(chunk) < 0).mean(axis=1)
    out[edge] = inside
    return out


def render(geo: CTGeometry) -> np.ndarray:
    """Stored values (uint16, HU + 1024) in array order (k, j, i).

    Computed in float64 throughout: a last-bit difference between maths libraries
    (e.g. SIMD exp/erf) then cannot move a value across a rounding boundary, so the
    committed bytes are reproducible on other machines.
    """
    lps = voxel_lps(geo)
    local = lps - ph.ORIGIN
    ramp = float(np.cbrt(SLICE_MM * ROW_MM * COL_MM))
    hu = ph.anatomy_hu(local[..., 0], local[..., 1], local[..., 2], ramp)
    steps = geo.affine[:3, :3].T  # rows: step of k, j, i in LPS mm
    screw = ph.make_screw()
    f = metal_coverage(lambda p: ph.screw_sdf(p, screw), lps, steps, 4)
    hu += f * (ph.HU_SCREW - hu)
    r = ph.BEAD_DIAMETER_MM / 2
    for centre in ph.make_beads().values():
        box = bead_box(geo, centre, r + 6 * ph.BEAD_PSF_SIGMA_MM)
        rho = np.linalg.norm(lps[box] - centre, axis=-1)
        f = ph.blurred_ball(rho, r, ph.BEAD_PSF_SIGMA_MM)
        hu[box] += f * (ph.HU_STEEL - hu[box])
    rng = np.random.default_rng(SEED)
    hu += rng.normal(0.0, NOISE_HU, hu.shape)
    stored = np.clip(np.rint(hu) - RESCALE_INTERCEPT, 0, 2**BITS_STORED - 1)
    return stored.astype(np.uint16)


def bead_box(geo: CTGeometry, centre: np.ndarray, radius_mm: float) -> tuple[slice, slice, slice]:
    """Index box (k, j, i slices) covering a sphere of ``radius_mm`` around ``centre`` (LPS)."""
    idx = np.linalg.solve(geo.affine[:3, :3], centre - geo.affine[:3, 3])
    half = radius_mm / np.array([SLICE_MM, ROW_MM, COL_MM]) + 1
    lo = np.maximum(np.floor(idx - half).astype(int), 0)
    hi = np.minimum(np.ceil(idx + half).astype(int) + 1, [N_SLICES, ROWS, COLS])
    return tuple(slice(a, b) for a, b in zip(lo, hi))


# --- writing --------------------------------------------------------------------------------

def _pixel_module(ds: Dataset) -> None:
    image_pixel(ds, ROWS, COLS, bits_stored=BITS_STORED)


def _ct_acquisition(ds: Dataset) -> None:
    ds.KVP = "120"
    ds.ExposureTime = "1000"
    ds.XRayTubeCurrent = 50
    ds.ConvolutionKernel = "BONE"
    ds.PatientPosition = "HFP"  # prone for posterior instrumentation
    ds.BodyPartExamined = "LSPINE"
    ds.ReconstructionDiameter = ds_str(COLS * COL_MM, 3)


def ct_slice_dataset(geo: CTGeometry, k: int, pixels: np.ndarray) -> Dataset:
    """One CT Image Storage slice (array index ``k`` along the normal)."""
    n_k = N_SLICES - k  # InstanceNumber runs against position: 1 = most superior
    sop = uid("instance", "spine_ct", k)
    ds = base_dataset(CTImageStorage, sop, modality="CT", series_uid=CT_SERIES_UID, series_number=3,
                      series_description="INTRAOP CT LSPINE BONE 0.9")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = n_k
    ds.ContentDate = PATIENT["StudyDate"]
    ds.ContentTime = "101900"
    ds.AcquisitionDate = PATIENT["StudyDate"]
    ds.AcquisitionTime = "101845"
    ds.ImagesInAcquisition = N_SLICES
    ds.FrameOfReferenceUID = FRAME_OF_REFERENCE_UID
    ds.PositionReferenceIndicator = ""
    ds.ImagePositionPatient = ds_list(geo.ipp[k], 6)
    ds.ImageOrientationPatient = ds_list(np.r_[geo.row_cos, geo.col_cos], 9)
    ds.PixelSpacing = [ds_str(ROW_MM), ds_str(COL_MM)]
    ds.SliceThickness = ds_str(SLICE_MM)
    ds.SliceLocation = ds_str(float(geo.normal @ geo.ipp[k]), 6)
    _ct_acquisition(ds)
    _pixel_module(ds)
    ds.RescaleIntercept = str(RESCALE_INTERCEPT)
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter = [ds_str(c) for _, c, _ in WINDOWS]
    ds.WindowWidth = [ds_str(w) for _, _, w in WINDOWS]
    ds.WindowCenterWidthExplanation = [e for e, _, _ in WINDOWS]
    ds.LossyImageCompression = "00"
    ds.BurnedInAnnotation = "NO"
    ds.PixelData = pixels[k].tobytes()
    return ds


def write_series(out: Path, geo: CTGeometry, pixels: np.ndarray) -> list[str]:
    """Write one file per slice with seeded random names; returns names in array order."""
    names = random_names(np.random.default_rng(SEED + 1), N_SLICES)
    # make sure the names do not sort in slice order (nor in reverse order)
    order = sorted(range(N_SLICES), key=lambda k: names[k])
    assert order != list(range(N_SLICES)) and order != list(range(N_SLICES))[::-1]
    for k in range(N_SLICES):
        write(ct_slice_dataset(geo, k, pixels), out / names[k])
    return names


def _item(**kw) -> Dataset:
    d = Dataset()
    for key, value in kw.items():
        setattr(d, key, value)
    return d


def enhanced_frame_order() -> list[int]:
    """Stored frame f holds array slice ``order[f]`` (a seeded shuffle)."""
    return [int(k) for k in np.random.default_rng(SEED + 2).permutation(N_SLICES)]


def enhanced_dataset(geo: CTGeometry, pixels: np.ndarray) -> Dataset:
    """The same volume as one Enhanced CT Image Storage object, frames shuffled."""
    sop = uid("instance", "spine_ct_enhanced")
    ds = base_dataset(EnhancedCTImageStorage, sop, modality="CT", series_uid=ENH_SERIES_UID,
                      series_number=4, series_description="INTRAOP CT LSPINE ENHANCED")
    frame_type = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    # Enhanced CT Image module
    ds.ImageType = frame_type
    ds.PixelPresentation = "MONOCHROME"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.AcquisitionNumber = 1
    ds.AcquisitionDateTime = PATIENT["StudyDate"] + "101845"
    ds.AcquisitionDuration = 30.0
    ds.ContentQualification = "PRODUCT"
    ds.BurnedInAnnotation = "NO"
    ds.RecognizableVisualFeatures = "NO"
    ds.LossyImageCompression = "00"
    ds.PresentationLUTShape = "IDENTITY"
    ds.ImageComments = "Same volume as series 3, frames stored in shuffled order"
    ds.PatientPosition = "HFP"
    ds.BodyPartExamined = "LSPINE"
    # Frame of Reference
    ds.FrameOfReferenceUID = FRAME_OF_REFERENCE_UID
    ds.PositionReferenceIndicator = ""
    # Multi-frame Functional Groups
    ds.InstanceNumber = 1
    ds.ContentDate = PATIENT["StudyDate"]
    ds.ContentTime = "101900"
    ds.NumberOfFrames = N_SLICES
    # Multi-frame Dimension: stack id + in-stack position
    dim_uid = uid("dimension-organization", "spine_ct_enhanced")
    ds.DimensionOrganizationSequence = Sequence([_item(DimensionOrganizationUID=dim_uid)])
    ds.DimensionOrganizationType = "3D"
    ds.DimensionIndexSequence = Sequence([
        _item(DimensionOrganizationUID=dim_uid, DimensionIndexPointer=0x00209056,
              FunctionalGroupPointer=0x00209111, DimensionDescriptionLabel="Stack ID"),
        _item(DimensionOrganizationUID=dim_uid, DimensionIndexPointer=0x00209057,
              FunctionalGroupPointer=0x00209111, DimensionDescriptionLabel="In-Stack Position"),
    ])
    ds.AcquisitionContextSequence = Sequence([])
    _pixel_module(ds)
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([_item(
        PixelSpacing=[ds_str(ROW_MM), ds_str(COL_MM)], SliceThickness=ds_str(SLICE_MM),
        SpacingBetweenSlices=ds_str(SLICE_MM))])
    shared.PlaneOrientationSequence = Sequence([_item(
        ImageOrientationPatient=ds_list(np.r_[geo.row_cos, geo.col_cos], 9))])
    shared.PixelValueTransformationSequence = Sequence([_item(
        RescaleIntercept=str(RESCALE_INTERCEPT), RescaleSlope="1", RescaleType="HU")])
    shared.CTImageFrameTypeSequence = Sequence([_item(
        FrameType=frame_type, PixelPresentation="MONOCHROME", VolumetricProperties="VOLUME",
        VolumeBasedCalculationTechnique="NONE")])
    shared.FrameVOILUTSequence = Sequence([_item(
        WindowCenter=[ds_str(c) for _, c, _ in WINDOWS], WindowWidth=[ds_str(w) for _, _, w in WINDOWS],
        WindowCenterWidthExplanation=[e for e, _, _ in WINDOWS])])
    center = ds_list(FOV_CENTER, 6)
    shared.FrameAnatomySequence = Sequence([_item(
        FrameLaterality="U", AnatomicRegionSequence=Sequence([_item(
            CodeValue="122496007", CodingSchemeDesignator="SCT", CodeMeaning="Lumbar spine")]))])
    shared.IrradiationEventIdentificationSequence = Sequence([_item(
        IrradiationEventUID=uid("irradiation-event", "spine_ct"))])
    # one rotation of a cone-beam gantry with the table still: SEQUENCED
    shared.CTAcquisitionTypeSequence = Sequence([_item(
        AcquisitionType="SEQUENCED", ConstantVolumeFlag="NO", FluoroscopyFlag="NO")])
    shared.CTAcquisitionDetailsSequence = Sequence([_item(
        DataCollectionDiameter=ds_str(200.0), GantryDetectorTilt="0", TableHeight="180",
        RotationDirection="CW", RevolutionTime=13.0, SingleCollimationWidth=0.5,
        TotalCollimationWidth=150.0)])
    shared.CTTableDynamicsSequence = Sequence([_item(TableSpeed=0.0, TableFeedPerRotation=0.0)])
    shared.CTGeometrySequence = Sequence([_item(DistanceSourceToDataCollectionCenter=650.0,
                                                DistanceSourceToDetector=1150.0)])
    shared.CTReconstructionSequence = Sequence([_item(
        ReconstructionAlgorithm="ITERATIVE", ConvolutionKernel="BONE", ConvolutionKernelGroup="BONE",
        ImageFilter="NONE", ReconstructionAngle=360.0,
        ReconstructionPixelSpacing=[ROW_MM, COL_MM], ReconstructionFieldOfView=[ROWS * ROW_MM, COLS * COL_MM])])
    shared.CTExposureSequence = Sequence([_item(
        ExposureTimeInms=1000.0, XRayTubeCurrentInmA=50.0, ExposureInmAs=50.0, ExposureModulationType="NONE",
        CTDIvol=4.2, CTDIPhantomTypeCodeSequence=Sequence([_item(
            CodeValue="113691", CodingSchemeDesignator="DCM", CodeMeaning="IEC Body Dosimetry Phantom")]))])
    shared.CTXRayDetailsSequence = Sequence([_item(
        KVP="120", FocalSpots=["0.6"], FilterType="FLAT", FilterMaterial=["ALUMINUM"])])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    order = enhanced_frame_order()
    per_frame = []
    for k in order:
        f = Dataset()
        f.FrameContentSequence = Sequence([_item(
            FrameAcquisitionDateTime=PATIENT["StudyDate"] + "101845",
            FrameReferenceDateTime=PATIENT["StudyDate"] + "101845",
            FrameAcquisitionDuration=30.0, StackID="1", InStackPositionNumber=k + 1,
            DimensionIndexValues=[1, k + 1])])
        f.PlanePositionSequence = Sequence([_item(ImagePositionPatient=ds_list(geo.ipp[k], 6))])
        f.CTPositionSequence = Sequence([_item(
            TablePosition=0.0, ReconstructionTargetCenterPatient=[float(v) for v in center],
            DataCollectionCenterPatient=[float(v) for v in center])])
        per_frame.append(f)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.PixelData = np.ascontiguousarray(pixels[order]).tobytes()
    return ds


def landmark_truth(geo: CTGeometry) -> dict:
    """Landmarks (LPS mm), named distances (mm), screw and anatomy description."""
    beads = ph.make_beads()
    screw = ph.make_screw()
    d = lambda a, b: float(np.linalg.norm(beads[a] - beads[b]))  # noqa: E731
    v1 = beads["angle_arm1"] - beads["angle_vertex"]
    v2 = beads["angle_arm2"] - beads["angle_vertex"]
    angle = float(np.degrees(np.arccos(v1 @ v2 / np.linalg.norm(v1) / np.linalg.norm(v2))))
    return {
        "landmarks_lps_mm": {k: v.tolist() for k, v in beads.items()},
        "bead_diameter_mm": ph.BEAD_DIAMETER_MM,
        "bead_material_hu": ph.HU_STEEL,
        "bead_psf_sigma_mm": ph.BEAD_PSF_SIGMA_MM,
        "distances_mm": {
            "inch_a-inch_b": d("inch_a", "inch_b"),
            "half_a-half_b": d("half_a", "half_b"),
            "angle_vertex-angle_arm1": d("angle_vertex", "angle_arm1"),
            "angle_vertex-angle_arm2": d("angle_vertex", "angle_arm2"),
            "screw_entry-screw_tip": screw.length_mm,
        },
        "angles_deg": {"angle_arm1-angle_vertex-angle_arm2": angle},
        "screw": {
            "vertebra": "L4", "side": "left",
            "entry_lps_mm": screw.entry.tolist(), "tip_lps_mm": screw.tip.tolist(),
            "length_mm": screw.length_mm, "diameter_mm": screw.diameter_mm,
            "head_diameter_mm": screw.head_diameter_mm, "head_length_mm": screw.head_length_mm,
            "tip_taper_mm": 4.0,
            "note": "shaft = cylinder from entry to tip-4 mm then a cone to a 1 mm radius at the tip; "
                    "head = cylinder of head_length_mm proximal to entry",
        },
        "anatomy": {
            "origin_lps_mm": ph.ORIGIN.tolist(),
            "note": "local frame (u,v,w) = LPS - origin; the spine runs along +z (S)",
            "vertebrae": {name: {"body_center_lps_mm": (ph.ORIGIN + [0, 0, wc]).tolist(),
                                 "body_semi_axes_x_y_mm": list(ph.VB_SEMI),
                                 "body_height_mm": 2 * ph.VB_HALF_HEIGHT} for name, wc in ph.VERTEBRAE},
            "disc_z_range_lps_mm": [float(ph.ORIGIN[2] - ph.DISC_HALF_HEIGHT),
                                    float(ph.ORIGIN[2] + ph.DISC_HALF_HEIGHT)],
            "hu": {"air": ph.HU_AIR, "skin": ph.HU_SKIN, "fat": ph.HU_FAT, "muscle": ph.HU_MUSCLE,
                   "csf": ph.HU_CSF, "cortical_bone": ph.HU_CORTICAL, "cancellous_bone": ph.HU_CANCELLOUS,
                   "disc_annulus": ph.HU_ANNULUS, "disc_nucleus": ph.HU_NUCLUS, "screw": ph.HU_SCREW,
                   "steel_beads": ph.HU_STEEL},
            "noise_hu_sd": NOISE_HU,
        },
    }


def geometry_truth(geo: CTGeometry) -> dict:
    """Geometry block shared by the series and the enhanced object."""
    return {
        "sop_class_uid": CTImageStorage, "modality": "CT", "kind": "volume",
        "shape": [N_SLICES, ROWS, COLS],
        "rows": ROWS, "columns": COLS, "n_slices": N_SLICES,
        "spacing_mm": [SLICE_MM, ROW_MM, COL_MM],
        "pixel_spacing_tag": [ROW_MM, COL_MM],
        "image_orientation_patient": np.r_[geo.row_cos, geo.col_cos].tolist(),
        "slice_normal": geo.normal.tolist(),
        "tilt": f"scanner rotated {TILT_X_DEG} deg about x then {TILT_Z_DEG} deg about z (R = Rz @ Rx)",
        "affine": geo.affine.tolist(),
        "origin_lps_mm": geo.ipp[0].tolist(),
        "ipp_first_last_lps_mm": [geo.ipp[0].tolist(), geo.ipp[-1].tolist()],
        "rescale": {"slope": 1.0, "intercept": float(RESCALE_INTERCEPT), "type": "HU"},
        "bits_stored": BITS_STORED, "pixel_representation": 0,
        "hu_range": [RESCALE_INTERCEPT, 2**BITS_STORED - 1 + RESCALE_INTERCEPT],
        "windows": [{"explanation": e, "center": c, "width": w} for e, c, w in WINDOWS],
        "frame_of_reference_uid": FRAME_OF_REFERENCE_UID,
    }


def build(out_root: Path) -> dict:
    """Write ``spine_ct/`` and ``spine_ct_enhanced/``; return their truth blocks."""
    geo = make_geometry()
    pixels = render(geo)
    names = write_series(out_root / "spine_ct", geo, pixels)
    write(enhanced_dataset(geo, pixels), out_root / "spine_ct_enhanced" / "ENHANCED_CT.dcm")
    lm = landmark_truth(geo)
    ct = {"folder": "spine_ct", **geometry_truth(geo),
          "series_instance_uid": CT_SERIES_UID,
          "files_in_array_order": names,
          "instance_numbers_in_array_order": [N_SLICES - k for k in range(N_SLICES)],
          "note": "array index k sorts along the slice normal (ascending n.IPP); InstanceNumber = N - k",
          **lm}
    enh = {"folder": "spine_ct_enhanced", "file": "ENHANCED_CT.dcm", **geometry_truth(geo),
           "sop_class_uid": EnhancedCTImageStorage, "series_instance_uid": ENH_SERIES_UID,
           "stored_frame_to_array_index": enhanced_frame_order(),
           "note": "stored frame f is array slice stored_frame_to_array_index[f] of spine_ct; "
                   "InStackPositionNumber = array index + 1; same pixels, same frame of reference",
           "same_as": "spine_ct",
           **lm}
    return {"spine_ct": ct, "spine_ct_enhanced": enh}
