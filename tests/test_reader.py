"""The napari reader and layer kwargs, without a viewer (npe2.read / read_dicom).

Geometry is checked against truth.json and the DICOM definitions (LPS,
PS3.3 C.7.6.2.1.1), never against the plugin's own output: a truth landmark
in LPS mm, put through the layer's scale/translate, must land on the bright
metal voxel the phantom put there.
"""

from __future__ import annotations

import numpy as np
import pytest

from miss_imaging.model import ImageVolume, ProjectionTags

npe2 = pytest.importorskip("npe2")
pytest.importorskip("napari")

from miss_imaging_napari import _reader  # noqa: E402
from miss_imaging_napari._layers import NOTE_KEY, SOURCE_KEY, VOLUME_KEY, image_kwargs, layer_data  # noqa: E402
from miss_imaging_napari._reader import get_reader, looks_like_dicom, read_dicom  # noqa: E402


def _records() -> list:
    from napari.utils.notifications import notification_manager

    return notification_manager.records


def _world_to_index(kw: dict, world_zyx) -> np.ndarray:
    """Data index of a world point for a scale+translate layer (napari: world = index * scale + translate)."""
    assert "affine" not in kw
    return (np.asarray(world_zyx, float) - np.asarray(kw["translate"])) / np.asarray(kw["scale"])


def _value_at(data, idx) -> float:
    k, j, i = (int(round(v)) for v in idx)
    return float(np.asarray(data[k, j, i]))


def _npe2_read(path):
    pm = npe2.PluginManager.instance()
    pm.discover()
    return npe2.read([str(path)], plugin_name="miss-imaging", stack=False)


# -- synthetic volumes: exact expectations from the definitions ------------------------------------------------------


def _axial(flip_x: bool = False) -> ImageVolume:
    """Axial CT, IOP [1,0,0,0,1,0] (or x flipped), spacing (2.0, 0.5, 0.8) mm, origin (10, -20, 30)."""
    sx = -0.8 if flip_x else 0.8
    a = np.array([[0, 0, sx, 10.0], [0, 0.5, 0, -20.0], [2.0, 0, 0, 30.0], [0, 0, 0, 1]])
    px = np.arange(4 * 6 * 5, dtype=np.int16).reshape(4, 6, 5)
    return ImageVolume(px, (2.0, 0.5, 0.8), a, "volume", modality="CT", series_description="AX", series_number=2,
                       patient={"name": "DOE^JOHN", "id": "PID-123"})


def test_axial_volume_scale_translate_lps_zyx():
    kw = image_kwargs(_axial())
    assert kw["scale"] == pytest.approx((2.0, 0.5, 0.8))
    assert kw["translate"] == pytest.approx((30.0, -20.0, 10.0))  # LPS (x, y, z) origin reordered to (z, y, x)
    assert kw["units"] == ("mm", "mm", "mm")
    assert kw["axis_labels"] == ("z", "y", "x")
    assert kw["colormap"] == "gray"
    assert kw["name"] == "CT AX #2"


def test_flipped_volume_is_an_exact_view_with_same_world_positions():
    vol = _axial(flip_x=True)
    data, kw, kind = layer_data(vol)
    assert kind == "image" and NOTE_KEY not in kw["metadata"]
    shown = kw["metadata"][VOLUME_KEY]
    assert np.shares_memory(np.asarray(data), vol.pixels)  # a view, no interpolation
    # every voxel keeps its LPS position: voxel (k, j, i) of the source is at x = 10 - 0.8 i
    for k, j, i in [(0, 0, 0), (3, 5, 4), (2, 1, 3)]:
        lps = vol.index_to_patient((k, j, i))
        idx = _world_to_index(kw, lps[::-1])
        assert np.allclose(idx, np.round(idx), atol=1e-9)
        assert _value_at(data, idx) == vol.pixels[k, j, i]


def test_projection_kwargs_frame_axis_and_calibrated_plane():
    px = np.zeros((5, 8, 10), np.uint16)
    vol = ImageVolume(px, (1.0, 0.2, 0.25), np.diag([0.25, 0.2, 1.0, 1.0])[[0, 1, 2, 3]], "projection",
                      modality="XA", calibration="magnification-corrected (ERMF)",
                      windows=[__import__("miss_imaging").Window(2048, 4096)], projection=ProjectionTags(ermf=1.5))
    kw = image_kwargs(vol)
    assert kw["scale"] == pytest.approx((1.0, 0.2, 0.25))
    assert kw["axis_labels"] == ("frame", "row", "col")
    assert kw["units"] == ("mm", "mm", "mm")
    assert kw["contrast_limits"] == pytest.approx((2047.5 - 2047.5, 2047.5 + 2047.5))  # LINEAR C.11.2.1.2.1


