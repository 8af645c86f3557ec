"""Reads the local facts an event counts: git HEAD, tool-use blocks, and the stats file.

Each reader is bounded in time or bytes, returns None when it cannot answer, and never
raises. Only numbers and a commit-SHA prefix come out of here.
"""

from __future__ import annotations

import json
import os
import stat

from session_event_emitter import diagnostics, githead
from session_event_emitter.fsutil import read_json_object
from session_event_emitter.limits import MAX_TOKENS_SAVED, MAX_TOOL_COUNT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

GIT_TIMEOUT_SECONDS = 0.3
TRANSCRIPT_READ_LIMIT = 32 * 1024 * 1024
STATS_READ_LIMIT = 8 * 1024 * 1024

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
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return []
    if not isinstance(record, dict):
        return []
    message = record.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return []
    return [block for block in content if isinstance(block, dict)]


def stats_counts(
    legacy_dir: str | Path, raw_session_id: str | None
) -> tuple[int | None, int | None]:
    """``sessions[<id>].calls`` and ``.tokensSaved`` from the original plugin's stats file."""
    if not raw_session_id:
        return None, None
    stats = read_json_object(os.path.join(legacy_dir, "stats.json"), STATS_READ_LIMIT)
    sessions = stats.get("sessions")
    entry = sessions.get(raw_session_id) if isinstance(sessions, dict) else None
    if not isinstance(entry, dict):
        return None, None
    return (
        clamp_count(entry.get("calls"), MAX_TOOL_COUNT),
        clamp_count(entry.get("tokensSaved"), MAX_TOKENS_SAVED),
    )


def clamp_count(value: object, maximum: int) -> int | None:
    """A non-negative integer capped at `maximum`; None for anything that is not one."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return min(value, maximum)
