"""The committed phantoms in ``sample_dicoms/``: reproducible, valid, and where truth says.

Every geometric check here uses pydicom and the files' own tags directly
(ImagePositionPatient, ImageOrientationPatient, PixelSpacing, ImagerPixelSpacing,
DistanceSourceToDetector/Patient), never miss_imaging's loader, so that the
truth is independent of the code it will be used to test.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.errors import InvalidDicomError
from pydicom.uid import ImplicitVRLittleEndian

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_dicoms"
GENERATED_DIRS = ("spine_ct", "spine_ct_enhanced", "fluoro", "radiograph", "compressed", "hostile", "dicomdir",
                  "lumbar_ct", "lumbar_fluoro")

#: Tolerance for landmark positions in the CT, mm (the rendering is accurate to < 0.005 mm).
CT_LANDMARK_TOL_MM = 0.05
#: Tolerance for bead centroids in projections, pixels.
PROJ_LANDMARK_TOL_PX = 0.1


def _generator():
    spec = importlib.util.spec_from_file_location("miss_imaging_sample_generate", SAMPLES / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _data_files(root: Path) -> list[Path]:
    """Generated files (relative), i.e. everything in the generated folders + truth.json."""
    files = [Path("truth.json")]
    for d in GENERATED_DIRS:
        files += [p.relative_to(root) for p in sorted((root / d).rglob("*")) if p.is_file()]
    return files


def _dicomdir_records(path: Path) -> list[tuple]:
    ds = pydicom.dcmread(path)
    return [(r.DirectoryRecordType, tuple(r.get("ReferencedFileID") or ()), r.get("ReferencedSOPInstanceUIDInFile"))
            for r in ds.DirectoryRecordSequence]


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("regenerated")
    _generator().generate(out)
    return out


# --- reproducibility -------------------------------------------------------------------------

def test_regeneration_reproduces_committed_files(regenerated, truth):
    committed = _data_files(SAMPLES)
    assert committed == _data_files(regenerated)
    # OpenJPEG and CharLS output may change between library versions: compare decoded pixels + header
    loose = {c["file"] for c in truth["compressed"]["copies"].values() if not c["byte_reproducible"]}
    for rel in committed:
        a, b = (SAMPLES / rel).read_bytes(), (regenerated / rel).read_bytes()
        if rel.name == "DICOMDIR" and a != b:
            # written by pydicom's FileSet: compare the records if the bytes differ (pydicom version)
            assert _dicomdir_records(SAMPLES / rel) == _dicomdir_records(regenerated / rel)
        elif rel.parts[0] == "lumbar_fluoro" and a != b:
            # a DRR by miss_imaging.carm: an improved sampler may move grey levels slightly
            da, db = pydicom.dcmread(SAMPLES / rel), pydicom.dcmread(regenerated / rel)
            diff = np.abs(da.pixel_array.astype(int) - db.pixel_array.astype(int))
            assert diff.mean() < 5 and np.percentile(diff, 99) < 60, rel
            del da.PixelData, db.PixelData
            for key in ("WindowCenter", "WindowWidth"):
                del da[key], db[key]
            assert da == db and da.file_meta == db.file_meta, rel
        elif rel.as_posix() in loose:
            da, db = pydicom.dcmread(SAMPLES / rel), pydicom.dcmread(regenerated / rel)
            np.testing.assert_array_equal(da.pixel_array, db.pixel_array, err_msg=str(rel))
            del da.PixelData, db.PixelData
            assert da == db and da.file_meta == db.file_meta, rel
        else:
            assert a == b, f"{rel} differs from a fresh regeneration"


def test_generated_files_are_part10_with_fixed_implementation(truth):
    for rel in ("spine_ct_enhanced/ENHANCED_CT.dcm", truth["fluoro"]["folder"] + "/" + truth["fluoro"]["file"]):
        raw = (SAMPLES / rel).read_bytes()
        assert raw[:128] == b"\0" * 128 and raw[128:132] == b"DICM"
        meta = pydicom.dcmread(SAMPLES / rel).file_meta
        assert meta.ImplementationVersionName == "MISSIMG_PHANTOM1"


def test_total_size_stays_small():
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert total < 30_000_000  # issue 14: all samples under about 30 MB


# --- every non-hostile file is valid for pydicom ------------------------------------------

NON_HOSTILE = ("spine_ct", "spine_ct_enhanced", "fluoro", "radiograph", "compressed", "dicomdir", "lumbar_ct",
               "lumbar_fluoro")


@pytest.mark.parametrize("folder", NON_HOSTILE)
def test_non_hostile_files_read_and_decode(folder, truth):
    files = [p for p in (SAMPLES / folder).rglob("*") if p.is_file() and p.name != "DICOMDIR"]
    assert files
    for p in files:
        ds = pydicom.dcmread(p)  # no force: a proper Part 10 file
        arr = ds.pixel_array
        assert arr.size == int(ds.Rows) * int(ds.Columns) * int(ds.get("NumberOfFrames", 1) or 1)
        assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def test_sop_classes(truth):
    expect = {
        "spine_ct": "1.2.840.10008.5.1.4.1.1.2",
        "spine_ct_enhanced": "1.2.840.10008.5.1.4.1.1.2.1",
        "fluoro": "1.2.840.10008.5.1.4.1.1.12.1",
        "radiograph": "1.2.840.10008.5.1.4.1.1.1.1",
    }
    for key, sop in expect.items():
        assert truth[key]["sop_class_uid"] == sop
        for p in (SAMPLES / truth[key]["folder"]).iterdir():
            assert pydicom.dcmread(p, stop_before_pixels=True).SOPClassUID == sop, p


def test_uids_are_unique_and_valid():
    seen: dict[str, Path] = {}
    for folder in NON_HOSTILE:
        for p in (q for q in (SAMPLES / folder).rglob("*") if q.is_file() and q.name != "DICOMDIR"):
            ds = pydicom.dcmread(p, stop_before_pixels=True)
            for uid in (ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID):
                assert uid.is_valid, (p, uid)
            assert ds.SOPInstanceUID not in seen, (p, seen.get(ds.SOPInstanceUID))
            seen[ds.SOPInstanceUID] = p


# --- CT: geometry from the tags ----------------------------------------------------------

def _ct_series():
    """Read spine_ct with pydicom, sort along the normal; return (datasets, HU volume, affine, files)."""
    paths = sorted((SAMPLES / "spine_ct").iterdir())
    dss = [pydicom.dcmread(p) for p in paths]
    iop = np.array(dss[0].ImageOrientationPatient, float)
    row_cos, col_cos = iop[:3], iop[3:]
    normal = np.cross(row_cos, col_cos)
    order = np.argsort([normal @ np.array(d.ImagePositionPatient, float) for d in dss])
    dss = [dss[i] for i in order]
    paths = [paths[i] for i in order]
    hu = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in dss])
    ipp = np.array([d.ImagePositionPatient for d in dss], float)
    d_row, d_col = (float(v) for v in dss[0].PixelSpacing)  # row spacing first
    affine = np.eye(4)
    affine[:3, 0] = (ipp[-1] - ipp[0]) / (len(ipp) - 1)
    affine[:3, 1] = d_row * col_cos
    affine[:3, 2] = d_col * row_cos
    affine[:3, 3] = ipp[0]
    return dss, hu, affine, paths


@pytest.fixture(scope="module")
def ct():
    return _ct_series()


def test_ct_affine_and_spacing_from_tags(ct, truth):
    dss, hu, affine, _ = ct
    t = truth["spine_ct"]
    assert list(hu.shape) == t["shape"]
    np.testing.assert_allclose(affine, np.array(t["affine"]), atol=1e-6)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    np.testing.assert_allclose(spacing, t["spacing_mm"], atol=1e-6)
    assert len({round(s, 6) for s in spacing}) == 3, "three distinct spacings"
    assert all(s < 1.0 for s in spacing)
    # every slice's IPP lies on the regular grid (no shear, no gap)
    ipp = np.array([d.ImagePositionPatient for d in dss], float)
    grid = affine[:3, 3] + np.arange(len(ipp))[:, None] * affine[:3, 0]
    np.testing.assert_allclose(ipp, grid, atol=1e-5)
    np.testing.assert_allclose(affine[:3, 0] / spacing[0], np.cross(*np.reshape(t["image_orientation_patient"], (2, 3))),
                               atol=1e-6)


def test_ct_orientation_is_tilted_out_of_plane(ct, truth):
    iop = np.array(ct[0][0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    tilt_deg = np.degrees(np.arccos(abs(normal[2])))
    assert 3.0 < tilt_deg < 10.0  # out of the axial plane by a few degrees
    assert abs(iop[1]) > 0.02  # rows are also rotated in-plane
    assert iop.tolist() == truth["spine_ct"]["image_orientation_patient"]


def test_ct_file_names_and_instance_numbers_do_not_follow_position(ct, truth):
    dss, _, _, paths = ct
    names = [p.name for p in paths]
    assert names == truth["spine_ct"]["files_in_array_order"]
    assert names != sorted(names) and names[::-1] != sorted(names)
    instance = [int(d.InstanceNumber) for d in dss]
    assert instance == truth["spine_ct"]["instance_numbers_in_array_order"]
    assert all(a > b for a, b in zip(instance, instance[1:])), "InstanceNumber runs against position"


def test_ct_rescale_and_tissue_values(ct, truth):
    dss, hu, _, _ = ct
    assert all(float(d.RescaleIntercept) == -1024 and float(d.RescaleSlope) == 1 for d in dss)
    assert hu.min() >= -1024
    assert np.median(hu[:, :3, :3]) < -900  # air in the corner
    assert hu.max() > 3000  # metal


def _hu_near(hu: np.ndarray, affine: np.ndarray, lps, radius_mm: float = 1.5) -> float:
    """Median HU of the voxels within ``radius_mm`` of an LPS point (positions from the tags)."""
    k, j, i = np.indices(hu.shape)
    pos = np.stack([k, j, i], -1) @ affine[:3, :3].T + affine[:3, 3]
    return float(np.median(hu[np.linalg.norm(pos - np.asarray(lps), axis=-1) < radius_mm]))


def test_ct_anatomy_is_where_truth_says(ct, truth):
    _, hu, affine, _ = ct
    a = truth["spine_ct"]["anatomy"]
    for vertebra in a["vertebrae"].values():  # cancellous bone at each body centre
        assert _hu_near(hu, affine, vertebra["body_center_lps_mm"]) == pytest.approx(a["hu"]["cancellous_bone"], abs=5)
    z0, z1 = a["disc_z_range_lps_mm"]
    disc = np.array(a["origin_lps_mm"]) + [10.0, 0.0, 0.0]  # annulus, lateral in the disc plane
    disc[2] = (z0 + z1) / 2
    assert _hu_near(hu, affine, disc) == pytest.approx(a["hu"]["disc_annulus"], abs=5)
    body = np.array(list(a["vertebrae"].values())[1]["body_center_lps_mm"])
    cortex = body + [0.0, -(a["vertebrae"]["L4"]["body_semi_axes_x_y_mm"][1] - 0.6), 0.0]  # anterior cortex
    assert _hu_near(hu, affine, cortex, 0.5) > 700


def _bead_centroid(hu: np.ndarray, affine: np.ndarray, near_lps: np.ndarray) -> np.ndarray:
    """Intensity centroid (LPS mm) of the bead near ``near_lps``: HU above the local background,
    within 3 mm of the brightest voxel; background = median of the 3-5 mm shell."""
    inv = np.linalg.inv(affine)
    idx = np.rint((inv @ np.r_[near_lps, 1.0])[:3]).astype(int)
    box = tuple(slice(max(i - 9, 0), i + 10) for i in idx)
    sub = hu[box]
    k, j, i = np.meshgrid(*[np.arange(s.start, s.start + n) for s, n in zip(box, sub.shape)], indexing="ij")
    pos = np.stack([k, j, i], -1) @ affine[:3, :3].T + affine[:3, 3]
    peak = pos[np.unravel_index(np.argmax(sub), sub.shape)]
    assert np.linalg.norm(peak - near_lps) < 1.0
    dist = np.linalg.norm(pos - peak, axis=-1)
    background = np.median(sub[(dist > 3.0) & (dist < 5.0)])
    inside = dist < 3.0
    w = sub[inside] - background
    return (pos[inside] * w[:, None]).sum(0) / w.sum()


@pytest.fixture(scope="module")
def ct_bead_centroids(ct, truth):
    _, hu, affine, _ = ct
    return {name: _bead_centroid(hu, affine, np.array(p))
            for name, p in truth["spine_ct"]["landmarks_lps_mm"].items()}


def test_ct_beads_are_where_truth_says(ct, truth, ct_bead_centroids):
    hu = ct[1]
    for name, p in truth["spine_ct"]["landmarks_lps_mm"].items():
        err = np.linalg.norm(ct_bead_centroids[name] - np.array(p))
        assert err < CT_LANDMARK_TOL_MM, (name, err)
    # the beads are steel: their peak voxels are >= 3000 HU
    inv = np.linalg.inv(ct[2])
    for p in truth["spine_ct"]["landmarks_lps_mm"].values():
        k, j, i = np.rint((inv @ np.r_[p, 1.0])[:3]).astype(int)
        assert hu[k - 1:k + 2, j - 1:j + 2, i - 1:i + 2].max() >= 3000


def test_ct_distances_measured_in_the_files_match_truth(truth, ct_bead_centroids):
    t = truth["spine_ct"]
    assert t["distances_mm"]["inch_a-inch_b"] == pytest.approx(25.4, abs=1e-9)
    assert t["distances_mm"]["half_a-half_b"] == pytest.approx(12.7, abs=1e-9)
    for key, mm in t["distances_mm"].items():
        a, b = key.split("-")
        if a.startswith("screw"):
            continue
        measured = np.linalg.norm(ct_bead_centroids[a] - ct_bead_centroids[b])
        assert measured == pytest.approx(mm, abs=CT_LANDMARK_TOL_MM), key
    # the pairs lie on oblique 3-D lines (no coordinate difference is ~0)
    for a, b in (("inch_a", "inch_b"), ("half_a", "half_b")):
        d = np.array(t["landmarks_lps_mm"][a]) - np.array(t["landmarks_lps_mm"][b])
        assert np.all(np.abs(d) > 1.0)
    v1 = ct_bead_centroids["angle_arm1"] - ct_bead_centroids["angle_vertex"]
    v2 = ct_bead_centroids["angle_arm2"] - ct_bead_centroids["angle_vertex"]
    angle = np.degrees(np.arccos(v1 @ v2 / np.linalg.norm(v1) / np.linalg.norm(v2)))
    assert angle == pytest.approx(t["angles_deg"]["angle_arm1-angle_vertex-angle_arm2"], abs=0.5)


def test_ct_screw_matches_truth(ct, truth):
    _, hu, affine, _ = ct
    s = truth["spine_ct"]["screw"]
    entry, tip = np.array(s["entry_lps_mm"]), np.array(s["tip_lps_mm"])
    length = np.linalg.norm(tip - entry)
    assert length == pytest.approx(s["length_mm"], abs=1e-9)
    axis = (tip - entry) / length
    k, j, i = np.indices(hu.shape)
    pos = np.stack([k, j, i], -1) @ affine[:3, :3].T + affine[:3, 3]
    t = (pos - entry) @ axis
    radial = np.linalg.norm(pos - entry - t[..., None] * axis, axis=-1)
    r = s["diameter_mm"] / 2
    half_diag = 0.5 * np.linalg.norm(np.linalg.norm(affine[:3, :3], axis=0))
    shaft = (t > 1.0) & (t < length - s["tip_taper_mm"] - 1.0)
    core = shaft & (radial < r - half_diag)
    assert core.sum() > 1000
    assert hu[core].min() >= 3000, "every voxel inside the shaft is metal"
    outside = shaft & (radial > r + half_diag)
    beyond_tip = (t > length + half_diag) & (radial < r + 2)
    metal = hu >= 3000
    near_beads = np.zeros(hu.shape, bool)
    for p in truth["spine_ct"]["landmarks_lps_mm"].values():
        near_beads |= np.linalg.norm(pos - np.array(p), axis=-1) < 3.0
    assert not (metal & outside & ~near_beads).any(), "no metal outside the stated diameter"
    assert not (metal & beyond_tip & ~near_beads).any(), "no metal beyond the tip"
    # the head sits proximal to the entry point
    head = (t < -1.0) & (t > -s["head_length_mm"] + 1.0) & (radial < s["head_diameter_mm"] / 2 - half_diag)
    assert head.any() and hu[head].min() >= 3000


# --- Enhanced CT ----------------------------------------------------------------------------

def test_enhanced_ct_is_the_same_volume(ct, truth):
    dss, hu, affine, _ = ct
    t = truth["spine_ct_enhanced"]
    enh = pydicom.dcmread(SAMPLES / t["folder"] / t["file"])
    assert enh.FrameOfReferenceUID == dss[0].FrameOfReferenceUID
    shared = enh.SharedFunctionalGroupsSequence[0]
    pm = shared.PixelMeasuresSequence[0]
    assert [float(v) for v in pm.PixelSpacing] == [float(v) for v in dss[0].PixelSpacing]
    assert list(shared.PlaneOrientationSequence[0].ImageOrientationPatient) == list(dss[0].ImageOrientationPatient)
    pvt = shared.PixelValueTransformationSequence[0]
    assert float(pvt.RescaleIntercept) == -1024 and float(pvt.RescaleSlope) == 1
    # sort the frames by their own PlanePositionSequence, independently of truth
    iop = np.array(shared.PlaneOrientationSequence[0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    ipp = np.array([f.PlanePositionSequence[0].ImagePositionPatient for f in enh.PerFrameFunctionalGroupsSequence],
                   float)
    order = np.argsort(ipp @ normal)
    assert list(order) != list(range(len(order))), "frames are stored out of order"
    np.testing.assert_array_equal(np.argsort(t["stored_frame_to_array_index"]), order)
    np.testing.assert_allclose(ipp[order], [d.ImagePositionPatient for d in dss], atol=0)
    frames = enh.pixel_array[order] * float(pvt.RescaleSlope) + float(pvt.RescaleIntercept)
    np.testing.assert_array_equal(frames, hu)
    positions = [f.FrameContentSequence[0].InStackPositionNumber for f in enh.PerFrameFunctionalGroupsSequence]
    assert [positions[i] for i in order] == list(range(1, len(order) + 1))
    # the beads, measured through the enhanced object's own tags
    d_row, d_col = (float(v) for v in pm.PixelSpacing)
    enh_affine = np.eye(4)
    enh_affine[:3, 0] = (ipp[order][-1] - ipp[order][0]) / (len(order) - 1)
    enh_affine[:3, 1] = d_row * iop[3:]
    enh_affine[:3, 2] = d_col * iop[:3]
    enh_affine[:3, 3] = ipp[order][0]
    found = {k: _bead_centroid(frames, enh_affine, np.array(p)) for k, p in t["landmarks_lps_mm"].items()}
    for key, mm in t["distances_mm"].items():
        a, b = key.split("-")
        if not a.startswith("screw"):
            assert np.linalg.norm(found[a] - found[b]) == pytest.approx(mm, abs=CT_LANDMARK_TOL_MM), key


# --- projections ----------------------------------------------------------------------------

def _proj_centroid(frame: np.ndarray, rc: tuple[float, float], dark: bool) -> np.ndarray:
    """Centroid (row, col) of a bead's contrast within 4.5 px, background from the 5-7 px ring."""
    r, c = np.indices(frame.shape)
    dist = np.hypot(r - rc[0], c - rc[1])
    background = np.median(frame[(dist > 5) & (dist < 7)])
    m = dist < 4.5
    w = (background - frame[m]) if dark else (frame[m] - background)
    w = w.astype(float)
    return np.array([(r[m] * w).sum(), (c[m] * w).sum()]) / w.sum()


