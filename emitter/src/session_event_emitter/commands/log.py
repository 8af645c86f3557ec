"""``log``: the events the server gave a verdict on, one JSON object a line, the last N."""

from __future__ import annotations

import argparse
import json

from session_event_emitter.commands.console import err, out
from session_event_emitter.send import audit
from session_event_emitter.settings import Settings


def run(args: argparse.Namespace) -> int:
    settings = Settings.load(url=args.url)
    records = audit.read_delivered(settings.home, max(args.limit, 0))
    if not records:
        err("no delivered events yet")
    for record in records:
        out(json.dumps(record, sort_keys=True))
    return 0
