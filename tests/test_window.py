"""VOI windowing against PS3.3 C.11.2.1.2 (exact rational arithmetic) and pydicom.

Reference for every comparison with pydicom: ``apply_windowing`` / ``apply_voi``
output ``p`` lies in the dataset's range ``[ymin, ymax]`` (BitsStored and
PixelRepresentation, after rescale); it is mapped linearly to ``[0, M]`` and
rounded half up, ``floor((p - ymin) / (ymax - ymin) * M + 0.5)``, the rule
that ``apply_window`` documents.  pydicom evaluates in float64, so where the
exact value is a half-integer (a tie) its mapped value can land one ulp on
either side; those pixels are checked against the exact rational value
instead, and the test asserts that pydicom is within 1e-9 of it there.
"""

from __future__ import annotations

import copy
import math
from fractions import Fraction

import numpy as np
import pytest
from pydicom import Dataset
from pydicom.data import get_testdata_file
from pydicom.dataset import FileMetaDataset
from pydicom.pixels import apply_modality_lut, apply_voi, apply_voi_lut, apply_windowing
from pydicom.uid import ExplicitVRLittleEndian

from miss_imaging.model import Window
from miss_imaging.display.window import (
    apply_modality_lut as mi_modality_lut,
)
from miss_imaging.display.window import (
    apply_voi_table,
    apply_window,
    contrast_limits_to_window,
    display_dataset,
    window_to_contrast_limits,
)

RNG_SEED = 20261127
# pydicom's SIGMOID overflows exp() for far-out inputs (harmless: y -> ymin)
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")


def test_docstring_examples():
    import doctest

    import miss_imaging.display.window as mod

    assert doctest.testmod(mod, extraglobs={"np": np}).failed == 0


# ----------------------------------------------------------------------------- references


def exact_y(x: float, c: float, w: float, function: str, top: int) -> Fraction:
    """The standard's real-valued output in [0, top], in exact rational arithmetic."""
    X, C, W = Fraction(x), Fraction(c), Fraction(w)
    if function == "LINEAR":
        lo, hi = C - Fraction(1, 2) - (W - 1) / 2, C - Fraction(1, 2) + (W - 1) / 2
        if X <= lo:
            return Fraction(0)
        if X > hi:
            return Fraction(top)
        return ((X - (C - Fraction(1, 2))) / (W - 1) + Fraction(1, 2)) * top
    lo, hi = C - W / 2, C + W / 2
    if X <= lo:
        return Fraction(0)
    if X > hi:
        return Fraction(top)
    return ((X - C) / W + Fraction(1, 2)) * top


def round_half_up(y: Fraction) -> int:
    return math.floor(y + Fraction(1, 2))


def dataset_range(bits: int, signed: bool, slope: float = 1.0, intercept: float = 0.0) -> tuple[float, float]:
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    return lo * slope + intercept, hi * slope + intercept


def window_ds(c: float, w: float, function: str, bits: int = 16, signed: bool = True) -> Dataset:
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsStored = bits
    ds.PixelRepresentation = int(signed)
    ds.WindowCenter = c
    ds.WindowWidth = w
    ds.VOILUTFunction = function
    return ds


def mapped(p: np.ndarray, ymin: float, ymax: float, top: int) -> np.ndarray:
    return (np.asarray(p, np.float64) - ymin) / (ymax - ymin) * top


