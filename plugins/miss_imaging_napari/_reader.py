"""napari reader: DICOM folders, DICOMDIR, ``.dcm`` and extension-less files.

:func:`get_reader` is cheap and silent (it reads at most 132 bytes of a few
files and never raises); the function it returns is loud: every loader
warning becomes a napari notification, and a path with nothing loadable
gives one error notification naming the file and the problem, after which
napari stays usable (the reader returns napari's "nothing to add" sentinel
``[(None,)]`` instead of raising into napari's traceback dialog).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from miss_imaging.errors import MissImagingWarning
from miss_imaging.redact import remember_case_path

from ._layers import NOTE_KEY, VOLUME_KEY, layer_data, resample_notice

__all__ = ["get_reader", "read_dicom", "looks_like_dicom", "attach_viewer_tools", "mixed_axis_note", "PROGRESS_BYTES"]

PathOrPaths = str | list[str]
LayerData = tuple[Any, ...]

#: Above this many decoded bytes (estimated from the headers) a load takes
#: about a second or more, so a progress bar is shown.
PROGRESS_BYTES = 64 * 2**20

_MAX_PROBE_FILES = 64  # a folder counts as DICOM if one of its first files does
_NULL_LAYER = [(None,)]  # npe2/napari: "read fine, nothing to add" (no error dialog)


def _probe_file(path: Path) -> bool:
    """True when the file starts like DICOM: Part 10 preamble or a bare data set."""
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    if len(head) == 132 and head[128:132] == b"DICM":
        return True
    # preamble-less data set (PS3.10 7.1 allows none on media only; seen in the wild):
    # starts with a little-endian group 0002 or 0008 element tag
    return len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00") and head[2:4] < b"\x00\x10"


def _candidate_files(folder: Path) -> Iterator[Path]:
    """Files under `folder`, breadth-first, at most two levels deep."""
    level = [folder]
    for _depth in range(3):
        nxt = []
        for d in level:
            try:
                entries = sorted(os.scandir(d), key=lambda e: e.name)
            except OSError:
                continue
            for e in entries:
                if e.name.startswith("."):
                    continue
                if e.is_file():
                    yield Path(e.path)
                elif e.is_dir():
                    nxt.append(Path(e.path))
        level = nxt


def looks_like_dicom(path: str | os.PathLike[str]) -> bool:
    """Cheap check: a DICOM file, a DICOMDIR, or a folder holding one. Never raises."""
    try:
        p = Path(path)
        if p.is_dir():
            if (p / "DICOMDIR").is_file():
                return True
            for i, f in enumerate(_candidate_files(p)):
                if i >= _MAX_PROBE_FILES:
                    return False
                if _probe_file(f):
                    return True
            return False
        return p.is_file() and (p.name.upper() == "DICOMDIR" or _probe_file(p))
    except Exception:  # a reader probe must never raise (napari tries every plugin)
        return False


def claims(path: str | os.PathLike[str]) -> bool:
    """Whether the reader takes `path`: DICOM-looking, or a folder / ``.dcm``-named file that no other reader wants.

    A folder without DICOM (other than a ``.zarr`` store) and a ``.dcm``,
    ``.dicom`` or ``DICOMDIR`` file that is not DICOM are taken too, so that
    :func:`read_dicom` says what was found there (the core's NotDicomError
    message) instead of napari's bare "refused the file".  Other non-DICOM
    files (PNG, TIFF ...) are left to napari's readers.  Never raises.
    """
    try:
        p = Path(path)
        if looks_like_dicom(p):
            return True
        if p.is_dir():
            return p.suffix.lower() != ".zarr"
        return p.is_file() and (p.suffix.lower() in (".dcm", ".dicom") or p.name.upper() == "DICOMDIR")
    except Exception:  # a reader probe must never raise (napari tries every plugin)
        return False


def get_reader(path: PathOrPaths) -> Callable[[PathOrPaths], list[LayerData]] | None:
    """npe2 reader contribution: :func:`read_dicom` when the reader :func:`claims` `path`, else None."""
    first = path[0] if isinstance(path, (list, tuple)) and path else path
    if not isinstance(first, (str, os.PathLike)):
        return None
    return read_dicom if claims(first) else None


# -- feedback ---------------------------------------------------------------------------------------------------------


def _notify(kind: str, message: str) -> None:
    from napari.utils import notifications

    from ._teaching import strip_folders

    # teaching mode: case folders are often named after the patient
    message = strip_folders(message)
    {"info": notifications.show_info, "warning": notifications.show_warning, "error": notifications.show_error}[kind](
        message
    )


_MAX_WARNINGS_SHOWN = 6  # per series; the Series browser lists them all


def _show_warnings(label: str, messages: list[str]) -> None:
    seen: list[str] = []
    for m in messages:
        if m not in seen:
            seen.append(m)
    for m in seen[:_MAX_WARNINGS_SHOWN]:
        _notify("warning", f"{label}: {m}")
    if len(seen) > _MAX_WARNINGS_SHOWN:
        _notify("warning", f"{label}: {len(seen) - _MAX_WARNINGS_SHOWN} more warnings (see the Series browser).")


def _scale_bar_on(viewer: Any) -> None:
    """Show napari's scale bar (it reads "mm" because every layer carries mm units)."""
    viewer.canvas.overlays["scale_bar"].visible = True


