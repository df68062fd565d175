"""Headless rendering of one windowed slice or frame to an RGB image / PNG.

numpy + Pillow only (no napari, no Qt): used by ``miss-imaging snapshot`` and
by the demo where no X server exists.  The picture is drawn at its physical
aspect ratio (square output pixels in mm), with a scale bar in mm, patient
orientation letters for volumes, and measurement lines labelled with their
value and calibration.  It never draws patient identifiers: the only text is
the series label (modality, description, number), the window and the
measurements.  PNGs are written without text chunks (no metadata).

Geometry: volumes are first put on the patient grid
(:func:`miss_imaging.spatial.resampling.to_patient_grid`, exact views for axis-aligned
stacks), so an axial slice shows anterior at the top and the patient's left
on the image's right (radiological convention), as in the napari viewer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from miss_imaging.model import ImageVolume, Window

__all__ = ["Line", "Rendered", "render_slice", "side_by_side", "save_png", "nice_length", "caption_box",
           "DEFAULT_WIDTH_PX", "scale_bar_label", "position_text", "fit_label"]

#: default output width (px) of a rendered slice
DEFAULT_WIDTH_PX = 640

_YELLOW = (255, 220, 0)
_CYAN = (0, 230, 255)
_WHITE = (255, 255, 255)


@dataclass(frozen=True)
class Line:
    """A measurement line to draw: two points and the label next to it.

    ``p0``/``p1`` are array indices ``(axis0, axis1, axis2)`` of the volume
    passed to :func:`render_slice` (fractions allowed); ``text`` e.g.
    ``"25.4 mm magnification-corrected (ERMF)"``.
    """

    p0: tuple[float, float, float]
    p1: tuple[float, float, float]
    text: str


@dataclass(frozen=True)
class Rendered:
    """What :func:`render_slice` drew.

    Attributes
    ----------
    image : PIL.Image.Image
        RGB.
    slab : (int, int)
        First and last axis-0 index (slice/frame) of the patient-grid volume
        that were projected (equal for a single slice).
    mm_per_px : float
        Output pixel size in mm (pixels for a "pixels only" projection).
    window : Window
    orientation : dict or None
        Letters at the edges (``top``/``bottom``/``left``/``right``), volumes only.
    """

    image: Any
    slab: tuple[int, int]
    mm_per_px: float
    window: Window
    orientation: dict[str, str] | None


def nice_length(target: float) -> float:
    """Largest 1/2/5 x 10^k not above `target` (for a scale bar), e.g. 37 -> 20."""
    if target <= 0:
        raise ValueError(f"`target` must be > 0; got {target}")
    k = np.floor(np.log10(target))
    for m in (5.0, 2.0, 1.0):
        if m * 10**k <= target:
            return float(m * 10**k)
    return float(10**k)


def scale_bar_label(length: float, volume: ImageVolume) -> str:
    """Scale bar text: the length and, on projections, the calibration it rests on.

    A projection's mm are only true in the plane the calibration refers to
    (detector, isocentre, a user's object), so the bar says which.

    Examples
    --------
    >>> import numpy as np
    >>> v = ImageVolume(np.zeros((1, 2, 2)), (1, .3, .3), np.eye(4), "projection", calibration="at detector (not corrected)")
    >>> scale_bar_label(20, v)
    '20 mm at detector (not corrected)'
    """
    if volume.kind != "projection":
        return f"{length:g} mm"
    if volume.calibration == "pixels only":
        return f"{length:g} px (pixels only)"
    return f"{length:g} mm {volume.calibration}"


def position_text(shown: ImageVolume, k0: int, k1: int) -> str:
    """Where the picture is: frame number (0-based, as napari's frame slider) or slice position in mm.

    For a volume on the patient grid, axis 0 runs along patient z (LPS,
    superior positive): the text gives the slice's z in mm, or the slab's z
    range for a maximum-intensity projection.
    """
    if shown.kind != "volume":
        n = int(shown.shape[0])
        return f"frame {k0} of 0-{n - 1}" if n > 1 else "single frame"
    z0, z1 = (float(shown.index_to_patient(np.array([k, 0.0, 0.0]))[2]) for k in (k0, k1))
    if k0 == k1:
        return f"slice {k0}, z = {z0:.1f} mm"
    return f"MIP slices {k0}-{k1}, z {min(z0, z1):.1f} to {max(z0, z1):.1f} mm"


def fit_label(box: tuple[float, float, float, float], text_w: float, text_h: float, width: float, height: float,
              margin: float = 4.0, taken: Sequence[tuple[float, float, float, float]] = ()) -> tuple[float, float]:
    """Top-left corner of a measurement's label: whole inside the picture, off the line and off other labels.

    Parameters
    ----------
    box : (x0, y0, x1, y1)
        Bounding box of the measurement's line in output pixels.
    text_w, text_h : float
        Label size in output pixels.
    width, height : float
        Picture size.
    taken : sequence of (x0, y0, x1, y1)
        Boxes of the labels already placed (output pixels): the label goes
        where it overlaps none of them when there is such a place.

    The label goes above the line (below it when there is no room above),
    starting at the line's left end, and is clamped inside the picture: the
    calibration at its end is never cut off, and the label does not cover
    the line it names.  When that place overlaps a label already placed
    (two screws' labels at the same pedicle in the demo picture), it moves
    further up, then below the line, a label height at a time.

    Examples
    --------
    >>> fit_label((560, 200, 630, 210), 100, 12, 640, 480)
    (536.0, 184.0)
    >>> fit_label((560, 200, 630, 210), 100, 12, 640, 480, taken=[(530, 180, 640, 198)])
    (536.0, 156.0)
    """
    x0, y0, x1, y1 = box
    x = min(max(x0, margin), max(margin, width - margin - text_w))
    step = text_h + 2
    ys = [y0 - 4 - text_h - k * step for k in range(4)] + [y1 + 4 + k * step for k in range(4)]
    if ys[0] < margin:  # no room above: below first (the rule without other labels)
        ys = ys[4:] + ys[:4]
    spots = [(float(x), float(min(max(y, margin), max(margin, height - margin - text_h)))) for y in ys]
    for sx, sy in spots:
        if not any(sx < b[2] + 1 and b[0] - 1 < sx + text_w and sy < b[3] + 1 and b[1] - 1 < sy + text_h
                   for b in taken):
            return sx, sy
    return spots[0]


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: fixed bitmap font
        return ImageFont.load_default()


def caption_box(draw: Any, xy: tuple[float, float], text: str, font: Any, *, anchor: str = "la",
                fill: tuple[int, int, int] = (255, 255, 255), pad: int = 3) -> tuple[float, float, float, float]:
    """Draw `text` (multi-line) on an opaque black box; returns the box ``(x0, y0, x1, y1)`` in pixels.

    A black outline (``stroke_width``) alone leaves the image visible between
    words: a one-pixel bright image row under the heading showed as dots in
    the spaces of a Secondary Capture's caption (QA round 3).  On a box the
    caption reads the same over any image.
    """
    x0, y0, x1, y1 = draw.multiline_textbbox(xy, text, font=font, anchor=anchor)
    box = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    draw.rectangle(box, fill=(0, 0, 0))
    draw.multiline_text(xy, text, fill=fill, font=font, anchor=anchor)
    return box


def _on_grid(volume: ImageVolume, lines: Sequence[Line]) -> tuple[ImageVolume, list[Line]]:
    """Patient-grid view of a volume, with the lines' indices mapped onto it."""
    if volume.kind != "volume":
        return volume, list(lines)
    from miss_imaging.spatial.resampling import to_patient_grid

    shown = to_patient_grid(volume)
    if shown is volume:
        return volume, list(lines)
    moved = []
    for ln in lines:
        q0, q1 = (tuple(float(v) for v in shown.patient_to_index(volume.index_to_patient(p))) for p in (ln.p0, ln.p1))
        moved.append(Line(q0, q1, ln.text))  # type: ignore[arg-type]
    return shown, moved


def render_slice(
    volume: ImageVolume,
    index: int | None = None,
    *,
    window: Window | None = None,
    lines: Sequence[Line] = (),
    slab: tuple[int, int] | None = None,
    width_px: int = DEFAULT_WIDTH_PX,
    title: str | None = None,
    blank: Sequence[tuple[int, int, int, int]] = (),
) -> Rendered:
    """Render slice/frame `index` (or a max-intensity slab) of `volume`, windowed.

    Parameters
    ----------
    volume : ImageVolume
        A volume (shown as an axial slice of its patient grid) or a projection
        (shown frame by frame).
    index : int, optional
        Axis-0 index of the patient-grid volume (axial slice, inferior first)
        or frame.  Default: the middle one, or the slab spanned by `lines`.
    window : Window, optional
        Default :func:`miss_imaging.display.presets.default_window`.
    lines : sequence of Line
        Measurements to draw, in `volume`'s own array indices.  A line whose
        ends lie on different slices is drawn on a maximum-intensity slab
        spanning them (its in-plane projection), labelled with its true length.
    slab : (int, int), optional
        Explicit first/last axis-0 index of a maximum-intensity slab.
    width_px : int
        Output width in pixels.
    title : str, optional
        Top-left text; default the series label.
    blank : sequence of (row0, col0, row1, col1)
        Projections: pixel rectangles (0-based, end excluded, the convention of
        :func:`miss_imaging.sharing.deid.deidentify_series`) drawn black, e.g. burned-in
        patient text ((0028,0301) BurnedInAnnotation = YES).

    Returns
    -------
    Rendered
    """
    from PIL import Image, ImageDraw

    from miss_imaging.display.window import apply_window

    if window is None:
        from miss_imaging.display.presets import default_window

        window = default_window(volume)
    shown, lines = _on_grid(volume, lines)
    n0 = shown.shape[0]
    if slab is None:
        if index is None and lines:
            ks = [p[0] for ln in lines for p in (ln.p0, ln.p1)]
            slab = (int(np.floor(min(ks) + 0.5)), int(np.floor(max(ks) + 0.5)))
        else:
            k = n0 // 2 if index is None else int(index)
            slab = (k, k)
    k0, k1 = max(0, min(slab)), min(n0 - 1, max(slab))
    if k0 > k1:
        raise ValueError(f"slice {slab} outside 0..{n0 - 1} of {shown.label}")
    block = np.asarray(shown.pixels[k0 : k1 + 1])
    plane = block.max(axis=0) if k1 > k0 else block[0]
    gray = apply_window(plane, window.center, window.width, function=window.function, out_dtype=np.uint8,
                        invert=shown.photometric.upper() == "MONOCHROME1")

    if blank and shown.kind == "projection":
        gray = np.array(gray, dtype=np.uint8, copy=True)
    for r0, c0, r1, c1 in blank:
        if shown.kind == "projection":
            gray[max(0, r0):r1, max(0, c0):c1] = 0
    row_mm, col_mm = float(shown.spacing[1]), float(shown.spacing[2])
    field_w = gray.shape[1] * col_mm
    mm_per_px = field_w / width_px
    height_px = max(1, int(round(gray.shape[0] * row_mm / mm_per_px)))
    img = Image.fromarray(gray, mode="L").resize((width_px, height_px), Image.Resampling.BILINEAR).convert("RGB")
    draw = ImageDraw.Draw(img)
    font = _font(max(12, width_px // 45))

    def to_px(p: Sequence[float]) -> tuple[float, float]:  # (axis0, row, col) index -> output (x, y)
        return ((p[2] + 0.5) * col_mm / mm_per_px, (p[1] + 0.5) * row_mm / mm_per_px)

    placed: list[tuple[float, float, float, float]] = []  # label boxes drawn so far (none may overlap)
    for ln in lines:
        a, b = to_px(ln.p0), to_px(ln.p1)
        draw.line([a, b], fill=_YELLOW, width=2)
        for c in (a, b):
            draw.ellipse([c[0] - 3, c[1] - 3, c[0] + 3, c[1] + 3], outline=_YELLOW, width=2)
        bbox = draw.multiline_textbbox((0, 0), ln.text, font=font, stroke_width=2)
        box = (min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1]))
        tw, th = bbox[2] - bbox[0], bbox[3] - bbox[1]
        tx, ty = fit_label(box, tw, th, width_px, height_px, taken=placed)
        if ln.text:
            placed.append((tx, ty, tx + tw, ty + th))
        draw.multiline_text((tx, ty), ln.text, fill=_YELLOW, font=font, stroke_width=2, stroke_fill=(0, 0, 0))

    # scale bar (bottom right): a round number of mm near a fifth of the width, with its calibration
    bar = nice_length(field_w / 5)
    bar_px = bar / mm_per_px
    x1, y = width_px - 16, height_px - 16
    draw.line([(x1 - bar_px, y), (x1, y)], fill=_WHITE, width=3)
    label = scale_bar_label(bar, shown)
    bw = draw.textbbox((0, 0), label, font=font)[2]
    lx = min(x1 - bar_px / 2 - bw / 2, width_px - 4 - bw)
    caption_box(draw, (max(4, lx), y - font.size - 8), label, font)

    orientation = None
    if shown.kind == "volume":  # patient grid: rows step +y (posterior), columns +x (patient's left)
        orientation = {"top": "A", "bottom": "P", "left": "R", "right": "L"}
        big = _font(max(14, width_px // 32))
        for text, (x, yy) in (("A", (width_px / 2, 14)), ("P", (width_px / 2, height_px - 14)),
                              ("R", (12, height_px / 2)), ("L", (width_px - 12, height_px / 2))):
            draw.text((x, yy), text, fill=_CYAN, font=big, anchor="mm", stroke_width=2, stroke_fill=(0, 0, 0))

    head = [title or shown.label, position_text(shown, k0, k1), f"W {window.width:g} / C {window.center:g}"]
    caption_box(draw, (8, 6), "\n".join(head), font)
    return Rendered(img, (k0, k1), mm_per_px, window, orientation)


def side_by_side(images: Sequence[Any], gap: int = 8) -> Any:
    """Join RGB images left to right on black, top-aligned."""
    from PIL import Image

    w = sum(im.width for im in images) + gap * (len(images) - 1)
    h = max(im.height for im in images)
    out = Image.new("RGB", (w, h))
    x = 0
    for im in images:
        out.paste(im, (x, 0))
        x += im.width + gap
    return out


def save_png(image: Any | npt.NDArray[np.uint8], path: str | Path) -> Path:
    """Write an RGB image as PNG without text chunks (no metadata); returns the path."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    img.convert("RGB").save(path, format="PNG", optimize=True)  # no pnginfo -> no tEXt/iTXt chunks
    return path
