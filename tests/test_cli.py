"""The ``miss-imaging`` CLI and the core renderer behind ``snapshot`` / the headless demo."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from miss_imaging.cli import main, parse_box, parse_window
from miss_imaging.model import ImageVolume, Window
from miss_imaging.display.render import Line, nice_length, render_slice, save_png


def _png_chunks(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, kinds = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kinds.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return kinds


def _identifiers(truth) -> list[str]:
    return [str(v) for v in truth["patient"].values() if len(str(v)) >= 4]


# -- render: geometry of the picture --------------------------------------------------------------------------------


def _lps_box_volume() -> ImageVolume:
    """Axial volume 1 x 40 x 60, spacing 1 x 0.5 x 1.0 mm; a bright block on the patient's left, anterior."""
    px = np.zeros((1, 40, 60), np.int16)
    px[0, 5:10, 45:55] = 3000  # rows 5-9 (anterior: small y), columns 45-54 (large x: patient's left)
    a = np.array([[0, 0, 1.0, 0], [0, 0.5, 0, 0], [1.0, 0, 0, 0], [0, 0, 0, 1]])
    return ImageVolume(px, (1.0, 0.5, 1.0), a, "volume", modality="CT")


def test_render_physical_aspect_orientation_and_line():
    vol = _lps_box_volume()
    r = render_slice(vol, 0, window=Window(1000, 2000), width_px=600, lines=[Line((0, 20, 10), (0, 20, 40), "30 mm")])
    img = np.asarray(r.image)
    # 60 columns x 1.0 mm = 60 mm wide, 40 rows x 0.5 mm = 20 mm high -> 600 x 200 px at 0.1 mm/px
    assert img.shape[:2] == (200, 600) and r.mm_per_px == pytest.approx(0.1)
    # block centre: row 7 -> y = 7.5 * 0.5 mm = 3.75 mm -> 37 px; col 50 -> x = 50.5 mm -> 505 px (right side)
    assert img[37, 505].mean() > 200
    # not mirrored (a mean over the mirror place: the heading's text crosses it)
    assert img[30:45, 50:150].mean() < 0.3 * img[30:45, 450:550].mean()
    assert r.orientation == {"top": "A", "bottom": "P", "left": "R", "right": "L"}
    # the measurement line is yellow along row 20 -> y = 20.5 * 0.5 / 0.1 = 102 px, from x 105 to 405
    yellow = (img[:, :, 0] > 200) & (img[:, :, 1] > 180) & (img[:, :, 2] < 80)
    assert yellow[101:104, 150:350].any(axis=0).all()


def test_render_blanks_burned_in_region_on_projections():
    px = np.full((1, 20, 20), 4000, np.uint16)
    vol = ImageVolume(px, (1.0, 1.0, 1.0), np.eye(4), "projection", modality="XA", calibration="pixels only")
    img = np.asarray(render_slice(vol, 0, window=Window(2000, 4000), width_px=200, blank=[(0, 0, 5, 10)]).image)
    assert img[20, 50].max() == 0  # row 2, col 5 of the source blanked
    assert img[120, 150].min() > 200


@pytest.mark.parametrize(("target", "nice"), [(37, 20), (50, 50), (9.9, 5), (0.3, 0.2), (1000, 1000)])
def test_nice_length(target, nice):
    assert nice_length(target) == pytest.approx(nice)


def test_save_png_writes_no_text_chunks(tmp_path):
    out = save_png(np.zeros((4, 4, 3), np.uint8), tmp_path / "a" / "b.png")
    assert not {b"tEXt", b"iTXt", b"zTXt", b"eXIf"} & set(_png_chunks(out))


# -- commands ---------------------------------------------------------------------------------------------------------


def test_parse_window_and_box():
    assert parse_window("40,400") == Window(40, 400, "command line")
    assert parse_window("bone").width > 1000
    with pytest.raises(Exception, match="unknown preset"):
        parse_window("nonsense")
    assert parse_box("4,3,35,103") == (4, 3, 35, 103)  # row0,col0,row1,col1: the one convention, read as printed


def test_info_lists_series_without_identifiers(samples, truth, capsys):
    assert main(["info", str(samples / "spine_ct")]) == 0
    out = capsys.readouterr().out
    t = truth["spine_ct"]
    assert "CT" in out and f"{t['rows']}x{t['columns']}" in out and str(t["n_slices"]) in out
    assert "0.9 x 0.6 x 0.75 mm" in out and "patient geometry (CT)" in out
    for ident in _identifiers(truth):
        assert ident not in out


def test_snapshot_puts_the_screw_on_the_right(samples, truth, tmp_path, capsys):
    from miss_imaging.reading.loader import load
    from miss_imaging.spatial.resampling import to_patient_grid

    t = truth["spine_ct"]
    mid = (np.asarray(t["screw"]["entry_lps_mm"]) + np.asarray(t["screw"]["tip_lps_mm"])) / 2
    grid = to_patient_grid(load(samples / "spine_ct"))
    k = int(round(grid.patient_to_index(mid)[0]))
    out = tmp_path / "snap.png"
    assert main(["snapshot", str(samples / "spine_ct"), "-o", str(out), "--window", "bone", "--slice", str(k)]) == 0
    assert "W 2500" in capsys.readouterr().out.replace("/ W", "W")
    assert not {b"tEXt", b"iTXt", b"zTXt"} & set(_png_chunks(out))
    from PIL import Image

    img = np.asarray(Image.open(out).convert("RGB"))
    j, i = grid.patient_to_index(mid)[1:]
    mm_per_px = grid.shape[2] * grid.spacing[2] / img.shape[1]
    x, y = int((i + 0.5) * grid.spacing[2] / mm_per_px), int((j + 0.5) * grid.spacing[1] / mm_per_px)
    assert x > img.shape[1] / 2  # left pedicle screw on the image's right
    assert img[y - 1 : y + 2, x - 1 : x + 2].mean() > 200
    for ident in _identifiers(truth):
        assert ident.encode() not in out.read_bytes()


