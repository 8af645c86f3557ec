"""The hook path: consent first, stdlib only, no stdout, no network, exit 0 whatever happens."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pty
import socket
import subprocess
import sys
import time
from typing import Any

import pytest
from exit_probe import run_watching_imports

from session_event_emitter import cli, hook, identity, spawn
from session_event_emitter.fsutil import PRIVATE_FILE_MODE


class _Recorder:
    def __init__(self) -> None:
        self.spawned: list[str | None] = []
        self.connections: list[object] = []


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    """Record (and refuse) every socket connect and every sender start."""
    seen = _Recorder()

    def no_connect(self: socket.socket, address: object) -> None:
        seen.connections.append(address)
        raise OSError("network is not allowed on the hook path")

    def fake_spawn(
        home: str, deadline: float, url: str | None = None, keep: str | None = None
    ) -> bool:
        seen.spawned.append(url)
        return True

    monkeypatch.setattr(socket.socket, "connect", no_connect)
    monkeypatch.setattr(spawn, "start_sender", fake_spawn)
    return seen


def _run_hook_in_process(
    monkeypatch: pytest.MonkeyPatch, data: bytes, *args: str, before: Any = None
) -> tuple[int, str]:
    read_end, write_end = os.pipe()
    os.write(write_end, data)
    os.close(write_end)
    if before is not None:
        before()
    stdin = os.fdopen(read_end, "r")
    stdout = io.StringIO()
    monkeypatch.setattr(sys, "stdin", stdin)
    monkeypatch.setattr(sys, "stdout", stdout)
    try:
        code = cli.main(list(args))
    finally:
        stdin.close()
    return code, stdout.getvalue()


def test_consent_off_writes_nothing_spawns_nothing_and_opens_no_socket(
    home: Any, monkeypatch: pytest.MonkeyPatch, recorder: _Recorder, hook_json: Any
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", "http://127.0.0.1:9")
    before = home.all_files()
    code, out = _run_hook_in_process(monkeypatch, hook_json())
    assert (code, out) == (0, "")
    assert home.all_files() == before
    assert not home.state.exists()
    assert recorder.spawned == [] and recorder.connections == []


def test_do_not_track_writes_nothing_even_when_enabled(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, recorder: _Recorder, hook_json: Any
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    code, out = _run_hook_in_process(monkeypatch, hook_json())
    assert (code, out) == (0, "")
    assert not consent_on.state.exists()
    assert recorder.spawned == []


def test_consent_on_without_endpoint_writes_nothing(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, recorder: _Recorder, hook_json: Any
) -> None:
    _run_hook_in_process(monkeypatch, hook_json())
    assert not consent_on.state.exists()
    assert recorder.spawned == []


def test_consent_on_stores_one_private_file_named_by_key_and_starts_sender(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, recorder: _Recorder, hook_json: Any
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", "http://127.0.0.1:9")
    code, out = _run_hook_in_process(monkeypatch, hook_json("sess-1"))
    assert (code, out) == (0, "")
    [path] = consent_on.outbox_files()
    event = json.loads(path.read_text())["event"]
    key = identity.sha256_hex(f"{event['identity_hash']}:{event['session_id_hash']}")
    assert path.name == f"{key}.json"
    assert path.stat().st_mode & 0o777 == PRIVATE_FILE_MODE
    assert event["session_id_hash"] == identity.sha256_hex("sess-1")
    assert recorder.spawned == [None]
    assert recorder.connections == []


def test_state_directories_are_private(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, recorder: _Recorder, hook_json: Any
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", "http://127.0.0.1:9")
    _run_hook_in_process(monkeypatch, hook_json())
    assert consent_on.state.stat().st_mode & 0o777 == 0o700
    assert consent_on.outbox.stat().st_mode & 0o777 == 0o700


def test_same_session_twice_keeps_one_outbox_file(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, recorder: _Recorder, hook_json: Any
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", "http://127.0.0.1:9")
    _run_hook_in_process(monkeypatch, hook_json("same"))
    _run_hook_in_process(monkeypatch, hook_json("same"))
    assert len(consent_on.outbox_files()) == 1


def test_full_disk_is_swallowed(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, recorder: _Recorder, hook_json: Any
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", "http://127.0.0.1:9")

    real_write = os.write

    def no_space(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    code, out = _run_hook_in_process(
        monkeypatch, hook_json(), before=lambda: monkeypatch.setattr(os, "write", no_space)
    )
    monkeypatch.setattr(os, "write", real_write)
    assert (code, out) == (0, "")
    assert consent_on.outbox_files() == []


def test_unexpected_error_is_swallowed(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, hook_json: Any
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", "http://127.0.0.1:9")

    def explode(**kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(hook, "run_hook", explode)
    assert _run_hook_in_process(monkeypatch, hook_json()) == (0, "")


# -- as a real process -------------------------------------------------------------------


@pytest.mark.parametrize(
    "stdin",
    [
        b"",
        b"not json",
        b"[]",
        b"null",
        b"\xff\xfe\x00garbage",
        b'{"session_id": {"x": 1}}',
        b"{" * 100_000,
        b"x" * (2 * 1024 * 1024),
    ],
    ids=["empty", "text", "array", "null", "binary", "wrong-type", "deep", "oversized"],
)
def test_malformed_stdin_exits_zero_silently(
    consent_on: Any, run_cli: Any, free_port: int, stdin: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    done = run_cli(stdin=stdin)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert len(consent_on.outbox_files()) == 1


def test_unwritable_home_exits_zero_silently(
    consent_on: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch, hook_json: Any
) -> None:
    blocker = consent_on.root / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("SESSION_EVENTS_HOME", str(blocker / "state"))
    monkeypatch.setenv("SESSION_EVENTS_URL", "http://127.0.0.1:9")
    done = run_cli(stdin=hook_json())
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


def test_missing_git_exits_zero_and_omits_branch(
    consent_on: Any,
    run_cli: Any,
    monkeypatch: pytest.MonkeyPatch,
    hook_json: Any,
    free_port: int,
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    env = dict(os.environ, PATH=str(consent_on.root / "no-bin"))
    done = run_cli(stdin=hook_json(cwd=str(consent_on.root)), env=env)
    assert (done.returncode, done.stdout) == (0, b"")
    [path] = consent_on.outbox_files()
    assert "branch_sha" not in json.loads(path.read_text())["event"]


def test_bad_flag_on_hook_path_still_exits_zero(consent_on: Any, run_cli: Any) -> None:
    done = run_cli("--tool-count", "-5")
    assert (done.returncode, done.stdout) == (0, b"")


def test_stdin_terminal_is_not_read(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, free_port: int
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    controller, terminal = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "session_event_emitter"],
            stdin=terminal,
            capture_output=True,
            timeout=10,
            check=False,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert (done.returncode, done.stdout) == (0, b"")
    assert len(consent_on.outbox_files()) == 1


def _hook_reading_a_pipe() -> subprocess.Popen[bytes]:
    """The hook as its own process, its stdin a pipe this test writes (and closes) itself."""
    return subprocess.Popen(
        [sys.executable, "-m", "session_event_emitter"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_stdin_left_open_does_not_hold_the_hook(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, free_port: int
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    proc = _hook_reading_a_pipe()
    try:
        assert proc.stdin is not None
        proc.stdin.write(b'{"session_id": "still-open"')
        proc.stdin.flush()
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.communicate()
    assert len(consent_on.outbox_files()) == 1


# Three pauses of at most 0.1 s: well within the hook's 0.5 s bound on its input, even when
# a loaded machine wakes the writer late.
@pytest.mark.parametrize("pause_s", [0.0, 0.05, 0.1])
def test_input_written_in_pieces_is_read_whole(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, hook_json: Any, free_port: int, pause_s: float
) -> None:
    """A caller still writing when the hook starts: the hook waits for the rest (within its
    bound) and records the session the whole input names."""
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    whole = hook_json("written-in-pieces")
    proc = _hook_reading_a_pipe()
    try:
        assert proc.stdin is not None
        third = len(whole) // 3
        for piece in (whole[:third], whole[third : 2 * third], whole[2 * third :]):
            time.sleep(pause_s)
            proc.stdin.write(piece)
            proc.stdin.flush()
        out, err = proc.communicate(timeout=10)  # closes the pipe, then waits
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, out, err) == (0, b"", b"")
    [pending] = consent_on.outbox_files()
    recorded = json.loads(pending.read_text())["event"]["session_id_hash"]
    assert recorded == hashlib.sha256(b"written-in-pieces").hexdigest()


@pytest.mark.parametrize(
    ("command", "written", "killed"),
    [
        ([], b"", False),
        (["ref", "owner-repo"], b"", False),
        ([], b'{"session_id": "still-writ', True),  # the writer keeps the pipe open
    ],
    ids=["hook", "ref", "hook killed while it waits for the rest"],
)
def test_the_callers_pipe_is_left_as_it_was(
    consent_on: Any,
    monkeypatch: pytest.MonkeyPatch,
    hook_json: Any,
    free_port: int,
    command: list[str],
    written: bytes,
    killed: bool,
) -> None:
    """The hook never changes its stdin's mode: the caller may share that pipe, and its own
    reads would fail with EAGAIN on a pipe left non-blocking. A hook's timeout or a closed
    terminal ends the hook by a signal, with no clean-up run."""
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, written or hook_json("shared-pipe"))
        if not killed:
            os.close(write_end)
            write_end = -1
        proc = subprocess.Popen(
            [sys.executable, "-m", "session_event_emitter", *command],
            stdin=read_end,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        if killed:
            time.sleep(0.25)  # within the hook's 0.5 s wait for the rest of its input
            proc.terminate()
        out, err = proc.communicate(timeout=20)
        assert os.get_blocking(read_end)
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    if killed:
        return
    assert (proc.returncode, out, err) == (0, b"", b"")
    if command:
        assert len(list((consent_on.state / "session-refs").glob("*.json"))) == 1
    else:
        assert len(consent_on.outbox_files()) == 1


def test_hook_path_imports_only_the_standard_library(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, hook_json: Any, free_port: int
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    probe = (
        "import sys\n"
        "from session_event_emitter import cli\n"
        "cli.main([])\n"
        "roots = {name.split('.')[0] for name in sys.modules}\n"
        "sys.stderr.write(','.join(sorted(roots & {'requests', 'urllib3', 'socket', 'ssl',"
        " 'http', 'certifi', 'charset_normalizer', 'idna'})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        input=hook_json(),
        capture_output=True,
        timeout=10,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout == b""
    assert done.stderr == b""
    assert len(consent_on.outbox_files()) == 1


def test_bare_hook_run_skips_heavy_standard_modules(
    consent_on: Any, monkeypatch: pytest.MonkeyPatch, hook_json: Any, free_port: int
) -> None:
    """The console-script hook (no arguments, consent on, URL set) stays import-light."""
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    outside = consent_on.root / "not-a-repository"
    outside.mkdir()
    watched = ("pathlib", "typing", "argparse", "subprocess", "logging")
    done = run_watching_imports([], hook_json("import-probe", cwd=str(outside)), watched)
    assert done.returncode == 0
    assert done.stdout == b""
    assert done.stderr == b""
    assert len(consent_on.outbox_files()) == 1


def test_network_failure_is_quiet_and_event_stays_pending(
    consent_on: Any,
    run_cli: Any,
    monkeypatch: pytest.MonkeyPatch,
    hook_json: Any,
    free_port: int,
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    done = run_cli(stdin=hook_json())
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    time.sleep(0.2)
    assert len(consent_on.outbox_files()) == 1


def test_hook_returns_at_once_against_a_silent_server(
    consent_on: Any,
    run_cli: Any,
    monkeypatch: pytest.MonkeyPatch,
    hook_json: Any,
    silent_server: str,
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", silent_server)
    started = time.monotonic()
    done = run_cli(stdin=hook_json(), timeout=5)
    assert done.returncode == 0
    # Generous bound: the hook never waits for the network, only for Python to start.
    assert time.monotonic() - started < 3.0
    assert len(consent_on.outbox_files()) == 1


def test_consent_off_process_writes_nothing(
    home: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch, hook_json: Any
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_URL", "http://127.0.0.1:9")
    before = home.all_files()
    done = run_cli(stdin=hook_json())
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert home.all_files() == before
    assert not home.state.exists()
