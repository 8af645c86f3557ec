"""A hard deadline for a whole process: the kernel ends it when the time is up.

``arm(seconds)`` sets an interval timer whose signal, SIGALRM, keeps its default action
(the caller's ignored disposition and blocked mask, both inherited across exec, are reset
first). When it fires, the kernel terminates the process on the spot: no Python code runs,
no file is written, so nothing the process was blocked on (a server dripping bytes, DNS, a
slow disk) can keep it alive. It is set before anything else is imported, and re-armed
once the real deadline is known. A process that finishes in time disarms it or simply exits.

A foreground command (``flush``) also says why it stopped: `say_before` ends it a little
earlier, in words, from a thread of its own, which runs even while the main thread waits
in a call Python cannot interrupt (a name lookup). The kernel's deadline stays behind it.
"""

from __future__ import annotations

import os
import signal
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def arm(seconds: float) -> None:
    """End this process `seconds` from now (at least a millisecond), whatever it is doing."""
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))


def disarm() -> None:
    signal.setitimer(signal.ITIMER_REAL, 0)


def say_before(seconds: float, words: str) -> Callable[[], None]:
    """End this process `seconds` from now with `words` on stderr and exit status 1.

    Returns the function that calls this off, for a run that ends in time.
    """
    import threading

    def stop() -> None:
        try:
            sys.stderr.write(words + "\n")
            sys.stderr.flush()
        finally:
            os._exit(1)

    timer = threading.Timer(seconds, stop)
    timer.daemon = True
    timer.start()
    return timer.cancel
