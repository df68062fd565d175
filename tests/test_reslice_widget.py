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


def test_dock_widget_from_manifest(make_napari_viewer):
    from miss_imaging_napari._reslice_widget import ResliceWidget

    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("miss-imaging", "Resample and reslice")
    assert isinstance(widget, ResliceWidget)
    assert widget.make_isotropic() is None  # no volume yet: a notification, no exception


def test_renamed_source_layer_stays_the_source(setup, tilted_ct):
    """The source list matched names: renaming the CT in napari's layer list left 'Open a CT volume first.'"""
    viewer, w = setup
    w.iso_mm.setValue(0.9)  # a user setting that a spurious source change would reset
    viewer.layers[0].name = "case 3 post-op"
    assert w.source_volume() is tilted_ct
    assert w.source.currentText() == "case 3 post-op"
    assert w.iso_mm.value() == pytest.approx(0.9)
    assert w.make_isotropic() is not None


def test_opens_the_mpr_workspace_on_the_original_volume(setup, tilted_ct):
    """The thumbnail views beside the volume are gone: the button opens the workspace on the chosen CT."""
    viewer, w = setup
    ws = w.open_workspace()
    try:
        assert ws.volume is tilted_ct  # resliced from the true (tilted) geometry, not the display copy
        assert len(viewer.layers) == 1  # nothing added beside the volume
    finally:
        ws.close()
