"""The package's named logger, reached lazily so that the hook path never imports logging.

Records go to the ``session_event_emitter`` logger and its children, which carry a
NullHandler; the root logger is never configured. ``SESSION_EVENTS_DEBUG`` (any value)
sends them to stderr.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging

PACKAGE_LOGGER = "session_event_emitter"


def get_logger(name: str = PACKAGE_LOGGER) -> logging.Logger:
    """The named logger `name` (a child of the package logger, which gets a NullHandler)."""
    import logging

    package = logging.getLogger(PACKAGE_LOGGER)
    if not any(isinstance(handler, logging.NullHandler) for handler in package.handlers):
        package.addHandler(logging.NullHandler())
    return logging.getLogger(name)


def enabled() -> bool:
    """Whether anything in the process could see a debug record (logging is loaded)."""
    return "logging" in sys.modules


def debug(name: str, message: str, *args: object) -> None:
    """Log at DEBUG level; free when nothing in the process has imported logging.

    Nothing raised while logging reaches the caller: the hook calls this from its last
    line of defence, where not even a broken handler may escape.
    """
    if "logging" not in sys.modules:
        return  # no handler can exist, so the record would go nowhere
    try:
        get_logger(name).debug(message, *args)
    except BaseException:
        return


def log_to_stderr() -> None:
    """Send this package's records (not the root logger's) to stderr, at DEBUG."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("session-event-emit: %(name)s: %(message)s"))
    logger = get_logger()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
