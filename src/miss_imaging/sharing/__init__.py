"""Sharing: everything that leaves the tool for someone else.

:mod:`.deid` (PS3.15 Annex E de-identification, with :mod:`._deid_table`,
:mod:`._deid_pixels`, :mod:`._identifiers`, :mod:`.burned_in`), :mod:`.export`
(annotated PNG figures, cine GIFs), :mod:`.session` (reopen a prepared case).
DICOM objects written for sharing (SR, Secondary Capture, Key Objects) and batch
runs over an archive build on these.
"""