def test_pixels_only_projection_does_not_claim_mm_and_monochrome1_inverts():
    vol = ImageVolume(np.zeros((1, 4, 4), np.uint16), (1.0, 1.0, 1.0), np.eye(4), "projection", modality="DX",
                      photometric="MONOCHROME1", calibration="pixels only",
                      windows=[__import__("miss_imaging").Window(100, 200)])
    kw = image_kwargs(vol)
    assert kw["units"] == ("pixel", "pixel", "pixel")
    assert kw["colormap"] == "gray_r"


# -- get_reader: cheap, silent ----------------------------------------------------------------------------------------


def test_get_reader_accepts_dicom_and_folders_and_declines_other_files(samples, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.bin").write_bytes(b"\x00" * 10)
    assert get_reader(str(samples / "spine_ct")) is read_dicom
    one = sorted((samples / "spine_ct").iterdir())[0]
    assert get_reader(str(one)) is read_dicom
    assert get_reader([str(one)]) is read_dicom
    for p in (tmp_path / "notes.txt", tmp_path / "missing"):
        assert get_reader(str(p)) is None
    for p in (tmp_path / "empty", tmp_path / "junk"):  # taken, so that reading says no DICOM was found there
        assert get_reader(str(p)) is read_dicom
    assert get_reader(12345) is None  # type: ignore[arg-type]
    assert looks_like_dicom(tmp_path / "missing") is False


# -- the phantoms through npe2 ---------------------------------------------------------------------------------------


def test_spine_ct_layer_places_truth_landmarks_on_metal(samples, truth):
    layers = _npe2_read(samples / "spine_ct")
    assert len(layers) == 1
    data, kw, kind = layers[0]
    t = truth["spine_ct"]
    assert kind == "image"
    assert kw["units"] == ("mm", "mm", "mm")
    # tilted 5 deg out of plane: displayed on the patient grid, spacing kept per nearest axis
    assert kw["scale"] == pytest.approx(tuple(t["spacing_mm"]), abs=1e-6)
    src = kw["metadata"][SOURCE_KEY]
    np.testing.assert_allclose(src.affine, np.asarray(t["affine"]), atol=1e-5)
    assert "tilted" in kw["metadata"][NOTE_KEY]
    # every bead centre (LPS mm -> world (z, y, x) -> data index) is on metal (peak > 4000 HU, > 2000 after
    # linear interpolation at an arbitrary sub-voxel offset)
    for name, lps in t["landmarks_lps_mm"].items():
        idx = _world_to_index(kw, np.asarray(lps)[::-1])
        assert _value_at(data, idx) > 2000, name
    # the screw shaft midway between entry and tip is titanium (4000 HU core)
    mid = (np.asarray(t["screw"]["entry_lps_mm"]) + np.asarray(t["screw"]["tip_lps_mm"])) / 2
    assert _value_at(data, _world_to_index(kw, mid[::-1])) > 3000
    # and 15 mm to the patient's right of it (-x) there is no metal
    right = mid - np.array([15.0, 0, 0])
    assert _value_at(data, _world_to_index(kw, right[::-1])) < 2000
    # window: bone preset for CT; never a patient identifier in the name
    assert kw["contrast_limits"][0] < 500 < kw["contrast_limits"][1]
    for value in truth["patient"].values():
        assert str(value) not in kw["name"]


def test_enhanced_ct_has_the_same_world_placement(samples, truth):
    classic = _npe2_read(samples / "spine_ct")[0][1]
    enhanced = _npe2_read(samples / truth["spine_ct_enhanced"].get("folder", "spine_ct_enhanced"))[0][1]
    assert enhanced["scale"] == pytest.approx(classic["scale"], abs=1e-6)
    assert enhanced["translate"] == pytest.approx(classic["translate"], abs=1e-4)


def test_progress_path_and_lazy_loading_give_same_layer(samples, monkeypatch):
    monkeypatch.setattr(_reader, "PROGRESS_BYTES", 0)  # force the progress bar
    data, kw, _ = read_dicom(str(samples / "spine_ct"))[0]
    assert kw["units"] == ("mm", "mm", "mm") and data.shape[0] > 1


# -- failures: one clean message, no exception ----------------------------------------------------------------------


@pytest.mark.parametrize("teaching", [False, True])
def test_nothing_loadable_gives_one_error_notification_and_no_exception(tmp_path, teaching):
    from miss_imaging import settings

    settings.set_teaching_mode(teaching)
    bad = tmp_path / "DOE_JOHN_1958"  # case folders are often named after the patient
    bad.mkdir()
    (bad / "truncated.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00UI")
    (bad / "readme.txt").write_text("not dicom")
    before = len(_records())
    out = read_dicom(str(bad))
    assert out == [(None,)]  # napari's "nothing to add" sentinel: no traceback dialog
    new = _records()[before:]
    errors = [n for n in new if str(n.severity).lower().endswith("error")]
    assert len(errors) == 1
    assert "truncated.dcm" in errors[0].message
    # teaching mode: neither the folders of the path nor the opened folder's own name are shown
    assert (str(bad) in errors[0].message) is not teaching
    assert ("DOE_JOHN_1958" in errors[0].message) is not teaching
    settings.set_teaching_mode(True)


# -- projections and the hostile cases from truth.json ---------------------------------------------------------------


def test_fluoro_layer_frame_axis_and_ermf_scale(samples, truth):
    t = truth["fluoro"]
    (data, kw, _), = _npe2_read(samples / t["folder"])
    assert data.shape == tuple(t["shape"])
    # PS3.3 10.7.1.3: ImagerPixelSpacing / ERMF is the spacing at the isocentre plane
    iso = np.asarray(t["imager_pixel_spacing_mm"]) / t["ermf"]
    assert kw["scale"] == pytest.approx((1.0, *iso), abs=1e-6)
    np.testing.assert_allclose(iso, t["pixel_spacing_at_isocenter_mm"], atol=1e-6)
    assert kw["axis_labels"] == ("frame", "row", "col") and kw["units"] == ("mm", "mm", "mm")
    assert kw["metadata"][VOLUME_KEY].calibration == "magnification-corrected (ERMF)"
    # the two beads, 25.4 mm apart in the isocentre plane, are 25.4 mm apart in layer world coordinates
    marks = t["landmarks_px"]
    w = [np.asarray(marks[n]) * np.asarray(kw["scale"]) + np.asarray(kw["translate"]) for n in ("bead_a", "bead_b")]
    assert np.linalg.norm(w[0][1:] - w[1][1:]) == pytest.approx(t["distances_mm"]["bead_a-bead_b"], abs=0.01)


def test_radiograph_monochrome1_and_geometry_calibration(samples, truth):
    t = truth["radiograph"]
    (data, kw, _), = _npe2_read(samples / t["folder"])
    assert kw["colormap"] == "gray_r"  # MONOCHROME1: minimum shown white (PS3.3 C.7.6.3.1.2)
    assert kw["scale"][1:] == pytest.approx(tuple(t["pixel_spacing_mm"]), abs=1e-6)  # row spacing first
    assert kw["units"] == ("mm", "mm", "mm")
    assert "GEOMETRY" in kw["metadata"][VOLUME_KEY].calibration


def _hostile_cases():
    import json

    from conftest import SAMPLES

    path = SAMPLES / "truth.json"
    if not path.is_file():
        return []
    cases = json.loads(path.read_text()).get("hostile", {}).get("cases", {})
    return [pytest.param(name, case, id=name) for name, case in cases.items()]


@pytest.mark.parametrize(("name", "case"), _hostile_cases())
def test_hostile_cases_load_the_valid_slices_and_name_the_bad_files(samples, name, case):
    before = len(_records())
    layers = read_dicom(str(samples / case["folder"]))
    msgs = " ".join(n.message for n in _records()[before:])
    images = [ld for ld in layers if ld[0] is not None]
    assert images, msgs
    vols = [ld[1]["metadata"].get(SOURCE_KEY) or ld[1]["metadata"][VOLUME_KEY] for ld in images]
    main = max(vols, key=lambda v: v.shape[0])
    exp = case["expected"]
    allowed = {exp["valid_slices"], 6} if name == "no_preamble" else {exp["valid_slices"]}
    assert main.shape[0] in allowed
    if "spacing_mm" in exp:
        assert main.spacing == pytest.approx(tuple(exp["spacing_mm"]), abs=1e-6)
    if name == "gap":
        assert not main.regular and "gap" in msgs.lower()
    for bad in case["bad_files"]:
        if name in ("localizer", "no_preamble"):
            continue  # may be shown as its own image / read as a slice: nothing to warn about
        assert bad in msgs, (bad, msgs)


def test_several_slice_files_form_one_volume(samples, truth):
    names = truth["spine_ct"]["files_in_array_order"][10:15]
    paths = [str(samples / "spine_ct" / n) for n in reversed(names)]  # order of selection must not matter
    pm = npe2.PluginManager.instance()
    pm.discover()
    layers = npe2.read(paths, plugin_name="miss-imaging", stack=True)
    assert len(layers) == 1
    src = layers[0][1]["metadata"][SOURCE_KEY]
    assert src.shape[0] == 5 and [f.name for f in src.files] == names


@pytest.mark.parametrize("target", ["folder", "DICOMDIR"])
def test_dicomdir_file_set_gives_each_series(samples, truth, target):
    t = truth["dicomdir"]
    path = samples / t["folder"] / (t["file"] if target == "DICOMDIR" else "")
    assert get_reader(str(path)) is read_dicom
    layers = read_dicom(str(path))
    modalities = sorted(ld[1]["metadata"][VOLUME_KEY].modality for ld in layers)
    assert modalities == sorted(s["modality"] for s in t["series"].values())


def test_sample_data_without_the_phantoms_says_where_and_what_to_do(tmp_path, monkeypatch):
    from miss_imaging.errors import MissImagingError
    from miss_imaging_napari import _sample_data

    monkeypatch.setenv("MISS_IMAGING_SAMPLES", str(tmp_path / "nowhere"))
    with pytest.raises(MissImagingError, match=r"nowhere.*pip install -e \."):
        _sample_data.spine_ct()


def test_ct_and_fluoro_in_one_viewer_keep_mm_units(samples):
    """napari drops every unit when layers disagree on one axis: the scale bar must keep "mm"."""
    from napari.components import ViewerModel

    viewer = ViewerModel()
    for folder in ("spine_ct", "fluoro"):
        for data, kw, _ in read_dicom(str(samples / folder)):
            viewer.add_image(data, **kw)
    assert viewer.layers.units is not None
    assert {str(u) for u in viewer.layers.units} == {"millimeter"}


def test_ct_then_fluoro_in_one_viewer_warns_about_the_shared_slider(make_napari_viewer, samples):
    """Axis 0 is z (mm) for a CT and the frame number for fluoro: one napari slider cannot show both."""
    viewer = make_napari_viewer()
    viewer.open(str(samples / "spine_ct"), plugin="miss-imaging")
    assert _reader.mixed_axis_note(viewer, [viewer.layers[0].metadata[VOLUME_KEY]]) is None  # same kind: fine
    n = len(_records())
    viewer.open(str(samples / "fluoro"), plugin="miss-imaging")
    new = [str(r.message) for r in _records()[n:]]
    hits = [m for m in new if "share napari's one slider" in m]
    assert len(hits) == 1, new
    assert "CT INTRAOP" in hits[0] and "XA FLUORO" in hits[0] and "New Window" in hits[0]


def test_dicomdir_with_ct_and_radiograph_warns_about_the_shared_slider(make_napari_viewer, samples):
    viewer = make_napari_viewer()
    n = len(_records())
    viewer.open(str(samples / "dicomdir" / "DICOMDIR"), plugin="miss-imaging")
    kinds = {layer.metadata[VOLUME_KEY].kind for layer in viewer.layers if VOLUME_KEY in layer.metadata}
    assert kinds == {"volume", "projection"}
    assert sum("share napari's one slider" in str(r.message) for r in _records()[n:]) == 1


def test_every_manifest_sample_opens_layers_at_physical_size():
    """File > Open Sample: each manifest entry names a function of _sample_data that gives image layers in mm."""
    from pathlib import Path

    import yaml

    from miss_imaging_napari import _sample_data

    manifest = yaml.safe_load((Path(_sample_data.__file__).parent / "napari.yaml").read_text())
    commands = {c["id"]: c["python_name"] for c in manifest["contributions"]["commands"]}
    keys = [s["key"] for s in manifest["contributions"]["sample_data"]]
    assert set(keys) == set(_sample_data.SAMPLES) and keys[0] == "lumbar_ct"
    for s in manifest["contributions"]["sample_data"]:
        func = getattr(_sample_data, commands[s["command"]].split(":")[1])
        images = [ld for ld in func() if ld[2] == "image"]
        assert images, s["key"]
        assert all(ld[1]["units"][-1] in ("mm", "pixel") for ld in images), s["key"]
