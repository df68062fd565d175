"""Patient/study banner (teaching mode OFF) and burned-in text masks (teaching mode ON).

Clinicians need the patient on screen to avoid wrong-patient errors; an
educator must never show it.  The banner is a canvas TextOverlay at the top
of the view, built from ``volume.patient`` of the active miss-imaging image
layer (else the first one): name, ID, birth date, study date, accession.
In teaching mode the overlay is *deleted*, not hidden, so no identifier is
left anywhere in the viewer's model.  It follows the toggle
(:func:`miss_imaging.settings.set_teaching_mode`, from the widget or the CLI)
and every layer insertion, removal and selection change.

Fluoroscopy runs often carry the patient's name *in the pixels*
(BurnedInAnnotation = YES).  In teaching mode each such layer gets an opaque
black 2-D Shapes layer over the text found by
:func:`miss_imaging.sharing.burned_in.detect_text_regions` (2-D, so it covers every
frame); it is removed in clinician mode.  While teaching mode is on the mask
stays (:func:`mask_guard`): hidden by the user it is shown again, deleted it
comes back, and it is shown exactly while its image is (a hidden shot's mask
was a black box over the CT).  Snapshots use
:func:`text_masks_shown` to mask the text in both modes.  In teaching mode
the layers' source file names (status bar, layer tooltip) are hidden too
(:func:`hide_sources`): case folders are often named after the patient.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import Iterator
from typing import Any

from miss_imaging import settings
from miss_imaging.model import ImageVolume

from ._layers import SOURCE_KEY, VOLUME_KEY, mark_viewer

__all__ = ["BANNER_KEY", "MASK_KEY", "attach", "update", "banner_text", "active_volume", "banner_hidden",
           "update_masks", "text_masks_shown", "text_regions", "mask_rects", "hide_sources", "strip_folders", "fit_banner",
           "mask_guard"]

#: canvas overlay key of the banner
BANNER_KEY = "miss_imaging_patient_banner"
#: metadata key of a burned-in text mask layer: {"image": the image layer}
MASK_KEY = "miss_imaging_text_mask"
_REGIONS_KEY = "miss_imaging_text_regions"  # image layer metadata: cached detected boxes
_POSITION = "top_right"  # top_center holds the anterior/superior orientation letter

_viewers: list[weakref.ref[Any]] = []
_log = logging.getLogger("miss_imaging")


def _fmt_date(value: str) -> str:
    v = str(value).strip()
    return f"{v[:4]}-{v[4:6]}-{v[6:8]}" if len(v) == 8 and v.isdigit() else v


def _fmt_name(value: str) -> str:
    parts = [p for p in str(value).split("^")]
    if len(parts) >= 2 and parts[0] and parts[1]:
        return f"{parts[0]}, {' '.join(p for p in parts[1:] if p)}"
    return str(value).replace("^", " ").strip()


def banner_text(volume: ImageVolume) -> str:
    """Two lines naming the patient (name, ID) and the study, from ``volume.patient`` (DICOM keywords).

    Examples
    --------
    >>> import numpy as np
    >>> v = ImageVolume(np.zeros((1, 2, 2)), (1, 1, 1), np.eye(4), "projection",
    ...                 patient={"PatientName": "DOE^JANE", "PatientID": "123", "PatientBirthDate": "19600102",
    ...                          "StudyDate": "20240105", "AccessionNumber": "A9"})
    >>> banner_text(v)
    'DOE, JANE  |  ID 123\\nborn 1960-01-02  |  study 2024-01-05  |  acc. A9'
    """
    p = volume.patient or {}
    fields = [
        _fmt_name(p["PatientName"]) if p.get("PatientName") else "name unknown",
        f"ID {p['PatientID']}" if p.get("PatientID") else "ID unknown",
    ]
    if p.get("PatientBirthDate"):
        fields.append(f"born {_fmt_date(p['PatientBirthDate'])}")
    if p.get("StudyDate"):
        fields.append(f"study {_fmt_date(p['StudyDate'])}")
    if p.get("AccessionNumber"):
        fields.append(f"acc. {p['AccessionNumber']}")
    # two lines: the overlay is right-aligned and clipped at the canvas's left edge, so one long
    # line loses the patient's name first on an ordinary window (measured: 870 px canvas)
    return "  |  ".join(fields[:2]) + "\n" + "  |  ".join(fields[2:]) if len(fields) > 2 else "  |  ".join(fields)


#: banner font sizes tried, largest first (pt); measured: a 9 pt overlay character is ~9 px wide on screen
_BANNER_FONTS = (12, 10, 9)
_PX_PER_CHAR_PER_PT = 1.0
_LETTER_HALF_WIDTH_PX = 36  # half the top_center orientation letter (16 pt), its margin and the box padding


def fit_banner(text: str, canvas_width_px: float | None) -> tuple[str, int]:
    """Wrap the banner's fields so it stays in the right half of the canvas, beside the top orientation letter.

    The banner sits at the top right; wider than half the canvas it ran under
    the anterior/superior letter and lost the patient's name at the left edge.
    Fields (``"  |  "`` separated) are packed greedily into lines that fit; a
    field is never split.  The largest font of ``(12, 10, 9)`` pt at which every
    field fits is used.  When none does (a canvas under ~400 px, e.g. beside the
    MPR workspace), 9 pt is used and the text starts one line lower, so the
    letter sits on the banner's empty first line instead of on the name.

    Parameters
    ----------
    text : str
        :func:`banner_text` output.
    canvas_width_px : float or None
        Canvas width in screen pixels; None (unknown) keeps the text and 12 pt.

    Returns
    -------
    text : str
        The wrapped banner.
    font_size : int
        Font size in points.

    Examples
    --------
    >>> fit_banner("DOE, JANE  |  ID 123", None)
    ('DOE, JANE  |  ID 123', 12)
    >>> fit_banner("DOE, JANE  |  ID 123\\nborn 1960-01-02  |  acc. A9", 400)
    ('DOE, JANE\\nID 123\\nborn 1960-01-02\\nacc. A9', 10)
    >>> fit_banner("DOE, JANE  |  ID 123\\nborn 1960-01-02  |  acc. A9", 800)
    ('DOE, JANE  |  ID 123\\nborn 1960-01-02  |  acc. A9', 12)
    >>> fit_banner("DOE, JANE  |  ID 123", 200)[0]
    ' \\nDOE, JANE\\nID 123'
    """
    if not canvas_width_px:
        return text, _BANNER_FONTS[0]
    fields = [f for line in text.splitlines() for f in line.split("  |  ") if f]
    room_px = canvas_width_px / 2 - _LETTER_HALF_WIDTH_PX
    fits = [f for f in _BANNER_FONTS if max(map(len, fields)) * f * _PX_PER_CHAR_PER_PT <= room_px]
    font = fits[0] if fits else _BANNER_FONTS[-1]
    width = max(int(room_px / (font * _PX_PER_CHAR_PER_PT)), 1)
    lines: list[str] = []
    for f in fields:
        if lines and len(lines[-1]) + 5 + len(f) <= width:
            lines[-1] += "  |  " + f
        else:
            lines.append(f)
    return "\n".join(lines if fits else [" ", *lines]), font


def _canvas_width(viewer: Any) -> float | None:
    from ._napari_private import canvas_size_hw

    try:
        hw = canvas_size_hw(viewer)
    except Exception:  # the window is closing
        return None
    return None if hw is None else float(hw[1])


def _volume_of(layer: Any) -> ImageVolume | None:
    md = getattr(layer, "metadata", None) or {}
    vol = md.get(SOURCE_KEY) or md.get(VOLUME_KEY)
    return vol if isinstance(vol, ImageVolume) else None


def active_volume(viewer: Any) -> tuple[Any, ImageVolume] | tuple[None, None]:
    """(layer, volume) of the active miss-imaging image layer, else of the first one.

    Measurement layers point at their image layer, so selecting a ruler keeps
    its image's patient.
    """
    active = viewer.layers.selection.active
    if active is not None:
        vol = _volume_of(active)
        if vol is not None:
            return active, vol
        image = (getattr(active, "metadata", None) or {}).get("miss_imaging_measure", {}).get("image")
        if image is not None and _volume_of(image) is not None:
            return image, _volume_of(image)  # type: ignore[return-value]
    for layer in viewer.layers:
        vol = _volume_of(layer)
        if vol is not None:
            return layer, vol
    return None, None


def _mask_layers(viewer: Any) -> list[Any]:
    return [lay for lay in viewer.layers if MASK_KEY in (getattr(lay, "metadata", None) or {})]


def _text_regions(layer: Any) -> list[tuple[int, int, int, int]]:
    md = layer.metadata
    if _REGIONS_KEY not in md:
        from miss_imaging.sharing.export import burned_in_regions

        vol = md.get(VOLUME_KEY)
        md[_REGIONS_KEY] = burned_in_regions(vol) if isinstance(vol, ImageVolume) and vol.kind == "projection" else []
    return list(md[_REGIONS_KEY])


_busy: set[int] = set()  # ids of viewers whose masks are being added (napari fires selection events meanwhile)


def update_masks(viewer: Any, show: bool, *, temporary: bool = False) -> list[Any]:
    """Add (``show=True``) or remove every burned-in text mask; returns the masks added.

    The active layer is left as it was (adding a layer would select it).
    ``temporary`` masks (a snapshot's) are left alone by ``show=False``;
    their owner removes them.
    """
    if id(viewer) in _busy:
        return []
    _busy.add(id(viewer))
    try:
        return _update_masks(viewer, show, temporary)
    finally:
        _busy.discard(id(viewer))


def _update_masks(viewer: Any, show: bool, temporary: bool) -> list[Any]:
    masks = _mask_layers(viewer)
    if not show:
        for m in masks:
            if not m.metadata[MASK_KEY].get("temporary"):
                viewer.layers.remove(m)
        return []
    images = [lay for lay in viewer.layers if isinstance((getattr(lay, "metadata", None) or {}).get(VOLUME_KEY),
                                                         ImageVolume)]
    for m in masks:  # masks of layers that are gone
        if all(m.metadata[MASK_KEY]["image"] is not img for img in images):
            viewer.layers.remove(m)
    covered = {id(m.metadata[MASK_KEY]["image"]) for m in _mask_layers(viewer)}
    added = []
    active = viewer.layers.selection.active
    for img in images:
        if id(img) in covered:
            continue
        regions = _text_regions(img)
        if not regions:
            continue
        mask = viewer.add_shapes(
            mask_rects(img, regions), shape_type="rectangle", ndim=2, face_color="black", edge_width=0,
            opacity=1.0, blending="translucent_no_depth", name=f"burned-in text mask [{img.name}]",
            units=tuple(img.units)[-2:], metadata={MASK_KEY: {"image": img, "temporary": temporary}},
        )
        _follow_image(img, mask)
        _guard_mask(viewer, img, mask)
        mask.visible = bool(img.visible)
        added.append(mask)
    if added and active is not None and active in viewer.layers:
        viewer.layers.selection.active = active
    return added


def text_regions(layer: Any) -> list[tuple[int, int, int, int]]:
    """Burned-in text boxes (r0, c0, r1, c1; pixel indices, end excluded) detected in a projection layer's volume."""
    return _text_regions(layer)


def mask_rects(img: Any, regions: list[tuple[int, int, int, int]]) -> list[Any]:
    """World (row, col) corners of each (r0, c0, r1, c1) pixel box of `img`, at pixel edges (not centres)."""
    import numpy as np

    lead = (0,) * (img.ndim - 2)
    rects = []
    for r0, c0, r1, c1 in regions:
        corners = [(r0 - 0.5, c0 - 0.5), (r0 - 0.5, c1 - 0.5), (r1 - 0.5, c1 - 0.5), (r1 - 0.5, c0 - 0.5)]
        rects.append(np.array([img.data_to_world(lead + c)[-2:] for c in corners]))
    return rects


def mask_guard(teaching: bool, temporary: bool, image_present: bool, image_visible: bool, mask_present: bool,
               mask_visible: bool) -> str | None:
    """What the teaching-mode guard does to a burned-in text mask: ``"add"``, ``"show"``, ``"hide"`` or None.

    In teaching mode a (non-temporary) mask stays while its image layer is in
    the viewer: re-added when deleted, shown while its image is shown and
    hidden with it.  Nothing once the image is gone, which is also the state
    when the viewer closes (``viewer.close()`` removes every layer: re-adding
    there never ended).

    Examples
    --------
    >>> mask_guard(True, False, True, True, True, False)  # the user hid it
    'show'
    >>> mask_guard(True, False, True, True, False, False)  # the user deleted it
    'add'
    >>> mask_guard(True, False, False, False, False, False) is None  # the viewer closed
    True
    """
    if not teaching or temporary or not image_present:
        return None
    if not mask_present:
        return "add"
    if mask_visible != image_visible:
        return "show" if image_visible else "hide"
    return None


def _guard(viewer_ref: Any, mask: Any) -> None:
    """Apply :func:`mask_guard` to `mask` of the viewer behind `viewer_ref` (a weak reference)."""
    viewer = viewer_ref()
    if viewer is None:
        return
    try:
        info = mask.metadata[MASK_KEY]
        img = info["image"]
        action = mask_guard(settings.get_teaching_mode(), bool(info.get("temporary")), img in viewer.layers,
                            bool(img.visible), mask in viewer.layers, bool(mask.visible))
        if action == "add":
            update_masks(viewer, True)
        elif action is not None:
            mask.visible = action == "show"
    except Exception as exc:  # a closing viewer: never break napari's event loop
        _log.debug("text mask guard: %s", exc)


def _guard_mask(viewer: Any, img: Any, mask: Any) -> None:
    """Keep `mask` as :func:`mask_guard` says: after the user's hide/delete (deferred), with its image's visibility."""
    viewer_ref = weakref.ref(viewer)
    mask.events.visible.connect(lambda e=None: _after_list_change(lambda: _guard(viewer_ref, mask)))
    img.events.visible.connect(lambda e=None: _guard(viewer_ref, mask))


def _follow_image(img: Any, mask: Any) -> None:
    """Re-place `mask` whenever its image layer's scale, translate or affine changes (a user calibration
    rescales the layer: the mask kept the old scale and the ends of the burned-in text showed)."""
    mask_ref, img_ref = weakref.ref(mask), weakref.ref(img)

    def replace(event: Any = None) -> None:
        m, i = mask_ref(), img_ref()
        if m is None or i is None:
            return
        try:
            m.data = mask_rects(i, _text_regions(i))
            m.shape_type = "rectangle"  # setting Shapes.data alone turns rectangles into polygons
        except Exception as exc:  # never break napari's event loop; snapshots blank the boxes themselves
            _log.warning("burned-in text mask could not follow its image: %s", exc)

    for name in ("scale", "translate", "affine", "rotate", "shear"):
        ev = getattr(img.events, name, None)
        if ev is not None:
            ev.connect(replace)


_SOURCE_HIDDEN = "_miss_imaging_source_hidden"  # marker on layers whose source name is hidden


def _named_source(layer: Any, info: dict[str, Any]) -> dict[str, Any]:
    info["layer_base"] = layer.name  # the layer's name where napari shows the source file's
    return info


def hide_sources(viewer: Any, hide: bool) -> None:
    """Hide (or show again) the source file/folder name of every layer.

    napari shows ``basename(layer.source.path)`` in the status bar and in the
    layer list tooltip; case folders are often named after the patient
    (``DOE_JOHN_12345/``).  In teaching mode the name is replaced by the
    layer name (never an identifier).  Per-instance override of napari's
    ``Layer._get_source_info`` (private; the only place both read it from;
    see :func:`._napari_private.override_source_info`).
    """
    from ._napari_private import override_source_info, restore_source_info

    for layer in viewer.layers:
        src = getattr(layer, "source", None)
        hidden = getattr(layer, _SOURCE_HIDDEN, False)
        if hide and not hidden and src is not None and getattr(src, "path", None):
            override_source_info(layer, _named_source)
            setattr(layer, _SOURCE_HIDDEN, True)
        elif not hide and hidden:
            restore_source_info(layer)
            setattr(layer, _SOURCE_HIDDEN, False)


# an absolute path's folders: "/" (or "~/", "C:\\") not inside a word, then segments that may hold spaces
def strip_folders(text: str, teaching: bool | None = None) -> str:
    """`text` without the case's folders in teaching mode (file names stay): :func:`miss_imaging.redact.redact_paths`.

    Messages name the file they are about; case folders are often named after
    the patient (``/cases/DOE_JOHN_12345/IM0001``, or typed relative,
    ``DOE_JOHN_12345/CT/IM0001``), so in teaching mode only ``IM0001`` is
    shown, and an opened folder's own name reads ``<case folder>``.
    `teaching` defaults to the saved mode.

    Examples
    --------
    >>> strip_folders("/cases/DOE JOHN 1958/CT/IM0001.dcm: resampled (0020,0037)", teaching=True)
    'IM0001.dcm: resampled (0020,0037)'
    >>> strip_folders("/cases/DOE_JOHN/IM1: x", teaching=False)
    '/cases/DOE_JOHN/IM1: x'
    """
    from miss_imaging.redact import redact_paths

    if teaching is None:
        teaching = settings.get_teaching_mode()
    return redact_paths(text) if teaching else text


def update(viewer: Any, *, masks: bool = True) -> None:
    """Install, refresh or remove the banner, text masks (unless `masks` is False) and source names of `viewer`."""
    teaching = settings.get_teaching_mode()
    hide_sources(viewer, teaching)
    if masks:
        update_masks(viewer, teaching)
    overlays = viewer.canvas.overlays
    _, vol = active_volume(viewer)
    if teaching or vol is None:
        if BANNER_KEY in overlays:
            del overlays[BANNER_KEY]
        return
    text, font = fit_banner(banner_text(vol), _canvas_width(viewer))
    if BANNER_KEY in overlays:
        overlays[BANNER_KEY].text = text  # visibility untouched: a snapshot may have hidden it for the capture
        overlays[BANNER_KEY].font_size = font
        return
    from napari.components.overlays import TextOverlay

    overlays[BANNER_KEY] = TextOverlay(
        text=text, position=_POSITION, visible=True, font_size=font, color="white", box=True,
        box_color=(0.55, 0.05, 0.05, 0.85),  # dark red box: unmistakably the patient, never mistaken for data
    )


def _on_mode(on: bool) -> None:
    alive = []
    for ref in _viewers:
        viewer = ref()
        if viewer is None:
            continue
        alive.append(ref)
        try:
            update(viewer)
        except Exception as exc:  # a closed Qt window: drop it, never break the toggle
            _log.debug("teaching banner update failed: %s", exc)
    _viewers[:] = alive


def refit_banner(viewer: Any) -> None:
    """Re-wrap the banner shown on `viewer` for its canvas width (no layer is touched)."""
    overlay = viewer.canvas.overlays[BANNER_KEY] if BANNER_KEY in viewer.canvas.overlays else None
    _, vol = active_volume(viewer)
    if overlay is None or vol is None:
        return
    overlay.text, overlay.font_size = fit_banner(banner_text(vol), _canvas_width(viewer))


def _on_canvas_resize(viewer: Any) -> None:
    """Re-fit the banner when the canvas changes width (docks added, window resized).

    Only the banner's text: a full :func:`update` adds or removes text-mask
    layers, which must not happen inside a resize (a snapshot resizes the
    canvas while napari's layer list may be mid-update).
    """
    import weakref as _weakref

    viewer_ref = _weakref.ref(viewer)
    from ._napari_private import canvas_widget

    native = canvas_widget(viewer)
    if native is None:  # no Qt window
        return
    from qtpy.QtCore import QEvent, QObject

    class Watch(QObject):
        def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt override
            v = viewer_ref()
            if event.type() == QEvent.Type.Resize and v is not None:
                try:
                    refit_banner(v)
                except Exception as exc:  # never break a resize for a banner
                    _log.debug("banner refit failed: %s", exc)
            return False

    native._mi_banner_watch = Watch(native)
    native.installEventFilter(native._mi_banner_watch)


def _after_list_change(fn: Any) -> None:
    """Run `fn` once napari's layer list has finished its insertion or removal.

    :func:`update` adds and removes text-mask layers; doing that inside the
    ``inserted``/``removed`` event of another layer nests a change in the
    layer list model's own, which Qt reports as "QSortFilterProxyModel:
    invalid inserted rows" and which ended in napari's layer delegate painting
    a row with no size (``_paint_loading``: 'NoneType' has no 'height'), then
    an abort, after a C-arm shot was added (QA item 4).
    """
    from qtpy.QtCore import QCoreApplication, QTimer

    if QCoreApplication.instance() is None:
        fn()
    else:
        QTimer.singleShot(0, fn)


def attach(viewer: Any) -> None:
    """Show/hide the patient banner on `viewer` and keep it current; idempotent."""
    update(viewer)
    if not mark_viewer(viewer, "teaching"):
        return
    _viewers.append(weakref.ref(viewer))
    settings.add_listener(_on_mode)

    def _refresh(event: Any = None) -> None:
        try:
            update(viewer)
        except Exception as exc:  # never break napari's event loop for a banner
            _log.debug("teaching banner update failed: %s", exc)

    def _refresh_unless_mask(event: Any = None) -> None:
        layer = getattr(event, "value", None)
        if MASK_KEY in (getattr(layer, "metadata", None) or {}):
            if getattr(event, "type", "") == "removed":  # the user deleted it: back once the list is done
                viewer_ref = weakref.ref(viewer)
                _after_list_change(lambda: _guard(viewer_ref, layer))
        else:
            try:
                update(viewer, masks=False)  # the banner now; mask layers once the list is done
            except Exception as exc:  # never break napari's event loop for a banner
                _log.debug("teaching banner update failed: %s", exc)
            _after_list_change(_refresh)

    _on_canvas_resize(viewer)
    viewer.layers.events.inserted.connect(_refresh_unless_mask)
    viewer.layers.events.removed.connect(_refresh_unless_mask)
    viewer.layers.selection.events.active.connect(_refresh_unless_mask)  # napari selects a layer inside its insertion


@contextlib.contextmanager
def banner_hidden(viewer: Any) -> Iterator[None]:
    """Hide the banner (if any) for the duration of a screenshot, then restore it."""
    overlay = viewer.canvas.overlays.get(BANNER_KEY) if hasattr(viewer.canvas.overlays, "get") else None
    was = bool(overlay is not None and overlay.visible)
    if overlay is not None:
        overlay.visible = False
    try:
        yield
    finally:
        if overlay is not None and BANNER_KEY in viewer.canvas.overlays:
            viewer.canvas.overlays[BANNER_KEY].visible = was


@contextlib.contextmanager
def text_masks_shown(viewer: Any) -> Iterator[None]:
    """Cover burned-in text for the duration of a screenshot (clinician mode too), then undo."""
    added = update_masks(viewer, True, temporary=True)
    try:
        yield
    finally:
        for m in added:
            if m in viewer.layers:
                viewer.layers.remove(m)
