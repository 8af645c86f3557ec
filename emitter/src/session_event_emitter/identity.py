"""Derives the one-way identifiers of an event: install identity, GitHub link and session.

- ``identity_hash`` = sha256(install id + ``salt_<YYYY>Q<n>``), the UTC quarter's salt.
  The install id is the original plugin's ``~/.ashlr/machine-id`` when present, else a
  random UUID made once and kept in ``$SESSION_EVENTS_HOME/install-id`` (mode 0600).
  Never the OS machine id.
- ``github_hash`` = sha256(login + the same salt), only when a login is configured.
- ``session_id_hash`` = sha256(raw session id); with no id available the raw id is random
  (never derived from a PID, a username or a path).
"""

from __future__ import annotations

import contextlib
import hashlib
import os

from session_event_emitter.fsutil import (
    PRIVATE_FILE_MODE,
    ensure_private_dir,
    fsync_dir,
    read_bounded,
    read_json_object,
)
from session_event_emitter.settings import is_github_login

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime

    from session_event_emitter.fsutil import StrPath

INSTALL_ID_FILE = "install-id"
_ID_LIMIT = 4096


def sha256_hex(text: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 bytes of `text`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def quarter_salt(now: datetime) -> str:
    """The salt of the UTC quarter containing `now`, e.g. ``salt_2026Q2`` for May 2026."""
    return f"salt_{now.year}Q{(now.month - 1) // 3 + 1}"


def identity_hash(install_id: str, salt: str) -> str:
    return sha256_hex(install_id + salt)


def github_hash(login: str, salt: str) -> str:
    return sha256_hex(login + salt)


def session_id_hash(raw_session_id: str) -> str:
    return sha256_hex(raw_session_id)


def random_session_id() -> str:
    """An unguessable stand-in (256 bits from the OS CSPRNG) when no session id is given."""
    return os.urandom(32).hex()


def _random_uuid4() -> str:
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _read_id(path: StrPath) -> str | None:
    data = read_bounded(path, _ID_LIMIT)
    if data is None:
        return None
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    return text or None


def install_id(home: StrPath, legacy_dir: StrPath, *, create: bool) -> str:
    """Return this install's id, keeping a new random one under `home` when `create` is set.

    With `create` unset (``--dry-run``) nothing is written: a missing id is replaced by a
    random one that is used for that single printout only.
    """
    legacy = _read_id(os.path.join(legacy_dir, "machine-id"))
    if legacy is not None:
        return legacy
    path = os.path.join(home, INSTALL_ID_FILE)
    existing = _read_id(path)
    if existing is not None:
        return existing
    fresh = _random_uuid4()
    if not create:
        return fresh
    ensure_private_dir(home)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        # Another process made it first: its id is the one that counts.
        return _read_id(path) or fresh
    try:
        os.write(fd, (fresh + "\n").encode("ascii"))
        os.fsync(fd)
    except OSError:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)
    fsync_dir(home)
    return fresh


def legacy_github_login(legacy_dir: StrPath) -> str | None:
    """The login cached by the original plugin (``pro-token-cache.json``), if it is valid.

    Only ``valid`` and ``githubLogin`` are read; any token in that file is left alone.
    """
    cache = read_json_object(os.path.join(legacy_dir, "pro-token-cache.json"), 64 * 1024)
    login = cache.get("githubLogin")
    if cache.get("valid") is True and isinstance(login, str) and is_github_login(login):
        return login
    return None
