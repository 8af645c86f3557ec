"""Decides whether telemetry is on, and names the setting that decided it.

The rule, stated once: **any "off" wins**; otherwise any "on" turns telemetry on; otherwise
it is off (opt-in). The settings, in the order in which they are named when several agree:

=========================  ==================================  ============================
setting                    off                                 on
=========================  ==================================  ============================
``DO_NOT_TRACK``           ``1``, ``true`` (``yes``, ``on``)   never
explicit ``telemetry=``    ``False``                           ``True``
``SESSION_EVENTS_TELEMETRY``  ``off``, ``0``, ``false``, ...   ``on``, ``1``, ``true``, ...
``ASHLR_TELEMETRY``        ``off``, ``0`` (also ``false``,     ``on``, ``1`` only
                           ``no``, ...)
this emitter's config      ``"telemetry": "off"``,             ``"telemetry": "on"``
                           ``"do_not_track": true``            (written by ``enable``)
``~/.ashlr/config.json``   ``"telemetry": "off"`` (also        ``"telemetry": "opt-in"``
                           ``false``, ``"no"``, ...)           only
=========================  ==================================  ============================

The original plugin's own reading is kept where it says on: ``ASHLR_TELEMETRY`` is
lower-cased and trimmed as JavaScript does and only ``on``/``1`` is consent (``true`` and
``yes`` are not); in its config only the exact string ``"opt-in"`` is consent (``"on"``
and ``true`` are not). Where it says off the reading is wider than the original's, never
narrower: an unmistakable off word (``false``, ``no``, ``disable``, ...) counts as off
too, so no wording a person means as "off" can let an event out.

Our own words do not outvote an off from the original plugin, and the original's words
do not outvote ours: ``SESSION_EVENTS_TELEMETRY=on`` or ``enable`` with
``~/.ashlr/config.json`` saying ``"off"`` sends nothing, as ``ASHLR_TELEMETRY=on`` with our
config saying off sends nothing. ``enable`` and ``disable`` write this emitter's config
file; ``enable`` says so when another setting still turns telemetry off. An explicit
``telemetry=`` argument (the API's "flag") is one more voice under the same rule: off is
off, on is on unless something says off.

A config file (either) that is there but cannot be read as a JSON object (unreadable,
over its size limit, malformed) is off: it may have said so. ``status`` names it.
"""

from __future__ import annotations

from session_event_emitter.jstext import js_trim

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

ON_WORDS = frozenset({"1", "true", "yes", "on", "opt-in", "optin", "enable", "enabled"})
OFF_WORDS = frozenset({"0", "false", "no", "off", "opt-out", "optout", "disable", "disabled"})
DO_NOT_TRACK_WORDS = frozenset({"1", "true", "yes", "on"})
# What the original plugin itself takes as consent (its isTelemetryEnabled()).
ORIGINAL_ENV_ON_WORDS = frozenset({"on", "1"})
ORIGINAL_CONFIG_ON = "opt-in"

TELEMETRY_VARIABLES = ("SESSION_EVENTS_TELEMETRY", "ASHLR_TELEMETRY")
DEFAULT_SOURCE = "default (opt-in: off until enabled)"


class Consent:
    """Whether events may be built, stored and sent, and which setting said so."""

    __slots__ = ("enabled", "source")

    def __init__(self, enabled: bool, source: str) -> None:
        self.enabled = enabled
        self.source = source

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Consent):
            return NotImplemented
        return (self.enabled, self.source) == (other.enabled, other.source)

    def __hash__(self) -> int:
        return hash((self.enabled, self.source))

    def __repr__(self) -> str:
        return f"Consent(enabled={self.enabled!r}, source={self.source!r})"


def parse_switch(value: object) -> bool | None:
    """Read an on/off word (or a JSON boolean); None when the value says neither."""
    if isinstance(value, bool):
        return value
    if not isinstance(value, str):
        return None
    word = value.strip().lower()
    if word in ON_WORDS:
        return True
    if word in OFF_WORDS:
        return False
    return None


def original_env_switch(value: str | None) -> bool | None:
    """``ASHLR_TELEMETRY`` read as the original reads it, with off words read widely."""
    if value is None:
        return None
    word = js_trim(value.lower())
    if word in ORIGINAL_ENV_ON_WORDS:
        return True
    if word in OFF_WORDS:
        return False
    return None


def original_config_switch(value: object) -> bool | None:
    """``~/.ashlr/config.json``'s ``telemetry``: exactly ``"opt-in"`` is on; off words are off."""
    if value == ORIGINAL_CONFIG_ON:
        return True
    return False if parse_switch(value) is False else None


def do_not_track(env: Mapping[str, str]) -> bool:
    """True when the DO_NOT_TRACK convention asks for no telemetry at all."""
    return env.get("DO_NOT_TRACK", "").strip().lower() in DO_NOT_TRACK_WORDS


def config_says_off(
    config: Mapping[str, object] | None, legacy_config: Mapping[str, object] | None
) -> bool:
    """Whether this emitter's config or the original's says "off" in so many words (one
    that could not be read, None, does not: it may not have said it)."""
    own = config or {}
    return (
        parse_switch(own.get("do_not_track")) is True
        or parse_switch(own.get("telemetry")) is False
        or (
            legacy_config is not None
            and original_config_switch(legacy_config.get("telemetry")) is False
        )
    )


def resolve_consent(
    env: Mapping[str, str],
    config: Mapping[str, object] | None,
    legacy_config: Mapping[str, object] | None,
    *,
    flag: bool | None = None,
    config_name: str = "config file",
    legacy_config_name: str = "~/.ashlr/config.json",
) -> Consent:
    """Apply the rule in this module's docstring and return the answer.

    A config given as None is one that is there but could not be read: it says off.
    """
    unreadable = " (there, but not readable as a JSON object)"
    voices: list[tuple[bool | None, str]] = [
        (False if do_not_track(env) else None, "DO_NOT_TRACK"),
        (flag, "command-line flag"),
        (parse_switch(env.get("SESSION_EVENTS_TELEMETRY")), "SESSION_EVENTS_TELEMETRY"),
        (original_env_switch(env.get("ASHLR_TELEMETRY")), "ASHLR_TELEMETRY"),
        (
            False if config and parse_switch(config.get("do_not_track")) is True else None,
            f"{config_name} (do_not_track)",
        ),
        (False, config_name + unreadable)
        if config is None
        else (parse_switch(config.get("telemetry")), config_name),
        (False, legacy_config_name + unreadable)
        if legacy_config is None
        else (original_config_switch(legacy_config.get("telemetry")), legacy_config_name),
    ]
    for switch, source in voices:
        if switch is False:
            return Consent(False, source)
    for switch, source in voices:
        if switch is True:
            return Consent(True, source)
    return Consent(False, DEFAULT_SOURCE)
