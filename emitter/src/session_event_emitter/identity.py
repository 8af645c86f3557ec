"""Derives the one-way identifiers of an event: install identity, GitHub link and session.

- ``identity_hash`` = sha256(install id + ``salt_<YYYY>Q<n>``), the UTC quarter's salt.
  The install id is the original plugin's ``~/.ashlr/machine-id`` when it holds one (read
  and trimmed as the original does), else a random UUID made once and kept in
  ``$SESSION_EVENTS_HOME/install-id`` (mode 0600); when ``~/.ashlr/`` exists without a
  ``machine-id``, that UUID is written there too, so both emitters send one identity.
  Both files are complete before they have their names, and the first one placed wins,
  so hooks racing on a fresh install agree on one id.
  Never the OS machine id.
- ``github_hash`` = sha256(login + the same salt), only when a login is configured.
- ``session_id_hash`` = sha256(raw session id); with no id available the raw id is random
  (never derived from a PID, a username or a path).
"""

from __future__ import annotations

import os
import sys

from session_event_emitter.fsutil import (
    PRIVATE_FILE_MODE,
    TMP_PREFIX,
    ensure_private_dir,
    fsync_dir,
    read_bounded,
    read_json_object,
    unlink_quietly,
    write_atomic,
)
from session_event_emitter.jstext import js_trim
from session_event_emitter.settings import is_github_login

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from hashlib import _Hash

    from session_event_emitter.fsutil import StrPath

INSTALL_ID_FILE = "install-id"
MACHINE_ID_FILE = "machine-id"
_ID_LIMIT = 64 * 1024
_LOWER_HEX = frozenset("0123456789abcdef")


