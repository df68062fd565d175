"""A DICOMDIR file set (PS3.10 media storage) over a small copy of two objects.

``dicomdir/`` holds a DICOMDIR and, in pydicom's ``PTxxxxxx/STxxxxxx/SExxxxxx/IMxxxxxx``
layout, a copy of the DX radiograph and a tiny 6-slice CT series.  The copies
have their own Series/SOP Instance UIDs (so that scanning all of
``sample_dicoms/`` does not see the same instance twice).
"""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.fileset import FileSet

from _common import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, uid
from _hostile import N_VALID, tiny_slice


def _radiograph_copy(out_root: Path, truth: dict) -> Dataset:
    t = truth["radiograph"]
    ds = dcmread(out_root / t["folder"] / t["file"])
    ds.SeriesInstanceUID = uid("series", "dicomdir", "radiograph")
    ds.SOPInstanceUID = uid("instance", "dicomdir", "radiograph")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesNumber = 802
    ds.SeriesDescription = "LSPINE AP STANDING (MEDIA COPY)"
    return ds


def build(out_root: Path, truth: dict) -> dict:
    """Write ``dicomdir/``; return its truth block."""
    fs = FileSet()
    fs.UID = uid("file-set", "dicomdir")
    fs.ID = "MISSPHANTOM"
    # Name this generator in the DICOMDIR's file meta instead of the installed pydicom
    # version.  FileSet has no public hook for it: pre-create its (private) DICOMDIR
    # dataset; if pydicom's internals change, pydicom's own implementation UID is used
    # and only the DICOMDIR's meta differs (the test compares its records, not its bytes).
    if hasattr(fs, "_create_dicomdir"):
        fs._ds = fs._create_dicomdir()
        fs._ds.file_meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
        fs._ds.file_meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    fs.add(_radiograph_copy(out_root, truth))
    for k in range(N_VALID):
        ds = tiny_slice("dicomdir", k)
        ds.SeriesDescription = "TINY CT (MEDIA COPY)"
        fs.add(ds)
    fs.write(out_root / "dicomdir")
    files = sorted(p.relative_to(out_root).as_posix() for p in (out_root / "dicomdir").rglob("*") if p.is_file())
    return {"dicomdir": {
        "folder": "dicomdir", "file": "DICOMDIR", "file_set_id": "MISSPHANTOM", "files": files,
        "series": {"radiograph copy": {"modality": "DX", "instances": 1},
                   "tiny CT": {"modality": "CT", "instances": N_VALID, "shape": [N_VALID, 32, 32]}},
        "note": "DICOMDIR written by pydicom.fileset.FileSet; instances referenced by ReferencedFileID",
    }}
