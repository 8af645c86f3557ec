"""Starts the sender as a detached process so the hook can return at once."""

from __future__ import annotations

import os
import sys

from session_event_emitter import diagnostics


def start_sender(url: str | None = None) -> bool:
    """Launch ``python -m session_event_emitter.sender`` in its own session; never raises.

    The child has /dev/null for stdin, stdout and stderr, inherits no other descriptor,
    and is not waited for. Returns whether it could be started.
    """
    if not sys.executable:
        return False
    command = [sys.executable, "-m", "session_event_emitter.sender"]
    if url is not None:
        command += ["--url", url]
    try:
        _posix_spawn(command)
    except (OSError, ValueError, TypeError, NotImplementedError, AttributeError) as exc:
        diagnostics.debug(__name__, "posix_spawn unavailable: %s", type(exc).__name__)
    else:
        return True
    return _popen(command)


def _posix_spawn(command: list[str]) -> None:
    """Start `command` with os.posix_spawn: new session, cwd /, stdio on /dev/null.

    posix_spawn has no working-directory action before Python 3.13, so this process steps
    into / for the spawn and back again; that is only safe with a single thread, so with
    others running it declines (NotImplementedError) and the caller uses subprocess.
    Descriptors above 2 are close-on-exec in Python (PEP 446), so none is inherited.
    """
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        raise NotImplementedError("other threads are running")
    null = os.devnull
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, null, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, null, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, null, os.O_WRONLY, 0),
    ]
    here = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.chdir("/")
        try:
            os.posix_spawn(command[0], command, os.environ, file_actions=actions, setsid=True)
        finally:
            os.fchdir(here)
    finally:
        os.close(here)


def _popen(command: list[str]) -> bool:
    import subprocess

    try:
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,
            cwd="/",
        )
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        diagnostics.debug(__name__, "could not start the sender: %s", type(exc).__name__)
        return False
    return True