@pytest.fixture(scope="module")
def fluoro(truth):
    t = truth["fluoro"]
    return pydicom.dcmread(SAMPLES / t["folder"] / t["file"])


def test_fluoro_tags(fluoro, truth):
    t = truth["fluoro"]
    ds = fluoro
    assert ds.Modality == "XA" and int(ds.NumberOfFrames) == t["n_frames"] and 10 <= t["n_frames"] <= 20
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (16, 12, 11)
    assert ds.pixel_array.max() <= 4095
    sid, sod = float(ds.DistanceSourceToDetector), float(ds.DistanceSourceToPatient)
    assert float(ds.EstimatedRadiographicMagnificationFactor) == pytest.approx(sid / sod, rel=1e-9)
    assert [float(v) for v in ds.ImagerPixelSpacing] == t["imager_pixel_spacing_mm"]
    assert "PixelSpacing" not in ds
    assert float(ds.FrameTime) == t["frame_time_ms"]
    assert ds.FrameIncrementPointer == 0x00181063
    assert ds.BurnedInAnnotation == "YES"
    assert ds.PositionerPrimaryAngle is not None and ds.PositionerSecondaryAngle is not None


def test_projection_spacing_follows_the_calibration_rule(fluoro, truth):
    """truth spacing_mm (frame, row, col) = IPS / ERMF for the XA, PixelSpacing for the GEOMETRY-calibrated DX."""
    ermf = float(fluoro.EstimatedRadiographicMagnificationFactor)
    ips = [float(v) for v in fluoro.ImagerPixelSpacing]
    np.testing.assert_allclose(truth["fluoro"]["spacing_mm"], [1.0, ips[0] / ermf, ips[1] / ermf], rtol=1e-9)
    t = truth["radiograph"]
    dx = pydicom.dcmread(SAMPLES / t["folder"] / t["file"], stop_before_pixels=True)
    np.testing.assert_allclose(t["spacing_mm"], [1.0, *[float(v) for v in dx.PixelSpacing]], rtol=1e-12)
    assert t["spacing_mm"][1] != t["spacing_mm"][2], "anisotropic: catches a row/column swap"


