"""Which image a tool acts on when the active layer is not an image (no Qt, no napari imports).

Right after every measurement the active layer is the ruler's Shapes layer.
Window/level and the status bar then act on the image that ruler measures;
with any other non-image layer active (or none), on the top visible image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["MEASURE_KEY", "target_image"]

MEASURE_KEY = "miss_imaging_measure"  # tool layer metadata (see _measure_layers): {"tool", "image", ...}


def target_image(active: Any, layers: Sequence[Any], is_image: Callable[[Any], bool]) -> Any | None:
    """The image layer to act on.

    Parameters
    ----------
    active : layer or None
        The viewer's active layer.
    layers : sequence of layers
        The viewer's layers, bottom first (napari order).
    is_image : callable
        True for image layers.

    Returns
    -------
    layer or None
        `active` if it is an image; the image a measurement layer measures
        (if still in `layers`); else the top visible image; else None.
    """
    if active is not None and is_image(active):
        return active
    measured = (getattr(active, "metadata", None) or {}).get(MEASURE_KEY, {}).get("image") if active is not None else None
    if measured is not None and any(lay is measured for lay in layers):
        return measured
    for lay in reversed(list(layers)):
        if is_image(lay) and getattr(lay, "visible", True):
            return lay
    return None