def assert_matches(got: np.ndarray, x: np.ndarray, pyd_mapped: np.ndarray, c: float, w: float, function: str,
                   top: int) -> None:
    """got == pydicom rounded half up, except at exact ties, which must match the exact value."""
    expected = np.floor(pyd_mapped + 0.5)
    frac = pyd_mapped - np.floor(pyd_mapped)
    near_tie = np.abs(frac - 0.5) < 1e-6
    np.testing.assert_array_equal(got[~near_tie], expected[~near_tie])
    if function != "SIGMOID":  # SIGMOID values are irrational except at x == c (exactly M/2 in float too)
        for xv in np.unique(x[near_tie]):
            y = exact_y(float(xv), c, w, function, top)
            sel = x == xv
            assert np.all(np.abs(pyd_mapped[sel] - float(y)) < 1e-9)
            if (2 * y).denominator == 1 or abs(y - math.floor(y) - Fraction(1, 2)) > Fraction(1, 10**9):
                assert np.all(got[sel] == round_half_up(y)), (xv, y)  # exact tie, or clearly off one
            else:  # within float64 rounding of a tie without being one (e.g. x = -20.3): either side
                assert np.all(np.isin(got[sel], [math.floor(y), math.ceil(y)])), (xv, y)
    else:
        np.testing.assert_array_equal(got[near_tie], expected[near_tie])


# ----------------------------------------------------------------------------- random arrays

WINDOWS = [
    pytest.param(40, 400, id="soft tissue 400/40"),
    pytest.param(480, 2500, id="bone 2500/480"),
    pytest.param(1500, 6000, id="metal 6000/1500"),
    pytest.param(-600, 1500, id="negative center"),
    pytest.param(40.5, 400.5, id="half-integer c/w"),
    pytest.param(10.3, 3.7, id="non-integer narrow"),
    pytest.param(-1000.25, 1e7, id="huge width"),
    pytest.param(0, 1, id="width 1"),
]


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
@pytest.mark.parametrize(("c", "w"), WINDOWS)
@pytest.mark.parametrize("dtype", ["int16", "uint16", "float32", "float64"])
def test_random_against_pydicom_and_exact(function, c, w, dtype):
    rng = np.random.default_rng(RNG_SEED)
    lo, hi = (-3000, 5000) if dtype != "uint16" else (0, 8000)
    x = rng.integers(lo, hi, size=(3, 40, 50)).astype(dtype)
    if dtype.startswith("float"):
        x += rng.choice([0.0, 0.25, 0.5, 0.7], size=x.shape).astype(dtype)  # non-integer inputs
    ds = window_ds(c, w, function)
    got = apply_window(x, c, w, function=function)
    assert got.dtype == np.uint8 and got.shape == x.shape
    assert_matches(got, x, mapped(apply_windowing(x, ds), *dataset_range(16, True), 255), c, w, function, 255)


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
@pytest.mark.parametrize("out_dtype", [np.uint16, np.float32, np.float64])
def test_other_output_ranges(function, out_dtype):
    rng = np.random.default_rng(RNG_SEED + 1)
    x = rng.integers(-2000, 3000, size=(2, 64, 64)).astype(np.int16)
    c, w = 40.5, 401.0
    pyd = apply_windowing(x, window_ds(c, w, function))
    got = apply_window(x, c, w, function=function, out_dtype=out_dtype)
    assert got.dtype == out_dtype
    if out_dtype == np.uint16:
        assert_matches(got, x, mapped(pyd, *dataset_range(16, True), 65535), c, w, function, 65535)
    else:  # float outputs are the unrounded fraction in [0, 1]
        frac = mapped(pyd, *dataset_range(16, True), 1)
        np.testing.assert_allclose(got, frac, rtol=0, atol=1e-6 if out_dtype == np.float32 else 1e-12)
        assert got.min() >= 0 and got.max() <= 1


def test_exact_rule_on_every_int16_value():
    """All 65,536 int16 inputs, LINEAR_EXACT with a width giving many ties: exact rational reference."""
    x = np.arange(-32768, 32768, dtype=np.int64).astype(np.int16)
    c, w = -600, 1500  # (x + 600) * 255 / 1500 is an integer every 100 HU: ties at .5
    got = apply_window(x, c, w, function="LINEAR_EXACT")
    window = np.arange(-1360, 160)  # the ramp; outside it the output is 0 or 255
    for xv in window:
        assert got[xv + 32768] == round_half_up(exact_y(xv, c, w, "LINEAR_EXACT", 255)), xv
    assert np.all(got[: -1350 + 32768] == 0) and np.all(got[150 + 32768 + 1 :] == 255)