def test_fluoro_beads_and_calibrated_distance(fluoro, truth):
    t = truth["fluoro"]
    frames = fluoro.pixel_array.astype(float)
    ips = np.array([float(v) for v in fluoro.ImagerPixelSpacing])  # (row, col) mm at the detector
    m = float(fluoro.DistanceSourceToDetector) / float(fluoro.DistanceSourceToPatient)
    found = {}
    for name in ("bead_a", "bead_b"):
        f, r, c = t["landmarks_px"][name]
        for frame in frames:  # static beads: same place in every frame
            cen = _proj_centroid(frame, (r, c), dark=True)
            assert np.abs(cen - [r, c]).max() < PROJ_LANDMARK_TOL_PX, (name, cen, (r, c))
        found[name] = cen
    detector_mm = np.linalg.norm((found["bead_a"] - found["bead_b"]) * ips)
    assert detector_mm == pytest.approx(t["distances_mm_at_detector"]["bead_a-bead_b"], abs=0.05)
    assert detector_mm / m == pytest.approx(25.4, abs=0.05)
    assert t["distances_mm"]["bead_a-bead_b"] == pytest.approx(25.4, abs=1e-9)


def _tip_along(frame: np.ndarray, tip_rc: np.ndarray, direction_rc: np.ndarray) -> float:
    """Signed offset (px) of the measured instrument end from ``tip_rc`` along ``direction_rc``:
    half-contrast crossing of the profile sampled on the rod axis (bilinear)."""
    from scipy.ndimage import map_coordinates

    s = np.arange(-12.0, 12.0, 0.05)
    pts = tip_rc[:, None] + direction_rc[:, None] * s[None, :]
    profile = map_coordinates(frame, pts, order=1)
    rod = np.median(profile[s < -6])
    background = np.median(profile[s > 6])
    half = (rod + background) / 2
    k = np.nonzero(profile > half)[0]
    k = k[s[k] > -6][0]  # first crossing from the rod side
    return float(s[k - 1] + (half - profile[k - 1]) / (profile[k] - profile[k - 1]) * (s[k] - s[k - 1]))


