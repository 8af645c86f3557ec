"""Resolves the emitter's settings once: explicit flag > environment > config file > default.

Consent is the exception: there any "off" wins, wherever it is said (see consent.py).

Config file: ``$SESSION_EVENTS_HOME/config.json``, a JSON object with the keys
``telemetry`` ("on"/"off"), ``url``, ``github_login``, ``discovery_refs`` (list),
``ingest_token``, ``do_not_track`` (bool), ``sender_deadline_seconds``.
A value that does not parse is ignored (and named in ``Settings.warnings``) rather than
raised: the hook path must never fail because of a typo.
"""

from __future__ import annotations

import os

from session_event_emitter.consent import Consent, config_says_off, resolve_consent
from session_event_emitter.fsutil import read_json_config
from session_event_emitter.jstext import has_control_character, js_trim
from session_event_emitter.limits import is_finite

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from session_event_emitter.endpoint import Endpoint

DEFAULT_SENDER_DEADLINE = 10.0
MAX_SENDER_DEADLINE = 300.0
DEFAULT_RETRY_BASE_DELAY = 0.5
MAX_DISCOVERY_REFS = 200
CONFIG_LIMIT = 64 * 1024

_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_REF_CHARS = _ALNUM | frozenset("._:-")
MAX_LOGIN_LENGTH = 100


def is_ref(text: str) -> bool:
    """A discovery ref: an ASCII letter or digit, then up to 127 of ``A-Za-z0-9._:-``."""
    return 0 < len(text) <= 128 and text[0] in _ALNUM and all(c in _REF_CHARS for c in text)


def is_github_login(text: str) -> bool:
    """A GitHub login as the original plugin takes one, already trimmed (see `js_trim`).

    Any non-empty text of at most 100 characters without control characters and without
    white space at either end: enterprise logins carry ``_`` and may be longer than a
    github.com login, and the original hashes whatever its cache holds.
    """
    return (
        0 < len(text) <= MAX_LOGIN_LENGTH
        and not has_control_character(text)
        and js_trim(text) == text
    )