def mixed_axis_note(viewer: Any, volumes: list[Any]) -> str | None:
    """Warning text when `volumes` (and the layers already in `viewer`) disagree on what axis 0 is.

    A CT's axis 0 is z in patient mm, a fluoroscopy run's is the frame number:
    napari has one slider per world axis, so in one viewer at most one of them
    is on screen at any slider position (z of -600 mm is no frame) and frames
    are stepped by the CT's slice spacing.  None when they all agree.
    """
    present: dict[str, str] = {}
    for layer in viewer.layers if viewer is not None else ():
        md = getattr(layer, "metadata", {})
        vol = md.get(VOLUME_KEY)
        if vol is not None and "miss_imaging_plane" not in md and getattr(vol, "kind", None) in ("volume", "projection"):
            present.setdefault(vol.kind, vol.label)
    for vol in volumes:  # against the viewer's layers and the series read before it (a DICOMDIR may hold both)
        other = "projection" if vol.kind == "volume" else "volume"
        if vol.kind in ("volume", "projection"):
            present.setdefault(vol.kind, vol.label)
        if other in present:
            ct, proj = (vol.label, present[other]) if vol.kind == "volume" else (present[other], vol.label)
            return (f"{ct} (slider: z in mm) and {proj} (slider: frame number) share napari's one slider in this "
                    "window: at most one of them is on screen at a time and frames step by the CT's slice spacing. "
                    "Open one of them in a new window (File > New Window) to see both, or hide one layer.")
    return None


def attach_viewer_tools(viewer: Any = None) -> None:
    """Install status bar, orientation labels, framing rules, scale bar and patient banner on `viewer`.

    `viewer` defaults to ``napari.current_viewer()``; nothing happens without
    one (e.g. ``npe2.read`` in a script).  Each tool is idempotent and guarded:
    a failing overlay must never break loading.
    """
    import logging

    if viewer is None:
        try:
            import napari

            viewer = napari.current_viewer()
        except Exception:
            return
    if viewer is None:
        return
    from . import _framing, _orientation, _status

    tools: list[Callable[[Any], None]] = [_status.attach, _orientation.attach, _framing.attach]
    try:
        from ._teaching import attach as teaching_attach

        tools.append(teaching_attach)
    except Exception as e:  # the teaching helper's module may be absent in a partial install
        logging.getLogger("miss_imaging").warning("patient banner unavailable: %s", e)
    tools.append(_scale_bar_on)
    for attach in tools:
        try:
            attach(viewer)
        except Exception as e:
            logging.getLogger("miss_imaging").warning("%s.%s failed: %s", attach.__module__, attach.__name__, e)


def _warn_mixed_axes(volumes: list[Any]) -> None:
    try:
        import napari

        note = mixed_axis_note(napari.current_viewer(), volumes)
    except Exception:  # a hint must never break loading
        return
    if note:
        _notify("warning", note)


