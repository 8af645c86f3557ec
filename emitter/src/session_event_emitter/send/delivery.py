"""One delivery run: the outbox goes to the ingest endpoint, and an event leaves only by a verdict.

The rule (emitter/README.md, "Delivery") is :meth:`Delivery._settle`:

    accepted, duplicate    -> appended to the audit log, then removed from the outbox
    invalid                -> appended to the audit log, then moved to the dead-letter
                              folder (listed by ``status``; ``retry-dead`` puts it back)
    retry                  -> stays pending, not counted against it; tried next run

The audit log is written (and synced) before any event of the answer leaves the outbox,
so a sender killed at any moment leaves every verdict in the log; one killed between the
two sends those events again, and their second verdict is a second line. An event whose
line cannot be written (a full disk) stays pending. The record of the run for ``status``
(``last-delivery.json``) is written when it can be: a full disk stops no delivery, and
the run's report names the disk.

Every other answer (see answers.py) keeps every event of the request pending and is
recorded, in words, for ``status``. Consent is read again before every request, and the
request and its verdicts happen under the request gate (gate.py), so nothing leaves
after ``disable`` and ``disable`` deletes only what is still pending. Answers worth waiting
for (a timeout, a refused connection, 408, 5xx) are tried again with urllib3's back-off
within the deadline; a 429 or 413 first splits the batch, and a 429 for a single event is
waited out as its Retry-After says when the deadline allows, else left for the next run.
A 400/403/415 (what a filter in front of the server may say about one event's content)
also splits the batch; an event refused alone is set aside for the run, pending, and the
next one is tried: one refused too means the endpoint refuses everything, and the run stops.
A batch endpoint answering 404/405 sends the events one by one to the single endpoint,
remembered per endpoint once that endpoint has given a verdict (the original server).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from urllib3.util import Retry

from session_event_emitter.clock import utc_now_text
from session_event_emitter.outbox import Entry, Outbox
from session_event_emitter.send import audit, modes
from session_event_emitter.send.answers import (
    ACCEPTED,
    DUPLICATE,
    INVALID,
    Refusal,
    Verdict,
    read_batch,
    read_single,
)
from session_event_emitter.send.gate import (
    consent_change,
    finish_withdrawal,
    request_gate,
    sender_lock,
    withdrawal_pending,
)
from session_event_emitter.send.transport import Answer, Transport, Unreachable
from session_event_emitter.settings import Settings

MAX_BATCH_EVENTS = 100
MAX_BATCH_BYTES = 512 * 1024
MIN_REQUEST_WINDOW = 0.05
# Fields the wire never carries when they are empty (emitter/README.md, "Alongside the
# original plugin"): the original server rejects `schema_version`, takes `discovery_refs`
# only as an array, `branch_sha` only set.
_NEVER_SENT = ("schema_version",)


@dataclass(frozen=True)
class Policy:
    """Timing of one run."""

    deadline: float = 10.0
    base_delay: float = 0.5
    max_delay: float = 8.0
    connect_timeout: float = 3.0
    read_timeout: float = 5.0
    wait_for_lock: bool = False


@dataclass
class Report:
    """What one run did; also written to ``last-delivery.json`` for ``status``."""

    outcome: str = "idle"
    detail: str = ""
    accepted: int = 0
    duplicate: int = 0
    dead_lettered: int = 0
    retry_later: int = 0
    remaining: int = 0
    requests: int = 0
    mode: str = "batch"
    # The last record of the run this one waited for (flush during a running delivery).
    waited_for: dict[str, object] | None = None

    def as_record(self) -> dict[str, object]:
        return {
            "at": utc_now_text(),
            "outcome": self.outcome,
            "detail": self.detail,
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "dead_lettered": self.dead_lettered,
            "retry_later": self.retry_later,
            "remaining": self.remaining,
            "requests": self.requests,
            "mode": self.mode,
        }


class _Stop(Exception):
    """Ends this run; the events stay pending for the next one."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.detail = detail


@dataclass
class _Plan:
    """How the next request is made."""

    batch_size: int = MAX_BATCH_EVENTS
    retry: Retry = field(default_factory=lambda: Retry(total=None))


def wire_event(event: dict[str, object]) -> dict[str, object]:
    """The event as it is sent: no `schema_version`, refs as an array, no null `branch_sha`,
    `github_hash` always there (null without a login, as the original sends it)."""
    sent = {k: v for k, v in event.items() if k not in _NEVER_SENT}
    if sent.get("discovery_refs") is None:
        sent["discovery_refs"] = []
    sent.setdefault("github_hash", None)
    if sent.get("branch_sha", "") is None:
        del sent["branch_sha"]
    return sent


