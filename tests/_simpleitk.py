"""The one SimpleITK (GDCM) comparison: a series' geometry and pixels as an independent reader sees them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def assert_matches_simpleitk(vol, folder: Path, *, atol: float, pixels: bool = False) -> None:
    """Check `vol`'s affine and origin (and optionally pixels) against SimpleITK's reading of `folder`.

    SimpleITK indexes (x = column i, y = row j, z = slice k) and its direction
    columns are the unit index axes, so our affine columns (slice, row, col)
    are its direction columns 2, 1, 0 times its spacing.  In-plane columns must
    agree within `atol` mm; the slice column and the origin, which GDCM derives
    from the positions, within ``10 * atol``.  Skips when SimpleITK is absent.
    """
    sitk = pytest.importorskip("SimpleITK")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    img = reader.Execute()
    d = np.array(img.GetDirection()).reshape(3, 3)
    sp = np.array(img.GetSpacing())
    np.testing.assert_allclose(vol.affine[:3, 2], d[:, 0] * sp[0], atol=atol)
    np.testing.assert_allclose(vol.affine[:3, 1], d[:, 1] * sp[1], atol=atol)
    np.testing.assert_allclose(vol.affine[:3, 0], d[:, 2] * sp[2], atol=10 * atol)
    np.testing.assert_allclose(vol.origin, img.GetOrigin(), atol=10 * atol)
    if pixels:
        np.testing.assert_array_equal(vol.pixels, sitk.GetArrayFromImage(img))  # (z, y, x)
