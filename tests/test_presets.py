"""Presets, default window and the automatic window on phantoms with known anatomy pixels."""

from __future__ import annotations

import numpy as np
import pytest

from miss_imaging.model import ImageVolume, Window
from miss_imaging.display.presets import AUTO_EXPLANATION, PRESETS, auto_window, default_window, file_windows, table_window
from miss_imaging.display.window import apply_voi_table, apply_window

SEED = 6


def test_preset_values_and_limits():
    # values as cited in presets.py (OHIF bone 2500/480, soft tissue 400/40; metal 6000/1500)
    assert (PRESETS["bone"].width, PRESETS["bone"].center) == (2500, 480)
    assert (PRESETS["soft_tissue"].width, PRESETS["soft_tissue"].center) == (400, 40)
    assert (PRESETS["metal"].width, PRESETS["metal"].center) == (6000, 1500)
    assert PRESETS["bone"].contrast_limits == (-770.0, 1729.0)
    assert PRESETS["soft_tissue"].contrast_limits == (-160.0, 239.0)
    # the metal window keeps a 3071 HU screw below white and distinct from 1500 HU cortex
    hu = np.array([40, 1500, 2000, 3071], np.int16)
    metal = apply_window(hu, PRESETS["metal"].center, PRESETS["metal"].width)
    bone = apply_window(hu, PRESETS["bone"].center, PRESETS["bone"].width)
    assert bone[2] == bone[3] == 255  # bone window: cortex and screw both saturate
    assert metal[1] < metal[2] < metal[3] < 255


def fluoro_frame(rng, shape=(512, 512), radius=200, text=True, collim=20.0):
    """Circular field of smooth 'anatomy' in 1000..3000 inside a flat dark collimator, plus text."""
    rows, cols = np.indices(shape)
    r = np.hypot(rows - shape[0] / 2, cols - shape[1] / 2)
    inside = r < radius
    anatomy = 1000 + 2000 * (0.5 + 0.5 * np.sin(rows / 37.0) * np.cos(cols / 53.0)) + rng.normal(0, 20, shape)
    frame = np.where(inside, anatomy, collim + rng.normal(0, 3, shape))
    truth = frame[inside].copy()
    if text:
        frame[10:40, 10:200] = 4095  # burned-in text block in the collimated corner
        frame[40:50, 10:120] = 3900  # anti-aliased text line, not saturated, outside the field
        frame[240:250, 200:260] = 4095  # saturated annotation inside the field
    return frame.astype(np.float32), truth


def assert_window_close(win: Window, truth: np.ndarray, tol: float):
    lo, hi = win.contrast_limits
    t_lo, t_hi = np.percentile(truth, [1, 99])
    span = t_hi - t_lo
    assert abs(lo - t_lo) < tol * span, (lo, t_lo)
    assert abs(hi - t_hi) < tol * span, (hi, t_hi)


def test_auto_window_ignores_collimator_and_text():
    rng = np.random.default_rng(SEED)
    frame, truth = fluoro_frame(rng)
    win = auto_window(frame)
    assert win.explanation == AUTO_EXPLANATION and win.function == "LINEAR"
    assert_window_close(win, truth, 0.02)
    # the naive percentiles over all pixels are pulled to the collimator black
    naive_lo = np.percentile(frame, 1)
    assert naive_lo < 100


def test_auto_window_white_mask_and_monochrome1_like_border():
    """A flat bright border (processed radiograph with white collimation) is excluded too."""
    rng = np.random.default_rng(SEED + 1)
    frame, truth = fluoro_frame(rng, text=False, collim=4000.0)
    assert_window_close(auto_window(frame), truth, 0.02)


def test_auto_window_without_collimation_uses_all_pixels():
    rng = np.random.default_rng(SEED + 2)
    frame = (500 + 1500 * rng.random((300, 400))).astype(np.float32)
    assert_window_close(auto_window(frame), frame.ravel(), 0.02)


