"""The user-facing subcommands: status, flush, enable, disable, retry-dead and log."""

from __future__ import annotations

import argparse
import json
import sys

from session_event_emitter import audit, refs
from session_event_emitter.fsutil import ensure_private_dir, read_json_object, write_atomic
from session_event_emitter.outbox import Outbox
from session_event_emitter.settings import Settings

# The foreground run's own deadline, then the kernel's: a grace second past it.
FLUSH_GRACE_SECONDS = 1.0


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _endpoint_line(settings: Settings) -> str:
    """The endpoint in words: where events go, or why they cannot go anywhere."""
    endpoint = settings.endpoint
    if endpoint is not None:
        from session_event_emitter import modes

        if endpoint.batch is None or modes.single_only(settings.home, endpoint.batch):
            mode = "one event per request (single-event endpoint)"
        else:
            mode = "batches"
        return f"{endpoint.shown}, {mode} (source: {settings.url_source})"
    return settings.url_problem or f"- ({settings.url_source})"


def _last_delivery_line(last: dict[str, object]) -> str:
    counts = ", ".join(
        f"{name.replace('_', ' ')} {last.get(name, 0)}"
        for name in ("accepted", "duplicate", "dead_lettered", "retry_later", "remaining")
    )
    detail = f"\n               {last['detail']}" if last.get("detail") else ""
    return f"{last.get('at', '?')} {last.get('outcome', '?')} ({counts}){detail}"


def status(args: argparse.Namespace) -> int:
    from session_event_emitter.endpoint import redact

    settings = Settings.load(url=args.url)
    outbox = Outbox(settings.home)
    depth = outbox.depth()
    dead = outbox.dead_letters()
    last = audit.read_last_delivery(settings.home)
    endpoint = settings.endpoint
    report = {
        "consent": "on" if settings.consent.enabled else "off",
        "consent_source": settings.consent.source,
        "endpoint": endpoint.shown if endpoint is not None else None,
        "batch_endpoint": redact(endpoint.batch) if endpoint and endpoint.batch else None,
        "endpoint_source": settings.url_source,
        "endpoint_problem": settings.url_problem,
        "endpoint_line": _endpoint_line(settings),
        "home": str(settings.home),
        "outbox_events": depth.events,
        "outbox_bytes": depth.bytes,
        "dead_letters": len(dead),
        "counters": depth.counters,
        "last_delivery": last or None,
        "warnings": list(settings.warnings),
    }
    if args.json:
        _out(json.dumps(report, indent=2, sort_keys=True))
        return 0
    _out(f"consent:       {report['consent']} (source: {settings.consent.source})")
    _out(f"endpoint:      {report['endpoint_line']}")
    _out(f"home:          {settings.home}")
    _out(f"outbox:        {depth.events} event(s) pending, {depth.bytes} bytes")
    _out(
        f"dead letters:  {len(dead)}"
        + (" (the server called them invalid; `retry-dead` puts them back)" if dead else "")
    )
    for record in dead[-5:]:
        issues = record.get("issues") or []
        first = issues[0] if isinstance(issues, list) and issues else {}
        where = ".".join(str(p) for p in first.get("loc", [])) if isinstance(first, dict) else ""
        _out(f"               {record.get('reason', '?')}: {where} {first.get('msg', '')}".rstrip())
    if depth.counters:
        counters = ", ".join(f"{k}={v}" for k, v in sorted(depth.counters.items()))
        _out(f"counters:      {counters}")
    _out(f"last delivery: {_last_delivery_line(last) if last else 'never'}")
    for warning in settings.warnings:
        _out(f"warning:       {warning}")
    return 0


def flush(args: argparse.Namespace) -> int:
    from session_event_emitter import deadline, delivery  # requests: never on the hook path

    settings = Settings.load(url=args.url, sender_deadline=args.deadline)
    if not settings.consent.enabled:
        _err(f"telemetry is off ({settings.consent.source}); nothing sent")
        return 0
    if settings.endpoint is None:
        _err(
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
    _out(
        f"{report.outcome}: accepted {report.accepted}, duplicate {report.duplicate}, "
        f"dead-lettered {report.dead_lettered}, remaining {report.remaining}"
        + (f" ({report.detail})" if report.detail else "")
    )
    return 0 if report.remaining == 0 else 1


def _record(settings: Settings, **values: object) -> None:
    config = read_json_object(settings.config_path, 64 * 1024)
    config.update(values)
    ensure_private_dir(settings.home)
    write_atomic(settings.config_path, (json.dumps(config, indent=2) + "\n").encode("utf-8"))


def enable(args: argparse.Namespace) -> int:
    settings = Settings.load(url=args.url)
    values: dict[str, object] = {"telemetry": "on"}
    if args.url is not None:
        if settings.url_problem is not None:
            _err(settings.url_problem)
            return 2
        values["url"] = args.url.strip()
    _record(settings, **values)
    after = Settings.load(url=args.url)
    _out(f"telemetry on (recorded in {settings.config_path})")
    if not after.consent.enabled:
        _err(f"note: {after.consent.source} still turns telemetry off")
    if after.url is None:
        _err("note: no endpoint yet: set SESSION_EVENTS_URL or run `enable --url <url>`")
    elif after.url_problem is not None:
        _err(f"note: {after.url_problem}")
    elif after.endpoint is not None:
        _out(f"events go to {after.endpoint.shown}")
    return 0


def disable(args: argparse.Namespace) -> int:
    from session_event_emitter.gate import consent_change

    settings = Settings.load(url=args.url)
    # "off" first: every request not yet under way sees it. Then wait for the one in flight
    # (if any) to have its answer, and only then empty the outbox.
    _record(settings, telemetry="off")
    with consent_change(
        settings.home, on_wait=lambda: _err("waiting for the request in flight to end…")
    ):
        outbox = Outbox(settings.home)
        removed = outbox.clear()
        dead = outbox.clear_dead_letters()  # nothing of before "off" may leave after it
        refs.clear(settings.home)  # the refs recorded for sessions not yet ended
    _out(
        f"telemetry off (recorded in {settings.config_path}); {removed} pending event(s) "
        f"and {dead} dead letter(s) deleted"
    )
    return 0


def retry_dead(args: argparse.Namespace) -> int:
    settings = Settings.load(url=args.url)
    moved, waiting = Outbox(settings.home).retry_dead()
    _out(f"{moved} dead letter(s) put back in the outbox")
    if waiting:
        _out(
            f"{waiting} dead letter(s) kept: the outbox is full "
            "(run `session-event-emit flush`, then retry-dead again)"
        )
    return 0


def log(args: argparse.Namespace) -> int:
    settings = Settings.load(url=args.url)
    records = audit.read_delivered(settings.home, max(args.limit, 0))
    if not records:
        _err("no delivered events yet")
    for record in records:
        _out(json.dumps(record, sort_keys=True))
    return 0
