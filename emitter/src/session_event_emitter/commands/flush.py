"""``flush``: deliver the outbox now, in the foreground, within a deadline.

When a delivery is already running (a sender the hook started), flush says so, waits for
it within its own deadline, reports what that delivery did, then sends what is left.
"""

from __future__ import annotations

import argparse
import sys

from session_event_emitter.commands.console import err, out
from session_event_emitter.outbox import Outbox
from session_event_emitter.settings import Settings

# The foreground run's own deadline, then the kernel's: a grace second past it.
FLUSH_GRACE_SECONDS = 1.0


def run(args: argparse.Namespace) -> int:
    from session_event_emitter.send import deadline, delivery  # requests: only when flushing

    settings = Settings.load(url=args.url, sender_deadline=args.deadline)
    if not settings.consent.enabled and not settings.off_written_in_a_config:
        err(f"telemetry is off ({settings.consent.source}); nothing sent")
        return 0
    if settings.off_written_in_a_config:  # what was pending before that "off" is deleted
        policy = delivery.Policy(deadline=settings.sender_deadline, wait_for_lock=True)
        report = delivery.deliver(settings, policy)
        out(f"{report.detail}; nothing sent")
        return 0
    if settings.endpoint is None:
        err(
            (settings.url_problem or "no endpoint is configured (SESSION_EVENTS_URL or --url)")
            + "; nothing sent"
        )
        return 1
    deadline.arm(settings.sender_deadline + FLUSH_GRACE_SECONDS)
    call_off = deadline.say_before(
        settings.sender_deadline + FLUSH_GRACE_SECONDS / 2,
        f"flush: stopped at its deadline ({settings.sender_deadline:g} s), still waiting for "
        "the network (a name lookup or a request); the events not answered stay pending "
        "(see `session-event-emit status`)",
    )
    policy = delivery.Policy(
        deadline=settings.sender_deadline,
        base_delay=settings.retry_base_delay,
        wait_for_lock=True,
    )
    Outbox(settings.home_dir).enforce_limits()  # as the sender does first thing
    try:
        report = delivery.deliver(settings, policy, url=args.url, on_wait=_say_waiting)
    finally:
        call_off()
        deadline.disarm()
    if report.outcome == "busy":
        out(
            f"still running: {report.detail}; it did not end within this flush's deadline "
            f"({settings.sender_deadline:g} s), so nothing was sent from here: remaining "
            f"{report.remaining} (see `session-event-emit status`)"
        )
        return 1
    if report.waited_for is not None:
        out(f"the delivery that was running ended: {_counts(report.waited_for)}")
        if report.outcome == "idle":
            return 0  # it left nothing for this one to do
    out(_counts(report.as_record()))
    return 0 if report.remaining == 0 else 1


def _say_waiting(running: dict[str, object]) -> None:
    if running.get("outcome") == "running":
        err(
            f"waiting for the delivery running since {running.get('started_at')} "
            f"(until {running.get('deadline_at')} at the latest)…"
        )
    else:
        err("waiting for the delivery that is running…")
    sys.stderr.flush()


def _counts(record: dict[str, object]) -> str:
    detail = record.get("detail")
    return (
        f"{record.get('outcome')}: accepted {record.get('accepted', 0)}, duplicate "
        f"{record.get('duplicate', 0)}, dead-lettered {record.get('dead_lettered', 0)}, "
        f"remaining {record.get('remaining', 0)}" + (f" ({detail})" if detail else "")
    )