def test_auto_window_multiframe_samples_frames_and_accepts_dask():
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(SEED + 3)
    frames, truths = zip(*(fluoro_frame(rng, shape=(256, 256), radius=100) for _ in range(5)))
    cine = np.stack(frames).astype(np.uint16)
    win = auto_window(cine, max_frames=3)
    assert_window_close(win, np.concatenate(truths), 0.03)
    lazy = da.from_array(cine, chunks=(1, 256, 256))
    assert auto_window(lazy, max_frames=3) == win


def test_auto_window_constant_frame_and_bad_shape():
    win = auto_window(np.full((20, 20), 7, np.int16))
    assert win.contrast_limits == (6.5, 7.5)
    with pytest.raises(ValueError, match="2-D frame or a 3-D"):
        auto_window(np.zeros((2, 2, 2, 2)))


def _vol(kind, modality, pixels, windows=()):
    return ImageVolume(pixels=pixels, spacing=(1, 1, 1), affine=np.eye(4), kind=kind, modality=modality,
                       windows=list(windows))


def test_default_window():
    rng = np.random.default_rng(SEED + 4)
    ct = _vol("volume", "CT", np.zeros((2, 4, 4), np.int16), [Window(40, 400, "file")])
    assert default_window(ct) == PRESETS["bone"]  # CT: bone first, even with a file window
    file_win = Window(550, 1024, "NORMAL")
    xa = _vol("projection", "XA", np.zeros((2, 64, 64), np.uint16), [file_win, Window(1, 2)])
    assert default_window(xa) is file_win
    frame, truth = fluoro_frame(rng, shape=(256, 256), radius=100)
    rf = _vol("projection", "RF", frame[None])
    win = default_window(rf)
    assert win.explanation == AUTO_EXPLANATION
    assert_window_close(win, truth, 0.02)


def test_table_window_spans_the_rising_part():
    table = np.concatenate([np.zeros(100), np.linspace(0, 4095, 200).round(), np.full(50, 4095)])
    win = table_window((350, -1024, 12), table)
    lo, hi = win.contrast_limits
    assert (lo, hi) == (-1024 + 100, -1024 + 299)
    # the linear approximation agrees with the exact table within 2 grey levels on uint8
    x = np.arange(-1100, -650, dtype=np.int16)
    exact = apply_voi_table(x, (350, -1024, 12), table).astype(int)
    approx = apply_window(x, win.center, win.width).astype(int)
    assert np.abs(exact - approx).max() <= 2


def test_file_windows_in_file_order_then_tables():
    table = np.concatenate([np.zeros(10), np.arange(0, 256, 2), np.full(10, 254)])
    vol = _vol("projection", "XA", np.zeros((1, 4, 4), np.uint8), [Window(100, 50, "A"), Window(120, 80, "B")])
    vol = vol.replace(voi_lut=[((table.size, 0, 8), table)])
    wins = file_windows(vol)
    assert [w.explanation for w in wins[:2]] == ["A", "B"]
    assert wins[2].explanation == "VOI LUT table (linear approximation)"
    assert wins[2].contrast_limits == (10.0, 10.0 + 127)
    assert file_windows(None) == []


def test_auto_window_on_fluoro_phantom(samples, truth):
    """sample_dicoms fluoro run: round collimator (dark outside) and 4095 burned-in text (truth.json)."""
    from pydicom import dcmread

    t = truth["fluoro"]
    frames = dcmread(samples / t["folder"] / t["file"]).pixel_array
    rows, cols = np.indices(frames.shape[1:])
    (cr, cc), radius = t["collimator"]["center_px"], t["collimator"]["radius_px"]
    field = np.hypot(rows - cr, cols - cc) < radius - 2  # 2 px inside the blade edge
    r0, c0, r1, c1 = t["burned_in_text"]["box_px"]
    field[r0:r1, c0:c1] = False
    assert np.percentile(frames, 99) == 4095  # the text would own the top of a naive window
    assert_window_close(auto_window(frames), frames[:, field], 0.02)