def test_linear_width_one_is_a_step_at_c_minus_half():
    x = np.array([-2, -1, 0, 1, 2], np.int16)
    np.testing.assert_array_equal(apply_window(x, 0, 1), [0, 0, 255, 255, 255])  # x <= -0.5 -> 0
    np.testing.assert_array_equal(apply_window(x, 0.5, 1), [0, 0, 0, 255, 255])  # x <= 0 -> 0
    np.testing.assert_array_equal(apply_window(x.astype(np.float32) + 0.25, 0.5, 1), [0, 0, 255, 255, 255])


def test_linear_matches_napari_contrast_limits():
    """GPU display: (x - lo) / (hi - lo) clamped; the CPU fraction must equal it."""
    x = np.linspace(-2000, 3000, 10001)
    for c, w in [(40, 400), (480, 2500), (350.5, 2000.25)]:
        lo, hi = window_to_contrast_limits(c, w)
        assert (lo, hi) == Window(c, w).contrast_limits
        gpu = np.clip((x - lo) / (hi - lo), 0, 1)
        np.testing.assert_allclose(apply_window(x, c, w, out_dtype=np.float64), gpu, atol=1e-12)
        assert contrast_limits_to_window(lo, hi) == pytest.approx((c, w), abs=1e-12)


@pytest.mark.parametrize(
    ("function", "width", "match"),
    [
        ("LINEAR", 0.5, r"\(0028,1051\) Window Width must be >= 1"),
        ("LINEAR_EXACT", 0, r"\(0028,1051\) Window Width must be > 0"),
        ("SIGMOID", -1, r"\(0028,1051\) Window Width must be > 0"),
        ("GAMMA", 10, r"Unsupported \(0028,1056\) VOI LUT Function"),
    ],
)
def test_invalid_windows_raise(function, width, match):
    with pytest.raises(ValueError, match=match):
        apply_window(np.zeros(3, np.int16), 0, width, function=function)


def test_nan_and_inf_inputs():
    x = np.array([np.nan, -np.inf, np.inf, 40.0], np.float32)
    for f in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        got = apply_window(x, 40, 400, function=f)
        assert got[0] == 0 and got[1] == 0 and got[2] == 255


# ----------------------------------------------------------------------------- invert, out=, layouts, dask


@pytest.mark.parametrize("dtype", ["int16", "float32"])
@pytest.mark.parametrize("out_dtype", [np.uint8, np.uint16, np.float32])
def test_invert_is_the_exact_complement(dtype, out_dtype):
    rng = np.random.default_rng(RNG_SEED + 2)
    x = rng.integers(-1000, 2000, size=(2, 30, 30)).astype(dtype)
    normal = apply_window(x, 350, 2000, out_dtype=out_dtype)
    inv = apply_window(x, 350, 2000, out_dtype=out_dtype, invert=True)
    top = 1.0 if out_dtype == np.float32 else np.iinfo(out_dtype).max
    np.testing.assert_allclose(inv.astype(np.float64), top - normal.astype(np.float64), atol=1e-6)


def test_out_is_written_in_place_and_validated():
    x = np.arange(-500, 500, dtype=np.int16).reshape(10, 100)
    out = np.full(x.shape, 7, np.uint8)
    res = apply_window(x, 40, 400, out=out)
    assert res is out
    np.testing.assert_array_equal(out, apply_window(x, 40, 400))
    with pytest.raises(ValueError, match="`out` must be a uint8 ndarray of shape"):
        apply_window(x, 40, 400, out=np.empty((10, 99), np.uint8))
    with pytest.raises(ValueError, match="`out` must be a uint8"):
        apply_window(x, 40, 400, out=np.empty(x.shape, np.uint16))
    with pytest.raises(ValueError, match="`out_dtype`"):
        apply_window(x, 40, 400, out_dtype=np.int8)


