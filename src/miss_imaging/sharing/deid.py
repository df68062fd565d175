"""De-identified export of a DICOM series (PS3.15 Annex E, Basic Profile).

What :func:`deidentify_series` does to every image object, in order:

1. Applies the actions of Table E.1-1 listed in
   :data:`miss_imaging.sharing._deid_table.TABLE_E1_1` (``X`` remove, ``Z`` empty,
   ``D`` dummy, ``U`` new UID, ``C`` clean), recursively inside sequences,
   modified by the options of :class:`DeidOptions`.
2. Removes every private attribute, the curve (50xx) and overlay (60xx)
   groups and the Icon Image Sequence (burned-in thumbnails).
3. Replaces every UID that is not a registered DICOM UID (SOP classes,
   transfer syntaxes and coding schemes are kept) by
   ``2.25.<HMAC-SHA-256(salt, uid) as a 128-bit integer>``: the same input
   UID gives the same new UID everywhere in one export, so series, frame of
   reference and references stay consistent.  The salt is random per export
   (unlinkable across exports) unless :attr:`DeidOptions.uid_salt` is given,
   which makes the mapping deterministic (e.g. to export the CT and the fluoro
   of one study separately into one shared study).
4. Empties every remaining Person Name (PN) value, and removes any remaining
   free-text value (LO, SH, LT, ST, UT, UC, PN) or date that contains one of
   the object's own identifiers (names, IDs, accession, birth date in common
   formats, institution): a guard against identifiers typed into fields that
   the profile keeps.
5. Records PatientIdentityRemoved (0012,0062) = YES, DeidentificationMethod
   (0012,0063), DeidentificationMethodCodeSequence (0012,0064) with the CID
   7050 codes of the profile and options used, and
   LongitudinalTemporalInformationModified (0028,0303).

Geometry, calibration and timing attributes are not in the table and are kept
unchanged: PixelSpacing, ImagerPixelSpacing, PixelSpacingCalibrationType/
Description, SID/SOD/ERMF, ImagePositionPatient, ImageOrientationPatient,
the functional groups of enhanced objects, FrameTime/FrameTimeVector,
positioner angles, rescale and window attributes.  Pixel data are copied
byte for byte (compressed stays compressed) unless regions are blanked, in
which case the frames are decoded, blanked and re-encoded uncompressed
(Explicit VR Little Endian).  Burned-in annotation (0028,0301) = YES is
reported, and by default the text found in such objects
(:mod:`miss_imaging.sharing.burned_in`) is blanked (Clean Pixel Data option); the
caller may name the rectangles instead, or none.

Source files are only ever opened for reading; the output folder must be
empty (or absent) and must not lie inside the source folder.  Output files
are named ``IM00001.dcm`` ... (source names may carry identifiers).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID

from miss_imaging import __version__
from miss_imaging.sharing._deid_pixels import BOX_CONVENTION, blank_regions_in, ensure_writable_syntax, format_box, normalize_regions
from miss_imaging.sharing._deid_table import TABLE_E1_1
from miss_imaging.sharing._identifiers import find_identifiers, identifier_variants, patient_identifiers
from miss_imaging.reading._structure import check_sequences, parse_failure, pydicom_warnings_named
from miss_imaging.reading.dicom_scan import read_header
from miss_imaging.errors import MissImagingError, NotDicomError, PixelDataError

__all__ = [
    "IDENTIFYING_KEYWORDS",
    "DeidOptions",
    "DeidReport",
    "UIDMapper",
    "deidentify_dataset",
    "deidentify_series",
    "identifier_variants",
    "find_identifiers",
    "patient_identifiers",
]

#: Keywords of every attribute Table E.1-1 removes, empties or replaces
#: (patient, study, visit, staff, institution, device, dates, instance UIDs).
IDENTIFYING_KEYWORDS: frozenset[str] = frozenset(row[0] for row in TABLE_E1_1)

_RULES: dict[int, tuple[str, str, str, str]] = {tag_for_keyword(r[0]): r for r in TABLE_E1_1}  # type: ignore[misc]

# UIDs kept as they are: they name classes and syntaxes, not instances
_KEEP_UID_KEYWORDS = frozenset(
    {
        "SOPClassUID",
        "ReferencedSOPClassUID",
        "MediaStorageSOPClassUID",
        "TransferSyntaxUID",
        "ImplementationClassUID",
        "ReferencedTransferSyntaxUIDInFile",
        "ReferencedSOPClassUIDInFile",
        "CodingSchemeUID",
        "ContextUID",
        "MappingResourceUID",
    }
)
_FREE_TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UT", "UC", "PN"})
_DATE_VRS = frozenset({"DA", "DT"})
# dummy values for action D, by VR (obviously artificial, valid for the VR)
_DUMMY = {
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "PN": "ANONYMIZED",
    "LO": "ANONYMIZED",
    "SH": "ANONYMIZED",
    "CS": "ANONYMIZED",
    "UC": "ANONYMIZED",
    "LT": "ANONYMIZED",
    "ST": "ANONYMIZED",
    "UT": "ANONYMIZED",
    "AE": "ANONYMIZED",
}

# CID 7050 De-identification Methods (coding scheme DCM)
_CODES = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "pixels": ("113101", "Clean Pixel Data Option"),
    "descriptors": ("113105", "Clean Descriptors Option"),
    "dates": ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    "device": ("113109", "Retain Device Identity Option"),
    "institution": ("113112", "Retain Institution Identity Option"),
}



@dataclass(frozen=True)
class DeidOptions:
    """Profile options (PS3.15 E.3).  The defaults are the Basic Profile plus Clean Descriptors.

    Attributes
    ----------
    retain_device_identity : bool
        Retain Device Identity Option: keep station name, serial numbers,
        detector/plate/cassette IDs.  Off by default: a serial number names
        the hospital that owns the device.
    retain_institution_identity : bool
        Retain Institution Identity Option: keep institution name/address.
    retain_dates : bool
        Retain Longitudinal Temporal Information with Full Dates Option.
        Off by default (study, series, content and acquisition dates/times
        removed or set to 19000101 / 000000).  Frame timing (FrameTime,
        FrameTimeVector) is never affected.
    clean_descriptors : bool
        Clean Descriptors Option: keep Study/Series Description, Protocol
        Name, Contrast/Bolus Agent and similar technical descriptions when
        they contain none of the object's own identifiers (removed otherwise).
        On by default: teaching needs "CT lumbar spine" more than it risks
        it; a description typed with *another* person's name cannot be
        detected, which is why the option is recorded in the output.
    uid_salt : bytes or None
        Secret for the UID mapping; None = random per export.
    """

    retain_device_identity: bool = False
    retain_institution_identity: bool = False
    retain_dates: bool = False
    clean_descriptors: bool = True
    uid_salt: bytes | None = None

    def retained(self) -> frozenset[str]:
        """Names of the table options that keep attributes (``device``, ``dates``...)."""
        on = {
            "device": self.retain_device_identity,
            "institution": self.retain_institution_identity,
            "dates": self.retain_dates,
        }
        return frozenset(k for k, v in on.items() if v)


@dataclass
class DeidReport:
    """What :func:`deidentify_series` did.

    Attributes
    ----------
    files_written : list of Path
        Output files, in input order.
    uid_map_size : int
        Number of distinct UIDs replaced (the map itself is never written).
    burned_in_annotation : bool
        True when any source object has BurnedInAnnotation (0028,0301) = YES.
    burned_in_files : list of Path
        The output files concerned (check them visually or blank regions).
    blanked_regions : tuple of (row0, col0, row1, col1)
        Rectangles given by the caller, set to display-black in every frame
        of every image.
    auto_regions : dict of Path -> tuple of (row0, col0, row1, col1)
        Burned-in text found by :func:`miss_imaging.sharing.burned_in.detect_text_regions`
        and blanked, per output file (``blank_regions=None`` on objects with
        BurnedInAnnotation = YES).
    removed, emptied, replaced : dict of str -> int
        ``"(gggg,eeee) Keyword"`` -> number of elements removed (X), emptied
        (Z) or given a dummy value (D), summed over files and sequences.
    private_removed, overlay_curve_removed, uids_replaced : int
    scrubbed : dict of str -> int
        Elements removed because they held one of the object's identifiers
        although the profile keeps them.
    skipped : list of (Path, str)
        Input files not exported and why (not DICOM, DICOMDIR, no pixels).
    options : DeidOptions
    method : list of str
        The DeidentificationMethod (0012,0063) values written.
    warnings : list of str
    """

    files_written: list[Path] = field(default_factory=list)
    uid_map_size: int = 0
    burned_in_annotation: bool = False
    burned_in_files: list[Path] = field(default_factory=list)
    blanked_regions: tuple[tuple[int, int, int, int], ...] = ()
    auto_regions: dict[Path, tuple[tuple[int, int, int, int], ...]] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    emptied: dict[str, int] = field(default_factory=dict)
    replaced: dict[str, int] = field(default_factory=dict)
    private_removed: int = 0
    overlay_curve_removed: int = 0
    uids_replaced: int = 0
    scrubbed: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    options: DeidOptions = field(default_factory=DeidOptions)
    method: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines for a status bar, a log or the CLI."""
        lines = [
            f"{len(self.files_written)} file(s) written, {self.uid_map_size} UID(s) replaced consistently",
            f"removed {sum(self.removed.values())}, emptied {sum(self.emptied.values())}, "
            f"dummy {sum(self.replaced.values())}, private {self.private_removed}, "
            f"overlay/curve {self.overlay_curve_removed}, scrubbed {sum(self.scrubbed.values())}",
        ]
        if self.burned_in_annotation:
            n = len(self.burned_in_files)
            if self.blanked_regions:
                lines.append(f"BurnedInAnnotation = YES in {n} file(s): {len(self.blanked_regions)} given region(s) "
                             "blanked; check the images before sharing")
            missed = [f for f in self.burned_in_files if f not in self.auto_regions]
            if self.auto_regions:
                boxes = sorted({b for regs in self.auto_regions.values() for b in regs})
                lines.append(f"burned-in text found and blanked in {len(self.auto_regions)} file(s) "
                             f"({BOX_CONVENTION}: {' '.join(format_box(b) for b in boxes)}); "
                             "check the images before sharing")
            if missed and not self.blanked_regions:
                lines.append(
                    f"WARNING: BurnedInAnnotation = YES in {len(missed)} file(s) where no text was found "
                    "automatically: text may be in the pixels and was NOT removed; give blank_regions"
                )
        if self.skipped:
            lines.append(f"{len(self.skipped)} file(s) skipped")
        lines.extend(self.warnings)
        return "\n".join(lines)