class Delivery:
    """One run against one outbox; see the module docstring for the rule."""

    def __init__(
        self,
        settings: Settings,
        policy: Policy,
        transport: Transport,
        *,
        load: Callable[[], Settings],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.home = settings.home
        self.policy = policy
        self.transport = transport
        self.load = load
        self.clock = clock
        self.sleep = sleep
        self.outbox = Outbox(self.home)
        self.deadline_at = clock() + policy.deadline
        self.report = Report()
        self.left_for_later: set[str] = set()
        self.batch_missing: Refusal | None = None
        self.set_aside: str | None = None
        self.unwritten: list[str] = []  # what the disk refused this run, in words
        self.disk_error: OSError | None = None
        self.unlogged = 0  # events answered but kept pending: their log lines were refused
        self.last_words = "the deadline came before an answer"
        self.plan = _Plan(
            retry=Retry(
                total=None,
                backoff_factor=policy.base_delay,
                backoff_max=policy.max_delay,
                backoff_jitter=policy.base_delay,
            )
        )

    def remaining(self) -> float:
        return self.deadline_at - self.clock()

    def run(self, on_wait: Callable[[dict[str, object]], None] | None = None) -> Report:
        """One run. When another holds the sender lock: with `policy.wait_for_lock`, tell
        `on_wait` about it (its last record) and wait until this run's deadline at most."""
        with sender_lock(self.home, clock=self.clock) as held:
            if held:
                self._run_holding_lock()
        if not held:
            running = audit.read_last_delivery(self.home)
            if not self.policy.wait_for_lock:
                return self._busy(running)
            if on_wait is not None:
                on_wait(running)
            with sender_lock(self.home, wait_until=self.deadline_at, clock=self.clock) as held:
                if not held:
                    return self._busy(running)
                self.report.waited_for = audit.as_seen_now(audit.read_last_delivery(self.home))
                self._run_holding_lock()
        return self._take_late_events()

    def _take_late_events(self) -> Report:
        """Runs again for events stored while this run was ending: a hook that stored one
        after the run's last look at the outbox found the lock taken, and its sender left.
        Once the lock is let go, any such event is taken here, unless another sender has
        the lock (it sees them) or the run did not empty the outbox (the next one will)."""
        while (
            self.report.outcome in ("delivered", "idle")
            and self.remaining() > MIN_REQUEST_WINDOW
            and self.outbox.count_by_name()  # the listings alone: no file is read
        ):
            with sender_lock(self.home, clock=self.clock) as held:
                if not held:
                    break
                self.report.outcome, self.report.detail = "idle", ""
                self._run_holding_lock()
        return self.report

    def _busy(self, running: dict[str, object]) -> Report:
        self.report.outcome = "busy"
        self.report.detail = "another delivery is running"
        if running.get("outcome") == audit.RUNNING:
            self.report.detail += (
                f" (since {running.get('started_at')}, until {running.get('deadline_at')})"
            )
        self.report.remaining = self.outbox.depth().events
        return self.report

    def _run_holding_lock(self) -> Report:
        settings = self.load()
        if self._withdrawn_by_hand(settings):
            return self._withdraw()
        # Overwritten at the end; if the run ends first, `status` reads it as cut short.
        self._record_run(audit.running_record(self.remaining()))
        endpoint = settings.endpoint
        if endpoint is not None and (
            endpoint.batch is None or modes.single_only(self.home, endpoint.batch)
        ):
            self.report.mode = "single"
        try:
            self._drain()
        except _Stop as stop:
            if stop.outcome == "consent_off" and self._withdrawn_by_hand():
                return self._withdraw()  # written while this run was sending
            self.report.outcome, self.report.detail = stop.outcome, stop.detail
        self.report.remaining = self.outbox.depth().events
        self._conclude()
        detail = self.report.detail
        self._name_the_disk(detail)
        self._record_run(self.report.as_record())
        self._name_the_disk(detail)  # the record itself may be what the disk refused
        return self.report

    def _withdrawn_by_hand(self, settings: Settings | None = None) -> bool:
        """An "off" in a config file that no `disable` is handling (a `disable` under way
        deletes, and counts, what was pending itself)."""
        settings = settings or self.load()
        return settings.off_written_in_a_config and not withdrawal_pending(self.home)

    def _withdraw(self) -> Report:
        """An "off" written into a config file: delete what was pending and dead-lettered
        before it, as `disable` does, and send nothing."""
        with consent_change(self.home):
            settings = self.load()
            removed = dead = 0
            if self._withdrawn_by_hand(settings):
                removed, dead = finish_withdrawal(self.home)
        self.report.outcome = "consent_off"
        self.report.detail = f"telemetry is off ({settings.consent.source})"
        if removed or dead:
            self.report.detail += (
                f": {removed} pending event(s) and {dead} dead letter(s) from before it deleted"
            )
        self.report.remaining = self.outbox.depth().events
        self._record_run(self.report.as_record())
        return self.report

    def _name_the_disk(self, detail: str) -> None:
        """The run's detail, and what the disk refused to record, if anything."""
        if self.disk_error is not None:
            refused = audit.disk_problem(self.home, self.disk_error, " and ".join(self.unwritten))
            if self.unlogged:
                refused += (
                    f"; {self.unlogged} answered event(s) stay pending until the log can take them"
                )
            self.report.detail = "; ".join(filter(None, (detail, refused)))

    def _record_run(self, record: dict[str, object]) -> None:
        """Write the run's record for ``status``; a disk that refuses it stops nothing."""
        try:
            audit.write_last_delivery(self.home, record)
        except OSError as exc:
            self._disk_refused(exc, "the last delivery result")

    def _disk_refused(self, exc: OSError, what: str) -> None:
        if what not in self.unwritten:
            self.unwritten.append(what)
        self.disk_error = self.disk_error or exc

    # -- the loop --------------------------------------------------------------------------

    def _drain(self) -> None:
        while True:
            pending = [e for e in self.outbox.entries() if e.key not in self.left_for_later]
            if not pending:
                return
            batch = _take_batch(pending, self.plan.batch_size)
            with request_gate(self.home):
                settings = self._check_consent()
                endpoint = settings.endpoint
                if endpoint is None:
                    raise _Stop(
                        "no_endpoint",
                        settings.url_problem or "no endpoint is configured (SESSION_EVENTS_URL)",
                    )
                # `disable` may have emptied the outbox since it was read.
                batch = [entry for entry in batch if os.path.exists(entry.path)]
                if not batch:
                    continue
                if self.batch_missing is not None:
                    # The batch URL answered 404/405: is this the original server?
                    result, batch = self._post_single(batch[0], endpoint.single), batch[:1]
                    result = self._probed(result, endpoint.batch)
                elif endpoint.batch is None or modes.single_only(self.home, endpoint.batch):
                    self.report.mode = "single"
                    result, batch = self._post_single(batch[0], endpoint.single), batch[:1]
                else:
                    result = self._post_batch(batch, endpoint.batch)
                    if isinstance(result, Refusal) and result.no_batch_endpoint:
                        self.batch_missing = result
                        continue  # the single endpoint next, after consent is read again
                if not isinstance(result, Refusal):
                    # Still under the gate: `disable` counts only what is really pending.
                    self._settle(batch, result)
                    continue
            self._refused(result, batch)

    def _check_consent(self) -> Settings:
        """The settings as they are now; ends the run when consent is off."""
        settings = self.load()
        if not settings.consent.enabled:
            raise _Stop("consent_off", f"telemetry is off ({settings.consent.source})")
        if withdrawal_pending(self.home):
            raise _Stop("consent_off", "a `disable` has not finished emptying the outbox")
        return settings

    def _probed(
        self, result: list[Verdict] | Refusal, batch_url: str | None
    ) -> list[Verdict] | Refusal:
        """After a batch 404/405: a verdict from the single endpoint means single mode."""
        missing, self.batch_missing = self.batch_missing, None
        if isinstance(result, list):
            if batch_url is not None:
                try:
                    modes.remember_single_only(self.home, batch_url)
                except OSError as exc:  # asked again next run: nothing is lost
                    self._disk_refused(exc, "the endpoint's mode")
            self.report.mode = "single"
            return result
        if result.transient:
            self.batch_missing = missing  # ask the single endpoint again after the wait
            return result
        return missing or result

    def _post_batch(self, batch: list[Entry], url: str) -> list[Verdict] | Refusal:
        body = {"events": [wire_event(entry.event) for entry in batch]}
        answer = self._post(url, body)
        return answer if isinstance(answer, Refusal) else read_batch(answer, len(batch))

    def _post_single(self, entry: Entry, url: str) -> list[Verdict] | Refusal:
        answer = self._post(url, wire_event(entry.event))
        if isinstance(answer, Refusal):
            return answer
        verdict = read_single(answer)
        return verdict if isinstance(verdict, Refusal) else [verdict]

    def _post(self, url: str, payload: object) -> Answer | Refusal:
        left = self.remaining()
        if left <= MIN_REQUEST_WINDOW:
            raise _Stop("pending", f"{self.last_words}; will try again on the next run")
        timeout = (min(self.policy.connect_timeout, left), min(self.policy.read_timeout, left))
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        self.report.requests += 1
        try:
            answer = self.transport.post(url, body, timeout)
        except Unreachable as no_answer:
            self.plan.retry = self.plan.retry.increment("POST", url, error=no_answer)
            return Refusal(no_answer.words, transient=True)
        if not 200 <= answer.status < 300:
            self.plan.retry = self.plan.retry.increment("POST", url)
        return answer

    # -- outcomes --------------------------------------------------------------------------

    def _settle(self, batch: list[Entry], verdicts: list[Verdict]) -> None:
        """The rule: each event leaves the outbox only by its own verdict, logged first."""
        # A request that got through: the back-off starts over, and the batch may grow back.
        self.plan = _Plan(
            batch_size=min(MAX_BATCH_EVENTS, self.plan.batch_size * 2),
            retry=self.plan.retry.new(history=()),
        )
        decided: list[tuple[Entry, Verdict]] = []
        for entry, verdict in zip(batch, verdicts, strict=True):
            if verdict.status in (ACCEPTED, DUPLICATE, INVALID):
                decided.append((entry, verdict))
            else:
                self.left_for_later.add(entry.key)
                self.report.retry_later += 1
        lines = [
            {
                "delivered_at": utc_now_text(),
                "status": verdict.status,
                "event": wire_event(entry.event),
            }
            for entry, verdict in decided
        ]
        try:
            audit.append_delivered(self.home, lines)
        except OSError as exc:
            # No line, no removal: the events stay pending and are sent again next run.
            self._disk_refused(exc, "the audit log")
            self.left_for_later.update(entry.key for entry, _ in decided)
            self.unlogged += len(decided)
            return
        for entry, verdict in decided:
            if verdict.status == INVALID:
                try:
                    self.outbox.dead_letter(entry, "invalid", {"issues": verdict.issues})
                except OSError as exc:
                    self._disk_refused(exc, "the dead letters")
                    self.left_for_later.add(entry.key)
                    continue
                self.report.dead_lettered += 1
                continue
            self.outbox.discard(entry)
            if verdict.status == ACCEPTED:
                self.report.accepted += 1
            else:
                self.report.duplicate += 1

    def _refused(self, refusal: Refusal, batch: list[Entry]) -> None:
        """A whole-request answer: nothing leaves; try smaller, wait, or stop for this run."""
        self.last_words = refusal.words
        if (refusal.split or refusal.about_content) and len(batch) > 1:
            self.plan.batch_size = max(1, len(batch) // 2)
            return
        if refusal.about_content and len(batch) == 1 and self.set_aside is None:
            # Refused alone: perhaps this event's content, not the endpoint. It stays
            # pending; the next event tells which (refused too: the endpoint, stop).
            self.set_aside = batch[0].key
            self.left_for_later.add(batch[0].key)
            return
        if not refusal.transient:
            raise _Stop("pending", refusal.words)
        delay = max(self.plan.retry.get_backoff_time(), refusal.retry_after or 0.0)
        if delay + MIN_REQUEST_WINDOW >= self.remaining():
            raise _Stop("pending", f"{refusal.words}; will try again on the next run")
        self.sleep(delay)

    def _conclude(self) -> None:
        report = self.report
        if report.outcome not in ("idle", "pending"):
            return
        delivered = report.accepted + report.duplicate
        if report.remaining == 0 and not delivered and report.dead_lettered:
            report.outcome = "dead_lettered"
            report.detail = (
                f"the server called {report.dead_lettered} event(s) invalid; "
                "`retry-dead` puts them back"
            )
        elif report.remaining == 0:
            report.outcome = "delivered" if delivered else "idle"
            report.detail = report.detail if delivered else "nothing to send"
        else:
            report.outcome = "pending"
            if not report.detail:
                report.detail = (
                    f"the server asked for {report.retry_later} event(s) again later"
                    if report.retry_later
                    else f"an event was refused on its own and stays pending: {self.last_words}"
                    if self.set_aside is not None
                    else "events stay pending"
                )


def _take_batch(pending: list[Entry], size: int) -> list[Entry]:
    batch: list[Entry] = []
    total = 0
    for entry in pending[:size]:
        entry_size = len(json.dumps(entry.event, separators=(",", ":"))) + 1
        if batch and total + entry_size > MAX_BATCH_BYTES:
            break
        batch.append(entry)
        total += entry_size
    return batch


def deliver(
    settings: Settings,
    policy: Policy | None = None,
    *,
    url: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[dict[str, object]], None] | None = None,
) -> Report:
    """Deliver what the outbox holds within `policy.deadline` seconds, then return.

    `on_wait` hears of a running delivery this one waits for (``flush``).
    """
    policy = policy or Policy(deadline=settings.sender_deadline)
    if not settings.consent.enabled and not settings.off_written_in_a_config:
        return Report(outcome="consent_off", detail=settings.consent.source)
    with Transport(settings.ingest_token) as transport:
        return Delivery(
            settings,
            policy,
            transport,
            load=lambda: Settings.load(url=url),
            clock=clock,
            sleep=sleep,
        ).run(on_wait)
