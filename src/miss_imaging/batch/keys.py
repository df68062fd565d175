"""The batch's secret key: reproducible UID mapping without linkability outside OUT.

The key is 32 random bytes kept in ``OUT/private/key`` (hex, mode 0600).
It is the salt of :class:`miss_imaging.sharing.deid.UIDMapper` (``2.25.<HMAC>``
UIDs), so a rerun into the same OUT maps every UID exactly as before, and
it keys the hashes that name studies and their content in the manifest and
the index (so that those hashes cannot be recomputed from a PACS UID or a
file name by someone without the key).  Whoever holds the key and the
original UIDs can link the outputs to the sources: never share ``private/``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from miss_imaging.sharing.deid import UIDMapper

__all__ = ["KEY_FILE", "load_or_create_key", "keyed_hash", "deid_uid"]

KEY_FILE = "key"
_KEY_BYTES = 32


def load_or_create_key(private_dir: Path) -> bytes:
    """The key in ``private_dir/key``; created (random, 32 bytes) when absent.

    Raises
    ------
    ValueError
        If the file exists but does not hold 64 hexadecimal digits.
    """
    path = Path(private_dir) / KEY_FILE
    if not path.exists():
        private_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(private_dir, 0o700)
        tmp = private_dir / f".key.{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_bytes(_KEY_BYTES).hex())
        try:  # link, not replace: two clients starting at once both use the first key written
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    text = path.read_text().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != _KEY_BYTES:
        raise ValueError(f"{path}: not a batch key (expected {2 * _KEY_BYTES} hexadecimal digits)")
    return key


def keyed_hash(key: bytes, purpose: str, *parts: str) -> str:
    """Hex HMAC-SHA-256 of `parts` under a sub-key for `purpose` (e.g. ``"content"``)."""
    sub = hmac.new(key, purpose.encode(), hashlib.sha256).digest()
    mac = hmac.new(sub, digestmod=hashlib.sha256)
    for p in parts:
        mac.update(p.encode("utf-8", "surrogateescape") + b"\x00")
    return mac.hexdigest()


def deid_uid(key: bytes, uid: str) -> str:
    """The de-identified UID that :func:`miss_imaging.sharing.deid.deidentify_series` writes for `uid` under `key`."""
    return UIDMapper(key)(uid)

