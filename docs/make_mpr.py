"""Make docs/mpr.png: the MPR workspace picture shown in the README.

Run under a display (``xvfb-run -a python docs/make_mpr.py``): it opens the
lumbar CT phantom and its lateral C-arm shot in napari through the plugin
(teaching mode, in a throw-away settings folder), opens the workspace in a
1280 x 800 window, puts the shared point on the left L4 screw (the one that
breaches medially), sets the oblique viewport along the screw, measures the
screw in the oblique viewport (true 3-D mm) and on the shot (ERMF-corrected
mm), and writes the window with ``viewer.screenshot(canvas_only=False)``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import napari
import numpy as np
from qtpy.QtWidgets import QApplication

from miss_imaging.settings import set_teaching_mode
from miss_imaging_napari import open_mpr
from miss_imaging_napari._measure_layers import add_measurement

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    truth = json.loads((REPO / "sample_dicoms" / "truth.json").read_text())
    screw = next(s for s in truth["lumbar_ct"]["screws"] if (s["level"], s["side"]) == ("L4", "left"))
    shot = truth["lumbar_fluoro"]["shots"]["lateral"]
    projected = next(s for s in shot["screws"] if (s["level"], s["side"]) == ("L4", "left"))
    os.environ["MISS_IMAGING_CONFIG_DIR"] = tempfile.mkdtemp(prefix="miss-imaging-figure-")
    set_teaching_mode(True)  # no patient banner; the shot's burned-in name is masked
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1280, 800)
    viewer.open(str(REPO / "sample_dicoms" / "lumbar_ct"), plugin="miss-imaging")
    (run,) = viewer.open(str(REPO / "sample_dicoms" / "lumbar_fluoro" / shot["file"]), plugin="miss-imaging")
    ws = open_mpr(viewer)
    ws.finish_loading()
    entry, tip = np.array(screw["entry_lps_mm"]), np.array(screw["tip_lps_mm"])
    ws.set_trajectory(entry, tip)
    ws.set_point(entry + 0.7 * (tip - entry))  # in the pedicle, where the screw leaves the bone medially
    res = ws.measure("oblique", "distance", [entry, tip], label="L4 left screw")
    fl = ws.viewports["fluoro"]
    add_measurement(fl, fl.layers["fluoro"], "distance", [[0, *projected["entry_px"]], [0, *projected["tip_px"]]],
                    name="L4 left screw")
    app = QApplication.instance()
    for _ in range(50):
        app.processEvents()
    # napari cuts Shapes labels at the canvas edge: put each ruler left of centre so its label fits
    for model, canvas, ends in ((ws.viewports["oblique"], ws._vp["oblique"].qt.canvas,
                                 ws._vp["oblique"].frame.to_world(np.array([entry, tip]))),
                                (fl, ws.fluoro.qt.canvas, np.array([[0, *projected["entry_px"]],
                                                                    [0, *projected["tip_px"]]]) * fl.layers[0].scale)):
        width_mm = canvas.size[1] / model.scene.camera.zoom
        mid = ends.mean(axis=0)
        model.scene.camera.center = (mid[-2], mid[-1] + 0.3 * width_mm)
    ws.settle()
    for _ in range(20):
        app.processEvents()
    out = REPO / "docs" / "mpr.png"
    viewer.screenshot(str(out), canvas_only=False)
    print(f"wrote {out}: screw {res.measurement.mm:.2f} mm in the oblique viewport (truth {screw['length_mm']} mm)")
    viewer.close()


if __name__ == "__main__":
    main()
