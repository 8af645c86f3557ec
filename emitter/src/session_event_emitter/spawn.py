"""Starts the sender as a detached process so the hook can return at once.

The sender must share nothing with the hook's caller: a caller that waits until every
copy of its pipes is closed (a shell's command substitution, an editor reading a hook's
output) would otherwise wait for the sender. So the child gets /dev/null for stdin,
stdout and stderr, a session of its own, / as its working directory, and no other
descriptor: every descriptor this process inherited is marked close-on-exec first.
Everything it needs is fixed here: the resolved home (a relative SESSION_EVENTS_HOME
means nothing in /) and its deadline, on its command line and in its environment.
"""

from __future__ import annotations

import os
import sys

from session_event_emitter import diagnostics

_FD_DIRS = ("/proc/self/fd", "/dev/fd")
SENDER_MODULE = "session_event_emitter.send.sender"


def start_sender(
    home: str, deadline: float, url: str | None = None, keep: str | None = None
) -> bool:
    """Launch ``python -m session_event_emitter.send.sender``, detached; never raises.

    `keep` is the key of the event the hook has just stored: the outbox's bounds, which
    the sender applies first, never evict it. Returns whether the sender could be started.
    """
    if not sys.executable:
        return False
    command = [sys.executable, "-m", SENDER_MODULE, "--deadline", f"{deadline:g}"]
    if url is not None:
        command += ["--url", url]
    if keep is not None:
        command += ["--keep", keep]
    env = dict(os.environ, SESSION_EVENTS_HOME=home)
    keep_descriptors_to_this_process()
    try:
        _posix_spawn(command, env)
    except (OSError, ValueError, TypeError, NotImplementedError, AttributeError) as exc:
        diagnostics.debug(__name__, "posix_spawn unavailable: %s", type(exc).__name__)
    else:
        return True
    return _popen(command, env)


def keep_descriptors_to_this_process() -> None:
    """Mark every open descriptor above 2 close-on-exec, inherited ones included.

    Python opens its own files close-on-exec (PEP 446), but a descriptor handed down by the
    caller (a pipe, say) is inheritable and posix_spawn would pass it on.
    """
    for directory in _FD_DIRS:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if name.isdigit() and int(name) > 2:
                _not_inherited(int(name))
        return
    # No descriptor directory (rare): fall back to the usual range.
    for fd in range(3, 256):
        _not_inherited(fd)


def _not_inherited(fd: int) -> None:
    try:
        os.set_inheritable(fd, False)
    except OSError:
        return  # not open (the listing's own descriptor, say)


def _posix_spawn(command: list[str], env: dict[str, str]) -> None:
    """Start `command` with os.posix_spawn: new session, cwd /, stdio on /dev/null.

    posix_spawn has no working-directory action before Python 3.13, so this process steps
    into / for the spawn and back again; that is only safe with a single thread, so with
    others running it declines (NotImplementedError) and the caller uses subprocess.
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
            os.posix_spawn(command[0], command, env, file_actions=actions, setsid=True)
        finally:
            os.fchdir(here)
    finally:
        os.close(here)


def _popen(command: list[str], env: dict[str, str]) -> bool:
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
            env=env,
        )
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        diagnostics.debug(__name__, "could not start the sender: %s", type(exc).__name__)
        return False
    return True
