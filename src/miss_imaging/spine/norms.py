"""Published normal ranges and thresholds for the spine measurements, with their sources.

Each :class:`NormalRange` says what it is, where it comes from and how a value
is flagged.  The README's "Spine tools" section lists the same sources.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NormalRange", "DISC_HEIGHT", "POSTERIOR_DISC_HEIGHT", "FORAMINAL_HEIGHT", "CANAL_AP",
           "LORDOSIS_L1_S1_STANDING", "LORDOSIS_L1_S1_RECUMBENT", "LORDOSIS_L4_S1_STANDING",
           "meyerding_grade", "gertzbein_robbins_grade", "stenosis_grade"]


@dataclass(frozen=True)
class NormalRange:
    """A published normal range: values outside ``[low, high]`` are flagged.

    Attributes
    ----------
    name : str
        What the range is for.
    low, high : float or None
        Bounds in `unit` (None = unbounded on that side).
    unit : str
        ``"mm"``, ``"deg"``...
    source : str
        The publication (authors, journal, year, doi/PMC id).
    flag_low, flag_high : str
        The words for a value below `low` / above `high`.
    """

    name: str
    low: float | None
    high: float | None
    unit: str
    source: str
    flag_low: str = "below normal"
    flag_high: str = "above normal"

    def flag(self, value: float) -> str | None:
        """The flag text when `value` lies outside the range, else None."""
        if self.low is not None and value < self.low:
            return f"{self.name}: {value:.1f} {self.unit} {self.flag_low} (< {self.low:g} {self.unit}; {self.source})"
        if self.high is not None and value > self.high:
            return f"{self.name}: {value:.1f} {self.unit} {self.flag_high} (> {self.high:g} {self.unit}; {self.source})"
        return None

    @property
    def text(self) -> str:
        """``"6.0–11.6 mm (source)"``."""
        lo = "" if self.low is None else f"{self.low:g}"
        hi = "" if self.high is None else f"{self.high:g}"
        return f"{lo}–{hi} {self.unit} ({self.source})"


_SPAHN = "Spahn 2024, doi:10.1055/a-1994-0879 (lumbar 8.8 ± 1.4 mm, mean ± 2 SD; method-dependent)"
_HASEGAWA = "Hasegawa et al., JBJS Am 1995;77:32-38"
_FRAMINGHAM = "Kalichman et al., Framingham CT study, Spine J 2009 (PMC3775665)"
_LORDOSIS = "PMC6680033 (standing vs recumbent; mean ± 2 SD)"

#: middle (Hurxthal) lumbar disc height: 8.8 ± 1.4 mm -> mean ± 2 SD
DISC_HEIGHT = NormalRange("disc height (middle)", 6.0, 11.6, "mm", _SPAHN)
#: posterior disc height <= 4 mm: nerve-root compression likely
POSTERIOR_DISC_HEIGHT = NormalRange("posterior disc height", 4.0, None, "mm", _HASEGAWA,
                                    flag_low="root compression likely")
#: foraminal height <= 15 mm: nerve-root compression likely
FORAMINAL_HEIGHT = NormalRange("foraminal height", 15.0, None, "mm", _HASEGAWA, flag_low="root compression likely")
#: bony canal AP < 12 mm relative, < 10 mm absolute stenosis
CANAL_AP = NormalRange("canal AP", 12.0, None, "mm", _FRAMINGHAM, flag_low="stenosis")
#: lumbar lordosis standing 49.8 ± 11.2°, recumbent 36.8 ± 13.2° (T12/L1-S1)
LORDOSIS_L1_S1_STANDING = NormalRange("lordosis L1-S1 standing", 27.4, 72.2, "deg", _LORDOSIS)
LORDOSIS_L1_S1_RECUMBENT = NormalRange("lordosis L1-S1 recumbent", 10.4, 63.2, "deg", _LORDOSIS)
LORDOSIS_L4_S1_STANDING = NormalRange("lordosis L4-S1 standing", 17.6, 50.8, "deg", _LORDOSIS)


def stenosis_grade(ap_mm: float) -> str:
    """``"absolute"`` below 10 mm, ``"relative"`` below 12 mm, else ``"none"`` (Framingham CT)."""
    return "absolute" if ap_mm < 10.0 else "relative" if ap_mm < 12.0 else "none"


def meyerding_grade(percent: float) -> str:
    """Meyerding grade of a slip in %: I ≤ 25, II ≤ 50, III ≤ 75, IV ≤ 100, V > 100; negative: retrolisthesis."""
    if percent < 0:
        return "retrolisthesis"
    for limit, grade in ((25.0, "I"), (50.0, "II"), (75.0, "III"), (100.0, "IV")):
        if percent <= limit:
            return grade
    return "V"


def gertzbein_robbins_grade(distance_mm: float) -> str:
    """Modified Gertzbein–Robbins: A 0; B < 2 mm; C 2 to < 4; D 4 to < 6; E ≥ 6 (Springer 10.1007/s11701-024-02001-w)."""
    if distance_mm <= 0:
        return "A"
    for limit, grade in ((2.0, "B"), (4.0, "C"), (6.0, "D")):
        if distance_mm < limit:
            return grade
    return "E"
