"""The numeric bounds of the event's fields (infra/session-event.schema.json) that the
emitter clamps its counts to, and finiteness.

`is_finite` stands in for ``math.isfinite``: ``math`` is a shared library, and loading it
costs the hook a few hundred microseconds, several per cent of the interpreter's own start.
"""

MAX_TOOL_COUNT = 1_000_000
MAX_TOKENS_SAVED = 1_000_000_000

_INFINITY = float("inf")


def is_finite(value: float) -> bool:
    """Neither infinite nor NaN: no infinity lies strictly between the two, and NaN compares
    false with everything."""
    return -_INFINITY < value < _INFINITY
