"""The detached sender: ``python -m session_event_emitter.send.sender``, started by the hook.

Its hard deadline is armed before anything else is imported (deadline.py): the hook passes
the deadline and the resolved home on the command line, so no file has to be read first.
Then the outbox's bounds, which the hook leaves to it, are applied before anything that
could fail (the HTTP client's import, the sender lock, another run holding it); then one
delivery run (delivery.py) within that deadline, and out.
"""

from __future__ import annotations

import sys

from session_event_emitter.send import deadline

# Past the run's own deadline, the kernel's: the run ends itself on time unless blocked.
GRACE_SECONDS = 1.0
FALLBACK_DEADLINE = 300.0


def _deadline_argument(argv: list[str]) -> float | None:
    """``--deadline N`` read without argparse, so that the hard deadline comes first."""
    for position, word in enumerate(argv):
        text = None
        if word == "--deadline" and position + 1 < len(argv):
            text = argv[position + 1]
        elif word.startswith("--deadline="):
            text = word.partition("=")[2]
        if text is not None:
            try:
                value = float(text)
            except ValueError:
                return None
            return value if 0 < value <= FALLBACK_DEADLINE else None
    return None


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    given = _deadline_argument(arguments)
    deadline.arm((given or FALLBACK_DEADLINE) + GRACE_SECONDS)

    import argparse
    import time

    started = time.monotonic()
    parser = argparse.ArgumentParser(prog="session_event_emitter.send.sender")
    parser.add_argument("--url", default=None)
    parser.add_argument("--deadline", type=float, default=None)
    parser.add_argument("--keep", default=None)  # the key of the event its hook stored
    args = parser.parse_args(arguments)

    from session_event_emitter import diagnostics
    from session_event_emitter.outbox import Outbox
    from session_event_emitter.settings import Settings

    settings = Settings.load(url=args.url, sender_deadline=args.deadline)
    try:
        outbox = Outbox(settings.home_dir)
        outbox.enforce_limits(keep=None if args.keep is None else outbox.path_of(args.keep))
    except OSError as exc:
        diagnostics.debug(__name__, "outbox bounds not applied: %s", type(exc).__name__)

    from session_event_emitter.send import delivery

    left = settings.sender_deadline - (time.monotonic() - started)
    deadline.arm(left + GRACE_SECONDS)
    policy = delivery.Policy(deadline=left, base_delay=settings.retry_base_delay)
    try:
        delivery.deliver(settings, policy, url=args.url)
    except Exception as exc:  # a detached process has no one to tell
        diagnostics.debug(__name__, "sender failed: %s", type(exc).__name__)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
