"""The file locks of delivery, and the mark of a ``disable`` not yet finished.

- ``sender.lock`` (exclusive): one delivery run at a time per home; the detached sender
  tries it once, ``flush`` waits for it within its deadline.
- ``consent.lock``: a sender holds it shared from the consent check before a request until
  that request's verdicts are settled. The commands that change consent or put events
  back hold it exclusively (`consent_change`) and read consent again under it:
  ``disable`` records "off", then takes it before it empties the outbox; ``enable`` and
  ``retry-dead`` take it for their whole work. So no request starts after "off" is
  recorded, once ``disable`` has returned none is in flight, and nothing ``retry-dead``
  puts back outlives a ``disable`` that runs beside it. The hook takes no lock (it must
  never wait): it reads consent again after it stored its event and takes the event back
  if consent went off, and ``disable`` records "off" before it empties the outbox.
- An "off" written into a config file by hand (this emitter's or the original's) withdraws
  consent as ``disable`` does: the next sender run (a hook that finds it with events left
  starts one; ``flush``) or ``enable`` deletes what was pending and dead-lettered before
  it, under `consent_change`, once it has read that "off" again there.
- ``disable-pending``: made by ``disable`` before it records "off", removed once it has
  emptied the outbox. While it is there no request starts, and whichever command takes
  the lock next (``disable``, ``enable``, ``retry-dead``) first does what the interrupted
  ``disable`` did not (`finish_withdrawal`): a ``disable`` killed while it waited leaves
  nothing that a later ``enable`` sends.

The locks are ``flock`` locks: the kernel releases them when their process ends, however
it ends, so a sender cut off at its deadline never leaves one behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator

from session_event_emitter import refs
from session_event_emitter.fsutil import ensure_private_dir, fsync_dir, unlink_quietly
from session_event_emitter.outbox import Outbox

TYPE_CHECKING = False
if TYPE_CHECKING:
    from session_event_emitter.fsutil import StrPath

SENDER_LOCK = "sender.lock"
CONSENT_LOCK = "consent.lock"
DISABLE_PENDING = "disable-pending"
POLL_SECONDS = 0.05


def _open_lock(home: StrPath, name: str) -> int:
    ensure_private_dir(home)
    return os.open(os.path.join(home, name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


@contextlib.contextmanager
def sender_lock(
    home: StrPath, *, wait_until: float | None = None, clock: Callable[[], float] = time.monotonic
) -> Iterator[bool]:
    """Hold the single-sender lock if it can be had, trying until `wait_until` at most.

    Yields whether it is held; with `wait_until` None it is tried once.
    """
    fd = _open_lock(home, SENDER_LOCK)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if wait_until is None or clock() >= wait_until:
                    yield False
                    return
                time.sleep(POLL_SECONDS)
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _blocking_lock(
    home: StrPath, operation: int, on_wait: Callable[[], None] | None
) -> Iterator[None]:
    fd = _open_lock(home, CONSENT_LOCK)
    try:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, operation)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def request_gate(home: StrPath) -> Iterator[None]:
    """Held (shared) by a sender from its consent check until its request has an answer."""
    with _blocking_lock(home, fcntl.LOCK_SH, None):
        yield


@contextlib.contextmanager
def consent_change(home: StrPath, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Held (exclusive) while consent is withdrawn: first waits for a request in flight.

    The wait is bounded by the sender's request timeouts and, past them, by its deadline.
    """
    with _blocking_lock(home, fcntl.LOCK_EX, on_wait):
        yield


def begin_withdrawal(home: StrPath) -> None:
    """Mark a ``disable`` under way (durably) before "off" is recorded."""
    ensure_private_dir(home)
    fd = os.open(os.path.join(home, DISABLE_PENDING), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(home)


def withdrawal_pending(home: StrPath) -> bool:
    """Whether a ``disable`` has begun and not yet emptied the outbox: nothing may be sent."""
    return os.path.lexists(os.path.join(home, DISABLE_PENDING))


def finish_withdrawal(home: StrPath) -> tuple[int, int]:
    """Delete what was pending, the dead letters and the recorded refs, then the mark.

    Called under `consent_change`; returns (pending events, dead letters) deleted.
    """
    outbox = Outbox(home)
    removed = outbox.clear()
    dead = outbox.clear_dead_letters()  # nothing of before "off" may leave after it
    refs.clear(home)  # the refs recorded for sessions not yet ended
    unlink_quietly(os.path.join(home, DISABLE_PENDING))
    fsync_dir(home)
    return removed, dead
