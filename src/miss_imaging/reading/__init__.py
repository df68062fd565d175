"""Reading DICOM into an :class:`~miss_imaging.model.ImageVolume`.

The path from a folder to pixels, in the order a reader follows it:
:mod:`.dicom_scan` finds files and reads headers (:mod:`._fastread`, :mod:`._header`);
:mod:`.series` groups and orders them into series and stacks (:mod:`.enhanced` for
multi-frame objects); :mod:`.loader` builds the volume, decoding pixels with
:mod:`._pixels` and descriptive attributes with :mod:`._attributes`.
New readers (a format, a modality's ordering rule) go here.
"""
