"""``retry-dead``: put the dead letters (events the server called invalid) back in the outbox."""

from __future__ import annotations

import argparse

from session_event_emitter.commands.console import out
from session_event_emitter.outbox import Outbox
from session_event_emitter.settings import Settings


def run(args: argparse.Namespace) -> int:
    settings = Settings.load(url=args.url)
    moved, waiting = Outbox(settings.home).retry_dead()
    out(f"{moved} dead letter(s) put back in the outbox")
    if waiting:
        out(
            f"{waiting} dead letter(s) kept: the outbox is full "
            "(run `session-event-emit flush`, then retry-dead again)"
        )
    return 0
