"""The import-light helpers of the hook path agree with the standard modules they replace."""

from __future__ import annotations

import math
import os
import random
import re
import sys
from pathlib import Path

import pytest

from session_event_emitter.limits import is_finite
from session_event_emitter.outbox import _is_key_file
from session_event_emitter.settings import (
    DEFAULT_RETRY_BASE_DELAY,
    Settings,
    is_github_login,
    is_ref,
)

_REF_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
# Up to 100 characters, no control character, no JavaScript white space at either end.
_JS_SPACE = "\t\n\v\f\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_LOGIN_RE = re.compile(rf"(?![{_JS_SPACE}])[^\x00-\x1f\x7f-\x9f]{{1,100}}(?<![{_JS_SPACE}])")
_KEY_FILE_RE = re.compile(r"[0-9a-f]{64}\.json")


def _strings(seed: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = "aZ09-._:/ é\n\tABCdef"
    found = ["", "a", "-a", "a" * 39, "a" * 40, "a" * 128, "a" * 129, "0" * 64 + ".json"]
    found += ["f" * 64 + ".JSON", "F" * 64 + ".json", "0" * 63 + ".json", "0" * 64 + ".json\n"]
    for _ in range(3000):
        found.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 140))))
    return found


@pytest.mark.parametrize("seed", [1, 2])
def test_validators_match_the_patterns_they_replace(seed: int) -> None:
    for text in _strings(seed):
        assert is_ref(text) == bool(_REF_RE.fullmatch(text)), text
        assert is_github_login(text) == bool(_LOGIN_RE.fullmatch(text)), text
        assert _is_key_file(text) == bool(_KEY_FILE_RE.fullmatch(text)), text


@pytest.mark.parametrize(
    ("state", "expected"),
    [("/tmp//x/./y/", "/tmp/x/y"), ("rel/dir", None), ("~/state", None)],
)
def test_settings_paths_match_pathlib(state: str, expected: str | None, tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path) + "//", "SESSION_EVENTS_HOME": state}
    settings = Settings.load(env)
    resolved = Path(state).expanduser().absolute()
    assert settings.home == resolved
    assert settings.home_dir == str(resolved)
    assert expected is None or settings.home_dir == expected
    assert settings.user_home == tmp_path
    assert settings.legacy_dir_path == os.fspath(tmp_path / ".ashlr")
    assert settings.config_path == resolved / "config.json"


def _numbers(seed: int) -> list[float]:
    rng = random.Random(seed)
    special = [0.0, -0.0, 1.0, -1.0, sys.float_info.max, -sys.float_info.max]
    special += [sys.float_info.min, 5e-324, math.inf, -math.inf, math.nan, -math.nan]
    special += [math.inf - math.inf, sys.float_info.max * 2, 10**308 * 1.0]
    drawn = [rng.uniform(-1e308, 1e308) for _ in range(2000)]
    drawn += [math.ldexp(rng.random(), rng.randrange(-1100, 1024)) for _ in range(2000)]
    return special + drawn


@pytest.mark.parametrize("seed", [1, 2])
def test_is_finite_is_math_isfinite(seed: int) -> None:
    for number in _numbers(seed):
        assert is_finite(number) == math.isfinite(number), number
    for whole in (0, -(10**300), 2**1023):  # ints too: the counts read from files
        assert is_finite(whole) == math.isfinite(whole), whole


@pytest.mark.parametrize("raw", ["inf", "-inf", "nan", "Infinity", "1e400", "-1e999"])
def test_a_retry_delay_that_is_not_a_finite_number_is_the_default(raw: str) -> None:
    settings = Settings.load({"HOME": "/nonexistent", "SESSION_EVENTS_RETRY_BASE_DELAY": raw})
    assert settings.retry_base_delay == DEFAULT_RETRY_BASE_DELAY
