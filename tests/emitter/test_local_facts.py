"""Local facts: tool-use blocks from the transcript, git HEAD bounded in time."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from session_event_emitter.facts import git_head_sha, transcript_tool_count


def _line(role: str, *blocks: dict[str, object]) -> str:
    return json.dumps({"type": role, "message": {"role": role, "content": list(blocks)}})


def _write(path: Path, *lines: str) -> str:
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_counts_tool_use_blocks(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "t.jsonl",
        _line("user", {"type": "text", "text": "hi"}),
        _line("assistant", {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}),
        _line(
            "assistant",
            {"type": "text", "text": "ok"},
            {"type": "tool_use", "id": "toolu_2", "name": "Bash", "input": {}},
        ),
        _line("user", {"type": "tool_result", "tool_use_id": "toolu_2", "content": "x"}),
    )
    assert transcript_tool_count(path) == 2


def test_a_block_repeated_across_lines_counts_once(tmp_path: Path) -> None:
    block = {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}
    path = _write(tmp_path / "t.jsonl", _line("assistant", block), _line("assistant", block))
    assert transcript_tool_count(path) == 1


def test_text_that_mentions_tool_use_is_not_counted(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "t.jsonl",
        _line("user", {"type": "text", "text": '{"type":"tool_use"} "tool_use"'}),
        _line("user", {"type": "tool_result", "content": '"type": "tool_use"'}),
        '{"type": "tool_use"}',
        'not json but has "tool_use"',
    )
    assert transcript_tool_count(path) == 0


def test_missing_transcript_gives_no_count(tmp_path: Path) -> None:
    assert transcript_tool_count(str(tmp_path / "absent.jsonl")) is None


def test_a_fifo_transcript_is_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    assert transcript_tool_count(str(fifo)) is None
    assert time.monotonic() - started < 1.0


def test_transcript_read_is_bounded(tmp_path: Path) -> None:
    block = {"type": "tool_use", "id": "x", "name": "Read", "input": {}}
    lines = [_line("assistant", {**block, "id": f"toolu_{i}"}) for i in range(100)]
    path = _write(tmp_path / "t.jsonl", *lines)
    one_line = len(lines[0]) + 1
    assert transcript_tool_count(path, limit=one_line * 10) == 10


def test_git_sha_is_absent_for_a_missing_directory(tmp_path: Path) -> None:
    assert git_head_sha(str(tmp_path / "nope")) is None


def test_git_that_hangs_is_abandoned_quickly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "git"
    fake.write_text("#!/bin/sh\nexec sleep 5\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    (tmp_path / ".git").mkdir()  # looks like a repository, so git is asked
    started = time.monotonic()
    assert git_head_sha(str(tmp_path), timeout=0.3) is None
    assert time.monotonic() - started < 2.0


def test_git_is_not_asked_outside_a_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "git-ran"
    fake = bin_dir / "git"
    fake.write_text(f"#!/bin/sh\n: > {marker}\necho 0123456789abcdef\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR"):
        monkeypatch.delenv(name, raising=False)
    outside = tmp_path / "plain"
    outside.mkdir()
    assert git_head_sha(str(outside)) is None
    assert not marker.exists()
    (outside / ".git").write_text("gitdir: /elsewhere\n")  # a worktree's .git is a file
    assert git_head_sha(str(outside)) == "0123456789abcdef"
    assert marker.exists()
