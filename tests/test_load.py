"""load(): geometry, HU values, ordering, splitting, enhanced and projections (synthetic, known truth)."""

from __future__ import annotations

import sys

import numpy as np
import pydicom
import pytest
from loader_factory import ct_slices, enhanced_ct, phantom, tilted_iop, xa_cine

import miss_imaging
from miss_imaging.errors import MissImagingWarning
from miss_imaging.reading.loader import load, load_all
from miss_imaging.reading import _pixels


def _hu(stored, slope=1, intercept=-1024):
    return stored.astype(np.float64) * slope + intercept


def test_ct_geometry_and_hu_exact(tmp_path):
    stored = phantom(5, 12, 10)
    iop = tilted_iop(7.0)
    paths, ipps = ct_slices(tmp_path / "ct", stored, iop=iop, pixel_spacing=(0.5, 0.7))
    with _no_warning():
        vol = load(tmp_path / "ct")
    assert vol.kind == "volume" and vol.modality == "CT"
    assert vol.pixels.dtype == np.int16 and vol.pixels.shape == (5, 12, 10)
    np.testing.assert_array_equal(vol.pixels, _hu(stored))
    # every voxel centre at IPP_k + i*dcol*X + j*drow*Y (PixelSpacing = (row, col) = (0.5, 0.7))
    x, y = np.array(iop[:3]), np.array(iop[3:])
    for k, j, i in [(0, 0, 0), (4, 11, 9), (2, 5, 3)]:
        expect = ipps[k] + i * 0.7 * x + j * 0.5 * y
        np.testing.assert_allclose(vol.index_to_patient([k, j, i]), expect, atol=1e-9)
    assert vol.spacing == pytest.approx((1.25, 0.5, 0.7))
    np.testing.assert_allclose(vol.slice_positions, ipps, atol=1e-12)
    assert vol.regular
    assert [p.name for p in vol.files] == [p.name for p in paths]  # array order = position order
    assert vol.windows[0].center == 40 and vol.windows[1].explanation == "BONE"
    assert vol.patient["PatientName"] == "Doe^Jane"
    assert "Doe^Jane" not in repr(vol.metadata) and "ID-42" not in repr(vol.metadata)
    assert vol.metadata["Manufacturer"] == "TestCo"
    assert "ID-42" not in vol.label


class _no_warning:
    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error", MissImagingWarning)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def test_sorted_by_position_not_instance_number(tmp_path):
    stored = phantom(6)
    # positions given in a scrambled order: file k sits at z = perm[k]
    perm = np.array([3, 0, 5, 1, 4, 2])
    pos = np.array([[0.0, 0.0, 2.0 * p] for p in perm])
    ct_slices(tmp_path, stored, positions=pos)
    vol = load(tmp_path)
    order = np.argsort(perm)
    np.testing.assert_array_equal(vol.pixels, _hu(stored[order]))
    np.testing.assert_allclose(vol.affine[:3, 0], [0, 0, 2.0])


@pytest.mark.parametrize(
    "bits,signed,intercept", [(12, False, -1024), (16, True, 0), (12, True, -1000), (16, False, 0)]
)
def test_fast_path_equals_pydicom(tmp_path, bits, signed, intercept):
    rng = np.random.default_rng(3)
    if signed:
        stored = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=(4, 8, 9)).astype(np.int16)
    else:
        stored = rng.integers(0, 1 << bits, size=(4, 8, 9)).astype(np.uint16)
    if bits < 16:  # garbage in the unused high bits must be ignored, as pydicom does
        raw = stored.view(np.uint16) | np.uint16(0xA000)
        stored_written = raw.view(np.int16) if signed else raw
    else:
        stored_written = stored
    ct_slices(tmp_path, stored_written, bits_stored=bits, signed=signed, intercept=intercept)
    fast = load(tmp_path)
    slow = load(tmp_path, fast_path=False)
    ref = np.stack(
        [pydicom.pixels.apply_modality_lut(pydicom.dcmread(f).pixel_array, pydicom.dcmread(f)) for f in fast.files]
    )
    assert fast.pixels.dtype == slow.pixels.dtype
    np.testing.assert_array_equal(fast.pixels, slow.pixels)
    np.testing.assert_array_equal(fast.pixels, ref.astype(fast.pixels.dtype))
    assert fast.pixels.dtype == (np.float32 if (bits == 16 and not signed and stored.max() > 32767) else np.int16)


