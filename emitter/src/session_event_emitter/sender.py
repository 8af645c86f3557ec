"""Delivers the outbox to the batch endpoint, one sender at a time, within a hard deadline.

This is the only module that imports ``requests`` (so proxies and custom CAs from the
environment apply). Outcomes per event::

    accepted / duplicate            -> removed from the outbox, appended to the audit log
    "invalid" item, or a whole
    request answered 400/413/415    -> dead-letter folder with the reason, never retried
    connection error, timeout,
    408/429/502/503/504             -> retried with exponential backoff and jitter
                                       (Retry-After is a floor, capped), then left pending
    anything else (401, 404, 500..) -> left pending, attempt counted; dead-lettered after
                                       MAX_ATTEMPTS runs

The deadline is enforced twice: every request timeout is cut to the time left, and a
watchdog thread ends the process with os._exit when the deadline passes, whatever the
main thread is blocked on (DNS, a server that drips bytes, a stuck disk).
"""

from __future__ import annotations

import argparse
import contextlib
import email.utils
import fcntl
import json
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests

from session_event_emitter import __version__, audit, diagnostics
from session_event_emitter.fsutil import ensure_private_dir
from session_event_emitter.outbox import Entry, Outbox
from session_event_emitter.settings import Settings

logger = diagnostics.get_logger(__name__)

RETRYABLE_STATUS = frozenset({408, 429, 502, 503, 504})
REJECTED_STATUS = frozenset({400, 413, 415})
MAX_BATCH_EVENTS = 100
MAX_BATCH_BYTES = 512 * 1024
MAX_ATTEMPTS = 8
MIN_REQUEST_WINDOW = 0.05
WATCHDOG_EXIT_CODE = 3
LOCK_NAME = "sender.lock"


@dataclass(frozen=True)
class Policy:
    """Timing of one sender run."""

    deadline: float = 10.0
    base_delay: float = 0.5
    max_delay: float = 8.0
    retry_after_cap: float = 60.0
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
    remaining: int = 0
    requests: int = 0
    dead_letter_reasons: list[str] = field(default_factory=list)

    def as_record(self) -> dict[str, object]:
        return {
            "at": _utc_now(),
            "outcome": self.outcome,
            "detail": self.detail,
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "dead_lettered": self.dead_lettered,
            "remaining": self.remaining,
            "requests": self.requests,
        }


class _Stop(Exception):
    """Ends this run early; the events stay pending for the next one."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.detail = detail


class _Rejected(Exception):
    """The whole request was refused as malformed (400/413/415)."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(status)
        self.status = status
        self.error = error


def _utc_now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


# -- lock and watchdog -------------------------------------------------------------------


