"""Measurement in mm and the calibration each value rests on.

:mod:`.measure` (distances, paths, angles, Cobb, profiles), :mod:`.calibration` (what a
projection pixel's size rests on, PS3.3 10.7.1.3; user calibration), :mod:`.measurements_io`
(CSV/JSON).  Generic measurements go here; spine-specific answers live in
:mod:`miss_imaging.spine`.
"""
