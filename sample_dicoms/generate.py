"""Generate the miss-imaging sample phantoms and their truth.json.

Usage::

    python sample_dicoms/generate.py [OUTDIR]      # default: the folder of this script

Deterministic (fixed seeds, fixed UIDs/dates, no network): running it twice
gives byte-identical files.  See README.md beside this script for what each
object is and for the truth.json schema.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the helper modules live beside this script
    sys.path.insert(0, str(HERE))

import _compressed  # noqa: E402
import _ct  # noqa: E402
import _dicomdir  # noqa: E402
import _hostile  # noqa: E402
import _lumbar_ct  # noqa: E402
import _lumbar_fluoro  # noqa: E402
import _projection  # noqa: E402
from _common import PATIENT, rounded, strict_validation  # noqa: E402

#: Generated sub-folders (everything else in OUTDIR is left alone).
OUTPUTS = ("spine_ct", "spine_ct_enhanced", "fluoro", "radiograph", "compressed", "hostile", "dicomdir",
           "lumbar_ct", "lumbar_fluoro")


def _clean(out: Path) -> None:
    """Remove previously generated outputs so that stale files cannot survive."""
    import shutil

    for name in OUTPUTS:
        if (out / name).exists():
            shutil.rmtree(out / name)
    (out / "truth.json").unlink(missing_ok=True)


def generate(out: Path) -> dict:
    """Write every phantom under ``out`` and return the truth dictionary."""
    out.mkdir(parents=True, exist_ok=True)
    _clean(out)
    truth: dict = {"schema_version": 1, "generator": "sample_dicoms/generate.py"}
    with strict_validation():
        truth.update(_ct.build(out))
        for module in (_projection, _compressed, _hostile, _dicomdir):
            truth.update(module.build(out, truth))
        truth.update(_lumbar_ct.build(out))
        truth.update(_lumbar_fluoro.build(out, truth["lumbar_ct"]))
    truth["patient"] = dict(PATIENT)
    text = json.dumps(rounded(truth), indent=1) + "\n"
    (out / "truth.json").write_text(text)
    return truth


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else HERE
    generate(out)
    print(f"wrote phantoms and truth.json to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
