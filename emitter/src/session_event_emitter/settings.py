"""Resolves the emitter's settings once: explicit flag > environment > config file > default.

Config file: ``$SESSION_EVENTS_HOME/config.json``, a JSON object with the keys
``telemetry`` ("on"/"off"), ``url``, ``github_login``, ``discovery_refs`` (list),
``ingest_token``, ``do_not_track`` (bool), ``sender_deadline_seconds``.
A value that does not parse is ignored (and named in ``Settings.warnings``) rather than
raised: the hook path must never fail because of a typo.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from session_event_emitter.consent import Consent, resolve_consent
from session_event_emitter.fsutil import read_json_object

ENDPOINT_SUFFIX = "/v1/session-events"
BATCH_PATH = "/v1/session-events/batch"
DEFAULT_SENDER_DEADLINE = 10.0
MAX_SENDER_DEADLINE = 300.0
DEFAULT_RETRY_BASE_DELAY = 0.5
MAX_DISCOVERY_REFS = 200
CONFIG_LIMIT = 64 * 1024

_REF_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_LOGIN_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")


class Settings(NamedTuple):
    """Everything the hook, the sender and the commands need to know, resolved once."""

    home: Path
    user_home: Path
    consent: Consent
    base_url: str | None
    url_source: str
    github_login: str | None
    discovery_refs: tuple[str, ...]
    ingest_token: str | None
    sender_deadline: float
    retry_base_delay: float
    warnings: tuple[str, ...] = ()

    @property
    def config_path(self) -> Path:
        return self.home / "config.json"

    @property
    def legacy_dir(self) -> Path:
        """The original plugin's directory (machine id, stats, config, token cache)."""
        return self.user_home / ".ashlr"

    @property
    def batch_url(self) -> str | None:
        return None if self.base_url is None else self.base_url + BATCH_PATH

    @classmethod
    def load(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        url: str | None = None,
        telemetry: bool | None = None,
        sender_deadline: float | None = None,
    ) -> Settings:
        """Build settings from explicit arguments, then `env`, then the config files."""
        env = os.environ if env is None else env
        warnings: list[str] = []
        user_home = _user_home(env)
        home = state_home(env, user_home)
        config = read_json_object(home / "config.json", CONFIG_LIMIT)
        legacy_config = read_json_object(user_home / ".ashlr" / "config.json", CONFIG_LIMIT)
        consent = resolve_consent(
            env,
            config,
            legacy_config,
            flag=telemetry,
            config_name=str(home / "config.json"),
            legacy_config_name=str(user_home / ".ashlr" / "config.json"),
        )
        base_url, url_source = _resolve_url(env, config, url, warnings)
        return cls(
            home=home,
            user_home=user_home,
            consent=consent,
            base_url=base_url,
            url_source=url_source,
            github_login=_resolve_login(env, config, warnings),
            discovery_refs=_resolve_refs(config, warnings),
            ingest_token=_first_text(
                env.get("SESSION_EVENTS_INGEST_TOKEN"), config.get("ingest_token")
            ),
            sender_deadline=_resolve_deadline(env, config, sender_deadline, warnings),
            retry_base_delay=_positive_float(
                env.get("SESSION_EVENTS_RETRY_BASE_DELAY"), DEFAULT_RETRY_BASE_DELAY
            ),
            warnings=tuple(warnings),
        )


def _user_home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME")
    return Path(home) if home else Path.home()


def state_home(env: Mapping[str, str], user_home: Path) -> Path:
    """Where config, outbox and logs live (SESSION_EVENTS_HOME, else the XDG state dir)."""
    explicit = env.get("SESSION_EVENTS_HOME")
    if explicit:
        return Path(explicit).expanduser()
    xdg = env.get("XDG_STATE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "session-events"
    return user_home / ".local" / "state" / "session-events"


def normalise_base_url(value: str, *, strip_endpoint: bool = False) -> str | None:
    """Return an http(s) base URL without a trailing slash, or None if it is not one."""
    text = value.strip()
    if not text.lower().startswith(("http://", "https://")) or any(c.isspace() for c in text):
        return None
    text = text.rstrip("/")
    if strip_endpoint and text.endswith(ENDPOINT_SUFFIX):
        text = text[: -len(ENDPOINT_SUFFIX)]
    host = text.split("://", 1)[1]
    return text if host else None


def _resolve_url(
    env: Mapping[str, str],
    config: Mapping[str, object],
    flag: str | None,
    warnings: list[str],
) -> tuple[str | None, str]:
    candidates: list[tuple[str, object, bool]] = [
        ("--url", flag, False),
        ("SESSION_EVENTS_URL", env.get("SESSION_EVENTS_URL"), False),
        ("ASHLR_SESSION_EVENTS_URL", env.get("ASHLR_SESSION_EVENTS_URL"), True),
        ("ASHLR_API_URL", env.get("ASHLR_API_URL"), False),
        ("config file (url)", config.get("url"), False),
    ]
    for source, raw, strip in candidates:
        if raw is None or raw == "":
            continue
        base = normalise_base_url(raw, strip_endpoint=strip) if isinstance(raw, str) else None
        if base is None:
            warnings.append(f"{source} ignored: not an http(s) URL")
            continue
        return base, source
    return None, "not configured (nothing is sent)"


def _resolve_login(
    env: Mapping[str, str], config: Mapping[str, object], warnings: list[str]
) -> str | None:
    for source, raw in (
        ("SESSION_EVENTS_GITHUB_LOGIN", env.get("SESSION_EVENTS_GITHUB_LOGIN")),
        ("config file (github_login)", config.get("github_login")),
    ):
        if raw is None or raw == "":
            continue
        if isinstance(raw, str) and _LOGIN_RE.fullmatch(raw.strip()):
            return raw.strip()
        warnings.append(f"{source} ignored: not a GitHub login")
    return None


def _resolve_refs(config: Mapping[str, object], warnings: list[str]) -> tuple[str, ...]:
    raw = config.get("discovery_refs")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        warnings.append("config file (discovery_refs) ignored: not a list")
        return ()
    refs = [item for item in raw if isinstance(item, str) and _REF_RE.fullmatch(item)]
    if len(refs) != len(raw):
        warnings.append("config file (discovery_refs): malformed items dropped")
    if len(refs) > MAX_DISCOVERY_REFS:
        warnings.append(f"config file (discovery_refs): kept the first {MAX_DISCOVERY_REFS}")
    return tuple(refs[:MAX_DISCOVERY_REFS])


def _resolve_deadline(
    env: Mapping[str, str],
    config: Mapping[str, object],
    flag: float | None,
    warnings: list[str],
) -> float:
    for source, raw in (
        ("--deadline", flag),
        ("SESSION_EVENTS_SENDER_DEADLINE", env.get("SESSION_EVENTS_SENDER_DEADLINE")),
        ("config file (sender_deadline_seconds)", config.get("sender_deadline_seconds")),
    ):
        if raw is None or raw == "":
            continue
        value = _as_float(raw)
        if value is None or not 0 < value <= MAX_SENDER_DEADLINE:
            warnings.append(f"{source} ignored: not a number of seconds in (0, 300]")
            continue
        return value
    return DEFAULT_SENDER_DEADLINE


def _as_float(raw: object) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            return None
    else:
        return None
    return value if math.isfinite(value) else None


def _positive_float(raw: str | None, default: float) -> float:
    value = _as_float(raw) if raw else None
    return value if value is not None and value >= 0 else default


def _first_text(*values: object) -> str | None:
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
