"""No patient identifier leaks: every sample, every file written for sharing, every text shown.

For each phantom in ``sample_dicoms/`` (fake identifiers in ``truth["patient"]``),
the identifiers and their obvious variants (name parts and orders, birth date
formats) are searched, case-insensitively, in:

* every byte of the de-identified DICOM export (hits of all-digit values
  inside the export's own new ``2.25.`` UIDs are the only ones tolerated:
  those UIDs are random numbers),
* annotated PNG figures, cine GIFs, measurement CSV/JSON, session JSON,
* the model a volume carries outside ``volume.patient`` (label, metadata,
  warnings, windows),
* in napari: every layer name (both modes), the teaching widget's info
  panel, status text and every canvas text overlay in teaching mode.

The export must re-load with identical pixels, geometry and calibration, and
measurements on it must agree with those on the original.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from miss_imaging.measurement import measurements_io
from miss_imaging import settings
from miss_imaging.errors import MissImagingWarning
from miss_imaging.sharing.deid import DeidOptions, deidentify_series, find_identifiers, identifier_variants
from miss_imaging.sharing.export import blanked_volume, burned_in_regions, export_cine_gif, measurement_lines, write_png
from miss_imaging.reading.loader import load, load_all
from miss_imaging.measurement.measure import measure_distance
from miss_imaging.display.render import render_slice
from miss_imaging.sharing.session import Session, load_session, save_session, series_ref

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_dicoms"
SAMPLE_KEYS = ("spine_ct", "spine_ct_enhanced", "fluoro", "radiograph", "compressed", "dicomdir")


def _available() -> list[str]:
    """Sample keys with a folder; hostile cases as ``hostile/<case>``."""
    try:
        truth = json.loads((SAMPLES / "truth.json").read_text())
    except (OSError, ValueError):
        return []
    keys = [k for k in SAMPLE_KEYS if isinstance(truth.get(k), dict) and "folder" in truth[k]]
    cases = (truth.get("hostile") or {}).get("cases") or {}
    keys += [f"hostile/{c}" for c, v in cases.items() if isinstance(v, dict) and "folder" in v]
    return keys


AVAILABLE = _available()
pytestmark = pytest.mark.skipif(not AVAILABLE, reason="sample_dicoms/truth.json not generated yet")


def _sample_path(truth: dict, key: str) -> Path:
    if key.startswith("hostile/"):
        return SAMPLES / truth["hostile"]["cases"][key.split("/", 1)[1]]["folder"]
    entry = truth[key]
    return SAMPLES / entry["folder"] / entry["file"] if entry.get("file") else SAMPLES / entry["folder"]


@pytest.fixture(scope="module")
def idents(truth) -> set[str]:
    p = truth["patient"]
    return identifier_variants(p, dates=[p.get("PatientBirthDate", "")])


def assert_clean(data: bytes | str, idents: set[str], where: str) -> None:
    found = find_identifiers(data, idents)
    assert not found, f"{where}: patient identifiers {found}"


def assert_clean_dicom(raw: bytes, idents: set[str], where: str) -> None:
    """Raw DICOM bytes: all-digit identifiers may occur only inside new 2.25 UIDs (random digits)."""
    low = raw.lower()
    for ident in find_identifiers(raw, idents):
        for m in re.finditer(re.escape(ident.lower().encode()), low):
            start = max(0, m.start() - 64)
            token = re.findall(rb"[0-9.]+", low[start:m.end() + 64])
            inside_uid = ident.isdigit() and any(t.startswith(b"2.25.") and ident.encode() in t for t in token)
            assert inside_uid, f"{where}: patient identifier {ident!r} at byte {m.start()}"


def _model_text(vol) -> str:
    """Everything a volume carries except `patient`."""
    return "\n".join([vol.label, repr(vol), json.dumps(vol.metadata, default=str), "\n".join(vol.warnings),
                      "\n".join(f"{w.explanation} {w.center} {w.width}" for w in vol.windows), vol.series_description,
                      vol.calibration])


def _two_points(vol) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    n, r, c = vol.shape
    k = n // 2
    return (k, r * 0.25, c * 0.3), (k, r * 0.7, c * 0.8)


@pytest.mark.parametrize("key", AVAILABLE)
def test_sample_exports_leak_nothing_and_reload_identically(key, truth, idents, tmp_path):
    path = _sample_path(truth, key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissImagingWarning)  # hostile objects warn; that is the loader's test
        vols = load_all(path)
    for n, vol in enumerate(vols):
        where = f"{key}/{vol.label}"
        assert_clean(_model_text(vol), idents, f"{where} model outside .patient")
        # --- de-identified DICOM export ------------------------------------------------
        out = tmp_path / f"deid{n}"
        report = deidentify_series(vol.files, out, series_uid=vol.series_uid or None,
                                   options=DeidOptions(uid_salt=b"leak-test"))
        assert report.files_written
        for f in out.rglob("*"):
            if f.is_file():
                assert_clean_dicom(f.read_bytes(), idents, f"{where} export {f.name}")
        assert_clean(report.summary(), idents, f"{where} export report")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissImagingWarning)  # the same warnings as the original's
            copy = load(out)
        a, b = np.asarray(vol.pixels), np.asarray(copy.pixels)
        outside = np.ones(a.shape[1:], bool)  # burned-in text is blanked by default; everything else identical
        for boxes in report.auto_regions.values():
            for r0, c0, r1, c1 in boxes:
                outside[r0:r1, c0:c1] = False
        np.testing.assert_array_equal(b[:, outside], a[:, outside], err_msg=where)
        burned = (truth.get(key) or {}).get("burned_in_text") if isinstance(truth.get(key), dict) else None
        if burned:  # the phantom's name/ID/date box is inside what was blanked, and the text is gone
            r0, c0, r1, c1 = burned["box_px"]
            assert not outside[r0:r1, c0:c1].any(), (where, report.auto_regions)
            assert b[:, ~outside].max() < a[:, r0:r1, c0:c1].max()
        np.testing.assert_allclose(copy.affine, vol.affine, rtol=0, atol=1e-9, err_msg=where)
        assert copy.spacing == vol.spacing and copy.kind == vol.kind and copy.calibration == vol.calibration
        assert copy.projection == vol.projection, where
        assert not any(copy.patient.get(k) for k in ("PatientName", "PatientID", "PatientBirthDate",
                                                      "AccessionNumber", "InstitutionName")), copy.patient
        p0, p1 = _two_points(vol)
        m0, m1 = measure_distance(vol, p0, p1, name="check"), measure_distance(copy, p0, p1, name="check")
        assert (m1.value, m1.unit, m1.calibration, m1.pixels) == pytest.approx((m0.value, m0.unit, m0.calibration,
                                                                                m0.pixels), abs=1e-9)
        if vol.kind == "volume" and "landmarks_lps_mm" in truth.get(key, {}):
            lm = truth[key]["landmarks_lps_mm"]
            a, b = (copy.patient_to_index(lm[k]) for k in ("inch_a", "inch_b"))
            assert measure_distance(copy, a, b).mm == pytest.approx(25.4, abs=1e-6)
        # --- figures, cine, measurement files, session -----------------------------------
        shared = blanked_volume(vol, burned_in_regions(vol))  # what a shared figure shows
        png = write_png(render_slice(shared, p0[0], lines=measurement_lines([m0])).image, tmp_path / f"{n}.png")
        assert_clean(png.read_bytes(), idents, f"{where} PNG")
        if vol.kind == "projection" and vol.shape[0] > 1:
            gif = export_cine_gif(vol, tmp_path / f"{n}.gif", measurements=[m0], width_px=256)
            assert_clean(gif.path.read_bytes(), idents, f"{where} GIF")
            if burned:
                r0, c0, r1, c1 = burned["box_px"]
                assert any(b[0] <= r0 and b[1] <= c0 and b[2] >= r1 and b[3] >= c1 for b in gif.blanked_regions)
        for f in (measurements_io.save_csv([m0], tmp_path / f"{n}.csv"),
                  measurements_io.save_json([m0], tmp_path / f"{n}.json")):
            assert_clean(f.read_bytes(), idents, f"{where} {f.suffix}")
        s = Session(series=[series_ref(vol)], measurements=[measurements_io.to_dict(m0)])
        sp = save_session(s, tmp_path / f"{n}.session.json")
        assert_clean(sp.read_bytes(), idents, f"{where} session")
        s2, rep = load_session(sp)
        assert rep.ok and s2 == s


def test_napari_shows_no_identifier_in_teaching_mode(make_napari_viewer, truth, idents, tmp_path):
    pytest.importorskip("napari")
    from napari.components.overlays import TextOverlay

    from miss_imaging_napari._teaching_widget import TeachingWidget

    settings.set_teaching_mode(True)
    viewer = make_napari_viewer(show=True)
    widget = TeachingWidget(viewer)
    # the hostile cases all share one tiny CT: one of them is enough on screen (all are exported above)
    hostile = [k for k in AVAILABLE if k.startswith("hostile/")]
    keys = [k for k in AVAILABLE if not k.startswith("hostile/")] + hostile[:1]
    try:
        for key in keys:
            viewer.layers.clear()
            viewer.open(str(_sample_path(truth, key)), plugin="miss-imaging")
            images = [lay for lay in viewer.layers if "miss_imaging_volume" in lay.metadata]
            assert images, key
            for lay in images:
                viewer.layers.selection.active = lay
                assert_clean(widget.info.toPlainText(), idents, f"{key} info panel")
                world = np.asarray(lay.data_to_world(np.asarray(lay.data.shape) / 2.0))
                status = lay.get_status(world, world=True)
                assert_clean(json.dumps(status, default=str), idents, f"{key} status")
                assert_clean(lay.get_source_str(), idents, f"{key} layer tooltip")
            texts = [o.text for o in viewer.canvas.overlays.values() if isinstance(o, TextOverlay)]
            assert_clean("\n".join(texts + [viewer.title, str(viewer.status)]), idents, f"{key} canvas text")
            snap = widget.save_snapshot(tmp_path / f"{key}.png")
            assert_clean(snap.read_bytes(), idents, f"{key} snapshot")
            for on in (True, False):  # layer names: never, in either mode
                settings.set_teaching_mode(on)
                assert_clean("\n".join(lay.name for lay in viewer.layers), idents, f"{key} layer names")
            settings.set_teaching_mode(True)
    finally:
        settings.set_teaching_mode(True)
