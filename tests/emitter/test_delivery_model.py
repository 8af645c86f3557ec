"""A model of the emitter's promises, checked after every step against a scripted server.

Steps: a hook runs, a sender runs, `disable`, `enable`, `flush`; the server answers each
request from everything a real network answers (fault_server.KINDS). After every step:

- no consented event is gone without a verdict from the server, `disable`, or a counted
  bound of the outbox;
- nothing was sent while consent was off;
- no event was sent again after the server gave it a verdict;
- `status` never says "delivered" for a run in which no event got a verdict.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import threading
import time
from pathlib import Path

import pytest
from fault_server import KINDS, FaultServer, running
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from session_event_emitter.commands import disable, enable
from session_event_emitter.hook import run_hook
from session_event_emitter.outbox import Outbox
from session_event_emitter.send import audit
from session_event_emitter.send.delivery import Policy, deliver
from session_event_emitter.settings import Settings

POLICY = Policy(
    deadline=1.2, base_delay=0.01, max_delay=0.02, connect_timeout=0.5, read_timeout=0.5
)
answers = st.lists(st.sampled_from(KINDS), min_size=1, max_size=4)
_sessions = itertools.count()


class DeliveryPromises(RuleBasedStateMachine):
    """The outbox, the sender and the consent switch, against a server of scripted faults."""

    root: Path

    def __init__(self) -> None:
        super().__init__()
        self._stack = contextlib.ExitStack()
        self.server = self._stack.enter_context(running(FaultServer(hang_seconds=1.0)))
        self.consent = True
        self.server.note = lambda: self.consent
        self.state = DeliveryPromises.root / f"run-{next(_sessions)}"
        self.env = {
            "HOME": str(self.state / "home"),
            "SESSION_EVENTS_HOME": str(self.state / "state"),
            "SESSION_EVENTS_URL": self.server.url,
            "NO_PROXY": "127.0.0.1",
        }
        self._saved = {name: os.environ.get(name) for name in self.env}
        os.environ.update(self.env)
        with contextlib.redirect_stdout(io.StringIO()):
            enable.run(argparse.Namespace(url=None))
        self.outbox = Outbox(self.state / "state")
        self.created: set[str] = set()
        self.withdrawn: set[str] = set()

    def teardown(self) -> None:
        self._stack.close()
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _pending(self) -> set[str]:
        return {entry.key for entry in self.outbox.entries()}

    # -- steps -----------------------------------------------------------------------------

    @rule()
    def hook_runs(self) -> None:
        before = self._pending()
        env = dict(self.env, CLAUDE_SESSION_ID=f"session-{next(_sessions)}")
        run_hook(env=env, spawn=lambda *_args: True)
        added = self._pending() - before
        if self.consent:
            assert len(added) == 1
            self.created |= added
        else:
            assert added == set()

    def _deliver(self, kinds: list[str], *, wait_for_lock: bool) -> None:
        self.server.play(*kinds)
        seen = len(self.server.requests)
        record = self.state / "state" / "last-delivery.json"
        record.unlink(missing_ok=True)
        policy = Policy(**{**POLICY.__dict__, "wait_for_lock": wait_for_lock})
        deliver(Settings.load(), policy)
        run = self.server.requests[seen:]
        last = audit.read_last_delivery(record.parent)
        if last.get("outcome") == "delivered":
            assert any(request.told for request in run), "said delivered, nothing was"

    @rule(kinds=answers)
    def sender_runs(self, kinds: list[str]) -> None:
        self._deliver(kinds, wait_for_lock=False)

    @rule(kinds=answers)
    def flush(self, kinds: list[str]) -> None:
        self._deliver(kinds, wait_for_lock=True)

    @precondition(lambda self: self.consent)
    @rule(kinds=answers, at=st.integers(min_value=0, max_value=3))
    def disable_while_a_sender_runs(self, kinds: list[str], at: int) -> None:
        """`disable` typed while the sender waits for the answer to its request number `at`."""
        config = self.state / "state" / "config.json"
        withdrawing: list[threading.Thread] = []

        def disable_now() -> None:
            def run() -> None:
                with contextlib.redirect_stdout(io.StringIO()):
                    disable.run(argparse.Namespace(url=None))

            thread = threading.Thread(target=run)
            thread.start()
            withdrawing.append(thread)
            deadline = time.monotonic() + 5
            while '"off"' not in config.read_text() and time.monotonic() < deadline:
                time.sleep(0.005)
            self.consent = False  # every request after this one breaks the promise

        self.server.before_answer = {at: disable_now}
        try:
            self._deliver(kinds, wait_for_lock=False)
        finally:
            self.server.before_answer = {}
        if not withdrawing:  # the run ended before request `at`: disable now
            disable_now()
        withdrawing[0].join(10)
        self.consent = False
        settled = self.server.told("accepted") | self.server.told("duplicate")
        # `disable` deletes what is pending and the dead letters.
        self.withdrawn |= self.created - settled
        assert self._pending() == set()

    @precondition(lambda self: self.consent)
    @rule()
    def disable(self) -> None:
        self.withdrawn |= self._pending() | self.server.told("invalid")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            disable.run(argparse.Namespace(url=None))
        self.consent = False
        assert self._pending() == set()

    @precondition(lambda self: not self.consent)
    @rule()
    def enable(self) -> None:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            enable.run(argparse.Namespace(url=None))
        self.consent = True

    # -- the promises ----------------------------------------------------------------------

    @invariant()
    def no_consented_event_is_lost(self) -> None:
        if not hasattr(self, "outbox"):
            return
        settled = self.server.told("accepted") | self.server.told("duplicate")
        dead = self.server.told("invalid")
        kept_dead = {
            Path(str(p)).stem for p in (self.state / "state" / "dead-letter").glob("*.json")
        }
        assert dead - self.withdrawn <= kept_dead  # `disable` deletes dead letters too
        pending = self._pending()
        lost = self.created - pending - settled - dead - self.withdrawn
        assert lost == set()
        counters = self.outbox.counters()
        assert not any(name.startswith("evicted") for name in counters)

    @invariant()
    def nothing_is_sent_while_consent_is_off(self) -> None:
        if hasattr(self, "server"):
            assert all(request.note is True for request in self.server.requests)

    @invariant()
    def nothing_is_sent_again_after_its_verdict(self) -> None:
        if not hasattr(self, "server"):
            return
        decided: set[str] = set()
        for request in self.server.requests:
            assert decided.isdisjoint(request.keys)
            decided |= {key for key, verdict in request.told.items() if verdict != "retry"}


@pytest.fixture(autouse=True)
def _machine_root(tmp_path: Path) -> None:
    DeliveryPromises.root = tmp_path


TestDeliveryPromises = DeliveryPromises.TestCase
TestDeliveryPromises.settings = settings(
    max_examples=int(os.environ.get("DELIVERY_MODEL_EXAMPLES", "60")),
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize("kind", KINDS)
def test_disable_during_a_run_stops_it_whatever_the_server_answered(
    tmp_path: Path, kind: str
) -> None:
    """The same machine, one sequence per answer: `disable` arrives while request 0 waits."""
    DeliveryPromises.root = tmp_path
    machine = DeliveryPromises()
    try:
        machine.hook_runs()
        machine.hook_runs()
        machine.disable_while_a_sender_runs([kind, "accepted"], 0)
        machine.no_consented_event_is_lost()
        machine.nothing_is_sent_while_consent_is_off()
        machine.nothing_is_sent_again_after_its_verdict()
    finally:
        machine.teardown()