def test_missing_samples_fail_with_a_clear_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MISS_IMAGING_SAMPLES", str(tmp_path / "nowhere"))
    assert main(["demo", "--out", str(tmp_path / "d.png"), "--headless", "--no-viewer"]) == 1
    err = capsys.readouterr().err
    assert "nowhere" in err and "truth.json" in err


def test_view_without_display_explains(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["view", str(tmp_path)]) == 2
    assert "snapshot" in capsys.readouterr().err


def _value(out: str, key: str) -> tuple[float, str]:
    line = next(ln for ln in out.splitlines() if key in ln)
    return float(line.split(":", 1)[1].split("mm")[0]), line


def _check_demo_output(out: str, truth: dict) -> None:
    """The lumbar demo: values computed from truth landmarks, truth beside each, calibration on each."""
    ct, lat = truth["lumbar_ct"], truth["lumbar_fluoro"]["shots"]["lateral"]
    value, line = _value(out, "measurement L4 left screw (entry-tip)")
    assert value == pytest.approx(ct["screws"][0]["length_mm"], abs=0.1) and "patient geometry (CT)" in line
    assert "truth 45.00 mm" in line
    assert "C 480 / W 2500" in out  # bone window
    value, line = _value(out, "measurement L4 left screw:")
    assert value == pytest.approx(lat["screws"][0]["length_ermf_corrected_mm"], abs=0.1)
    assert "magnification-corrected (ERMF)" in line and "off isocentre" in line and "truth 42.04 mm" in line
    value, line = _value(out, "measurement L4-L5 disc:")
    assert value == pytest.approx(ct["discs"]["L4-L5"]["posterior_mm"], abs=0.1) and "truth 8.58 mm" in line
    screw = next(ln for ln in out.splitlines() if "(L4 left):" in ln)
    assert "Gertzbein-Robbins" in screw and "truth 45.0 mm, 6.5 mm, Gertzbein-Robbins C, medial 2.6 mm" in screw
    access = next(ln for ln in out.splitlines() if "access plan" in ln)
    assert "skin depth 65.8 mm (truth 65.8 mm)" in access and "70 mm tube" in access and "incision 20 mm" in access
    assert "Meyerding I (truth" in out
    for ident in _identifiers(truth):
        assert ident not in out


def test_demo_beads_still_available(tmp_path, truth, capsys):
    out = tmp_path / "beads.png"
    assert main(["demo", "--phantom", "beads", "--out", str(out), "--headless"]) == 0
    text = capsys.readouterr().out
    value, line = _value(text, "inch_a-inch_b")
    assert value == pytest.approx(truth["spine_ct"]["distances_mm"]["inch_a-inch_b"], abs=0.1)
    value, line = _value(text, "bead_a-bead_b")
    assert value == pytest.approx(truth["fluoro"]["distances_mm"]["bead_a-bead_b"], abs=0.15)
    assert "magnification-corrected (ERMF)" in line and "core renderer" in text and out.is_file()


def test_demo_core_renderer(tmp_path, truth, capsys):
    out = tmp_path / "demo.png"
    assert main(["demo", "--out", str(out), "--headless", "--no-viewer"]) == 0
    text = capsys.readouterr().out
    _check_demo_output(text, truth)
    assert "core renderer" in text and out.stat().st_size > 10_000


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="needs Xvfb for the napari screenshot path")
def test_demo_napari_screenshot_on_own_xvfb(tmp_path, truth, capfd):
    out = tmp_path / "demo.png"
    assert main(["demo", "--out", str(out), "--headless"]) == 0
    text = capfd.readouterr().out
    _check_demo_output(text, truth)
    assert "napari viewer screenshot" in text
    from PIL import Image

    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape[1] > 1000 and img.std() > 20  # a real, non-black window picture


def test_deidentify_writes_a_copy(samples, truth, tmp_path, capsys):
    src = samples / "spine_ct"
    few = tmp_path / "src"
    few.mkdir()
    for name in truth["spine_ct"]["files_in_array_order"][:3]:
        shutil.copy(src / name, few / name)
    out = tmp_path / "anon"
    assert main(["deidentify", str(few), str(out)]) == 0
    written = [p for p in out.rglob("*") if p.is_file()]
    assert len(written) >= 3
    blob = b"".join(p.read_bytes() for p in written)
    for ident in _identifiers(truth):
        assert ident.encode() not in blob
    assert json.dumps(capsys.readouterr().out)  # printed a report


def test_demo_scene_blanks_the_burned_in_text_found_by_detection(truth):
    from miss_imaging.demo import demo_scene

    items = {it.key: it for it in demo_scene()}
    fl = items["lumbar_lateral"]
    r0, c0, r1, c1 = truth["lumbar_fluoro"]["shots"]["lateral"]["burned_in_text"]["box_px"]
    covered = np.zeros(fl.volume.shape[1:], bool)
    for a, b, c, d in fl.blank:
        covered[a:c, b:d] = True
    assert covered[r0:r1, c0:c1].all()  # every pixel of the phantom's burned-in text
    assert covered.mean() < 0.1  # and not the image
    assert items["lumbar_ct"].blank == []
