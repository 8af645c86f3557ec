"""Reads the local facts an event counts: git HEAD, tool-use blocks, and the stats file.

Each reader is bounded in time or bytes, returns None when it cannot answer, and never
raises. Only numbers and a commit-SHA prefix come out of here.
"""

from __future__ import annotations

import math
import os
import stat
import time

from session_event_emitter import diagnostics, githead, jsjson, jsoncodec
from session_event_emitter.jstext import js_trim
from session_event_emitter.limits import MAX_TOKENS_SAVED, MAX_TOOL_COUNT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

GIT_TIMEOUT_SECONDS = 0.3
TRANSCRIPT_READ_LIMIT = 32 * 1024 * 1024
STATS_READ_LIMIT = 8 * 1024 * 1024
HINT_READ_LIMIT = 64 * 1024
SESSION_HINT_TTL_SECONDS = 24 * 60 * 60

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_TOOL_USE_MARK = b'"tool_use"'


def _is_sha(text: str) -> bool:
    return 7 <= len(text) <= 40 and all(c in _HEX_DIGITS for c in text)


def git_head_sha(cwd: str | None, timeout: float = GIT_TIMEOUT_SECONDS) -> str | None:
    """``git rev-parse --short=12 HEAD`` in `cwd`, lowercased; None outside a repository.

    The answer is read from the repository's files (githead.py) in the common layouts,
    which costs a few file reads where starting git costs milliseconds; git itself is asked
    wherever the files alone cannot answer. git lengthens a prefix that is ambiguous among
    the repository's objects; the file reader always keeps 12 digits of the same commit.
    """
    directory = cwd if cwd and os.path.isdir(cwd) else None
    if directory is None:
        return None
    try:
        sha = githead.head_commit(directory, os.environ)
    except githead.Undecided as exc:
        diagnostics.debug(__name__, "asking git: %s", exc)
        return _git_rev_parse(directory, timeout)
    except OSError as exc:
        diagnostics.debug(__name__, "asking git: %s", type(exc).__name__)
        return _git_rev_parse(directory, timeout)
    return sha[:12] if sha is not None else None


