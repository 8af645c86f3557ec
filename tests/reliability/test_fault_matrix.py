"""Fault matrix: the emitter and the real function together, each case ending with a row count.

The function runs as functions-framework serves it (gunicorn) on 127.0.0.1 with SQLite; the
hook runs as a subprocess and starts its real detached sender. Faults come from the store
itself (an unusable SQLite path), from a proxy in front of the function, from signals,
and from the file system under the emitter's state directory.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import MakeInstall, StartFunction
from harness import (
    FaultProxy,
    Install,
    hook_input,
    running_proxy,
    sha256_hex,
    wait_until,
)
from loopback import free_port

from session_event_emitter.event import idempotency_key
from session_event_emitter.outbox import Outbox

HANG_GUARD_S = 15.0  # a hook that has not returned by then is hung, not slow


def refused_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def session_pairs(install: Install) -> set[tuple[str, str]]:
    events = install.pending_events()
    return {(str(e["identity_hash"]), str(e["session_id_hash"])) for e in events}


def queue_with_hooks(install: Install, sessions: list[str]) -> None:
    """Run the hook for each session against a refused port: the events stay pending."""
    url = refused_url()
    for session in sessions:
        done = install.hook(session, url, timeout=HANG_GUARD_S)
        assert done.returncode == 0 and done.stdout == b""
    assert install.wait_senders_gone(install.sender_deadline + 15)
    assert len(install.pending()) == len(sessions)


def queue_directly(install: Install, count: int, label: str) -> set[tuple[str, str]]:
    """Put `count` valid events in the outbox through the emitter's own outbox API."""
    outbox = Outbox(install.state)
    identity = sha256_hex(f"{label}-identity")
    pairs = set()
    for number in range(count):
        event = {
            "identity_hash": identity,
            "session_id_hash": sha256_hex(f"{label}-{number}"),
            "ended_at": "2026-05-22T12:34:56.000Z",
            "tool_count": number,
            "tokens_saved": 0,
            "plugin_version": "0.1.0",
            "discovery_refs": [],
            "schema_version": 1,
        }
        assert outbox.put(idempotency_key(event), event)
        pairs.add((event["identity_hash"], event["session_id_hash"]))
    return pairs


# -- the store and the server ------------------------------------------------------------