def test_fluoro_instrument_tip_moves_as_truth_says(fluoro, truth):
    t = truth["fluoro"]
    frames = fluoro.pixel_array.astype(float)
    ips = np.array([float(v) for v in fluoro.ImagerPixelSpacing])
    m = float(fluoro.DistanceSourceToDetector) / float(fluoro.DistanceSourceToPatient)
    dx, dy = t["instrument"]["direction_iso_xy"]  # x along columns, y along rows
    direction = np.array([dy / ips[0], dx / ips[1]])
    direction /= np.linalg.norm(direction)
    tips = []
    for f in range(t["n_frames"]):
        rc = np.array(t["landmarks_px"][f"tip_{f:02d}"][1:])
        offset = _tip_along(frames[f], rc, direction)
        assert abs(offset) < 0.3, (f, offset)
        tips.append(rc + offset * direction)
    steps_mm = np.linalg.norm(np.diff(tips, axis=0) * ips, axis=1) / m
    np.testing.assert_allclose(steps_mm, t["instrument"]["tip_step_mm_per_frame"], atol=0.1)
    last = t["n_frames"] - 1
    travel = np.linalg.norm((tips[-1] - tips[0]) * ips)
    assert travel / m == pytest.approx(t["distances_mm"][f"tip_00-tip_{last:02d}"], abs=0.1)
    assert travel == pytest.approx(t["distances_mm_at_detector"][f"tip_00-tip_{last:02d}"], abs=0.1)


