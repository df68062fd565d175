"""``miss-imaging`` console script: view, info, snapshot, demo, deidentify.

The core never imports napari: ``view`` and the viewer part of ``demo`` run
the napari adapter in a child process (``python -m <adapter>._app``), found
through the ``napari.manifest`` entry point that the package installs
(:mod:`miss_imaging.demo.display`).  The demo itself (scene, numbers, Xvfb,
picture, SR) lives in :mod:`miss_imaging.demo`; this module only parses the
command line.

Examples
--------
::

    miss-imaging info sample_dicoms/spine_ct
    miss-imaging snapshot sample_dicoms/fluoro -o out/fluoro.png --window 2048,4096 --slice 5
    miss-imaging view sample_dicoms/spine_ct --no-teaching
    miss-imaging demo --out out/demo.png
    miss-imaging deidentify sample_dicoms/fluoro out/fluoro_anon --blank 0,0,40,200
    miss-imaging batch deidentify /pacs_export /teaching_set --workers 4
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from miss_imaging.demo.display import adapter_module
from miss_imaging.demo.scene import spacing_text
from miss_imaging.errors import MissImagingError
from miss_imaging.model import ImageVolume, Window
from miss_imaging.sharing._deid_pixels import BOX_CONVENTION

__all__ = ["main", "parse_window", "parse_box", "info_table", "UsageError"]

DEFAULT_DEMO_PNG = Path("out") / "demo.png"
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}  # snapshot -o suffix -> Pillow format


class UsageError(Exception):
    """A command line that cannot work as given (exit status 2); data problems are MissImagingError (1)."""


# -- commands ---------------------------------------------------------------------------------------------------------


def parse_box(text: str) -> tuple[int, int, int, int]:
    """``row0,col0,row1,col1`` (:data:`BOX_CONVENTION`, as printed by every command) -> the same tuple."""
    try:
        r0, c0, r1, c1 = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected row0,col0,row1,col1 pixel integers") from None
    if not (0 <= r0 < r1 and 0 <= c0 < c1):
        raise argparse.ArgumentTypeError(f"{text!r}: need 0 <= row0 < row1 and 0 <= col0 < col1 (end excluded)")
    return (r0, c0, r1, c1)


def parse_window(text: str) -> Window:
    """``NAME`` (a preset of :mod:`miss_imaging.display.presets`) or ``C,W`` in modality units."""
    parts = text.split(",")
    if len(parts) == 2:
        try:
            c, w = float(parts[0]), float(parts[1])
        except ValueError:
            raise argparse.ArgumentTypeError(f"--window {text!r}: expected NAME or CENTER,WIDTH numbers") from None
        if w < 1:
            raise argparse.ArgumentTypeError(f"--window {text!r}: width must be >= 1")
        return Window(c, w, "command line")
    from miss_imaging.display.presets import PRESETS

    key = text.strip().lower()
    for name, win in PRESETS.items():
        if name.lower() == key:
            return win
    raise argparse.ArgumentTypeError(f"--window {text!r}: unknown preset; choose from {', '.join(PRESETS)} or C,W")


NO_SERIES = "(no DICOM image series found)"


def info_table(path: str | os.PathLike[str]) -> str:
    """Scan summary: series, modality, frames, size, spacing, calibration, warnings; then every file skipped."""
    return _info(path)[0]


def _info(path: str | os.PathLike[str]) -> tuple[str, int]:
    """(:func:`info_table`'s text, number of image series whose headers load) for `path`."""
    from miss_imaging.reading.dicom_scan import scan
    from miss_imaging.reading.loader import load

    result = scan(path)
    rows = [("series", "modality", "frames", "size", "spacing", "calibration", "warnings")]
    notes: list[str] = []
    readable = 0
    for s in result:
        spacing, cal, warn, ok = "-", "-", list(s.warnings), True
        if s.kind in ("volume", "projection"):
            try:
                v = load(s, lazy=True)  # geometry from headers; pixels stay on disk
                spacing, cal = spacing_text(v), v.calibration
                warn += [w for w in v.warnings if w not in warn]
            except MissImagingError as e:
                warn.append(str(e))
                ok = False
        readable += ok
        rows.append((s.label, s.modality, str(s.n_frames), f"{s.rows}x{s.columns}", spacing, cal, str(len(warn))))
        notes += [f"{s.label}: {w}" for w in warn]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    if not result:
        lines.append(NO_SERIES)
    lines += [f"warning: {n}" for n in notes]
    lines += [f"skipped {why}" if why.startswith(str(p)) else f"skipped {p}: {why}" for p, why in result.skipped]
    return "\n".join(lines), readable


def _cmd_info(args: argparse.Namespace) -> int:
    _set_teaching(args.teaching)
    table, readable = _info(args.path)
    print(_shown(table))
    if readable == 0:  # nothing to look at is a data problem (exit 1), as for snapshot; the list above says why
        raise MissImagingError("no readable DICOM image series (see the files skipped above)", path=args.path)
    return 0


def _series_list(series: Sequence[Any]) -> str:
    return "; ".join(f"{s.label} ({s.kind}, {s.n_frames} frame(s) of {s.rows}x{s.columns}, "
                     f"e.g. {s.files[0].name})" for s in series)


def _pick_series(path: str, number: int | None) -> ImageVolume:
    from miss_imaging.reading.dicom_scan import scan
    from miss_imaging.reading.loader import load

    result = scan(path)
    images = [s for s in result if s.kind in ("volume", "projection")]
    if not images:
        why = "; ".join(r if r.startswith(str(p)) else f"{p.name}: {r}" for p, r in result.skipped[:3])
        raise MissImagingError(f"no loadable DICOM image series{': ' + why if why else ''}", path=path)
    if number is None:
        return load(images[0])
    matches = [s for s in images if s.series_number == number]
    if len(matches) > 1:  # SeriesNumber is not unique (type 2, repeated across studies): never guess
        raise UsageError(f"--series {number}: {len(matches)} series share that number: {_series_list(matches)}; "
                         "render one folder at a time")
    if not matches:
        raise UsageError(f"--series {number}: no series with that number under {path}; found "
                         f"{len(images)}: {_series_list(images)}")
    return load(matches[0])


def _image_format(output: str) -> str:
    """Pillow format for ``snapshot -o`` from its suffix (PNG or JPEG); anything else is a usage error."""
    fmt = IMAGE_FORMATS.get(Path(output).suffix.lower())
    if fmt is None:
        raise UsageError(f"-o {output}: write .png or .jpg/.jpeg (suffix {Path(output).suffix or 'missing'})")
    return fmt


def _save_image(image: Any, output: str, fmt: str) -> Path:
    from miss_imaging.display.render import save_png

    if fmt == "PNG":
        return save_png(image, output)
    from PIL import Image

    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    img = image if isinstance(image, Image.Image) else Image.fromarray(image)
    img.convert("RGB").save(out, format="JPEG", quality=95)  # no exif/comment: no metadata
    return out


def _render(vol: ImageVolume, index: int | None, **kwargs: Any) -> Any:
    """render_slice with an out-of-range ``--slice`` reported as a usage error, naming the valid range."""
    import re

    from miss_imaging.display.render import render_slice

    try:
        return render_slice(vol, index, **kwargs)
    except ValueError as e:
        if index is None or "outside" not in str(e):
            raise
        found = re.search(r"outside 0\.\.(-?\d+)", str(e))
        if not found:
            raise UsageError(f"--slice {index}: {e}") from None
        what = "slice" if vol.kind == "volume" else "frame"
        raise UsageError(f"--slice {index}: {vol.label} has {int(found.group(1)) + 1} {what}s, "
                         f"numbered 0..{found.group(1)}") from None


def _cmd_snapshot(args: argparse.Namespace) -> int:
    from miss_imaging.sharing.export import burned_in_regions

    _set_teaching(args.teaching)
    fmt = _image_format(args.output)
    vol = _pick_series(args.path, args.series)
    detected = burned_in_regions(vol) if vol.kind == "projection" else []  # files for sharing: blanked by default
    r = _render(vol, args.slice, window=args.window, blank=detected + list(args.blank or ()))
    out = _save_image(r.image, args.output, fmt)
    where = f"slice {r.slab[0]}" if vol.kind == "volume" else f"frame {r.slab[0]}"
    print(f"{out}: {vol.label}, {where}, window C {r.window.center:g} / W {r.window.width:g}, "
          f"{r.mm_per_px:.3f} {'px' if vol.calibration == 'pixels only' else 'mm'} per output pixel "
          f"({vol.calibration})")
    for w in vol.warnings:
        print(_shown(f"warning: {w}"))
    if vol.burned_in_annotation:
        print(f"warning: (0028,0301) BurnedInAnnotation = YES: {len(detected)} text region(s) detected and blanked"
              f"{f', {len(args.blank)} given with --blank' if args.blank else ''}; detection is a helper, not a "
              "guarantee: check the picture before sharing (add --blank row0,col0,row1,col1 for anything left)")
    return 0


def _shown(text: str) -> str:
    """`text` for the terminal: in teaching mode without the case's folders (see :mod:`miss_imaging.redact`)."""
    from miss_imaging.settings import get_teaching_mode

    if not get_teaching_mode():
        return text
    from miss_imaging.redact import redact_paths

    return redact_paths(text)


def _set_teaching(flag: bool | None) -> None:
    if flag is None:
        return
    from miss_imaging.settings import set_teaching_mode

    set_teaching_mode(flag)
    print(f"teaching mode {'on (no patient identifiers shown)' if flag else 'off (patient banner shown)'}")


def _cmd_view(args: argparse.Namespace) -> int:
    _set_teaching(args.teaching)
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        print("miss-imaging view: no display (DISPLAY is not set). Use `miss-imaging snapshot PATH -o out.png`, "
              "or run under `xvfb-run -a miss-imaging view PATH` for a virtual screen.", file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, "-m", adapter_module(), "view", str(args.path)])


