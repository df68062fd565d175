"""Spine results as measurement records: same numbers, named, flagged, exportable and reloadable."""

from __future__ import annotations

import numpy as np
import pytest

import spine_phantom as P
from miss_imaging.measurement.measurements_io import load_json, save_csv, save_json
from miss_imaging.spine import (Screw, Vertebra, access_records, breach, disc_angle, disc_height, level_records,
                                screw_records)


@pytest.fixture(scope="module")
def vol():
    ph = P.Phantom((60, 120, 120), fill=-1000.0, centre=(0, 0, 0))
    ph.paint(P.halfspaces([((0, 50, 0), (0, 1, 0))]), 40.0, [-40, -70, -70], [40, 50, 70])  # skin at y = 50
    return ph.volume()


def test_level_records_carry_the_spine_numbers(vol, tmp_path):
    upper = Vertebra("L4", [[0, -30, 33.5], [0, 0, 33.5], [0, 0, 3.5], [0, -30, 8.0]])
    lower = Vertebra("L5", [[0, -30, 0], [0, 0, 0], [0, 0, -25], [0, -30, -25]])
    recs = level_records(vol, upper, lower)
    by = {m.name: m for m in recs}
    h = disc_height(upper, lower)
    assert by["L4-L5 disc posterior height"].mm == pytest.approx(h.posterior_mm)
    assert by["L4-L5 disc anterior height"].mm == pytest.approx(h.anterior_mm)
    assert by["L4-L5 disc middle height"].mm == pytest.approx(h.middle_mm)
    assert any("root compression" in w for w in by["L4-L5 disc middle height"].warnings)
    ang = by["disc angle L4-L5"]
    assert ang.kind == "cobb" and ang.value == pytest.approx(disc_angle(upper, lower).degrees) and ang.value > 0
    back = load_json(save_json(recs, tmp_path / "m.json"))
    assert [m.name for m in back] == [m.name for m in recs]
    assert "disc posterior height" in (save_csv(recs, tmp_path / "m.csv")).read_text()


def test_screw_and_access_records(vol):
    s = Screw.from_points([0, 10, 0], [0, -30, 0], 6.5, label="screw 1")
    (m,) = screw_records(vol, s)
    assert m.kind == "distance" and m.mm == pytest.approx(40.0) and "Ø 6.5 mm" in m.name
    from miss_imaging.spine import access_plan
    a = access_plan(vol, [0, 20, 0], [0, 30, 0])
    (r,) = access_records(vol, a)
    assert r.mm == pytest.approx(30.0, abs=0.5) and "tube 30 mm" in r.name
