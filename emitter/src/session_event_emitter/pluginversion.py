"""The ``plugin_version`` an event carries: the version of the plugin whose hook runs the emitter.

Sources, the first usable one wins: ``--plugin-version``, ``SESSION_EVENTS_PLUGIN_VERSION``,
the ``version`` of ``$CLAUDE_PLUGIN_ROOT/.claude-plugin/plugin.json``, the ``version`` of
``$CLAUDE_PLUGIN_ROOT/package.json`` (the original plugin sends its package version), and
last the emitter's own version. A value that is not 1-64 characters of
``[0-9A-Za-z.+_-]`` falls through to the next source and is named in ``skipped``.

Reading it costs the hook one small file read at most: the files are read bounded and
without blocking (fsutil.read_bounded), as JSON.parse would read them (jsjson).
"""

from __future__ import annotations

import os

from session_event_emitter import __version__, jsjson
from session_event_emitter.fsutil import read_bounded

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

MAX_LENGTH = 64
MANIFEST_LIMIT = 64 * 1024
ENV_NAME = "SESSION_EVENTS_PLUGIN_VERSION"
OWN_SOURCE = "the emitter's own version (no plugin version found)"
MALFORMED = f"not 1-{MAX_LENGTH} characters of [0-9A-Za-z.+_-]"
UNREADABLE = "not a JSON object this emitter can read"
_UNREADABLE = object()

_CHARACTERS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.+_-")


def is_version(value: object) -> bool:
    """A ``plugin_version`` the server takes (infra/session-event.schema.json)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_LENGTH
        and all(c in _CHARACTERS for c in value)
    )


class PluginVersion:
    """The version, the source it came from, and the sources passed over on the way."""

    __slots__ = ("skipped", "source", "value")

    def __init__(self, value: str, source: str, skipped: tuple[str, ...] = ()) -> None:
        self.value = value
        self.source = source
        self.skipped = skipped

    def __repr__(self) -> str:
        return f"PluginVersion({self.value!r}, source={self.source!r}, skipped={self.skipped!r})"


def resolve(flag: str | None, env: Mapping[str, str]) -> PluginVersion:
    """The first usable source's version (see the module docstring)."""
    skipped: list[str] = []
    for source, value in _candidates(flag, env):
        if is_version(value):
            return PluginVersion(str(value), source, tuple(skipped))
        why = UNREADABLE if value is _UNREADABLE else MALFORMED
        skipped.append(f"{source} ignored: {why}")
    return PluginVersion(__version__, OWN_SOURCE, tuple(skipped))


def _candidates(flag: str | None, env: Mapping[str, str]) -> Iterator[tuple[str, object]]:
    """(source, value) of every source that is there, in order; files read only if needed."""
    if flag is not None:
        yield "--plugin-version", flag
    if env.get(ENV_NAME):
        yield ENV_NAME, env[ENV_NAME]
    root = env.get("CLAUDE_PLUGIN_ROOT")
    if not root:
        return
    for path in (
        os.path.join(root, ".claude-plugin", "plugin.json"),
        os.path.join(root, "package.json"),
    ):
        data = read_bounded(path, MANIFEST_LIMIT)
        if data is None:
            if os.path.lexists(path):  # there, but too big, not a file or not readable
                yield path, _UNREADABLE
            continue
        try:
            document = jsjson.loads(data)
        except (ValueError, RecursionError):
            document = _UNREADABLE
        if not isinstance(document, dict):
            yield path, _UNREADABLE
        elif "version" in document:
            yield path, document["version"]
