"""Display: VOI windowing to the DICOM standard, window presets and headless rendering.

:mod:`.window` (PS3.3 C.11.2 windows and LUTs), :mod:`.presets` (spine presets, the file's
own windows, automatic windows), :mod:`.render` (one windowed slice or frame to RGB/PNG with
scale bar, orientation letters and measurement overlays).  Anything that turns modality
values into display values goes here.
"""
