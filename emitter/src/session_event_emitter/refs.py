"""Discovery refs touched in a running session, kept locally until its SessionEnd event takes them.

This is the store. ``session-event-emit ref REF...`` (commands/ref.py) records refs from a
PostToolUse hook or the plugin; the SessionEnd hook adds them to that session's
``discovery_refs`` after the configured ones and forgets them once the event is in the outbox.
Layout under ``$SESSION_EVENTS_HOME``::

    session-refs/<session_id_hash>.json   {"v": 1, "refs": [...]} in order of first use
    session-refs/.lock                    held while a file is read, changed and replaced

Files are private (0600 in a 0700 directory) and replaced atomically; the lock makes
concurrent ``ref`` runs of one session add up rather than overwrite each other. Bounds: at
most 200 refs a session (the first used are kept), at most 100 session files, none older
than 7 days (a session that never ended). With consent off nothing is created at all.
"""

from __future__ import annotations

import os
import time

from session_event_emitter import jsoncodec
from session_event_emitter.fsutil import (
    TMP_PREFIX,
    ensure_private_dir,
    read_bounded,
    unlink_quietly,
    write_atomic,
)
from session_event_emitter.settings import MAX_DISCOVERY_REFS, is_ref

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


REFS_DIR = "session-refs"
LOCK_FILE = ".lock"
FILE_VERSION = 1
MAX_SESSION_FILES = 100
MAX_AGE_SECONDS = 7 * 24 * 3600.0
LOCK_TIMEOUT_SECONDS = 5.0
FILE_LIMIT = 64 * 1024
_LOWER_HEX = frozenset("0123456789abcdef")


def merge(*sources: Iterable[str]) -> list[str]:
    """The refs of `sources` in order of first use, each once, at most 200."""
    merged: dict[str, None] = {}
    for source in sources:
        for ref in source:
            if len(merged) >= MAX_DISCOVERY_REFS:
                return list(merged)
            merged.setdefault(ref, None)
    return list(merged)


def _is_session_hash(text: str) -> bool:
    return len(text) == 64 and all(c in _LOWER_HEX for c in text)


def _path(home: str, session_hash: str) -> str:
    if not _is_session_hash(session_hash):
        raise ValueError("not a session hash")
    return os.path.join(home, REFS_DIR, f"{session_hash}.json")


def session_refs(home: str | os.PathLike[str], session_hash: str) -> list[str]:
    """The refs recorded for one session (valid ones only); [] when there are none."""
    data = read_bounded(_path(os.fspath(home), session_hash), FILE_LIMIT)
    if data is None:
        return []
    try:
        value = jsoncodec.loads(data)
    except (ValueError, RecursionError):
        return []
    stored = value.get("refs") if isinstance(value, dict) else None
    if not isinstance(stored, list):
        return []
    return merge(item for item in stored if isinstance(item, str) and is_ref(item))


def forget(home: str | os.PathLike[str], session_hash: str) -> None:
    """Drop one session's refs (its event has taken them; the pair is sent only once)."""
    try:
        path = _path(os.fspath(home), session_hash)
    except ValueError:
        return
    unlink_quietly(path)


def record(home: str | os.PathLike[str], session_hash: str, new_refs: Sequence[str]) -> int:
    """Add valid `new_refs` to one session's refs; returns how many were not there yet.

    Raises OSError when the refs cannot be stored, TimeoutError when the lock stays taken.
    """
    wanted = [ref for ref in new_refs if is_ref(ref)]
    if not wanted:
        return 0
    base = os.fspath(home)
    path = _path(base, session_hash)
    directory = ensure_private_dir(os.path.join(base, REFS_DIR))
    lock = _lock(directory)
    try:
        before = session_refs(base, session_hash)
        after = merge(before, wanted)
        if after == before:
            return 0
        if not before:
            _prune(directory, keep=path)
        body = {"v": FILE_VERSION, "refs": after}
        write_atomic(path, jsoncodec.dumps(body).encode("ascii"))
        return len(after) - len(before)
    finally:
        os.close(lock)  # closing releases the lock


def clear(home: str | os.PathLike[str]) -> int:
    """Drop every session's refs (for ``disable``); returns how many sessions had some."""
    directory = os.path.join(os.fspath(home), REFS_DIR)
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    removed = 0
    for name in names:
        if name.endswith(".json") and _is_session_hash(name[:-5]):
            removed += unlink_quietly(os.path.join(directory, name))
    return removed


def _lock(directory: str) -> int:
    """The refs lock, taken: a descriptor whose closing releases it."""
    import fcntl

    fd = os.open(os.path.join(directory, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise TimeoutError("session refs are locked") from None
            time.sleep(0.005)
        except BaseException:
            os.close(fd)
            raise


def _prune(directory: str, *, keep: str, now: float | None = None) -> None:
    """Remove session files older than 7 days, then the oldest past 100 (and stale temp files)."""
    moment = time.time() if now is None else now
    files: list[tuple[float, str]] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        path = os.path.join(directory, name)
        is_session = name.endswith(".json") and _is_session_hash(name[:-5])
        if path == keep or not (is_session or name.startswith(TMP_PREFIX)):
            continue
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            continue
        too_old = moment - mtime > (MAX_AGE_SECONDS if is_session else 3600.0)
        if too_old:
            unlink_quietly(path)
        elif is_session:
            files.append((mtime, path))
    files.sort()
    for _, path in files[: max(0, len(files) - (MAX_SESSION_FILES - 1))]:
        unlink_quietly(path)
