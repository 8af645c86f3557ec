"""``status``: consent, plugin version, endpoint, outbox, dead letters and last delivery."""

from __future__ import annotations

import argparse
import json
import os

from session_event_emitter import pluginversion
from session_event_emitter.commands.console import out
from session_event_emitter.outbox import Outbox
from session_event_emitter.send import audit
from session_event_emitter.settings import Settings


def _endpoint_line(settings: Settings) -> str:
    """The endpoint in words: where events go, or why they cannot go anywhere."""
    endpoint = settings.endpoint
    if endpoint is not None:
        from session_event_emitter.send import modes

        if endpoint.batch is None or modes.single_only(settings.home, endpoint.batch):
            mode = "one event per request (single-event endpoint)"
        else:
            mode = "batches"
        return f"{endpoint.shown}, {mode} (source: {settings.url_source})"
    return settings.url_problem or f"- ({settings.url_source})"


def _last_delivery_line(last: dict[str, object]) -> str:
    if last.get("outcome") == audit.RUNNING:
        return (
            f"running since {last.get('started_at', '?')} (process {last.get('pid', '?')}), "
            f"until its deadline {last.get('deadline_at', '?')} at the latest"
        )
    counts = ", ".join(
        f"{name.replace('_', ' ')} {last.get(name, 0)}"
        for name in ("accepted", "duplicate", "dead_lettered", "retry_later", "remaining")
    )
    detail = f"\n               {last['detail']}" if last.get("detail") else ""
    return f"{last.get('at', '?')} {last.get('outcome', '?')} ({counts}){detail}"


def run(args: argparse.Namespace) -> int:
    from session_event_emitter.endpoint import redact

    settings = Settings.load(url=args.url)
    outbox = Outbox(settings.home)
    depth = outbox.depth()
    dead = outbox.dead_letters()
    last = audit.as_seen_now(audit.read_last_delivery(settings.home))
    endpoint = settings.endpoint
    # As the hook would find it without --plugin-version (hooks.json may pass one).
    version = pluginversion.resolve(None, os.environ)
    warnings = [*settings.warnings, *version.skipped, *_home_warnings(settings)]
    report = {
        "consent": "on" if settings.consent.enabled else "off",
        "consent_source": settings.consent.source,
        "plugin_version": version.value,
        "plugin_version_source": version.source,
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
        "warnings": warnings,
    }
    if args.json:
        out(json.dumps(report, indent=2, sort_keys=True))
        return 0
    out(f"consent:       {report['consent']} (source: {settings.consent.source})")
    out(f"plugin version: {version.value} (source: {version.source})")
    out(f"endpoint:      {report['endpoint_line']}")
    out(f"home:          {settings.home}")
    out(f"outbox:        {depth.events} event(s) pending, {depth.bytes} bytes")
    out(
        f"dead letters:  {len(dead)}"
        + (" (the server called them invalid; `retry-dead` puts them back)" if dead else "")
    )
    for record in dead[-5:]:
        issues = record.get("issues") or []
        first = issues[0] if isinstance(issues, list) and issues else {}
        where = ".".join(str(p) for p in first.get("loc", [])) if isinstance(first, dict) else ""
        out(f"               {record.get('reason', '?')}: {where} {first.get('msg', '')}".rstrip())
    if depth.counters:
        counters = ", ".join(f"{k}={v}" for k, v in sorted(depth.counters.items()))
        out(f"counters:      {counters}")
    out(f"last delivery: {_last_delivery_line(last) if last else 'never'}")
    for warning in warnings:
        out(f"warning:       {warning}")
    return 0


def _home_warnings(settings: Settings) -> list[str]:
    """What stops the home from working: a full disk, a `disable` left unfinished."""
    from session_event_emitter.send import gate

    found = []
    full = audit.disk_space_problem(settings.home)
    if full is not None:
        found.append(full)
    if gate.withdrawal_pending(settings.home):
        found.append(
            "a `disable` was stopped before it emptied the outbox: nothing is sent, and the "
            "next `disable`, `enable` or `retry-dead` deletes what it left"
        )
    return found
