"""The product's front door: ``miss-imaging demo`` (and ``make demo``).

What it owns, and nothing else imports it but the CLI and the napari adapter:

* :mod:`.samples`: where the bundled phantoms (``sample_dicoms/``) are.
* :mod:`.scene`: the demo scene: which series, which window, which labelled
  measurements (computed with the public API from ``truth.json`` landmarks,
  truth printed beside each value), and :func:`describe_scene`.
* :mod:`.spine`: the spine tools run on the sample CT (screws, breach grade, access).
* :mod:`.sr`: the DICOM SR package written beside the demo picture.
* :mod:`.display`: the napari adapter in a child process, on its own Xvfb when
  there is no screen (the core never imports napari).
* :mod:`.run`: the ``demo`` command itself: print, picture, SR.
"""

from __future__ import annotations

from miss_imaging.demo.samples import samples_dir
from miss_imaging.demo.scene import DemoItem, demo_scene, describe_scene

__all__ = ["samples_dir", "DemoItem", "demo_scene", "describe_scene"]