def test_fluoro_calibration_sphere_diameter(fluoro, truth):
    t = truth["fluoro"]
    frame = fluoro.pixel_array[0].astype(float)
    ips = np.array([float(v) for v in fluoro.ImagerPixelSpacing])
    m = float(fluoro.DistanceSourceToDetector) / float(fluoro.DistanceSourceToPatient)
    r0, c0 = t["calibration_sphere"]["center_px"]
    col = int(round(c0))
    profile = frame[:, col]
    background = np.median(profile[int(r0) - 70:int(r0) - 50])
    floor = np.median(profile[int(r0) - 5:int(r0) + 5])  # the steel sphere saturates: a sharp dark disc
    level = (background + floor) / 2  # 50 % coverage of an edge pixel
    rows = np.arange(len(profile))
    inside = (profile < level) & (np.abs(rows - r0) < 60)
    top, bottom = rows[inside].min(), rows[inside].max()

    def crossing(a: int, b: int) -> float:
        return a + (level - profile[a]) / (profile[b] - profile[a]) * (b - a)

    diameter_px = crossing(bottom, bottom + 1) - crossing(top, top - 1)
    # chord of the projected outline (an ellipse, minor axis ~ along rows here) at this column
    half_width = (col - c0) * ips[1]
    expected_det = 2 * np.sqrt(t["calibration_sphere"]["semi_minor_mm_at_detector"] ** 2 - half_width**2)
    assert diameter_px * ips[0] == pytest.approx(expected_det, abs=0.1)
    assert diameter_px * ips[0] / m == pytest.approx(t["calibration_sphere"]["diameter_mm"], abs=0.1)
    assert t["calibration_sphere"]["diameter_mm"] == 25.0


