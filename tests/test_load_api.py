"""What scan / load_all give a caller such as the napari reader: the stack plan, several paths,
progress, and per-series problems collected instead of raised (synthetic series of known geometry)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from loader_factory import ct_slices, phantom

import miss_imaging
from miss_imaging.errors import MissImagingError, MissImagingWarning
from miss_imaging.reading.series import StackPlan


def _truncated(path):
    path.write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00UI")
    return path


def test_plan_is_the_typed_stack_order(tmp_path):
    stored = phantom(5)
    paths, ipps = ct_slices(tmp_path, stored)  # file names shuffled, InstanceNumber against position
    (s,) = miss_imaging.scan(tmp_path)
    assert isinstance(s.plan, StackPlan) and s.plan.kind == "volume"
    # array order is the order along the slice normal (+z here), never file name or InstanceNumber
    assert [h.path for h in s.plan.headers] == paths
    assert s.plan.geometry is not None and s.plan.geometry.step == pytest.approx([0, 0, 1.25])
    assert "plan=" not in repr(s)  # headers-heavy: kept out of the listing


def test_series_made_by_hand_loads_like_the_scanned_one(tmp_path):
    stored = phantom(4)
    ct_slices(tmp_path, stored)
    (s,) = miss_imaging.scan(tmp_path)
    by_hand = dataclasses.replace(s, plan=None, files=list(reversed(s.files)))
    a, b = miss_imaging.load(s), miss_imaging.load(by_hand)
    np.testing.assert_array_equal(a.pixels, b.pixels)
    np.testing.assert_allclose(a.affine, b.affine)
    np.testing.assert_array_equal(a.pixels, stored.astype(np.int16) - 1024)


def test_slices_picked_one_by_one_form_one_volume(tmp_path):
    paths, _ = ct_slices(tmp_path / "ct", phantom(6))
    picked = [str(p) for p in paths[::-1]]
    result = miss_imaging.scan(picked)
    assert len(result) == 1 and result[0].n_frames == 6
    assert [h.path for h in result[0].plan.headers] == paths
    (vol,) = miss_imaging.load_all(picked)
    assert vol.shape[0] == 6


def test_scan_progress_counts_every_file(tmp_path):
    ct_slices(tmp_path, phantom(3))
    _truncated(tmp_path / "bad.dcm")
    calls = []
    result = miss_imaging.scan(tmp_path, progress=lambda done, total, name: calls.append((done, total, name)))
    assert [c[:2] for c in calls] == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    assert calls[-1][2] == "" and "bad.dcm" in {c[2] for c in calls}
    assert len(result.skipped) == 1


def test_load_all_progress_in_estimated_bytes(tmp_path):
    ct_slices(tmp_path / "a", phantom(6, 12, 10), series_uid="1.2.3.4.1")
    ct_slices(tmp_path / "b", phantom(3, 12, 10), series_uid="1.2.3.4.2")
    calls = []
    vols = miss_imaging.load_all(tmp_path, progress=lambda *a: calls.append(a))
    total = (6 + 3) * 12 * 10 * 2
    assert [v.shape[0] for v in vols] == [6, 3]
    assert calls == [(0, total, vols[0].label), (6 * 240, total, vols[1].label), (total, total, "")]


def _mixed_folder(tmp_path):
    ct_slices(tmp_path / "good", phantom(4), series_uid="1.2.3.4.1")
    # a second series none of whose slices can be placed: fails when loaded, naming the tag
    ct_slices(tmp_path / "noipp", phantom(3), series_uid="1.2.3.4.2", extra={"ImagePositionPatient": None})
    _truncated(tmp_path / "cut.dcm")
    return tmp_path


def test_load_all_collects_problems_instead_of_warning(tmp_path, recwarn):
    folder = _mixed_folder(tmp_path)
    result = miss_imaging.load_all(folder, errors="collect")
    assert [v.shape[0] for v in result] == [4]
    assert len(result.problems) == 2
    assert any("cut.dcm" in p and "truncated" in p for p in result.problems)
    assert any("(0020,0032) ImagePositionPatient" in p for p in result.problems)
    assert not [w for w in recwarn if "cut.dcm" in str(w.message) or "not loaded" in str(w.message)]


def test_load_all_warns_the_same_problems_by_default(tmp_path):
    folder = _mixed_folder(tmp_path)
    with pytest.warns(MissImagingWarning) as caught:
        result = miss_imaging.load_all(folder)
    messages = [str(w.message) for w in caught]
    assert any(m.startswith("skipped cut.dcm") for m in messages)
    assert any(m.startswith("series ") and "not loaded" in m for m in messages)
    assert len(result) == 1 and len(result.problems) == 2


def test_nothing_loadable_raises_only_when_warning(tmp_path):
    _truncated(tmp_path / "cut.dcm")
    assert miss_imaging.load_all(tmp_path, errors="collect") == []
    with pytest.raises(MissImagingError, match="cut.dcm"), pytest.warns(MissImagingWarning):
        miss_imaging.load_all(tmp_path)
