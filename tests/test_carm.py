"""Virtual C-arm: geometry conventions (PS3.3 C.8.7.5.1.2) and DRR accuracy against analytic answers."""

from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import pytest

from miss_imaging import CArm, ImageVolume, drr, measure_distance, projection_calibration
from miss_imaging.carm import DRRError, hu_to_mu, line_integrals


# --------------------------------------------------------------------------- phantoms


def _rotation(axis, deg):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    a = math.radians(deg)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(a) * K + (1 - math.cos(a)) * K @ K


def _affine(shape, spacing, rot=np.eye(3), center=(0.0, 0.0, 0.0)):
    """Index (k, j, i) -> LPS; axis i along rot[:, 0], j along rot[:, 1], k along rot[:, 2]; volume centred."""
    A = np.zeros((4, 4))
    A[:3, 0] = rot[:, 2] * spacing[0]
    A[:3, 1] = rot[:, 1] * spacing[1]
    A[:3, 2] = rot[:, 0] * spacing[2]
    mid = (np.array(shape) - 1) / 2
    A[:3, 3] = np.asarray(center) - A[:3, :3] @ mid
    A[3, 3] = 1
    return A


def _spheres(shape, affine, spheres, background=-1000.0, sub=3):
    """HU volume with spheres (centre LPS, radius mm, HU) and partial volume from sub^3 supersampling."""
    vol = np.full(shape, background, np.float32)
    A, o = affine[:3, :3], affine[:3, 3]
    Ainv = np.linalg.inv(A)
    offs = (np.arange(sub) + 0.5) / sub - 0.5
    for c, r, hu in spheres:
        ci = Ainv @ (np.asarray(c) - o)
        ext = np.abs(Ainv).sum(axis=1) * r + 2
        lo = np.maximum(np.floor(ci - ext).astype(int), 0)
        hi = np.minimum(np.ceil(ci + ext).astype(int) + 1, shape)
        idx = np.stack(np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi)], indexing="ij"), -1).astype(float)
        frac = np.zeros(idx.shape[:3])
        for dk in offs:
            for dj in offs:
                for di in offs:
                    p = (idx + [dk, dj, di]) @ A.T + o
                    frac += np.sum((p - c) ** 2, -1) <= r * r
        frac /= sub**3
        region = vol[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        region += frac * (hu - background)
    return vol


def _volume(pixels, affine):
    sp = np.linalg.norm(affine[:3, :3], axis=0)
    return ImageVolume(pixels, tuple(sp), affine, "volume", modality="CT")


def _centroid(img, rc, half):
    r0, c0 = (int(round(v)) for v in rc)
    win = img[r0 - half:r0 + half + 1, c0 - half:c0 + half + 1].astype(float)
    rr, cc = np.mgrid[r0 - half:r0 + half + 1, c0 - half:c0 + half + 1]
    return np.array([(win * rr).sum() / win.sum(), (win * cc).sum() / win.sum()])


# --------------------------------------------------------------------------- conventions


def test_zero_pose_source_posterior_left_on_screen_right_head_up():
    c = CArm(sid=1000, sod=750, rows=101, cols=101, pixel_mm=(1, 1))
    assert np.allclose(c.source, [0, 750, 0])  # source posterior (+y)
    assert np.allclose(c.detector_center, [0, -250, 0])  # detector faces the chest
    iso = c.project([0, 0, 0])
    assert np.allclose(iso, [50, 50])
    left, head = c.project([[30, 0, 0], [0, 0, 30]])
    assert left[1] > 50 + 30 and abs(left[0] - 50) < 1e-9  # patient's left -> screen right
    assert head[0] < 50 - 30  # head up


def test_lao90_spine_on_screen_right_and_cranial_tilt():
    c = CArm(primary_deg=90, rows=101, cols=101, pixel_mm=(1, 1))
    assert np.allclose(c.beam, [1, 0, 0])  # detector on the patient's left (LAO)
    spine, head = c.project([[0, 40, 0], [0, 0, 30]])
    assert spine[1] > 50 and head[0] < 50
    rao = CArm(primary_deg=-90, rows=101, cols=101, pixel_mm=(1, 1))
    assert np.allclose(rao.beam, [-1, 0, 0]) and rao.project([0, 40, 0])[1] < 50
    cran = CArm(secondary_deg=30)
    assert cran.beam[2] > 0 and np.allclose(cran.beam, [0, -math.cos(math.pi / 6), 0.5])


@pytest.mark.parametrize("pose", [(0, 0), (30, 15), (-45, -20), (90, 0), (160, 35)])
def test_project_ray_roundtrip_and_magnification(pose):
    c = CArm(sid=1100, sod=700, primary_deg=pose[0], secondary_deg=pose[1], isocenter=(5, -20, 30),
             rows=300, cols=200, pixel_mm=(0.3, 0.5), pincushion=0.04)
    rc = np.array([[0, 0], [299, 199], [150.3, 20.7], [149.5, 99.5]])
    s, d = c.ray(rc[:, 0], rc[:, 1])
    back = c.project(s + 500 * d)
    assert np.allclose(back, rc, atol=1e-6)
    # 25.4 mm in the isocentre plane, parallel to the detector: exactly SID/SOD larger, no distortion
    flat = CArm(sid=1100, sod=700, primary_deg=pose[0], secondary_deg=pose[1], isocenter=(5, -20, 30),
                rows=300, cols=200, pixel_mm=(0.3, 0.5))
    p = np.asarray(flat.isocenter) + np.outer([-12.7, 12.7], flat.col_dir)
    q = flat.project(p)
    assert abs((q[1, 1] - q[0, 1]) * 0.5 / 25.4 - 1100 / 700) < 1e-12


def test_carm_rejects_impossible_geometry():
    with pytest.raises(ValueError, match="SOD < SID"):
        CArm(sid=700, sod=800)
    with pytest.raises(ValueError, match="collimation"):
        CArm(rows=10, cols=10, collimation=(0, 11, 0, 5))
    assert CArm.from_dict(CArm(primary_deg=12.5).to_dict()) == CArm(primary_deg=12.5)


# --------------------------------------------------------------------------- DRR accuracy

OBLIQUE = _rotation([1, 2, 0.5], 23)  # an oblique CT grid
SPACING = (1.25, 0.6, 0.8)  # anisotropic (slice, row, col)
SHAPE = (96, 160, 140)
BEADS = [((0.0, 0.0, 0.0), 3.0), ((25.0, -10.0, 18.0), 3.0), ((-22.0, 15.0, -25.0), 3.0), ((12.0, 20.0, -8.0), 2.5)]


@pytest.fixture(scope="module")
def bead_volume():
    A = _affine(SHAPE, SPACING, OBLIQUE, center=(2.0, -3.0, 4.0))
    hu = _spheres(SHAPE, A, [(c, r, 3000.0) for c, r in BEADS])
    return _volume(hu, A)


@pytest.mark.parametrize("pose", [(0, 0), (30, 15), (90, 0), (-40, -20), (135, 25)])
def test_bead_centres_within_0_1_px_of_cone_beam_projection(bead_volume, pose):
    c = CArm(sid=1000, sod=700, primary_deg=pose[0], secondary_deg=pose[1], isocenter=(1.0, 2.0, -1.0),
             rows=200, cols=180, pixel_mm=(0.7, 0.6))
    L = line_integrals(bead_volume, c)
    expected = c.project(np.array([b[0] for b in BEADS]))
    for e in expected:
        got = _centroid(L, e, 9)
        assert np.linalg.norm(got - e) < 0.1, (pose, e, got)


def test_uniform_sphere_path_length_within_1_percent():
    R = 40.0
    shape, sp = (70, 110, 100), (1.25, 0.9, 1.0)
    A = _affine(shape, sp, _rotation([0, 1, 1], 15))
    vol = _volume(_spheres(shape, A, [((0, 0, 0), R, 0.0)], sub=2), A)  # water sphere in air
    for pose in [(0, 0), (25, -30), (90, 10)]:
        c = CArm(primary_deg=pose[0], secondary_deg=pose[1], rows=128, cols=128, pixel_mm=(0.8, 0.8))
        path = line_integrals(vol, c) / 0.02
        rr, cc = np.meshgrid(np.arange(128.0), np.arange(128.0), indexing="ij")
        s, d = c.ray(rr, cc)
        t = -(s @ np.zeros(3) - 0) + (-s[None, None, :] * d).sum(-1)  # along-ray distance to the centre
        miss = np.linalg.norm(s + t[..., None] * d, axis=-1)
        chord = 2 * np.sqrt(np.clip(R * R - miss**2, 0, None))
        inner = miss < R / 2
        assert inner.sum() > 100
        assert np.abs(path[inner] / chord[inner] - 1).max() < 0.01, pose


def test_drr_is_a_calibrated_xa_and_beads_25_4_mm_apart_measure_25_4():
    pose = CArm(sid=1020, sod=760, primary_deg=30, secondary_deg=15, rows=240, cols=240, pixel_mm=(0.4, 0.4))
    centres = [np.asarray(pose.isocenter) + s * 12.7 * pose.col_dir for s in (-1, 1)]
    shape, sp = (80, 120, 130), (1.0, 0.7, 0.75)
    A = _affine(shape, sp, _rotation([0.3, 0.2, 1], 10))
    vol = _volume(_spheres(shape, A, [(c, 2.0, 3000.0) for c in centres]), A)
    shot = drr(vol, pose, output="line_integral")
    t = shot.projection
    assert shot.kind == "projection" and t.ermf == pytest.approx(1020 / 760, abs=0) and t.sid == 1020 and t.sod == 760
    assert t.imager_pixel_spacing == (0.4, 0.4) and t.primary_angle_deg == (30.0,) and t.secondary_angle_deg == (15.0,)
    cal = projection_calibration(t)
    assert shot.calibration == cal.label == "magnification-corrected (ERMF)"
    assert shot.spacing[1] == pytest.approx(0.4 * 760 / 1020)
    p = [_centroid(shot.pixels[0], e, 8) for e in pose.project(np.array(centres))]
    m = measure_distance(shot, [0, *p[0]], [0, *p[1]])
    assert m.mm == pytest.approx(25.4, rel=0.005)
    assert m.detector_mm == pytest.approx(25.4 * 1020 / 760, rel=0.005)


def test_left_marker_in_the_image_not_mirrored_even_with_a_flipped_ct_grid():
    # CT whose column index runs toward the patient's RIGHT and rows toward anterior (flipped storage)
    shape, sp = (60, 90, 90), (1.0, 1.0, 1.0)
    rot = np.array([[-1, 0, 0], [0, -1, 0], [0, 0, 1.0]]).T  # i -> -x, j -> -y, k -> +z
    A = _affine(shape, sp, rot)
    # body, a marker on the patient's left (below the isocentre), one posterior (above it)
    spheres = [((0, 0, 0), 12.0, 0.0), ((30, 0, -15), 4.0, 3000.0), ((0, 30, 15), 4.0, 3000.0)]
    vol = _volume(_spheres(shape, A, spheres), A)
    ap = drr(vol, CArm(rows=128, cols=128, pixel_mm=(1, 1))).pixels[0]
    assert np.argmin(ap[78:92].min(axis=0)) > 64 + 25  # the left marker is dark and on screen right
    lao = drr(vol, CArm(primary_deg=90, rows=128, cols=128, pixel_mm=(1, 1))).pixels[0]
    assert np.argmin(lao[36:50].min(axis=0)) > 64 + 25  # posterior (spine side) on screen right at LAO 90
    rao = drr(vol, CArm(primary_deg=-90, rows=128, cols=128, pixel_mm=(1, 1))).pixels[0]
    assert np.argmin(rao[36:50].min(axis=0)) < 64 - 25  # and on screen left at RAO 90


def test_display_collimation_noise_and_cine():
    shape = (30, 40, 40)
    A = _affine(shape, (1, 1, 1))
    vol = _volume(_spheres(shape, A, [((0, 0, 0), 12.0, 1000.0)]), A)
    poses = [CArm(primary_deg=a, rows=32, cols=32, pixel_mm=(1.5, 1.5), collimation=(4, 28, 2, 30)) for a in (0, 20, 40)]
    cine = drr(vol, poses, photons=5000, seed=3, frame_time_ms=66.7)
    assert cine.shape == (3, 32, 32) and cine.pixels.dtype == np.uint16
    assert cine.projection.primary_angle_deg == (0.0, 20.0, 40.0) and cine.projection.frame_time_ms == 66.7
    assert (cine.pixels[:, :4] == 0).all() and (cine.pixels[:, :, 30:] == 0).all()  # no radiation outside
    assert poses[0].shutter_edges() == {"ShutterLeftVerticalEdge": 3, "ShutterRightVerticalEdge": 30,
                                        "ShutterUpperHorizontalEdge": 5, "ShutterLowerHorizontalEdge": 28}
    centre, air = cine.pixels[0, 16, 16], cine.pixels[0, 6, 6]
    assert centre < air  # dense anatomy dark
    # display = 4095 (1 - L / 10): the centre ray crosses 24 mm of bone-like mu = 0.04 /mm
    assert 10 * (1 - centre / 4095) == pytest.approx(24 * 0.04, rel=0.06)
    again = drr(vol, poses, photons=5000, seed=3)
    assert np.array_equal(again.pixels, cine.pixels)
    with pytest.raises(DRRError, match="SID, SOD and detector"):
        drr(vol, [poses[0], CArm(sod=700, rows=32, cols=32, pixel_mm=(1.5, 1.5))])


def test_drr_rejects_projection_and_irregular_volumes():
    shape = (10, 10, 10)
    A = _affine(shape, (1, 1, 1))
    proj = ImageVolume(np.zeros(shape, np.int16), (1, 1, 1), A, "projection")
    with pytest.raises(DRRError, match="CT volume"):
        drr(proj, CArm())
    irregular = _volume(np.zeros(shape, np.int16), A).replace(regular=False)
    with pytest.raises(DRRError, match="resample"):
        drr(irregular, CArm())
    assert hu_to_mu([-1024, -1000, 0])[0] == 0


@pytest.mark.skipif(shutil.which("plastimatch") is None, reason="plastimatch not installed")
def test_agrees_with_plastimatch_within_0_5_percent(tmp_path):
    """plastimatch ``drr -i uniform`` samples the same (trilinear) volume model; ``-i exact`` (Siddon, voxels
    as boxes) is compared on the 512x512x300 CT in benchmarks/bench_drr.py (on this coarse 1-mm phantom the
    two plastimatch modes differ from each other by ~1.4 % RMS)."""
    sitk = pytest.importorskip("SimpleITK")
    from scipy import ndimage

    shape, sp = (64, 80, 72), (1.0, 0.8, 0.9)
    A = _affine(shape, sp)
    hu = _spheres(shape, A, [((0, 0, 0), 26.0, 40.0), ((5, 8, 0), 9.0, 700.0), ((-8, -5, 10), 4.0, 2500.0)])
    hu = ndimage.gaussian_filter(hu, 1.0)  # a CT's point-spread: edges are not voxel-sharp
    vol = _volume(hu, A)
    img = sitk.GetImageFromArray(hu_to_mu(hu))
    img.SetSpacing(tuple(float(v) for v in sp[::-1]))
    img.SetOrigin(tuple(float(v) for v in A[:3, 3]))
    sitk.WriteImage(img, str(tmp_path / "mu.mha"))
    for pose in [(0, 0), (30, 15), (90, 0)]:
        c = CArm(sid=1000, sod=750, primary_deg=pose[0], secondary_deg=pose[1], rows=120, cols=120, pixel_mm=(0.6, 0.6))
        f = lambda v: " ".join(f"{x:.12g}" for x in v)  # noqa: E731
        subprocess.run(["plastimatch", "drr", "-i", "uniform", "--nrm", f(-c.beam), "--vup", f(-c.row_dir),
                        "--sad", "750", "--sid", "1000", "-r", "120 120", "-z", "72 72", "-o", "0 0 0", "-P", "none",
                        "-t", "raw", "-O", str(tmp_path / "o"), str(tmp_path / "mu.mha")], check=True, capture_output=True)
        ref = np.fromfile(tmp_path / "o0000.raw", np.float32).reshape(120, 120)[:, ::-1] * 10
        ours = line_integrals(vol, c)
        m = ref > 0.05
        rms = np.sqrt(np.mean((ours[m] - ref[m]) ** 2)) / np.sqrt(np.mean(ref[m] ** 2))
        assert rms < 0.005, (pose, rms)


# --------------------------------------------------------------------------- magnification uncertainty (issue 14 part 4)


def test_off_isocentre_range_contains_the_true_size_and_is_labelled():
    from miss_imaging.measurement.calibration import DEFAULT_OFF_ISOCENTRE_MM, set_off_isocentre_mm
    from miss_imaging.measurement.measurements_io import from_dict, to_dict

    c = CArm(sid=1000, sod=750, primary_deg=20, secondary_deg=-10, rows=300, cols=300, pixel_mm=(0.4, 0.4))
    shape = (20, 20, 20)
    vol = _volume(np.zeros(shape, np.float32), _affine(shape, (1, 1, 1)))
    shot = drr(vol, c, output="line_integral")
    iso = np.asarray(c.isocenter)

    def measured(depth_toward_source):
        centre = iso - depth_toward_source * c.beam
        ends = c.project(centre + np.outer([-12.7, 12.7], c.col_dir))
        return measure_distance(shot, [0, *ends[0]], [0, *ends[1]])

    m0 = measured(0.0)
    assert m0.mm == pytest.approx(25.4, rel=1e-9)
    assert DEFAULT_OFF_ISOCENTRE_MM == 50.0 and m0.magnification_range == (50.0, 750.0)
    assert m0.text == "25.4 mm magnification-corrected (ERMF), ±6.7 % for ±50 mm off isocentre"
    for depth in (50.0, -50.0, 30.0):  # nearer the source (+) looks bigger; the range still holds the truth
        m = measured(depth)
        assert m.mm == pytest.approx(25.4 * 750 / (750 - depth), rel=1e-9)
        lo, hi = (m.mm * (1 - 50 / 750), m.mm * (1 + 50 / 750))
        assert lo - 1e-9 <= 25.4 <= hi + 1e-9
    assert measured(50.0).mm * (1 - 50 / 750) == pytest.approx(25.4, rel=1e-9)  # at the edge: exactly the bound
    assert from_dict(to_dict(m0)).text == m0.text
    try:
        set_off_isocentre_mm(20)
        assert measured(0.0).text.endswith("±2.7 % for ±20 mm off isocentre")
        set_off_isocentre_mm(0)
        assert measured(0.0).magnification_range is None
        with pytest.raises(Exception, match=">= 0 mm"):
            set_off_isocentre_mm(-5)
    finally:
        set_off_isocentre_mm(DEFAULT_OFF_ISOCENTRE_MM)
    # detector-plane and user calibrations carry no range
    det = measure_distance(shot, [0, 10, 10], [0, 10, 60], calibration=projection_calibration(shot.projection).detector())
    assert det.magnification_range is None and "±" not in det.text


def test_moving_object_cine_and_pincushion_follow_project():
    shape = (40, 60, 60)
    A = _affine(shape, (1.0, 0.8, 0.8))
    tip = [np.array([0.0, 15.0 - 6 * f, 5.0]) for f in range(3)]  # a bead advancing anteriorly, 6 mm/frame
    vols = [_volume(_spheres(shape, A, [(t, 2.5, 3000.0)]), A) for t in tip]
    lat = CArm(primary_deg=90, rows=96, cols=96, pixel_mm=(0.8, 0.8), pincushion=0.08)
    cine = drr(vols, lat, output="line_integral")
    assert cine.shape == (3, 96, 96) and cine.projection.primary_angle_deg == (90.0, 90.0, 90.0)
    for f, t in enumerate(tip):
        e = lat.project(t)
        assert np.linalg.norm(_centroid(cine.pixels[f], e, 7) - e) < 0.15  # distortion included, as project() says
    with pytest.raises(DRRError, match="3 volumes but 2 poses"):
        drr(vols, [lat, lat])
