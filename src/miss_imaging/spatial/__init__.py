"""Geometry in patient space: slice affines, resampling and reslicing on exact grids.

:mod:`.geometry` (ImageOrientation/Position to affines, PS3.3 C.7.6.2.1.1),
:mod:`.resampling` (new spacing, patient-aligned grids), :mod:`.reslicing` (oblique
planes, slabs), with the shared kernels in :mod:`._interp`.  New views of a volume
(planes, trajectories, MPR viewport geometry) go here.
"""
