"""What the emitter remembers of servers without a batch endpoint, and for how long."""

from __future__ import annotations

import time
from pathlib import Path

from session_event_emitter.send import modes

BATCH = "https://user:s3cret@ingest.example/v1/session-events/batch"


def test_a_server_found_without_batch_endpoint_is_posted_one_by_one(tmp_path: Path) -> None:
    assert not modes.single_only(tmp_path, BATCH)
    modes.remember_single_only(tmp_path, BATCH)
    assert modes.single_only(tmp_path, BATCH)


def test_after_a_week_the_batch_endpoint_is_asked_again(tmp_path: Path) -> None:
    modes.remember_single_only(tmp_path, BATCH)
    later = time.time() + modes.REPROBE_AFTER_SECONDS + 1
    assert not modes.single_only(tmp_path, BATCH, now=later)


def test_the_remembered_url_keeps_no_password(tmp_path: Path) -> None:
    modes.remember_single_only(tmp_path, BATCH)
    assert "s3cret" not in (tmp_path / modes.MODES_NAME).read_text()