class UIDMapper:
    """Replace UIDs consistently: same input, same output, within one mapper.

    ``new = "2.25." + int(HMAC-SHA-256(salt, old)[:16])`` (PS3.5 B.2: a
    128-bit integer under the 2.25 root, at most 44 characters).

    Parameters
    ----------
    salt : bytes, optional
        Secret key; random (32 bytes) when omitted, so that two exports of
        the same data cannot be linked through their UIDs.
    """

    def __init__(self, salt: bytes | None = None):
        self._salt = secrets.token_bytes(32) if salt is None else bytes(salt)
        self._map: dict[str, str] = {}

    def __call__(self, uid: str) -> str:
        uid = str(uid).strip().rstrip("\x00")
        new = self._map.get(uid)
        if new is None:
            digest = hmac.new(self._salt, uid.encode("ascii", "replace"), hashlib.sha256).digest()
            new = "2.25." + str(int.from_bytes(digest[:16], "big"))
            self._map[uid] = new
        return new

    def __len__(self) -> int:
        return len(self._map)


# ---------------------------------------------------------------------------
# one data set


@dataclass
class _Context:
    options: DeidOptions
    uids: UIDMapper
    identifiers: set[str]
    report: DeidReport
    _pattern: re.Pattern[str] | None = None

    def contains_identifier(self, text: str) -> bool:
        if not self.identifiers:
            return False
        if self._pattern is None:
            alts = sorted((re.escape(i) for i in self.identifiers), key=len, reverse=True)
            self._pattern = re.compile("|".join(alts), re.IGNORECASE)
        return bool(self._pattern.search(text))