def test_fractional_rescale_gives_float32(tmp_path):
    stored = phantom(3)
    ct_slices(tmp_path, stored, slope=0.5, intercept=-10.25)
    vol = load(tmp_path)
    assert vol.pixels.dtype == np.float32
    np.testing.assert_array_equal(vol.pixels, (stored * 0.5 - 10.25).astype(np.float32))


def test_implicit_vr_identical(tmp_path):
    stored = phantom(3)
    ct_slices(tmp_path / "e", stored)
    ct_slices(tmp_path / "i", stored, implicit=True)
    a, b = load(tmp_path / "e"), load(tmp_path / "i")
    assert b.metadata["TransferSyntaxUID"] == "1.2.840.10008.1.2"
    np.testing.assert_array_equal(a.pixels, b.pixels)
    np.testing.assert_allclose(a.affine, b.affine)


def test_lazy_equals_eager(tmp_path, monkeypatch):
    stored = phantom(4)
    ct_slices(tmp_path, stored)
    eager = load(tmp_path, lazy=False)
    lazy = load(tmp_path, lazy=True)
    assert lazy.is_lazy and not eager.is_lazy
    assert lazy.pixels.chunks[0] == (1, 1, 1, 1)
    np.testing.assert_array_equal(lazy.pixels.compute(), eager.pixels)
    monkeypatch.setattr(sys.modules["miss_imaging.reading.loader"], "LAZY_THRESHOLD_BYTES", 100)
    assert load(tmp_path).is_lazy  # above the threshold: lazy by default
    assert not load(tmp_path, lazy=False).is_lazy


def test_several_series_load_largest_and_warn(tmp_path):
    ct_slices(tmp_path / "a", phantom(6), series_uid="1.2.3.4.1")
    ct_slices(tmp_path / "b", phantom(3), series_uid="1.2.3.4.2")
    with pytest.warns(MissImagingWarning, match="1 other series not loaded"):
        vol = load(tmp_path)
    assert vol.shape[0] == 6
    vols = load_all(tmp_path)
    assert [v.shape[0] for v in vols] == [6, 3]


def test_localizer_never_in_volume(tmp_path):
    ct_slices(tmp_path, phantom(5))
    ct_slices(tmp_path / "loc", phantom(1), names=["scout.dcm"], iop=[0, 1, 0, 0, 0, -1],
              extra={"ImageType": ["ORIGINAL", "PRIMARY", "LOCALIZER"]})
    with pytest.warns(MissImagingWarning, match=r"scout\.dcm: localizer"):
        vol = load(tmp_path)
    assert vol.shape[0] == 5 and all(p.name != "scout.dcm" for p in vol.files)


def test_orientation_outlier_without_localizer_flag(tmp_path):
    ct_slices(tmp_path, phantom(5))
    ct_slices(tmp_path / "o", phantom(1), names=["odd.dcm"], iop=[0, 1, 0, 0, 0, -1])
    with pytest.warns(MissImagingWarning, match=r"odd\.dcm: \(0020,0037\) ImageOrientationPatient differs"):
        vol = load(tmp_path)
    assert vol.shape[0] == 5


def test_duplicate_dropped_naming_both(tmp_path):
    stored = phantom(4)
    pos = np.array([[0, 0, 0.0], [0, 0, 1.0], [0, 0, 1.0], [0, 0, 2.0]])
    paths, _ = ct_slices(tmp_path, stored, positions=pos, names=["a.dcm", "b.dcm", "c.dcm", "d.dcm"])
    # the factory gives InstanceNumber n - k: c.dcm (3 -> InstanceNumber 2) comes first, b.dcm is dropped
    with pytest.warns(MissImagingWarning, match=r"duplicate slice: b\.dcm .* same position as c\.dcm.*kept c\.dcm"):
        vol = load(tmp_path)
    assert vol.shape[0] == 3
    np.testing.assert_array_equal(vol.pixels, _hu(stored[[0, 2, 3]]))


def test_two_acquisitions_split(tmp_path):
    stored = phantom(6)
    pos = np.array([[0, 0, z] for z in (0.0, 1.0, 2.0, 0.0, 1.0, 2.0)])
    paths, _ = ct_slices(tmp_path, stored, positions=pos)
    for k, p in enumerate(paths):
        ds = pydicom.dcmread(p)
        ds.AcquisitionNumber = 1 if k < 3 else 2
        ds.save_as(p)
    res = miss_imaging.scan(tmp_path)
    assert [s.n_files for s in res] == [3, 3]
    assert any("AcquisitionNumber" in w for w in res[0].warnings)


