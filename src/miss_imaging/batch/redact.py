"""Keep patient identity and source folder names out of every text the batch writes.

Reasons, warnings and log lines are built from exceptions and loader
messages that name files (``/archive/DOE_JOHN/CT/IM0001: truncated``) and
sometimes quote values.  :class:`Redactor` replaces, longest first, the
source paths, every component of the study's relative folders and file
names, and the patient identifier variants of its headers
(:func:`miss_imaging.sharing.deid.patient_identifiers`), case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePath

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
                subs.setdefault(part, FOLDER)
            subs[parts[-1]] = FILE
            subs[str(PurePath(root) / rel)] = FILE
        self._set(subs, identifiers)

    def _set(self, subs: dict[str, str], identifiers: Iterable[str]) -> None:
        subs = {k.lower(): v for k, v in subs.items()}
        for ident in identifiers:
            subs.setdefault(str(ident).lower(), IDENTITY)
        self._subs = {k: v for k, v in subs.items() if len(k) >= _MIN_LEN}
        alts = sorted(self._subs, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(a) for a in alts), re.IGNORECASE) if alts else None

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
