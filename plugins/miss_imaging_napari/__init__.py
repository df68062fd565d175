"""napari adapter for miss-imaging: reader, layers, widgets and sample data.

Thin by design: it turns core :mod:`miss_imaging` objects into napari layers
and user actions into core calls.  Qt and napari are imported by the
submodules the manifest names, never here.
"""

__version__ = "0.1.0"

__all__ = ["open_mpr"]


def open_mpr(viewer, layer=None, fluoro=None):  # type: ignore[no-untyped-def]
    """Open the linked MPR workspace on a CT layer; see :func:`miss_imaging_napari._mpr_workspace.open_mpr`.

    Returns the :class:`~miss_imaging_napari._mpr_workspace.MPRWorkspace` (``.viewports``,
    ``.set_point(lps_mm)``, ``.point_lps``, ``.close()``); `fluoro`: a fluoroscopy layer for
    its own viewport (default: the top one, if any).  Imported lazily: this
    package's import stays free of Qt and napari.
    """
    from ._mpr_workspace import open_mpr as _open

    return _open(viewer, layer, fluoro)
