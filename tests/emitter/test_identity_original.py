"""One identity for one machine: ids and logins trimmed and hashed as the original plugin does.

Expected values are computed here the way the original computes them: JavaScript's
``trim()`` (written out below from the ECMAScript WhiteSpace and LineTerminator sets, not
from the emitter's code), then sha256 of the trimmed text plus the quarter's salt.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from session_event_emitter import identity
from session_event_emitter.event import HookInput, build_event
from session_event_emitter.settings import Settings

NOW = datetime(2026, 5, 1, tzinfo=UTC)
SALT = "salt_2026Q2"

# ECMAScript WhiteSpace (TAB, VT, FF, ZWNBSP, Zs) and LineTerminator (LF, CR, LS, PS).
JS_TRIMMED_CODE_POINTS = frozenset(
    [
        *(0x0009, 0x000B, 0x000C, 0xFEFF),
        *(0x0020, 0x00A0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000),
        *(0x000A, 0x000D, 0x2028, 0x2029),
    ]
)
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def original_trim(text: str) -> str:
    start, end = 0, len(text)
    while start < end and ord(text[start]) in JS_TRIMMED_CODE_POINTS:
        start += 1
    while end > start and ord(text[end - 1]) in JS_TRIMMED_CODE_POINTS:
        end -= 1
    return text[start:end]


def original_hash(raw: str, salt: str = "") -> str:
    return hashlib.sha256((original_trim(raw) + salt).encode("utf-8")).hexdigest()


def make_event(hook: HookInput | None = None, **kwargs: Any) -> dict[str, object]:
    return build_event(Settings.load(), hook or HookInput(), dict(os.environ), now=NOW, **kwargs)


def test_the_trim_set_is_not_pythons() -> None:
    python = {c for c in range(0x110000) if chr(c).isspace()}
    assert python - JS_TRIMMED_CODE_POINTS == {0x1C, 0x1D, 0x1E, 0x1F, 0x85}
    assert JS_TRIMMED_CODE_POINTS - python == {0xFEFF}


# Padded values whose JavaScript trim differs from Python's str.strip(), and some that agree.
PADDED = [
    "\ufeffmachine-abc",
    "machine-abc\ufeff",
    "machine-abc\n",
    "\u3000machine-abc\u2029",
    "\xa0\t machine abc \r\n",
    "\u2028\u200a\u1680machine-abc\u202f\u205f\x0b\x0c",
    "\x1cmachine-abc\x1f",
    "\x85machine-abc\x85",
    "machine-abc\u180e",
    "\u200bmachine-abc\u200b",
]


@pytest.mark.parametrize("raw", PADDED, ids=ascii)
def test_machine_id_is_trimmed_as_the_original_trims_it(home: Any, raw: str) -> None:
    home.legacy.mkdir()
    (home.legacy / "machine-id").write_bytes(raw.encode("utf-8"))
    assert make_event()["identity_hash"] == original_hash(raw, SALT)


def test_machine_id_with_a_utf8_byte_order_mark_file(home: Any) -> None:
    home.legacy.mkdir()
    (home.legacy / "machine-id").write_bytes(b"\xef\xbb\xbf0f1e2d3c-aaaa-4bbb-8ccc-123456789abc\n")
    expected = hashlib.sha256(b"0f1e2d3c-aaaa-4bbb-8ccc-123456789abcsalt_2026Q2").hexdigest()
    assert make_event()["identity_hash"] == expected


def test_machine_id_with_bytes_that_are_not_utf8_is_read_as_node_reads_it(home: Any) -> None:
    home.legacy.mkdir()
    (home.legacy / "machine-id").write_bytes(b"id-\xff\xc3-x")
    expected = hashlib.sha256("id-\ufffd\ufffd-xsalt_2026Q2".encode()).hexdigest()
    assert make_event()["identity_hash"] == expected


def test_python_strip_would_have_given_another_hash() -> None:
    raw = "\x1cmachine-abc\ufeff"
    assert original_hash(raw, SALT) != hashlib.sha256((raw.strip() + SALT).encode()).hexdigest()


def test_install_id_is_written_for_the_original_when_its_directory_exists(home: Any) -> None:
    home.legacy.mkdir()
    event = make_event()
    written = (home.legacy / "machine-id").read_bytes()
    assert UUID4.fullmatch(written.decode("ascii"))
    assert (home.legacy / "machine-id").stat().st_mode & 0o777 == 0o600
    assert written.decode() == (home.state / "install-id").read_text().strip()
    assert event["identity_hash"] == original_hash(written.decode(), SALT)


def test_machine_id_written_has_no_newline(home: Any) -> None:
    home.legacy.mkdir()
    make_event()
    assert not (home.legacy / "machine-id").read_bytes().endswith((b"\n", b"\r"))


def test_identity_stays_the_same_after_the_machine_id_is_written(home: Any) -> None:
    first = make_event()["identity_hash"]
    home.legacy.mkdir()  # the original plugin is installed later
    second = make_event()["identity_hash"]
    third = make_event()["identity_hash"]
    assert first == second == third


def test_original_directory_is_not_created(home: Any) -> None:
    make_event()
    assert not home.legacy.exists()


def test_dry_run_writes_no_machine_id(home: Any) -> None:
    home.legacy.mkdir()
    make_event(create_install_id=False)
    assert list(home.legacy.iterdir()) == []


def test_blank_machine_id_is_left_alone(home: Any) -> None:
    home.legacy.mkdir()
    (home.legacy / "machine-id").write_text(" \n")
    event = make_event()
    assert (home.legacy / "machine-id").read_text() == " \n"
    install = (home.state / "install-id").read_text().strip()
    assert event["identity_hash"] == original_hash(install, SALT)


def test_machine_id_that_appears_meanwhile_is_not_overwritten(
    home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.legacy.mkdir()
    real_own = identity._own_install_id

    def own_then_the_original_writes(home_dir: Any, *, create: bool) -> str:
        own = real_own(home_dir, create=create)
        (home.legacy / "machine-id").write_text("written-by-the-original")
        return own

    monkeypatch.setattr(identity, "_own_install_id", own_then_the_original_writes)
    monkeypatch.setattr(identity.os.path, "lexists", lambda path: False)
    got = identity.install_id(str(home.state), str(home.legacy), create=True)
    assert (home.legacy / "machine-id").read_text() == "written-by-the-original"
    assert got == "written-by-the-original"


def test_no_temporary_file_is_left_in_the_original_directory(home: Any) -> None:
    home.legacy.mkdir()
    make_event()
    assert [p.name for p in home.legacy.iterdir()] == ["machine-id"]


_RACE = """
import sys
from session_event_emitter.identity import install_id
print(install_id(sys.argv[1], sys.argv[2], create=True))
"""


def test_concurrent_first_runs_agree_on_one_identity(home: Any) -> None:
    home.legacy.mkdir()
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACE, str(home.state), str(home.legacy)],
            stdout=subprocess.PIPE,
        )
        for _ in range(8)
    ]
    ids = {run.communicate(timeout=60)[0].decode().strip() for run in runs}
    assert ids == {(home.legacy / "machine-id").read_text()}


# Session ids: the hook input's and CLAUDE_SESSION_ID, trimmed as the original trims them.
SESSION_IDS = [
    " 3f0c1a2e-0000-4000-8000-000000000001\n",
    "\ufeffsession-1",
    "session-1\u3000\u2028",
    "\x1csession-1\x85",
    "\tsession 1 \r",
]


@pytest.mark.parametrize("raw", SESSION_IDS, ids=ascii)
def test_claude_session_id_is_trimmed_as_the_original_trims_it(
    home: Any, monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("CLAUDE_SESSION_ID", raw)
    assert make_event()["session_id_hash"] == original_hash(raw)


@pytest.mark.parametrize("raw", SESSION_IDS, ids=ascii)
def test_hook_input_session_id_is_trimmed_the_same_way(home: Any, raw: str) -> None:
    hook = HookInput.parse(json.dumps({"session_id": raw}).encode())
    assert make_event(hook)["session_id_hash"] == original_hash(raw)


@pytest.mark.parametrize("raw", ["", " ", "\ufeff\u3000\n"], ids=ascii)
def test_blank_claude_session_id_is_no_session_id(
    home: Any, monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("CLAUDE_SESSION_ID", raw)
    assert make_event()["session_id_hash"] != make_event()["session_id_hash"]  # random


def test_lone_surrogate_session_id_is_hashed_as_node_hashes_it(home: Any) -> None:
    hook = HookInput.parse(b'{"session_id": "s-\\ud800"}')
    expected = hashlib.sha256("s-\ufffd".encode()).hexdigest()
    assert make_event(hook)["session_id_hash"] == expected


# GitHub logins: trimmed as the original trims them; any text without control characters,
# up to 100 characters.
LOGINS = [
    " octocat\n",
    "\ufeffocto_cat",
    "octo_cat",
    "a" * 40,
    "x" * 100,
    "\u3000enterprise_user_01\u2029",
    "name with spaces",
    "Ünïcödé",
]


@pytest.mark.parametrize("raw", LOGINS, ids=ascii)
def test_configured_login_is_trimmed_and_hashed_as_the_original(
    home: Any, monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_GITHUB_LOGIN", raw)
    assert make_event()["github_hash"] == original_hash(raw, SALT)


@pytest.mark.parametrize("raw", LOGINS, ids=ascii)
def test_original_cached_login_is_trimmed_and_hashed_as_the_original(home: Any, raw: str) -> None:
    home.legacy.mkdir()
    cache = {"valid": True, "githubLogin": raw}
    (home.legacy / "pro-token-cache.json").write_text(json.dumps(cache))
    assert make_event()["github_hash"] == original_hash(raw, SALT)


@pytest.mark.parametrize(
    "raw", ["x" * 101, "octo\x07cat", "octo\ncat", "octocat\x85", "\x7f", " ", "\ufeff"], ids=ascii
)
def test_no_github_hash_for_what_is_not_a_login(home: Any, raw: str) -> None:
    home.legacy.mkdir()
    cache = {"valid": True, "githubLogin": raw}
    (home.legacy / "pro-token-cache.json").write_text(json.dumps(cache))
    assert make_event()["github_hash"] is None


def test_configured_login_that_is_not_one_is_named_in_the_warnings(
    home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_EVENTS_GITHUB_LOGIN", "bad\x1blogin")
    settings = Settings.load()
    assert settings.github_login is None
    assert any("SESSION_EVENTS_GITHUB_LOGIN" in warning for warning in settings.warnings)


def test_hook_with_consent_off_writes_no_machine_id(
    home: Any, run_cli: Any, hook_json: Any, free_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.legacy.mkdir()
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    assert run_cli(stdin=hook_json("s")).returncode == 0
    assert list(home.legacy.iterdir()) == []


def test_hook_with_consent_on_writes_the_machine_id(
    consent_on: Any, run_cli: Any, hook_json: Any, free_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    consent_on.legacy.mkdir()
    monkeypatch.setenv("SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}")
    now = datetime.now(UTC)
    before = identity.quarter_salt(now.year, now.month)
    assert run_cli(stdin=hook_json("s")).returncode == 0
    now = datetime.now(UTC)
    after = identity.quarter_salt(now.year, now.month)
    [path] = consent_on.outbox_files()
    sent = json.loads(path.read_text())["event"]["identity_hash"]
    machine_id = (consent_on.legacy / "machine-id").read_text()
    assert sent in {original_hash(machine_id, salt) for salt in (before, after)}