@pytest.mark.parametrize("threads", [1, 2])
def test_large_strided_and_threaded_inputs_agree(monkeypatch, threads):
    """Many chunks on one or two threads, a transposed view, a strided out, int32 and int8 inputs."""
    import miss_imaging.display.window as mod

    monkeypatch.setattr(mod, "CHUNK", 5000)  # not a divisor of anything: ragged last block
    monkeypatch.setattr(mod, "THREAD_MIN", 0)
    t = {"threads": threads}
    rng = np.random.default_rng(RNG_SEED + 3)
    x = rng.integers(-1024, 3000, size=(9, 256, 256)).astype(np.int16)
    ref = apply_window(x.astype(np.float64), 480, 2500, **t)  # float path as the independent reference
    np.testing.assert_array_equal(apply_window(x, 480, 2500, **t), ref)
    np.testing.assert_array_equal(apply_window(x.transpose(2, 0, 1), 480, 2500, **t), ref.transpose(2, 0, 1))
    big = np.zeros((9, 256, 512), np.uint8)
    apply_window(x, 480, 2500, out=big[:, :, ::2], **t)
    np.testing.assert_array_equal(big[:, :, ::2], ref)
    np.testing.assert_array_equal(apply_window(x.astype(np.int32), 480, 2500, **t), ref)
    wide = x.astype(np.int64) * 1000  # range too wide for a table: float path
    np.testing.assert_array_equal(apply_window(wide, 480_000, 2_500_000, **t),
                                  apply_window(wide.astype(np.float64), 480_000, 2_500_000, **t))
    small = rng.integers(-128, 128, size=(5, 7)).astype(np.int8)
    np.testing.assert_array_equal(apply_window(small, 10, 50, **t), apply_window(small.astype(np.float32), 10, 50, **t))


def test_dask_input_is_lazy_and_chunkwise():
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(RNG_SEED + 4)
    x = rng.integers(-1024, 3000, size=(6, 40, 40)).astype(np.int16)
    calls = []

    def slice_(i):
        calls.append(i)
        return x[i]

    lazy_in = da.stack([da.from_delayed(__import__("dask").delayed(slice_)(i), (40, 40), np.int16) for i in range(6)])
    lazy = apply_window(lazy_in, 40, 400)
    assert calls == [] and lazy.dtype == np.uint8  # nothing computed yet
    np.testing.assert_array_equal(lazy[2].compute(), apply_window(x[2], 40, 400))
    assert calls == [2]  # only the requested chunk
    out = np.empty(x.shape, np.uint8)
    assert apply_window(lazy_in, 40, 400, out=out) is out
    np.testing.assert_array_equal(out, apply_window(x, 40, 400))


# ----------------------------------------------------------------------------- rescale / modality LUT


@pytest.mark.parametrize(("slope", "intercept"), [(1, -1024), (32.1216, -4047), (0.5, 3.25)])
def test_rescale_folded_into_window_matches_pydicom(slope, intercept):
    rng = np.random.default_rng(RNG_SEED + 5)
    stored = rng.integers(0, 4096, size=(50, 60)).astype(np.uint16)
    ds = window_ds(40, 400, "LINEAR", bits=12, signed=False)
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    hu = apply_modality_lut(stored, ds)
    np.testing.assert_array_equal(mi_modality_lut(stored, slope=slope, intercept=intercept), hu)
    pyd = apply_windowing(hu, ds)
    got = apply_window(stored, 40, 400, slope=slope, intercept=intercept)
    assert_matches(got, hu, mapped(pyd, *dataset_range(12, False, slope, intercept), 255), 40, 400, "LINEAR", 255)


def test_modality_lut_sequence_matches_pydicom():
    ds = Dataset()
    item = Dataset()
    item.LUTDescriptor = [256, -100, 16]
    item.LUTData = list(range(0, 256 * 10, 10))
    ds.ModalityLUTSequence = [item]
    x = np.arange(-300, 300, dtype=np.int16)
    np.testing.assert_array_equal(
        mi_modality_lut(x, descriptor=item.LUTDescriptor, table=item.LUTData), apply_modality_lut(x, ds)
    )


# ----------------------------------------------------------------------------- VOI LUT Sequence tables


