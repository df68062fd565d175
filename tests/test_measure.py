"""Core measurements on hand-built volumes of known geometry (and on the phantoms once present)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import miss_imaging
from miss_imaging.measurement.calibration import projection_calibration, user_calibration
from miss_imaging.errors import MeasurementError
from miss_imaging.measurement.measure import (
    intensity_profile,
    measure_angle,
    measure_cobb,
    measure_distance,
    measure_path,
    remeasure,
    volume_calibration,
)
from miss_imaging.measurement.measurements_io import load_json, save_csv, save_json
from miss_imaging.model import ImageVolume, ProjectionTags


def _rotation(axis, deg):
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    i, j = [k for k in range(3) if k != axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def ct(spacing=(2.5, 0.7, 0.5), shape=(20, 64, 80), rot=np.eye(3), origin=(-10.0, 20.0, 30.0)):
    """A CT whose affine columns are spacing * (rotated) LPS axes; pixels = slice index * 100."""
    a = np.eye(4)
    # slice axis steps along +z, rows along +y, cols along +x, then rotated
    a[:3, 0] = rot @ np.array([0, 0, 1.0]) * spacing[0]
    a[:3, 1] = rot @ np.array([0, 1.0, 0]) * spacing[1]
    a[:3, 2] = rot @ np.array([1.0, 0, 0]) * spacing[2]
    a[:3, 3] = origin
    pix = np.broadcast_to(np.arange(shape[0], dtype=np.int16)[:, None, None] * 100, shape).copy()
    return ImageVolume(pix, spacing, a, "volume", modality="CT", series_uid="1.2.3", series_description="synthetic")


def fluoro(tags, shape=(5, 100, 120)):
    cal = projection_calibration(tags)
    sp = (1.0, cal.row_mm or 1.0, cal.col_mm or 1.0)
    a = np.eye(4)
    a[:3, :3] = [[0, 0, sp[2]], [0, sp[1], 0], [1.0, 0, 0]]  # x along columns, y along rows, z = frame
    return ImageVolume(np.zeros(shape, np.uint16), sp, a, "projection", modality="XA", projection=tags,
                       calibration=cal.label, series_uid="9.8.7", series_description="cine")


class TestDistanceOnVolumes:
    @pytest.mark.parametrize(
        ("p0", "p1", "mm"),
        [
            pytest.param((0, 0, 0), (4, 0, 0), 10.0, id="4 slices x 2.5 mm"),
            pytest.param((0, 0, 0), (0, 10, 0), 7.0, id="10 rows x 0.7 mm"),
            pytest.param((0, 0, 0), (0, 0, 10), 5.0, id="10 cols x 0.5 mm"),
            pytest.param((1, 2, 3), (5, 12, 23), math.sqrt(10**2 + 7**2 + 10**2), id="3-D across slices"),
            pytest.param((0.5, 0.25, 0.1), (0.5, 0.25, 10.1), 5.0, id="sub-voxel"),
        ],
    )
    def test_known_lengths_any_rotation(self, p0, p1, mm):
        for rot in (np.eye(3), _rotation(0, 30), _rotation(2, 17) @ _rotation(1, -40)):
            m = measure_distance(ct(rot=rot), p0, p1)
            assert m.mm == pytest.approx(mm, abs=1e-9) and m.unit == "mm" and m.value == m.mm
            assert m.calibration == "patient geometry (CT)" and m.coordinate_frame == "LPS"

    def test_points_in_patient_coordinates_and_frames(self):
        vol = ct()
        m = measure_distance(vol, (2, 3, 4), (6, 3, 4))
        assert m.points_patient[0] == pytest.approx((-10 + 4 * 0.5, 20 + 3 * 0.7, 30 + 2 * 2.5))
        assert m.frame_indices == (2, 6) and m.frame is None
        assert m.pixels == pytest.approx(4.0) and m.series_uid == "1.2.3"
        assert measure_distance(vol, (3, 0, 0), (3, 5, 5)).frame == 3

    def test_public_export(self):
        assert miss_imaging.measure_distance is measure_distance

    def test_irregular_stack_uses_slice_positions(self):
        # slices at z = 0, 2, 5 (non-uniform) and sheared in y by 1 mm per slice index
        vol = ct(spacing=(2.5, 1.0, 1.0), shape=(3, 10, 10), origin=(0, 0, 0))
        vol = vol.replace(slice_positions=np.array([[0, 0, 0], [0, 1, 2.0], [0, 2, 5.0]]), regular=False)
        m = measure_distance(vol, (0, 0, 0), (2, 0, 0))
        assert m.mm == pytest.approx(math.hypot(2, 5))
        m = measure_distance(vol, (1.5, 0, 0), (0, 0, 0))  # halfway between z=2 and z=5
        assert m.mm == pytest.approx(math.hypot(1.5, 3.5))

    def test_profile_distances_follow_slice_positions_on_irregular_stack(self):
        # slices at z = 0, 1, 2, 5, 6 (one missing); value = slice index * 100 along the stack
        vol = ct(spacing=(1.5, 1.0, 1.0), shape=(5, 4, 4), origin=(0, 0, 0))
        vol = vol.replace(slice_positions=np.array([[0, 0, z] for z in (0, 1, 2, 5, 6.0)]), regular=False)
        d, v = intensity_profile(vol, (0, 1, 1), (4, 1, 1), step_mm=None)
        assert v == pytest.approx([0, 100, 200, 300, 400])
        assert d == pytest.approx([0, 1, 2, 5, 6])  # not the uniform 0, 1.5, 3, 4.5, 6
        d, v = intensity_profile(vol, (2, 1, 1), (3, 1, 1), step_mm=1.5)  # across the gap
        assert v == pytest.approx([200, 250, 300]) and d == pytest.approx([0, 1.5, 3])

    def test_single_plane_volume_accepts_2d_points(self):
        # an oblique reslice: one plane, affine maps (0, row, col) to a tilted plane in LPS
        rot = _rotation(0, 35)
        plane = ct(spacing=(1.0, 0.6, 0.6), shape=(1, 50, 50), rot=rot)
        m = measure_distance(plane, (10, 10), (10, 40))
        assert m.mm == pytest.approx(18.0) and m.points_index[0] == (0.0, 10.0, 10.0)


class TestProjection:
    TAGS = ProjectionTags(imager_pixel_spacing=(0.3, 0.3), ermf=1.5, sid=1200.0, sod=800.0)

    def test_distance_in_plane_uses_corrected_spacing(self):
        vol = fluoro(self.TAGS)
        m = measure_distance(vol, (2, 10, 10), (2, 10, 110))
        assert m.mm == pytest.approx(100 * 0.3 / 1.5) and m.calibration == "magnification-corrected (ERMF)"
        assert m.frame == 2 and m.coordinate_frame == "image plane"
        assert m.points_patient[1] == pytest.approx((110 * 0.2, 10 * 0.2, 2.0))
        assert m.calibration_detail.source == "volume"
        assert m.detector_mm == pytest.approx(100 * 0.3)  # detector-plane value kept

    def test_detector_plane_reading(self):
        vol = fluoro(self.TAGS)
        det = volume_calibration(vol).detector()
        m = measure_distance(vol, (0, 10, 10), (0, 10, 110), calibration=det)
        assert m.mm == pytest.approx(30.0) and m.calibration == "at detector (not corrected)"

    def test_distance_between_frames_is_in_plane(self):
        m = measure_distance(fluoro(self.TAGS), (0, 10, 10), (4, 40, 50))
        assert m.mm == pytest.approx(0.2 * 50) and m.frame_indices == (0, 4)

    def test_pixels_only(self):
        vol = fluoro(ProjectionTags())
        m = measure_distance(vol, (0, 0, 0), (0, 30, 40))
        assert m.mm is None and m.unit == "px" and m.value == pytest.approx(50.0) and m.pixels == pytest.approx(50.0)
        assert m.calibration == "pixels only" and m.points_patient is None and m.detector_mm is None
        assert "mm" not in m.text

    def test_user_calibration_then_remeasure(self):
        vol = fluoro(ProjectionTags())
        cal = user_calibration((0, 20, 20), (0, 20, 70), 25.0, "sphere", base=volume_calibration(vol))
        m = measure_distance(vol, (1, 0, 0), (1, 0, 10))
        m2 = remeasure(vol, m.renamed("bead"), calibration=cal)
        assert m2.mm == pytest.approx(5.0) and m2.calibration == "user-calibrated (sphere, 25.0 mm)"
        assert m2.name == "bead" and m2.calibration_detail == cal

    def test_user_calibration_refused_on_ct(self):
        cal = user_calibration((0, 0), (0, 10), 5.0, "screw")
        with pytest.raises(MeasurementError, match="projection"):
            measure_distance(ct(), (0, 0, 0), (0, 0, 5), calibration=cal)


class TestPathAngleCobb:
    def test_path(self):
        vol = ct(spacing=(1.0, 1.0, 1.0))
        m = measure_path(vol, [(0, 0, 0), (0, 3, 4), (0, 3, 4), (0, 3, 14)])
        assert m.mm == pytest.approx(15.0) and m.kind == "path" and len(m.points_index) == 4

    def test_angle_anisotropic(self):
        # 45 deg in index space, but rows are 0.7 mm and cols 0.5 mm -> atan(0.7/0.5)
        vol = ct()
        m = measure_angle(vol, (0, 0, 10), (0, 0, 0), (0, 10, 10))
        assert m.value == pytest.approx(math.degrees(math.atan2(7.0, 5.0))) and m.unit == "deg"
        assert measure_angle(vol, (0, 0, 10), (0, 0, 0), (0, 0, 20)).value == pytest.approx(0.0, abs=1e-9)
        assert measure_angle(vol, (0, 0, 10), (0, 0, 5), (0, 0, 0)).value == pytest.approx(180.0)

    def test_cobb_undirected_and_acute(self):
        vol = ct(spacing=(1.0, 1.0, 1.0), shape=(5, 100, 100))
        l1 = [(0, 10, 10), (0, 10, 60)]  # horizontal
        t = math.tan(math.radians(25))
        l2 = [(0, 60, 10), (0, 60 + 50 * t, 60)]  # 25 deg
        assert measure_cobb(vol, l1, l2).value == pytest.approx(25.0)
        assert measure_cobb(vol, l1[::-1], l2).value == pytest.approx(25.0)  # drawing direction irrelevant

    def test_angle_pixels_only_warns(self):
        m = measure_angle(fluoro(ProjectionTags()), (0, 0, 10), (0, 0, 0), (0, 10, 0))
        assert m.value == pytest.approx(90.0) and m.warnings


class TestBadInput:
    def test_zero_length(self):
        with pytest.raises(MeasurementError, match="zero-length"):
            measure_distance(ct(), (3, 4, 5), (3, 4, 5))
        with pytest.raises(MeasurementError, match="zero-length"):  # same in-plane point on two frames
            measure_distance(fluoro(ProjectionTags()), (0, 4, 5), (3, 4, 5))
        with pytest.raises(MeasurementError, match="zero total length"):
            measure_path(ct(), [(1, 1, 1), (1, 1, 1)])
        with pytest.raises(MeasurementError, match="zero length"):
            measure_angle(ct(), (1, 1, 1), (1, 1, 1), (2, 2, 2))
        with pytest.raises(MeasurementError, match="line 2 has zero length"):
            measure_cobb(ct(), [(0, 0, 0), (0, 0, 5)], [(0, 3, 3), (0, 3, 3)])

    @pytest.mark.parametrize("p", [(20, 0, 0), (-0.6, 0, 0), (0, 64, 0), (0, 0, 80.5), (0, 0, float("nan"))])
    def test_outside(self, p):
        with pytest.raises(MeasurementError, match="outside the image|not finite"):
            measure_distance(ct(), (0, 0, 0), p)

    def test_voxel_edge_is_inside(self):
        assert measure_distance(ct(), (-0.5, -0.5, -0.5), (19.5, 63.5, 79.5)).mm > 0

    def test_wrong_dimensions(self):
        with pytest.raises(MeasurementError, match="3 index coordinates"):
            measure_distance(ct(), (0, 0), (0, 5))


class TestProfile:
    def test_profile_along_slices(self):
        vol = ct()  # value = slice index * 100, slices 2.5 mm apart
        d, v = intensity_profile(vol, (0, 5, 5), (4, 5, 5))
        assert d == pytest.approx([0, 2.5, 5, 7.5, 10]) and v == pytest.approx([0, 100, 200, 300, 400])
        prof = intensity_profile(vol, (0, 5, 5), (4, 5, 5), step_mm=1.0)
        assert prof.unit == "mm" and prof.distances[-1] == pytest.approx(10.0)
        assert prof.values == pytest.approx(prof.distances / 2.5 * 100)

    def test_profile_projection_needs_one_frame(self):
        with pytest.raises(MeasurementError, match="same frame"):
            intensity_profile(fluoro(ProjectionTags()), (0, 0, 0), (1, 0, 5))
        with pytest.raises(MeasurementError, match="step_mm"):
            intensity_profile(ct(), (0, 0, 0), (1, 0, 0), step_mm=0)


class TestIO:
    def test_json_round_trip_and_csv(self, tmp_path):
        vol = fluoro(TestProjection.TAGS)
        ms = [measure_distance(vol, (1, 0, 0), (1, 30, 40), name="a"),
              measure_angle(ct(), (0, 0, 10), (0, 0, 0), (0, 10, 10), name="b"),
              measure_path(fluoro(ProjectionTags()), [(0, 0, 0), (0, 3, 4), (0, 3, 9)])]
        back = load_json(save_json(ms, tmp_path / "m.json"))
        assert back == ms
        text = save_csv(ms, tmp_path / "m.csv").read_text()
        assert "magnification-corrected (ERMF)" in text and "pixels only" in text
        assert text.splitlines()[0].startswith("name,kind,value,unit,calibration")

    def test_reject_foreign_and_newer(self, tmp_path):
        (tmp_path / "x.json").write_text('{"schema": "other"}')
        with pytest.raises(MeasurementError, match="not a miss-imaging measurement file"):
            load_json(tmp_path / "x.json")
        (tmp_path / "y.json").write_text('{"schema": "miss-imaging.measurements", "version": 99}')
        with pytest.raises(MeasurementError, match="newer"):
            load_json(tmp_path / "y.json")


# ----------------------------------------------------------------- phantoms (sample_dicoms/truth.json)


def _bead_centroid(volume: ImageVolume, seed_index, radius_mm: float = 3.0, background: float = 45.0):
    """Index coordinates of a bead's intensity centroid near `seed_index` (what a careful user clicks).

    The seed only says where to look: the centre comes from the pixels
    (background-subtracted centroid in a 3 mm sphere, re-centred three
    times), so a wrong affine or a shifted resample shows up as a wrong
    distance.
    """
    c = np.asarray(seed_index, dtype=np.float64)
    sp = np.asarray(volume.spacing)
    for _ in range(3):
        lo = np.maximum(np.floor(c - radius_mm / sp).astype(int), 0)
        hi = np.minimum(np.ceil(c + radius_mm / sp).astype(int) + 1, np.asarray(volume.shape))
        block = np.asarray(volume.pixels[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]], dtype=np.float64)
        grids = np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi)], indexing="ij")
        inside = sum(((g - ci) * s) ** 2 for g, ci, s in zip(grids, c, sp)) <= radius_mm**2
        w = np.clip(block - background, 0, None) * inside
        assert w.sum() > 0, f"no bead near index {seed_index}"
        c = np.array([(g * w).sum() / w.sum() for g in grids])
    return c


@pytest.fixture(scope="module")
def spine_ct(samples):
    if not (samples / "truth.json").is_file() or not (samples / "spine_ct").is_dir():
        pytest.skip("sample_dicoms phantoms not generated yet")
    return miss_imaging.load(samples / "spine_ct")


def _bead_pairs(truth, volume):
    t = truth["spine_ct"]
    lm = t["landmarks_lps_mm"]
    for a, b in (("inch_a", "inch_b"), ("half_a", "half_b")):
        ia = _bead_centroid(volume, volume.patient_to_index(lm[a]))
        ib = _bead_centroid(volume, volume.patient_to_index(lm[b]))
        yield a, b, ia, ib, t["distances_mm"][f"{a}-{b}"]


def test_ct_bead_pairs_on_the_original_volume(spine_ct, truth):
    assert not np.allclose(spine_ct.affine[:3, :3], np.diag(np.diag(spine_ct.affine[:3, :3])))  # tilted stack
    for a, b, ia, ib, mm in _bead_pairs(truth, spine_ct):
        m = measure_distance(spine_ct, ia, ib)
        assert m.mm == pytest.approx(mm, abs=0.1), (a, b)
        assert m.calibration == "patient geometry (CT)" and m.frame is None  # spans slices: a 3-D length


@pytest.mark.parametrize("how", ["resample 0.6 mm", "to_patient_grid 0.6 mm"])
def test_ct_bead_pairs_on_an_isotropic_resample(spine_ct, truth, how):
    from miss_imaging.spatial.resampling import resample, to_patient_grid

    iso = resample(spine_ct, (0.6, 0.6, 0.6)) if how.startswith("resample") else to_patient_grid(spine_ct, (0.6, 0.6, 0.6))
    assert iso.spacing == pytest.approx((0.6, 0.6, 0.6))
    for a, b, ia, ib, mm in _bead_pairs(truth, iso):
        assert measure_distance(iso, ia, ib).mm == pytest.approx(mm, abs=0.1), (a, b)


def test_ct_bead_angle(spine_ct, truth):
    t = truth["spine_ct"]
    lm = t["landmarks_lps_mm"]
    pts = [_bead_centroid(spine_ct, spine_ct.patient_to_index(lm[k])) for k in ("angle_arm1", "angle_vertex", "angle_arm2")]
    m = measure_angle(spine_ct, *pts)
    assert m.value == pytest.approx(t["angles_deg"]["angle_arm1-angle_vertex-angle_arm2"], abs=0.5)


def test_profile_on_lazy_volume_reads_only_the_line():
    da = pytest.importorskip("dask.array")
    vol = ct()
    touched = []

    def load(block, block_info=None):
        touched.append(block_info[None]["chunk-location"][0])
        return block

    vol = vol.replace(pixels=da.from_array(vol.pixels, chunks=(1, 64, 80)).map_blocks(load, dtype=vol.pixels.dtype))
    d, v = intensity_profile(vol, (3, 5, 5), (5, 5, 5))
    assert v == pytest.approx([300, 400, 500]) and sorted(set(touched)) == [3, 4, 5]


# ----------------------------------------------------------------- projection phantoms


def _bead_centroid_2d(volume: ImageVolume, seed, r_in: float = 3.5, ring=(5.0, 7.0)):
    """(frame, row, col) of a bead's attenuation centroid near `seed` (local background from a ring)."""
    f = int(round(seed[0]))
    c = np.asarray(seed[1:], dtype=np.float64)
    lo = np.maximum(np.floor(c - ring[1] - 1).astype(int), 0)
    img = np.asarray(volume.pixels[f, lo[0]:lo[0] + 2 * int(ring[1]) + 4, lo[1]:lo[1] + 2 * int(ring[1]) + 4], float)
    rr, cc = np.mgrid[0:img.shape[0], 0:img.shape[1]] + lo[:, None, None]
    for _ in range(3):
        d = np.hypot(rr - c[0], cc - c[1])
        bg = np.median(img[(d >= ring[0]) & (d <= ring[1])])
        w = np.clip(bg - img, 0, None) * (d <= r_in)
        c = np.array([(rr * w).sum() / w.sum(), (cc * w).sum() / w.sum()])
    return np.array([f, *c])