def test_fluoro_collimator_and_burned_in_text(fluoro, truth):
    t = truth["fluoro"]
    frame = fluoro.pixel_array[0]
    (cr, cc), radius = t["collimator"]["center_px"], t["collimator"]["radius_px"]
    assert list(fluoro.CenterOfCircularShutter) == [cr + 1, cc + 1]  # 1-based in the tag
    r, c = np.indices(frame.shape)
    dist = np.hypot(r - cr, c - cc)
    r0, c0, r1, c1 = t["burned_in_text"]["box_px"]
    text = np.zeros(frame.shape, bool)
    text[r0:r1, c0:c1] = True
    assert frame[(dist > radius + 1.5) & ~text].max() < 100, "dark outside the collimator"
    assert np.median(frame[dist < radius - 2]) > 1000
    assert (frame[text] == 4095).sum() > 100, "burned-in text is white pixels in the box"
    for f in fluoro.pixel_array:
        np.testing.assert_array_equal(f[text] == 4095, frame[text] == 4095)


def test_dx_calibration_and_distances(truth):
    t = truth["radiograph"]
    ds = pydicom.dcmread(SAMPLES / t["folder"] / t["file"])
    assert ds.PhotometricInterpretation == "MONOCHROME1" and ds.PresentationLUTShape == "INVERSE"
    assert ds.PixelSpacingCalibrationType == "GEOMETRY" and ds.PixelSpacingCalibrationDescription
    ips = np.array([float(v) for v in ds.ImagerPixelSpacing])
    ps = np.array([float(v) for v in ds.PixelSpacing])
    ermf = float(ds.EstimatedRadiographicMagnificationFactor)
    assert not np.allclose(ps, ips)
    np.testing.assert_allclose(ps, ips / ermf, rtol=1e-8)
    assert ermf == pytest.approx(float(ds.DistanceSourceToDetector) / float(ds.DistanceSourceToPatient), rel=1e-9)
    frame = ds.pixel_array.astype(float)
    found = {}
    for name, (f, r, c) in t["landmarks_px"].items():
        # MONOCHROME1: steel beads have the lowest values (displayed white)
        found[name] = _proj_centroid(frame, (r, c), dark=True)
        assert np.abs(found[name] - [r, c]).max() < PROJ_LANDMARK_TOL_PX, name
    for key in ("bead_a-bead_b", "bead_c-bead_d"):
        a, b = key.split("-")
        mm = np.linalg.norm((found[a] - found[b]) * ps)  # PixelSpacing (row, col)
        assert mm == pytest.approx(t["distances_mm"][key], abs=0.05), key
    assert t["distances_mm"]["bead_a-bead_b"] == pytest.approx(25.4, abs=1e-9)
    assert t["distances_mm"]["bead_c-bead_d"] == pytest.approx(12.7, abs=1e-9)
    # L1-L5 body centres: contrast centroid along rows of each body (+-15 mm window, reaching into
    # the discs) on the columns 7 mm left and right of the midline (clear of pedicles and spinous)
    centres = []
    for x_mm in (-7.0, 7.0):
        col = int(round(t["principal_point_px"][1] + x_mm / ps[1]))
        profile = frame[:, col]
        soft = profile.max() - 5.0  # soft tissue level (noise sd 2)
        row_idx = np.arange(len(profile))
        per_column = []
        for _, y in t["vertebral_body_centers_iso_mm"].values():
            near = np.abs(row_idx - (t["principal_point_px"][0] + y / ps[0])) < 15.0 / ps[0]
            w = np.clip(soft - profile[near], 0, None)
            per_column.append((row_idx[near] * w).sum() / w.sum())
        centres.append(per_column)
    rows = np.mean(centres, axis=0)
    expected = [t["principal_point_px"][0] + y / ps[0] for _, y in t["vertebral_body_centers_iso_mm"].values()]
    np.testing.assert_allclose(rows, expected, atol=0.1)
    assert (rows[-1] - rows[0]) * ps[0] == pytest.approx(t["distances_mm"]["L1-L5 body centres"], abs=0.1)
    # bone attenuates: a vertebral body centre has a lower value than soft tissue beside it
    r_mid, c_mid = (np.array(frame.shape) - 1) / 2
    assert frame[int(r_mid), int(c_mid + 7 / ps[1])] < frame[int(r_mid + 15 / ps[0]), int(c_mid + 35 / ps[1])]


