"""Small file-system helpers: private directories, atomic private writes and bounded reads."""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeAlias, TypeVar

    StrPath: TypeAlias = "str | os.PathLike[str]"
    P = TypeVar("P", bound=StrPath)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
TMP_PREFIX = ".tmp-"


def ensure_private_dir(path: P) -> P:
    """Create `path` (and parents) readable by the owner only; an existing directory is kept."""
    os.makedirs(path, mode=PRIVATE_DIR_MODE, exist_ok=True)
    return path


def write_atomic(path: StrPath, data: bytes) -> None:
    """Write `data` to `path` with mode 0600 so that readers see either nothing or all of it.

    The bytes go to a temporary file in the same directory, are fsynced, and the file is
    renamed over `path` with os.replace; the directory entry is then fsynced too.

    Both fsyncs are needed, for a consented event must survive a crash once the hook has
    returned: the first makes the bytes durable before the rename can expose them (a
    rename reaching the disk first would leave `path` empty after a crash, and `path` may
    already hold bytes worth keeping), the second makes the rename itself durable (POSIX
    promises nothing for a new name until its directory is synced). Orders that fsync
    once after the name is in place (link or rename, then fsync the file) were measured:
    on ext4 the directory still costs its own flush, so they gain nothing and lose the
    guarantee where a file is replaced.
    """
    directory, name = os.path.split(os.fspath(path))
    tmp = os.path.join(directory, f"{TMP_PREFIX}{os.urandom(8).hex()}-{name}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        try:
            os.fchmod(fd, PRIVATE_FILE_MODE)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        unlink_quietly(tmp)
        raise
    fsync_dir(directory or ".")


def unlink_quietly(path: StrPath) -> bool:
    """Remove `path`; whether it was removed (a missing or unremovable file is no error)."""
    try:
        os.unlink(path)
    except OSError:
        return False
    return True


def fsync_dir(path: StrPath) -> None:
    """Flush a directory entry change to disk where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_bounded(path: StrPath, limit: int) -> bytes | None:
    """Return the bytes of a regular file of at most `limit` bytes, else None.

    Never blocks on a FIFO or device and never follows the read past `limit`.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks: list[bytes] = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        return None if len(data) > limit else data
    except OSError:
        return None
    finally:
        os.close(fd)


def read_json_config(
    path: StrPath, limit: int, parse: Callable[[bytes], object] | None = None
) -> dict[str, object] | None:
    """The JSON object of a config file; {} when there is no file, None when there is one
    that cannot be read as a JSON object (unreadable, too big, malformed, not an object).

    `parse` reads the bytes (ValueError when they are not JSON); `json.loads` by default.
    """
    data = read_bounded(path, limit)
    if data is None:
        return {} if not os.path.lexists(path) else None
    return _json_object(data, parse)


def read_json_object(path: StrPath, limit: int = 1 << 20) -> dict[str, object]:
    """Return the JSON object stored at `path`, or {} when missing, too big or malformed."""
    data = read_bounded(path, limit)
    return {} if data is None else _json_object(data) or {}


def _json_object(
    data: bytes, parse: Callable[[bytes], object] | None = None
) -> dict[str, object] | None:
    """The JSON object `data` holds; None for anything else."""
    if parse is None:
        from session_event_emitter import jsoncodec

        parse = jsoncodec.loads
    try:
        value = parse(data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
