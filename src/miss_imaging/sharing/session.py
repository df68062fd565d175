"""Saved sessions: reopen a prepared case exactly as it was (versioned JSON).

A session file records *where* the images are and *what was done* on them,
never the patient: series are named by path, SeriesInstanceUID, a SHA-256 of
their sorted SOPInstanceUIDs and the display label (modality, description,
number).  It holds file paths, so it is a working file for the person who
prepared the case, not a file for sharing (share the exports instead).

Layout (``"schema": "miss-imaging.session"``, ``"version": 1``)::

    {"schema", "version",
     "series": [{"path", "relative_path", "series_uid", "sop_uids_sha256", "n_instances", "label"}],
     "windows": {series_uid: {"center", "width", "function", "contrast_limits", "gamma", "colormap",
                              "visible", "opacity"}},
     "measurements": [miss_imaging.measurement.measurements_io.to_dict(m), ...],
     "planes": [{"series_uid", "plane": {...}}],    # miss_imaging.spatial.reslicing.Plane fields
     "carm_shots": [{"series_uid", "carm": {...}}],  # virtual C-arm shots of a CT: miss_imaging.CArm fields
     "camera": {"center", "zoom", "angles", "perspective"} | null,
     "dims": {"point", "ndisplay", "order"} | null,
     "teaching_mode": bool, "active_series": series_uid | null}

:func:`load_session` checks every series against the disk: the recorded
path, then the path relative to the session file (a case folder moved with
its session), then reports what it could not find or what changed (other
SOP instances under the same SeriesInstanceUID), and which measurements and
planes cannot be restored as a consequence.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from miss_imaging.errors import MissImagingError

__all__ = [
    "SCHEMA",
    "VERSION",
    "SeriesRef",
    "LayerWindow",
    "Camera",
    "DimsState",
    "Session",
    "RestoreReport",
    "SessionError",
    "sop_uids_digest",
    "series_ref",
    "locate_series",
    "save_session",
    "load_session",
]

SCHEMA = "miss-imaging.session"
VERSION = 2  # 2: the MPR workspace (``Session.workspace``); version-1 files still read


class SessionError(MissImagingError, ValueError):
    """The session file is not a miss-imaging session or is malformed."""


@dataclass(frozen=True)
class SeriesRef:
    """How to find one series again.

    Attributes
    ----------
    path : str
        Absolute path opened (a folder, or the file of a multi-frame object).
    relative_path : str or None
        The same path relative to the session file's folder, when it can be
        expressed so (used when the case folder moved with its session).
    series_uid : str
        (0020,000E) SeriesInstanceUID.
    sop_uids_sha256 : str
        SHA-256 (hex) of the sorted SOPInstanceUIDs joined by newlines.
    n_instances : int
    label : str
        Display label (never identifiers).
    """

    path: str
    series_uid: str
    sop_uids_sha256: str
    n_instances: int
    label: str = ""
    relative_path: str | None = None


@dataclass(frozen=True)
class LayerWindow:
    """Display state of one image layer (contrast limits in modality units, HU for CT)."""

    center: float
    width: float
    function: str = "LINEAR"
    contrast_limits: tuple[float, float] | None = None
    gamma: float = 1.0
    colormap: str = "gray"
    visible: bool = True
    opacity: float = 1.0


@dataclass(frozen=True)
class Camera:
    """napari camera: centre in world units (mm, napari axis order), zoom, Euler angles in degrees."""

    center: tuple[float, ...]
    zoom: float
    angles: tuple[float, float, float] = (0.0, 0.0, 90.0)
    perspective: float = 0.0


@dataclass(frozen=True)
class DimsState:
    """napari dims: current world point (mm, or frame for cines), displayed dims count, axis order."""

    point: tuple[float, ...]
    ndisplay: int = 2
    order: tuple[int, ...] = ()


@dataclass
class Session:
    """Everything needed to reopen a case as it was left."""

    series: list[SeriesRef] = field(default_factory=list)
    windows: dict[str, LayerWindow] = field(default_factory=dict)
    measurements: list[dict[str, Any]] = field(default_factory=list)
    planes: list[dict[str, Any]] = field(default_factory=list)
    carm_shots: list[dict[str, Any]] = field(default_factory=list)
    camera: Camera | None = None
    dims: DimsState | None = None
    teaching_mode: bool = True
    active_series: str | None = None
    #: the MPR workspace when it was open (see ``MPRWorkspace.session_entry`` in the napari plugin): CT and
    #: fluoroscopy series UIDs, shared point and trajectory (LPS mm), oblique kind/angle, slabs (mm) and the
    #: measurements drawn in its viewports; None when it was closed
    workspace: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (schema and version first)."""
        d = {"schema": SCHEMA, "version": VERSION}
        d.update(_jsonable(dataclasses.asdict(self)))
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str | Path | None = None) -> Session:
        """Rebuild a session from :meth:`to_dict` output.

        Raises
        ------
        SessionError
            Wrong schema, a newer version, or malformed fields.
        """
        if d.get("schema") != SCHEMA:
            raise SessionError(f"not a miss-imaging session (schema {d.get('schema')!r})", path=source)
        version = d.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise SessionError(f"session version {version!r} is newer than this miss-imaging reads ({VERSION})",
                               path=source)
        try:
            cam = d.get("camera")
            dims = d.get("dims")
            return cls(
                series=[SeriesRef(**s) for s in d.get("series", [])],
                windows={
                    uid: LayerWindow(**{**w, "contrast_limits": _tuple(w.get("contrast_limits"))})
                    for uid, w in (d.get("windows") or {}).items()
                },
                measurements=list(d.get("measurements", [])),
                planes=list(d.get("planes", [])),
                carm_shots=list(d.get("carm_shots", [])),
                camera=None if cam is None else Camera(
                    center=tuple(float(v) for v in cam["center"]), zoom=float(cam["zoom"]),
                    angles=tuple(float(v) for v in cam.get("angles", (0.0, 0.0, 90.0))),  # type: ignore[arg-type]
                    perspective=float(cam.get("perspective", 0.0)),
                ),
                dims=None if dims is None else DimsState(
                    point=tuple(float(v) for v in dims["point"]), ndisplay=int(dims.get("ndisplay", 2)),
                    order=tuple(int(v) for v in dims.get("order", ())),
                ),
                teaching_mode=bool(d.get("teaching_mode", True)),
                active_series=d.get("active_series"),
                workspace=_workspace(d.get("workspace")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SessionError(f"malformed session: {type(exc).__name__}: {exc}", path=source) from None


def _workspace(v: Any) -> dict[str, Any] | None:
    if v is not None and not (isinstance(v, dict) and isinstance(v.get("measurements", []), list)):
        raise ValueError(f"workspace must be an object with a list of measurements; got {type(v).__name__}")
    return v


def _tuple(v: Any) -> tuple[float, ...] | None:
    return None if v is None else tuple(float(x) for x in v)


def _jsonable(obj: Any) -> Any:
    """Tuples -> lists, numpy scalars/arrays -> Python, dataclasses -> dicts."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return _jsonable(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    return obj


# ---------------------------------------------------------------------------
# series identity


def sop_uids_digest(sop_uids: Iterable[str]) -> str:
    """SHA-256 hex of the sorted SOPInstanceUIDs joined by newlines."""
    text = "\n".join(sorted(str(u).strip() for u in sop_uids))
    return hashlib.sha256(text.encode("ascii", "replace")).hexdigest()


def _read_uids(path: Path) -> tuple[str, str] | None:
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True,
                             specific_tags=["SOPInstanceUID", "SeriesInstanceUID"])
    except Exception:  # not DICOM or unreadable: not part of any series
        return None
    sop, ser = ds.get("SOPInstanceUID"), ds.get("SeriesInstanceUID")
    if not sop or not ser:
        return None
    return str(ser), str(sop)


def series_ref(volume: Any, *, path: str | Path | None = None) -> SeriesRef:
    """A :class:`SeriesRef` for a loaded :class:`~miss_imaging.model.ImageVolume`.

    Parameters
    ----------
    volume : ImageVolume
        Uses ``files``, ``series_uid`` and ``label``.
    path : str or Path, optional
        What was opened (default: the common folder of the files, or the file
        itself for a single multi-frame object).
    """
    files = [Path(f) for f in volume.files]
    if not files:
        raise SessionError(f"{volume.label}: the volume lists no source files; it cannot be saved in a session")
    if path is None:
        path = files[0] if len(files) == 1 else Path(os.path.commonpath([str(f.parent) for f in files]))
    uids = [u for f in files if (u := _read_uids(f)) is not None]
    return SeriesRef(
        path=str(Path(path).resolve()),
        series_uid=volume.series_uid,
        sop_uids_sha256=sop_uids_digest(s for _, s in uids),
        n_instances=len(uids),
        label=volume.label,
    )


def locate_series(ref: SeriesRef, candidates: Iterable[Path]) -> tuple[Path | None, str | None]:
    """Find `ref` in the first existing candidate path.

    Returns
    -------
    (path, problem) : Path or None, str or None
        ``(path, None)`` when found unchanged; ``(path, "changed: ...")`` when
        the series is there with other SOP instances; ``(None, reason)`` when
        not found.
    """
    import warnings

    from miss_imaging.reading.dicom_scan import scan
    from miss_imaging.errors import MissImagingWarning

    tried = []
    for cand in candidates:
        if cand is None:
            continue
        cand = Path(cand)
        tried.append(str(cand))
        if not cand.exists():
            continue
        # the loader's own view of the folder: unreadable, truncated and duplicate files are not instances
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissImagingWarning)
            infos = [i for i in scan(cand) if i.series_uid == ref.series_uid]
        if not infos:
            continue
        digests = {}
        for info in infos:
            sops = [str(h.SOPInstanceUID) for h in info.headers if h.get("SOPInstanceUID")]
            digests[sop_uids_digest(sops)] = len(sops)
        if ref.sop_uids_sha256 in digests:
            return cand, None
        n_now = max(digests.values())
        return cand, (f"changed: {ref.label} ({ref.series_uid}) at {cand} now has {n_now} instance(s), "
                      f"{ref.n_instances} when the session was saved, or other ones")
    return None, f"missing: {ref.label} ({ref.series_uid}) not found at {' or '.join(tried) or 'no path'}"


@dataclass
class RestoreReport:
    """What :func:`load_session` could and could not restore.

    Attributes
    ----------
    found : dict of str -> Path
        series_uid -> path where the unchanged series was found.
    changed : dict of str -> Path
        series_uid -> path of a series whose instances differ (restored by UID,
        but measurements may not fit).
    missing : list of str
        series_uids not found.
    problems : list of str
        One sentence per problem (changed, missing, and every measurement,
        window or plane that cannot be restored), for the user.
    notes : list of str
        Things that were handled (a series found at its relative path after
        the case folder moved).
    """

    found: dict[str, Path] = field(default_factory=dict)
    changed: dict[str, Path] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when everything can be restored as saved."""
        return not self.problems

    def path_for(self, series_uid: str) -> Path | None:
        """Where to open a series (found or changed), else None."""
        return self.found.get(series_uid) or self.changed.get(series_uid)


def save_session(session: Session, path: str | Path) -> Path:
    """Write `session` as JSON; fills each series' ``relative_path``.  Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.parent.resolve()
    refs = []
    for ref in session.series:
        try:
            rel = os.path.relpath(ref.path, base)
        except ValueError:  # other drive (Windows)
            rel = None
        refs.append(dataclasses.replace(ref, relative_path=rel))
    session.series = refs
    text = json.dumps(session.to_dict(), indent=1, allow_nan=False)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_session(path: str | Path, *, check_files: bool = True) -> tuple[Session, RestoreReport]:
    """Read a session file and check its series against the disk.

    Parameters
    ----------
    path : str or Path
    check_files : bool
        False skips the disk check (report empty).

    Returns
    -------
    (Session, RestoreReport)

    Raises
    ------
    SessionError
        Not JSON, not a session, a newer version, or malformed.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SessionError(f"not a JSON session file ({exc})", path=path) from None
    if not isinstance(data, dict):
        raise SessionError("not a miss-imaging session (top level is not an object)", path=path)
    session = Session.from_dict(data, source=path)
    report = RestoreReport()
    if not check_files:
        return session, report
    for ref in session.series:
        rel = None if ref.relative_path is None else (path.parent / ref.relative_path)
        where, problem = locate_series(ref, [Path(ref.path)] + ([] if rel is None else [rel]))
        if where is None:
            report.missing.append(ref.series_uid)
            report.problems.append(problem or "")
            continue
        if problem:
            report.changed[ref.series_uid] = where
            report.problems.append(problem)
        else:
            report.found[ref.series_uid] = where
        if where.resolve() != Path(ref.path).resolve():
            report.notes.append(f"moved: {ref.label} found at {where} (saved at {ref.path})")
    lost = set(report.missing)
    for m in session.measurements:
        if m.get("series_uid") in lost:
            name = m.get("name") or m.get("kind", "measurement")
            report.problems.append(f"not restored: measurement {name!r} on missing series {m.get('series_label', '')}")
    for p in session.planes:
        if p.get("series_uid") in lost:
            report.problems.append(f"not restored: oblique plane on missing series {p.get('series_uid')}")
    for uid in session.windows:
        if uid in lost:
            report.problems.append(f"not restored: window of missing series {uid}")
    return session, report
