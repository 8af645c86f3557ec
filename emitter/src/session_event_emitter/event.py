"""Builds one session event from the hook input, the settings and local facts.

Its fields are those emitter/README.md lists under "What is sent, and what never is".
"""

from __future__ import annotations

import os

from session_event_emitter import facts, identity, jsoncodec, pluginversion, refs
from session_event_emitter.clock import Moment
from session_event_emitter.jstext import js_trim
from session_event_emitter.limits import MAX_TOKENS_SAVED, MAX_TOOL_COUNT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from session_event_emitter.settings import Settings

MAX_RAW_SESSION_ID = 4096
# What `--dry-run` shows as the identity before the install id exists: a dry run writes
# nothing, so the id (and the hash it gives) is made by the first consented run.
IDENTITY_NOT_MADE_YET = "(not made yet: made at the first consented run)"

Event = dict[str, object]


class HookInput:
    """The fields of the SessionEnd hook input this emitter uses (others are ignored)."""

    __slots__ = ("cwd", "session_id", "transcript_path")

    def __init__(
        self,
        session_id: str | None = None,
        cwd: str | None = None,
        transcript_path: str | None = None,
    ) -> None:
        self.session_id = session_id
        self.cwd = cwd
        self.transcript_path = transcript_path

    def _fields(self) -> tuple[str | None, str | None, str | None]:
        return (self.session_id, self.cwd, self.transcript_path)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HookInput):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (
            f"HookInput(session_id={self.session_id!r}, cwd={self.cwd!r}, "
            f"transcript_path={self.transcript_path!r})"
        )

    @classmethod
    def parse(cls, data: bytes) -> HookInput:
        """Read the hook JSON leniently: anything malformed simply yields empty fields."""
        try:
            value = jsoncodec.loads(data) if data.strip() else None
        except (ValueError, UnicodeDecodeError, RecursionError):
            value = None
        if not isinstance(value, dict):
            return cls()
        return cls(
            session_id=session_id_text(value.get("session_id")),
            cwd=_text(value.get("cwd"), 4096),
            transcript_path=_text(value.get("transcript_path"), 4096),
        )


def _text(value: object, limit: int) -> str | None:
    if isinstance(value, str) and value.strip() and len(value) <= limit and "\x00" not in value:
        return value
    return None


def session_id_text(value: object) -> str | None:
    """A raw session id trimmed as the original trims it (`js_trim`); None when blank."""
    if not isinstance(value, str):
        return None
    trimmed = js_trim(value)
    if not trimmed or len(trimmed) > MAX_RAW_SESSION_ID or "\x00" in trimmed:
        return None
    return trimmed


def idempotency_key(event: Mapping[str, object]) -> str:
    """sha256(identity_hash + ":" + session_id_hash): the server's idempotency pair, hashed."""
    return identity.sha256_hex(f"{event['identity_hash']}:{event['session_id_hash']}")


def known_session_id(hook: HookInput, env: Mapping[str, str]) -> str | None:
    """Hook input's session_id, else CLAUDE_SESSION_ID, both trimmed; None without either."""
    if hook.session_id is not None:
        return hook.session_id
    return session_id_text(env.get("CLAUDE_SESSION_ID"))


def raw_session_id(hook: HookInput, env: Mapping[str, str]) -> str:
    """`known_session_id`, else an unguessable random id."""
    known = known_session_id(hook, env)
    return known if known is not None else identity.random_session_id()


def build_event(
    settings: Settings,
    hook: HookInput,
    env: Mapping[str, str],
    *,
    tool_count: int | None = None,
    tokens_saved: int | None = None,
    plugin_version: str | None = None,
    now: datetime | None = None,
    create_install_id: bool = True,
) -> Event:
    """Derive every field as emitter/README.md describes it; optional fields are left out
    when unknown.

    With `create_install_id` unset (``--dry-run``) nothing is written: before the install
    id exists, ``identity_hash`` is `IDENTITY_NOT_MADE_YET` rather than a random stand-in.

    The event has the nine keys the original server knows and no ``schema_version`` (its
    absence means 1): ``discovery_refs`` is always a list, ``github_hash`` is null without
    a login (as the original sends it), and ``branch_sha`` is left out when there is none.
    Counts: an explicit argument, else the original plugin's stats buckets for this session
    (so both emitters report the same numbers), else the transcript's tool-use blocks; 0
    when nothing knows. `plugin_version` is the ``--plugin-version`` flag: the first of the
    sources pluginversion.py reads.
    """
    moment = Moment.now() if now is None else Moment.of(now)
    salt = identity.quarter_salt(moment.utc.tm_year, moment.utc.tm_mon)
    legacy_dir = settings.legacy_dir_path
    if create_install_id:
        install: str | None = identity.install_id(settings.home_dir, legacy_dir, create=True)
    else:
        install = identity.kept_install_id(settings.home_dir, legacy_dir)
    session_id = raw_session_id(hook, env)

    session_hash = identity.session_id_hash(session_id)

    stats_calls, stats_tokens = facts.stats_counts(
        legacy_dir,
        session_id,
        now=moment.timestamp,
        database=facts.stats_database(env, legacy_dir),
    )
    if tool_count is None:
        tool_count = stats_calls
    if tool_count is None:
        tool_count = facts.transcript_tool_count(hook.transcript_path)
    if tokens_saved is None:
        tokens_saved = stats_tokens

    event: Event = {
        "identity_hash": (
            identity.identity_hash(install, salt) if install is not None else IDENTITY_NOT_MADE_YET
        ),
        "session_id_hash": session_hash,
        "ended_at": moment.text(),
        "tool_count": min(max(tool_count or 0, 0), MAX_TOOL_COUNT),
        "tokens_saved": min(max(tokens_saved or 0, 0), MAX_TOKENS_SAVED),
        "plugin_version": pluginversion.resolve(plugin_version, env).value,
    }
    login = settings.github_login or identity.legacy_github_login(legacy_dir)
    event["github_hash"] = None if login is None else identity.github_hash(login, salt)
    sha = facts.git_head_sha(hook.cwd if hook.cwd is not None else _cwd())
    if sha is not None:
        event["branch_sha"] = sha
    event["discovery_refs"] = refs.merge(
        settings.discovery_refs, refs.session_refs(settings.home_dir, session_hash)
    )
    return event


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:
        return None
