"""``enable``: record consent (and the endpoint, if given) in the config file."""

from __future__ import annotations

import argparse

from session_event_emitter.commands.config_file import record
from session_event_emitter.commands.console import err, out
from session_event_emitter.settings import Settings


def run(args: argparse.Namespace) -> int:
    from session_event_emitter.send import gate

    settings = Settings.load(url=args.url)
    values: dict[str, object] = {"telemetry": "on"}
    if args.url is not None:
        if settings.url_problem is not None:
            err(settings.url_problem)
            return 2
        values["url"] = args.url.strip()
    # Under the consent lock: a `disable` stopped before it emptied the outbox is finished
    # first, so nothing from before its "off" is sent after this "on".
    with gate.consent_change(settings.home):
        if gate.withdrawal_pending(settings.home):
            removed, dead = gate.finish_withdrawal(settings.home)
            out(
                f"an unfinished `disable` finished first: {removed} pending event(s) and "
                f"{dead} dead letter(s) deleted"
            )
        elif Settings.load(url=args.url).off_written_in_a_config:
            # An "off" written by hand withdrew consent: nothing from before it is sent.
            removed, dead = gate.finish_withdrawal(settings.home)
            if removed or dead:
                out(
                    f"telemetry was off ({settings.consent.source}): {removed} pending "
                    f"event(s) and {dead} dead letter(s) from before it deleted"
                )
        record(settings, **values)
    after = Settings.load(url=args.url)
    out(f"telemetry on (recorded in {settings.config_path})")
    if not after.consent.enabled:
        err(f"note: {after.consent.source} still turns telemetry off")
    if after.url is None:
        err("note: no endpoint yet: set SESSION_EVENTS_URL or run `enable --url <url>`")
    elif after.url_problem is not None:
        err(f"note: {after.url_problem}")
    elif after.endpoint is not None:
        out(f"events go to {after.endpoint.shown}")
    return 0
