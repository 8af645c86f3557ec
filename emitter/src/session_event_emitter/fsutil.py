"""Small file-system helpers: private directories, atomic private writes and bounded reads."""

from __future__ import annotations

import contextlib
import json
import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
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
    renamed over `path` with os.replace; the directory entry is then fsynced too. Both
    fsyncs are needed here: `path` may already hold bytes that must not be lost, so the new
    bytes must be on disk before the rename can reach it, and the rename itself is durable
    only once the directory is. For a file that must not exist yet, write_new needs one
    disk flush instead of two.
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
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory or ".")


def write_new(path: StrPath, data: bytes) -> bool:
    """Create `path` holding `data` with mode 0600, durably; False (and nothing written) if
    it already exists.

    Readers see either no file or all of `data`: the bytes are written to a temporary file
    first and the name appears by link(), which, unlike a rename, never replaces an
    existing file, so of two writers of one name the first wins. Once this returns the file
    survives a crash: the fsync of the file makes its bytes durable, and the fsync of the
    directory (POSIX asks for it) its name. The file is fsynced only after the name is in
    place, so its bytes and its name go to disk in one journal commit on ext4, XFS and
    btrfs, and the directory fsync finds nothing left to write: one disk flush, where
    write_atomic's order (fsync, rename, fsync) needs two. That order would be unsafe where
    a file is replaced (a crash could leave the new name on the old bytes' place before
    the new bytes), which is why only a new file is written this way. A crash before this
    returns may leave the name on incomplete bytes; such a file is unreadable and is
    quarantined by its reader, and the write had not been acknowledged.
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
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            except OSError:  # a filesystem without hard links: check, then rename
                if os.path.lexists(path):
                    return False
                os.rename(tmp, path)
            else:
                os.unlink(tmp)
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    fsync_dir(directory or ".")
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


def read_json_object(path: StrPath, limit: int = 1 << 20) -> dict[str, object]:
    """Return the JSON object stored at `path`, or {} when missing, too big or malformed."""
    data = read_bounded(path, limit)
    if data is None:
        return {}
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}