def _git_rev_parse(directory: str, timeout: float) -> str | None:
    import subprocess  # only where the files cannot answer: the hook path's heaviest import

    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
    try:
        done = subprocess.run(
            ["git", "-c", "core.fsmonitor=false", "rev-parse", "--short=12", "HEAD"],
            cwd=directory,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        diagnostics.debug(__name__, "git rev-parse unavailable: %s", type(exc).__name__)
        return None
    if done.returncode != 0:
        return None
    sha = done.stdout.decode("ascii", "replace").strip()
    return sha.lower() if _is_sha(sha) else None


def transcript_tool_count(path: str | None, limit: int = TRANSCRIPT_READ_LIMIT) -> int | None:
    """Count the tool-use blocks of a JSONL transcript, reading at most `limit` bytes.

    Only lines that mention ``"tool_use"`` are parsed, and of those only the ``type`` and
    ``id`` of the blocks in ``message.content`` are looked at. A block repeated across
    lines (same id) counts once. None when the file cannot be read.
    """
    if not path:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (OSError, ValueError):
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            data = handle.read(limit)
    except OSError:
        return None
    ids: set[str] = set()
    anonymous = 0
    for line in data.split(b"\n"):
        if _TOOL_USE_MARK not in line:
            continue
        for block in _content_blocks(line):
            if block.get("type") != "tool_use":
                continue
            block_id = block.get("id")
            if isinstance(block_id, str) and block_id:
                ids.add(block_id)
            else:
                anonymous += 1
    return min(len(ids) + anonymous, MAX_TOOL_COUNT)


def _content_blocks(line: bytes) -> list[dict[str, object]]:
    try:
        record = jsoncodec.loads(line)
    except (ValueError, RecursionError):
        return []
    if not isinstance(record, dict):
        return []
    message = record.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return []
    return [block for block in content if isinstance(block, dict)]


def stats_database(env: Mapping[str, str], legacy_dir: str) -> str | None:
    """The original's SQLite stats file when its ``ASHLR_STATS_BACKEND`` is exactly ``sqlite``
    (``ASHLR_STATS_DB_PATH``, else ``stats.db`` in its directory); None for its JSON file."""
    if env.get("ASHLR_STATS_BACKEND") != "sqlite":
        return None
    return env.get("ASHLR_STATS_DB_PATH") or os.path.join(legacy_dir, "stats.db")


def stats_counts(
    legacy_dir: str | Path,
    raw_session_id: str | None,
    *,
    now: float | None = None,
    database: str | None = None,
) -> tuple[int | None, int | None]:
    """Calls and tokens saved of this session as the original plugin adds them up.

    Its SessionEnd emitter sums ``calls`` and ``tokensSaved`` over the buckets of every id
    the session may have written under: the session's own id and the ``sessionId`` of
    ``last-project.json`` when its ``updatedAt`` is at most 24 hours old (each bucket
    once). The buckets are those of ``stats.json``, or the rows of the SQLite `database`
    (`stats_database`). (None, None) when neither bucket exists, so that the caller can
    count another way.
    """
    if database is None:
        sessions = _stats_sessions(os.path.join(legacy_dir, "stats.json"))
        if not sessions:
            return None, None
    ids: list[str] = []
    for candidate in (raw_session_id, session_hint(legacy_dir, now=now)):
        if candidate and candidate not in ids:
            ids.append(candidate)
    if database is not None:
        sessions = _database_sessions(database, ids)
    buckets = [sessions[sid] for sid in ids if sid in sessions]
    if not buckets:
        return None, None
    calls = sum(_number_or_zero(_field(bucket, "calls")) for bucket in buckets)
    tokens = sum(_number_or_zero(_field(bucket, "tokensSaved")) for bucket in buckets)
    return _whole(calls, MAX_TOOL_COUNT), _whole(tokens, MAX_TOKENS_SAVED)


def session_hint(legacy_dir: str | Path, *, now: float | None = None) -> str | None:
    """The ``sessionId`` of ``last-project.json`` when ``updatedAt`` is 0 to 24 hours old.

    As the original reads it: both must be strings, the id is trimmed (`js_trim`) and
    must not be blank, and a time in the future or older than 24 hours is no hint.
    """
    hint = jsjson.read_object(os.path.join(legacy_dir, "last-project.json"), HINT_READ_LIMIT) or {}
    session_id, updated_at = hint.get("sessionId"), hint.get("updatedAt")
    if not isinstance(session_id, str) or not isinstance(updated_at, str):
        return None
    trimmed = js_trim(session_id)
    moment = _js_date_seconds(updated_at)
    if not trimmed or moment is None:
        return None
    age = (time.time() if now is None else now) - moment
    return trimmed if 0 <= age <= SESSION_HINT_TTL_SECONDS else None


def _stats_sessions(path: str) -> dict[str, object]:
    """``sessions`` of a stats file the original reads as its current layout, else {}.

    The original keeps per-session buckets only from a file with ``schemaVersion`` 2 and
    both ``sessions`` and ``lifetime`` present (an older layout has no buckets).
    """
    stats = jsjson.read_object(path, STATS_READ_LIMIT) or {}
    sessions = stats.get("sessions")
    version = stats.get("schemaVersion")
    if isinstance(version, bool) or version != 2 or not _js_truthy(stats.get("lifetime")):
        return {}
    return sessions if isinstance(sessions, dict) else {}


def _database_sessions(path: str, ids: list[str]) -> dict[str, object]:
    """The database's rows of `ids` as ``stats.json`` buckets; {} when it cannot be read."""
    from session_event_emitter import statsdb  # sqlite3: for this backend's users only

    rows = statsdb.session_rows(path, ids) or {}
    return {sid: {"calls": calls, "tokensSaved": tokens} for sid, (calls, tokens) in rows.items()}


def _js_truthy(value: object) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == value and value != 0  # NaN and 0 are falsy
    if isinstance(value, str):
        return value != ""
    return True


def _field(bucket: object, name: str) -> object:
    return bucket.get(name) if isinstance(bucket, dict) else None


def _number_or_zero(value: object) -> float:
    """The original's ``numOr0``: a finite JSON number, else 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return value if math.isfinite(value) else 0


def _whole(total: float, maximum: int) -> int:
    """A sum as a count the server takes: whole, 0 or more, at most `maximum`.

    The original's buckets only ever hold whole numbers; a fraction (which the original
    would send and its server refuse) is rounded down, a negative sum is 0.
    """
    if total <= 0:
        return 0
    return min(math.floor(total), maximum)


def _js_date_seconds(text: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 date as ``new Date(text)`` reads it, else None.

    A date alone is UTC and a date-time without an offset is local time, as in JavaScript.
    """
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None and len(text) == 10:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def clamp_count(value: object, maximum: int) -> int | None:
    """A non-negative integer capped at `maximum`; None for anything that is not one."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return min(value, maximum)