def test_gap_keeps_positions(tmp_path):
    stored = phantom(5)
    z = np.array([0.0, 1.0, 2.0, 4.0, 5.0])
    pos = np.stack([np.zeros(5), np.zeros(5), z], axis=1)
    ct_slices(tmp_path, stored, positions=pos)
    with pytest.warns(MissImagingWarning, match=r"gap: 2\.000 mm between .*about 1 slice\(s\) missing"):
        vol = load(tmp_path)
    assert not vol.regular
    np.testing.assert_allclose(vol.slice_positions, pos)
    np.testing.assert_array_equal(vol.pixels, _hu(stored))


def test_gantry_tilt_sheared_affine(tmp_path):
    a = np.radians(12.0)
    step = np.array([0.0, np.sin(a), np.cos(a)]) * 1.5
    stored = phantom(5)
    paths, ipps = ct_slices(tmp_path, stored, step=step)
    with pytest.warns(MissImagingWarning, match=r"gantry tilt 12\.00 degrees"):
        vol = load(tmp_path)
    np.testing.assert_allclose(vol.affine[:3, 0], step, atol=1e-9)
    for k in range(5):  # the sheared affine places every slice at its own IPP
        np.testing.assert_allclose(vol.index_to_patient([k, 0, 0]), ipps[k], atol=1e-9)
    assert not vol.regular


def test_inconsistent_rows_split(tmp_path):
    ct_slices(tmp_path, phantom(4, 12, 10))
    ct_slices(tmp_path / "x", phantom(1, 8, 10), names=["small.dcm"], origin=(-30, -20, 110.0))
    with pytest.warns(MissImagingWarning, match=r"small\.dcm: \(0028,0010\) Rows x \(0028,0011\) Columns = 8x10"):
        vol = load(tmp_path)
    assert vol.shape == (4, 12, 10)


def test_enhanced_ct_functional_groups(tmp_path):
    stored = phantom(5, 9, 7)
    iop = tilted_iop(4.0)
    normal = np.cross(iop[:3], iop[3:])
    ipps = np.array([10, -5, 40.0]) + np.arange(5)[:, None] * normal * 0.8
    order = [3, 0, 4, 1, 2]  # frames stored out of position order
    slopes = [1, 1, 1, 1, 1]
    intercepts = [-1024, -1000, -1024, -1024, -990]  # per-frame rescale wins over shared
    enhanced_ct(tmp_path / "e.dcm", stored, ipps, iop, ps=(0.6, 0.45), slopes=slopes, intercepts=intercepts,
                frame_order=order)
    vol = load(tmp_path / "e.dcm")
    expect = np.stack([stored[k].astype(np.int32) + intercepts[k] for k in range(5)])
    np.testing.assert_array_equal(vol.pixels, expect)
    np.testing.assert_allclose(vol.slice_positions, ipps, atol=1e-9)
    x, y = np.array(iop[:3]), np.array(iop[3:])
    np.testing.assert_allclose(vol.index_to_patient([2, 3, 4]), ipps[2] + 4 * 0.45 * x + 3 * 0.6 * y, atol=1e-9)
    assert vol.windows[0].center == 400
    lazy = load(tmp_path / "e.dcm", lazy=True)
    np.testing.assert_array_equal(lazy.pixels.compute(), vol.pixels)


