"""The original plugin's SQLite stats (``ASHLR_STATS_BACKEND=sqlite``), read-only, bounded in time.

With that backend the original keeps one row per session in ``~/.ashlr/stats.db`` (or
``ASHLR_STATS_DB_PATH``): ``sessions(session_id, calls, tokens_saved)``, in WAL mode. This
is the only module that imports `sqlite3`, and only once a database file is there to read.

Read-only means the database and its folder are left as they were found:

- the file is opened through a ``file:...?mode=ro`` URI, so SQLite itself refuses any write;
- a WAL database that no connection has open (no ``-wal`` and no ``-shm`` file beside it)
  is read with ``immutable=1``: a read-only connection would otherwise create both files
  and, unable to delete them, leave them behind. A WAL writer changes the main file only
  when it checkpoints, so reading the main file is safe while one starts;
- a database in use (its ``-wal`` or ``-shm`` is there) is read as a reader of a WAL
  database is, through its shared-memory index.

Bounded in time: a lock is waited for at most `BUSY_TIMEOUT_SECONDS`, and the query is
interrupted at `DEADLINE_SECONDS`. Anything that goes wrong (locked, corrupt, not a
database, another shape, not a regular file) is None: the caller counts as without a
database.
"""

from __future__ import annotations

import os
import stat
import time

from session_event_emitter import diagnostics

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

BUSY_TIMEOUT_SECONDS = 0.1
DEADLINE_SECONDS = 0.25
_HEADER = b"SQLite format 3\x00"
_WAL_VERSION = 2  # header bytes 18 and 19: the file format's write and read versions
ROW_QUERY = "SELECT calls, tokens_saved FROM sessions WHERE session_id = ?"


def session_rows(path: str, session_ids: Sequence[str]) -> dict[str, tuple[object, object]] | None:
    """``{session_id: (calls, tokens_saved)}`` of the rows of `session_ids`, values as stored;
    None when the database cannot be read (see the module docstring)."""
    uri = _read_only_uri(path)
    if uri is None or not session_ids:
        return None
    import sqlite3  # only here: the hook of a user without this backend never loads it

    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        connection = sqlite3.connect(
            uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None
        )
    except (sqlite3.Error, OSError, ValueError) as exc:
        diagnostics.debug(__name__, "stats database not opened: %s", type(exc).__name__)
        return None
    try:
        connection.set_progress_handler(lambda: time.monotonic() > deadline, 1000)
        rows: dict[str, tuple[object, object]] = {}
        for session_id in session_ids:
            # Without the original's primary key a session could have several rows: the last
            # one counts, as in the original's reading of the table.
            for calls, tokens in connection.execute(ROW_QUERY, (session_id,)):
                rows[session_id] = (calls, tokens)
    except (sqlite3.Error, OSError, ValueError, OverflowError) as exc:
        diagnostics.debug(__name__, "stats database not read: %s", type(exc).__name__)
        return None
    finally:
        connection.close()
    return rows


def _read_only_uri(path: str) -> str | None:
    """The URI that opens `path` read-only, or None when it is no SQLite database file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (OSError, ValueError):
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None  # a FIFO or device: SQLite would block opening it
        header = os.read(fd, 100)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(header) < 100 or not header.startswith(_HEADER):
        return None
    absolute = os.path.abspath(path)
    # In a URI's path "?" starts the query, "#" the fragment and "%" an escape.
    quoted = absolute.replace("%", "%25").replace("?", "%3f").replace("#", "%23")
    in_use = os.path.lexists(absolute + "-wal") or os.path.lexists(absolute + "-shm")
    closed_wal = header[18] == _WAL_VERSION and not in_use
    return f"file://{quoted}?mode=ro" + ("&immutable=1" if closed_wal else "")
