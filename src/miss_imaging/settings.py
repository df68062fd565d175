"""User settings that persist between runs: teaching mode.

Teaching mode is **on by default** (privacy by default): until a user
explicitly turns it off, nothing miss-imaging shows carries patient
identifiers.  The setting lives in a small JSON file,
``$MISS_IMAGING_CONFIG_DIR/settings.json`` or, without that variable,
``~/.config/miss-imaging/settings.json``.  A missing, unreadable or corrupt
file means "defaults" (and a warning for a corrupt one); it is never fatal.

Listeners (:func:`add_listener`) are told about every change made in this
process, so that the napari banner follows the toggle.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from miss_imaging.errors import warn_and_log

__all__ = [
    "CONFIG_ENV",
    "config_dir",
    "settings_path",
    "get_teaching_mode",
    "set_teaching_mode",
    "add_listener",
    "remove_listener",
]

CONFIG_ENV = "MISS_IMAGING_CONFIG_DIR"
_FILENAME = "settings.json"
_SCHEMA = 1
_DEFAULTS: dict[str, Any] = {"teaching_mode": True}

_listeners: list[Callable[[bool], None]] = []


def config_dir() -> Path:
    """Folder of the settings file: ``$MISS_IMAGING_CONFIG_DIR`` or ``~/.config/miss-imaging``."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".config" / "miss-imaging"


def settings_path() -> Path:
    """Full path of the JSON settings file (may not exist yet)."""
    return config_dir() / _FILENAME


def _read() -> dict[str, Any]:
    path = settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return dict(_DEFAULTS)
    except OSError as exc:
        warn_and_log(f"{path}: cannot read miss-imaging settings ({exc}); using defaults (teaching mode on)")
        return dict(_DEFAULTS)
    except UnicodeDecodeError:
        text = "\x00"  # not UTF-8: handled as corrupt below
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"top level is {type(data).__name__}, not an object")
    except ValueError as exc:
        warn_and_log(f"{path}: corrupt miss-imaging settings ({exc}); using defaults (teaching mode on)")
        return dict(_DEFAULTS)
    merged = dict(_DEFAULTS)
    merged.update(data)
    return merged


def _write(data: dict[str, Any]) -> None:
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = dict(data, schema=_SCHEMA)
    # write to a temporary file and rename: a crash never leaves a half-written file
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".settings-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def get_teaching_mode() -> bool:
    """Return True when teaching mode is on (the default).

    A value that is not a JSON boolean counts as on: when in doubt, hide
    identifiers.
    """
    value = _read().get("teaching_mode", True)
    return value is not False


def set_teaching_mode(on: bool) -> None:
    """Turn teaching mode on or off, persist it, and tell the listeners.

    Parameters
    ----------
    on : bool
        True hides every patient identifier in the plugin (the default);
        False shows the clinician's patient/study banner.

    Raises
    ------
    OSError
        When the settings file cannot be written (the mode still applies to
        the listeners of this process).
    """
    on = bool(on)
    data = _read()
    data["teaching_mode"] = on
    try:
        _write(data)
    finally:
        for listener in list(_listeners):
            listener(on)


def add_listener(callback: Callable[[bool], None]) -> None:
    """Call ``callback(on)`` after every :func:`set_teaching_mode` in this process.

    Registering the same callable twice has no effect.  Keep callbacks
    module-level functions (they are held by strong reference).
    """
    if callback not in _listeners:
        _listeners.append(callback)


def remove_listener(callback: Callable[[bool], None]) -> None:
    """Undo :func:`add_listener` (no error if it was not registered)."""
    if callback in _listeners:
        _listeners.remove(callback)
