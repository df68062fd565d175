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
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset

from miss_imaging.reading._fastread import MAX_SEQUENCE_DEPTH
from miss_imaging.errors import (
    MalformedDicomError,
    MissImagingError,
    MissImagingWarning,
    PixelDataError,
    TruncatedFileError,
    warn_and_log,
)

__all__ = ["parse_failure", "check_sequences", "tag_name", "pydicom_warnings_named"]

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


_INVALID_VALUE = re.compile(r"Invalid value for VR (\w\w): '(.*?)'")
_SEE_ALSO = re.compile(r"\s*Please see <[^>]*> for allowed values for each VR\.?")


def _tag_with_value(ds: Dataset | None, vr: str, value: str) -> str | None:
    """The top-level element of `ds` with this VR whose value reads `value` (pydicom's warning names none)."""
    for tag, elem in (ds._dict.items() if ds is not None else ()):
        raw = elem.value
        shown = raw.decode("latin-1", "replace") if isinstance(raw, bytes) else str(raw)
        if elem.VR in (vr, None) and shown.strip(" \x00") == value:
            return tag_name(int(tag))
    return None


@contextmanager
def pydicom_warnings_named(path: str | Path, ds: Dataset | Callable[[], Dataset] | None = None
                           ) -> Iterator[list[str]]:
    """Re-issue pydicom's own warnings raised inside the block as project warnings naming the file and tag.

    pydicom warns about invalid values (``Invalid value for VR UI: '1.2.3.abc'``)
    from inside site-packages, naming neither the file nor the element; here
    each becomes a :class:`~miss_imaging.errors.MissImagingWarning` such as
    ``f0001.dcm: (0020,0052) FrameOfReferenceUID: invalid value for VR UI '1.2.3.abc'``.
    `ds` is where the element is looked up by its value (a callable is called
    only when needed, e.g. to re-read a header the block modifies).
    Other warnings pass through unchanged.  Yields the list that receives the
    re-issued messages when the block ends (e.g. for a volume's ``warnings``).
    """
    named: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield named
    for w in caught:
        module = (w.filename or "").replace("\\", "/")
        if issubclass(w.category, MissImagingWarning) or "/pydicom/" not in module:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
            continue
        text = _SEE_ALSO.sub("", str(w.message)).strip()
        found = _INVALID_VALUE.search(text)
        if found:
            if callable(ds):
                ds = ds()
            tag = _tag_with_value(ds, found.group(1), found.group(2))
            text = f"{tag + ': ' if tag else ''}invalid value for VR {found.group(1)} '{found.group(2)}'"
        message = f"{Path(path).name}: {text} (pydicom)"
        if message not in named:
            named.append(message)
            warn_and_log(message, stacklevel=3)
