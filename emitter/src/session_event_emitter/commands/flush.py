"""``flush``: deliver the outbox now, in the foreground, within a deadline."""

from __future__ import annotations

import argparse

from session_event_emitter.commands.console import err, out
from session_event_emitter.settings import Settings

# The foreground run's own deadline, then the kernel's: a grace second past it.
FLUSH_GRACE_SECONDS = 1.0


def run(args: argparse.Namespace) -> int:
    from session_event_emitter.send import deadline, delivery  # requests: only when flushing

    settings = Settings.load(url=args.url, sender_deadline=args.deadline)
    if not settings.consent.enabled:
        err(f"telemetry is off ({settings.consent.source}); nothing sent")
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
    try:
        report = delivery.deliver(settings, policy, url=args.url)
    finally:
        call_off()
        deadline.disarm()
    out(
        f"{report.outcome}: accepted {report.accepted}, duplicate {report.duplicate}, "
        f"dead-lettered {report.dead_lettered}, remaining {report.remaining}"
        + (f" ({report.detail})" if report.detail else "")
    )
    return 0 if report.remaining == 0 else 1
