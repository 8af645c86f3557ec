"""The user-facing subcommands: status, flush, enable, disable and log."""

from __future__ import annotations

import argparse
import json
import sys

from session_event_emitter import audit
from session_event_emitter.fsutil import ensure_private_dir, read_json_object, write_atomic
from session_event_emitter.outbox import Outbox
from session_event_emitter.settings import Settings


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def status(args: argparse.Namespace) -> int:
    settings = Settings.load(url=args.url)
    outbox = Outbox(settings.home)
    depth = outbox.depth()
    report = {
        "consent": "on" if settings.consent.enabled else "off",
        "consent_source": settings.consent.source,
        "endpoint": settings.base_url,
        "endpoint_source": settings.url_source,
        "home": str(settings.home),
        "outbox_events": depth.events,
        "outbox_bytes": depth.bytes,
        "dead_letters": len(outbox.dead_letters()),
        "counters": depth.counters,
        "last_delivery": audit.read_last_delivery(settings.home) or None,
        "warnings": list(settings.warnings),
    }
    if args.json:
        _out(json.dumps(report, indent=2, sort_keys=True))
        return 0
    _out(f"consent:       {report['consent']} (source: {settings.consent.source})")
    _out(f"endpoint:      {settings.base_url or '-'} (source: {settings.url_source})")
    _out(f"home:          {settings.home}")
    _out(f"outbox:        {depth.events} event(s), {depth.bytes} bytes")
    _out(f"dead letters:  {report['dead_letters']}")
    if depth.counters:
        counters = ", ".join(f"{k}={v}" for k, v in sorted(depth.counters.items()))
        _out(f"counters:      {counters}")
    last = audit.read_last_delivery(settings.home)
    if last:
        _out(
            "last delivery: {at} {outcome} (accepted {accepted}, duplicate {duplicate}, "
            "dead-lettered {dead_lettered}, remaining {remaining}){detail}".format(
                at=last.get("at", "?"),
                outcome=last.get("outcome", "?"),
                accepted=last.get("accepted", 0),
                duplicate=last.get("duplicate", 0),
                dead_lettered=last.get("dead_lettered", 0),
                remaining=last.get("remaining", 0),
                detail=f": {last['detail']}" if last.get("detail") else "",
            )
        )
    else:
        _out("last delivery: never")
    for warning in settings.warnings:
        _out(f"warning:       {warning}")
    return 0


def flush(args: argparse.Namespace) -> int:
    from session_event_emitter import sender  # imports requests: never on the hook path

    settings = Settings.load(url=args.url, sender_deadline=args.deadline)
    if not settings.consent.enabled:
        _err(f"telemetry is off ({settings.consent.source}); nothing sent")
        return 0
    if settings.base_url is None:
        _err("no endpoint is configured (SESSION_EVENTS_URL or --url); nothing sent")
        return 1

    # The foreground run is bounded too: a grace second past the deadline, then out.
    def _late() -> None:
        sender.note_deadline(settings.home)()
        _err("deadline reached; undelivered events stay in the outbox")

    sender.start_watchdog(settings.sender_deadline + 1.0, exit_code=1, on_fire=_late)
    policy = sender.Policy(
        deadline=settings.sender_deadline,
        base_delay=settings.retry_base_delay,
        wait_for_lock=True,
    )
    report = sender.deliver(settings, policy, url=args.url)
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
        if settings.base_url is None:
            _err(f"not an http(s) URL: {args.url}")
            return 2
        values["url"] = settings.base_url
    _record(settings, **values)
    after = Settings.load(url=args.url)
    _out(f"telemetry on (recorded in {settings.config_path})")
    if not after.consent.enabled:
        _err(f"note: {after.consent.source} still turns telemetry off")
    if after.base_url is None:
        _err("note: no endpoint yet: set SESSION_EVENTS_URL or run `enable --url <base>`")
    return 0


def disable(args: argparse.Namespace) -> int:
    settings = Settings.load(url=args.url)
    _record(settings, telemetry="off")
    removed = Outbox(settings.home).clear()
    _out(f"telemetry off (recorded in {settings.config_path}); {removed} pending event(s) deleted")
    return 0


def log(args: argparse.Namespace) -> int:
    settings = Settings.load(url=args.url)
    records = audit.read_delivered(settings.home, max(args.limit, 0))
    if not records:
        _err("no delivered events yet")
    for record in records:
        _out(json.dumps(record, sort_keys=True))
    return 0
