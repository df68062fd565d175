"""ResliceWidget in a real napari viewer (Xvfb): isotropic copy, MPR, live oblique view, slabs."""

from __future__ import annotations

import numpy as np
import pytest

from miss_imaging.model import ImageVolume
from test_resample import axial_affine, beads, make_volume, positions, rotation

VOLUME_KEY = "miss_imaging_volume"
BEAD_A = np.array([3.0, 2.0, 4.0])  # LPS mm
BEAD_B = BEAD_A + 25.4 * np.array([0.3, 0.5, 0.8]) / np.linalg.norm([0.3, 0.5, 0.8])


@pytest.fixture
def tilted_ct() -> ImageVolume:
    A = axial_affine((1.0, 0.7, 0.7), origin=(-18.0, -18.0, -14.0), R=rotation("x", 7))
    return make_volume(lambda p: beads(p, [BEAD_A, BEAD_B], sigma=1.0) - 1000.0, (48, 64, 64), A,
                       series_description="tilted", series_number=2)


@pytest.fixture
def setup(make_napari_viewer, tilted_ct):
    from miss_imaging_napari._layers import layer_data
    from miss_imaging_napari._reslice_widget import ResliceWidget

    viewer = make_napari_viewer()
    data, kw, _ = layer_data(tilted_ct)
    viewer.add_image(data, **kw)
    return viewer, ResliceWidget(viewer)


def centroid_lps(layer, near, radius=3.0):
    img = layer.metadata[VOLUME_KEY]
    p = positions(img.affine, img.shape)[0]
    m = np.linalg.norm(p - near, axis=-1) < radius
    w = np.asarray(layer.data, np.float64)[m]
    w = w - w.min()
    return (p[m] * w[:, None]).sum(0) / w.sum()


def test_widget_finds_volume_and_uses_the_original(setup, tilted_ct):
    viewer, w = setup
    assert w.source.count() == 1
    assert w.source_volume() is tilted_ct  # not the display-resampled grid
    assert w.iso_mm.value() == pytest.approx(0.7)


def test_isotropic_copy_same_world_frame(setup):
    viewer, w = setup
    w.iso_mm.setValue(0.8)
    layer = w.make_isotropic()
    vol = layer.metadata[VOLUME_KEY]
    assert vol.spacing == (0.8, 0.8, 0.8)
    np.testing.assert_allclose(layer.scale, (0.8, 0.8, 0.8))
    assert all(str(u) in ("mm", "millimeter") for u in layer.units)
    # the bead appears at its LPS position (world = LPS reordered to z, y, x)
    p = positions(vol.affine, vol.shape)
    m = np.linalg.norm(p - BEAD_A, axis=-1) < 3.0
    wts = np.asarray(vol.pixels, np.float64)[m] + 1000.0
    c = (p[m] * wts[:, None]).sum(0) / wts.sum()
    assert np.linalg.norm(c - BEAD_A) < 0.1
    idx = np.array(np.unravel_index(np.argmax(np.where(m, vol.pixels, -np.inf)), vol.shape), float)
    np.testing.assert_allclose(layer.data_to_world(idx), vol.index_to_patient(idx)[::-1], atol=1e-6)


def test_oblique_follows_points_live(setup, qtbot):
    viewer, w = setup
    pts = w.start_oblique()
    assert pts is not None and "oblique" in w.views
    pts.data = np.array([BEAD_A[::-1], BEAD_B[::-1]])  # world (z, y, x)
    obl = w.views["oblique"]
    assert obl.data.ndim == 2
    np.testing.assert_allclose(obl.scale, (w.pixel_mm.value(),) * 2)
    ca, cb = centroid_lps(obl, BEAD_A), centroid_lps(obl, BEAD_B)
    assert np.linalg.norm(ca - cb) == pytest.approx(25.4, abs=0.1)
    # dragging a point: napari fires set_data per mouse move; the view follows each one
    moved = BEAD_B + [2.0, -1.0, 0.5]
    data = pts.data.copy()
    data[1] = moved[::-1]
    pts.data = data
    plane = obl.metadata["miss_imaging_plane"]
    np.testing.assert_allclose(plane.v, (moved - BEAD_A) / np.linalg.norm(moved - BEAD_A), atol=1e-9)
    calls = []
    pts.events.set_data.connect(lambda e: calls.append(obl.metadata["miss_imaging_plane"]))
    pts.events.set_data()  # as napari's drag handler does
    assert calls


def test_slab_slider_and_mode(setup):
    viewer, w = setup
    w.start_oblique()
    w.slab.setValue(int(6.0 / 0.5))
    img = w.views["oblique"].metadata[VOLUME_KEY]
    assert img.metadata["reslice"]["thickness_mm"] == 6.0 and img.metadata["reslice"]["mode"] == "mip"
    w.mode.setCurrentText("mean")
    assert w.views["oblique"].metadata[VOLUME_KEY].metadata["reslice"]["mode"] == "mean"
    assert w.slab_label.text() == "6 mm"


