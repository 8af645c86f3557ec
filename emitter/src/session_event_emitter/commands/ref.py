"""``ref REF...``: record discovery refs touched in the running session, for its SessionEnd event.

Run by a PostToolUse hook after every tool call (or by the plugin), so it stays as light as
the hook: no argparse when the command line is only refs (cli.py parses it), the standard
library only. A hook run prints nothing and exits 0; run by hand it says what went wrong.
"""

from __future__ import annotations

import os
import sys

from session_event_emitter import diagnostics
from session_event_emitter.refs import record
from session_event_emitter.settings import is_ref

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Mapping, Sequence
    from typing import Protocol, TextIO

    class RefArgs(Protocol):
        """What ``ref`` reads of its command line."""

        url: str | None
        session_id: str | None
        refs: list[str]


HOOK_STDIN_LIMIT = 8 * 1024 * 1024  # PostToolUse input carries the tool's whole answer


def runs_as_hook(arguments: Sequence[str], stdin: TextIO | None) -> bool:
    """A ``ref`` run is a hook run unless ``--session-id`` is given or stdin is a terminal."""
    if any(arg == "--session-id" or arg.startswith("--session-id=") for arg in arguments):
        return False
    try:
        return stdin is not None and not os.isatty(stdin.fileno())
    except (AttributeError, OSError, ValueError):
        return True


def run(args: argparse.Namespace | RefArgs) -> int:
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