def _sphere_edges(volume: ImageVolume, frame: int, row: float, col: float, half_width_px: int = 50):
    """Column positions of a steel sphere's two edges on one row: half-way crossings, as a user reads them."""
    half_width_px = int(min(half_width_px, col, volume.shape[2] - 1 - col))
    prof = intensity_profile(volume, (frame, row, col - half_width_px), (frame, row, col + half_width_px))
    v = prof.values
    x = np.linspace(col - half_width_px, col + half_width_px, len(v))
    ic = len(v) // 2
    floor = np.median(v[ic - 10:ic + 10])  # saturated (fully attenuating) centre

    def crossing(step: int) -> float:
        i = ic
        while v[i] - floor < 100:  # walk out to where the edge starts
            i += step
        outside = np.median([v[i + k * step] for k in range(2, 6)])  # the level just outside the sphere
        half = (outside + floor) / 2
        j = ic
        while v[j] < half:
            j += step
        k = j - step  # v[k] < half <= v[j]
        return x[k] + (half - v[k]) / (v[j] - v[k]) * (x[j] - x[k])

    return crossing(-1), crossing(+1)


@pytest.fixture(scope="module")
def fluoro_phantom(samples):
    if not (samples / "truth.json").is_file() or not (samples / "fluoro").is_dir():
        pytest.skip("sample_dicoms fluoro phantom not generated yet")
    return miss_imaging.load(samples / "fluoro")


