"""The archive index: one SQLite row per series, no patient identity, shareable.

Schema (``SCHEMA_VERSION`` 1)::

    CREATE TABLE studies (                 -- one row per study found under SRC
        study_uid   TEXT PRIMARY KEY,      -- de-identified StudyInstanceUID (2.25.<HMAC> under the key)
        content_key TEXT NOT NULL,         -- keyed hash of the study's files (path, size, mtime): resume key
        status      TEXT NOT NULL,         -- 'done' | 'error'
        error_kind  TEXT,                  -- exception class when status = 'error'
        error       TEXT,                  -- reason, with paths, folder names and identifiers removed
        n_series    INTEGER, n_files INTEGER, bytes INTEGER, seconds REAL);
    CREATE TABLE series (                  -- one row per image series as the loader assembles it
        study_uid   TEXT NOT NULL REFERENCES studies(study_uid),
        series_uid  TEXT NOT NULL,         -- de-identified SeriesInstanceUID (as in the batch output)
        part        INTEGER NOT NULL,      -- 0, 1... when the loader splits one UID (sizes, orientations...)
        modality    TEXT,                  -- (0008,0060): CT, XA, RF, DX, CR...
        sop_class_uid TEXT, sop_class TEXT,-- (0008,0016) and its PS3.6 name
        kind        TEXT,                  -- 'volume' | 'projection' | 'other' (localizer, colour)
        description TEXT,                  -- (0008,103E) SeriesDescription; NULL if it held an identifier
        frames      INTEGER, rows INTEGER, columns INTEGER,
        spacing_slice_mm REAL, spacing_row_mm REAL, spacing_col_mm REAL,  -- mm per index step; slice: volumes only
        calibration TEXT,                  -- label shown with measurements: 'magnification-corrected (ERMF)'...
        calibration_source TEXT,           -- geometry (CT) | calibrated | ermf | sid_sod | detector | pixels
        has_mm      INTEGER,               -- 1 when distances can be given in mm
        ermf        REAL,                  -- (0018,1114) EstimatedRadiographicMagnificationFactor as stored
        geometry    TEXT,                  -- volumes: 'regular' or a comma list of gap, tilt, duplicates, irregular
        gap         INTEGER, tilt INTEGER, duplicates INTEGER,  -- 0/1 (volumes), NULL otherwise
        tilt_deg    REAL,                  -- gantry tilt (shear) of the stack, degrees
        burned_in   INTEGER,               -- 1 when any file has (0028,0301) BurnedInAnnotation = YES
        transfer_syntax TEXT,              -- (0002,0010) UID(s), comma separated when files differ
        transfer_syntax_name TEXT,
        n_warnings  INTEGER, warnings TEXT,-- loader warnings, newline separated, scrubbed
        n_files     INTEGER, bytes INTEGER,
        PRIMARY KEY (series_uid, part));
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);  -- schema_version, tool version

Identifiers: UIDs are replaced by keyed ones (the key lives beside the
database, see :func:`miss_imaging.batch.run.index_tree`), file and folder
names in warnings become ``<file>`` / ``<folder>``, and the patient's
identifiers become ``<redacted>``.  Only the client process writes the
database (workers return rows), one transaction per study.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import UID

from miss_imaging import __version__
from miss_imaging.reading._header import text
from miss_imaging.reading.dicom_scan import read_header
from miss_imaging.spatial.geometry import TILT_ATOL_DEG
from miss_imaging.model import SeriesInfo
from miss_imaging.batch.discover import StudyJob
from miss_imaging.batch.keys import deid_uid

__all__ = ["SCHEMA", "SCHEMA_VERSION", "connect", "series_rows", "store_study", "indexed_keys"]

SCHEMA_VERSION = 1
_SERIES_COLUMNS = (
    "study_uid", "series_uid", "part", "modality", "sop_class_uid", "sop_class", "kind", "description",
    "frames", "rows", "columns", "spacing_slice_mm", "spacing_row_mm", "spacing_col_mm", "calibration",
    "calibration_source", "has_mm", "ermf", "geometry", "gap", "tilt", "duplicates", "tilt_deg", "burned_in",
    "transfer_syntax", "transfer_syntax_name", "n_warnings", "warnings", "n_files", "bytes",
)
_STUDY_COLUMNS = ("study_uid", "content_key", "status", "error_kind", "error", "n_series", "n_files", "bytes",
                  "seconds")
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS studies (study_uid TEXT PRIMARY KEY, content_key TEXT NOT NULL, status TEXT NOT NULL,
    error_kind TEXT, error TEXT, n_series INTEGER, n_files INTEGER, bytes INTEGER, seconds REAL);
CREATE TABLE IF NOT EXISTS series ({", ".join(_SERIES_COLUMNS)}, PRIMARY KEY (series_uid, part));
CREATE INDEX IF NOT EXISTS series_study ON series (study_uid);
CREATE INDEX IF NOT EXISTS series_modality ON series (modality);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating when absent) the index database with its schema."""
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [("schema_version", str(SCHEMA_VERSION)), ("miss_imaging_version", __version__)])
    con.commit()
    return con


def indexed_keys(con: sqlite3.Connection) -> set[str]:
    """Content keys of the studies already in the index (a rerun skips them)."""
    return {k for (k,) in con.execute("SELECT content_key FROM studies")}