def voi_lut_dataset(descriptor, data, *, ow: bool, little: bool = True) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian if little else "1.2.840.10008.1.2.2"
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsStored, ds.PixelRepresentation = 16, 1
    item = Dataset()
    item.LUTDescriptor = list(descriptor)
    if ow:
        item.add_new(0x00283006, "OW", np.asarray(data, "<u2" if little else ">u2").tobytes())
    else:
        item.LUTData = [int(v) for v in data]
    ds.VOILUTSequence = [item]
    return ds


@pytest.mark.parametrize(
    ("descriptor", "make"),
    [
        pytest.param((4096, -1024, 12), lambda n: np.round(4095 * np.sqrt(np.arange(n) / (n - 1))), id="12-bit sqrt, first -1024"),
        pytest.param((256, 0, 8), lambda n: np.arange(n)[::-1], id="8-bit reversed"),
        pytest.param((0, -32768, 16), lambda n: np.arange(n) % 65536, id="65536 entries (descriptor 0)"),
        pytest.param((1000, 200, 16), lambda n: np.linspace(0, 65535, n).round(), id="16-bit, first 200"),
    ],
)
@pytest.mark.parametrize("ow", [False, True])
def test_voi_lut_table_matches_pydicom(descriptor, make, ow):
    n = descriptor[0] or 65536
    data = make(n).astype(np.int64)
    ds = voi_lut_dataset(descriptor, data, ow=ow)
    first = descriptor[1]
    rng = np.random.default_rng(RNG_SEED + 6)
    x = rng.integers(max(first - 500, -32768), min(first + n + 500, 32767), size=(20, 30)).astype(np.int16)
    # pydicom 3.0.2 apply_voi indexes through an array of the LUT's dtype: with
    # an 8-bit table, x - first >= 256 or < 0 wraps (uint8) before clipping.
    # Compare with it inside the table; the ends follow C.11.2.1.1 directly.
    inside = (x >= first) & (x <= first + n - 1)
    ref = np.where(inside, apply_voi(x, ds), np.where(x < first, data[0], data[-1])).astype(np.float64)
    if descriptor[2] > 8:
        np.testing.assert_array_equal(apply_voi(x, ds), ref)  # pydicom is right everywhere here
    lut_max = 2 ** descriptor[2] - 1
    for out_dtype, top in ((np.uint8, 255), (np.uint16, 65535)):
        expected = np.floor(ref * top / lut_max + 0.5)
        np.testing.assert_array_equal(apply_voi_table(x, descriptor, data, out_dtype=out_dtype), expected)
        np.testing.assert_array_equal(display_dataset(ds, x, out_dtype=out_dtype), expected)
    np.testing.assert_array_equal(apply_voi_table(x.astype(np.float32), descriptor, data), np.floor(ref * 255 / lut_max + 0.5))
    inv = apply_voi_table(x, descriptor, data, invert=True)
    np.testing.assert_array_equal(inv, 255 - np.floor(ref * 255 / lut_max + 0.5))


def test_voi_lut_big_endian_ow():
    data = np.arange(0, 4096, 16)
    ds = voi_lut_dataset((256, 0, 12), data, ow=True, little=False)
    x = np.arange(-5, 300, dtype=np.int16)
    ref = apply_voi(x, ds).astype(np.float64)
    np.testing.assert_array_equal(display_dataset(ds, x), np.floor(ref * 255 / 4095 + 0.5))


