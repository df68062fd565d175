"""Closing napari with everything the plugin offers open (issue 12 item 1: close hung for minutes).

The bound is generous (the target is under a second; measured figures are in the commit
messages) so the test stays robust on a loaded 2-core machine, but a hang fails it at once:
any layer added while the viewer closes raises, which is what the hang was (the former
orthogonal thumbnail views re-added themselves on every point change that a layer removal
caused; the MPR workspace has replaced them).
"""

from __future__ import annotations

import time

import pytest

CLOSE_LIMIT_S = 5.0


def _widget_names() -> list[str]:
    import yaml  # napari depends on PyYAML
    from pathlib import Path

    manifest = Path(__file__).resolve().parents[1] / "plugins" / "miss_imaging_napari" / "napari.yaml"
    return [w["display_name"] for w in yaml.safe_load(manifest.read_text())["contributions"]["widgets"]]


def _no_layer_added_while_closing(viewer) -> None:
    def refuse(event) -> None:
        raise AssertionError(f"layer {event.value.name!r} added while the viewer was closing")

    viewer.layers.events.inserted.connect(refuse)


def _close_timed(viewer) -> float:
    _no_layer_added_while_closing(viewer)
    t = time.perf_counter()
    viewer.close()
    return time.perf_counter() - t


def _open_everything(viewer, samples, qtbot) -> dict:
    """Every widget, the MPR workspace with a ruler and slab, several series (tilted CT, Enhanced CT,
    fluoro, radiograph), cine playing."""
    for folder in ("spine_ct", "spine_ct_enhanced", "fluoro", "radiograph"):
        viewer.open(str(samples / folder), plugin="miss-imaging")
    widgets = {name: viewer.window.add_plugin_dock_widget("miss-imaging", name)[1] for name in _widget_names()}
    ws = widgets["MPR workspace"].workspace  # opened on the top CT by the manifest's widget
    ws.set_slab("coronal", 10.0, "MIP")
    ws.set_oblique(kind="bullseye")
    ws.start_tool("sagittal", "ruler")
    viewer.window._qt_viewer.dims.play(axis=0, fps=25)  # cine playing while the viewer closes
    qtbot.wait(300)
    return widgets


@pytest.mark.parametrize("workspace", [False, True])
def test_close_with_everything_open_is_quick(make_napari_viewer, samples, qtbot, workspace):
    viewer = make_napari_viewer(show=True)
    widgets = _open_everything(viewer, samples, qtbot)
    if not workspace:
        widgets["MPR workspace"].workspace.close()
    dt = _close_timed(viewer)
    print(f"close took {dt:.3f} s")
    assert dt < CLOSE_LIMIT_S


def test_close_with_mpr_workspace_of_tilted_ct(make_napari_viewer, samples):
    viewer = make_napari_viewer(show=True)
    viewer.open(str(samples / "spine_ct"), plugin="miss-imaging")
    _, w = viewer.window.add_plugin_dock_widget("miss-imaging", "Resample and reslice")
    assert w.open_workspace() is not None
    dt = _close_timed(viewer)
    print(f"close took {dt:.3f} s")
    assert dt < CLOSE_LIMIT_S
