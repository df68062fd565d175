"""Spine tools benchmark (issue 15): find_screws, breach, canal, plan_screw on a 512x512x300 CT.

Input: a 512x512x300 int16 axial CT, 0.7 x 0.7 mm pixels, 1.0 mm slices
(157 MB), soft tissue (40 HU) with seeded noise (SD 20 HU) inside a skin
plane, air outside; three vertebral bodies (400 HU) each with two pedicles
(700 HU), a fourth with a posterior arch enclosing a canal; four screws (3000 HU,
6.5 mm shank, head) in the upper two levels, one breaching medially.

Group "spine tools 512x512x300 CT":

* limit kernel: one thresholded pass over the volume (``np.greater(vol,
  2000, out=mask)``): the least any whole-volume metal search must read.
* ``find_screws`` (slab threshold + components on the metal's bounding box).
* reference: the textbook way, ``scipy.ndimage.label`` of the whole-volume
  mask + ``find_objects`` + per-object PCA (no length/diameter refinement).
* ``breach`` (one screw), ``canal`` (one seed), ``plan_screw`` (entry/target
  in an empty pedicle; the drag path: the midline estimate is cached per
  level), ``snap_corners`` (4 corners), ``access_plan``.

Goals: find_screws, breach, canal each < 1 s; plan_screw <= 50 ms.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Row, interleaved, peak_extra_mb  # noqa: E402

from miss_imaging.model import ImageVolume  # noqa: E402
from miss_imaging.spine import access_plan, breach, canal, find_screws, plan_screw, snap_corners  # noqa: E402

SHAPE = (300, 512, 512)
SPACING = (1.0, 0.7, 0.7)
ORIGIN = np.array([-179.2, -179.2, -150.0])  # LPS of voxel (0, 0, 0): x, y, z
LEVELS = (40.0, 0.0, -40.0)
CANAL_Z = -80.0
GROUP = "spine tools 512x512x300 CT"


def _grid(lo, hi):
    """Index box and LPS coordinate arrays (z, y, x broadcastable) for the LPS box [lo, hi]."""
    lo_i = np.floor((np.asarray(lo)[::-1] - ORIGIN[::-1]) / SPACING).astype(int) - 2
    hi_i = np.ceil((np.asarray(hi)[::-1] - ORIGIN[::-1]) / SPACING).astype(int) + 3
    lo_i, hi_i = np.clip(lo_i, 0, SHAPE), np.clip(hi_i, 0, SHAPE)
    box = tuple(slice(a, b) for a, b in zip(lo_i, hi_i))
    z = ORIGIN[2] + np.arange(box[0].start, box[0].stop)[:, None, None] * SPACING[0]
    y = ORIGIN[1] + np.arange(box[1].start, box[1].stop)[None, :, None] * SPACING[1]
    x = ORIGIN[0] + np.arange(box[2].start, box[2].stop)[None, None, :] * SPACING[2]
    return box, x, y, z


def _max(*arrays):
    return functools.reduce(np.maximum, arrays)


def _paint(vol, sd, hu, lo, hi):
    box, x, y, z = _grid(lo, hi)
    f = np.clip(0.5 - sd(x, y, z) / 1.5, 0, 1)
    sub = vol[box].astype(np.float32)
    vol[box] = np.round(sub + (hu - sub) * f).astype(np.int16)


def _cyl(p0, d, length, radius):
    def sd(x, y, z):
        dx, dy, dz = x - p0[0], y - p0[1], z - p0[2]
        a = dx * d[0] + dy * d[1] + dz * d[2]
        rho = np.sqrt(np.maximum((dx - a * d[0]) ** 2 + (dy - a * d[1]) ** 2 + (dz - a * d[2]) ** 2, 0))
        return np.maximum(np.maximum(rho - radius, -a), a - length)
    return sd


def pedicle(side, z):
    d = np.array([-side * np.sin(np.radians(10)), -np.cos(np.radians(10)), 0.0])
    return np.array([side * 15.0, 30.0, z]), d


def build() -> ImageVolume:
    rng = np.random.default_rng(0)
    vol = np.full(SHAPE, -1000, np.int16)
    for k0 in range(0, SHAPE[0], 50):  # soft tissue with noise, skin at y = 70 mm
        y = ORIGIN[1] + np.arange(SHAPE[1]) * SPACING[1]
        slab = (40 + rng.normal(0, 20, (min(50, SHAPE[0] - k0), SHAPE[1], SHAPE[2]))).astype(np.int16)
        slab[:, y > 70.0, :] = -1000
        vol[k0:k0 + 50] = slab
    for z in LEVELS + (CANAL_Z,):
        _paint(vol, lambda x, y, zz, z=z: _max(np.abs(x) - 20, y - 10, -30 - y, np.abs(zz - z) - 14),
               400, (-20, -30, z - 14), (20, 10, z + 14))
    for z in LEVELS:
        for side in (1, -1):
            p0, d = pedicle(side, z)
            _paint(vol, _cyl(p0, d, 24, 4.0), 700, p0 + 24 * d - 5, p0 + 5)
    # posterior arch at its own level: a bone ring around the canal (AP 15 mm, width 22 mm) behind the body
    ring = lambda x, y, zz: _max(np.hypot(x / 19, (y - 20.5) / 15.5) - 1, np.abs(zz - CANAL_Z) - 10) * 12
    _paint(vol, ring, 600, (-19, 5, CANAL_Z - 10), (19, 36, CANAL_Z + 10))
    canal_sd = lambda x, y, zz: (np.hypot(x / 11, (y - 20.5) / 7.5) - 1) * 9
    _paint(vol, canal_sd, 20, (-11, 13, CANAL_Z - 10), (11, 28, CANAL_Z + 10))
    for z in LEVELS[:2]:
        for side in (1, -1):
            p0, d = pedicle(side, z)
            off = np.array([-side * 3.75, 0, 0]) if (z, side) == (LEVELS[1], -1) else np.zeros(3)
            e = p0 + off
            shaft = _cyl(e, d, 45, 3.25)
            head = _cyl(e - 8 * d, d, 8, 5.5)
            _paint(vol, lambda x, y, zz: np.minimum(shaft(x, y, zz), head(x, y, zz)), 3000,
                   np.minimum(e - 8 * d, e + 45 * d) - 7, np.maximum(e - 8 * d, e + 45 * d) + 7)
    affine = np.eye(4)
    affine[:3, :3] = np.diag([SPACING[2], SPACING[1], SPACING[0]])[:, ::-1]  # columns: k->z, j->y, i->x
    affine[:3, 3] = ORIGIN
    return ImageVolume(vol, SPACING, affine, "volume", modality="CT")


def _reference_find(vol: np.ndarray) -> int:
    lab, n = ndimage.label(vol > 2000, structure=np.ones((3, 3, 3), bool))
    count = 0
    for sl in ndimage.find_objects(lab):
        pts = np.argwhere(lab[sl] > 0).astype(float)
        np.linalg.svd(pts - pts.mean(axis=0), full_matrices=False)
        count += 1
    return count


def run(workdir: Path, rounds: int) -> list[Row]:
    vol = build()
    mask = np.empty(SHAPE, bool)
    screws = find_screws(vol)
    worst = max(screws, key=lambda s: breach(vol, s).distance_mm)
    p0, d = pedicle(1, LEVELS[2])
    corners = np.array([[0, -30, LEVELS[0] + 14], [0, 10, LEVELS[0] + 14], [0, 10, LEVELS[0] - 14],
                        [0, -30, LEVELS[0] - 14]]) + [0.0, 1.2, -1.0]
    fns = {
        "limit: one thresholded pass (np.greater, out=)": lambda: np.greater(vol.pixels, 2000, out=mask),
        "find_screws": lambda: find_screws(vol),
        "reference: whole-volume ndimage.label + find_objects + PCA": lambda: _reference_find(vol.pixels),
        "breach (one screw)": lambda: breach(vol, worst),
        "canal (one seed)": lambda: canal(vol, [0.5, 21.0, CANAL_Z + 2.0]),
        "plan_screw (drag update)": lambda: plan_screw(vol, p0, p0 + 42.0 * d),
        "snap_corners (4 corners)": lambda: snap_corners(vol, corners),
        "access_plan": lambda: access_plan(vol, p0, p0 + [0, 10.0, 0]),
    }
    kinds = {"limit: one thresholded pass (np.greater, out=)": "limit",
             "reference: whole-volume ndimage.label + find_objects + PCA": "reference"}
    plan = plan_screw(vol, p0, p0 + 42.0 * d)
    notes = {
        "find_screws": f"{len(screws)} screws; lengths {', '.join(f'{s.length_mm:.1f}' for s in screws)} mm "
                       f"(true 45.0); diameters {', '.join(f'{s.diameter_mm:.2f}' for s in screws)} (true 6.50)",
        "breach (one screw)": "worst: {0.direction} {0.distance_mm:.2f} mm, grade {0.grade} (true medial 3.0, C)"
                              .format(breach(vol, worst)),
        "canal (one seed)": "AP {0.ap_mm:.2f} mm (true 15.0), area {0.area_mm2:.1f} mm2 (true {1:.1f})"
                            .format(canal(vol, [0.5, 21.0, CANAL_Z + 2.0]), np.pi * 7.5 * 11),
        "plan_screw (drag update)": f"isthmus {plan.pedicle_width_mm:.2f} mm (true 8.0), "
                                    f"{plan.suggested_diameter_mm} x {plan.suggested_length_mm:.0f} mm; goal <= 50 ms",
        "access_plan": "depth {0.depth_mm:.2f} mm (true 40.0)".format(access_plan(vol, p0, p0 + [0, 10.0, 0])),
    }
    times = interleaved(fns, rounds)
    return [Row(GROUP, name, times[name], peak_extra_mb(fn), kinds.get(name, "impl"), notes.get(name, ""))
            for name, fn in fns.items()]


if __name__ == "__main__":
    for row in run(Path("."), 3):
        print(f"{row.name:60s} {row.median_s * 1000:9.1f} ms  {row.peak_extra_mb:7.1f} MB  {row.note}")
