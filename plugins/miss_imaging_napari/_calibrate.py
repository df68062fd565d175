"""Which line a user calibration uses, and what the user is told (no Qt, no napari).

napari keeps the last drawn shape selected, so "the selected shape" is not a
choice the user made: after drawing the calibration sphere's line and then a
bead line, the bead line is selected.  A calibration therefore acts only on a
line the user picked unambiguously:

* exactly one row picked in the measurement table, which must be a straight
  line (distance) on a projection image; or
* no row picked and exactly one straight line on the image (nothing else it
  could mean).

Anything else is refused with a message listing the candidate lines by name
and pixel length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from miss_imaging.measurement.calibration import Calibration
from miss_imaging.errors import MeasurementError

__all__ = ["LineCandidate", "choose_calibration_line", "calibration_message", "calibration_text"]


@dataclass(frozen=True)
class LineCandidate:
    """One table row as the calibration sees it.

    Attributes
    ----------
    row : int
        Row in the measurement table.
    name : str
        The measurement's name (e.g. ``"sphere"``).
    kind : str
        ``"distance" | "path" | "angle" | "cobb"``.
    pixels : float or None
        In-plane length in image pixels (None when the row has an error).
    on_image : bool
        Measured on the image being calibrated.
    error : str
        Why the row has no value (e.g. zero length), else empty.
    """

    row: int
    name: str
    kind: str
    pixels: float | None
    on_image: bool
    error: str = ""


def _listing(lines: Sequence[LineCandidate]) -> str:
    return ", ".join(f"'{c.name}' ({c.pixels:.1f} px)" for c in lines if c.pixels is not None)


def choose_calibration_line(candidates: Sequence[LineCandidate], picked: Sequence[int], image_name: str) -> LineCandidate:
    """The line to calibrate on, or a :class:`MeasurementError` saying why there is no single one.

    Parameters
    ----------
    candidates : sequence of LineCandidate
        Every row of the measurement table.
    picked : sequence of int
        Table rows the user selected.
    image_name : str
        The image being calibrated (for messages).
    """
    lines = [c for c in candidates if c.on_image and c.kind == "distance" and c.pixels is not None]
    rows = sorted(set(picked))
    if len(rows) > 1:
        raise MeasurementError(f"{len(rows)} rows are picked in the measurement table: pick only the line drawn "
                               "across the object of known size")
    if len(rows) == 1:
        chosen = next((c for c in candidates if c.row == rows[0]), None)
        if chosen is not None and chosen.kind == "distance" and chosen.pixels is None:
            raise MeasurementError(f"line '{chosen.name}' cannot calibrate: {chosen.error or 'no length'}")
        if chosen is None or chosen.kind != "distance":
            what = "that row" if chosen is None else f"'{chosen.name}' ({chosen.kind})"
            raise MeasurementError(f"{what} is not a measured straight line: pick a Ruler line in the table")
        if not chosen.on_image:
            raise MeasurementError(f"'{chosen.name}' is not drawn on {image_name}: pick a line on that image "
                                   "or choose its image under 'Measure on'")
        return chosen
    if len(lines) == 1:
        return lines[0]
    broken = [c for c in candidates if c.on_image and c.kind == "distance" and c.pixels is None]
    if not lines and len(broken) == 1:
        raise MeasurementError(f"line '{broken[0].name}' cannot calibrate: {broken[0].error or 'no length'}")
    if not lines:
        raise MeasurementError(f"no straight line on {image_name}: draw one across the object of known size "
                               "with the Ruler")
    raise MeasurementError(f"{len(lines)} lines on {image_name} ({_listing(lines)}): click the row of the line "
                           "drawn across the object of known size in the measurement table, then Calibrate")


def calibration_text(cal: Calibration) -> str:
    """``"user-calibrated (sphere, 25.0 mm), 0.431 x 0.431 mm/pixel"`` (or just the label without mm)."""
    if not cal.has_mm:
        return cal.label
    return f"{cal.label}, {cal.row_mm:.4g} x {cal.col_mm:.4g} mm/pixel"


def calibration_message(image_name: str, line: LineCandidate, known_mm: float, new: Calibration,
                        before: Calibration, n_updated: int) -> str:
    """What a user calibration did: which line, its pixel length, the new and the previous calibration.

    Examples
    --------
    >>> old = Calibration(0.432, 0.432, "magnification-corrected (ERMF)", "ermf")
    >>> new = Calibration(0.431, 0.431, "user-calibrated (sphere, 25.0 mm)", "user")
    >>> line = LineCandidate(0, "ruler 1", "distance", 58.0, True)
    >>> calibration_message("XA cine", line, 25.0, new, old, 2)  # doctest: +NORMALIZE_WHITESPACE
    "XA cine: calibrated on line 'ruler 1' (58.0 px = 25 mm): user-calibrated (sphere, 25.0 mm), 0.431 x 0.431
    mm/pixel; was magnification-corrected (ERMF), 0.432 x 0.432 mm/pixel; 2 measurement(s) updated"
    """
    return (f"{image_name}: calibrated on line '{line.name}' ({line.pixels:.1f} px = {known_mm:g} mm): "
            f"{calibration_text(new)}; was {calibration_text(before)}; {n_updated} measurement(s) updated")