@contextlib.contextmanager
def sender_lock(
    home: Path, *, wait_until: float | None = None, clock: Callable[[], float] = time.monotonic
) -> Iterator[bool]:
    """Hold the single-sender lock (flock) if it can be had; yields whether it was."""
    ensure_private_dir(home)
    fd = os.open(home / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if wait_until is None or clock() >= wait_until:
                    yield False
                    return
                time.sleep(0.05)
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def start_watchdog(
    seconds: float,
    exit_code: int = WATCHDOG_EXIT_CODE,
    on_fire: Callable[[], None] | None = None,
) -> None:
    """End the whole process with os._exit after `seconds`, whatever it is doing.

    `on_fire` gets one chance to leave a note (it must be quick and must not raise).
    """

    def _fire() -> None:
        time.sleep(max(seconds, 0.0))
        if on_fire is not None:
            with contextlib.suppress(BaseException):
                on_fire()
        with contextlib.suppress(BaseException):
            sys.stderr.flush()
        os._exit(exit_code)

    threading.Thread(target=_fire, name="sender-deadline", daemon=True).start()


def note_deadline(home: Path) -> Callable[[], None]:
    """A watchdog note: record in last-delivery.json that the deadline cut the run short."""

    def _note() -> None:
        report = Report(outcome="deadline", detail="stopped at the deadline; events stay pending")
        report.remaining = Outbox(home).depth().events
        audit.write_last_delivery(home, report.as_record())

    return _note


# -- delivery ----------------------------------------------------------------------------


class Sender:
    """One delivery run against one outbox; use :func:`deliver`."""

    def __init__(
        self,
        settings: Settings,
        policy: Policy,
        *,
        url: str | None,
        session: requests.Session,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        reload: Callable[[], Settings],
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.url = url
        self.session = session
        self.clock = clock
        self.sleep = sleep
        self.reload = reload
        self.outbox = Outbox(settings.home)
        self.deadline_at = clock() + policy.deadline
        self.report = Report()
        self.seen: set[str] = set()

    def remaining(self) -> float:
        return self.deadline_at - self.clock()

    def run(self) -> Report:
        wait_until = self.deadline_at if self.policy.wait_for_lock else None
        while True:
            with sender_lock(self.settings.home, wait_until=wait_until, clock=self.clock) as held:
                if not held:
                    if self.report.outcome == "idle":
                        self.report.outcome = "busy"
                        self.report.detail = "another sender holds the lock"
                    break
                self._drain()
            # An event written while we held the lock may have found the lock busy and
            # its own sender gone: look once more after releasing it.
            if self.report.outcome != "delivered" or not self._pending():
                break
            wait_until = None
        self.report.remaining = self.outbox.depth().events
        return self.report

    def _pending(self) -> list[Entry]:
        return [e for e in self.outbox.entries() if e.key not in self.seen]

    def _drain(self) -> None:
        self.outbox.enforce_limits()
        try:
            while True:
                settings = self.reload()
                if not settings.consent.enabled:
                    raise _Stop("consent_off", f"telemetry is off ({settings.consent.source})")
                if settings.batch_url is None:
                    raise _Stop("no_endpoint", "no endpoint is configured")
                self.settings = settings
                pending = self._pending()
                if not pending:
                    self.report.outcome = "delivered"
                    return
                batch = _take_batch(pending)
                self.seen.update(entry.key for entry in batch)
                self._send(batch, settings.batch_url)
        except _Stop as stop:
            self.report.outcome = stop.outcome
            self.report.detail = stop.detail

    def _send(self, batch: list[Entry], url: str) -> None:
        try:
            results = self._post_with_retries(batch, url)
        except _Rejected as rejected:
            if len(batch) > 1:
                # Find the culprit: one event at a time, so the others still go.
                for entry in batch:
                    self._send([entry], url)
                return
            self._dead_letter(batch[0], f"http_{rejected.status}", {"error": rejected.error})
            return
        acknowledged = []
        for entry, result in zip(batch, results, strict=True):
            status = result.get("status") if isinstance(result, dict) else None
            if status in ("accepted", "duplicate"):
                self.outbox.remove(entry.key)
                acknowledged.append(
                    {"delivered_at": _utc_now(), "status": status, "event": entry.event}
                )
                if status == "accepted":
                    self.report.accepted += 1
                else:
                    self.report.duplicate += 1
            elif status == "invalid":
                issues = result.get("issues") if isinstance(result, dict) else None
                self._dead_letter(entry, "invalid", {"issues": _clean_issues(issues)})
            else:
                self._count_failure(entry, "unknown_result")
        with contextlib.suppress(OSError):
            audit.append_delivered(self.settings.home, acknowledged)

    def _post_with_retries(self, batch: list[Entry], url: str) -> list[object]:
        body = json.dumps(
            {"events": [entry.event for entry in batch]}, separators=(",", ":")
        ).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"session-event-emitter/{__version__}",
        }
        if self.settings.ingest_token:
            headers["Authorization"] = f"Bearer {self.settings.ingest_token}"
        attempt = 0
        while True:
            left = self.remaining()
            if left <= MIN_REQUEST_WINDOW:
                raise _Stop("deadline", "deadline reached before the server answered")
            timeout = (min(self.policy.connect_timeout, left), min(self.policy.read_timeout, left))
            retry_after: float | None = None
            self.report.requests += 1
            try:
                response = self.session.post(url, data=body, headers=headers, timeout=timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                reason = "timeout" if isinstance(exc, requests.Timeout) else "connection error"
            except requests.RequestException as exc:
                raise _Stop("error", type(exc).__name__) from None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return self._results(response, batch)
                if status in REJECTED_STATUS:
                    raise _Rejected(status, _error_code(response))
                if status not in RETRYABLE_STATUS:
                    for entry in batch:
                        self._count_failure(entry, f"http_{status}")
                    raise _Stop("http_error", f"HTTP {status}")
                reason = f"HTTP {status}"
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            attempt += 1
            delay = backoff_delay(attempt, self.policy, retry_after)
            if delay + MIN_REQUEST_WINDOW >= self.remaining():
                raise _Stop("retry_later", f"{reason}; will retry on the next run")
            logger.debug("retrying in %.2fs after %s", delay, reason)
            self.sleep(delay)

    def _results(self, response: requests.Response, batch: list[Entry]) -> list[object]:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        results = payload.get("results") if isinstance(payload, dict) else None
        if not isinstance(results, list) or len(results) != len(batch):
            for entry in batch:
                self._count_failure(entry, "malformed_answer")
            raise _Stop("http_error", "the server's answer did not match the batch")
        return results

    def _count_failure(self, entry: Entry, reason: str) -> None:
        try:
            attempts = self.outbox.record_attempt(entry)
        except OSError:
            return
        if attempts >= MAX_ATTEMPTS:
            self._dead_letter(entry, reason, {"attempts": attempts})

    def _dead_letter(self, entry: Entry, reason: str, detail: dict[str, object]) -> None:
        with contextlib.suppress(OSError):
            self.outbox.dead_letter(entry, reason, detail)
        self.report.dead_lettered += 1
        self.report.dead_letter_reasons.append(reason)


def _take_batch(pending: list[Entry]) -> list[Entry]:
    batch: list[Entry] = []
    size = 0
    for entry in pending[:MAX_BATCH_EVENTS]:
        entry_size = len(json.dumps(entry.event, separators=(",", ":"))) + 1
        if batch and size + entry_size > MAX_BATCH_BYTES:
            break
        batch.append(entry)
        size += entry_size
    return batch


def _error_code(response: requests.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return "unreadable"
    error = payload.get("error") if isinstance(payload, dict) else None
    return error if isinstance(error, str) and len(error) <= 64 else "unknown"


def _clean_issues(issues: object) -> list[dict[str, object]]:
    """Keep only loc/type/msg of the server's issues (it never echoes input anyway)."""
    if not isinstance(issues, list):
        return []
    kept = []
    for issue in issues[:50]:
        if isinstance(issue, dict):
            kept.append({k: issue[k] for k in ("loc", "type", "msg") if k in issue})
    return kept


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def backoff_delay(attempt: int, policy: Policy, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter; a Retry-After (capped) is a floor."""
    ceiling = min(policy.max_delay, policy.base_delay * (2 ** (attempt - 1)))
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.retry_after_cap))
    return delay


def deliver(
    settings: Settings,
    policy: Policy | None = None,
    *,
    url: str | None = None,
    session: requests.Session | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    record: bool = True,
) -> Report:
    """Deliver what the outbox holds within `policy.deadline` seconds, then return."""
    policy = policy or Policy(deadline=settings.sender_deadline)
    own_session = session is None
    http = requests.Session() if session is None else session
    try:
        sender = Sender(
            settings,
            policy,
            url=url,
            session=http,
            clock=clock,
            sleep=sleep,
            reload=lambda: Settings.load(url=url),
        )
        if not settings.consent.enabled:
            return Report(outcome="consent_off", detail=settings.consent.source)
        report = sender.run()
    finally:
        if own_session:
            http.close()
    if record and report.outcome not in ("busy", "consent_off"):
        with contextlib.suppress(OSError):
            audit.write_last_delivery(settings.home, report.as_record())
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the detached sender: ``python -m session_event_emitter.sender``."""
    parser = argparse.ArgumentParser(prog="session_event_emitter.sender")
    parser.add_argument("--url", default=None)
    parser.add_argument("--deadline", type=float, default=None)
    args = parser.parse_args(argv)
    settings = Settings.load(url=args.url, sender_deadline=args.deadline)
    start_watchdog(settings.sender_deadline, on_fire=note_deadline(settings.home))
    policy = Policy(deadline=settings.sender_deadline, base_delay=settings.retry_base_delay)
    try:
        deliver(settings, policy, url=args.url)
    except Exception as exc:  # a detached process has no one to tell
        logger.debug("sender failed: %s", type(exc).__name__)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
