"""`make run` and `make run-firestore` as a new user meets them: what they install, print, bind."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback import clean_env, free_port
from support import ROOT

# Liveness bounds only: each is far above what the step takes, and proves "not forever".
SERVE_BOUND_S = 120
EMULATOR_BOUND_S = 150


def start_make(*args: str, **env: str) -> subprocess.Popen[str]:
    environment = clean_env(**env)
    environment.pop("HOST", None)  # the default bind address is what is tested
    return subprocess.Popen(
        ["make", "--no-print-directory", "-C", str(ROOT), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
        start_new_session=True,  # a group of its own, as a terminal gives a foreground job
    )


def read_until(process: subprocess.Popen[str], needle: str, bound_s: float) -> list[str]:
    """Lines of output up to and including the first one holding `needle`."""
    assert process.stdout is not None
    seen: list[str] = []
    ends = time.monotonic() + bound_s
    while time.monotonic() < ends:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} never printed; output: {''.join(seen)}")


def stop_group(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    try:
        os.killpg(process.pid, sig)
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    except ProcessLookupError:
        return process.wait()


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp* shows them) listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, list[str]]]:
    port = free_port()
    process = start_make(
        "run", f"PORT={port}", SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "events.db")
    )
    try:
        lines = read_until(process, "serving on", SERVE_BOUND_S)
        ends = time.monotonic() + SERVE_BOUND_S
        while not listening_addresses(port) and time.monotonic() < ends:
            time.sleep(0.2)
        yield process, port, lines
    finally:
        stop_group(process)


@pytest.mark.parametrize("target", ["run", "rollup"])
def test_make_run_and_rollup_install_only_the_function_requirements(
    tmp_path: Path, target: str
) -> None:
    plan = subprocess.run(
        ["make", "-n", "-C", str(ROOT), target, f"VENV={tmp_path / 'venv'}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "-r functions/requirements.txt" in plan
    assert "tests/requirements.txt" not in plan
    assert "./emitter" not in plan


def test_make_run_binds_where_host_says() -> None:
    plan = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "run", "HOST=0.0.0.0", "PORT=9000"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--host 0.0.0.0 --port 9000" in plan


def test_make_test_and_lint_install_the_test_tools(tmp_path: Path) -> None:
    for target in ("test", "lint"):
        plan = subprocess.run(
            ["make", "-n", "-C", str(ROOT), target, f"VENV={tmp_path / 'venv'}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "-r tests/requirements.txt" in plan


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="reads /proc/net/tcp")
def test_make_run_prints_its_url_and_binds_loopback_only(
    serving: tuple[subprocess.Popen[str], int, list[str]],
) -> None:
    _process, port, lines = serving
    expected = f"session-events: serving on http://127.0.0.1:{port} (store: sqlite)"
    assert lines[-1].strip() == expected
    assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, no other interface
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
        assert answer.status == 200


def test_make_run_says_serving_on_only_once_the_function_answers(tmp_path: Path) -> None:
    port = free_port()
    process = start_make(
        "run", f"PORT={port}", SESSION_EVENTS_SQLITE_PATH=str(tmp_path / "events.db")
    )
    try:
        read_until(process, "serving on", SERVE_BOUND_S)
        # No wait, no retry: the line is the promise that it answers now.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
            assert answer.status == 200
    finally:
        stop_group(process)


def test_make_run_on_a_taken_port_fails_naming_the_port_and_port_variable() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(8)
        port = taken.getsockname()[1]
        process = start_make("run", f"PORT={port}")
        try:
            output, _ = process.communicate(timeout=SERVE_BOUND_S)
        finally:
            if process.poll() is None:
                stop_group(process, signal.SIGKILL)
    assert process.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in output
    assert f"PORT={port + 1} make run" in output
    assert "serving on" not in output


def test_make_run_stops_on_term(serving: tuple[subprocess.Popen[str], int, list[str]]) -> None:
    process, _port, _lines = serving
    assert stop_group(process) is not None
    assert process.poll() is not None


# --- run-firestore --------------------------------------------------------------------------


def needs_gcloud() -> None:
    if shutil.which("gcloud") is None:
        if os.environ.get("CI"):
            pytest.fail("gcloud is not installed: the emulator tests must run in CI")
        pytest.skip("gcloud is not installed (the Firestore emulator comes with it)")


def _stat(pid: int | str) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, ..."""
    return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()


def _java_processes() -> Iterator[tuple[int, list[str]]]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"java" in (entry / "cmdline").read_bytes():
                    yield int(entry.name), _stat(entry.name)
            except OSError:
                continue


def java_in_group(pgid: int) -> list[int]:
    """PIDs of live Java processes in a process group (the emulator's)."""
    return [pid for pid, stat in _java_processes() if int(stat[2]) == pgid and stat[0] != "Z"]


def emulator_groups_of(ancestor: int) -> set[int]:
    """Process groups of the Java processes descending from `ancestor`."""
    groups = set()
    for _pid, stat in _java_processes():
        parent = int(stat[1])
        try:
            while parent > 1 and parent != ancestor:
                parent = int(_stat(parent)[1])
        except OSError:
            continue
        if parent == ancestor:
            groups.add(int(stat[2]))
    return groups


@pytest.mark.firestore
def test_run_firestore_with_its_port_taken_fails_and_shows_the_emulator_output() -> None:
    needs_gcloud()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(8)  # accepts connections and never answers them
        port = taken.getsockname()[1]
        process = start_make("run-firestore", f"FIRESTORE_PORT={port}", f"PORT={free_port()}")
        try:
            output, _ = process.communicate(timeout=EMULATOR_BOUND_S)
        finally:
            if process.poll() is None:
                stop_group(process, signal.SIGKILL)
    assert process.returncode != 0
    assert f"The Firestore emulator on 127.0.0.1:{port} exited" in output
    assert "[firestore]" in output  # the emulator's own last lines


@pytest.mark.firestore
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_firestore_stops_on_a_signal_and_leaves_no_java_behind(sig: int) -> None:
    needs_gcloud()
    port = free_port()
    process = start_make("run-firestore", f"FIRESTORE_PORT={free_port()}", f"PORT={port}")
    try:
        read_until(process, "serving on", EMULATOR_BOUND_S)
        groups = emulator_groups_of(process.pid)
        assert groups, "no emulator process found under make"
        if sig == signal.SIGTERM:
            process.send_signal(sig)  # make passes TERM on to the recipe
        else:
            os.killpg(process.pid, sig)  # Ctrl-C reaches the whole foreground group
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            stop_group(process, signal.SIGKILL)
    assert process.returncode != 0
    assert all(java_in_group(group) == [] for group in groups)