def test_voi_lut_descriptor_errors():
    with pytest.raises(ValueError, match=r"\(0028,3002\).*9 bits"):
        apply_voi_table(np.zeros(3, np.int16), (4, 0, 9), [0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"\(0028,3006\) LUT Data has 3 entries"):
        apply_voi_table(np.zeros(3, np.int16), (4, 0, 8), [0, 1, 2])


# ----------------------------------------------------------------------------- real files


def pydicom_display(ds: Dataset, index: int, top: int = 255) -> np.ndarray:
    """pydicom's pipeline, mapped to [0, top] and rounded half up, MONOCHROME1 inverted."""
    stored = ds.pixel_array
    modality = apply_modality_lut(stored, ds)
    voi = apply_voi_lut(modality, ds, index=index)
    slope, intercept = float(ds.get("RescaleSlope", 1)), float(ds.get("RescaleIntercept", 0))
    ymin, ymax = dataset_range(ds.BitsStored, ds.PixelRepresentation == 1, slope, intercept)
    out = np.floor(mapped(voi, ymin, ymax, top) + 0.5)
    return top - out if ds.PhotometricInterpretation == "MONOCHROME1" else out


@pytest.mark.parametrize(
    ("name", "windows"),
    [
        pytest.param("MR_small.dcm", None, id="MR_small (file window 600/1600)"),
        pytest.param("examples_overlay.dcm", None, id="examples_overlay (two file windows)"),
        pytest.param("CT_small.dcm", [(40, 400), (480, 2500), (1500, 6000), (-600, 1500)], id="CT_small + presets"),
        pytest.param("MR_small_RLE.dcm", None, id="MR_small_RLE"),
    ],
)
def test_pydicom_bundled_files(name, windows):
    ds = copy.deepcopy(__import__("pydicom").dcmread(get_testdata_file(name)))
    if windows is not None:
        ds.WindowCenter = [c for c, _ in windows]
        ds.WindowWidth = [w for _, w in windows]
    n = len(ds.WindowCenter) if ds["WindowCenter"].VM > 1 else 1
    for index in range(n):
        expected = pydicom_display(ds, index)
        np.testing.assert_array_equal(display_dataset(ds, index=index), expected)
        c = float(ds.WindowCenter[index] if n > 1 else ds.WindowCenter)
        w = float(ds.WindowWidth[index] if n > 1 else ds.WindowWidth)
        got = apply_window(ds.pixel_array, c, w, slope=float(ds.get("RescaleSlope", 1)),
                           intercept=float(ds.get("RescaleIntercept", 0)))
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    "relpath",
    [
        "cr_mono1_chest/CR-MONO1-10-chest.dcm",
        "ct_slice_codecs/CTImage.dcm",
        "ct_slice_codecs/CTImage_JPEGProcess1.dcm",  # non-integer slope 32.1216
        "misc/highdicom_dx_image.dcm",
        "rf_ge_1024/0015.DCM",
    ],
)
def test_shared_real_files(shared_dicom, relpath):
    from pydicom import dcmread

    ds = dcmread(shared_dicom / relpath, force=True)
    if not hasattr(ds, "file_meta") or "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2"  # implicit VR little endian (no meta in file)
    expected = pydicom_display(ds, 0)
    got = display_dataset(ds)
    np.testing.assert_array_equal(got, expected)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        assert got[ds.pixel_array == ds.pixel_array.min()].min() > 200  # minimum displays white


@pytest.mark.parametrize("dtype", [">i2", ">u2", ">i4", ">f4", "uint8", "bool"])
def test_byte_order_and_small_dtypes(dtype):
    """Big-endian inputs (e.g. a memmap of explicit big endian pixel data) index the table correctly."""
    x = np.arange(-2000, 3000, 7)
    if dtype in (">u2", "uint8"):
        x = x - x.min() if dtype == ">u2" else (x - x.min()) % 256
    if dtype == "bool":
        x = x % 2
    y = x.astype(dtype)
    np.testing.assert_array_equal(apply_window(y, 40, 400), apply_window(x.astype(np.float64), 40, 400))


@pytest.mark.parametrize(("c", "w", "function"), [(480, 2500, "LINEAR"), (40, 400, "LINEAR"), (-600, 1500, "LINEAR_EXACT")])
def test_affine_fast_path_equals_table_on_every_int16_value(c, w, function):
    """The float32 kernel is used only when it reproduces the exact table; check both on all 65,536 values."""
    import miss_imaging.display.window as mod

    x = np.arange(-32768, 32768, dtype=np.int64).astype(np.int16)
    key = ("window", function, float(c), float(w))
    lut, affine = mod._domain_lut("<i2", mod._window_transfer(float(c), float(w), function), key, 255.0, False,
                                  "|u1", 1.0, 0.0)
    assert affine is not None  # the common windows take the fast path
    fast = apply_window(x, c, w, function=function)
    np.testing.assert_array_equal(fast, apply_window(x, c, w, function=function, affine_kernel=False))
    np.testing.assert_array_equal(fast, lut[x.view(np.uint16)])