def _cmd_demo(args: argparse.Namespace) -> int:
    from miss_imaging.demo.run import run_demo

    return run_demo(Path(args.out), headless=args.headless, no_viewer=args.no_viewer, phantom=args.phantom)


def _cmd_deidentify(args: argparse.Namespace) -> int:
    from miss_imaging.sharing.deid import DeidOptions, deidentify_series

    options = DeidOptions(retain_device_identity=args.retain_device_identity,
                          retain_institution_identity=args.retain_institution_identity,
                          retain_dates=args.retain_dates)
    try:
        report = deidentify_series(args.src, args.out, blank_regions=args.blank or None, options=options)
    except MissImagingError:
        raise
    except ValueError as e:  # the output folder (not empty, inside the source) or a rectangle: the command line
        raise UsageError(str(e)) from None
    print(_shown(report.summary()))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``miss-imaging CMD: error: ...`` and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


BOX_HELP = f"blank a pixel rectangle (burned-in text), {BOX_CONVENTION}, as every command prints it; repeatable"
# options whose value may start with "-" (a negative window centre): "--window -900,300" -> "--window=-900,300"
_NEGATIVE_OK = ("--window", "--blank", "--slice", "--series")


def _add_teaching(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teaching", dest="teaching", action="store_true", default=None,
                        help="teaching mode on: no patient identifiers or case folders shown (the default; persisted)")
    parser.add_argument("--no-teaching", dest="teaching", action="store_false",
                        help="teaching mode off: show the patient banner and full paths (clinical use; persisted)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="miss-imaging", description="Spine surgery imaging with exact DICOM geometry. "
                f"Rectangles (--blank, reports, demo) are {BOX_CONVENTION}. Exit status: 0 done, "
                "1 a data problem (file not DICOM, damaged, no image), 2 a usage problem (arguments, output).")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("view", help="open PATH in napari with the miss-imaging plugin")
    v.add_argument("path")
    _add_teaching(v)

    i = sub.add_parser("info", help="list the series under PATH (headers only)")
    i.add_argument("path")
    _add_teaching(i)

    s = sub.add_parser("snapshot", help="render one slice/frame of PATH to a PNG or JPEG, headless")
    s.add_argument("path")
    s.add_argument("-o", "--output", required=True, help="picture to write: .png, or .jpg/.jpeg (JPEG quality 95)")
    s.add_argument("--window", type=parse_window, default=None,
                   help="preset NAME or CENTER,WIDTH, e.g. -900,300 (default: file/auto)")
    s.add_argument("--slice", type=int, default=None,
                   help="axial slice (patient grid, inferior first) or frame index, from 0; default the middle")
    s.add_argument("--series", type=int, default=None,
                   help="SeriesNumber to render (default: the largest series); refused when several share it")
    s.add_argument("--blank", action="append", type=parse_box, metavar="row0,col0,row1,col1", help=BOX_HELP)
    _add_teaching(s)

    d = sub.add_parser("demo", help="the bundled lumbar CT + lateral fluoro of the same spine, measured, truth beside")
    d.add_argument("--out", default=str(DEFAULT_DEMO_PNG), help=f"PNG to write (default {DEFAULT_DEMO_PNG})")
    d.add_argument("--headless", action="store_true", help="do not open a window even if a display exists")
    d.add_argument("--no-viewer", action="store_true", help="skip napari; use the core renderer")
    d.add_argument("--phantom", choices=("lumbar", "beads"), default="lumbar",
                   help="lumbar (default): the anatomical phantom; beads: the geometric bead phantoms (core renderer)")

    x = sub.add_parser("deidentify", help="write a de-identified copy of a series (PS3.15 Annex E Basic Profile)")
    x.add_argument("src")
    x.add_argument("out", help="new or empty folder, not inside SRC")
    x.add_argument("--blank", action="append", type=parse_box, metavar="row0,col0,row1,col1",
                   help=BOX_HELP + " (replaces the automatic burned-in text detection)")
    x.add_argument("--retain-device-identity", action="store_true",
                   help="Retain Device Identity Option: keep station name, serial numbers, detector IDs")
    x.add_argument("--retain-institution-identity", action="store_true",
                   help="Retain Institution Identity Option: keep institution name and address")
    x.add_argument("--retain-dates", action="store_true",
                   help="Retain Longitudinal Temporal Information with Full Dates Option: keep dates and times")
    from miss_imaging.batch.cli import add_parser as add_batch_parser

    add_batch_parser(sub)
    return p


