"""Servers the benchmarks run against, all on 127.0.0.1 and all stopped by their process group.

- the ingest function, the no-op function and the SQLite floor (a function that only
  stores each event), each served by ``functions-framework`` in production mode
  (gunicorn), the function and the floor with SQLite in a temporary directory;
- a port that refuses connections and a socket that accepts and never answers;
- the official Firestore emulator from the machine's ``gcloud``.
"""

from __future__ import annotations

import compileall
import contextlib
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from common import FLOOR_SOURCE, FUNCTION_SOURCE, NOOP_SOURCE, VENV_BIN, clean_env, free_port
from loopback import LoopbackServer, SilentHandler

TARGETS = {
    "function": (FUNCTION_SOURCE, "session_events"),
    "noop": (NOOP_SOURCE, "noop"),
    "floor": (FLOOR_SOURCE, "sqlite_floor"),
}


def server_command(kind: str, port: int) -> list[str]:
    source, target = TARGETS[kind]
    return [
        str(VENV_BIN / "functions-framework"),
        "--source",
        str(source),
        "--target",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def function_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The function's environment: SQLite under `data_dir`, no rate limit."""
    settings = {
        "SESSION_EVENTS_STORE": "sqlite",
        "SESSION_EVENTS_SQLITE_PATH": str(data_dir / "session_events.db"),
        "SESSION_EVENTS_RATE_LIMIT_PER_MINUTE": "0",
    }
    return clean_env(**{**settings, **extra})


def compile_sources() -> None:
    """Write the bytecode caches of the function's and the no-op's own sources.

    Python reads a module's cached bytecode if it exists; with PYTHONDONTWRITEBYTECODE set
    it never writes one, and every start of the function would compile its sources again,
    while the libraries both servers import were compiled when pip installed them. A
    function that has started once (or was deployed) has its cache, so cold starts are
    measured with it. (The deploy upload leaves __pycache__ out.)
    """
    compileall.compile_dir(FUNCTION_SOURCE.parent, quiet=1)
    compileall.compile_file(NOOP_SOURCE, quiet=1)
    compileall.compile_file(FLOOR_SOURCE, quiet=1)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group started with `process`, then SIGKILL it if it lingers."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def start_server(kind: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Request log lines go to /dev/null: writing them is measured, keeping them is not.
    return subprocess.Popen(
        server_command(kind, port),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=str(FUNCTION_SOURCE.parent),
    )


def wait_healthy(url: str, process: subprocess.Popen[bytes], deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server behind {url} exited while starting")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status < 500:
                    return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the server behind {url} did not start in time")


@dataclass(frozen=True)
class Served:
    """A server started by `serve`: its port and the process group it runs in."""

    port: int
    pid: int

    def cpu_ms(self) -> float | None:
        """CPU time (ms) used so far by the server's processes (functions-framework and its
        gunicorn worker), from the kernel's per-thread run time; None where /proc has none."""
        return process_tree_cpu_ms(self.pid)


@contextlib.contextmanager
def serve(kind: str, data_dir: Path, **extra_env: str) -> Iterator[Served]:
    """Serve the function (`kind="function"`) or the no-op; yields it once it answers."""
    port = free_port()
    process = start_server(kind, port, function_env(data_dir, **extra_env))
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        yield Served(port, process.pid)
    finally:
        stop_group(process)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            return [int(child) for child in listing.read().split()]
    except OSError:
        return []


def process_tree_cpu_ms(pid: int) -> float | None:
    """CPU time (ms) of `pid` and its living descendants, every thread counted.

    Read from /proc/<pid>/task/<tid>/schedstat (nanoseconds on a core), which, unlike the
    tick-counted times of /proc/<pid>/stat, is exact enough for a few milliseconds.
    """
    total_ns = 0
    pending = [pid]
    seen = False
    while pending:
        current = pending.pop()
        pending.extend(_children(current))
        try:
            threads = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for thread in threads:
            try:
                with open(f"/proc/{current}/task/{thread}/schedstat") as stat:
                    total_ns += int(stat.read().split()[0])
                    seen = True
            except (OSError, ValueError, IndexError):
                continue
    return total_ns / 1e6 if seen else None


def refused_port() -> int:
    """A loopback port nobody listens on: connecting is refused at once."""
    return free_port()


@contextlib.contextmanager
def hanging_server() -> Iterator[int]:
    """A socket that accepts connections, reads nothing back and never answers."""
    with LoopbackServer(SilentHandler) as server:
        yield server.port


@contextlib.contextmanager
def firestore_emulator() -> Iterator[str | None]:
    """host:port of a fresh Firestore emulator, or None (with the reason printed) without gcloud."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        print("  firestore emulator: skipped (gcloud is not installed)")
        yield None
        return
    host = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [gcloud, "emulators", "firestore", "start", f"--host-port={host}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its Java child shares the group, so the group is stopped
    )
    try:
        try:
            wait_healthy(f"http://{host}/", process, deadline_s=90)
        except RuntimeError as error:
            print(f"  firestore emulator: skipped ({error})")
            yield None
            return
        yield host
    finally:
        stop_group(process)
