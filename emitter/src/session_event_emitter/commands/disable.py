"""``disable``: withdraw consent, wait for a request in flight, then empty the outbox."""

from __future__ import annotations

import argparse

from session_event_emitter import refs
from session_event_emitter.commands.config_file import record
from session_event_emitter.commands.console import err, out
from session_event_emitter.outbox import Outbox
from session_event_emitter.settings import Settings


def run(args: argparse.Namespace) -> int:
    from session_event_emitter.send.gate import consent_change

    settings = Settings.load(url=args.url)
    # "off" first: every request not yet under way sees it. Then wait for the one in flight
    # (if any) to have its answer, and only then empty the outbox.
    record(settings, telemetry="off")
    with consent_change(
        settings.home, on_wait=lambda: err("waiting for the request in flight to end…")
    ):
        outbox = Outbox(settings.home)
        removed = outbox.clear()
        dead = outbox.clear_dead_letters()  # nothing of before "off" may leave after it
        refs.clear(settings.home)  # the refs recorded for sessions not yet ended
    out(
        f"telemetry off (recorded in {settings.config_path}); {removed} pending event(s) "
        f"and {dead} dead letter(s) deleted"
    )
    return 0