def _tag_name(elem: DataElement) -> str:
    kw = elem.keyword or keyword_for_tag(elem.tag) or "Unknown"
    return f"({elem.tag.group:04X},{elem.tag.element:04X}) {kw}"


def _count(d: dict[str, int], key: str) -> None:
    d[key] = d.get(key, 0) + 1


def _empty(elem: DataElement) -> None:
    if elem.VR == "SQ":
        elem.value = DicomSequence([])
    else:  # zero-length value; binary numbers cannot hold "" and take None
        elem.value = None if elem.VR in ("US", "SS", "UL", "SL", "FL", "FD") else ""


def _text_of(elem: DataElement) -> str:
    v = elem.value
    if v is None:
        return ""
    if isinstance(v, (list, tuple, pydicom.multival.MultiValue)):
        return "\\".join(str(x) for x in v)
    if isinstance(v, bytes):
        return v.decode("latin-1", "replace")
    return str(v)


def _is_overlay_or_curve(tag: int) -> bool:
    group = tag >> 16
    return (0x5000 <= group <= 0x501E or 0x6000 <= group <= 0x601E) and group % 2 == 0


def _process(ds: Dataset, ctx: _Context) -> None:
    report = ctx.report
    retained = ctx.options.retained()
    for elem in list(ds):
        tag = int(elem.tag)
        if elem.tag.is_private:
            del ds[elem.tag]
            report.private_removed += 1
            continue
        if _is_overlay_or_curve(tag):
            del ds[elem.tag]
            report.overlay_curve_removed += 1
            continue
        rule = _RULES.get(tag)
        name = _tag_name(elem)
        if rule is not None:
            _kw, _code, action, option = rule
            if option in retained:
                action = "K"
            elif option == "descriptors" and ctx.options.clean_descriptors:
                action = "X" if ctx.contains_identifier(_text_of(elem)) else "K"
            if action == "X":
                del ds[elem.tag]
                _count(report.removed, name)
                continue
            if action == "Z":
                _empty(elem)
                _count(report.emptied, name)
                continue
            if action == "D":
                if elem.VR == "SQ":
                    _empty(elem)
                else:
                    elem.value = _DUMMY.get(elem.VR, "")
                _count(report.replaced, name)
                continue
            # K, U and U* fall through to the general rules (U: UID mapping below)
        if elem.VR == "SQ":
            for item in elem.value or []:
                _process(item, ctx)
            continue
        if elem.VR == "UI":
            _map_uid(elem, ctx)
            continue
        if elem.VR == "PN" and elem.value not in (None, ""):
            _empty(elem)
            _count(report.emptied, name)
            continue
        if elem.VR in _FREE_TEXT_VRS or elem.VR in _DATE_VRS:
            if ctx.contains_identifier(_text_of(elem)):
                del ds[elem.tag]
                _count(report.scrubbed, name)