def sha256_hex(text: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 bytes of `text`, as Node's ``hash.update(text)``.

    A lone surrogate (JSON allows ``"\\ud800"``) is hashed as U+FFFD, as Node encodes it.
    """
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        data = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text).encode()
    return _sha256(data).hexdigest()


def _sha256_function() -> Callable[[bytes], _Hash]:
    """SHA-256 from the interpreter's built-in module where it has one, else from hashlib.

    hashlib's import loads OpenSSL, which costs the hook a few milliseconds for one hash of
    a few bytes; the built-in module computes the same digest (checked against hashlib).
    """
    try:
        if sys.version_info >= (3, 12):
            from _sha2 import sha256  # type: ignore[import-not-found,unused-ignore]
        else:
            from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        from hashlib import sha256
    return sha256  # type: ignore[no-any-return]


_sha256 = _sha256_function()


def quarter_salt(year: int, month: int) -> str:
    """The salt of a UTC quarter given by a month in it, e.g. ``salt_2026Q2`` for May 2026."""
    return f"salt_{year}Q{(month - 1) // 3 + 1}"


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
    """An id file's text trimmed as the original trims it; None when missing or blank.

    The bytes are decoded as Node's ``readFileSync(path, "utf-8")`` does (a malformed
    sequence becomes U+FFFD, a byte-order mark is kept and then trimmed as white space).
    """
    data = read_bounded(path, _ID_LIMIT)
    if data is None:
        return None
    return js_trim(data.decode("utf-8", "replace")) or None


def install_id(home: StrPath, legacy_dir: StrPath, *, create: bool) -> str:
    """Return this install's id, keeping a new random one under `home` when `create` is set.

    The original plugin's ``machine-id`` wins when it holds one. Otherwise, with `create`
    set, the id kept under `home` (made now if needed) is also written to the original's
    directory when that directory exists, so that the original, when it runs, sends the
    same identity. With `create` unset (``--dry-run``) nothing is written: a missing id is
    replaced by a random one that is used for that single printout only.
    """
    legacy_path = os.path.join(legacy_dir, MACHINE_ID_FILE)
    legacy = _read_id(legacy_path)
    if legacy is not None:
        return legacy
    own = _own_install_id(home, create=create)
    if create and os.path.isdir(legacy_dir):
        return _share_with_original(legacy_path, own)
    return own


def kept_install_id(home: StrPath, legacy_dir: StrPath) -> str | None:
    """The install id as the next consented run will use it, if one exists yet; writes nothing.

    None before the first consented run has made one (``--dry-run`` says so instead).
    """
    return _read_id(os.path.join(legacy_dir, MACHINE_ID_FILE)) or _read_id(
        os.path.join(home, INSTALL_ID_FILE)
    )


def every_install_id(home: StrPath, legacy_dir: StrPath) -> list[str]:
    """Every install id this machine's events can carry, each once; writes nothing.

    The original plugin's ``machine-id`` and the id kept under `home` are the same id once
    both exist, but events sent before the original wrote its own carry ours.
    """
    found = [
        _read_id(os.path.join(legacy_dir, MACHINE_ID_FILE)),
        _read_id(os.path.join(home, INSTALL_ID_FILE)),
    ]
    return list(dict.fromkeys(text for text in found if text is not None))


def _own_install_id(home: StrPath, *, create: bool) -> str:
    """The id kept in ``home/install-id``; made now, once for all racing hooks, if `create`.

    A new id is complete before it has its name (`_place_whole`), so a hook that reads the
    file meanwhile finds either no file or the whole id, and every hook racing on a fresh
    install takes the id of the one whose link came first.
    """
    path = os.path.join(home, INSTALL_ID_FILE)
    existing = _read_id(path)
    if existing is not None:
        return existing
    fresh = _random_uuid4()
    if not create:
        return fresh
    ensure_private_dir(home)
    if os.path.lexists(path):
        # There but blank: what an interrupted first run of an older version could leave.
        return _replace_blank_install_id(home, path, fresh)
    _place_whole(path, fresh + "\n")
    return _read_id(path) or fresh


def _replace_blank_install_id(home: StrPath, path: str, fresh: str) -> str:
    """Replace a blank install-id with `fresh`, once: racing hooks take turns under a lock
    and the later ones find the id the first one wrote."""
    import fcntl

    fd = os.open(os.path.join(home, ".install-id.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        existing = _read_id(path)
        if existing is not None:
            return existing
        write_atomic(path, (fresh + "\n").encode("ascii"))
        return fresh
    finally:
        os.close(fd)


def _share_with_original(legacy_path: str, own: str) -> str:
    """Write `own` as the original's ``machine-id`` unless one appears first; return the winner.

    The file is complete before it has its name (`_place_whole`), so the original never
    reads a half-written id and an id written meanwhile is kept. A file that exists but is
    blank is left alone (the original replaces it itself).
    """
    if not _is_uuid(own):
        return own  # only ever a UUID there, as the original writes
    if os.path.lexists(legacy_path):
        return own
    try:
        _place_whole(legacy_path, own)
    except OSError:
        return own  # read-only or foreign directory: keep our own id
    return _read_id(legacy_path) or own


def _place_whole(path: str, text: str) -> None:
    """Create `path` holding `text` unless it exists: the first writer wins, whole.

    The text goes to a private temporary file, is synced, and is hard-linked to `path`,
    which fails rather than replaces when the name exists: a reader never sees the file
    without all of its text. Where there are no hard links, the file is created
    exclusively and written (complete for any reader that comes after the write).
    """
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f"{TMP_PREFIX}{os.urandom(8).hex()}-{os.path.basename(path)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        try:
            os.fchmod(fd, PRIVATE_FILE_MODE)
            os.write(fd, text.encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return  # another hook (or the original) was first: its id stands
        except OSError:
            _create_exclusive(path, text)  # no hard links on this file system
        else:
            fsync_dir(directory)
    finally:
        unlink_quietly(tmp)


def _create_exclusive(path: str, text: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    try:
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_uuid(text: str) -> bool:
    return len(text) == 36 and all(
        (c == "-") if i in (8, 13, 18, 23) else (c in _LOWER_HEX) for i, c in enumerate(text)
    )


def legacy_github_login(legacy_dir: StrPath) -> str | None:
    """The login cached by the original plugin (``pro-token-cache.json``), if it is valid.

    Only ``valid`` and ``githubLogin`` are read; any token in that file is left alone. The
    login is trimmed as the original trims it (`js_trim`) before it is checked.
    """
    cache = read_json_object(os.path.join(legacy_dir, "pro-token-cache.json"), 64 * 1024)
    raw = cache.get("githubLogin")
    if cache.get("valid") is not True or not isinstance(raw, str):
        return None
    login = js_trim(raw)
    return login if is_github_login(login) else None