def test_xa_cine_projection(tmp_path):
    frames = np.random.default_rng(1).integers(0, 4096, size=(4, 16, 12)).astype(np.uint16)
    xa_cine(tmp_path / "xa.dcm", frames, ImagerPixelSpacing=[0.3, 0.3], DistanceSourceToDetector="1200",
            DistanceSourceToPatient="800", EstimatedRadiographicMagnificationFactor="1.5", FrameTime="33.3",
            PositionerPrimaryAngle="10", PositionerPrimaryAngleIncrement=[0, 1, 1, 1],
            WindowCenter=[2048, 1000], WindowWidth=[4096, 500], WindowCenterWidthExplanation=["FULL", "NARROW"],
            VOILUTFunction="LINEAR_EXACT")
    vol = load(tmp_path / "xa.dcm")
    assert vol.kind == "projection" and vol.pixels.dtype == np.int16
    np.testing.assert_array_equal(vol.pixels, frames)
    assert vol.spacing == pytest.approx((1.0, 0.2, 0.2))  # ImagerPixelSpacing / ERMF
    assert vol.calibration == "magnification-corrected (ERMF)"
    assert vol.projection.frame_time_ms == pytest.approx(33.3)
    assert vol.projection.primary_angle_deg == pytest.approx((10, 11, 12, 13))
    assert [w.explanation for w in vol.windows] == ["FULL", "NARROW"]
    assert vol.windows[1].function == "LINEAR_EXACT"
    lazy = load(tmp_path / "xa.dcm", lazy=True)
    assert lazy.pixels.chunks[0] == (1, 1, 1, 1)
    np.testing.assert_array_equal(lazy.pixels.compute(), frames)


def test_scan_series_info_is_loadable(tmp_path):
    ct_slices(tmp_path, phantom(3))
    res = miss_imaging.scan(tmp_path)
    vol = load(res[0])
    assert vol.shape == (3, 12, 10)
    assert res[0].headers[0].Modality == "CT"  # pydicom datasets, without pixels
    assert "PixelData" not in res[0].headers[0]


def test_enhanced_xa_per_frame_angles_and_calibration(tmp_path):
    from loader_factory import base_dataset
    from pydicom.dataset import Dataset
    from pydicom.filewriter import dcmwrite
    from pydicom.sequence import Sequence

    frames = np.random.default_rng(2).integers(0, 4096, size=(3, 10, 8)).astype(np.uint16)
    ds = base_dataset("1.2.840.10008.5.1.4.1.1.12.1.1", "XA", "1.2.3.4.400")  # Enhanced XA
    ds.ImageType = ["ORIGINAL", "PRIMARY", "SINGLE PLANE", "NONE"]
    ds.NumberOfFrames = 3
    ds.Rows, ds.Columns = 10, 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.DistanceSourceToDetector = "1100"
    ds.DistanceSourceToPatient = "770"
    shared = Dataset()
    det = Dataset()
    det.ImagerPixelSpacing = [0.22, 0.22]
    shared.FramePixelDataPropertiesSequence = Sequence([det])  # (0028,9443), holds ImagerPixelSpacing
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per = []
    for k in range(3):
        f = Dataset()
        pos = Dataset()
        pos.PositionerPrimaryAngle = 20.0 + k
        pos.PositionerSecondaryAngle = -5.0
        f.PositionerPositionSequence = Sequence([pos])
        per.append(f)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per)
    ds.PixelData = frames.astype("<u2").tobytes()
    dcmwrite(tmp_path / "exa.dcm", ds, enforce_file_format=True)
    vol = load(tmp_path / "exa.dcm")
    assert vol.kind == "projection"
    np.testing.assert_array_equal(vol.pixels, frames)
    assert vol.projection.primary_angle_deg == pytest.approx((20, 21, 22))
    assert vol.projection.secondary_angle_deg == pytest.approx((-5, -5, -5))
    assert vol.projection.imager_pixel_spacing == pytest.approx((0.22, 0.22))
    # SID/SOD only: magnification corrected by SOD/SID
    assert vol.spacing[1] == pytest.approx(0.22 * 770 / 1100)


def test_enhanced_two_orientations_keeps_largest_stack(tmp_path):
    stored = phantom(5, 9, 7)
    iop = [1.0, 0, 0, 0, 1.0, 0]
    ipps = np.array([[0, 0, 1.0 * k] for k in range(5)])
    enhanced_ct(tmp_path / "e.dcm", stored, ipps, iop)
    ds = pydicom.dcmread(tmp_path / "e.dcm")
    for k in (3, 4):  # two frames become sagittal
        po = pydicom.Dataset()
        po.ImageOrientationPatient = [0, 1.0, 0, 0, 0, -1.0]
        ds.PerFrameFunctionalGroupsSequence[k].PlaneOrientationSequence = pydicom.Sequence([po])
    ds.save_as(tmp_path / "e.dcm")
    with pytest.warns(MissImagingWarning, match=r"2 frame\(s\) in 1 other orientation"):
        vol = load(tmp_path / "e.dcm")
    assert vol.shape == (3, 9, 7)
    np.testing.assert_array_equal(vol.pixels, stored[:3].astype(np.int32) - 1024)


