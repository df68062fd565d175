"""Make docs/figure.png: the annotated teaching figure shown in the README.

Run under a display (``xvfb-run -a python docs/make_figure.py``): it opens
the lateral needle cine of the lumbar phantom (``sample_dicoms/lumbar_fluoro``,
computed from the lumbar CT) in napari through the plugin, in teaching mode,
measures the L4 left screw and the needle's advance over the run on the last
frame, and writes the figure with the Teaching widget's de-identified snapshot.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import napari
import numpy as np

from miss_imaging.settings import set_teaching_mode
from miss_imaging_napari._measure_layers import add_measurement
from miss_imaging_napari._teaching_widget import TeachingWidget

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    shot = json.loads((REPO / "sample_dicoms" / "truth.json").read_text())["lumbar_fluoro"]["shots"]["needle_cine"]
    screw = next(s for s in shot["screws"] if (s["level"], s["side"]) == ("L4", "left"))
    tips = shot["needle"]["tip_px"]  # (row, col) per frame: the needle advancing into the L3 pedicle
    last = len(tips) - 1
    # teaching mode for this figure only: the user's own saved setting (~/.config/miss-imaging) is left alone
    os.environ["MISS_IMAGING_CONFIG_DIR"] = tempfile.mkdtemp(prefix="miss-imaging-figure-")
    set_teaching_mode(True)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1700, 900)  # room for the labels right of the image
    (image,) = viewer.open(str(REPO / "sample_dicoms" / "lumbar_fluoro" / shot["file"]), plugin="miss-imaging")
    viewer.dims.set_current_step(0, last)
    add_measurement(viewer, image, "distance", [[last, *screw["entry_px"]], [last, *screw["tip_px"]]],
                    name="L4 left screw")
    add_measurement(viewer, image, "distance", [[last, *tips[0]], [last, *tips[last]]], name="needle advance")
    viewer.layers.selection.active = image
    viewer.reset_view()
    cam = viewer.camera
    cam.zoom *= 0.8
    cam.center = (cam.center[-2], cam.center[-1] + 0.3 * 256 * float(image.scale[-1]))  # labels run to the right
    TeachingWidget(viewer).save_snapshot(REPO / "docs" / "figure.png")
    viewer.close()


if __name__ == "__main__":
    main()
