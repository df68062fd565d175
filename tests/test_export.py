"""Annotated PNG and cine GIF exports: no metadata, file frame rate, overlays."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from miss_imaging.sharing.deid import find_identifiers, identifier_variants
from miss_imaging.sharing.export import (
    GIF_TICK_MS,
    export_cine_gif,
    frame_times_ms,
    gif_delays_ms,
    render_cine_frames,
    write_png,
)
from miss_imaging.measurement.measure import measure_distance
from miss_imaging.model import ImageVolume, ProjectionTags, Window

PATIENT = {"PatientName": "CINEFAKE^MARGARET", "PatientID": "PID-771203", "PatientBirthDate": "19491107",
           "AccessionNumber": "ACC-31337", "InstitutionName": "FAKE GENERAL"}


def png_chunks(data: bytes) -> list[bytes]:
    """Chunk types of a PNG stream (PNG spec 5.3)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, types = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(ctype + body)
        types.append(ctype)
        pos += 12 + length
    return types


def fluoro(n: int = 6, *, frame_time: float | None = 66.7, vector: tuple[float, ...] | None = None) -> ImageVolume:
    """A small cine: a bright bar moving one column per frame, 0.22 mm pixels."""
    pix = np.full((n, 40, 60), 200, np.uint16)
    for k in range(n):
        pix[k, 10:30, 10 + k] = 3000
    aff = np.array([[0, 0, 0.22, 0], [0, 0.22, 0, 0], [1.0, 0, 0, 0], [0, 0, 0, 1]], float)
    return ImageVolume(pix, (1.0, 0.22, 0.22), aff, "projection", modality="XA", series_description="Run 2",
                       series_number=5, calibration="magnification-corrected (ERMF)",
                       projection=ProjectionTags(frame_time_ms=frame_time, frame_time_vector_ms=vector,
                                                 imager_pixel_spacing=(0.308, 0.308), ermf=1.4),
                       windows=[Window(1600, 3000)], patient=dict(PATIENT))


def test_png_has_no_text_chunks_and_keeps_pixels(tmp_path: Path):
    rgb = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    src = Image.fromarray(rgb)
    src.info["comment"] = "CINEFAKE"  # carried by PIL images; must not reach the file
    p = write_png(src, tmp_path / "a.png")
    data = p.read_bytes()
    assert set(png_chunks(data)) <= {b"IHDR", b"IDAT", b"IEND"}
    np.testing.assert_array_equal(np.asarray(Image.open(p)), rgb)
    rgba = np.dstack([rgb, np.full((30, 40), 255, np.uint8)])
    p2 = write_png(rgba, tmp_path / "b.png")
    assert Image.open(p2).mode == "RGB"
    np.testing.assert_array_equal(np.asarray(Image.open(p2)), rgb)
    with pytest.raises(ValueError, match="uint8"):
        write_png(rgb.astype(np.float32), tmp_path / "c.png")


def test_frame_times_from_frame_time_vector_and_defaults():
    d, w = frame_times_ms(fluoro(4, frame_time=50.0))
    assert d.tolist() == [50.0] * 4 and w == []
    d, w = frame_times_ms(fluoro(4, frame_time=50.0, vector=(0.0, 40.0, 60.0, 80.0)))
    assert d.tolist() == [40.0, 60.0, 80.0, 60.0]  # increments before frames 1..3, last = median
    d, w = frame_times_ms(fluoro(4, frame_time=None))
    assert d.tolist() == [100.0] * 4 and "FrameTime" in w[0]
    d, w = frame_times_ms(fluoro(4, frame_time=30.0, vector=(0.0, 10.0)))
    assert d.tolist() == [30.0] * 4 and "FrameTimeVector" in w[0]


@pytest.mark.parametrize("ms", [66.7, 33.3, 40.0, 125.0, 83.33])
def test_gif_delays_track_the_true_timeline(ms):
    durations = [ms] * 97
    delays, warnings = gif_delays_ms(durations)
    assert warnings == [] and all(d % GIF_TICK_MS == 0 for d in delays)
    true_start = np.cumsum([0.0] + durations)
    gif_start = np.cumsum([0] + delays)
    assert np.max(np.abs(true_start - gif_start)) <= 5.0 + 1e-9  # never drifts


def test_gif_delays_floor_at_20_ms():
    delays, warnings = gif_delays_ms([8.0] * 5)
    assert min(delays) == 20 and "20 ms" in warnings[0]


def test_cine_gif_rate_frames_overlays_and_no_identifiers(tmp_path: Path):
    vol = fluoro(6)
    m = measure_distance(vol, (2, 20, 5), (2, 20, 45))  # 40 px x 0.22 mm on frame 2
    assert m.mm == pytest.approx(8.8)
    rep = export_cine_gif(vol, tmp_path / "run.gif", measurements=[m], width_px=240)
    assert rep.n_frames == 6 and rep.gif_delays_ms == [70, 60, 70, 70, 60, 70]
    assert rep.source_fps == pytest.approx(1000 / 66.7) and abs(rep.gif_fps - rep.source_fps) < 0.2
    assert rep.max_start_error_ms <= 5.0
    gif = Image.open(rep.path)
    assert gif.n_frames == 6
    durations = []
    frames = []
    for k in range(gif.n_frames):
        gif.seek(k)
        durations.append(gif.info["duration"])
        frames.append(np.asarray(gif.convert("RGB")).copy())
        assert "comment" not in gif.info
    assert durations == rep.gif_delays_ms
    # the measurement line (yellow) is drawn on frame 2 only
    yellow = lambda f: np.sum((f[..., 0] > 200) & (f[..., 1] > 180) & (f[..., 2] < 80))  # noqa: E731
    assert yellow(frames[2]) > 100 and yellow(frames[1]) < 10
    # the bar moves: frames differ
    assert not np.array_equal(frames[0], frames[3])
    idents = identifier_variants(PATIENT, dates=[PATIENT["PatientBirthDate"]])
    assert find_identifiers(rep.path.read_bytes(), idents) == []


def test_render_frames_have_physical_aspect(tmp_path: Path):
    vol = fluoro(2)
    imgs = render_cine_frames(vol, frames=[1], width_px=300, window=Window(1600, 3000))
    assert len(imgs) == 1 and imgs[0].size == (300, 200)  # 60 x 40 px of 0.22 mm: 3:2
    with pytest.raises(ValueError, match="outside"):
        render_cine_frames(vol, frames=[5])


def test_subset_of_frames_lasts_until_next_chosen(tmp_path: Path):
    vol = fluoro(6, frame_time=50.0)
    rep = export_cine_gif(vol, tmp_path / "sub.gif", frames=[0, 2, 4], width_px=120)
    assert rep.source_durations_ms == [100.0, 100.0, 50.0] and rep.gif_delays_ms == [100, 100, 50]