def _map_uid(elem: DataElement, ctx: _Context) -> None:
    if elem.keyword in _KEEP_UID_KEYWORDS or elem.value in (None, ""):
        return
    values = list(elem.value) if isinstance(elem.value, (list, pydicom.multival.MultiValue)) else [elem.value]
    new = []
    for v in values:
        uid = UID(str(v))
        if uid.is_valid and uid.name != str(uid):  # registered in PS3.6 Annex A: a class, not an instance
            new.append(str(uid))
        else:
            new.append(ctx.uids(str(uid)))
            ctx.report.uids_replaced += 1
    elem.value = new if len(new) > 1 else new[0]


def _method(options: DeidOptions, blanked: bool) -> tuple[list[str], list[str]]:
    keys = ["basic"]
    if blanked:
        keys.append("pixels")
    if options.clean_descriptors:
        keys.append("descriptors")
    keys += sorted(options.retained())
    text = [f"miss-imaging {__version__}: PS3.15 E.1 Basic Profile"]
    text += [_CODES[k][1][:64] for k in keys[1:]]
    return keys, text


def deidentify_dataset(
    ds: Dataset,
    *,
    options: DeidOptions | None = None,
    uids: UIDMapper | None = None,
    report: DeidReport | None = None,
    blanked: bool = False,
) -> Dataset:
    """De-identify one data set **in place** and return it.

    Parameters
    ----------
    ds : pydicom Dataset
        A copy you own (``deidentify_series`` reads a fresh one per file).
    options : DeidOptions, optional
    uids : UIDMapper, optional
        Share one mapper between the files of an export.
    report : DeidReport, optional
        Accumulates the counts.
    blanked : bool
        True when pixel regions were blanked (records the Clean Pixel Data
        Option code).
    """
    options = options or DeidOptions()
    uids = uids if uids is not None else UIDMapper(options.uid_salt)
    report = report if report is not None else DeidReport(options=options)
    ctx = _Context(options, uids, patient_identifiers(ds), report)
    if "InstitutionName" in ds and options.retain_institution_identity:
        ctx.identifiers -= identifier_variants([str(ds.InstitutionName)])
    meta = getattr(ds, "file_meta", None)
    _process(ds, ctx)

    keys, text = _method(options, blanked)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = text
    items = []
    for k in keys:
        item = Dataset()
        item.CodeValue, item.CodeMeaning = _CODES[k]
        item.CodingSchemeDesignator = "DCM"
        items.append(item)
    ds.DeidentificationMethodCodeSequence = items
    ds.LongitudinalTemporalInformationModified = "UNMODIFIED" if options.retain_dates else "REMOVED"
    report.method = text

    new_meta = FileMetaDataset()
    new_meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", getattr(meta, "MediaStorageSOPClassUID", ""))
    new_meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "")
    ts = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    new_meta.TransferSyntaxUID = ts or ExplicitVRLittleEndian
    new_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    new_meta.ImplementationVersionName = f"MISSIMG_{__version__}"[:16]
    ds.file_meta = new_meta
    ds.preamble = b"\x00" * 128  # a preamble may hold another format's header (dual-personality files)
    return ds


