"""A hard deadline for a whole process: the kernel ends it when the time is up.

``arm(seconds)`` sets an interval timer whose signal, SIGALRM, keeps its default action
(the caller's ignored disposition and blocked mask, both inherited across exec, are reset
first). When it fires, the kernel terminates the process on the spot: no Python code runs,
no file is written, so nothing the process was blocked on (a server dripping bytes, DNS, a
slow disk) can keep it alive. It is set before anything else is imported, and re-armed
once the real deadline is known. A process that finishes in time disarms it or simply exits.
"""

from __future__ import annotations

import signal


def arm(seconds: float) -> None:
    """End this process `seconds` from now (at least a millisecond), whatever it is doing."""
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))


def disarm() -> None:
    signal.setitimer(signal.ITIMER_REAL, 0)
