"""The one way synthetic DICOM data sets are built: phantoms, tests and benchmarks.

The phantom generator (``generate.py``), the test writers
(``tests/loader_factory.py``, ``tests/_deid_fixtures.py``) and the benchmark
data (``benchmarks/_data.py``) all build their files from these pieces, so
that the File Meta, the SOP Common and the Image Pixel module (PS3.3 C.7.6.3)
are written one way.  Each caller adds its own identifiers and geometry.

Nothing here is random: a caller that needs reproducible bytes passes fixed
UIDs (the phantoms do), one that does not may pass ``generate_uid()``.
Importable as a top-level module (``sample_dicoms/`` on ``sys.path``:
the generator runs from that folder, ``tests/conftest.py`` and
``benchmarks/_data.py`` add it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

__all__ = ["file_meta", "new_dataset", "image_pixel", "item", "sequence", "write"]


def file_meta(sop_class: str, sop_instance: str, *, transfer_syntax: str = ExplicitVRLittleEndian,
              implementation_uid: str | None = None, implementation_version: str | None = None) -> FileMetaDataset:
    """File Meta Information (PS3.10 7.1); without an implementation UID pydicom writes its own."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = transfer_syntax
    if implementation_uid is not None:
        meta.ImplementationClassUID = implementation_uid
    if implementation_version is not None:
        meta.ImplementationVersionName = implementation_version
    return meta


def new_dataset(sop_class: str, sop_instance: str, *, modality: str, series_uid: str, **meta: Any) -> Dataset:
    """A data set with File Meta (keywords of :func:`file_meta`), SOP Class/Instance, Modality and Series UID."""
    ds = Dataset()
    ds.file_meta = file_meta(sop_class, sop_instance, **meta)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    return ds


def image_pixel(ds: Dataset, rows: int, cols: int, *, bits_stored: int = 12, signed: bool = False,
                photometric: str = "MONOCHROME2", bits_allocated: int = 16, frames: int | None = None) -> None:
    """Set the Image Pixel module of a grayscale image (PS3.3 C.7.6.3): one sample, HighBit = BitsStored - 1.

    `frames` also sets (0028,0008) NumberOfFrames (multi-frame objects).
    """
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = int(rows), int(cols)
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if frames is not None:
        ds.NumberOfFrames = frames


def item(**attributes: Any) -> Dataset:
    """One sequence item with the given attributes (keywords)."""
    d = Dataset()
    for keyword, value in attributes.items():
        setattr(d, keyword, value)
    return d


def sequence(*items: Dataset) -> Sequence:
    """A sequence of the given items."""
    return Sequence(list(items))


def write(ds: Dataset, path: Path) -> Path:
    """Write `ds` as a DICOM Part 10 file (preamble, ``DICM``, file meta); encoding follows its transfer syntax."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dcmwrite(path, ds, enforce_file_format=True)
    return path