def test_enhanced_zero_iop_and_negative_spacing_are_errors(tmp_path):
    from miss_imaging.errors import SeriesGeometryError

    stored = phantom(3, 9, 7)
    ipps = np.array([[0, 0, 1.0 * k] for k in range(3)])
    enhanced_ct(tmp_path / "z.dcm", stored, ipps, [0, 0, 0, 0, 0, 0])
    with pytest.raises(SeriesGeometryError, match=r"z\.dcm: .*\(0020,0037\) ImageOrientationPatient of frame 0"):
        load(tmp_path / "z.dcm")
    enhanced_ct(tmp_path / "n.dcm", stored, ipps, [1.0, 0, 0, 0, 1.0, 0], ps=(-0.5, 0.5))
    with pytest.raises(SeriesGeometryError, match=r"n\.dcm: .*\(0028,0030\) PixelSpacing = \[-0.5, 0.5\]"):
        load(tmp_path / "n.dcm")


def test_stacked_projections_with_different_calibration_warn(tmp_path):
    # single-frame DX files of one series and size become frames measured with the first
    # file's spacing: a frame taken at another spacing must be named, not silently mis-measured
    from loader_factory import DX, base_dataset
    from pydicom.filewriter import dcmwrite

    for k, ips in enumerate([(0.1, 0.1), (0.10, 0.100), (0.2, 0.2)]):
        ds = base_dataset(DX, "DX", "1.2.3.9")
        ds.InstanceNumber = k + 1
        ds.ImagerPixelSpacing = [f"{v:.3f}" if k == 1 else v for v in ips]  # "0.100" equals 0.1
        ds.Rows = ds.Columns = 8
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = np.zeros((8, 8), "<u2").tobytes()
        dcmwrite(tmp_path / f"d{k}.dcm", ds, enforce_file_format=True)
    with pytest.warns(MissImagingWarning, match=r"^d2\.dcm: \(0018,1164\) ImagerPixelSpacing differs from d0\.dcm's"):
        vol = load(tmp_path)
    assert vol.shape == (3, 8, 8) and vol.spacing[1:] == pytest.approx((0.1, 0.1))
    assert not any("d1.dcm" in w for w in vol.warnings)


@pytest.mark.parametrize("bits,values", [(8, [0, 100, 200, 255]), (12, [0, 1000, 2000, 4095])])
@pytest.mark.parametrize("big_endian", [False, True])
def test_voi_lut_ow_table_one_word_per_entry(tmp_path, bits, values, big_endian):
    # (0028,3006) LUT Data in OW holds one 16-bit word per entry even for 8 bits per entry
    # (pydicom's apply_voi_lut reads it so); reading bytes as uint8 interleaved zeros into the table
    from pydicom.dataelem import DataElement
    from pydicom.uid import ExplicitVRBigEndian

    from miss_imaging.reading import _attributes
    from miss_imaging.display.window import apply_voi_table

    item = pydicom.Dataset()
    item.LUTDescriptor = [4, 0, bits]
    item.add(DataElement(0x00283006, "OW", np.array(values, ">u2" if big_endian else "<u2").tobytes()))
    paths, _ = ct_slices(tmp_path, phantom(2), extra={"VOILUTSequence": pydicom.Sequence([item])})
    ds = pydicom.dcmread(paths[0])
    if big_endian:  # the table's byte order follows the transfer syntax
        ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
        (desc, table), = _attributes.voi_luts(ds)
    else:
        (desc, table), = load(tmp_path).voi_lut
    assert desc == (4, 0, bits) and table.tolist() == values
    x = np.array([0, 1, 2, 3, 7])
    expect = np.round(np.array(values + [values[-1]], float)[[0, 1, 2, 3, 4]] * 255 / (2**bits - 1))
    np.testing.assert_array_equal(apply_voi_table(x, desc, table), expect)
    if not big_endian:
        np.testing.assert_array_equal(pydicom.pixels.apply_voi_lut(x, ds), values + [values[-1]])


