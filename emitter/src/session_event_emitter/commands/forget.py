"""``forget``: the server deletes every event of this install, then the local state goes too.

Whatever the consent says (turning telemetry off first must not make erasure impossible):
the install id is sent to ``POST <base>/v1/forget``, the count the server deleted is
printed, then the outbox, the dead letters, the refs of running sessions and the audit log
are deleted here and consent is recorded off. When the server cannot be asked, or does not
say it erased, the reason is printed, the exit status is 1 and everything here is kept, so
the command can run again. No request is in flight meanwhile: the consent lock is held
exclusively from before the request until the local state is gone.
"""

from __future__ import annotations

import argparse
import json

from session_event_emitter import identity, refs
from session_event_emitter.commands.config_file import record
from session_event_emitter.commands.console import err, out
from session_event_emitter.endpoint import forget_url, redact
from session_event_emitter.outbox import Outbox
from session_event_emitter.settings import Settings

# Connect and read timeouts of the request: the server's store work has its own bound
# (4 s by default), after which it answers 503 rather than keep the client waiting.
TIMEOUTS = (5.0, 30.0)
# The whole command ends by then, whatever the network does (a server dripping bytes).
DEADLINE_SECONDS = 60.0
KEPT = "nothing was deleted here (the local state is kept, so `forget` can run again)"


def run(args: argparse.Namespace) -> int:
    settings = Settings.load(url=args.url)
    install_ids = identity.every_install_id(settings.home_dir, settings.legacy_dir_path)
    url, problem = _where(settings)
    if args.dry_run or args.forget_dry_run:
        return _dry_run(settings, install_ids, url, problem)
    if install_ids and url is None:
        err(f"forget: {problem}; {KEPT}")
        return 1
    from session_event_emitter.send.gate import consent_change

    with consent_change(
        settings.home, on_wait=lambda: err("waiting for the request in flight to end…")
    ):
        deleted = _ask(settings, install_ids, url) if install_ids else 0
        if isinstance(deleted, str):
            err(f"forget: {deleted}; {KEPT}")
            return 1
        record(settings, telemetry="off")
        local = _delete_local_state(settings)
    if install_ids:
        out(f"the server deleted {deleted} event(s) of this install")
    else:
        out("no install id here: no event was ever sent from this install")
    out(f"deleted here: {local}")
    out(f"telemetry off (recorded in {settings.config_path})")
    return 0


def _where(settings: Settings) -> tuple[str | None, str]:
    """The erasure URL, or None and why there is none."""
    endpoint = settings.endpoint
    if endpoint is None:
        return None, settings.url_problem or (
            "no endpoint is configured (SESSION_EVENTS_URL or --url): the server that holds "
            "the events cannot be asked to delete them"
        )
    url = forget_url(endpoint)
    if url is None:
        return None, (
            f"the endpoint {endpoint.shown} (from {settings.url_source}) names no erasure "
            "route; give the server's base URL with --url"
        )
    return url, ""


def _ask(settings: Settings, install_ids: list[str], url: str | None) -> int | str:
    """The events the server deleted for every install id, or why it did not say so."""
    from session_event_emitter.send import deadline
    from session_event_emitter.send.answers import read_erasure
    from session_event_emitter.send.transport import Transport, Unreachable

    assert url is not None
    deadline.arm(DEADLINE_SECONDS + 1.0)
    call_off = deadline.say_before(
        DEADLINE_SECONDS,
        f"forget: stopped at its deadline ({DEADLINE_SECONDS:g} s), still waiting for "
        f"{redact(url)}; {KEPT}",
    )
    total = 0
    try:
        with Transport(settings.ingest_token) as transport:
            for done, install_id in enumerate(install_ids):
                try:
                    body = json.dumps({"install_id": install_id}).encode("utf-8")
                    answer = transport.post(url, body, TIMEOUTS)
                except Unreachable as why:
                    return _partly(why.words, done, len(install_ids), total)
                deleted = read_erasure(answer)
                if isinstance(deleted, str):
                    return _partly(deleted, done, len(install_ids), total)
                total += deleted
    finally:
        call_off()
        deadline.disarm()
    return total


def _partly(words: str, done: int, ids: int, total: int) -> str:
    """Why the erasure stopped, and what the server had already deleted, if anything."""
    if done:
        return f"{words} (the server had deleted {total} event(s) for {done} of {ids} install ids)"
    return words


def _delete_local_state(settings: Settings) -> str:
    from session_event_emitter.send import audit

    outbox = Outbox(settings.home)
    pending = outbox.clear()
    dead = outbox.clear_dead_letters()
    sessions = refs.clear(settings.home)
    delivered = audit.clear(settings.home)
    return (
        f"{pending} pending event(s), {dead} dead letter(s), the refs of {sessions} running "
        f"session(s), the audit log of {delivered} delivered event(s)"
    )


def _dry_run(settings: Settings, install_ids: list[str], url: str | None, problem: str) -> int:
    from session_event_emitter.send import audit

    outbox = Outbox(settings.home)
    pending, dead = outbox.depth().events, len(outbox.dead_letters())
    delivered = len(audit.read_delivered(settings.home))
    out("forget --dry-run: nothing is sent and nothing is deleted now.")
    if not install_ids:
        out("1. no install id here: no event was ever sent from this install; no server is asked")
    elif url is None:
        out(f"1. it would stop here, keeping everything: {problem}")
        return 0
    else:
        ids = "its install id is" if len(install_ids) == 1 else f"its {len(install_ids)} ids are"
        out(
            f"1. ask {redact(url)} to delete every event of this install ({ids} sent there "
            "and nowhere else)"
        )
    out(
        f"2. once the server says how many it deleted, delete here: {pending} pending "
        f"event(s), {dead} dead letter(s), the refs of running sessions, the audit log of "
        f"{delivered} delivered event(s)"
    )
    out(f"3. record telemetry off in {settings.config_path}")
    return 0
