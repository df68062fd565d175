"""The fluoroscopy viewport of the MPR workspace: a C-arm run beside the CT's planes.

A fluoroscopy frame is a projection: it has no patient coordinates, so it
cannot follow the CT's shared point (that would need a 2-D/3-D registration
the DICOM does not carry).  The viewport is therefore the run itself, on its
own canvas: its frames (slider for a cine), its calibration (the title says
which one the scale bar and rulers rest on), its own window/level linked
with the run's layer in the main viewer, its rulers in the measurement
table, and in teaching mode the same burned-in text masks and no patient
banner as the main viewer (:func:`._teaching.attach`).
"""

from __future__ import annotations

import textwrap
from typing import Any, Callable

from miss_imaging.model import ImageVolume

from . import _mouse_wl, _napari_private, _teaching
from ._layer_geometry import current_calibration
from ._layers import VOLUME_KEY

__all__ = ["FluoroViewport", "fluoro_layers", "ROLE"]

ROLE = "fluoro"
_COLOR = "#c080ff"


def fluoro_layers(viewer: Any, role_key: str) -> list[Any]:
    """Projection layers (XA/RF/DX/CR) of `viewer` opened by miss-imaging, bottom to top.

    Layers whose metadata holds `role_key` (a workspace viewport's own) are left out.
    """
    out = []
    for layer in viewer.layers:
        md = getattr(layer, "metadata", {}) or {}
        vol = md.get(VOLUME_KEY)
        if isinstance(vol, ImageVolume) and vol.kind == "projection" and role_key not in md:
            out.append(layer)
    return out


def title_text(volume: ImageVolume, calibration_label: str) -> str:
    """The viewport's title: what it shows and the calibration its scale bar and rulers use."""
    frames = f", {volume.shape[0]} frames" if volume.shape[0] > 1 else ""
    # the cell can be ~300 px wide: the calibration on lines of at most 22 characters
    return "\n".join([f"fluoro {volume.modality}{frames}", *textwrap.wrap(calibration_label, 22)])


class FluoroViewport:
    """The run in `source` (a projection layer of the main viewer) on its own canvas.

    Attributes
    ----------
    model : napari.components.ViewerModel
    image : napari.layers.Image
        Shares `source`'s pixels (no copy), scale (mm per pixel) and metadata
        (the calibration in force when the workspace opened: a later user
        calibration of the main layer shows after reopening) and its window.
    """

    name = ROLE

    def __init__(self, source: Any, role_key: str) -> None:
        from napari.components import ViewerModel
        from napari.components.overlays import TextOverlay

        self.source = source
        volume = source.metadata[VOLUME_KEY]
        self.model = ViewerModel(title=ROLE)
        self.image = self.model.add_image(
            source.data, name=ROLE, scale=tuple(source.scale), translate=tuple(source.translate),
            units=tuple(str(u) for u in source.units), axis_labels=tuple(source.axis_labels),
            contrast_limits=tuple(source.contrast_limits),
            colormap=source.colormap.name, metadata={**source.metadata, role_key: ROLE})
        self.model.dims.set_current_step(0, 0)  # a cine opens on its first frame
        cal = current_calibration(self.image)
        self.model.canvas.overlays["miss_title"] = TextOverlay(
            text=title_text(volume, cal.label if cal is not None else volume.calibration), position="top_left",
            visible=False, font_size=11, color=_COLOR, box=False)  # a box lagged behind title changes (QA)
        self.qt: Any = None
        self._syncing = False
        self._links: list[tuple[Any, Callable]] = [
            (source.events.contrast_limits, self._from_source),
            (self.image.events.contrast_limits, self._to_source),
        ]
        for emitter, cb in self._links:
            emitter.connect(cb)
        _mouse_wl.install(self.image)

    def attach(self) -> None:
        """Make the canvas (its frame slider stays for a cine)."""
        self.qt = _napari_private.embedded_canvas(self.model, slider=self.image.data.shape[0] > 1)
        self.model.reset_view()

    def decorate(self) -> None:
        """Title (calibration), scale bar, and the teaching-mode masks / clinician banner of the main viewer."""
        for key in ("miss_title", "scale_bar"):
            self.model.canvas.overlays[key].visible = True
        _teaching.attach(self.model)

    def _from_source(self, event: Any = None) -> None:
        self._copy(self.source, self.image)

    def _to_source(self, event: Any = None) -> None:
        self._copy(self.image, self.source)

    def _copy(self, a: Any, b: Any) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            if tuple(b.contrast_limits) != tuple(a.contrast_limits):
                b.contrast_limits = tuple(a.contrast_limits)
        finally:
            self._syncing = False

    def teardown(self) -> None:
        """Disconnect from the source layer and close the canvas (layers are freed with the model)."""
        for emitter, cb in self._links:
            try:
                emitter.disconnect(cb)
            except (RuntimeError, ValueError, TypeError):
                pass
        self._links.clear()
        _mouse_wl.uninstall(self.image)
        if self.qt is not None:
            self.qt.close()
            self.qt.setParent(None)
            self.qt.deleteLater()
        self.qt = self.model = self.image = self.source = None
