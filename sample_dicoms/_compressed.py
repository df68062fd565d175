"""Lossless compressed copies of the fluoroscopy cine (12 bits stored, 12 frames).

Each copy is its own series (own Series/SOP Instance UIDs, SeriesDescription
names the codec) so that a loader scanning ``compressed/`` sees four distinct
series; every copy decodes bit-identically to ``fluoro/FLUORO_XA.dcm``.

Encoders: RLE Lossless by pydicom's own encoder (pinned with
``encoding_plugin="pydicom"``), JPEG-LS Lossless by pyjpegls (CharLS), JPEG 2000
Lossless by pylibjpeg-openjpeg, JPEG Lossless SV1 (process 14) by
``_jpeg_lossless.py`` (pydicom has no encoder for it).  The third-party
encoders (CharLS, OpenJPEG) are deterministic but their exact bytes may change
between library versions, so the reproduction test compares their decoded
pixels and headers rather than their bytes.
"""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless, JPEGLosslessSV1, JPEGLSLossless, RLELossless

from _common import uid, write
from _jpeg_lossless import encode_frame

#: folder -> (transfer syntax, encoder, byte-reproducible across library versions)
CODECS = {
    "rle": (RLELossless, "pydicom", True),
    "jpeg_ls": (JPEGLSLossless, "pyjpegls (CharLS)", False),
    "jpeg2000": (JPEG2000Lossless, "pylibjpeg-openjpeg", False),
    "jpeg_lossless_sv1": (JPEGLosslessSV1, "sample_dicoms/_jpeg_lossless.py", True),
}


def _renumber(ds: Dataset, name: str, series_number: int) -> None:
    """Give the copy its own deterministic series and instance UIDs."""
    ds.SeriesInstanceUID = uid("series", "compressed", name)
    ds.SOPInstanceUID = uid("instance", "compressed", name)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesNumber = series_number
    ds.SeriesDescription = f"FLUORO LSPINE AP ({name.upper()})"
    ds.DerivationDescription = f"Lossless copy of series 5 ({name})"


def _compress(ds: Dataset, name: str) -> None:
    syntax = CODECS[name][0]
    if syntax == JPEGLosslessSV1:
        arr = ds.pixel_array
        frames = arr if arr.ndim == 3 else arr[None]
        ds.PixelData = encapsulate([encode_frame(f, int(ds.BitsStored)) for f in frames])
        elem = ds["PixelData"]
        elem.VR = "OB"
        elem.is_undefined_length = True
        ds.file_meta.TransferSyntaxUID = syntax
    elif syntax == RLELossless:
        ds.compress(syntax, encoding_plugin="pydicom", generate_instance_uid=False)
    else:
        ds.compress(syntax, generate_instance_uid=False)


def build(out_root: Path, truth: dict) -> dict:
    """Write ``compressed/<codec>/FLUORO_<CODEC>.dcm``; return the truth block."""
    source = out_root / "fluoro" / "FLUORO_XA.dcm"
    files = {}
    for number, name in enumerate(CODECS, start=51):
        ds = dcmread(source)
        _renumber(ds, name, number)
        _compress(ds, name)
        rel = Path("compressed") / name / f"FLUORO_{name.upper()}.dcm"
        write(ds, out_root / rel)
        syntax, encoder, reproducible = CODECS[name]
        files[name] = {"file": rel.as_posix(), "transfer_syntax_uid": syntax, "encoder": encoder,
                       "byte_reproducible": reproducible}
    return {"compressed": {
        "source": "fluoro/FLUORO_XA.dcm", "folder": "compressed", "copies": files,
        "note": "each copy decodes bit-identically to the source pixels; own series and SOP instance UIDs",
    }}
