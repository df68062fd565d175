"""A minimal DICOM tag walker for little endian files.

Why: pydicom's header parse costs ~0.5 ms per file, which alone is more than
the time to read a CT slice's pixels from the page cache.  This walker reads
the first few KiB of a file, records the position of every top-level element
(values stay undecoded; :meth:`RawHeader.dataset` turns them into a pydicom
``Dataset`` of ``RawDataElement`` objects that pydicom converts on first
access, exactly as after ``dcmread``) and where the Pixel Data value starts,
so that pixels can be read straight into their place in a preallocated
volume (:mod:`miss_imaging.reading._pixels`).  Files of one series usually share
their layout: a header whose layout bytes equal a template's reuses its
positions, exactly (:meth:`RawHeader.layout_key`).

It handles Part 10 files (with or without preamble) and bare data sets in
Implicit VR Little Endian and Explicit VR Little Endian, including the
encapsulated (compressed) syntaxes, whose headers are explicit little endian
too.  Anything else (big endian, deflated, malformed) returns ``None`` and
the caller falls back to ``pydicom.dcmread``.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import numpy as np
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import BaseTag

__all__ = [
    "HeaderTruncated",
    "HeaderTooDeep",
    "MAX_SEQUENCE_DEPTH",
    "RawHeader",
    "walk_header",
    "IMPLICIT_LE",
    "EXPLICIT_LE",
    "UNCOMPRESSED_LE",
]

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
UNCOMPRESSED_LE = frozenset({IMPLICIT_LE, EXPLICIT_LE})

PIXEL_DATA = 0x7FE00010
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQ_END = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
# Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2)
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
# Deeper nesting than any IOD needs (SR content trees stay well below); deeper is damaged or hostile,
# and parsing it recursively (as pydicom does) would exhaust Python's stack.
MAX_SEQUENCE_DEPTH = 64
_FIRST_READ = 8192  # bytes; typical CT/XA headers are 1-6 KiB
_HH = struct.Struct("<HH")
_I = struct.Struct("<I")
_HH2SH = struct.Struct("<HH2sH")
_HHI = struct.Struct("<HHI")


class HeaderTruncated(Exception):
    """A Part 10 file (DICM prefix) that ends in the middle of a header element."""


class HeaderTooDeep(Exception):
    """Sequences nested deeper than :data:`MAX_SEQUENCE_DEPTH` (damaged or hostile file)."""


class _Short(Exception):
    """The buffer ends inside the header: read more of the file."""


class _Malformed(Exception):
    """Not a data set this walker understands: let pydicom decide."""


@dataclass(slots=True, eq=False)
class RawHeader:
    """Top-level elements of one file up to Pixel Data, undecoded.

    Attributes
    ----------
    buf : bytes
        The first bytes of the file (at least up to the Pixel Data header).
    meta, elements : dict of int -> (VR bytes or None, value start, value length)
        File meta group (0002,xxxx) and the data set proper; positions index `buf`.
    transfer_syntax : str
        (0002,0010) TransferSyntaxUID ("" when there is no meta group).
    implicit : bool
        Implicit VR encoding of the data set.
    pixel_offset : int or None
        Byte offset of the Pixel Data *value* in the file; None without Pixel Data.
    pixel_length : int or None
        Length of that value in bytes; None when undefined (encapsulated).
    file_size : int
        Size of the file in bytes (to detect truncation without reading it).
    preamble : bool
        The file has the 128-byte preamble and ``DICM`` prefix.
    """

    buf: bytes
    meta: dict
    elements: dict
    transfer_syntax: str
    implicit: bool
    pixel_offset: int | None
    pixel_length: int | None
    pixel_vr: str | None
    file_size: int
    preamble: bool
    _layout: tuple | None = None  # (byte indices, their values, ...): see layout_key()
    walked: bool = True  # False when positions came (partly) from a template

    def layout_key(self) -> tuple:
        """Indices and values of every byte that decides where elements lie.

        These are the element headers (tag, VR, length) of the meta group and
        the data set, the transfer syntax and undefined-length sequence values
        (whose item headers decide where they end), the Pixel Data header and
        the DICM prefix.  A file whose bytes agree at these indices has, by
        induction along the chain of lengths, exactly the same element
        positions: its walk can be skipped (see ``walk_header(template=)``).
        """
        if self._layout is None:
            parts = [np.arange(128, 132)] if self.preamble else []
            for positions, implicit in ((self.meta, False), (self.elements, self.implicit)):
                for tag, (vr, start, length) in positions.items():
                    hdr = 8 if implicit or vr not in _LONG_VRS else 12
                    end = start
                    if length == _UNDEFINED or tag == 0x00020010:
                        end = _skip_undefined(self.buf, start, implicit or vr == b"UN") if length == _UNDEFINED \
                            else start + length
                    parts.append(np.arange(start - hdr, end))
            if self.pixel_offset is not None:
                hdr = 8 if self.implicit or self.pixel_vr not in ("OB", "OW", "OD", "OF", "OL", "OV", "UN") else 12
                parts.append(np.arange(self.pixel_offset - hdr, self.pixel_offset))
            idx = np.concatenate(parts) if parts else np.zeros(0, np.intp)
            # header start of each data set element, in file order, to resume a walk
            starts = [start - (8 if self.implicit or vr not in _LONG_VRS else 12)
                      for vr, start, _ in self.elements.values()]
            self._layout = (
                idx, np.frombuffer(self.buf, np.uint8)[idx].copy(), int(idx.max(initial=0)) + 1,
                np.array(starts, np.intp), list(self.elements.items()),
            )
        return self._layout

    def value(self, tag: int) -> bytes | None:
        """Raw value bytes of a top-level element, None when absent."""
        pos = self.elements.get(tag)
        if pos is None:
            return None
        return self.buf[pos[1] : pos[1] + pos[2]]

    def vr(self, tag: int) -> str | None:
        pos = self.elements.get(tag)
        return None if pos is None or pos[0] is None else pos[0].decode("ascii")

    def dataset(self) -> Dataset:
        """A pydicom Dataset of raw elements (converted by pydicom on access)."""
        ds = Dataset(_raw_elements(self.buf, self.elements, self.implicit))
        ds.file_meta = FileMetaDataset(_raw_elements(self.buf, self.meta, False))
        return ds


def _raw_elements(buf: bytes, positions: dict, implicit: bool) -> dict:
    out = {}
    for tag, (vr, start, length) in positions.items():
        btag = BaseTag(tag)
        if length == _UNDEFINED:
            # pydicom reads any undefined-length value (SQ, UN, implicit private) as
            # a sequence; UN content is implicit VR (PS3.5 6.2.2)
            end = _skip_undefined(buf, start, implicit or vr == b"UN")
            out[btag] = RawDataElement(btag, "SQ", length, buf[start:end], start, implicit or vr == b"UN", True)
        else:
            out[btag] = RawDataElement(
                btag, None if vr is None else vr.decode("ascii"), length, buf[start : start + length], start,
                implicit, True,
            )
    return out


def _skip_undefined(buf: bytes, pos: int, implicit: bool, depth: int = 1) -> int:
    """Position just after the Sequence Delimitation Item of an undefined-length value."""
    if depth > MAX_SEQUENCE_DEPTH:
        raise HeaderTooDeep(f"sequences nested more than {MAX_SEQUENCE_DEPTH} deep (at byte {pos})")
    n = len(buf)
    while True:
        if pos + 8 > n:
            raise _Short
        g, e = _HH.unpack_from(buf, pos)
        tag = (g << 16) | e
        length = _I.unpack_from(buf, pos + 4)[0]
        pos += 8
        if tag == _SEQ_END:
            return pos
        if tag != _ITEM:
            raise _Malformed(f"unexpected tag {tag:08X} inside a sequence")
        if length == _UNDEFINED:
            pos = _walk_item(buf, pos, implicit, depth)
        else:
            pos += length
            if pos > n:
                raise _Short


def _walk_item(buf: bytes, pos: int, implicit: bool, depth: int) -> int:
    """Skip the elements of an undefined-length item; position after its delimiter."""
    n = len(buf)
    while True:
        if pos + 8 > n:
            raise _Short
        g, e = _HH.unpack_from(buf, pos)
        if (g << 16) | e == _ITEM_END:
            return pos + 8
        pos, vr, length = _element_header(buf, pos, implicit)
        if length == _UNDEFINED:
            pos = _skip_undefined(buf, pos, implicit or vr == b"UN", depth + 1)
        else:
            pos += length
            if pos > n:
                raise _Short


def _element_header(buf: bytes, pos: int, implicit: bool) -> tuple[int, bytes | None, int]:
    """Parse one element header at `pos`: (value start, VR, length)."""
    if pos + 8 > len(buf):
        raise _Short
    if implicit:
        return pos + 8, None, _I.unpack_from(buf, pos + 4)[0]
    _, _, vr, length = _HH2SH.unpack_from(buf, pos)
    if vr in _LONG_VRS:
        if pos + 12 > len(buf):
            raise _Short
        return pos + 12, vr, _I.unpack_from(buf, pos + 8)[0]
    return pos + 8, vr, length


def _walk(buf: bytes, pos: int, implicit: bool, eof: bool, only_group2: bool):
    """Element positions from `pos`: (positions, pos, pixel (start, vr, length) or None).

    The loop is the hot path of scanning (one pass per element of every
    file), hence written flat with local names.
    """
    out: dict = {}
    n = len(buf)
    long_vrs = _LONG_VRS
    unpack_hh2sh = _HH2SH.unpack_from
    unpack_hhi = _HHI.unpack_from
    unpack_i = _I.unpack_from
    while True:
        if pos + 8 > n:
            if eof and pos == n:
                return out, pos, None
            raise _Short
        if only_group2 and buf[pos : pos + 2] != b"\x02\x00":
            return out, pos, None
        if implicit:
            g, e, length = unpack_hhi(buf, pos)
            vr = None
            start = pos + 8
        else:
            g, e, vr, length = unpack_hh2sh(buf, pos)
            if vr in long_vrs:
                if pos + 12 > n:
                    raise _Short
                length = unpack_i(buf, pos + 8)[0]
                start = pos + 12
            else:
                if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
                    raise _Malformed(f"invalid VR {vr!r} at byte {pos}")
                start = pos + 8
        tag = (g << 16) | e
        if tag == PIXEL_DATA:
            return out, pos, (start, vr, length)
        if g == 0xFFFE:
            raise _Malformed(f"item tag {tag:08X} at top level")
        if length == _UNDEFINED:
            end = _skip_undefined(buf, start, implicit or vr == b"UN")
        else:
            end = start + length
            if end > n:
                raise _Short
        out[tag] = (vr, start, length)
        pos = end


def _same_layout(buf: bytes, size: int, template: RawHeader) -> RawHeader | None:
    """``template``'s element positions applied to `buf` as far as its layout bytes match.

    All of them match: the positions are reused as they are.  The first
    mismatch lies in the data set: elements before it are reused and the walk
    resumes at the element holding it.  Otherwise None (walk from the start).
    """
    idx, expect, need, starts, items = template.layout_key()
    if template.pixel_offset is None or len(buf) < (idx[0] if len(idx) else 0) + 132:
        return None
    if len(buf) >= need:
        neq = np.frombuffer(buf, np.uint8, count=need)[idx] != expect
        first = int(idx[neq.argmax()]) if neq.any() else None
    else:  # the buffer ends before the template's layout does: compare what is there
        ok = idx < len(buf)
        neq = np.frombuffer(buf, np.uint8)[idx[ok]] != expect[ok]
        first = int(idx[ok][neq.argmax()]) if neq.any() else int(idx[~ok][0])
    if first is not None or template.file_size != size:
        if first is None:  # same layout, other file size: the pixel data length differs
            return None
        k = int(np.searchsorted(starts, first, side="right")) - 1  # element whose header/value holds it
        if k < 1:
            return None
        try:
            rest, _, pixel = _walk(buf, int(starts[k]), template.implicit, len(buf) >= size, only_group2=False)
        except (_Short, _Malformed, struct.error):
            return None
        if pixel is None:
            return None
        elements = dict(items[:k])
        elements.update(rest)
        start, vr, length = pixel
        return RawHeader(
            buf, template.meta, elements, template.transfer_syntax, template.implicit, start,
            None if length == _UNDEFINED else length, None if vr is None else vr.decode("ascii"), size,
            template.preamble, None, False,
        )
    return RawHeader(
        buf, template.meta, template.elements, template.transfer_syntax, template.implicit,
        template.pixel_offset, template.pixel_length, template.pixel_vr, size, template.preamble, template._layout,
        False,
    )


def walk_header(path: str | os.PathLike, template: RawHeader | None = None) -> RawHeader | None:
    """Split the header of a little endian DICOM file without decoding it.

    Returns ``None`` when the file is not something this walker handles with
    certainty (no ``DICM`` and no plausible group-0002/0008 start, big endian,
    deflated, malformed); the caller then uses pydicom.  With `template` (the
    header of a previous file, typically of the same series), a file whose
    layout bytes equal the template's reuses its element positions without
    walking (exact: see :meth:`RawHeader.layout_key`).  Raises ``OSError``
    only for I/O errors.
    """
    want = _FIRST_READ
    fd = os.open(path, os.O_RDONLY)  # plain syscalls: this runs once per file of a scan
    try:
        size = os.fstat(fd).st_size
        buf = os.read(fd, want)
        if template is not None:
            same = _same_layout(buf, size, template)
            if same is not None:
                return same
        while True:
            eof = len(buf) >= size
            try:
                return _parse(buf, eof, size)
            except _Short:
                if eof:
                    if buf[128:132] == b"DICM":
                        raise HeaderTruncated(f"the file ends inside its header ({size} bytes)") from None
                    return None
                want *= 4
                buf = os.pread(fd, want, 0)
            except (_Malformed, struct.error, UnicodeDecodeError):
                return None
    finally:
        os.close(fd)


def _parse(buf: bytes, eof: bool, size: int) -> RawHeader:
    preamble = buf[128:132] == b"DICM"
    pos = 132 if preamble else 0
    meta: dict = {}
    ts = ""
    if preamble or buf[:2] == b"\x02\x00":
        meta, pos, _ = _walk(buf, pos, implicit=False, eof=eof, only_group2=True)
        where = meta.get(0x00020010)
        if where is None:
            raise _Malformed("no transfer syntax")
        ts = buf[where[1] : where[1] + where[2]].decode("ascii", "replace").strip(" \x00")
    if not preamble and not meta:
        # Preamble-less data set: accept only a plausible start (group 0008),
        # deciding implicit/explicit by whether bytes 4-5 look like a VR.
        if buf[:2] != b"\x08\x00":
            raise _Malformed("no DICM prefix")
        ts = EXPLICIT_LE if (65 <= buf[4] <= 90 and 65 <= buf[5] <= 90) else IMPLICIT_LE
    if ts in (EXPLICIT_BE, DEFLATED_LE):
        raise _Malformed("big endian or deflated")
    implicit = ts == IMPLICIT_LE
    elements, pos, pixel = _walk(buf, pos, implicit, eof, only_group2=False)
    if pixel is None:
        return RawHeader(buf, meta, elements, ts, implicit, None, None, None, size, preamble)
    start, vr, length = pixel
    return RawHeader(
        buf,
        meta,
        elements,
        ts,
        implicit,
        start,
        None if length == _UNDEFINED else length,
        None if vr is None else vr.decode("ascii"),
        size,
        preamble,
    )