def _cmd_batch(args: argparse.Namespace) -> int:
    from miss_imaging.batch.cli import run

    return run(args)


def _join_negative_values(argv: Sequence[str]) -> list[str]:
    """``--window -900,300`` -> ``--window=-900,300`` (argparse takes ``-900,300`` for an option)."""
    out: list[str] = []
    tokens = list(argv)
    k = 0
    while k < len(tokens):
        tok = tokens[k]
        if tok in _NEGATIVE_OK and k + 1 < len(tokens) and tokens[k + 1][:1] == "-" and tokens[k + 1][1:2].isdigit():
            out.append(f"{tok}={tokens[k + 1]}")
            k += 2
            continue
        out.append(tok)
        k += 1
    return out


def _one_line(command: str, error: BaseException) -> str:
    """``miss-imaging CMD: message`` on one line; case folders left out in teaching mode."""
    return f"miss-imaging {command}: {_shown(' '.join(str(error).split()))}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``miss-imaging`` console script; returns the exit status.

    0 done; 1 a data problem (not DICOM, damaged, no image: :class:`MissImagingError`);
    2 a usage problem (arguments, output path: :class:`UsageError`, argparse errors).
    Every error is one line on stderr.
    """
    args = _parser().parse_args(_join_negative_values(sys.argv[1:] if argv is None else argv))
    from miss_imaging.redact import remember_case_path

    for case in (getattr(args, "path", None), getattr(args, "src", None)):
        if case:
            remember_case_path(case)  # in teaching mode none of its folders is printed
    # the commands print every loader warning themselves (with the series they belong to): keep the
    # logging/warnings copies of the same sentences off the terminal
    import logging
    import warnings

    from miss_imaging.errors import MissImagingWarning

    log = logging.getLogger("miss_imaging")
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    handler = {"view": _cmd_view, "info": _cmd_info, "snapshot": _cmd_snapshot, "demo": _cmd_demo,
               "deidentify": _cmd_deidentify, "batch": _cmd_batch}[args.command]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissImagingWarning)
            return handler(args)
    except UsageError as e:
        print(_one_line(args.command, e), file=sys.stderr)
        return 2
    except (MissImagingError, OSError) as e:  # OSError: a file that cannot be read or written (named by Python)
        print(_one_line(args.command, e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