def test_enhanced_unparseable_functional_group_values_name_frame_and_tag(tmp_path):
    from miss_imaging.errors import MissingTagError

    stored = phantom(3, 9, 7)
    ipps = np.array([[0, 0, 1.5], [0, 0, 3.25], [0, 0, 5.5]])
    enhanced_ct(tmp_path / "i.dcm", stored, ipps, [1.0, 0, 0, 0, 1.0, 0], slopes=[1, 1, 1],
                intercepts=[-1024, -1024, -1000])
    data = (tmp_path / "i.dcm").read_bytes()  # pydicom will not write a bad DS: patch the bytes
    assert data.count(b"-1000") == 1 and data.count(b"3.25") == 1
    (tmp_path / "i.dcm").write_bytes(data.replace(b"-1000", b"-10x0"))
    with pytest.raises(MissingTagError, match=r"i\.dcm: frame 2: PixelValueTransformationSequence > "
                                              r"\(0028,1052\) RescaleIntercept = '-10x0"):
        load(tmp_path / "i.dcm")
    (tmp_path / "i.dcm").write_bytes(data.replace(b"3.25", b"3x25"))
    with pytest.raises(MissingTagError, match=r"frame 1: PlanePositionSequence > \(0020,0032\) ImagePositionPatient"):
        load(tmp_path / "i.dcm")


def test_cine_with_malformed_geometry_tags_still_loads(tmp_path):
    # a projection is not placed in patient space: junk IPP/IOP must not stop it loading
    frames = np.arange(2 * 4 * 5, dtype=np.uint16).reshape(2, 4, 5)
    xa_cine(tmp_path / "x.dcm", frames, ImagePositionPatient="1\\2", ImageOrientationPatient="0\\0\\0\\0\\0\\0",
            ImagerPixelSpacing=[0.2, 0.2])
    vol = load(tmp_path / "x.dcm")
    assert vol.kind == "projection" and vol.spacing == pytest.approx((1.0, 0.2, 0.2))
    np.testing.assert_array_equal(vol.pixels, frames)


@pytest.mark.parametrize(
    "tags,patch,label,pattern",
    [
        ({"ImagerPixelSpacing": [0.25, 0.25], "EstimatedRadiographicMagnificationFactor": "1.25"}, (b"1.25", b"1x25"),
         "at detector (not corrected)", r"\(0018,1114\) EstimatedRadiographicMagnificationFactor = '1x25' is not 1"),
        ({"ImagerPixelSpacing": "0.3"}, None, "pixels only", r"\(0018,1164\) ImagerPixelSpacing = '0.3' is not 2"),
    ],
)
def test_unreadable_calibration_tag_is_named(tmp_path, tags, patch, label, pattern):
    # read as absent, the fluoro falls back to a less corrected spacing: the user must be told which tag failed
    xa_cine(tmp_path / "x.dcm", np.zeros((2, 4, 5), np.uint16), **tags)
    if patch:
        data = (tmp_path / "x.dcm").read_bytes()
        assert data.count(patch[0]) == 1
        (tmp_path / "x.dcm").write_bytes(data.replace(*patch))
    with pytest.warns(MissImagingWarning, match=r"^x\.dcm: " + pattern):
        vol = load(tmp_path / "x.dcm")
    assert vol.calibration == label


def test_invalid_file_windows_left_out_with_a_warning(tmp_path):
    # PS3.3 C.11.2.1.2: LINEAR needs width >= 1; a width-0 window would give inverted contrast limits
    ct_slices(tmp_path, phantom(2), extra={"WindowCenter": [40, 300, 500], "WindowWidth": [0, 1500, 0.5],
                                           "WindowCenterWidthExplanation": ["BAD", "OK", "BAD2"]})
    with pytest.warns(MissImagingWarning, match=r"WindowWidth value 1 = .*'?40(\.0)?'? / '?0(\.0)?'? is not a valid LINEAR"):
        vol = load(tmp_path)
    assert [(w.center, w.width, w.explanation) for w in vol.windows] == [(300, 1500, "OK")]
    assert sum("is not a valid LINEAR window" in w for w in vol.warnings) == 2
    ct_slices(tmp_path / "e", phantom(2), extra={"VOILUTFunction": "LINEAR_X"})
    with pytest.warns(MissImagingWarning, match=r"\(0028,1056\) VOILUTFunction 'LINEAR_X' .* read as LINEAR"):
        vol = load(tmp_path / "e")
    assert [w.function for w in vol.windows] == ["LINEAR", "LINEAR"]
    ct_slices(tmp_path / "n", phantom(2), extra={"WindowCenter": [40, 300], "WindowWidth": 400})
    with pytest.warns(MissImagingWarning, match=r"WindowCenter has 2 value\(s\) but \(0028,1051\) WindowWidth has 1"):
        vol = load(tmp_path / "n")
    assert [(w.center, w.width) for w in vol.windows] == [(40, 400)]


