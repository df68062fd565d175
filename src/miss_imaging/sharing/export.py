"""Files written for sharing: annotated PNG figures and fluoro cine GIFs.

Nothing written here carries patient identifiers: images are drawn from
pixels plus technical text (series label, window, calibration, frame
counter), PNGs are written without text chunks, GIFs without comments.  The
CPU windowing is :func:`miss_imaging.apply_window` (the same numbers napari
uses as contrast limits), the frame drawing :func:`miss_imaging.display.render.render_slice`.

Cine timing (PS3.3 C.7.6.5.1): FrameTime (0018,1063) is the nominal time per
frame in ms; FrameTimeVector (0018,1065) gives the increment *before* each
frame (the first is 0), for variable rates.  GIF stores delays in units of
10 ms, so each delay is rounded such that the *cumulative* time stays within
5 ms of the true timeline (e.g. 66.7 ms/frame -> 70, 60, 70, 70, 60, ...):
the clip keeps the file's rate on average instead of drifting.  Browsers
replace delays below 20 ms by 100 ms, so runs faster than 50 frames/s are
written with 20 ms delays and a warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from miss_imaging.model import ImageVolume, Window

__all__ = [
    "GIF_TICK_MS",
    "DEFAULT_FRAME_TIME_MS",
    "CineReport",
    "write_png",
    "frame_times_ms",
    "gif_delays_ms",
    "measurement_lines",
    "burned_in_regions",
    "blanked_volume",
    "render_cine_frames",
    "export_cine_gif",
]

#: GIF delay unit (the Graphic Control Extension counts hundredths of a second)
GIF_TICK_MS = 10
#: smallest delay browsers honour; shorter ones are shown at 100 ms
GIF_MIN_DELAY_MS = 20
#: assumed time per frame when the file has neither FrameTime nor FrameTimeVector
DEFAULT_FRAME_TIME_MS = 100.0



def write_png(image: Any, path: str | Path) -> Path:
    """Write an image as PNG with no metadata chunks; returns the path.

    Parameters
    ----------
    image : (rows, cols), (rows, cols, 3) or (rows, cols, 4) uint8 ndarray, or PIL image
        An alpha channel is dropped (composited on black) so that the figure
        looks the same in every viewer.
    path : str or Path

    Notes
    -----
    Pillow writes only IHDR/PLTE/IDAT/IEND (+ pHYs when ``dpi`` is given,
    which we never pass) unless ``pnginfo`` is given: no tEXt/iTXt/zTXt/eXIf,
    so no software name, date or source path.
    """
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(image, Image.Image):
        img = image
    else:
        arr = np.asarray(image)
        if arr.dtype != np.uint8:
            raise ValueError(f"`image` must be uint8; got {arr.dtype}")
        img = Image.fromarray(arr)
    if img.mode == "RGBA":
        bg = Image.new("RGB", img.size, (0, 0, 0))
        bg.paste(img, mask=img.getchannel("A"))
        img = bg
    elif img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    clean = Image.new(img.mode, img.size)  # a fresh image: no .info carried over from the source
    clean.paste(img)
    clean.save(path, format="PNG", optimize=True)
    return path


def frame_times_ms(volume: ImageVolume) -> tuple[npt.NDArray[np.float64], list[str]]:
    """Display duration of each frame in ms, from the file's timing tags.

    Returns
    -------
    durations : (n_frames,) ndarray of float64
        ``durations[k]`` = time from frame k to frame k+1.  From
        FrameTimeVector: its entries 1..N-1 (entry 0 is the 0 increment of
        the first frame), the last frame lasting the median increment.  From
        FrameTime: constant.  Else :data:`DEFAULT_FRAME_TIME_MS`.
    warnings : list of str
    """
    n = int(volume.shape[0])
    tags = volume.projection
    warnings: list[str] = []
    vec = tags.frame_time_vector_ms if tags is not None else None
    if vec is not None and len(vec) == n and n > 1 and all(v >= 0 for v in vec[1:]):
        inc = np.asarray(vec[1:], dtype=np.float64)
        return np.append(inc, np.median(inc)), warnings
    if vec is not None and len(vec) != n:
        warnings.append(f"(0018,1065) FrameTimeVector has {len(vec)} values for {n} frames; ignored")
    ft = tags.frame_time_ms if tags is not None else None
    if ft is not None and ft > 0:
        return np.full(n, float(ft)), warnings
    warnings.append(
        f"no (0018,1063) FrameTime or (0018,1065) FrameTimeVector: cine written at "
        f"{1000 / DEFAULT_FRAME_TIME_MS:g} frames/s (assumed, not the acquisition rate)"
    )
    return np.full(n, DEFAULT_FRAME_TIME_MS), warnings


def gif_delays_ms(durations_ms: Sequence[float]) -> tuple[list[int], list[str]]:
    """GIF delays (multiples of 10 ms) whose running sum tracks the true timeline.

    ``delay[k] = round10(T[k+1]) - round10(T[k])`` with ``T`` the cumulative
    true time, so the error of every frame's start time is at most 5 ms and
    never accumulates.  Delays are at least :data:`GIF_MIN_DELAY_MS`.

    Examples
    --------
    >>> gif_delays_ms([66.7] * 6)[0]
    [70, 60, 70, 70, 60, 70]
    """
    t = np.concatenate([[0.0], np.cumsum(np.asarray(durations_ms, dtype=np.float64))])
    # round half up, in ticks of 10 ms
    ticks = np.floor(t / GIF_TICK_MS + 0.5).astype(np.int64)
    delays = (np.diff(ticks) * GIF_TICK_MS).astype(int).tolist()
    warnings = []
    if any(d < GIF_MIN_DELAY_MS for d in delays):
        warnings.append(
            f"frames shorter than {GIF_MIN_DELAY_MS} ms (above {1000 // GIF_MIN_DELAY_MS} frames/s): GIF players "
            f"cannot show them; written at {GIF_MIN_DELAY_MS} ms (slower than acquired)"
        )
        delays = [max(GIF_MIN_DELAY_MS, d) for d in delays]
    return delays, warnings


def measurement_lines(measurements: Iterable[Any]) -> list[Any]:
    """:class:`miss_imaging.display.render.Line` segments of measurements, labelled on their last segment.

    Distances and paths give their consecutive segments, angles their two
    arms, Cobb angles their two lines; the label is the measurement's
    ``text`` (value, unit, calibration), prefixed by its name if any.
    """
    from miss_imaging.display.render import Line

    lines = []
    for m in measurements:
        pts = [tuple(float(v) for v in p) for p in m.points_index]
        if len(pts) < 2:
            continue
        if m.kind == "cobb" and len(pts) == 4:
            segs = [(pts[0], pts[1]), (pts[2], pts[3])]
        else:
            segs = list(zip(pts[:-1], pts[1:]))
        label = f"{m.name}: {m.text}" if getattr(m, "name", "") else m.text
        cal = getattr(m, "calibration", "")
        if cal and label.endswith(" " + cal):  # two short lines, as on the canvas: stays inside the picture
            label = label[: -len(cal) - 1] + "\n" + cal
        for i, (a, b) in enumerate(segs):
            lines.append(Line(a, b, label if i == len(segs) - 1 else ""))  # type: ignore[arg-type]
    return lines


class _BlankedFrames:
    """Read-only view of ``(frames, rows, cols)`` pixels with rectangles set to a fill value.

    Frames are copied one slab at a time when indexed, so blanking never
    copies the whole run.
    """

    def __init__(self, pixels: Any, regions: Sequence[tuple[int, int, int, int]], fill: float):
        self._pixels = pixels
        self._regions = list(regions)
        self._fill = fill
        self.shape = tuple(pixels.shape)
        self.dtype = pixels.dtype
        self.ndim = len(self.shape)

    def __getitem__(self, key: Any) -> npt.NDArray[Any]:
        block = np.array(self._pixels[key], copy=True)
        view = block if block.ndim == 3 else block[None]
        if view.ndim == 3 and view.shape[1:] == self.shape[1:]:
            for r0, c0, r1, c1 in self._regions:
                view[:, r0:r1, c0:c1] = self._fill
        return block

    def __array__(self, dtype: Any = None, copy: Any = None) -> npt.NDArray[Any]:
        return np.asarray(self[:], dtype=dtype)


def burned_in_regions(volume: ImageVolume) -> list[tuple[int, int, int, int]]:
    """Burned-in text boxes of a volume flagged BurnedInAnnotation = YES (else empty).

    See :func:`miss_imaging.sharing.burned_in.detect_text_regions`.
    """
    if not volume.burned_in_annotation:
        return []
    from miss_imaging.sharing.burned_in import detect_text_regions

    bits = (volume.metadata or {}).get("BitsStored")
    return detect_text_regions(volume.pixels, bits_stored=int(bits) if bits else None)


def blanked_volume(volume: ImageVolume, regions: Sequence[tuple[int, int, int, int]]) -> ImageVolume:
    """A view of `volume` whose pixels read display-black inside `regions` (every frame).

    Display-black is the dtype's minimum (maximum for MONOCHROME1), which any
    window maps to black.  Nothing is copied until frames are read.
    """
    if not regions:
        return volume
    dt = np.dtype(volume.pixels.dtype)
    info = np.iinfo(dt) if np.issubdtype(dt, np.integer) else np.finfo(dt)
    fill = info.max if volume.photometric.upper() == "MONOCHROME1" else info.min
    return volume.replace(pixels=_BlankedFrames(volume.pixels, regions, fill))


@dataclass
class CineReport:
    """What :func:`export_cine_gif` wrote.

    Attributes
    ----------
    path : Path
    n_frames : int
    source_durations_ms : list of float
        Per-frame durations from the file (see :func:`frame_times_ms`).
    gif_delays_ms : list of int
        Delays written (multiples of 10 ms).
    source_fps, gif_fps : float
        Mean frame rates (frames per second) of the acquisition and of the GIF.
    max_start_error_ms : float
        Largest difference between a frame's start in the GIF and in the file.
    blanked_regions : list of (row0, col0, row1, col1)
        Pixel boxes shown black (burned-in text found or given).
    warnings : list of str
    """

    path: Path
    n_frames: int
    source_durations_ms: list[float]
    gif_delays_ms: list[int]
    source_fps: float
    gif_fps: float
    max_start_error_ms: float
    blanked_regions: list[tuple[int, int, int, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def render_cine_frames(
    volume: ImageVolume,
    *,
    window: Window | None = None,
    measurements: Iterable[Any] = (),
    frames: Sequence[int] | None = None,
    width_px: int = 512,
    durations_ms: npt.ArrayLike | None = None,
) -> list[Any]:
    """Windowed RGB frames with scale bar (and its calibration), measurement labels, frame number and time.

    Frames are numbered from 0, as on napari's frame slider and in the
    measurement table ("frame 4 of 0-9").

    Parameters
    ----------
    volume : ImageVolume
        A projection run ``(frame, row, col)`` (a CT volume works too: slices).
    window : Window, optional
        Default :func:`miss_imaging.display.presets.default_window`.
    measurements : iterable of Measurement
        Drawn on the frame they were made on (all frames for one spanning frames).
    frames : sequence of int, optional
        Frame indices (default all).
    width_px : int
        Output width; the height follows the physical aspect ratio.
    durations_ms : sequence of float, optional
        Per-frame durations for the time stamp; default from the file.

    Returns
    -------
    list of PIL.Image.Image (RGB)
    """
    from PIL import ImageDraw

    from miss_imaging.display.render import _font, caption_box, render_slice

    if window is None:
        from miss_imaging.display.presets import default_window

        window = default_window(volume)
    n = int(volume.shape[0])
    frames = list(range(n)) if frames is None else [int(k) for k in frames]
    durations = frame_times_ms(volume)[0] if durations_ms is None else np.asarray(durations_ms, dtype=np.float64)
    starts = np.concatenate([[0.0], np.cumsum(durations)])
    ms = list(measurements)
    out = []
    for k in frames:
        if not 0 <= k < n:
            raise ValueError(f"frame {k} outside 0..{n - 1} of {volume.label}")
        on_frame = [m for m in ms if getattr(m, "frame", None) in (None, k)]
        img = render_slice(volume, k, window=window, lines=measurement_lines(on_frame), width_px=width_px).image
        draw = ImageDraw.Draw(img)
        font = _font(max(12, width_px // 45))
        # the frame number (0-based, as napari's slider) is in the heading; the calibration is on the scale bar
        text = f"t = {starts[k] / 1000:.3f} s"
        caption_box(draw, (8, img.height - 8), text, font, anchor="ld")
        out.append(img)
    return out


def export_cine_gif(
    volume: ImageVolume,
    path: str | Path,
    *,
    window: Window | None = None,
    measurements: Iterable[Any] = (),
    frames: Sequence[int] | None = None,
    width_px: int = 512,
    loop: int = 0,
    blank_regions: Sequence[tuple[int, int, int, int]] | None = None,
) -> CineReport:
    """Write a fluoro run as an animated GIF at the file's frame rate, with overlays.

    Parameters
    ----------
    volume : ImageVolume
        A multi-frame projection (XA/RF cine).
    path : str or Path
        Output ``.gif``.
    window, measurements, frames, width_px
        See :func:`render_cine_frames`.
    loop : int
        GIF loop count (0 = forever).
    blank_regions : list of (row0, col0, row1, col1), optional
        Pixel boxes (0-based, end excluded) shown black in every frame.
        ``None`` (default): the burned-in text found in a run flagged
        BurnedInAnnotation = YES (:func:`burned_in_regions`), so that a clip
        written for sharing never shows the name the modality burned in;
        ``[]``: none.

    Returns
    -------
    CineReport
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    all_durations, warnings = frame_times_ms(volume)
    idx = list(range(int(volume.shape[0]))) if frames is None else [int(k) for k in frames]
    # a subset of frames lasts until the next chosen frame
    starts = np.concatenate([[0.0], np.cumsum(all_durations)])
    ends = idx[1:] + [idx[-1] + 1]
    durations = [float(starts[e] - starts[s]) for s, e in zip(idx, ends)]
    delays, w2 = gif_delays_ms(durations)
    warnings += w2
    regions = burned_in_regions(volume) if blank_regions is None else [tuple(map(int, r)) for r in blank_regions]
    flagged = volume.burned_in_annotation
    if flagged and not regions:
        warnings.append("BurnedInAnnotation = YES but no text was blanked: check the clip before sharing")
    shown = blanked_volume(volume, regions)  # type: ignore[arg-type]
    images = render_cine_frames(shown, window=window, measurements=measurements, frames=idx, width_px=width_px,
                                durations_ms=all_durations)
    # fresh images carry no .info (no comment/extension blocks); P mode with one adaptive palette per frame
    from PIL import Image

    pal = [im.convert("P", palette=Image.Palette.ADAPTIVE, colors=256) for im in images]
    pal[0].save(path, format="GIF", save_all=True, append_images=pal[1:], duration=delays, loop=loop,
                optimize=False, disposal=1)
    true_t = np.concatenate([[0.0], np.cumsum(durations)])[:-1]
    gif_t = np.concatenate([[0.0], np.cumsum(delays)])[:-1]
    total_true, total_gif = float(sum(durations)), float(sum(delays))
    return CineReport(
        path=path,
        n_frames=len(idx),
        source_durations_ms=[float(d) for d in durations],
        gif_delays_ms=list(delays),
        source_fps=len(idx) * 1000.0 / total_true,
        gif_fps=len(idx) * 1000.0 / total_gif,
        max_start_error_ms=float(np.max(np.abs(true_t - gif_t))) if len(idx) else 0.0,
        blanked_regions=list(regions),  # type: ignore[arg-type]
        warnings=warnings,
    )
