"""Analytic solids in patient LPS mm for the anatomical phantom.

Every solid answers ``sdf(points)``: a *signed lower bound* of the distance to its
surface (negative inside, exact sign, ``|sdf|`` never larger than the true
distance), so that voxels with ``|sdf|`` above half a voxel diagonal are safely
all inside or all outside and only the others need supersampling.  ``lo``/``hi``
bound the solid (LPS mm) for cropping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

INF = 1e9


def _box_bounds(c: np.ndarray, u: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ext = np.abs(u) @ half
    return c - ext, c + ext


class Solid:
    """Base class: ``sdf`` (signed lower bound, mm) and bounds ``lo``, ``hi`` (LPS mm)."""

    lo: np.ndarray
    hi: np.ndarray

    def sdf(self, p: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def inside(self, p: np.ndarray) -> np.ndarray:
        return self.sdf(p) < 0


@dataclass
class Box(Solid):
    """Oriented box: centre ``c``, axes = columns of ``u``, half sizes ``half`` (mm)."""

    c: np.ndarray
    u: np.ndarray
    half: np.ndarray

    def __post_init__(self) -> None:
        self.c, self.half = np.asarray(self.c, float), np.asarray(self.half, float)
        self.lo, self.hi = _box_bounds(self.c, self.u, self.half)

    def sdf(self, p: np.ndarray) -> np.ndarray:
        d = np.abs((p - self.c) @ self.u) - self.half
        outside = np.linalg.norm(np.maximum(d, 0.0), axis=-1)
        return outside + np.minimum(d.max(axis=-1), 0.0)


@dataclass
class EllipticCylinder(Solid):
    """Elliptic cylinder: centre ``c``; cross-section semi-axes ``a`` along ``u[:, 0]`` and
    ``b`` along ``u[:, 1]``; axis ``u[:, 2]`` with half length ``half_length`` (mm)."""

    c: np.ndarray
    u: np.ndarray
    a: float
    b: float
    half_length: float

    def __post_init__(self) -> None:
        self.c = np.asarray(self.c, float)
        self.lo, self.hi = _box_bounds(self.c, self.u, np.array([self.a, self.b, self.half_length]))

    def sdf(self, p: np.ndarray) -> np.ndarray:
        q = (p - self.c) @ self.u
        radial = (np.hypot(q[..., 0] / self.a, q[..., 1] / self.b) - 1.0) * min(self.a, self.b)
        return np.maximum(radial, np.abs(q[..., 2]) - self.half_length)


@dataclass
class Ellipsoid(Solid):
    """Ellipsoid: centre ``c``, semi-axes ``s`` along the columns of ``u`` (mm)."""

    c: np.ndarray
    u: np.ndarray
    s: np.ndarray

    def __post_init__(self) -> None:
        self.c, self.s = np.asarray(self.c, float), np.asarray(self.s, float)
        self.lo, self.hi = _box_bounds(self.c, self.u, self.s)

    def sdf(self, p: np.ndarray) -> np.ndarray:
        q = ((p - self.c) @ self.u) / self.s
        return (np.linalg.norm(q, axis=-1) - 1.0) * self.s.min()


@dataclass
class HalfSpace(Solid):
    """Points with ``(p - point) . normal <= 0`` (``normal`` unit, pointing outward)."""

    point: np.ndarray
    normal: np.ndarray

    def __post_init__(self) -> None:
        self.point = np.asarray(self.point, float)
        self.normal = np.asarray(self.normal, float) / np.linalg.norm(self.normal)
        self.lo, self.hi = np.full(3, -INF), np.full(3, INF)

    def sdf(self, p: np.ndarray) -> np.ndarray:
        return (p - self.point) @ self.normal


@dataclass
class Intersection(Solid):
    """Intersection of solids; bounds are those of the tightest member."""

    parts: list[Solid] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lo = np.max([s.lo for s in self.parts], axis=0)
        self.hi = np.min([s.hi for s in self.parts], axis=0)

    def sdf(self, p: np.ndarray) -> np.ndarray:
        out = self.parts[0].sdf(p)
        for s in self.parts[1:]:
            out = np.maximum(out, s.sdf(p))
        return out


@dataclass
class ScrewShank(Solid):
    """Screw shank: radius ``r`` from ``entry`` to ``tip - taper`` along the axis, then a cone
    to radius ``r_tip`` at ``tip`` (mm)."""

    entry: np.ndarray
    tip: np.ndarray
    r: float
    taper: float
    r_tip: float

    def __post_init__(self) -> None:
        self.entry, self.tip = np.asarray(self.entry, float), np.asarray(self.tip, float)
        self.length = float(np.linalg.norm(self.tip - self.entry))
        self.axis = (self.tip - self.entry) / self.length
        self.lo = np.minimum(self.entry, self.tip) - self.r
        self.hi = np.maximum(self.entry, self.tip) + self.r
        self._cos = np.cos(np.arctan2(self.r - self.r_tip, self.taper))

    def radius_at(self, t: np.ndarray) -> np.ndarray:
        """Outer radius (mm) at distance ``t`` (mm) from the entry along the axis."""
        start = self.length - self.taper
        frac = np.clip((t - start) / self.taper, 0.0, 1.0)
        return self.r - (self.r - self.r_tip) * frac

    def sdf(self, p: np.ndarray) -> np.ndarray:
        d = p - self.entry
        t = d @ self.axis
        rho = np.linalg.norm(d - t[..., None] * self.axis, axis=-1)
        radial = (rho - self.radius_at(t)) * self._cos
        return np.maximum(radial, np.maximum(-t, t - self.length))