def test_enhanced_series_one_frame_per_file_is_one_volume(tmp_path):
    # some exporters write an Enhanced CT series one frame per file: N files are N slices of one
    # stack (placed by their functional groups), not N one-slice series of which one is loaded
    stored = phantom(4, 9, 7)
    iop = tilted_iop(5.0)
    normal = np.cross(iop[:3], iop[3:])
    ipps = np.array([3.0, -2, 50]) + np.array([0, 1, 3, 2])[:, None] * 1.5 * normal  # files out of order
    for k in range(4):
        enhanced_ct(tmp_path / f"e{k}.dcm", stored[k:k + 1], ipps[k:k + 1], iop, ps=(0.6, 0.45),
                    slopes=[1], intercepts=[-1000 - k])
    res = miss_imaging.scan(tmp_path)
    assert [(s.kind, s.n_files, s.n_frames) for s in res] == [("volume", 4, 4)]
    with _no_warning():
        vol = load(tmp_path)
    order = [0, 1, 3, 2]  # by position along the normal
    assert [p.name for p in vol.files] == [f"e{k}.dcm" for k in order]
    np.testing.assert_array_equal(vol.pixels, np.stack([stored[k].astype(np.int32) - 1000 - k for k in order]))
    np.testing.assert_allclose(vol.affine[:3, 0], 1.5 * normal, atol=1e-9)
    np.testing.assert_allclose(vol.index_to_patient([2, 3, 4]), ipps[3] + 4 * 0.45 * np.array(iop[:3])
                               + 3 * 0.6 * np.array(iop[3:]), atol=1e-9)


def test_slices_with_another_pixel_spacing_are_a_separate_volume(tmp_path):
    # same matrix, other field of view: merged into one volume they would be drawn and measured
    # at the first slice's scale (0.5 mm) although they are 0.8 mm pixels
    stored = phantom(6)
    ct_slices(tmp_path, stored[:4], pixel_spacing=(0.5, 0.5), names=[f"a{k}.dcm" for k in range(4)])
    ct_slices(tmp_path, stored[4:], pixel_spacing=(0.8, 0.8), origin=(-30.0, -20.0, 100.0 + 1.25 * 4),
              names=[f"b{k}.dcm" for k in range(2)])
    # a rounding-level difference ("0.5" vs "0.50001") is the same spacing
    for k in (1, 2):
        ds = pydicom.dcmread(tmp_path / f"a{k}.dcm")
        ds.PixelSpacing = ["0.50001", "0.5"]
        ds.save_as(tmp_path / f"a{k}.dcm")
    res = miss_imaging.scan(tmp_path)
    assert sorted((s.kind, s.n_files) for s in res) == [("volume", 2), ("volume", 4)]
    with pytest.warns(MissImagingWarning, match=r"b0\.dcm, b1\.dcm: \(0028,0030\) PixelSpacing 0\.8\\0\.8 differs "
                                                r"from the series' 0\.5\\0\.5; loaded as a separate series"):
        vol = load(tmp_path)
    assert vol.shape[0] == 4 and vol.spacing[1:] == pytest.approx((0.5, 0.5))
    other = [v for v in load_all(tmp_path) if v.shape[0] == 2][0]
    assert other.spacing[1:] == pytest.approx((0.8, 0.8))


def test_malformed_voi_lut_items_left_out_with_a_warning():
    # a table shorter than its descriptor would make the exact export (apply_voi_table) raise later
    from pydicom.dataelem import DataElement

    from miss_imaging.reading import _attributes

    ds = pydicom.Dataset()
    items = []
    for desc, data in [([4, 0], [0, 1, 2, 3]), ([4, 0, 16], [5]), ([2, 0, 16], [7, 8])]:
        item = pydicom.Dataset()
        item.LUTDescriptor = desc
        item.add(DataElement(0x00283006, "US", data))
        items.append(item)
    ds.VOILUTSequence = pydicom.Sequence(items)
    notes: list[str] = []
    luts = _attributes.voi_luts(ds, notes)
    assert [(d, t.tolist()) for d, t in luts] == [((2, 0, 16), [7, 8])]
    assert notes == [
        "(0028,3010) VOILUTSequence item 1: (0028,3002) LUTDescriptor = [4, 0] is not three numbers: left out",
        "(0028,3010) VOILUTSequence item 2: (0028,3006) LUTData has 1 entries, (0028,3002) LUTDescriptor "
        "announces 4: left out",
    ]