def test_store_down_keeps_events_pending_then_delivers_each_once(
    start_function: StartFunction, install: Install, tmp_path: Path
) -> None:
    blocker = tmp_path / "store"  # a file where the database's directory should be
    blocker.write_text("")
    function = start_function(db=blocker / "events.db")
    sessions = [f"store-down-{n}" for n in range(5)]

    for session in sessions:
        done = install.hook(session, function.url, timeout=HANG_GUARD_S)
        assert done.returncode == 0 and done.stdout == b""
    assert install.wait_senders_gone(install.sender_deadline + 15)
    assert '"status":503' in function.log_text()
    assert len(install.pending()) == 5
    assert function.count() == 0

    blocker.unlink()  # the store is back, without restarting the function
    done = install.flush(function.url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert function.count() == 5
    assert len(set(function.pairs())) == 5
    assert install.pending() == []
    assert sorted(r["status"] for r in install.delivered()) == ["accepted"] * 5

    for session in sessions:  # the same sessions ending again change nothing
        install.hook(session, function.url, timeout=HANG_GUARD_S)
    assert install.wait_senders_gone(install.sender_deadline + 15)
    install.flush(function.url)
    assert function.count() == 5
    assert install.pending() == []


def test_hanging_server_leaves_events_pending_and_senders_end_at_deadline(
    start_function: StartFunction, install: Install
) -> None:
    function = start_function()
    with running_proxy(FaultProxy(function.url, default="hang")) as proxy:
        for session in ("hang-1", "hang-2", "hang-3"):
            done = install.hook(session, proxy.url, timeout=HANG_GUARD_S)
            assert done.returncode == 0 and done.stdout == b""
        assert wait_until(lambda: bool(proxy.records), 15)
        assert install.wait_senders_gone(install.sender_deadline + 15)
        assert len(install.pending()) == 3
        assert function.count() == 0

    done = install.flush(function.url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert function.count() == 3
    assert install.pending() == []


def test_lost_answer_is_resent_acknowledged_as_duplicate_and_stored_once(
    start_function: StartFunction, make_install: MakeInstall
) -> None:
    function = start_function()
    install = make_install(sender_deadline=30.0)  # two round trips, on a loaded machine too
    proxy_spec = FaultProxy(function.url, script=["lose_answer"])
    with running_proxy(proxy_spec) as proxy:
        done = install.hook("lost-answer", proxy.url, timeout=HANG_GUARD_S)
        assert done.returncode == 0
        assert wait_until(lambda: not install.pending(), install.sender_deadline + 15)
        assert install.wait_senders_gone(install.sender_deadline + 15)
        assert [r.action for r in proxy.records][:2] == ["lose_answer", "forward"]
    assert function.count() == 1
    assert [r["status"] for r in install.delivered()] == ["duplicate"]


def test_retry_after_of_a_429_is_waited_for_then_delivered(
    start_function: StartFunction, make_install: MakeInstall
) -> None:
    function = start_function()
    install = make_install(sender_deadline=30.0)  # the wait fits, on a loaded machine too
    with running_proxy(FaultProxy(function.url, script=["429:1"])) as proxy:
        done = install.hook("retry-after", proxy.url, timeout=HANG_GUARD_S)
        assert done.returncode == 0
        assert wait_until(lambda: not install.pending(), install.sender_deadline + 15)
        assert install.wait_senders_gone(install.sender_deadline + 15)
        first, second = proxy.records[:2]
    assert first.action == "429:1" and second.action == "forward"
    assert second.at - first.at >= 0.95  # Retry-After is a floor for the next attempt
    assert function.count() == 1


def test_rate_limited_function_keeps_events_until_the_limit_lifts(
    start_function: StartFunction, install: Install
) -> None:
    function = start_function(SESSION_EVENTS_RATE_LIMIT_PER_MINUTE="1")
    queue_with_hooks(install, ["limited-1", "limited-2", "limited-3"])
    done = install.flush(function.url, deadline=3)
    assert done.returncode == 0, done.stdout + done.stderr  # a full bucket takes the batch
    assert function.count() == 3

    queue_with_hooks(install, ["limited-4", "limited-5", "limited-6"])
    done = install.flush(function.url, deadline=3)
    assert done.returncode == 1  # the bucket owes 2 events: Retry-After 180 is past the deadline
    assert '"status":429' in function.log_text()
    assert len(install.pending()) == 3
    assert function.count() == 3

    function.restart(SESSION_EVENTS_RATE_LIMIT_PER_MINUTE="0")
    done = install.flush(function.url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert function.count() == 6
    assert install.pending() == []


# -- the sender killed ------------------------------------------------------------------


def _flush_process(install: Install, url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "session_event_emitter", "flush", "--deadline", "30"],
        env=install.env(url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=install.root,
    )


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["stored_before_answer", "while_acknowledging"])
def test_sigkill_mid_flush_loses_nothing_and_corrupts_nothing(
    start_function: StartFunction, install: Install, moment: str
) -> None:
    function = start_function(SESSION_EVENTS_RATE_LIMIT_PER_MINUTE="0")
    emitted = queue_directly(install, 250, f"kill-{moment}")
    delay = 0.5 if moment == "stored_before_answer" else 0.0
    with running_proxy(FaultProxy(function.url, answer_delay=delay)) as proxy:
        for kill in range(3):
            flush = _flush_process(install, proxy.url)
            try:
                assert proxy.stored.acquire(timeout=30), "the flush never reached the store"
                if moment == "while_acknowledging":
                    time.sleep(0.01 + 0.02 * kill)
            finally:
                flush.send_signal(signal.SIGKILL)
                flush.wait(10)
            pending = session_pairs(install)  # every pending file still parses
            rows = function.pairs()  # read once: a request in flight may still be stored
            stored = set(rows)
            assert install.quarantined() == []
            assert pending | stored == emitted, "an event was lost"
            assert len(rows) == len(stored), "an event was stored twice"

    done = install.flush(function.url, deadline=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(function.pairs()) == emitted
    assert function.count() == 250
    assert install.pending() == []
    assert install.quarantined() == []


# -- the file system --------------------------------------------------------------------


def _mount(*args: str) -> bool:
    if os.geteuid() != 0:
        return False
    result = subprocess.run(["mount", *args], capture_output=True, check=False, timeout=10)
    return result.returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False, timeout=10)


@pytest.fixture
def full_disk_install(make_install: MakeInstall) -> Iterator[Install]:
    """An install whose whole tree is a 64 KiB tmpfs, filled to the last byte."""
    install = make_install("tiny-disk")
    if not _mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(install.root)):
        pytest.skip("mounting a 64 KiB tmpfs is not permitted here (needs root in a VM/container)")
    try:
        install.user_home.mkdir()
        fd = os.open(install.root / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 512):
                pass
        except OSError:
            pass  # ENOSPC: full
        finally:
            os.close(fd)
        yield install
    finally:
        install.kill_senders()
        _umount(install.root)


def _no_partial_outbox_file(install: Install) -> None:
    for path in install.pending():
        json.loads(path.read_bytes())  # a torn write would not parse


def test_full_disk_hook_exits_0_and_delivery_resumes_when_space_returns(
    start_function: StartFunction, full_disk_install: Install
) -> None:
    install = full_disk_install
    function = start_function()
    done = install.hook("disk-full", function.url, timeout=HANG_GUARD_S)
    assert done.returncode == 0 and done.stdout == b""
    _no_partial_outbox_file(install)
    assert install.wait_senders_gone(install.sender_deadline + 15)

    (install.root / "filler").unlink()
    done = install.hook("disk-back", function.url, timeout=HANG_GUARD_S)
    assert done.returncode == 0
    back = sha256_hex("disk-back")
    assert wait_until(lambda: back in {s for _, s in function.pairs()}, 20)
    assert len(function.pairs()) == len(set(function.pairs())) >= 1


def _refuse_every_write() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def test_hook_that_cannot_write_a_byte_exits_0_and_leaves_no_torn_file(
    install: Install,
) -> None:
    """Every write fails with EFBIG (a file-size limit of 0): a disk full from the first byte."""
    done = install.run(
        url=refused_url(),
        stdin=hook_input("no-bytes"),
        timeout=HANG_GUARD_S,
        preexec_fn=_refuse_every_write,
    )
    assert done.returncode == 0 and done.stdout == b""
    _no_partial_outbox_file(install)
    assert install.pending() == []


ReadOnly = tuple[Install, Callable[[], None]]


@pytest.fixture
def read_only_state(install: Install) -> Iterator[ReadOnly]:
    """An install whose state directory holds one pending event, then turns read-only.

    Yields the install and a function that makes the directory writable again.
    """
    queue_with_hooks(install, ["before-read-only"])
    state = str(install.state)
    if _mount("--bind", state, state):
        if not _mount("-o", "remount,ro,bind", state):
            _umount(install.state)
            pytest.skip("a read-only bind mount is not permitted here")
        try:
            yield install, lambda: _umount(install.state)
        finally:
            install.kill_senders()
            _umount(install.state)
    elif os.geteuid() != 0:

        def writable() -> None:
            for path in (install.state, install.outbox):
                path.chmod(0o700)

        for path in (install.state, install.outbox):
            path.chmod(0o500)
        try:
            yield install, writable
        finally:
            writable()
    else:
        pytest.skip("running as root without mount: a read-only directory cannot be made")


def test_read_only_state_dir_hook_exits_0_and_the_pending_event_survives(
    start_function: StartFunction, read_only_state: ReadOnly
) -> None:
    install, make_writable = read_only_state
    function = start_function()
    before = {path.name: path.read_bytes() for path in install.pending()}

    done = install.hook("while-read-only", function.url, timeout=HANG_GUARD_S)
    assert done.returncode == 0 and done.stdout == b""
    assert install.wait_senders_gone(install.sender_deadline + 15)
    assert {path.name: path.read_bytes() for path in install.pending()} == before
    # A read-only mount refuses even the sender's lock; a read-only directory (a user
    # without root) still lets the files already in it be written, so the sender may
    # deliver, but it cannot remove what it delivered: the event stays pending, is sent
    # again below, and the server keeps it once.
    assert function.count() <= 1

    make_writable()
    done = install.flush(function.url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert function.count() == 1
    assert install.pending() == []


# -- the outbox itself ------------------------------------------------------------------


def test_corrupt_outbox_files_are_quarantined_and_the_others_delivered(
    start_function: StartFunction, install: Install
) -> None:
    function = start_function()
    emitted = queue_directly(install, 3, "corrupt")
    good = install.pending()[0].read_bytes()
    fake = iter(sha256_hex(f"corrupt-file-{n}") + ".json" for n in range(100))
    corrupt = {
        next(fake): b"{not json",
        next(fake): good[: len(good) // 2],  # a torn write
        next(fake): b"",
        next(fake): b'{"v":1,"event":[1,2,3],"attempts":0,"enqueued_at":1}',
        next(fake): os.urandom(512),
        "notes.txt": b"not an outbox file",
    }
    for name, data in corrupt.items():
        (install.outbox / name).write_bytes(data)
    fifo = install.outbox / next(fake)
    os.mkfifo(fifo)  # reading it must not block the sender
    (install.outbox / next(fake)).mkdir()
    link = install.outbox / next(fake)
    link.symlink_to("/etc/hostname")

    done = install.flush(function.url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(function.pairs()) == emitted
    assert install.pending() == []
    assert len(install.quarantined()) == len(corrupt) + 3
    counters = json.loads((install.state / "counters.json").read_text())
    assert counters["quarantined"] == len(corrupt) + 3