# --- compressed copies -------------------------------------------------------------------

def test_compressed_copies_decode_identically(fluoro, truth):
    t = truth["compressed"]
    source = fluoro.pixel_array
    syntaxes = set()
    for name, copy in t["copies"].items():
        ds = pydicom.dcmread(SAMPLES / copy["file"])
        assert ds.file_meta.TransferSyntaxUID == copy["transfer_syntax_uid"]
        assert ds.file_meta.TransferSyntaxUID.is_compressed
        np.testing.assert_array_equal(ds.pixel_array, source, err_msg=name)
        assert ds.SOPInstanceUID != fluoro.SOPInstanceUID and ds.SeriesInstanceUID != fluoro.SeriesInstanceUID
        assert ds.BitsStored == 12 and int(ds.NumberOfFrames) == int(fluoro.NumberOfFrames)
        syntaxes.add(str(copy["transfer_syntax_uid"]))
    assert syntaxes == {"1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90",
                        "1.2.840.10008.1.2.4.70"}


def test_jpeg_lossless_encoder_round_trips():
    import sys

    sys.path.insert(0, str(SAMPLES))
    try:
        from _jpeg_lossless import encode_frame
    finally:
        sys.path.remove(str(SAMPLES))
    from libjpeg import decode

    rng = np.random.default_rng(7)
    for precision in (2, 8, 12, 16):
        top = 2**precision - 1
        cases = [rng.integers(0, top + 1, (19, 23)), np.zeros((4, 5)), np.full((4, 5), top),
                 np.tile([0, top], (6, 4))]  # extreme differences (+-top, incl. 32768 at 16 bits)
        for arr in cases:
            arr = arr.astype(np.uint16)
            np.testing.assert_array_equal(decode(encode_frame(arr, precision)), arr)


# --- DICOMDIR -------------------------------------------------------------------------------

def test_dicomdir_file_set_references_its_instances(truth):
    from pydicom.fileset import FileSet

    t = truth["dicomdir"]
    fs = FileSet(pydicom.dcmread(SAMPLES / t["folder"] / t["file"]))
    assert fs.ID == t["file_set_id"]
    instances = list(fs)
    assert len(instances) == 1 + t["series"]["tiny CT"]["instances"]
    for inst in instances:
        ds = inst.load()  # follows ReferencedFileID
        assert ds.SOPInstanceUID == inst.SOPInstanceUID
    dx = [i.load() for i in instances if i.Modality == "DX"]
    assert len(dx) == 1
    source = pydicom.dcmread(SAMPLES / truth["radiograph"]["folder"] / truth["radiograph"]["file"])
    np.testing.assert_array_equal(dx[0].pixel_array, source.pixel_array)
    assert dx[0].SOPInstanceUID != source.SOPInstanceUID


# --- hostile --------------------------------------------------------------------------------

def _valid_run(folder: Path, names: list[str]) -> np.ndarray:
    """z of each valid file's IPP, sorted."""
    return np.sort([float(pydicom.dcmread(folder / n).ImagePositionPatient[2]) for n in names])


def test_hostile_valid_runs_are_uniform(truth):
    h = truth["hostile"]
    step = h["series"]["slice_step_mm"]
    for case, info in h["cases"].items():
        folder = SAMPLES / info["folder"]
        assert sorted(p.name for p in folder.iterdir()) == sorted(info["valid_files"] + info["bad_files"])
        z = _valid_run(folder, info["valid_files"])
        if case == "gap":
            assert sorted(np.round(np.diff(z), 6)) == [step] * 4 + [2 * step]
            assert z.tolist() == info["expected"]["slice_z_lps_mm"]
        else:
            np.testing.assert_allclose(np.diff(z), step, atol=1e-6)
            assert len(z) == info["expected"]["valid_slices"] or case == "no_preamble"