class Settings:
    """Everything the hook, the sender and the commands need to know, resolved once.

    The directories are kept as strings (``home_dir``, ``user_home_dir``) so that the hook
    path never imports pathlib; ``home``, ``user_home``, ``config_path`` and ``legacy_dir``
    give them as Paths for the commands and the sender.
    """

    __slots__ = (
        "consent",
        "discovery_refs",
        "github_login",
        "home_dir",
        "ingest_token",
        "off_written_in_a_config",
        "retry_base_delay",
        "sender_deadline",
        "url",
        "url_exact_single",
        "url_source",
        "user_home_dir",
        "warnings",
    )

    def __init__(
        self,
        home: str | os.PathLike[str],
        user_home: str | os.PathLike[str],
        consent: Consent,
        url: str | None,
        url_source: str,
        github_login: str | None,
        discovery_refs: tuple[str, ...],
        ingest_token: str | None,
        sender_deadline: float,
        retry_base_delay: float,
        warnings: tuple[str, ...] = (),
        url_exact_single: bool = False,
        off_written_in_a_config: bool = False,
    ) -> None:
        self.home_dir: str = os.fspath(home)
        self.user_home_dir: str = os.fspath(user_home)
        self.consent = consent
        self.url = url
        self.url_source = url_source
        self.url_exact_single = url_exact_single
        self.github_login = github_login
        self.discovery_refs = discovery_refs
        self.ingest_token = ingest_token
        self.sender_deadline = sender_deadline
        self.retry_base_delay = retry_base_delay
        self.warnings = warnings
        # A config file says "off" in so many words (this emitter's or the original's; one
        # that cannot be read does not count), whatever the environment says: consent is
        # withdrawn, and what was pending before it may never be sent.
        self.off_written_in_a_config = off_written_in_a_config

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"Settings({inner})"

    @property
    def home(self) -> Path:
        from pathlib import Path

        return Path(self.home_dir)

    @property
    def user_home(self) -> Path:
        from pathlib import Path

        return Path(self.user_home_dir)

    @property
    def config_path(self) -> Path:
        return self.home / "config.json"

    @property
    def legacy_dir(self) -> Path:
        """The original plugin's directory (machine id, stats, config, token cache)."""
        return self.user_home / ".ashlr"

    @property
    def legacy_dir_path(self) -> str:
        """``legacy_dir`` as a string (no pathlib)."""
        return os.path.join(self.user_home_dir, ".ashlr")

    @property
    def endpoint(self) -> Endpoint | None:
        """Where events go; None when no URL is configured or the configured one is unusable."""
        return self._endpoint_or_problem()[0]

    @property
    def url_problem(self) -> str | None:
        """Why the configured URL cannot be used, naming it and its source; None if it can."""
        return self._endpoint_or_problem()[1]

    def _endpoint_or_problem(self) -> tuple[Endpoint | None, str | None]:
        from session_event_emitter.endpoint import UnusableUrl, parse_endpoint, redact

        if self.url is None:
            return None, None
        try:
            return parse_endpoint(self.url, exact_single=self.url_exact_single), None
        except UnusableUrl as why:
            shown = redact(self.url)
            return None, f"the URL {shown!r} from {self.url_source} cannot be used: {why}"

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
        home = _state_home(env, user_home)
        config_name = os.path.join(home, "config.json")
        legacy_config_name = os.path.join(user_home, ".ashlr", "config.json")
        # A config file that is there but cannot be read may have said "off": it does. The
        # original's is read as it reads it, so that it never gives consent the original
        # would not find there.
        own_config = read_json_config(config_name, CONFIG_LIMIT)
        legacy_config = read_json_config(legacy_config_name, CONFIG_LIMIT, _as_json_parse_reads)
        consent = resolve_consent(
            env,
            own_config,
            legacy_config,
            flag=telemetry,
            config_name=config_name,
            legacy_config_name=legacy_config_name,
        )
        config = own_config or {}
        chosen_url, url_source, exact_single = _resolve_url(env, config, url)
        return cls(
            home=home,
            user_home=user_home,
            consent=consent,
            url=chosen_url,
            url_source=url_source,
            url_exact_single=exact_single,
            # Any "off" wins, so consent on means no config says off: asked only when off.
            off_written_in_a_config=not consent.enabled
            and config_says_off(own_config, legacy_config),
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


def _as_json_parse_reads(data: bytes) -> object:
    """The original's config as its JSON.parse reads it (loaded only when the file is there)."""
    from session_event_emitter import jsjson

    return jsjson.loads(data)


def _user_home(env: Mapping[str, str]) -> str:
    """$HOME as Path() would spell it, else the home directory Path.home() would find."""
    home = env.get("HOME")
    if home:
        return _as_path_text(home)
    from pathlib import Path  # no HOME at all: rare enough to pay for pathlib

    return str(Path.home())


def _as_path_text(text: str) -> str:
    """`text` normalised the way ``str(Path(text))`` does, without importing pathlib."""
    if not text:
        return "."
    parts = [part for part in text.split("/") if part and part != "."]
    if text.startswith("//") and not text.startswith("///"):
        root = "//"
    elif text.startswith("/"):
        root = "/"
    else:
        root = ""
    return root + "/".join(parts) if (root or parts) else "."


def _state_home(env: Mapping[str, str], user_home: str) -> str:
    explicit = env.get("SESSION_EVENTS_HOME")
    if explicit:
        expanded = os.path.expanduser(explicit)
        if expanded.startswith("~"):  # as Path.expanduser: an unknown user is an error
            raise RuntimeError("Could not determine home directory.")
        # Resolved here, against the hook's working directory: the detached sender runs in
        # / and must find the same directory.
        return _as_path_text(os.path.abspath(expanded))
    xdg = env.get("XDG_STATE_HOME")
    if xdg and os.path.isabs(xdg):
        return os.path.join(_as_path_text(xdg), "session-events")
    return os.path.join(user_home, ".local", "state", "session-events")


def state_home(env: Mapping[str, str], user_home: str | os.PathLike[str]) -> Path:
    """Where config, outbox and logs live (SESSION_EVENTS_HOME, else the XDG state dir)."""
    from pathlib import Path

    return Path(_state_home(env, _as_path_text(os.fspath(user_home))))


def _resolve_url(
    env: Mapping[str, str], config: Mapping[str, object], flag: str | None
) -> tuple[str | None, str, bool]:
    """The URL of the highest-precedence setting that gives one, its source, and whether it
    is the original plugin's exact single endpoint.

    A lower setting is never used in place of an unusable higher one: the unusable URL is
    kept, so that ``status``, ``flush`` and ``enable`` can name it.
    """
    candidates: list[tuple[str, object, bool]] = [
        ("--url", flag, False),
        ("SESSION_EVENTS_URL", env.get("SESSION_EVENTS_URL"), False),
        ("ASHLR_SESSION_EVENTS_URL", env.get("ASHLR_SESSION_EVENTS_URL"), True),
        ("ASHLR_API_URL", env.get("ASHLR_API_URL"), False),
        ("the config file (url)", config.get("url"), False),
    ]
    for source, raw, exact_single in candidates:
        if raw is None or raw == "":
            continue
        text = raw if isinstance(raw, str) else repr(raw)
        return text, source, exact_single
    return None, "not configured (nothing is sent)", False


def _resolve_login(
    env: Mapping[str, str], config: Mapping[str, object], warnings: list[str]
) -> str | None:
    for source, raw in (
        ("SESSION_EVENTS_GITHUB_LOGIN", env.get("SESSION_EVENTS_GITHUB_LOGIN")),
        ("config file (github_login)", config.get("github_login")),
    ):
        if raw is None or raw == "":
            continue
        login = js_trim(raw) if isinstance(raw, str) else ""
        if is_github_login(login):
            return login
        warnings.append(f"{source} ignored: not a GitHub login")
    return None


def _resolve_refs(config: Mapping[str, object], warnings: list[str]) -> tuple[str, ...]:
    raw = config.get("discovery_refs")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        warnings.append("config file (discovery_refs) ignored: not a list")
        return ()
    refs = [item for item in raw if isinstance(item, str) and is_ref(item)]
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
    return value if is_finite(value) else None


def _positive_float(raw: str | None, default: float) -> float:
    value = _as_float(raw) if raw else None
    return value if value is not None and value >= 0 else default


def _first_text(*values: object) -> str | None:
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
