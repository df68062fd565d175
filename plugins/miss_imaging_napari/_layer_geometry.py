"""What an image layer made by the plugin shows: its volume, its calibration, its index <-> world mapping.

Every physical value the adapter shows or writes for a layer reads the
calibration in force from here (:func:`current_calibration`), and every
vertex goes world -> array index through the image layer's own
``world_to_data`` (so values are right whatever scale/affine the layer has).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from miss_imaging.measurement.calibration import Calibration
from miss_imaging.measurement.measure import volume_calibration
from miss_imaging.model import ImageVolume

__all__ = [
    "VOLUME_KEY",
    "USER_CAL_KEY",
    "image_volume",
    "layer_calibration",
    "current_calibration",
    "world_to_index",
    "index_to_world",
]

VOLUME_KEY = "miss_imaging_volume"  # image layer metadata: the ImageVolume shown
USER_CAL_KEY = "miss_imaging_user_calibration"  # image layer metadata: Calibration from the user


def image_volume(layer: Any) -> ImageVolume | None:
    """The ImageVolume behind an image layer made by the plugin, else None."""
    vol = getattr(layer, "metadata", {}).get(VOLUME_KEY)
    return vol if isinstance(vol, ImageVolume) else None


def layer_calibration(image_layer: Any) -> Calibration | None:
    """A user calibration set on the image layer, else None (the volume's own)."""
    cal = image_layer.metadata.get(USER_CAL_KEY)
    return cal if isinstance(cal, Calibration) else None


def current_calibration(image_layer: Any) -> Calibration | None:
    """The calibration in force on an image layer: the user's if set, else the volume's own.

    The single source every physical value shown or written for the layer
    reads (canvas labels, table, status bar, scale bar caption, snapshot,
    GIF, CSV/JSON, session).  None for layers without a miss-imaging volume.
    """
    vol = image_volume(image_layer)
    if vol is None:
        return None
    return layer_calibration(image_layer) or volume_calibration(vol)


def world_to_index(image_layer: Any, world: np.ndarray) -> np.ndarray:
    """(n, d) world points -> (n, 3) array indices of the image layer's volume.

    Uses the image layer's public ``world_to_data`` (one point at a time),
    which applies its scale, translate and affine.  A 2-D layer of a
    single-plane volume gets axis-0 index 0.
    """
    out = []
    for p in np.atleast_2d(np.asarray(world, dtype=np.float64)):
        d = np.asarray(image_layer.world_to_data(p), dtype=np.float64)
        if d.size < 3:
            d = np.concatenate([np.zeros(3 - d.size), d])
        out.append(d[-3:])
    return np.array(out)


def index_to_world(image_layer: Any, index: np.ndarray, ndim: int) -> np.ndarray:
    """(n, 3) array indices -> (n, ndim) world points of the image layer."""
    out = []
    for p in np.atleast_2d(np.asarray(index, dtype=np.float64)):
        d = p[-image_layer.ndim:] if image_layer.ndim < 3 else p
        w = np.asarray(image_layer.data_to_world(d), dtype=np.float64)
        out.append(w[-ndim:] if w.size >= ndim else np.concatenate([np.zeros(ndim - w.size), w]))
    return np.array(out)