def test_enhanced_xa_per_frame_sid_that_varies_is_named(tmp_path):
    # SID (detector height) may change during a run: frame 0's SID/SOD then mis-scales the later frames
    from loader_factory import base_dataset
    from pydicom.dataset import Dataset
    from pydicom.filewriter import dcmwrite
    from pydicom.sequence import Sequence

    ds = base_dataset("1.2.840.10008.5.1.4.1.1.12.1.1", "XA", "1.2.3.4.401")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "SINGLE PLANE", "NONE"]
    ds.NumberOfFrames = 3
    ds.Rows, ds.Columns = 4, 5
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    shared = Dataset()
    det = Dataset()
    det.ImagerPixelSpacing = [0.2, 0.2]
    shared.FramePixelDataPropertiesSequence = Sequence([det])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per = []
    for sid in (1000, 1000, 1100):
        f = Dataset()
        geo = Dataset()
        geo.DistanceSourceToDetector = str(sid)
        geo.DistanceSourceToPatient = "750"
        f.XRayGeometrySequence = Sequence([geo])
        per.append(f)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per)
    ds.PixelData = np.zeros((3, 4, 5), "<u2").tobytes()
    dcmwrite(tmp_path / "x.dcm", ds, enforce_file_format=True)
    with pytest.warns(MissImagingWarning, match=r"x\.dcm: \(0018,1110\) DistanceSourceToDetector varies between "
                                                r"frames \(2 different values\)"):
        vol = load(tmp_path / "x.dcm")
    assert vol.spacing[1] == pytest.approx(0.2 * 750 / 1000)
    assert not any("DistanceSourceToPatient varies" in w for w in vol.warnings)


@pytest.mark.parametrize("intercept,first,expect_first", [(-1024, 65436, -100), (0, 40000, 40000)])
def test_voi_lut_first_mapped_in_the_modality_output_representation(tmp_path, intercept, first, expect_first):
    # C.11.2.1.1: the first mapped value is a modality value; HU can be negative (65436 = -100 as
    # SS), an unsigned radiograph's cannot (40000 stays 40000 rather than becoming -25536)
    from pydicom.dataelem import DataElement

    item = pydicom.Dataset()
    item.LUTDescriptor = [2, first, 12]
    item.add(DataElement(0x00283006, "OW", np.array([0, 4095], "<u2").tobytes()))
    ct_slices(tmp_path, phantom(2), intercept=intercept, bits_stored=16,
              extra={"VOILUTSequence": pydicom.Sequence([item])})
    (desc, _), = load(tmp_path).voi_lut
    assert desc == (2, expect_first, 12)


@pytest.mark.parametrize("signed", [False, True])
def test_frames_read_in_pieces_match_pydicom(tmp_path, monkeypatch, signed):
    """The fast path reads each frame in pieces (_PIECE bytes), fixing bits and rescaling each piece: with
    pieces that do not divide the frame (incl. a short last one), garbage high bits are still cleared /
    sign-extended (PS3.5 8.1.1) and the intercept applied to every value, as pydicom does."""
    from miss_imaging.reading import _pixels

    monkeypatch.setattr(_pixels, "_PIECE", 38)  # 19 values; frames of 8 x 9 = 72 values
    rng = np.random.default_rng(7)
    if signed:
        stored = rng.integers(-2048, 2048, size=(3, 8, 9)).astype(np.int16)
    else:
        stored = rng.integers(0, 4096, size=(3, 8, 9)).astype(np.uint16)
    raw = stored.view(np.uint16) | np.uint16(0x5000)  # bits above BitsStored 12 set
    ct_slices(tmp_path, raw.view(np.int16) if signed else raw, bits_stored=12, signed=signed, intercept=-1000)
    vol = load(tmp_path)
    ref = np.stack(
        [pydicom.pixels.apply_modality_lut(pydicom.dcmread(f).pixel_array, pydicom.dcmread(f)) for f in vol.files]
    )
    assert vol.pixels.dtype == np.int16
    np.testing.assert_array_equal(vol.pixels, ref)
    np.testing.assert_array_equal(vol.pixels, stored.astype(np.int64) - 1000)
