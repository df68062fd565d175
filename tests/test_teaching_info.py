"""The Teaching widget's decisions, without Qt: info panel, blank regions, session restore rules."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from miss_imaging.measurement.measure import measure_distance
from miss_imaging.model import ImageVolume, Window


def _projection(**patient: str) -> ImageVolume:
    return ImageVolume(np.zeros((1, 4, 4), np.int16), (1.0, 0.3, 0.2), np.eye(4), "projection", modality="XA",
                       patient=patient, metadata={"Manufacturer": "ACME", "ManufacturerModelName": "DOE^JANE arm",
                                                  "KVP": 80.0})


def test_doctests_of_the_qt_free_modules():
    from miss_imaging_napari import _session_io, _teaching_info

    for mod in (_teaching_info, _session_io):
        assert doctest.testmod(mod, extraglobs={"ImageVolume": ImageVolume}).failed == 0


def test_info_lines_hide_identifiers_in_teaching_mode_and_show_the_banner_in_clinician_mode():
    from miss_imaging_napari._teaching_info import info_lines

    vol = _projection(PatientName="DOE^JANE", PatientID="123")
    teaching = info_lines(vol, window=Window(40.0, 400.0, "x", "LINEAR"), teaching=True)
    assert not any("JANE" in ln or "123" in ln for ln in teaching)  # the device line typed with a name is dropped
    assert "Technique: 80 kV" in teaching and "Window: C 40 / W 400 (LINEAR)" in teaching
    assert "Pixel spacing: 0.3 x 0.2 mm (row x col)" in teaching  # row first, then column (PS3.3 C.7.6.2.1.1)
    clinician = info_lines(vol, teaching=False)
    assert clinician[0].startswith("Patient: DOE, JANE")


def test_parse_regions_rejects_a_box_without_four_numbers():
    from miss_imaging_napari._teaching_info import parse_regions

    assert parse_regions("1,2,3,4;") == [(1, 2, 3, 4)]
    with pytest.raises(ValueError, match="row0,col0,row1,col1"):
        parse_regions("1,2,3")


def test_layer_window_inverts_the_contrast_limits():
    from types import SimpleNamespace

    from miss_imaging_napari._teaching_info import layer_window

    vol = _projection()
    w = layer_window(SimpleNamespace(contrast_limits=(-160.0, 240.0)), vol)
    assert (w.center, w.width, w.function) == (pytest.approx(40.0, abs=0.51), pytest.approx(400.0, abs=1.01), "LINEAR")


@pytest.mark.parametrize("saved, current, mode, noted", [
    (True, False, True, False), (True, True, True, False), (False, False, False, False), (False, True, True, True)])
def test_a_session_never_switches_teaching_mode_off(saved, current, mode, noted):
    from miss_imaging_napari._session_io import teaching_mode_on_restore

    got, note = teaching_mode_on_restore(saved, current)
    assert got is mode and (note is not None) is noted


def test_measurement_change_reports_a_value_that_moved_or_vanished():
    from miss_imaging_napari._session_io import measurement_change

    vol = ImageVolume(np.zeros((1, 50, 50), np.int16), (1.0, 1.0, 1.0), np.eye(4), "volume", modality="CT")
    saved = measure_distance(vol, (0, 0, 0), (0, 0, 40)).renamed("rod")  # identity affine: 1 mm per index
    assert saved.mm == pytest.approx(40.0)
    assert measurement_change(saved, saved, None) is None
    longer = measure_distance(vol, (0, 0, 0), (0, 0, 41)).renamed("rod")
    assert measurement_change(saved, longer, None).startswith("changed: measurement 'rod' now reads")
    assert measurement_change(saved, None, "outside the image") == "not restored: measurement 'rod': outside the image"


def test_the_adapter_decision_modules_import_no_qt():
    """The modules the widgets call for their decisions run without Qt (a ViewerModel is enough)."""
    import subprocess
    import sys

    mods = ["_session_io", "_teaching_info", "_measure_actions", "_carm_shot", "_spine", "_layer_geometry",
            "_measure_layers", "_user_calibration", "_viewer_links", "_series_info"]
    code = ("import sys\n" + "".join(f"import miss_imaging_napari.{m}\n" for m in mods)
            + "print(sorted(k for k in sys.modules if k.split('.')[0] in "
              "('qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'superqt', 'magicgui')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
