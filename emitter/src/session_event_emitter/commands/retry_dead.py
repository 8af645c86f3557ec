"""``retry-dead``: put the dead letters (events the server called invalid) back in the outbox."""

from __future__ import annotations

import argparse

from session_event_emitter.commands.console import err, out
from session_event_emitter.outbox import Outbox
from session_event_emitter.settings import Settings


def run(args: argparse.Namespace) -> int:
    from session_event_emitter.send import gate

    home = Settings.load(url=args.url).home
    # Under the lock `disable` empties the outbox with, consent read again under it: a
    # `disable` beside this one either comes after (and deletes what went back) or
    # before (and nothing goes back).
    with gate.consent_change(home, on_wait=lambda: err("waiting for the request in flight…")):
        if gate.withdrawal_pending(home):
            gate.finish_withdrawal(home)  # a `disable` that was stopped half-way
        settings = Settings.load(url=args.url)
        if not settings.consent.enabled:
            err(f"telemetry is off ({settings.consent.source}); no dead letter put back")
            return 0
        moved, waiting = Outbox(home).retry_dead()
    out(f"{moved} dead letter(s) put back in the outbox")
    if waiting:
        out(
            f"{waiting} dead letter(s) kept: the outbox is full "
            "(run `session-event-emit flush`, then retry-dead again)"
        )
    return 0
