"""Decides whether telemetry is on, and names the setting that decided it.

Order, stated once: ``DO_NOT_TRACK`` (1/true) turns everything off whatever else says;
then an explicit flag; then the environment (``SESSION_EVENTS_TELEMETRY``, then the
``ASHLR_TELEMETRY`` alias); then this emitter's config file (``"telemetry"``, or
``"do_not_track": true``); then the original plugin's ``~/.ashlr/config.json``
(``"telemetry": "off"`` / ``"opt-in"``); and by default consent is **off**.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

ON_WORDS = frozenset({"1", "true", "yes", "on", "opt-in", "optin", "enable", "enabled"})
OFF_WORDS = frozenset({"0", "false", "no", "off", "opt-out", "optout", "disable", "disabled"})
DO_NOT_TRACK_WORDS = frozenset({"1", "true", "yes", "on"})

TELEMETRY_VARIABLES = ("SESSION_EVENTS_TELEMETRY", "ASHLR_TELEMETRY")


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


def do_not_track(env: Mapping[str, str]) -> bool:
    """True when the DO_NOT_TRACK convention asks for no telemetry at all."""
    return env.get("DO_NOT_TRACK", "").strip().lower() in DO_NOT_TRACK_WORDS


def resolve_consent(
    env: Mapping[str, str],
    config: Mapping[str, object],
    legacy_config: Mapping[str, object],
    *,
    flag: bool | None = None,
    config_name: str = "config file",
    legacy_config_name: str = "~/.ashlr/config.json",
) -> Consent:
    """Apply the precedence in this module's docstring and return the answer."""
    if do_not_track(env):
        return Consent(False, "DO_NOT_TRACK")
    if flag is not None:
        return Consent(flag, "command-line flag")
    for name in TELEMETRY_VARIABLES:
        switch = parse_switch(env.get(name))
        if switch is not None:
            return Consent(switch, name)
    if parse_switch(config.get("do_not_track")) is True:
        return Consent(False, f"{config_name} (do_not_track)")
    switch = parse_switch(config.get("telemetry"))
    if switch is not None:
        return Consent(switch, config_name)
    switch = parse_switch(legacy_config.get("telemetry"))
    if switch is not None:
        return Consent(switch, legacy_config_name)
    return Consent(False, "default (opt-in: off until enabled)")
