"""Session files: exact round trip, and honest reports when files moved or changed."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from _deid_fixtures import FAKE, write_ct_series
from miss_imaging.measurement import measurements_io
from miss_imaging.sharing.deid import find_identifiers, identifier_variants
from miss_imaging.measurement.measure import measure_distance
from miss_imaging.model import ImageVolume
from miss_imaging.sharing.session import (
    SCHEMA,
    VERSION,
    Camera,
    DimsState,
    LayerWindow,
    Session,
    SessionError,
    load_session,
    save_session,
    series_ref,
    sop_uids_digest,
)


def _volume(files: list[Path]) -> ImageVolume:
    first = pydicom.dcmread(files[0])
    aff = np.array([[0, 0, 0.7, -2.5], [0, 0.5, 0, -4.0], [2.5, 0, 0, 10.0], [0, 0, 0, 1]], float)
    return ImageVolume(np.zeros((len(files), 12, 10), np.int16), (2.5, 0.5, 0.7), aff, "volume", modality="CT",
                       series_uid=str(first.SeriesInstanceUID), series_description="Lumbar spine", series_number=3,
                       files=list(files), patient={"PatientName": FAKE["name"]})


@pytest.fixture()
def case(tmp_path: Path):
    folder = tmp_path / "case" / "ct"
    files = write_ct_series(folder)
    vol = _volume(files)
    m = measure_distance(vol, (1, 2, 2), (1, 2, 8), name="pedicle")
    s = Session(
        series=[series_ref(vol)],
        windows={vol.series_uid: LayerWindow(480.0, 2500.0, contrast_limits=(-770.5, 1729.5), gamma=0.9)},
        measurements=[measurements_io.to_dict(m)],
        planes=[{"series_uid": vol.series_uid, "plane": {"origin": [1.5, -2.25, 12.0], "normal": [0.0, 0.6, 0.8]}}],
        camera=Camera(center=(13.75, 1.25, 0.65), zoom=3.3721, angles=(0.0, 0.0, 90.0)),
        dims=DimsState(point=(13.75, 0.0, 0.0), ndisplay=2, order=(0, 1, 2)),
        teaching_mode=True,
        active_series=vol.series_uid,
    )
    return tmp_path, folder, files, vol, s


def test_series_ref_hashes_sorted_sop_uids(case):
    _, folder, files, vol, s = case
    ref = s.series[0]
    uids = [str(pydicom.dcmread(f).SOPInstanceUID) for f in files]
    assert ref.sop_uids_sha256 == sop_uids_digest(reversed(uids)) and ref.n_instances == 4
    assert ref.path == str(folder.resolve()) and ref.label == "CT Lumbar spine #3"


def test_round_trip_is_exact(case):
    tmp, _, _, vol, s = case
    path = save_session(s, tmp / "case" / "lesson.miss.json")
    data = json.loads(path.read_text())
    assert data["schema"] == SCHEMA and data["version"] == VERSION
    assert data["series"][0]["relative_path"] == "ct"
    s2, report = load_session(path)
    assert report.ok and report.notes == [] and report.found == {vol.series_uid: (tmp / "case" / "ct").resolve()}
    assert s2 == s
    m2 = measurements_io.from_dict(s2.measurements[0])
    assert m2.mm == pytest.approx(6 * 0.7) and m2.name == "pedicle"
    # saving the restored session again gives the same bytes
    assert save_session(s2, tmp / "case" / "again.json").read_text() == path.read_text()


def test_version_1_files_still_read_and_the_workspace_round_trips(case):
    tmp, _, _, vol, s = case
    path = save_session(s, tmp / "case" / "v1.json")
    data = json.loads(path.read_text())
    data["version"] = 1
    del data["workspace"]  # what version 1 wrote
    path.write_text(json.dumps(data))
    s1, report = load_session(path)
    assert report.ok and s1.workspace is None
    ws = {"series_uid": vol.series_uid, "point_lps": [1.0, 2.0, 3.0], "measurements": [],
          "slabs": {"coronal": [20.0, "MIP"]}}
    path2 = save_session(dataclasses.replace(s, workspace=ws), tmp / "case" / "v2.json")
    assert load_session(path2)[0].workspace == ws


def test_session_file_has_no_patient_identifiers(case):
    tmp, _, _, _, s = case
    text = save_session(s, tmp / "case" / "s.json").read_text()
    idents = identifier_variants([FAKE["id"], FAKE["accession"], FAKE["institution"]], names=[FAKE["name"]],
                                 dates=[FAKE["birth_date"]])
    assert find_identifiers(text, idents) == []


def test_moved_case_folder_is_found_by_relative_path(case):
    tmp, _, _, vol, s = case
    save_session(s, tmp / "case" / "s.json")
    shutil.move(tmp / "case", tmp / "moved")
    s2, report = load_session(tmp / "moved" / "s.json")
    assert report.ok and report.path_for(vol.series_uid) == tmp / "moved" / "ct"
    assert "moved" in report.notes[0]


def test_missing_series_lists_what_cannot_be_restored(case):
    tmp, folder, _, vol, s = case
    save_session(s, tmp / "case" / "s.json")
    shutil.rmtree(folder)
    _, report = load_session(tmp / "case" / "s.json")
    assert not report.ok and report.missing == [vol.series_uid]
    text = "\n".join(report.problems)
    assert "missing" in text and "'pedicle'" in text and "oblique plane" in text and "window" in text


def test_changed_series_is_reported(case):
    tmp, _, files, vol, s = case
    save_session(s, tmp / "case" / "s.json")
    files[-1].unlink()
    _, report = load_session(tmp / "case" / "s.json")
    assert vol.series_uid in report.changed and "3 instance(s), 4 when" in report.problems[0]


@pytest.mark.parametrize("content, match", [
    ("{broken", "not a JSON"),
    ('{"schema": "other"}', "not a miss-imaging session"),
    (json.dumps({"schema": SCHEMA, "version": 99}), "newer"),
    (json.dumps({"schema": SCHEMA, "version": 1, "camera": {"zoom": 1}}), "malformed"),
    ("[]", "top level"),
    (json.dumps({"schema": SCHEMA, "version": 2, "workspace": [1, 2]}), "malformed.*workspace"),
])
def test_bad_files_raise_session_error(tmp_path: Path, content, match):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(SessionError, match=match):
        load_session(p)