@pytest.mark.parametrize(("dtype", "c", "w", "slope", "intercept"), [
    ("<u2", 1040, 400, 1.0, -1024.0),  # unsigned CT storage with the rescale folded in
    ("<i2", 40, 400, -1.0, 0.0),  # a decreasing rescale: the ramp's ends swap
    ("<u2", 30000, 60000, 1.0, 0.0),  # a ramp over almost the whole domain
    ("<i2", 0, 1, 1.0, 0.0),  # width 1: a step
])
def test_affine_kernel_clip_ends_match_the_standard_on_every_value(dtype, c, w, slope, intercept):
    """The affine kernel clips the 16-bit input to the ramp's ends; every input value must still follow
    PS3.3 C.11.2.1.2 LINEAR, computed here from the formula in float64."""
    x = np.arange(65536, dtype=np.uint16).view(dtype)
    mod_x = x.astype(np.float64) * slope + intercept
    lo, hi = c - 0.5 - (w - 1) / 2, c - 0.5 + (w - 1) / 2
    y = np.where(mod_x <= lo, 0.0, np.where(mod_x > hi, 255.0,
                 ((mod_x - (c - 0.5)) / max(w - 1, 1) + 0.5) * 255))
    expected = np.floor(y + 0.5).astype(np.uint8)
    for threads in (1, 2):
        np.testing.assert_array_equal(apply_window(x, c, w, slope=slope, intercept=intercept, threads=threads),
                                      expected)
    np.testing.assert_array_equal(apply_window(x, c, w, slope=slope, intercept=intercept, affine_kernel=False),
                                  expected)


@pytest.mark.parametrize(("dtype", "c", "w", "function", "slope", "intercept"), [
    ("<i2", 480, 2500, "LINEAR", 1.0, 0.0), ("<i2", 40, 400, "LINEAR_EXACT", 1.0, 0.0),
    ("<u2", 1040, 400, "LINEAR", 1.0, -1024.0), ("<i2", 40, 400, "LINEAR", -1.0, 0.0),
])
def test_compiled_affine_kernel_equals_numpy_and_table(monkeypatch, dtype, c, w, function, slope, intercept):
    """The optional numba kernel (miss-imaging[fast]) gives the table's output on every 16-bit value,
    contiguous or strided, on one or two threads; without numba the numpy kernels run."""
    pytest.importorskip("numba")
    import miss_imaging.display.window as mod
    from miss_imaging.display import _window_jit

    monkeypatch.setattr(mod, "THREAD_MIN", 0)  # the compiled kernel serves inputs this small too
    x = np.tile(np.arange(65536, dtype=np.uint16).view(dtype), 3)
    kw = {"function": function, "slope": slope, "intercept": intercept}
    table = apply_window(x, c, w, affine_kernel=False, **kw)
    calls = []
    real = _window_jit.affine
    monkeypatch.setattr(_window_jit, "affine", lambda *a: (calls.append(1), real(*a)))
    for threads in (1, 2):
        np.testing.assert_array_equal(apply_window(x, c, w, threads=threads, **kw), table)
        np.testing.assert_array_equal(apply_window(x, c, w, threads=threads, compiled=False, **kw), table)
        strided = np.zeros(2 * x.size, np.uint8)
        apply_window(x, c, w, out=strided[::2], threads=threads, **kw)
        np.testing.assert_array_equal(strided[::2], table)
    assert calls  # the compiled kernel really ran
    monkeypatch.setattr(_window_jit, "AVAILABLE", False)
    mod._jit_verified.clear()
    np.testing.assert_array_equal(apply_window(x, c, w, **kw), table)
