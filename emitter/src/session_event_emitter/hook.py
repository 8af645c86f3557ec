"""The SessionEnd hook path: consent first, build the event, store it, start the sender.

Standard library only, no network, nothing on stdout (except the ``--dry-run`` printout),
and the caller turns any failure into a silent exit 0.
"""

from __future__ import annotations

import os
import select
import sys
import time

from session_event_emitter import diagnostics
from session_event_emitter.settings import Settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import TextIO

    from session_event_emitter.pluginversion import PluginVersion

STDIN_LIMIT = 1024 * 1024
STDIN_TIMEOUT_SECONDS = 0.5


def read_hook_stdin(
    stream: TextIO | None, limit: int = STDIN_LIMIT, timeout: float = STDIN_TIMEOUT_SECONDS
) -> bytes:
    """Read the hook input from stdin, bounded in bytes and time; b"" for a terminal.

    Input over `limit` bytes is discarded as malformed. A writer that never closes the
    pipe costs at most `timeout` seconds.
    """
    if stream is None:
        return b""
    try:
        fd = stream.fileno()
        if os.isatty(fd):
            return b""
    except (AttributeError, OSError, ValueError):
        return b""
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                break
            chunk = os.read(fd, 64 * 1024)
        except (OSError, ValueError):
            break
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"" if total > limit else b"".join(chunks)


def run_hook(
    *,
    url: str | None = None,
    tool_count: int | None = None,
    tokens_saved: int | None = None,
    plugin_version: str | None = None,
    dry_run: bool = False,
    env: Mapping[str, str] | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    spawn: Callable[[str, float, str | None, str | None], bool] | None = None,
) -> None:
    """Record this session's event in the outbox and start delivery (or print it, dry-run)."""
    env = os.environ if env is None else env
    settings = Settings.load(env, url=url)
    if not dry_run:
        why_not = _why_nothing_is_stored(settings)
        if why_not is not None:
            # Consent off (or nowhere to send): touch nothing, open nothing, unless an "off"
            # written into a config file left events from before it, to be deleted.
            diagnostics.debug(__name__, "nothing stored: %s", why_not)
            if settings.off_written_in_a_config and _holds_anything(settings.home_dir):
                # The sender deletes them, as `disable` would (the hook never waits on a lock).
                from session_event_emitter.spawn import start_sender

                (spawn or start_sender)(settings.home_dir, settings.sender_deadline, url, None)
            return
    # Only now, with consent, load what building and storing an event needs.
    from session_event_emitter.event import (
        HookInput,
        build_event,
        idempotency_key,
        known_session_id,
    )
    from session_event_emitter.outbox import Outbox
    from session_event_emitter.spawn import start_sender

    hook = HookInput.parse(read_hook_stdin(sys.stdin if stdin is None else stdin))
    event = build_event(
        settings,
        hook,
        env,
        tool_count=tool_count,
        tokens_saved=tokens_saved,
        plugin_version=plugin_version,
        create_install_id=not dry_run,
    )
    if dry_run:
        from session_event_emitter.pluginversion import resolve

        version = resolve(plugin_version, env)
        _print_dry_run(event, settings, known_session_id(hook, env) is None, stdout, version)
        return
    outbox = Outbox(settings.home_dir)
    key = idempotency_key(event)
    stored = False
    try:
        stored = outbox.put(key, event)
        # `disable` records "off" before it empties the outbox: read consent again, so an
        # event stored while it ran is not left behind it.
        if not Settings.load(env, url=url).consent.enabled:
            outbox.remove(key)
            diagnostics.debug(__name__, "telemetry went off while the event was stored")
            return
    except OSError as exc:
        diagnostics.debug(__name__, "outbox write failed: %s", type(exc).__name__)
    else:
        # The event (or the first one of this session) is safely stored: its refs are sent.
        from session_event_emitter.refs import forget

        forget(settings.home_dir, str(event["session_id_hash"]))
    if diagnostics.enabled() and settings.url_problem is not None:
        # The sender records this for `status` too; parsing the URL here costs only debuggers.
        diagnostics.debug(__name__, "event kept, not sent yet: %s", settings.url_problem)
    keep = key if stored else None
    started = (spawn or start_sender)(settings.home_dir, settings.sender_deadline, url, keep)
    if stored and not started:
        # The sender applies the outbox's bounds first thing; without one, the hook does.
        try:
            outbox.enforce_limits(keep=outbox.path_of(key))
        except OSError as exc:
            diagnostics.debug(__name__, "outbox bounds not applied: %s", type(exc).__name__)


def _holds_anything(home: str) -> bool:
    """Whether the outbox, the dead letters put back or not, or the refs of running
    sessions hold an entry (a few directory reads)."""
    for folder in ("outbox", "retried", "dead-letter", "session-refs"):
        try:
            with os.scandir(os.path.join(home, folder)) as entries:
                if any(entry.name.endswith(".json") for entry in entries):
                    return True
        except OSError:
            pass
    return False


def _print_dry_run(
    event: dict[str, object],
    settings: Settings,
    random_session: bool,
    stdout: TextIO | None,
    version: PluginVersion,
) -> None:
    """The event on stdout; on stderr, where its plugin_version came from, and each way in
    which the real one will differ (a "note:")."""
    import json

    from session_event_emitter.event import IDENTITY_NOT_MADE_YET

    out = sys.stdout if stdout is None else stdout
    out.write(json.dumps(event, indent=2) + "\n")
    out.flush()
    for skipped in version.skipped:
        sys.stderr.write(f"plugin_version: {skipped}\n")
    sys.stderr.write(f"plugin_version {version.value} (source: {version.source})\n")
    notes = []
    if event["identity_hash"] == IDENTITY_NOT_MADE_YET:
        notes.append(
            "this install has no install id yet (a dry run writes nothing): identity_hash "
            "is made at the first consented run"
        )
    if random_session:
        notes.append(
            "no session id was given (session_id on stdin, or CLAUDE_SESSION_ID): "
            "session_id_hash is random, a new one in each run"
        )
    why_not = _why_nothing_is_stored(settings) or settings.url_problem
    if why_not is not None:
        notes.append(f"{why_not}; nothing would be sent")
    for note in notes:
        sys.stderr.write(f"note: {note}\n")


def _why_nothing_is_stored(settings: Settings) -> str | None:
    """Why the hook stores nothing: consent off, or no URL configured at all.

    A URL that is configured but unusable still stores the consented event: it is sent
    once the URL is fixed, and ``status`` names the problem meanwhile.
    """
    if not settings.consent.enabled:
        return f"telemetry is off ({settings.consent.source})"
    if settings.url is None:
        return "no endpoint is configured (SESSION_EVENTS_URL or `enable --url`)"
    return None
