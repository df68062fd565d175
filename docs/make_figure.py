"""Make docs/figure.png: the annotated teaching figure shown in the README.

Run under a display (``xvfb-run -a python docs/make_figure.py``): it opens
the bundled fluoroscopy phantom in napari through the plugin, in teaching
mode, measures the bead pair and the instrument's travel over the run, and
writes the figure with the Teaching widget's de-identified snapshot.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import napari
import numpy as np

from miss_imaging.settings import set_teaching_mode
from miss_imaging_napari._ruler import add_measurement
from miss_imaging_napari._teaching_widget import TeachingWidget

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    truth = json.loads((REPO / "sample_dicoms" / "truth.json").read_text())["fluoro"]
    marks = truth["landmarks_px"]
    # teaching mode for this figure only: the user's own saved setting (~/.config/miss-imaging) is left alone
    os.environ["MISS_IMAGING_CONFIG_DIR"] = tempfile.mkdtemp(prefix="miss-imaging-figure-")
    set_teaching_mode(True)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1700, 900)  # room for the labels right of the image
    (image,) = viewer.open(str(REPO / "sample_dicoms" / "fluoro"), plugin="miss-imaging")
    last = len([k for k in marks if k.startswith("tip_")]) - 1
    viewer.dims.set_current_step(0, last)
    add_measurement(viewer, image, "distance", np.array([marks["bead_a"], marks["bead_b"]]) * [0, 1, 1] + [last, 0, 0],
                    name="bead pair")
    add_measurement(viewer, image, "distance", [marks[f"tip_{last:02d}"][:1] + marks["tip_00"][1:],
                                                marks[f"tip_{last:02d}"]], name="tip travel")
    viewer.layers.selection.active = image
    viewer.reset_view()
    cam = viewer.camera
    cam.zoom *= 0.9
    cam.center = (cam.center[-2], cam.center[-1] + 25.0)  # image left of centre: labels run to the right
    TeachingWidget(viewer).save_snapshot(REPO / "docs" / "figure.png")
    viewer.close()


if __name__ == "__main__":
    main()
