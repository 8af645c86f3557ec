"""Discovery refs touched in a running session, kept locally until its SessionEnd event takes them.

``session-event-emit ref REF...`` records refs (from a PostToolUse hook or the plugin); the
SessionEnd hook adds them to that session's ``discovery_refs`` after the configured ones
and forgets them once the event is in the outbox. Layout under ``$SESSION_EVENTS_HOME``::

    session-refs/<session_id_hash>.json   {"v": 1, "refs": [...]} in order of first use
    session-refs/.lock                    held while a file is read, changed and replaced

Files are private (0600 in a 0700 directory) and replaced atomically; the lock makes
concurrent ``ref`` runs of one session add up rather than overwrite each other. Bounds: at
most 200 refs a session (the first used are kept), at most 100 session files, none older
than 7 days (a session that never ended). With consent off nothing is created at all.
"""

from __future__ import annotations

import os
import sys
import time

from session_event_emitter import diagnostics, jsoncodec
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
    import argparse
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Protocol, TextIO

    class RefArgs(Protocol):
        """What ``ref`` reads of its command line."""

        url: str | None
        session_id: str | None
        refs: list[str]


REFS_DIR = "session-refs"
LOCK_FILE = ".lock"
FILE_VERSION = 1
MAX_SESSION_FILES = 100
MAX_AGE_SECONDS = 7 * 24 * 3600.0
LOCK_TIMEOUT_SECONDS = 5.0
FILE_LIMIT = 64 * 1024
HOOK_STDIN_LIMIT = 8 * 1024 * 1024  # PostToolUse input carries the tool's whole answer
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


def runs_as_hook(arguments: Sequence[str], stdin: TextIO | None) -> bool:
    """A ``ref`` run is a hook run unless ``--session-id`` is given or stdin is a terminal."""
    if any(arg == "--session-id" or arg.startswith("--session-id=") for arg in arguments):
        return False
    try:
        return stdin is not None and not os.isatty(stdin.fileno())
    except (AttributeError, OSError, ValueError):
        return True


def command(args: argparse.Namespace | RefArgs) -> int:
    """``session-event-emit ref``: a hook run always exits 0 and prints nothing."""
    as_hook = args.session_id is None and runs_as_hook([], sys.stdin)
    if not as_hook:
        return _record_from(args, os.environ, sys.stdin, say=_stderr)
    try:
        _record_from(args, os.environ, sys.stdin, say=None)
    except BaseException as exc:  # a hook must never fail the tool call
        diagnostics.debug(__name__, "ref failed: %s", type(exc).__name__)
    return 0


def _stderr(text: str) -> None:
    sys.stderr.write(f"session-event-emit ref: {text}\n")


def _record_from(
    args: argparse.Namespace | RefArgs,
    env: Mapping[str, str],
    stdin: TextIO | None,
    *,
    say: Callable[[str], None] | None,
) -> int:
    """Record the refs of `args`; `say` (None in a hook run) hears what went wrong."""
    from session_event_emitter.settings import Settings

    settings = Settings.load(env, url=args.url)
    if not settings.consent.enabled or settings.url is None:
        if say is not None:
            why = (
                f"telemetry is off ({settings.consent.source})"
                if not settings.consent.enabled
                else "no endpoint is configured"
            )
            say(f"{why}; nothing recorded")
        return 0
    from session_event_emitter.event import HookInput, known_session_id, session_id_text
    from session_event_emitter.hook import read_hook_stdin
    from session_event_emitter.identity import session_id_hash

    if args.session_id is not None:
        session_id = session_id_text(args.session_id)
    else:
        data = read_hook_stdin(stdin, limit=HOOK_STDIN_LIMIT)
        session_id = known_session_id(HookInput.parse(data), env)
    if session_id is None:
        if say is not None:
            say("no session id (give --session-id, or the hook JSON on stdin)")
        return 2
    invalid = [ref for ref in args.refs if not is_ref(ref)]
    if say is not None:
        for ref in invalid:
            say(f"skipped, not a discovery ref: {ref!r}")
    try:
        record(settings.home_dir, session_id_hash(session_id), args.refs)
    except (OSError, TimeoutError) as exc:
        if say is not None:
            say(f"could not store the refs: {type(exc).__name__}: {exc}")
        return 1
    return 1 if invalid else 0
