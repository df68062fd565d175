"""A lumbar phantom with pedicles, screws placed inside and breaching by known distances, and skin at known depth.

Bodies: boxes x ±20, y -30..10 (400 HU); pedicles: cylinders of radius 4 mm
(700 HU; at z = -55 a 1.5 mm cortex of 1000 HU around a 250 HU cancellous core)
from y = 30 converging 10° toward the midline; soft tissue (40 HU)
up to the skin plane y = 70 (air beyond).  Screws: 3000 HU shank of
6.5 mm, head 11 mm wide and 8 mm long behind the entry.

=====  =====  =====================================  =====================
level  side   screw                                  expected breach
=====  =====  =====================================  =====================
z=+20  left   coaxial, 45 mm                         A
z=+20  right  offset 3.75 mm medially, 45 mm         medial 3.0 mm, C
z=-20  left   offset 2.25 mm superiorly, 40 mm       superior 1.5 mm, B
z=-20  right  coaxial, tip 5.0 mm beyond the front   anterior 5.0 mm, D
z=-55  both   no screw (for planning)                -
=====  =====  =====================================  =====================
"""

from __future__ import annotations

import numpy as np

import spine_phantom as P

SKIN_Y = 70.0
R_PED = 4.0
RS = 3.25
LEVELS = (20.0, -20.0, -55.0)
MEDIAL = np.radians(10.0)
CAUDAL_RIGHT_C = np.radians(15.0)  # the right pedicle of level z=-55 also points 15° caudally


def pedicle_axis(side: float, z: float) -> tuple[np.ndarray, np.ndarray]:
    """(start, unit direction) of a pedicle; side +1 = left (x > 0), -1 = right."""
    caudal = CAUDAL_RIGHT_C if (side < 0 and z == LEVELS[2]) else 0.0
    d = np.array([-side * np.sin(MEDIAL) * np.cos(caudal), -np.cos(MEDIAL) * np.cos(caudal), -np.sin(caudal)])
    return np.array([side * 15.0, 30.0, z]), d


def _medial_perp(side: float, d: np.ndarray) -> np.ndarray:
    m = np.cross([0.0, 0.0, 1.0], d) * side
    m = m / np.linalg.norm(m)
    return m if m[0] * side < 0 else -m


def screws() -> list[dict]:
    """The placed screws with their exact entry, tip, and expected breach."""
    out = []
    for side, z, offset, length, expect in (
        (1.0, 20.0, np.zeros(3), 45.0, ("A", None, 0.0)),
        (-1.0, 20.0, "medial", 45.0, ("C", "medial", 3.0)),
        (1.0, -20.0, np.array([0.0, 0.0, 2.25]), 40.0, ("B", "superior", 1.5)),
        (-1.0, -20.0, np.zeros(3), None, ("D", "anterior", 5.0)),
    ):
        p0, d = pedicle_axis(side, z)
        if isinstance(offset, str):
            offset = 3.75 * _medial_perp(side, d)
        entry = p0 + offset
        if length is None:  # farthest surface point 5 mm in front of the anterior wall y = -30
            tip_y = -35.0 + RS * np.sin(MEDIAL)
            length = (entry[1] - tip_y) / np.cos(MEDIAL)
        out.append({"entry": entry, "tip": entry + length * d, "axis": d, "length": length, "expect": expect})
    return out


def build(spacing=(1.1, 0.7, 0.55), rot=(8.0, -6.0, 12.0)):
    ph = P.Phantom((130, 150, 120), spacing=spacing, rot=rot, centre=(0.0, 5.0, -15.0), fill=-1000.0)
    ph.paint(P.halfspaces([((0, SKIN_Y, 0), (0, 1, 0))]), 40.0, [-70, -70, -80], [70, SKIN_Y, 50])
    for z in LEVELS:
        ph.paint(P.halfspaces(P.slab_x(20) + [((0, 10, 0), (0, 1, 0)), ((0, -30, 0), (0, -1, 0)),
                                              ((0, 0, z + 14), (0, 0, 1)), ((0, 0, z - 14), (0, 0, -1))]),
                 400.0, [-20, -30, z - 14], [20, 10, z + 14])
        for side in (1.0, -1.0):
            p0, d = pedicle_axis(side, z)
            end = p0 + 24.0 * d
            ph.paint(P.cylinder(p0, d, 24.0, R_PED), 700.0, np.minimum(p0, end) - 5, np.maximum(p0, end) + 5)
            if z == LEVELS[2]:  # the planning level: 1.5 mm cortex (1000 HU) around a cancellous core (250 HU),
                # at a 1.2 mm partial-volume ramp (a bone kernel resolves the cortex)
                ph.paint(P.cylinder(p0, d, 24.0, R_PED), 1000.0, np.minimum(p0, end) - 5, np.maximum(p0, end) + 5,
                         blur=1.2)
                ph.paint(P.cylinder(p0 + d, d, 22.0, R_PED - 1.5), 250.0, np.minimum(p0, end) - 5,
                         np.maximum(p0, end) + 5, blur=1.2)
    for s in screws():
        e, t, d = s["entry"], s["tip"], s["axis"]
        ph.paint(P.union(P.cylinder(e, d, s["length"], RS), P.cylinder(e - 8.0 * d, d, 8.0, 5.5)), 3000.0,
                 np.minimum(e - 8 * d, t) - 7, np.maximum(e - 8 * d, t) + 7)
    return ph.volume()
