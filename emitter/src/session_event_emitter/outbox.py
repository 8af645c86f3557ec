"""The durable local outbox: one private file per event, bounded, with dead-letter and quarantine.

Layout under ``$SESSION_EVENTS_HOME``::

    outbox/<key>.json        pending events, <key> = sha256(identity_hash + ":" + session_id_hash)
    dead-letter/<key>.json   events the server called invalid, with its issues; kept until
                             ``retry-dead`` puts them back (oldest pruned past
                             ``max_dead_letters``, counted)
    retried/<key>.json       dead letters ``retry-dead`` put back: pending like the others
    quarantine/<name>        outbox files that could not be read back
    counters.json            running totals of evictions, dead letters and quarantines

Every file is written atomically (temp file, fsync, os.replace) with mode 0600. The outbox
keeps at most ``max_events`` files, ``max_bytes`` bytes and nothing older than
``max_age_seconds``; the oldest go first and each eviction is counted (``status`` shows
the counts). The sender every hook starts applies the three bounds first thing, before
anything that could fail it, and ``flush`` before it sends. A
hook's ``put`` counts the pending files by name and never opens or stats them, so a hook
costs the same with a thousand events pending as with none; the hook applies the bounds
itself only when its sender cannot start, or when the count is over ``max_events`` by
more than a tenth. Nothing else removes a pending event but a verdict,
``disable``, or these bounds (the delivery rules). The bounds never evict for a dead
letter put back: when hooks fill the outbox past them, the events ``retry-dead`` put back
return to the dead letters first (moved, not deleted), so putting dead letters back never
costs a pending event.
"""

from __future__ import annotations

import os
import time

from session_event_emitter import jsoncodec
from session_event_emitter.fsutil import (
    TMP_PREFIX,
    ensure_private_dir,
    fsync_dir,
    read_bounded,
    read_json_object,
    unlink_quietly,
    write_atomic,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from session_event_emitter.fsutil import StrPath

ENVELOPE_VERSION = 1
MAX_FILE_BYTES = 256 * 1024
STALE_TMP_SECONDS = 3600.0
_LOWER_HEX = frozenset("0123456789abcdef")


def _is_key_file(name: str) -> bool:
    """``<64 lowercase hex digits>.json``."""
    return len(name) == 69 and name.endswith(".json") and _LOWER_HEX.issuperset(name[:64])


def _is_finished_json(name: str) -> bool:
    return name.endswith(".json") and not name.startswith(TMP_PREFIX)


class OutboxLimits:
    """How much the outbox may hold before the oldest events are evicted."""

    __slots__ = (
        "max_age_seconds",
        "max_bytes",
        "max_dead_letters",
        "max_events",
        "max_quarantined",
    )

    def __init__(
        self,
        max_events: int = 1000,
        max_bytes: int = 8 * 1024 * 1024,
        max_age_seconds: float = 30 * 24 * 3600.0,
        max_dead_letters: int = 1000,
        max_quarantined: int = 50,
    ) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.max_age_seconds = max_age_seconds
        self.max_dead_letters = max_dead_letters
        self.max_quarantined = max_quarantined


class Entry:
    """One pending event as read back from the outbox."""

    __slots__ = ("enqueued_at", "event", "key", "path")

    def __init__(self, key: str, path: str, event: dict[str, object], enqueued_at: float) -> None:
        self.key = key
        self.path = path
        self.event = event
        self.enqueued_at = enqueued_at

    def _fields(self) -> tuple[object, ...]:
        return (self.key, self.path, self.event, self.enqueued_at)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entry):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # holds a dict

    def __repr__(self) -> str:
        return f"Entry(key={self.key!r}, path={self.path!r})"


class _FileInfo:
    __slots__ = ("mtime", "name", "path", "retried", "size")

    def __init__(self, path: str, size: int, mtime: float, *, retried: bool = False) -> None:
        self.path = path
        self.name = os.path.basename(path)
        self.size = size
        self.mtime = mtime
        self.retried = retried  # a dead letter put back, still in its dead-letter form


