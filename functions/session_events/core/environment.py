"""Reading settings from environment variables, every malformed one reported at once.

A reader notes each problem (the variable's name and what it must be, never its value)
and goes on with the default, so that one `ConfigurationError` names them all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar, cast

from session_events.core.errors import ConfigurationError

_T = TypeVar("_T")
_U = TypeVar("_U")


class EnvironmentReader:
    """Typed reads of `env`; `check()` raises for whatever was malformed."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str, default: str = "") -> str:
        return self.env.get(name, "").strip() or default

    def optional(self, name: str) -> str | None:
        return self.text(name) or None

    def integer(
        self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None
    ) -> int:
        value = self._parsed(name, int, "an integer")
        if value is None:
            return default
        if maximum is not None and not minimum <= value <= maximum:
            return self._problem(f"{name} must be between {minimum} and {maximum}", default)
        if value < minimum:
            return self._problem(f"{name} must be >= {minimum}", default)
        return value

    def number(
        self, name: str, default: float, *, low: float, high: float, low_included: bool = True
    ) -> float:
        """A finite number in [low, high], or (low, high] with `low_included=False`."""
        value = self._parsed(name, float, "a number")
        if value is None:
            return default
        above_low = low <= value if low_included else low < value
        if not (above_low and value <= high):  # NaN fails here too
            if low_included:
                return self._problem(f"{name} must be between {low:g} and {high:g}", default)
            return self._problem(f"{name} must be > {low:g} and <= {high:g}", default)
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default).lower()
        if value not in choices:
            return self._problem(f"{name} must be one of {', '.join(choices)}", default)
        return value

    def problem(self, message: str) -> None:
        """A problem found by the caller's own check (the message names the variable)."""
        self.problems.append(message)

    def check(self) -> None:
        if self.problems:
            raise ConfigurationError("; ".join(self.problems))

    def _parsed(self, name: str, convert: Callable[[str], _T], what: str) -> _T | None:
        """The variable converted; None where it is unset, or malformed (a problem noted)."""
        raw = self.text(name)
        if not raw:
            return None
        try:
            return convert(raw)
        except ValueError:
            self.problems.append(f"{name} must be {what}")
            return None

    def _problem(self, message: str, default: _T) -> _T:
        self.problems.append(message)
        return default


def read_together(first: Callable[[], _T], second: Callable[[], _U]) -> tuple[_T, _U]:
    """Two settings read from one environment (the ingest's and the read side's), or one
    ConfigurationError naming the malformed variables of both."""
    problems: list[str] = []
    values: list[object] = []
    for read in (first, second):
        try:
            values.append(read())
        except ConfigurationError as error:
            problems.append(error.detail)
    if problems:
        raise ConfigurationError("; ".join(problems))
    return cast(_T, values[0]), cast(_U, values[1])
