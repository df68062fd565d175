"""Exception and warning types of miss-imaging.

Every error names the file and, where one is involved, the DICOM tag as
``(gggg,eeee) Keyword`` so that a user can find the problem in a dump of the
file.  The classes also derive from the builtin that fits (``ValueError``,
``OSError``) so that generic handlers keep working.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

__all__ = [
    "MissImagingError",
    "NotDicomError",
    "TruncatedFileError",
    "MalformedDicomError",
    "MissingTagError",
    "PixelDataError",
    "UnsupportedTransferSyntaxError",
    "SeriesGeometryError",
    "InconsistentSeriesError",
    "AbsurdDimensionsError",
    "MeasurementError",
    "CalibrationError",
    "SRError",
    "MissImagingWarning",
    "warn_and_log",
]

logger = logging.getLogger("miss_imaging")


class MissImagingError(Exception):
    """Base class of every error raised by miss-imaging.

    Parameters
    ----------
    message : str
        What went wrong and, where possible, how to fix it.
    path : str or Path, optional
        The file concerned; its name is prefixed to the message.
    tag : str, optional
        The DICOM tag concerned, e.g. ``"(0020,0032) ImagePositionPatient"``.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, tag: str | None = None):
        self.path = None if path is None else Path(path)
        self.tag = tag
        prefix = f"{self.path}: " if self.path is not None else ""
        super().__init__(prefix + message)


class NotDicomError(MissImagingError, ValueError):
    """The file is not a DICOM Part 10 file (nor a preamble-less data set)."""


class TruncatedFileError(MissImagingError, OSError):
    """The file ends before the data it announces."""


class MalformedDicomError(MissImagingError, ValueError):
    """The file's structure cannot be parsed (sequences nested absurdly deep, items that do not fit)."""


class MissingTagError(MissImagingError, ValueError):
    """A type 1 attribute needed for geometry or pixels is absent."""


class PixelDataError(MissImagingError, ValueError):
    """Pixel Data is absent, empty or of the wrong length."""


class UnsupportedTransferSyntaxError(MissImagingError, ValueError):
    """No installed decoder handles the file's transfer syntax."""


class SeriesGeometryError(MissImagingError, ValueError):
    """The slices of a series do not form the geometry they claim."""


class InconsistentSeriesError(SeriesGeometryError):
    """Files of one series disagree on rows/columns or other fixed attributes."""


class AbsurdDimensionsError(MissImagingError, ValueError):
    """Rows, Columns, NumberOfFrames or BitsAllocated out of any plausible range."""


class MeasurementError(MissImagingError, ValueError):
    """A measurement cannot be made (zero length, outside the image...)."""


class CalibrationError(MeasurementError):
    """A user calibration cannot be applied (zero length, length <= 0...)."""


class SRError(MissImagingError, ValueError):
    """A DICOM Structured Report cannot be written or read (not TID 1500, no evidence...)."""


class MissImagingWarning(UserWarning):
    """A problem that was handled but that the user must know about."""


_reading_mode = False


def warn_and_log(message: str, *, stacklevel: int = 2) -> None:
    """Send `message` to the ``miss_imaging`` logger and to ``warnings``.

    Both may reach a terminal (Python prints unhandled warnings and, with no
    handler configured, log records to stderr): in teaching mode the case's
    folders are left out (:func:`miss_imaging.redact.redact_paths`).
    """
    global _reading_mode
    if _reading_mode:  # reading the mode warned (corrupt settings file): the outer call reports the same problem
        return
    from miss_imaging.redact import redact_paths
    from miss_imaging.settings import get_teaching_mode

    _reading_mode = True
    try:
        teaching = get_teaching_mode()
    finally:
        _reading_mode = False
    if teaching:
        message = redact_paths(message)
    logger.warning(message)
    warnings.warn(message, MissImagingWarning, stacklevel=stacklevel + 1)
