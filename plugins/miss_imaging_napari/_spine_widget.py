"""Spine dock widget: snapped corners per level with a table, screws with breach grades, live screw plan, access plan.

The decisions live in :mod:`._spine` (Qt-free, tested); this file only wires
napari layers and Qt controls to them.  Points layers hold world = LPS mm in
napari's (z, y, x) order.  Results go to the Measurements widget's exports
through the image layer's ``miss_imaging_extra_measurements`` metadata.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtWidgets import (QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSizePolicy, QTableWidget,
                            QTableWidgetItem, QVBoxLayout, QWidget)

from miss_imaging.errors import MissImagingError
from miss_imaging.spine import (access_plan, access_records, find_screws, level_records, plan_records, plan_screw,
                                screw_records)

from . import _spine
from ._layer_geometry import VOLUME_KEY, image_volume
from ._viewer_links import workspace_of

__all__ = ["SpineWidget"]

CORNERS, PLAN, PLAN_DRAW, ACCESS, ACCESS_DRAW, OBLIQUE = (
    "spine corners", "screw plan (entry, target)", "planned screw", "access (target, direction)", "access plan",
    "oblique along the screw")


def _volume_of(layer: Any) -> Any:
    return image_volume(layer) if isinstance(getattr(layer, "metadata", None), dict) else None


_MM = ("mm", "mm", "mm")  # world = LPS mm, like the plugin's image layers (napari's scale bar needs one unit)


def _notify(message: str, level: str = "info") -> None:
    from napari.utils.notifications import show_info, show_warning

    (show_warning if level == "warning" else show_info)(message)


def _table(columns: tuple[str, ...]) -> QTableWidget:
    """A table that scrolls inside a narrow dock instead of widening it."""
    t = QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(list(columns))
    t.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    t.setMinimumHeight(110)
    t.setMaximumHeight(170)
    return t


def _wrapped(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


def _button(text: str, tip: str) -> QPushButton:
    b = QPushButton(text)
    b.setToolTip(tip)
    return b


def _pair(a: QWidget, b: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addWidget(a)
    row.addWidget(b)
    return row


def _box(title: str, hint: str) -> tuple[QGroupBox, QVBoxLayout]:
    """A group with a short title and its instructions wrapped under it."""
    box = QGroupBox(title)
    col = QVBoxLayout(box)
    col.addWidget(_wrapped(hint))
    return box, col


def _fill(table: QTableWidget, columns: tuple[str, ...], rows: list[dict[str, str]]) -> None:
    table.setRowCount(len(rows))
    for i, row in enumerate(rows):
        for j, col in enumerate(columns):
            item = QTableWidgetItem(row.get(col, ""))
            if col == "flags" or (col == "GR grade" and row.get(col) not in ("A", "")):
                item.setToolTip(row.get("flags", row.get("breach", "")))
            table.setItem(i, j, item)


class SpineWidget(QWidget):
    """Dock widget for the spine tools of :mod:`miss_imaging.spine`."""

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ._docking import tabify_when_docked

        tabify_when_docked(self)  # a tab beside the plugin's other docks, not a new row (canvas keeps its size)
        self.viewer = napari_viewer
        self._busy = False
        self.vertebrae: list[Any] = []
        self.screws: list[Any] = []
        self.plan: Any = None
        self.access: Any = None
        self._records: dict[str, list[Any]] = {}
        self._breaches: list[Any] = []
        lay = QVBoxLayout(self)
        self.image_label = _wrapped("")
        lay.addWidget(self.image_label)
        lay.addWidget(self._levels_box())
        lay.addWidget(self._screws_box())
        lay.addWidget(self._plan_box())
        lay.addWidget(self._access_box())
        self.export_button = QPushButton("Add to Measurements exports")
        self.export_button.setToolTip("Add the spine results to the Measurements widget's CSV/JSON/SR exports")
        self.export_button.clicked.connect(self.publish)
        lay.addWidget(self.export_button)
        lay.addStretch(1)
        self._show_image()

    # ------------------------------------------------------------------ layout
    # The dock is a tab of the plugin's group, about 270 px wide at 1280x800 (QA round 3: titles, buttons and
    # tables were cut off): short titles and buttons, the instructions in wrapped labels, tables that scroll.

    def _levels_box(self) -> QGroupBox:
        box, col = _box("Levels", "Click AS, PS, PI, AI per body on a sagittal view, top level first.")
        row = QHBoxLayout()
        row.addWidget(QLabel("first level"))
        self.first_level = QLineEdit("L3")
        row.addWidget(self.first_level)
        col.addLayout(row)
        self.corners_button = _button("Place corners", "Add corner points (AS, PS, PI, AI per body)")
        self.corners_button.clicked.connect(self.start_corners)
        self.measure_button = _button("Snap + measure", "Snap the corners to the endplates and fill the table")
        self.measure_button.clicked.connect(self.measure_levels)
        col.addLayout(_pair(self.corners_button, self.measure_button))
        self.level_table = _table(_spine.LEVEL_COLUMNS)
        col.addWidget(self.level_table)
        return box

    def _screws_box(self) -> QGroupBox:
        box, col = _box("Screws", "Breach grades: Gertzbein-Robbins, modified.")
        self.find_button = _button("Find screws", "Find the screws in the CT and grade their breaches")
        self.find_button.clicked.connect(self.find)
        self.goto_button = _button("Go to screw", "Show an oblique cut along the selected screw")
        self.goto_button.clicked.connect(self.goto_selected)
        col.addLayout(_pair(self.find_button, self.goto_button))
        self.screw_table = _table(_spine.SCREW_COLUMNS)
        col.addWidget(self.screw_table)
        return box

    def _plan_box(self) -> QGroupBox:
        box, col = _box("Plan a screw", "Drag the entry and the target points.")
        self.plan_button = _button("Place entry, target", "Add the entry, then the target point")
        self.plan_button.clicked.connect(lambda: self._start_points(PLAN, "cyan", self.update_plan))
        col.addWidget(self.plan_button)
        self.plan_label = _wrapped("")
        col.addWidget(self.plan_label)
        return box

    def _access_box(self) -> QGroupBox:
        box, col = _box("Access", "Drag the target and a point toward the skin.")
        self.access_button = _button("Place target, direction", "Add the target, then a point toward the skin")
        self.access_button.clicked.connect(lambda: self._start_points(ACCESS, "orange", self.update_access))
        col.addWidget(self.access_button)
        self.access_label = _wrapped("")
        col.addWidget(self.access_label)
        return box

    # ------------------------------------------------------------------ layers

    def image_layer(self) -> Any | None:
        """The active plugin image layer, else the first one."""
        images = _spine.spine_images(self.viewer)
        active = self.viewer.layers.selection.active
        if active in images:
            self._image = active
        elif getattr(self, "_image", None) not in images:
            self._image = images[0] if images else None
        return self._image

    def volume(self) -> Any:
        lay = self.image_layer()
        if lay is None:
            raise MissImagingError("open a CT series first (the spine tools need a 3-D image)")
        return image_volume(lay)

    def _show_image(self) -> None:
        lay = self.image_layer()
        self.image_label.setText(f"Image: {lay.name}" if lay is not None else "Image: none (open a CT)")

    def _layer(self, name: str) -> Any | None:
        return next((lay for lay in self.viewer.layers if lay.name == name), None)

    def _points(self, name: str, color: str) -> Any:
        lay = self._layer(name)
        if lay is None:
            lay = self.viewer.add_points(np.empty((0, 3)), ndim=3, name=name, size=2.5, face_color=color, units=_MM,
                                         features={"label": np.array([], dtype=object)},
                                         text={"string": "{label}", "color": color, "size": 9,
                                               "anchor": "upper_left"})
        return lay

    def _start_points(self, name: str, color: str, callback: Any) -> Any:
        lay = self._points(name, color)
        if not getattr(lay, "_spine_connected", False):
            lay.events.data.connect(lambda e=None: self._safe(callback))  # an edit: now
            lay.events.set_data.connect(lambda e=None: self._later(callback))  # a re-slice: after napari's event
            lay._spine_connected = True
        self.viewer.layers.selection.active = lay
        lay.mode = "add"
        return lay

    def _later(self, fn: Any) -> None:
        """Run `fn` (which may add layers) after the current event, once per burst of events.

        ``set_data`` fires while napari re-slices every layer, e.g. inside the
        insertion of another layer (a C-arm shot): adding the plan's Shapes
        layer there nested one insertion in another, Qt reported "invalid
        inserted rows" and napari's layer delegate crashed the process (QA item 4).
        """
        from qtpy.QtCore import QTimer

        pending = self.__dict__.setdefault("_pending", set())
        if fn in pending:
            return
        pending.add(fn)

        def run() -> None:
            pending.discard(fn)
            try:
                self._safe(fn)
            except RuntimeError:  # the widget was deleted before the timer fired
                pass

        QTimer.singleShot(0, run)

    def _safe(self, fn: Any) -> Any:
        if self._busy:
            return None
        self._busy = True
        try:
            return fn()
        except MissImagingError as exc:
            _notify(str(exc), "warning")
            return None
        finally:
            self._busy = False

    def _draw(self, name: str, polygons: list[np.ndarray], lines: list[np.ndarray], color: str) -> None:
        lay = self._layer(name)
        if lay is None:
            lay = self.viewer.add_shapes(ndim=3, name=name, edge_color=color, face_color="transparent",
                                         edge_width=0.6, units=_MM)
        lay.data = []
        if polygons:
            lay.add_polygons([self._on_slice(p) for p in polygons], edge_color=color, face_color="transparent")
        if lines:
            lay.add_lines([self._on_slice(p) for p in lines], edge_color=color)

    def _on_slice(self, lps: np.ndarray) -> np.ndarray:
        dims = self.viewer.dims
        return _spine.on_slice(_spine.lps_to_world(lps), dims.order, dims.point, dims.ndisplay)

    # ------------------------------------------------------------------ actions

    def start_corners(self) -> Any:
        """Create/activate the corners layer in add mode; labels follow the click order."""
        return self._start_points(CORNERS, "yellow", self._label_corners)

    def _label_corners(self) -> None:
        lay = self._layer(CORNERS)
        n = len(lay.data)
        labels = _spine.level_labels(self.first_level.text(), max(1, (n + 3) // 4))
        lay.features = {"label": np.array(_spine.corner_texts(labels, n), dtype=object)}

    def measure_levels(self) -> list[dict[str, str]]:
        """Snap the corners, relabel them, fill the level table; errors per level are shown, not hidden."""
        lay = self._layer(CORNERS)
        if lay is None or len(lay.data) < 8:
            _notify("place the four corners of at least two bodies first", "warning")
            return []
        vol = self.volume()
        pts = _spine.world_to_lps(lay.data)
        labels = _spine.level_labels(self.first_level.text(), len(pts) // 4 or 1)
        self.vertebrae, errors = _spine.vertebrae_from_points(vol, pts, labels)
        snapped = np.concatenate([v.corners for v in self.vertebrae]) if self.vertebrae else np.empty((0, 3))
        if len(snapped) == 4 * (len(pts) // 4) and len(snapped):
            self._busy = True
            try:
                lay.data = np.concatenate([_spine.lps_to_world(snapped), lay.data[len(snapped):]])
            finally:
                self._busy = False
            self._label_corners()
        rows = _spine.level_rows(self.vertebrae, vol)
        _fill(self.level_table, _spine.LEVEL_COLUMNS, rows)
        self._records["levels"] = [m for u, lo in zip(self.vertebrae, self.vertebrae[1:])
                                   for m in level_records(vol, u, lo)]
        if errors:
            _notify("; ".join(errors), "warning")
        return rows

    def find(self) -> list[dict[str, str]]:
        """Find the screws, grade each, fill the table and draw their axes."""
        vol = self.volume()
        try:
            self.screws = find_screws(vol)
        except MissImagingError as exc:
            _notify(str(exc), "warning")
            self.screws = []
        rows, results = _spine.screw_rows(vol, self.screws)
        self._breaches = results
        _fill(self.screw_table, _spine.SCREW_COLUMNS, rows)
        self._records["screws"] = [m for s, b in zip(self.screws, results) for m in screw_records(vol, s, b)]
        self._share_trajectories()
        return rows

    def _share_trajectories(self) -> None:
        """Put the screws', plan's and access's lines on the CT layer, for the MPR workspace's oblique viewport."""
        lay = self.image_layer()
        if lay is not None:
            lay.metadata[_spine.TRAJECTORIES_KEY] = _spine.trajectories(
                self.screws, self.plan, self.access)

    def goto_selected(self) -> Any:
        """Move the view to the selected screw (slice, camera centre) and show the oblique cut along it.

        With the MPR workspace open, its oblique viewport is set along the screw and its point on the
        screw's middle instead (every viewport then shows the screw); returns that viewport's image layer.

        The oblique view is a 2-D image layer beside the volume (napari 0.9 cannot cut a volume obliquely
        in 2-D; the same convention as the reslice widget): the plane through the screw's axis with the
        patient's left-right direction across, 0.25 mm pixels, entry at the top.
        """
        if not self.screws:
            return None
        rows = sorted({i.row() for i in self.screw_table.selectedIndexes()}) or [0]
        s = self.screws[min(rows[0], len(self.screws) - 1)]
        ws = workspace_of(self.viewer)
        if ws is not None:  # the MPR workspace is open: its oblique viewport along the screw, the point on it
            ws.set_trajectory(s.entry_lps, s.tip_lps)
            ws.set_point((s.entry_lps + s.tip_lps) / 2)
            return ws.viewports["oblique"].layers["oblique"]
        mid = _spine.lps_to_world((s.entry_lps + s.tip_lps) / 2)
        self.viewer.dims.point = tuple(self.viewer.dims.point[:-3]) + tuple(mid)
        self.viewer.scene.camera.center = tuple(mid)
        return self._show_oblique(s)

    def _show_oblique(self, screw: Any) -> Any:
        vol = self.volume()
        img, plane, translate = _spine.oblique_along_screw(vol, screw)
        lay = self._layer(OBLIQUE)
        meta = {VOLUME_KEY: img, "miss_imaging_plane": plane}
        if lay is None:
            lay = self.viewer.add_image(img.pixels[0], name=OBLIQUE, scale=(0.25, 0.25), translate=translate,
                                        units=("mm", "mm"), contrast_limits=(-250, 1750), metadata=meta)
        else:
            lay.data, lay.translate = img.pixels[0], translate
            lay.metadata.update(meta)
        self.viewer.layers.selection.active = lay
        return lay

    def update_plan(self) -> None:
        """Recompute the screw plan from the first two points (entry, target); draw it to scale."""
        lay = self._layer(PLAN)
        if lay is None or len(lay.data) < 2:
            self.plan_label.setText("place the entry, then the target")
            return
        lay.features = {"label": np.array(["entry", "target"] + [""] * (len(lay.data) - 2), dtype=object)}
        vol = self.volume()
        e, t = _spine.world_to_lps(lay.data[:2])
        try:
            self.plan = plan_screw(vol, e, t)
        except MissImagingError as exc:
            self.plan, self._records["plan"] = None, []
            self.plan_label.setText(str(exc))
            self._draw(PLAN_DRAW, [], [], "cyan")
            return
        self.plan_label.setText(_spine.plan_text(self.plan))
        self._share_trajectories()
        n = _spine.view_normal(self.viewer)
        self._draw(PLAN_DRAW, [_spine.screw_outline(e, t, self.plan.suggested_diameter_mm, n)], [], "cyan")
        self._records["plan"] = plan_records(vol, self.plan)

    def update_access(self) -> None:
        """Recompute the access plan from (target, direction point); draw the tube and incision to scale."""
        lay = self._layer(ACCESS)
        if lay is None or len(lay.data) < 2:
            self.access_label.setText("place the target, then a point toward the skin")
            return
        lay.features = {"label": np.array(["target", "toward"] + [""] * (len(lay.data) - 2), dtype=object)}
        vol = self.volume()
        tgt, toward = _spine.world_to_lps(lay.data[:2])
        try:
            self.access = access_plan(vol, tgt, toward)
        except MissImagingError as exc:
            self.access, self._records["access"] = None, []
            self.access_label.setText(str(exc))
            self._draw(ACCESS_DRAW, [], [], "orange")
            return
        self.access_label.setText(_spine.access_text(self.access))
        self._share_trajectories()
        n = _spine.view_normal(self.viewer)
        self._draw(ACCESS_DRAW, [_spine.tube_outline(self.access, n)], [_spine.incision_line(self.access, n)],
                   "orange")
        self._records["access"] = access_records(vol, self.access)
        self._incision_on_projections(self.access.incision_mm)

    def _incision_on_projections(self, length_mm: float) -> list[Any]:
        """On the chosen fluoroscopy/radiograph layer (:func:`._spine.incision_target`), a line of the incision's length.

        Drawn to scale under the frame's own calibration (e.g. magnification-corrected at the ERMF plane),
        centred on the frame the shot shows: CT and fluoroscopy share no registration here, so it shows the
        size, not the place.  One layer, shown only while its shot is; earlier ones on other shots go.
        """
        target = _spine.incision_target(self.viewer.layers.selection.active, list(self.viewer.layers), _volume_of)
        for lay in [lay for lay in self.viewer.layers if _spine.INCISION_KEY in lay.metadata]:
            if lay.metadata[_spine.INCISION_KEY].get("image") is not target:
                self.viewer.layers.remove(lay)
        if target is None:
            return []
        vol = image_volume(target)
        line = _spine.incision_on_projection(vol, self._shown_frame(target, vol), length_mm)
        name = f"incision on {target.name}"
        shapes = self._layer(name)
        if shapes is None:
            shapes = self.viewer.add_shapes(ndim=3, name=name, edge_color="orange", edge_width=1.0, units=_MM,
                                            metadata={_spine.INCISION_KEY: {"image": target}})
            target.events.visible.connect(lambda e=None: setattr(shapes, "visible", target.visible))
        shapes.data = []
        shapes.add_lines([line], edge_color="orange")
        shapes.text = {"string": {"constant": f"incision {length_mm:.0f} mm ({vol.calibration})"}, "color": "orange",
                       "size": 10, "anchor": "upper_left"}
        shapes.visible = target.visible
        return [shapes]

    def _shown_frame(self, layer: Any, vol: Any) -> float:
        """World axis-0 value of the frame `layer` shows: the slider's when it is on one, else the nearest one."""
        from ._snapshot import frame_world

        if self.viewer.dims.ndim < 3 or layer.ndim < 3:
            return 0.0
        point0 = float(self.viewer.dims.point[0])
        moved = frame_world(point0, vol.shape[0], float(layer.scale[0]), float(layer.translate[0]))
        return point0 if moved is None else moved

    def records(self) -> list[Any]:
        """Every spine result as Measurement records (levels, screws, plan, access)."""
        return [m for key in ("levels", "screws", "plan", "access") for m in self._records.get(key, [])]

    def publish(self) -> int:
        """Hand the records to the Measurements widget's exports (image layer metadata); returns how many."""
        lay = self.image_layer()
        if lay is None:
            _notify("open a CT series first", "warning")
            return 0
        recs = self.records()
        lay.metadata[_spine.EXTRA_KEY] = recs
        lay.metadata[_spine.RESULTS_KEY] = _spine.spine_results(self.vertebrae, self.screws, self._breaches, self.plan,
                                                                self.access)
        _notify(f"{len(recs)} spine result(s) added to the Measurements exports")
        return len(recs)
