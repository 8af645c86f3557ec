"""Starts the sender as a detached process so the hook can return at once."""

from __future__ import annotations

import subprocess
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