# ---------------------------------------------------------------------------
# a series


def _source_files(src: Any) -> tuple[list[Path], list[Path]]:
    """(files, folders that must not contain the output)."""
    files = getattr(src, "files", None)  # ImageVolume or SeriesInfo
    if files is not None:
        paths = [Path(f) for f in files]
        return paths, sorted({p.parent for p in paths})
    if isinstance(src, (str, Path)):
        p = Path(src)
        if p.is_dir():
            return sorted(f for f in p.rglob("*") if f.is_file()), [p]
        if p.is_file():
            return [p], [p.parent]
        raise FileNotFoundError(f"{p}: no such file or folder")
    paths = [Path(f) for f in src]
    return paths, sorted({p.parent for p in paths})


def _check_out_dir(out_dir: Path, roots: list[Path], files: list[Path]) -> None:
    out = out_dir.resolve()
    for root in roots:
        r = root.resolve()
        if out == r or out.is_relative_to(r):
            raise ValueError(f"{out_dir}: the output folder must not be inside the source folder {root}")
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"{out_dir}: exists and is not a folder")
        if any(out.iterdir()):
            raise ValueError(f"{out_dir}: the output folder must be empty (exports are never merged or overwritten)")
    resolved = {f.resolve() for f in files}
    if any(out == f or f.is_relative_to(out) for f in resolved):
        raise ValueError(f"{out_dir}: the output folder contains source files")


def _export_one(ds: Dataset, path: Path, target: Path, regions: tuple[tuple[int, int, int, int], ...] | None,
                options: DeidOptions, uids: UIDMapper, report: DeidReport) -> None:
    if not hasattr(ds, "file_meta") or "TransferSyntaxUID" not in ds.file_meta:
        # no file meta (raw data set): pydicom read it as implicit VR little endian
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if ds.is_implicit_VR else ExplicitVRLittleEndian
    burned = str(ds.get("BurnedInAnnotation", "")).upper() == "YES"
    auto = regions is None
    if auto:
        regions = ()
        if burned:
            from miss_imaging.sharing.burned_in import detect_text_regions

            regions = tuple(detect_text_regions(ds.pixel_array, bits_stored=int(ds.get("BitsStored", 16))))
            if regions:
                report.auto_regions[target] = regions
    if regions:
        blank_regions_in(ds, regions, path)
    else:
        ensure_writable_syntax(ds)
    deidentify_dataset(ds, options=options, uids=uids, report=report, blanked=bool(regions))
    # dcmwrite (not save_as) so that a big endian source can be written little endian
    pydicom.dcmwrite(target, ds, enforce_file_format=True)
    report.files_written.append(target)
    if burned:
        report.burned_in_annotation = True
        report.burned_in_files.append(target)


