"""The original plugin's JSON files read as it reads them: ``JSON.parse(readFileSync(p, "utf-8"))``.

What the original finds in its files (consent in ``config.json``, counts in ``stats.json``,
the session hint in ``last-project.json``) must be what this emitter finds, or the two
would send different events, or this one would send where the original would not. Python's
`json` is more lenient than ``JSON.parse`` in three ways, each closed here:

- bytes: `json.loads` detects UTF-16 and UTF-32 and skips a UTF-8 byte-order mark. Node
  decodes the file as UTF-8 (a malformed byte becomes U+FFFD, a byte-order mark stays
  U+FEFF), and ``JSON.parse`` refuses the U+FEFF or the NULs of a wider encoding. The
  bytes are decoded as UTF-8 with replacement here, and the scanner refuses the same;
- ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON: refused;
- numbers: ``JSON.parse`` reads every number as a double, so an integer of thousands of
  digits is ``Infinity`` there, not an error (Python refuses integers of over 4300 digits);
  integers are read as doubles here too, kept as ints where they are finite.

Everything else already agrees: the same four white-space characters, control characters
refused inside strings, lone surrogate escapes accepted, the last of duplicate keys kept,
trailing commas, comments and a second value refused. ``tests/emitter/test_consent_original.py``
checks each of these against Node's own ``JSON.parse``. One difference is left, on the safe
side: a document nested deeper than Python's recursion limit cannot be read here.
"""

from __future__ import annotations

import math

from session_event_emitter.fsutil import read_bounded

TYPE_CHECKING = False
if TYPE_CHECKING:
    from session_event_emitter.fsutil import StrPath


def _refuse_constant(name: str) -> object:
    raise ValueError(f"not JSON: {name}")


def _double(digits: str) -> object:
    """An integer as JavaScript holds it: the nearest double (an int while it is finite)."""
    value = float(digits)
    return int(value) if math.isfinite(value) else value


def loads(data: bytes) -> object:
    """The value ``JSON.parse`` finds in a file of these bytes; ValueError where it throws.

    RecursionError for a document nested deeper than Python can follow.
    """
    from session_event_emitter import jsoncodec  # loaded where a file is there to read

    text = data.decode("utf-8", "replace")
    return jsoncodec.loads(text, parse_constant=_refuse_constant, parse_int=_double)


def read_object(path: StrPath, limit: int) -> dict[str, object] | None:
    """The JSON object of the file at `path` (at most `limit` bytes); None for anything else."""
    data = read_bounded(path, limit)
    if data is None:
        return None
    try:
        value = loads(data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