def store_study(con: sqlite3.Connection, result: dict[str, Any]) -> None:
    """Insert one study's record and series rows (one transaction; replaces an older version of the study)."""
    rec = result["record"]
    row = {"study_uid": rec["study"], "content_key": rec["content_key"], "status": rec["status"],
           "error_kind": rec.get("kind"), "error": rec.get("reason"), "n_series": rec.get("series", 0),
           "n_files": rec["files_in"], "bytes": rec["bytes_in"], "seconds": rec["seconds"]}
    with con:
        con.execute("DELETE FROM series WHERE study_uid = ?", (rec["study"],))
        con.execute(f"INSERT OR REPLACE INTO studies VALUES ({', '.join('?' * len(_STUDY_COLUMNS))})",
                    [row[c] for c in _STUDY_COLUMNS])
        con.executemany(f"INSERT OR REPLACE INTO series VALUES ({', '.join('?' * len(_SERIES_COLUMNS))})",
                        [[r[c] for c in _SERIES_COLUMNS] for r in result["series"]])


def _stack(info: SeriesInfo, vol: Any) -> Any:
    """The stack geometry from assembly, or (enhanced multi-frame files) from the loaded volume's frames."""
    from miss_imaging.spatial.geometry import stack_geometry

    geom = info.plan.geometry if info.plan is not None else None
    if geom is not None or vol is None or vol.slice_positions is None:
        return geom
    a = vol.affine[:3, :3]
    # IOP: direction of increasing column index (affine column 2), then of increasing row index (column 1)
    iop = np.concatenate([a[:, 2] / np.linalg.norm(a[:, 2]), a[:, 1] / np.linalg.norm(a[:, 1])])
    return stack_geometry(vol.slice_positions, iop, vol.spacing[0])


def _geometry(info: SeriesInfo, vol: Any, warnings: list[str]) -> dict[str, Any]:
    geom = _stack(info, vol) if info.kind == "volume" else None
    if geom is None:
        return {"geometry": None, "gap": None, "tilt": None, "duplicates": None, "tilt_deg": None}
    flags = {"gap": bool(geom.gaps), "tilt": geom.tilt_deg > TILT_ATOL_DEG,
             "duplicates": any(w.startswith("duplicate slice") for w in warnings)}
    names = [k for k, v in flags.items() if v]
    if not geom.regular and not flags["gap"] and not flags["tilt"]:
        names.append("irregular")
    return {"geometry": ",".join(names) or "regular", **{k: int(v) for k, v in flags.items()},
            "tilt_deg": round(float(geom.tilt_deg), 4)}


def _loaded(info: SeriesInfo) -> tuple[dict[str, Any], list[str], Any]:
    """Spacing and calibration from the loader (headers only: lazy pixels are never read); and the volume."""
    from miss_imaging.measurement.calibration import projection_calibration
    from miss_imaging.errors import MissImagingError
    from miss_imaging.reading.loader import load

    empty = {"spacing_slice_mm": None, "spacing_row_mm": None, "spacing_col_mm": None, "calibration": None,
             "calibration_source": None, "has_mm": None, "ermf": None}
    if info.kind not in ("volume", "projection"):
        return empty, [], None
    try:
        v = load(info, lazy=True)
    except MissImagingError as exc:
        return empty, [str(exc)], None
    source, ermf = "geometry", None
    if v.kind == "projection" and v.projection is not None:
        source, ermf = projection_calibration(v.projection).source, v.projection.ermf
    slice_mm = v.spacing[0] if v.kind == "volume" else None  # a projection's axis 0 is time (frames), not mm
    return {"spacing_slice_mm": slice_mm, "spacing_row_mm": v.spacing[1], "spacing_col_mm": v.spacing[2],
            "calibration": v.calibration, "calibration_source": source, "has_mm": int(source != "pixels"),
            "ermf": ermf}, list(v.warnings), v


def _row(job: StudyJob, info: SeriesInfo, part: int, key: bytes, red: Callable[[str], str],
         sizes: dict[Path, int]) -> dict[str, Any]:
    loaded, more, vol = _loaded(info)
    warnings = list(dict.fromkeys(info.warnings + more))
    plan_headers = info.plan.headers if info.plan is not None else []
    syntaxes = sorted({h.transfer_syntax for h in plan_headers})
    description = info.description or None
    if description is not None and red(description) != description:
        description = None  # held a name, an ID or a path component
    return {
        "study_uid": job.study_id, "series_uid": deid_uid(key, info.series_uid), "part": part,
        "modality": info.modality, "sop_class_uid": info.sop_class_uid,
        "sop_class": UID(info.sop_class_uid).name if info.sop_class_uid else None, "kind": info.kind,
        "description": description, "frames": info.n_frames, "rows": info.rows, "columns": info.columns,
        **loaded, **_geometry(info, vol, warnings),
        "burned_in": int(any(text(h.source, 0x00280301).strip().upper() == "YES" for h in plan_headers)),
        "transfer_syntax": ",".join(syntaxes),
        "transfer_syntax_name": ",".join(UID(s).name for s in syntaxes),
        "n_warnings": len(warnings), "warnings": "\n".join(red(w) for w in warnings) or None,
        "n_files": info.n_files, "bytes": sum(sizes.get(Path(f), 0) for f in set(info.files)),
    }


def series_rows(job: StudyJob, key: bytes, red: Callable[[str], str]) -> list[dict[str, Any]]:
    """Read the study's headers, assemble its series as the loader does, and describe each."""
    from miss_imaging.reading.series import assemble

    headers = [read_header(Path(job.root) / f.rel) for f in job.files]
    sizes = {Path(job.root) / f.rel: f.size for f in job.files}
    rows: list[dict[str, Any]] = []
    parts: dict[str, int] = {}
    for info in assemble(headers):
        part = parts.get(info.series_uid, 0)
        parts[info.series_uid] = part + 1
        rows.append(_row(job, info, part, key, red, sizes))
    return rows
