"""``disable``: withdraw consent, wait for a request in flight, then empty the outbox."""

from __future__ import annotations

import argparse

from session_event_emitter.commands.config_file import record
from session_event_emitter.commands.console import err, out
from session_event_emitter.settings import Settings


def run(args: argparse.Namespace) -> int:
    from session_event_emitter.send import gate

    settings = Settings.load(url=args.url)
    # Marked first: if this command is stopped before the outbox is empty, the next one
    # that takes the consent lock empties it. Then "off": every request not yet under way
    # sees it. Then wait for the one in flight (if any) to have its answer, and only then
    # empty the outbox, under the lock that `retry-dead` and `enable` take too.
    gate.begin_withdrawal(settings.home)
    record(settings, telemetry="off")
    with gate.consent_change(
        settings.home, on_wait=lambda: err("waiting for the request in flight to end…")
    ):
        removed, dead = gate.finish_withdrawal(settings.home)
    out(
        f"telemetry off (recorded in {settings.config_path}); {removed} pending event(s) "
        f"and {dead} dead letter(s) deleted"
    )
    return 0