def test_orthogonal_views_follow_the_slider(setup):
    viewer, w = setup
    w.mpr_box.setChecked(True)
    assert set(w.views) == {"axial", "coronal", "sagittal"}
    viewer.dims.set_point(0, 4.0)
    plane = w.views["axial"].metadata["miss_imaging_plane"]
    assert plane.center[2] == pytest.approx(float(viewer.dims.point[0]))
    # through the clicked point: each view shows the bead at its true in-plane LPS position
    w._click_world = BEAD_A[::-1].copy()
    viewer.dims.set_point(0, BEAD_A[2])
    w.refresh_mpr()
    ax, cor, sag = (w.views[n] for n in ("axial", "coronal", "sagittal"))
    assert ax.metadata["miss_imaging_plane"].center[2] == pytest.approx(float(viewer.dims.point[0]))
    assert np.linalg.norm(centroid_lps(ax, BEAD_A)[:2] - BEAD_A[:2]) < 0.1  # x, y
    assert np.linalg.norm(centroid_lps(cor, BEAD_A)[[0, 2]] - BEAD_A[[0, 2]]) < 0.1  # x, z
    assert np.linalg.norm(centroid_lps(sag, BEAD_A)[1:] - BEAD_A[1:]) < 0.1  # y, z
    # the views sit side by side to the right of the volume, in mm
    xs = [layer.translate[1] for layer in (ax, cor, sag)]
    assert xs == sorted(xs) and all(layer.data.ndim == 2 for layer in (ax, cor, sag))
    w.mpr_box.setChecked(False)
    assert not set(w.views) & {"axial", "coronal", "sagittal"}
    assert all(layer.metadata.get("miss_imaging_reslice_role") is None for layer in viewer.layers)


def test_dock_widget_from_manifest(make_napari_viewer):
    from miss_imaging_napari._reslice_widget import ResliceWidget

    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("miss-imaging", "Resample and reslice")
    assert isinstance(widget, ResliceWidget)
    assert widget.make_isotropic() is None  # no volume yet: a notification, no exception


def test_views_carry_their_own_orientation_and_canvas_letters_hide(setup):
    """Side-by-side views differ in orientation: canvas-edge letters (A/P/R/L) would be wrong for coronal and
    sagittal, so they hide while a view is shown and each view names its own edges (PS3.3 C.7.6.1.1.1 letters)."""
    from miss_imaging_napari import _orientation

    viewer, w = setup
    _orientation.attach(viewer)
    assert _orientation.current_labels(viewer)["top"] == "A"  # the axial volume alone: letters at the edges
    w.mpr_box.setChecked(True)
    names = {role: layer.name for role, layer in w.views.items()}
    assert names["axial"].endswith("top A, left R")  # anterior up, patient right on screen left
    assert names["coronal"].endswith("top S, left R")  # superior up, seen from the front
    assert names["sagittal"].endswith("top S, left A")  # superior up, seen from the patient's left
    assert _orientation.current_labels(viewer) is None
    assert not viewer.canvas.overlays["miss_orient_top"].visible
    # an oblique view along a line going posterior and down: its name follows the plane as the points move
    pts = w.start_oblique()
    pts.data = np.array([[10.0, -20.0, 0.0], [-10.0, 20.0, 0.0]])  # world (z, y, x): entry above, target below
    assert w.views["oblique"].name.endswith("top AS, left R")  # mostly anterior, clearly superior too
    w.mpr_box.setChecked(False)
    viewer.layers.remove(w.views.pop("oblique"))
    assert _orientation.current_labels(viewer)["top"] == "A"  # back to the volume alone
    assert viewer.canvas.overlays["miss_orient_top"].visible


def test_renamed_source_layer_stays_the_source(setup, tilted_ct):
    """The source list matched names: renaming the CT in napari's layer list left 'Open a CT volume first.'"""
    viewer, w = setup
    w.pixel_mm.setValue(0.9)  # a user setting that a spurious source change would reset
    viewer.layers[0].name = "case 3 post-op"
    assert w.source_volume() is tilted_ct
    assert w.source.currentText() == "case 3 post-op"
    assert w.pixel_mm.value() == pytest.approx(0.9)
    assert w.make_isotropic() is not None


def test_status_on_a_view_gives_patient_mm_and_hu(setup):
    """The views sit beside the volume in world space: the status must give the pixel's true LPS position."""
    from miss_imaging_napari import _status

    viewer, w = setup
    _status.attach(viewer)
    pts = w.start_oblique()
    pts.data = np.array([BEAD_A[::-1], BEAD_B[::-1]])
    obl = w.views["oblique"]
    plane = obl.metadata["miss_imaging_plane"]
    row, col = plane.to_pixel(BEAD_A)[1:]
    st = obl.get_status(obl.data_to_world((row, col)), world=True)
    x, y, z = BEAD_A
    assert st["coordinates"].startswith(f"LPS (x {x:.1f}, y {y:.1f}, z {z:.1f}) mm: ")
    assert st["value"].endswith("HU")
