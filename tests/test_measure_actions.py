"""The Measurements widget's decisions without Qt: a napari ViewerModel, no window, no widget."""

from __future__ import annotations

import numpy as np
import pytest

from miss_imaging.errors import MeasurementError
from miss_imaging.measurement.calibration import projection_calibration
from miss_imaging.measurement.measurements_io import save_json
from miss_imaging.model import ImageVolume, ProjectionTags

VOLUME_KEY = "miss_imaging_volume"


@pytest.fixture
def model():
    from napari.components import ViewerModel

    return ViewerModel()


def _fluoro(uid="1.2.840.9"):
    tags = ProjectionTags(imager_pixel_spacing=(0.3, 0.2), sid=1000.0, sod=750.0)  # ERMF 4/3
    cal = projection_calibration(tags)
    sp = (1.0, cal.row_mm, cal.col_mm)
    return ImageVolume(np.zeros((2, 100, 120), np.uint16), sp, np.diag([sp[2], sp[1], 1.0, 1.0]), "projection",
                       modality="XA", projection=tags, calibration=cal.label, series_uid=uid, series_description="cine")


def _add(model, vol):
    return model.add_image(vol.pixels, name=vol.label, scale=(1.0, *vol.spacing[1:]), units=("mm",) * 3,
                           metadata={VOLUME_KEY: vol})


def test_cells_and_calibration_summary_state_row_then_column(model):
    from miss_imaging_napari import _measure_actions as act
    from miss_imaging_napari._measure_layers import add_measurement

    image = _add(model, _fluoro())
    _, res = add_measurement(model, image, "distance", [(0, 10, 10), (0, 10, 70)], name="rod")
    cells = act.table_cells(res)
    # 60 columns x 0.2 mm detector / ERMF (1000/750) = 9.0 mm at the isocentre
    assert cells[:4] == ["rod", "distance", "9.00", "mm"] and cells[6] == "0"
    assert act.cell_tooltip(res, 2) == "at the detector plane (not corrected): 12.00 mm"
    summary = act.calibration_summary(image.metadata[VOLUME_KEY], projection_calibration(_fluoro().projection))
    assert "(0.225 x 0.15 mm/pixel)" in summary and "detector plane 0.3 x 0.2 mm" in summary


def test_calibrate_series_on_the_only_line_rescales_every_layer_of_the_series(model):
    from miss_imaging_napari import _measure_actions as act
    from miss_imaging_napari._layer_geometry import current_calibration
    from miss_imaging_napari._measure_layers import add_measurement, results, tool_layers

    vol = _fluoro()
    first, second = _add(model, vol), _add(model, vol)
    add_measurement(model, first, "distance", [(0, 10, 10), (0, 10, 60)], name="sphere")  # 50 px along a row
    rows = [r for lay in tool_layers(model) for r in results(lay)]
    message = act.calibrate_series(model, first, rows, [], " 25 ", "sphere")
    assert "50.0 px = 25 mm" in message
    for lay in (first, second):
        cal = current_calibration(lay)
        # 25 mm / 50 col px = 0.5 mm per column; rows keep the detector's 0.3 : 0.2 pixel aspect
        assert cal.source == "user" and (cal.row_mm, cal.col_mm) == pytest.approx((0.75, 0.5))
        assert tuple(lay.scale[-2:]) == pytest.approx((0.75, 0.5))
    assert "user calibration removed" in act.clear_series_calibration(model, first)
    assert current_calibration(second).source != "user"


@pytest.mark.parametrize("text, match", [("", "known length"), ("abc", "known length")])
def test_calibrate_series_refuses_a_missing_length(model, text, match):
    from miss_imaging_napari import _measure_actions as act

    image = _add(model, _fluoro())
    with pytest.raises(MeasurementError, match=match):
        act.calibrate_series(model, image, [], [], text, "")


def test_load_measurements_places_by_series_and_reports_what_is_not_open(model, tmp_path):
    from miss_imaging_napari import _measure_actions as act
    from miss_imaging_napari._measure_layers import add_measurement

    image = _add(model, _fluoro())
    m = add_measurement(model, image, "distance", [(1, 5, 5), (1, 5, 45)], name="a")[1].measurement
    other = _fluoro(uid="1.2.840.10")
    gone = type(m)(**{**m.__dict__, "series_uid": other.series_uid, "series_label": "closed run", "name": "b"})
    path = save_json([m, gone], tmp_path / "m.json")

    from napari.components import ViewerModel

    fresh = ViewerModel()
    _add(fresh, _fluoro())
    placed = []
    report, ok = act.load_measurements(fresh, path, placed.append)
    assert not ok and report.startswith("placed 1 of 2 measurement(s) from m.json")
    assert "b (closed run): series not open" in report
    assert [r.measurement.value for r in placed] == pytest.approx([m.value])


def test_exportable_leaves_out_rows_with_errors(model):
    from miss_imaging_napari import _measure_actions as act
    from miss_imaging_napari._measure_layers import add_measurement, results, tool_layers

    image = _add(model, _fluoro())
    add_measurement(model, image, "distance", [(0, 1, 1), (0, 1, 11)], name="ok")
    add_measurement(model, image, "distance", [(0, 1, 1), (0, 1, 1)], name="zero")
    ms, warning = act.exportable(model, [r for lay in tool_layers(model) for r in results(lay)])
    assert [m.name for m in ms] == ["ok"] and warning.startswith("1 measurement(s) with errors not exported: zero")
