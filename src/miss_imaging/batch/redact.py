"""Keep patient identity and source folder names out of every text the batch writes.

Reasons, warnings and log lines are built from exceptions and loader
messages that name files (``/archive/DOE_JOHN/CT/IM0001: truncated``) and
sometimes quote values.  :class:`Redactor` replaces, longest first, the
source paths, every component of the study's relative folders and file
names, and the patient identifier variants of its headers
(:func:`miss_imaging.sharing.deid.patient_identifiers`), case-insensitively.
A name that begins or ends with a letter is not replaced inside a longer
word (folder ``dicom`` leaves ``NotDicomError`` alone), and a folder named
with an ordinary word of the messages (:data:`miss_imaging.redact.ORDINARY_WORDS`:
``dicom``, ``series``, ``data``...) is replaced only as part of a path:
the messages stay readable English.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePath

from miss_imaging.redact import ORDINARY_WORDS

__all__ = ["Redactor", "FILE", "FOLDER", "IDENTITY"]

FILE = "<file>"
FOLDER = "<folder>"
IDENTITY = "<redacted>"
_MIN_LEN = 3  # shorter fragments ("CT", "1") are too common to be identity and would shred messages


class Redactor:
    """Replace source paths and identifiers in text.

    Parameters
    ----------
    root : str
        The archive folder (absolute), replaced by ``<folder>``.
    relpaths : iterable of str
        Files of the study relative to `root`; each folder component becomes
        ``<folder>``, each file name ``<file>``.
    identifiers : iterable of str
        Identifier variants (names, IDs, dates...), each becomes ``<redacted>``.
    """

    def __init__(self, root: str, relpaths: Iterable[str] = (), identifiers: Iterable[str] = ()):
        subs: dict[str, str] = {str(root): FOLDER}
        for rel in relpaths:
            parts = PurePath(rel).parts
            for part in parts[:-1]:
                if part.lower() not in ORDINARY_WORDS:
                    subs.setdefault(part, FOLDER)
                else:  # the word standing alone in a sentence stays; in a path it goes
                    subs.setdefault(f"{part}/", f"{FOLDER}/")
                    subs.setdefault(f"/{part}", f"/{FOLDER}")
            subs[parts[-1]] = FILE
            subs[str(PurePath(rel))] = FILE
            subs[str(PurePath(root) / rel)] = FILE
        self._set(subs, identifiers)

    def _set(self, subs: dict[str, str], identifiers: Iterable[str]) -> None:
        subs = {k.lower(): v for k, v in subs.items()}
        for ident in identifiers:
            subs.setdefault(str(ident).lower(), IDENTITY)
        self._subs = {k: v for k, v in subs.items() if len(k) >= _MIN_LEN}
        alts = sorted(self._subs, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(_bounded, alts)), re.IGNORECASE) if alts else None

    def __call__(self, text: str) -> str:
        """`text` with every path, folder/file name and identifier replaced."""
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._subs[m.group(0).lower()], text)

    def add_identifiers(self, identifiers: Iterable[str]) -> Redactor:
        """A redactor that also replaces `identifiers`."""
        new = Redactor.__new__(Redactor)
        new._set(dict(self._subs), identifiers)
        return new


def _bounded(key: str) -> str:
    """`key` as a pattern that does not match inside a longer word.

    No letter may stand before a leading letter nor after a trailing one;
    digits stay unbounded (a date is also replaced inside a date-time).
    """
    head = "(?<![a-z])" if key[:1].isalpha() else ""
    tail = "(?![a-z])" if key[-1:].isalpha() else ""
    return f"{head}{re.escape(key)}{tail}"
