"""napari adapter for miss-imaging: reader, layers, widgets and sample data.

Thin by design: it turns core :mod:`miss_imaging` objects into napari layers
and user actions into core calls.  Qt and napari are imported by the
submodules the manifest names, never here.
"""

__version__ = "0.1.0"