# -- reading ----------------------------------------------------------------------------------------------------------


class _ProgressBar:
    """A napari progress bar fed by :func:`miss_imaging.load_all`'s ``progress=`` callback.

    Shown only when the load is estimated at more than :data:`PROGRESS_BYTES`
    (shorter loads would only flash a bar).
    """

    def __init__(self) -> None:
        self._bar: Any = None

    def __call__(self, done: int, total: int, label: str) -> None:
        if total <= PROGRESS_BYTES:
            return
        if self._bar is None:
            from napari.utils import progress

            self._bar = progress(total=total, desc="Loading DICOM")
        self._bar.update(done - self._bar.n)
        if label:
            self._bar.set_description(f"Loading {label}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _load_series(paths: list[Path]) -> tuple[list[Any], list[str], list[str]]:
    """Every image series under `paths` (scanned as one set of files, so slices picked one by one form one volume).

    Returns
    -------
    volumes : list of ImageVolume
    problems : list of str
        Skipped files and failed series, each naming the file and the problem.
    infos : list of str
        Series deliberately not shown (localizers, non-image objects).
    """
    import miss_imaging

    bar = _ProgressBar()
    try:
        result = miss_imaging.load_all(paths, progress=bar, errors="collect")
    finally:
        bar.close()
    return list(result), result.problems, result.not_shown


def read_dicom(path: PathOrPaths) -> list[LayerData]:
    """Read every DICOM image series under `path` as napari image layers.

    Parameters
    ----------
    path : str or list of str
        A folder, a DICOMDIR, one file, or several files/folders.

    Returns
    -------
    list of LayerData
        ``(data, kwargs, "image")`` per series, largest first (see
        :func:`miss_imaging_napari._layers.layer_data`), or ``[(None,)]``
        when nothing could be loaded (the reason is shown as an error
        notification).
    """
    paths = [Path(p) for p in (path if isinstance(path, (list, tuple)) else [path])]
    where = str(paths[0]) if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1} more)"
    for p in paths:  # typed, dropped or chosen: in teaching mode none of its folders is shown
        remember_case_path(p)
    with warnings.catch_warnings(record=True) as caught:  # shown once below, not by napari's warning hook too
        warnings.simplefilter("always")
        try:
            volumes, problems, infos = _load_series(paths)
        except Exception as e:  # anything unexpected still becomes one clean message, not a traceback dialog
            _notify("error", f"Could not open {where}: {type(e).__name__}: {e}")
            return _NULL_LAYER
    layers: list[LayerData] = []
    for vol in volumes:
        try:
            ld = layer_data(vol)
        except Exception as e:
            problems.append(f"{vol.label} ({vol.files[0] if vol.files else where}): cannot display: {e}")
            continue
        layers.append(ld)
        _show_warnings(vol.label, list(vol.warnings))
        if vol.burned_in_annotation:
            _notify("warning", f"{vol.label}: (0028,0301) BurnedInAnnotation = YES: the pixels may show patient "
                    "text. Teaching mode covers the text it detects; detection is a helper, not a guarantee: "
                    "check before sharing pictures (miss-imaging snapshot/deidentify --blank row0,col0,row1,col1).")
        if ld[1]["metadata"].get(NOTE_KEY):  # one plain sentence; the details are in the Series browser's info
            _notify("info", resample_notice(vol))
    # core warnings not already listed on a volume (pydicom's own chatter stays in the log)
    from ._teaching import strip_folders

    listed = {strip_folders(m) for v in volumes for m in v.warnings}  # warnings are emitted redacted in teaching mode
    loose = [str(w.message) for w in caught if issubclass(w.category, MissImagingWarning)
             and strip_folders(str(w.message)) not in listed]
    if layers:  # with nothing loaded, the problems go into the one error message below
        for m in problems + loose:
            _notify("warning", m)
    for m in infos:
        _notify("info", m)
    if layers:
        _warn_mixed_axes(volumes)
    if not layers:
        detail = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        _notify("error", f"Could not open {where}: no loadable DICOM image series. {detail}".strip())
        return _NULL_LAYER
    attach_viewer_tools()
    return layers