def deidentify_series(
    src: Any,
    out_dir: str | Path,
    *,
    blank_regions: Iterable[Sequence[int]] | None = None,
    options: DeidOptions | None = None,
    series_uid: str | None = None,
) -> DeidReport:
    """Write a de-identified copy of a series (PS3.15 Annex E Basic Profile).

    Parameters
    ----------
    src : str, Path, list of paths, ImageVolume or SeriesInfo
        A DICOM file, a folder (searched recursively), a list of files, or a
        loaded volume / scanned series (its ``files``).  Only read.
    out_dir : str or Path
        Empty or new folder, not inside the source folder.  Receives
        ``IM00001.dcm``, ``IM00002.dcm`` ... in input order.
    blank_regions : iterable of (row0, col0, row1, col1), or None
        Clean Pixel Data option.  ``None`` (default, privacy by default): in
        every object flagged BurnedInAnnotation = YES, the text found by
        :func:`miss_imaging.sharing.burned_in.detect_text_regions` is blanked (and
        listed in ``report.auto_regions``); other objects are untouched.  A
        list: these pixel-index rectangles (0-based, end excluded) in every
        frame of every image, and nothing automatic.  ``()``: no blanking at
        all (the report then warns about each flagged object).  Blanked
        objects are stored uncompressed; the others keep their pixel bytes.
    options : DeidOptions, optional
        Profile options; see :class:`DeidOptions` for the defaults.
    series_uid : str, optional
        Export only this SeriesInstanceUID from `src`.

    Returns
    -------
    DeidReport

    Raises
    ------
    ValueError
        If `out_dir` is inside the source folder or not empty, or a region
        is malformed.
    NotDicomError
        If `src` holds no exportable DICOM image.
    """
    options = options or DeidOptions()
    regions = None if blank_regions is None else normalize_regions(blank_regions)
    files, roots = _source_files(src)
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, roots, files)
    report = DeidReport(options=options, blanked_regions=regions or ())
    uids = UIDMapper(options.uid_salt)

    # pass 1, headers only: which files are images of the wanted series
    chosen: list[Path] = []
    for path in files:
        if path.name.upper() == "DICOMDIR":
            report.skipped.append((path, "DICOMDIR (a directory record full of identifiers; not an image)"))
            continue
        try:
            # the loader's header check: not DICOM, truncated, empty or wrong-length Pixel Data -> skipped
            read_header(path)
            head = pydicom.dcmread(path, force=True, stop_before_pixels=True)
            check_sequences(head, path)  # every sequence is copied: damaged or absurdly deep ones are named now
        except Exception as exc:  # unreadable, truncated, not DICOM
            report.skipped.append((path, str(parse_failure(exc, path))))
            continue
        if "Rows" not in head or ("SOPClassUID" not in head and "SOPInstanceUID" not in head):
            report.skipped.append((path, "not a DICOM image (no Rows or SOP attributes)"))
            continue
        if series_uid is not None and str(head.get("SeriesInstanceUID", "")) != series_uid:
            continue
        chosen.append(path)
    if not chosen:
        what = "no DICOM image to export" + (f" with SeriesInstanceUID {series_uid}" if series_uid else "")
        if report.skipped and series_uid is None:
            what += f" ({len(report.skipped)} file(s) skipped; first: {report.skipped[0][1]})"
        raise NotDicomError(what, path=Path(src) if isinstance(src, (str, Path)) else None)

    # pass 2: one file at a time (never the whole series in memory); on failure remove what was written
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        for path in chosen:
            try:
                ds = pydicom.dcmread(path, force=True)
                if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
                    report.skipped.append((path, "no pixel data (not an image object)"))
                    continue
                target = out_dir / f"IM{len(report.files_written) + 1:05d}.dcm"
                original = functools.partial(pydicom.dcmread, path, force=True, stop_before_pixels=True)
                with pydicom_warnings_named(path, original) as named:
                    _export_one(ds, path, target, regions, options, uids, report)
                report.warnings.extend(m for m in named if m not in report.warnings)
            except (MissImagingError, KeyboardInterrupt):
                raise
            except Exception as exc:  # noqa: BLE001 - pydicom's many types on a damaged file: named instead
                raise parse_failure(exc, path) from exc
    except BaseException:
        for f in report.files_written:
            f.unlink(missing_ok=True)
        if created:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    if not report.files_written:
        if created:
            shutil.rmtree(out_dir, ignore_errors=True)
        first = report.skipped[0] if report.skipped else None
        raise PixelDataError("no DICOM image to export: no file has (7FE0,0010) Pixel Data"
                             + (f" (first skipped: {first[0].name}: {first[1]})" if first else ""),
                             path=Path(src) if isinstance(src, (str, Path)) else None, tag="(7FE0,0010) PixelData")
    report.uid_map_size = len(uids)
    if report.burned_in_annotation and not regions and len(report.auto_regions) < len(report.burned_in_files):
        report.warnings.append(
            "BurnedInAnnotation = YES: identifying text may be in the pixels; export again with blank_regions"
        )
    return report
