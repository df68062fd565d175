"""Teaching mode: keep the case's folders out of every message, log line and shared file.

Case folders are often named after the patient (``DOE_JOHN_1961/CT_INTRAOP``).
In teaching mode no component of the path the user opened may be shown:
not in the terminal, a notification, the info panel or a file written for
sharing, whether the path was typed relative or absolute, dropped on the
viewer or chosen in a dialog.  :func:`remember_case_path` records the
components of each opened path; :func:`redact_paths` removes the folder part
of every absolute path and of every path through a remembered folder, and
replaces a remembered name standing alone with ``<case folder>``.  File names
inside the case (``IM0001.dcm``) stay: messages must still say which file.

Messages stay readable English: a path the user typed is replaced whole
(``nonexistent/folder: no such file or folder`` becomes ``<case folder>: no
such file or folder``, not ``<case folder>: no such file or <case folder>``),
an absolute path must start with a name (``C 40 / W 400`` is no path), and a
remembered name that is an ordinary word of the messages (``folder``,
``series``, ``dicom``, ... :data:`ORDINARY_WORDS`) is removed only where it
is part of a path: standing alone it is the word, and identifies nobody.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path, PurePath

__all__ = ["remember_case_path", "forget_case_paths", "case_names", "redact_paths", "PLACEHOLDER", "ORDINARY_WORDS"]

PLACEHOLDER = "<case folder>"
#: The folder part of an absolute path (POSIX, ``~/``, ``C:\\``); the file name after it is kept.  Each folder
#: starts with a non-blank (a folder may hold spaces, ``John Doe/``, but ``C 40 / W 400 / x/`` is no path).
_ABSOLUTE_FOLDERS = re.compile(r"(?:(?<![\w.])~?/|\b[A-Za-z]:[\\/])(?:[^\s/\\:;,()'\"][^\n/\\:;,()'\"]*[/\\])+")
_DOT_FOLDERS = re.compile(r"(?<![\w.])(?:\.\.?[/\\])+")
_MIN_NAME = 3  # shorter components ("CT", "1") are left alone: replacing them would garble ordinary words
_PATH_CHAR = r"[^\s/\\:;,()'\"]"  # a character of a path component in a message
#: Words of the messages that are also common folder names: standing alone they stay (case-insensitive).
ORDINARY_WORDS = frozenset("""
    case cases data dicom dicomdir export file files folder folders frame frames header headers image images input
    missing output patient patients pixel pixels scan scans series slice slices spine studies study teaching truncated
""".split())
_remembered: set[str] = set()
_remembered_paths: set[str] = set()  # whole paths as typed and absolute: replaced before their components


def _components(path: str | os.PathLike[str]) -> set[str]:
    parts = PurePath(os.fspath(path)).parts
    return {p for p in parts if p not in ("", ".", "..", "~") and not p.endswith(("/", "\\")) and len(p) >= _MIN_NAME}


def remember_case_path(path: str | os.PathLike[str]) -> None:
    """Record every folder of an opened path, as given (relative or absolute), for the rest of the process.

    A relative path adds only its own components, not the working folder's
    (those are not the case's).  An opened file's own name is not recorded.
    """
    typed = os.fspath(path)
    given = Path(typed)
    if given.is_file() and given.name.upper() != "DICOMDIR":
        given = given.parent  # a file opened alone keeps its name in messages: they must say which file
        typed = str(given)
    _remembered.update(_components(given))
    _remembered_paths.update(p for p in (typed, str(given), os.path.abspath(given)) if len(p) >= _MIN_NAME)
    if given.is_absolute():
        _remembered.update(_components(given.resolve()))  # a symbolic link's target may carry the name too
        _remembered_paths.add(str(given.resolve()))


def forget_case_paths() -> None:
    """Forget every remembered name (a new session; tests)."""
    _remembered.clear()
    _remembered_paths.clear()


def case_names(extra: Iterable[str | os.PathLike[str]] = ()) -> set[str]:
    """The remembered folder and file names, plus the components of `extra` paths."""
    names = set(_remembered)
    for p in extra:
        names |= _components(p)
    return names


def redact_paths(text: str, paths: Iterable[str | os.PathLike[str]] = ()) -> str:
    """`text` without the case's folders (for teaching mode; the caller checks the mode).

    Parameters
    ----------
    text : str
        A message, log line or report.
    paths : iterable of str or Path
        Paths opened by the caller, in addition to the remembered ones.

    Examples
    --------
    >>> redact_paths("DOE_JOHN_1961/CT_INTRAOP/IM1.dcm: truncated", ["DOE_JOHN_1961/CT_INTRAOP"])
    'IM1.dcm: truncated'
    >>> redact_paths("no image in DOE_JOHN_1961", ["DOE_JOHN_1961/CT_INTRAOP"])
    'no image in <case folder>'
    >>> redact_paths("/cases/DOE/IM1: x")
    'IM1: x'
    """
    whole = set(_remembered_paths) | {os.fspath(p) for p in paths}
    for p in sorted({p.rstrip("/\\") for p in whole if len(p.rstrip("/\\")) >= _MIN_NAME}, key=len, reverse=True):
        # the opened path itself -> <case folder>; a file under it -> the file's name
        text = re.sub(rf"(?<![\w.-]){re.escape(p)}(?:[/\\](?:{_PATH_CHAR}+[/\\])*({_PATH_CHAR}+))?(?![\w.-])",
                      lambda m: m.group(1) or PLACEHOLDER, text)
    text = _ABSOLUTE_FOLDERS.sub("", text)
    for name in sorted(case_names(paths), key=len, reverse=True):
        # a relative path through the folder, with any sub-folders after it: only the file name stays
        text = re.sub(rf"(?<![\w.-]){re.escape(name)}[/\\](?:{_PATH_CHAR}+[/\\])*", "", text)
        if name.lower() not in ORDINARY_WORDS:  # the word itself in a sentence is not the folder
            text = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", PLACEHOLDER, text)
    return _DOT_FOLDERS.sub("", text)
