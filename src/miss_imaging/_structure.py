"""Turn pydicom's parse failures into the project's errors, and check sequence structure up front.

pydicom parses a sequence only when it is first accessed, recursively, and
reports damage as a bare ``OSError("No tag to read at file position …")``,
``EOFError`` or ``RecursionError`` (a sequence nested thousands deep).  These
helpers name the file, the tag and the byte offset instead, and
:func:`check_sequences` makes such damage surface when the header is read
rather than later, deep inside a load or an export.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset

from ._fastread import MAX_SEQUENCE_DEPTH
from .errors import MalformedDicomError, MissImagingError, PixelDataError, TruncatedFileError

__all__ = ["parse_failure", "check_sequences", "tag_name"]

_NO_TAG = re.compile(r"No tag to read at file position ([0-9A-Fa-f]+)")
_TAG_IN_TEXT = re.compile(r"\(([0-9A-Fa-f]{4}),\s*([0-9A-Fa-f]{4})\)")


def tag_name(tag: int) -> str:
    """``(gggg,eeee) Keyword`` (keyword left out for private or unknown tags)."""
    text = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    keyword = keyword_for_tag(tag)
    return f"{text} {keyword}" if keyword else text


def parse_failure(exc: BaseException, path: str | Path, tag: str | None = None) -> MissImagingError:
    """The project error for a failure raised while pydicom parsed `path`.

    Parameters
    ----------
    exc : BaseException
        What pydicom (or a decoder) raised; project errors are returned as they are.
    path : str or Path
        The file being parsed.
    tag : str, optional
        ``(gggg,eeee) Keyword`` of the element being converted, when known;
        otherwise a tag quoted in pydicom's message is used.
    """
    if isinstance(exc, MissImagingError):
        return exc
    text = str(exc)
    if tag is None and (found := _TAG_IN_TEXT.search(text)):
        tag = f"({found.group(1).upper()},{found.group(2).upper()})"
    where = f" in {tag}" if tag else ""
    if isinstance(exc, RecursionError):
        return MalformedDicomError(f"sequences nested too deeply to parse{where}; the file is damaged or hostile",
                                   path=path, tag=tag)
    if found_offset := _NO_TAG.search(text):
        offset = int(found_offset.group(1), 16)
        return TruncatedFileError(f"truncated or damaged{where}: a sequence item expected at byte offset {offset} "
                                  f"(0x{offset:X}) is missing", path=path, tag=tag)
    if isinstance(exc, (EOFError, struct.error)) or "end of file" in text.lower():
        return TruncatedFileError(f"truncated{where}: the data ends early ({text})", path=path, tag=tag)
    if "pixel data" in text.lower():
        return PixelDataError(f"(7FE0,0010) Pixel Data cannot be used ({text})", path=path,
                              tag=tag or "(7FE0,0010) PixelData")
    return MalformedDicomError(f"cannot be parsed{where} ({type(exc).__name__}: {text})", path=path, tag=tag)


def _is_sequence(ds: Dataset, tag: int) -> bool:
    vr = getattr(ds.get_item(tag), "VR", None)  # raw elements of implicit VR files carry none
    if vr is None:
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            return False
    return vr == "SQ"


def check_sequences(ds: Dataset, path: str | Path, max_depth: int = MAX_SEQUENCE_DEPTH) -> None:
    """Parse every sequence of `ds` (iteratively, one level at a time) and check its nesting depth.

    Raises
    ------
    MalformedDicomError
        Sequences nested deeper than `max_depth`, or an item pydicom cannot parse.
    TruncatedFileError
        A sequence that ends before its items (the byte offset is named).
    """
    stack: list[tuple[Dataset, int]] = [(ds, 1)]
    while stack:
        current, depth = stack.pop()
        for tag in list(current.keys()):
            if not _is_sequence(current, tag):
                continue
            if depth > max_depth:
                raise MalformedDicomError(f"sequences nested more than {max_depth} deep (at {tag_name(tag)}); "
                                          "the file is damaged or hostile", path=path, tag=tag_name(tag))
            try:
                items = current[tag].value
            except Exception as exc:  # noqa: BLE001 - pydicom raises many types (and RecursionError) on damage
                raise parse_failure(exc, path, tag_name(tag)) from None
            stack.extend((item, depth + 1) for item in items)