class Depth:
    """How many events are pending and how many bytes they take."""

    __slots__ = ("bytes", "counters", "events")

    def __init__(self, events: int, bytes: int, counters: dict[str, int]) -> None:
        self.events = events
        self.bytes = bytes
        self.counters = counters


class Outbox:
    """Pending events on disk; safe to share between a hook and a running sender."""

    def __init__(self, home: StrPath, limits: OutboxLimits | None = None) -> None:
        self.home = os.fspath(home)
        self.limits = limits or OutboxLimits()
        self.pending_dir = os.path.join(self.home, "outbox")
        self.dead_letter_dir = os.path.join(self.home, "dead-letter")
        self.retried_dir = os.path.join(self.home, "retried")
        self.quarantine_dir = os.path.join(self.home, "quarantine")
        self.counters_path = os.path.join(self.home, "counters.json")

    # -- writing -----------------------------------------------------------------------

    def put(self, key: str, event: Mapping[str, object], *, now: float | None = None) -> bool:
        """Store `event` under `key`; False when an event with that key is already pending.

        The first event for a key wins, as on the server.
        """
        self._private(self.pending_dir)
        path = self.path_of(key)
        if os.path.exists(path):
            return False
        envelope = {
            "v": ENVELOPE_VERSION,
            "enqueued_at": time.time() if now is None else now,
            "event": dict(event),
        }
        write_atomic(path, _dumps(envelope))
        if self.count_by_name() > self.limits.max_events + self.limits.max_events // 10:
            self.enforce_limits(now=now, keep=path)
        return True

    def path_of(self, key: str) -> str:
        """Where the event a hook stored under `key` waits."""
        return os.path.join(self.pending_dir, f"{key}.json")

    def remove(self, key: str) -> None:
        """Remove the event the hook stored under `key` (idempotent)."""
        unlink_quietly(self.path_of(key))

    def discard(self, entry: Entry) -> None:
        """Remove `entry`, wherever it is pending (idempotent): it got its verdict."""
        unlink_quietly(entry.path)

    def dead_letter(self, entry: Entry, reason: str, detail: Mapping[str, object]) -> None:
        """Move `entry` to the dead-letter folder with the server's reason; it waits there."""
        self._private(self.dead_letter_dir)
        record = {
            "reason": reason,
            **detail,
            "dead_lettered_at": time.time(),
            "event": entry.event,
        }
        data = _dumps(record)
        if len(data) > MAX_FILE_BYTES:  # the server's issues, too long to read back: not kept
            data = _dumps({k: record[k] for k in ("reason", "dead_lettered_at", "event")})
        write_atomic(os.path.join(self.dead_letter_dir, f"{entry.key}.json"), data)
        self.discard(entry)
        self._bump({"dead_lettered": 1})
        self._prune_dead_letters()

    def retry_dead(self) -> tuple[int, int]:
        """Put dead letters back while the outbox has room: (how many went, how many wait).

        Only as many go back as fit under the outbox's count and byte bounds; the others
        stay dead letters, for the next ``retry-dead`` once the outbox has drained. Each
        goes back whole (renamed into ``retried/``, reason and issues kept), so that if
        hooks fill the outbox meanwhile, the bounds return it to the dead letters rather
        than evict a pending event (`enforce_limits`).

        A dead letter whose key is pending again stays where it is: the pending copy may be
        the very one a running sender is moving here (it writes the dead letter first, then
        removes the pending copy), and moving the dead letter then could lose the event.
        """
        depth = self.depth()
        room_events = self.limits.max_events - depth.events
        room_bytes = self.limits.max_bytes - depth.bytes
        moved = waiting = 0
        now = time.time()
        for path in sorted(_list(self.dead_letter_dir)):
            name = os.path.basename(path)
            if not _is_key_file(name):
                continue
            if not isinstance(read_json_object(path, MAX_FILE_BYTES).get("event"), dict):
                continue  # not readable (now, or at this size): kept, as every dead letter is
            try:
                size = os.stat(path).st_size
            except OSError:
                continue
            if room_events < 1 or size > room_bytes:
                waiting += 1
                continue
            back = os.path.join(self.retried_dir, name)
            if os.path.lexists(os.path.join(self.pending_dir, name)) or os.path.lexists(back):
                continue
            self._private(self.retried_dir)
            try:
                os.rename(path, back)
                os.utime(back, (now, now))  # its age in the outbox counts from now
            except OSError:
                continue
            moved += 1
            room_events -= 1
            room_bytes -= size
        if moved:
            fsync_dir(self.retried_dir)
            self.enforce_limits(now=now)
        return moved, waiting

    def clear(self) -> int:
        """Delete every pending event (dead letters put back included); how many there were."""
        return sum(unlink_quietly(info.path) for info in self._all_files())

    def clear_dead_letters(self) -> int:
        """Delete every dead letter (so that no later ``retry-dead`` can send it)."""
        return sum(unlink_quietly(path) for path in _list(self.dead_letter_dir))

    # -- reading -----------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        """Pending events, oldest first; unreadable files are moved to quarantine."""
        found: list[Entry] = []
        for info in self._all_files():
            entry = self._load(info)
            if entry is not None:
                found.append(entry)
        found.sort(key=lambda e: (e.enqueued_at, e.key))
        return found

    def depth(self) -> Depth:
        files = list(self._all_files())
        return Depth(
            events=len(files),
            bytes=sum(info.size for info in files),
            counters=self.counters(),
        )

    def dead_letters(self) -> list[dict[str, object]]:
        records = []
        for path in sorted(_list(self.dead_letter_dir)):
            record = read_json_object(path, MAX_FILE_BYTES)
            if record:
                records.append(record)
        return records

    def counters(self) -> dict[str, int]:
        raw = read_json_object(self.counters_path, 64 * 1024)
        return {k: v for k, v in raw.items() if isinstance(v, int) and not isinstance(v, bool)}

    def count_by_name(self) -> int:
        """How many events are pending, the dead letters put back included, from the
        folders' listings alone: every finished ``.json`` file counts (a foreign one too,
        which only brings the eviction forward)."""
        return sum(
            sum(1 for name in _names(directory) if _is_finished_json(name))
            for directory in (self.pending_dir, self.retried_dir)
        )

    # -- bounds ------------------------------------------------------------------------

    def enforce_limits(self, *, now: float | None = None, keep: StrPath | None = None) -> int:
        """Evict by age, then oldest-first by count and bytes; returns how many went.

        Dead letters put back by ``retry-dead`` go first, and back to the dead letters
        (neither deleted nor counted as evicted): an event that never failed is evicted
        only when the outbox is over its bounds without them.
        """
        current = time.time() if now is None else now
        keep = None if keep is None else os.fspath(keep)
        files = sorted(self._all_files(), key=lambda info: (info.mtime, info.name))
        self._remove_stale_tmp(current)
        evicted: dict[str, int] = {}

        survivors: list[_FileInfo] = []
        returned = 0
        for info in files:
            if current - info.mtime <= self.limits.max_age_seconds or info.path == keep:
                survivors.append(info)
            elif info.retried:
                returned += self._return_to_dead_letters(info)
            elif unlink_quietly(info.path):
                evicted["evicted_age"] = evicted.get("evicted_age", 0) + 1

        total = sum(info.size for info in survivors)
        while survivors and (
            len(survivors) > self.limits.max_events or total > self.limits.max_bytes
        ):
            victim = next((i for i in survivors if i.retried), None) or next(
                (i for i in survivors if i.path != keep), None
            )
            if victim is None:
                break
            reason = "evicted_count" if len(survivors) > self.limits.max_events else "evicted_bytes"
            survivors.remove(victim)
            total -= victim.size
            if victim.retried:
                returned += self._return_to_dead_letters(victim)
            elif unlink_quietly(victim.path):
                evicted[reason] = evicted.get(reason, 0) + 1
        if evicted:
            self._bump(evicted)
        if returned:  # the dead letters keep their own bound, as when they first came
            self._prune_dead_letters()
        return sum(evicted.values())

    # -- internals ---------------------------------------------------------------------

    def _private(self, directory: str) -> None:
        """Create the home and then `directory`, both readable by the owner only."""
        ensure_private_dir(self.home)
        ensure_private_dir(directory)

    def _prune_dead_letters(self) -> None:
        """The oldest dead letters past ``max_dead_letters`` go, counted."""
        pruned = _prune_oldest(self.dead_letter_dir, self.limits.max_dead_letters)
        if pruned:
            self._bump({"dead_letters_pruned": pruned})

    def _all_files(self) -> Iterator[_FileInfo]:
        """Every pending event: those the hooks stored, then the dead letters put back."""
        yield from self._files()
        for path in _list(self.retried_dir):
            if _is_key_file(os.path.basename(path)):
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                yield _FileInfo(path, st.st_size, st.st_mtime, retried=True)

    def _return_to_dead_letters(self, info: _FileInfo) -> int:
        """A dead letter put back goes back where it came from, as it was; 1 if it went."""
        try:
            os.replace(info.path, os.path.join(self.dead_letter_dir, info.name))
        except OSError:
            return 0
        return 1

    def _files(self) -> Iterator[_FileInfo]:
        for path in _list(self.pending_dir):
            name = os.path.basename(path)
            if name.startswith(TMP_PREFIX):
                continue
            if not _is_key_file(name):
                self._quarantine(path)
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            yield _FileInfo(path, st.st_size, st.st_mtime)

    def _load(self, info: _FileInfo) -> Entry | None:
        data = read_bounded(info.path, MAX_FILE_BYTES)
        envelope: object = None
        if data is not None:
            try:
                envelope = jsoncodec.loads(data)
            except (ValueError, RecursionError):
                envelope = None
        elif not os.path.exists(info.path) or (
            info.size <= MAX_FILE_BYTES and os.path.isfile(info.path)
        ):
            # Gone meanwhile, or not readable just now (too many open files, say): a file
            # that may be a good event stays pending; only a file read back bad is moved.
            return None
        if not isinstance(envelope, dict):
            self._quarantine(info.path)
            return None
        event = envelope.get("event")  # an "attempts" count of older envelopes is ignored
        enqueued_at = envelope.get("enqueued_at", info.mtime)
        if not isinstance(event, dict) or not isinstance(enqueued_at, int | float):
            self._quarantine(info.path)
            return None
        return Entry(
            key=info.name[: -len(".json")],
            path=info.path,
            event=event,
            enqueued_at=float(enqueued_at),
        )

    def _quarantine(self, path: str) -> None:
        try:
            self._private(self.quarantine_dir)
            name = os.path.basename(path)
            os.replace(path, os.path.join(self.quarantine_dir, f"{int(time.time())}-{name}"))
        except OSError:
            return
        self._bump({"quarantined": 1})
        _prune_oldest(self.quarantine_dir, self.limits.max_quarantined)

    def _remove_stale_tmp(self, now: float) -> None:
        for path in _list(self.pending_dir):
            if os.path.basename(path).startswith(TMP_PREFIX):
                try:
                    if now - os.stat(path).st_mtime > STALE_TMP_SECONDS:
                        os.unlink(path)
                except OSError:
                    pass

    def _bump(self, deltas: Mapping[str, int]) -> None:
        """Add to the running counters under a file lock (hook and sender may race)."""
        import fcntl  # a shared library: loaded when a counter moves, not by every hook

        try:
            ensure_private_dir(self.home)
            fd = os.open(os.path.join(self.home, ".counters.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            counters = self.counters()
            for name, delta in deltas.items():
                counters[name] = counters.get(name, 0) + delta
            write_atomic(self.counters_path, _dumps(counters))
        except OSError:
            pass
        finally:
            os.close(fd)


def _dumps(value: object) -> bytes:
    return jsoncodec.dumps(value, sort_keys=True).encode("utf-8")


def _names(directory: str) -> list[str]:
    try:
        return os.listdir(directory)
    except OSError:
        return []


def _list(directory: str) -> list[str]:
    return [os.path.join(directory, name) for name in _names(directory)]


def _prune_oldest(directory: str, keep: int) -> int:
    files: list[tuple[float, str]] = []
    for path in _list(directory):
        try:
            files.append((os.stat(path).st_mtime, path))
        except OSError:
            continue
    files.sort()
    excess = files[: max(len(files) - keep, 0)]
    return sum(unlink_quietly(path) for _, path in excess)