def test_fluoro_beads_magnification_corrected_and_at_detector(fluoro_phantom, truth):
    t = truth["fluoro"]
    vol = fluoro_phantom
    a, b = (_bead_centroid_2d(vol, t["landmarks_px"][k]) for k in ("bead_a", "bead_b"))
    m = measure_distance(vol, a, b)
    assert m.calibration == "magnification-corrected (ERMF)"
    assert m.mm == pytest.approx(t["distances_mm"]["bead_a-bead_b"], rel=0.01)
    # the detector-plane reading is 25.4 * SID/SOD
    assert m.detector_mm == pytest.approx(25.4 * t["sid_mm"] / t["sod_mm"], rel=0.01)
    det = measure_distance(vol, a, b, calibration=volume_calibration(vol).detector())
    assert det.mm == pytest.approx(25.4 * t["sid_mm"] / t["sod_mm"], rel=0.01)
    assert det.calibration == "at detector (not corrected)"


def test_fluoro_instrument_advance_between_frames(fluoro_phantom, truth):
    t = truth["fluoro"]
    last = max(k for k in t["landmarks_px"] if k.startswith("tip_"))
    m = measure_distance(fluoro_phantom, t["landmarks_px"]["tip_00"], t["landmarks_px"][last])
    assert m.frame_indices == (0, int(last[-2:])) and m.frame is None
    assert m.mm == pytest.approx(t["distances_mm"][f"tip_00-{last}"], rel=0.01)


