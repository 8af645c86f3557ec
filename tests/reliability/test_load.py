"""Load: many hooks at once against the local function (each event stored once) and against
a slow stand-in (each event sent once), and many sessions against a hanging one.

The last test simulates sessions ending in one driver process (the hook's own code,
``run_hook``, called in a loop, each call starting a real detached sender), because a
full process start per hook would take minutes on a 2-core machine. Its size comes from
``RELIABILITY_SESSIONS`` (default 1,000, about 90 s of sender start-up CPU on 2 cores;
lower it for a quick local run).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import MakeInstall, StartFunction
from fault_server import FaultServer, event_key, running
from harness import Install, wait_until
from loopback import LoopbackServer, SilentHandler, clean_env

HOOKS = 200
WORKERS = 8
SENT_ONCE_HOOKS = 40
SENDER_DEADLINE_S = 2.0
# A sender's age may pass its deadline by Python's start-up (its clock starts in main())
# and by scheduling delay on a loaded 2-core machine; a hung sender would go far past this.
DEADLINE_SLACK_S = 8.0


@pytest.mark.slow
def test_concurrent_hooks_store_each_event_exactly_once(
    start_function: StartFunction, make_install: MakeInstall
) -> None:
    function = start_function()
    installs = [make_install(f"machine-{n}") for n in range(2)]
    jobs = [(installs[n % 2], f"load-{n}") for n in range(HOOKS)]

    def run(job: tuple[Install, str]) -> int:
        install, session = job
        return install.hook(session, function.url, timeout=30).returncode

    with ThreadPoolExecutor(WORKERS) as pool:
        codes = list(pool.map(run, jobs))
    assert codes == [0] * HOOKS

    def drained() -> bool:
        return all(not i.pending() and not i.senders() for i in installs)

    assert wait_until(drained, 90, interval=0.25), "events left pending after every sender ended"
    pairs = function.pairs()
    assert len(pairs) == HOOKS
    assert len(set(pairs)) == HOOKS
    # Every event has its verdict in its install's log. A "duplicate" is at-least-once
    # delivery at work, not a fault: a sender whose deadline (2 s here) ended its wait for
    # an answer, or ended it between the log and the removal, leaves the event pending, and
    # the next sender's request is told "duplicate". That events are not sent twice while
    # their answers come in time is the next test's promise.
    verdicts = Counter(
        (event_key(record["event"]), record["status"])
        for install in installs
        for record in install.delivered()
    )
    assert len({key for key, _ in verdicts}) == HOOKS
    assert {status for _, status in verdicts} <= {"accepted", "duplicate"}
    accepted_twice = [
        key for (key, status), n in verdicts.items() if status == "accepted" and n > 1
    ]
    assert accepted_twice == []


@pytest.mark.slow
def test_concurrent_hooks_send_each_event_once_while_the_answers_come_in_time(
    make_install: MakeInstall,
) -> None:
    """Senders started together take turns (the sender lock): an event one of them is
    sending is never in another's request. The server is slow enough for their runs to
    overlap, and far quicker than a sender's read timeout, so no answer is lost."""
    server = FaultServer(answer_delay=0.2)
    install = make_install("machine", sender_deadline=30.0)
    with running(server):

        def run(number: int) -> int:
            return install.hook(f"once-{number}", server.url, timeout=30).returncode

        with ThreadPoolExecutor(WORKERS) as pool:
            codes = list(pool.map(run, range(SENT_ONCE_HOOKS)))
        assert codes == [0] * SENT_ONCE_HOOKS
        drained = wait_until(lambda: not install.pending() and not install.senders(), 60, 0.25)
        assert drained, "events left pending after every sender ended"
    sent = Counter(key for request in server.requests for key in request.keys)
    assert len(sent) == SENT_ONCE_HOOKS
    assert [key for key, n in sent.items() if n > 1] == []
    assert len(server.requests) > 1  # the runs did take turns, not one run for all


@contextlib.contextmanager
def hanging_listener() -> Iterator[str]:
    """Accepts connections and never answers a byte."""
    with LoopbackServer(SilentHandler) as server:
        yield server.url


DRIVER = """
import os, sys, time
from session_event_emitter.hook import run_hook

root, count, homes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def senders_alive():
    needle = ("SESSION_EVENTS_HOME=" + root).encode()
    alive = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                if needle in open(f"/proc/{pid}/environ", "rb").read():
                    alive += 1
            except OSError:
                pass
    return alive

for number in range(count):
    os.environ["SESSION_EVENTS_HOME"] = f"{root}/home-{number % homes}"
    os.environ["CLAUDE_SESSION_ID"] = f"simulated-{number}"
    run_hook(stdin=None)
    if number % 10 == 9:
        while senders_alive() > 60:  # pace the sessions: at most ~60 senders at once
            time.sleep(0.05)
"""


class SenderWatch:
    """Polls /proc and keeps the greatest age seen of any sender under `root`."""

    def __init__(self, root: Path) -> None:
        self.needle = f"SESSION_EVENTS_HOME={root}".encode()
        self.max_age = 0.0
        self.seen: set[int] = set()
        self.stop = threading.Event()
        self.ticks = os.sysconf("SC_CLK_TCK")

    def alive(self) -> dict[int, float]:
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        ages = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes()
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except (OSError, IndexError):
                continue
            if fields[0] == "Z" or self.needle not in environ:
                continue
            if b"session_event_emitter.send.sender" in cmdline:
                ages[int(entry)] = uptime - int(fields[19]) / self.ticks
        return ages

    def poll(self) -> None:
        while not self.stop.is_set():
            ages = self.alive()
            self.seen.update(ages)
            if ages:
                self.max_age = max(self.max_age, *ages.values())
            time.sleep(0.2)


@pytest.mark.slow
def test_simulated_sessions_leave_no_sender_alive_after_its_deadline(tmp_path: Path) -> None:
    count = int(os.environ.get("RELIABILITY_SESSIONS", "1000"))
    root = tmp_path / "sim"
    root.mkdir()
    watch = SenderWatch(root)
    poller = threading.Thread(target=watch.poll, daemon=True)
    with hanging_listener() as url:
        env = clean_env(
            HOME=str(tmp_path),
            SESSION_EVENTS_TELEMETRY="on",
            SESSION_EVENTS_URL=url,
            SESSION_EVENTS_SENDER_DEADLINE=str(SENDER_DEADLINE_S),
            SESSION_EVENTS_HOME=str(root / "home-0"),
        )
        poller.start()
        try:
            driver = subprocess.run(
                [sys.executable, "-c", DRIVER, str(root), str(count), "25"],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=max(180, count * 0.5),  # about 0.15 s a session here
                check=False,
            )
            assert driver.returncode == 0, driver.stderr.decode()[-2000:]
            gone = wait_until(
                lambda: not watch.alive(), SENDER_DEADLINE_S + DEADLINE_SLACK_S, interval=0.2
            )
        finally:
            watch.stop.set()
            poller.join(5)
            for pid in watch.alive():  # leave nothing behind, whatever the outcome
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
    assert gone, f"{len(watch.alive())} sender(s) still alive after the deadline"
    assert watch.seen, "no sender was ever started"
    assert watch.max_age <= SENDER_DEADLINE_S + DEADLINE_SLACK_S
    pending = sum(len(os.listdir(home / "outbox")) for home in root.iterdir())
    assert pending == count  # the server never answered: every event is still there