def test_hostile_bad_files_have_the_stated_problem(truth):
    cases = truth["hostile"]["cases"]
    base = lambda case: SAMPLES / cases[case]["folder"]  # noqa: E731
    rows, cols = truth["hostile"]["series"]["rows"], truth["hostile"]["series"]["columns"]
    for name in cases["non_dicom"]["bad_files"]:
        with pytest.raises(InvalidDicomError):
            pydicom.dcmread(base("non_dicom") / name)
    truncated = pydicom.dcmread(base("truncated") / "CT007.dcm")
    assert len(truncated.PixelData) < rows * cols * 2
    with pytest.raises(Exception):
        truncated.pixel_array
    raw = (base("no_preamble") / "CT007_NOPREAMBLE").read_bytes()
    assert raw[128:132] != b"DICM" and raw[:4] != b"DICM"
    with pytest.raises(InvalidDicomError):
        pydicom.dcmread(base("no_preamble") / "CT007_NOPREAMBLE")
    ds = pydicom.dcmread(base("no_preamble") / "CT007_NOPREAMBLE", force=True)
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    assert ds.pixel_array.shape == (rows, cols) and "ImagePositionPatient" in ds
    assert "ImagePositionPatient" not in pydicom.dcmread(base("missing_ipp") / "CT007.dcm")
    loc = pydicom.dcmread(base("localizer") / "CT007_LOCALIZER.dcm")
    ref = pydicom.dcmread(base("localizer") / "CT001.dcm")
    assert "LOCALIZER" in loc.ImageType and loc.SeriesInstanceUID == ref.SeriesInstanceUID
    n_loc = np.cross(*np.reshape(np.array(loc.ImageOrientationPatient, float), (2, 3)))
    n_ref = np.cross(*np.reshape(np.array(ref.ImageOrientationPatient, float), (2, 3)))
    assert abs(n_loc @ n_ref) < 1e-9
    dup = pydicom.dcmread(base("duplicate") / "CT007_DUP.dcm")
    orig = pydicom.dcmread(base("duplicate") / cases["duplicate"]["duplicate_of"])
    assert dup.ImagePositionPatient == orig.ImagePositionPatient and dup.SOPInstanceUID != orig.SOPInstanceUID
    assert len(pydicom.dcmread(base("zero_length_pixeldata") / "CT007.dcm")["PixelData"].value or b"") == 0
    wrong = pydicom.dcmread(base("wrong_length_pixeldata") / "CT007.dcm")
    assert 0 < len(wrong.PixelData) != rows * cols * 2


# --- patient identifiers -------------------------------------------------------------------

def test_patient_identifiers_are_in_every_source_file(truth):
    """The fake identifiers are really there (so that de-identification tests can fail)."""
    p = truth["patient"]
    must = [p["PatientName"], p["PatientID"], p["PatientBirthDate"], p["InstitutionName"], p["AccessionNumber"],
            p["ReferringPhysicianName"], p["OperatorsName"]]
    files = [q for d in NON_HOSTILE for q in (SAMPLES / d).rglob("*") if q.is_file() and q.name != "DICOMDIR"]
    assert len(files) > 60
    for q in files:
        raw = q.read_bytes()
        for value in must:
            assert value.encode() in raw, (q, value)
        ds = pydicom.dcmread(q, stop_before_pixels=True)
        assert str(ds.PatientName) == p["PatientName"] and ds.PatientID == p["PatientID"]


# --- IOD validation (optional: dicom3tools' dciodvfy, e.g. `apt install dicom3tools`) ----------

def test_iods_validate_with_dciodvfy(truth):
    """Every non-hostile object has all type 1/2 attributes of its IOD (no dciodvfy errors)."""
    import shutil
    import subprocess

    exe = shutil.which("dciodvfy")
    if exe is None:
        pytest.skip("dciodvfy (dicom3tools) is not installed")
    files = [SAMPLES / truth["spine_ct"]["folder"] / truth["spine_ct"]["files_in_array_order"][0],
             SAMPLES / truth["spine_ct_enhanced"]["folder"] / truth["spine_ct_enhanced"]["file"],
             SAMPLES / truth["fluoro"]["folder"] / truth["fluoro"]["file"],
             SAMPLES / truth["radiograph"]["folder"] / truth["radiograph"]["file"],
             *[SAMPLES / c["file"] for c in truth["compressed"]["copies"].values()],
             SAMPLES / "lumbar_ct" / truth["lumbar_ct"]["files_in_array_order"][0],
             *[SAMPLES / "lumbar_fluoro" / s["file"] for s in truth["lumbar_fluoro"]["shots"].values()]]
    for f in files:
        out = subprocess.run([exe, str(f)], capture_output=True, text=True, timeout=60)
        errors = [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]
        assert not errors, (f.name, errors)
