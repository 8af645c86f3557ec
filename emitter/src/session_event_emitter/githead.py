"""Reads the commit that HEAD names from a repository's own files, without starting git.

It finds the repository as git does from a directory (the nearest ``.git`` directory, or
``.git`` file of a worktree or submodule, on the way up), reads ``HEAD``, and follows a
symbolic ref through the loose refs and ``packed-refs`` of the repository (``commondir``
for a linked worktree). Only that plain layout is read. Whatever else git might take into
account (a ``GIT_DIR``-like variable, a bare repository, a repository owned by another
user, a filesystem boundary, the reftable format, anything malformed) raises
``Undecided`` so that the caller asks git itself; git's answer is then the only one.
"""

from __future__ import annotations

import os

from session_event_emitter.fsutil import read_bounded

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

# Variables that change where git looks for the repository or its refs.
GIT_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
    "GIT_NAMESPACE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_REF_STORAGE",
)
SMALL_FILE_LIMIT = 64 * 1024
PACKED_REFS_LIMIT = 64 * 1024 * 1024
SYMREF_MAX_DEPTH = 5  # git's own limit on ref -> ref chains
# Refs kept per worktree (in its own git directory); every other ref is shared.
_PER_WORKTREE_PREFIXES = ("refs/bisect/", "refs/worktree/", "refs/rewritten/")
_HEX = frozenset("0123456789abcdef")


class Undecided(Exception):
    """The files alone cannot say what git would answer; ask git."""


def head_commit(directory: str, env: Mapping[str, str]) -> str | None:
    """The full object id HEAD resolves to from `directory`; None outside a repository or
    when HEAD names a branch with no commit yet (as ``git rev-parse HEAD`` fails there).

    Raises Undecided wherever the answer needs git itself.
    """
    if any(env.get(name) for name in GIT_VARIABLES):
        raise Undecided("the environment points git elsewhere")
    found = _find_git_dir(os.path.abspath(directory))
    if found is None:
        return None
    git_dir, common_dir = found
    target = _read_ref_file(os.path.join(git_dir, "HEAD"))
    if target is None:
        raise Undecided("HEAD is unreadable")
    for _ in range(SYMREF_MAX_DEPTH):
        if not target.startswith("ref: "):
            return _object_id(target)
        name = target[len("ref: ") :].strip()
        _check_ref_name(name)
        base = git_dir if name.startswith(_PER_WORKTREE_PREFIXES) else common_dir
        target = _read_ref_file(os.path.join(base, *name.split("/")))
        if target is None:
            packed = _packed_ref(base, name)
            if packed is None:
                return None  # a branch without a commit: git rev-parse HEAD fails too
            return packed
    raise Undecided("symbolic refs nested too deep")


def _find_git_dir(start: str) -> tuple[str, str] | None:
    """(git dir, common dir) of the repository holding `start`, or None if there is none."""
    start_device = _device(start)
    if start_device is None:
        return None
    current, crossed = start, False
    while True:
        dot_git = os.path.join(current, ".git")
        if os.path.lexists(dot_git):
            if crossed:
                raise Undecided("git stops at a filesystem boundary unless told otherwise")
            return _open_repository(current, dot_git)
        if os.path.isfile(os.path.join(current, "HEAD")):
            raise Undecided("perhaps a bare repository or the inside of a git directory")
        parent = os.path.dirname(current)
        if parent == current:
            return None
        crossed = crossed or _device(parent) != start_device
        current = parent


def _device(path: str) -> int | None:
    try:
        return os.stat(path).st_dev
    except OSError:
        return None


def _open_repository(worktree: str, dot_git: str) -> tuple[str, str]:
    if os.path.isdir(dot_git):
        git_dir = dot_git
    else:
        content = read_bounded(dot_git, SMALL_FILE_LIMIT)
        text = content.decode("utf-8", "replace").strip() if content is not None else ""
        if not text.startswith("gitdir:") or "\n" in text:
            raise Undecided("not a plain gitdir file")
        git_dir = os.path.join(worktree, text[len("gitdir:") :].strip())
    common_dir = git_dir
    pointer = read_bounded(os.path.join(git_dir, "commondir"), SMALL_FILE_LIMIT)
    if pointer is not None:
        relative = pointer.decode("utf-8", "replace").strip()
        if not relative:
            raise Undecided("empty commondir")
        common_dir = os.path.join(git_dir, relative)
    uid = os.geteuid()
    for path in (worktree, git_dir):
        try:
            owner = os.stat(path).st_uid
        except OSError as exc:
            raise Undecided("repository directory unreadable") from exc
        if owner != uid:
            raise Undecided("owned by another user: git's safe.directory rules apply")
    if not (
        os.path.isfile(os.path.join(git_dir, "HEAD"))
        and os.path.isdir(os.path.join(common_dir, "objects"))
        and os.path.isdir(os.path.join(common_dir, "refs"))
    ):
        raise Undecided("not a git directory git would accept as is")
    if os.path.exists(os.path.join(common_dir, "reftable")):
        raise Undecided("reftable ref storage")
    return git_dir, common_dir


def _read_ref_file(path: str) -> str | None:
    """The first line of a loose ref (or HEAD); None when there is no such file."""
    content = read_bounded(path, SMALL_FILE_LIMIT)
    if content is None:
        if not os.path.lexists(path):
            return None
        raise Undecided("ref is not a small readable regular file")
    lines = content.decode("ascii", "replace").splitlines()
    return lines[0].rstrip() if lines else ""


def _check_ref_name(name: str) -> None:
    parts = name.split("/")
    if (
        not name.startswith("refs/")
        or any(part in ("", ".", "..") or part.startswith(".") for part in parts)
        or name.endswith(".lock")
        or any(ord(c) < 0x21 or c in "\\:?*[~^" for c in name)
    ):
        raise Undecided("a ref name outside the plain layout")


def _object_id(text: str) -> str:
    value = text.strip()
    if len(value) in (40, 64) and all(c in _HEX for c in value):
        return value
    raise Undecided("HEAD holds no object id")


def _packed_ref(base: str, name: str) -> str | None:
    """The object id of `name` in `base`/packed-refs; None when it is not listed there."""
    data = read_bounded(os.path.join(base, "packed-refs"), PACKED_REFS_LIMIT)
    if data is None:
        if os.path.exists(os.path.join(base, "packed-refs")):
            raise Undecided("packed-refs unreadable or too large")
        return None
    needle = b" " + name.encode("utf-8") + b"\n"
    if not data.endswith(b"\n"):
        data += b"\n"
    position = data.find(needle)
    while position != -1:
        line_start = data.rfind(b"\n", 0, position) + 1
        candidate = data[line_start:position].decode("ascii", "replace")
        if not candidate.startswith(("#", "^")):
            return _object_id(candidate)
        position = data.find(needle, position + 1)
    return None