def test_fluoro_user_calibration_on_the_sphere(fluoro_phantom, truth):
    t = truth["fluoro"]
    vol = fluoro_phantom
    row, col = t["calibration_sphere"]["center_px"]
    left, right = _sphere_edges(vol, 0, row, col)
    cal = user_calibration((0, row, left), (0, row, right), t["calibration_sphere"]["diameter_mm"], "sphere",
                           base=volume_calibration(vol))
    assert cal.label == "user-calibrated (sphere, 25.0 mm)"
    a, b = (_bead_centroid_2d(vol, t["landmarks_px"][k]) for k in ("bead_a", "bead_b"))
    m = measure_distance(vol, a, b, calibration=cal)
    assert m.calibration == cal.label
    assert m.mm == pytest.approx(t["distances_mm"]["bead_a-bead_b"], rel=0.01)


def test_dx_uses_calibrated_pixel_spacing(samples, truth):
    if not (samples / "radiograph").is_dir():
        pytest.skip("sample_dicoms radiograph not generated yet")
    t = truth["radiograph"]
    vol = miss_imaging.load(samples / "radiograph")
    cal = volume_calibration(vol)
    assert cal.label == "calibrated (GEOMETRY)"
    assert (cal.row_mm, cal.col_mm) == pytest.approx(tuple(t["pixel_spacing_mm"]))
    assert (cal.detector_row_mm, cal.detector_col_mm) == pytest.approx(tuple(t["imager_pixel_spacing_mm"]))
    for a, b in (("bead_a", "bead_b"), ("bead_c", "bead_d")):
        pa, pb = (_bead_centroid_2d(vol, t["landmarks_px"][k]) for k in (a, b))
        m = measure_distance(vol, pa, pb)
        assert m.mm == pytest.approx(t["distances_mm"][f"{a}-{b}"], rel=0.01), (a, b)
        assert m.detector_mm == pytest.approx(t["distances_mm_at_detector"][f"{a}-{b}"], rel=0.01)
