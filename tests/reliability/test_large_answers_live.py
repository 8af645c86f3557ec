"""Answers of the real function that the emitter must be able to read to its end.

The function caps each invalid event's issues (20 and a "more" line), but a full batch of
such events still gets an answer larger than a small read buffer: the emitter must read
it whole, or the oldest hundred events block the outbox on every run.
"""

from __future__ import annotations

import hashlib

from conftest import StartFunction
from harness import Install

from session_event_emitter.event import idempotency_key
from session_event_emitter.outbox import Outbox

BATCH = 100


def _queue_events_with_many_issues(install: Install) -> None:
    """Events the function calls invalid with the most issues it lists for one event."""
    outbox = Outbox(install.state)
    identity = hashlib.sha256(b"many-issues").hexdigest()
    for number in range(BATCH):
        event = {
            "identity_hash": identity,
            "session_id_hash": hashlib.sha256(f"many-issues-{number}".encode()).hexdigest(),
            "ended_at": "2026-05-22T12:34:56.000Z",
            "tool_count": number,
            "tokens_saved": 0,
            "plugin_version": "0.1.0",
            # Refs a stricter server would refuse: each is one issue.
            "discovery_refs": ["-"] * 30,
        }
        assert outbox.put(idempotency_key(event), event)


def test_a_full_batch_of_invalid_events_gets_its_verdicts_from_the_real_function(
    start_function: StartFunction, install: Install
) -> None:
    function = start_function()
    _queue_events_with_many_issues(install)
    install.flush(function.url, deadline=20)
    dead = list((install.state / "dead-letter").glob("*.json"))
    assert install.pending() == []
    assert len(dead) == BATCH
