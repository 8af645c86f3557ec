"""Consent as emitter/README.md states it: the original plugin's reading, plus ours; any off
wins."""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import subprocess
from typing import Any

import pytest

from session_event_emitter.consent import resolve_consent
from session_event_emitter.settings import Settings


class _Missing:
    """A named stand-in for "not set" (a readable test id)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


UNSET = _Missing("unset")
NO_FILE = _Missing("no-file")


def _load(home: Any, env: dict[str, str], ours: object, original: object) -> Any:
    """Settings from real files: our config's and the original's ``telemetry`` values."""
    if ours is not NO_FILE:
        home.state.mkdir(parents=True, exist_ok=True)
        (home.state / "config.json").write_text(json.dumps({"telemetry": ours}))
    if original is not NO_FILE:
        home.legacy.mkdir(parents=True, exist_ok=True)
        (home.legacy / "config.json").write_text(json.dumps({"telemetry": original}))
    base = {"HOME": str(home.user_home), "SESSION_EVENTS_HOME": str(home.state)}
    return Settings.load({**base, **env}).consent


# The issue's table: ASHLR_TELEMETRY, the original's config, sends?
ISSUE_TABLE = [
    ("on", "off", False),
    ("1", "off", False),
    (None, "on", False),
    (None, True, False),
    ("true", NO_FILE, False),
    ("yes", NO_FILE, False),
    (None, "opt-in", True),
    ("on", NO_FILE, True),
    ("off", "opt-in", False),
    ("0", "opt-in", False),
]


@pytest.mark.parametrize(("ashlr", "original", "sends"), ISSUE_TABLE)
def test_issue_table_row(home: Any, ashlr: str | None, original: object, sends: bool) -> None:
    env = {} if ashlr is None else {"ASHLR_TELEMETRY": ashlr}
    assert _load(home, env, NO_FILE, original).enabled is sends


def test_original_config_off_beats_ashlr_telemetry_on_and_is_named(home: Any) -> None:
    consent = _load(home, {"ASHLR_TELEMETRY": "on"}, NO_FILE, "off")
    assert consent.enabled is False
    assert consent.source == str(home.legacy / "config.json")


def test_original_config_off_beats_our_own_on(home: Any) -> None:
    env = {"SESSION_EVENTS_TELEMETRY": "on"}
    consent = _load(home, env, "on", "off")
    assert (consent.enabled, consent.source) == (False, str(home.legacy / "config.json"))


def test_ashlr_off_beats_our_config_on(home: Any) -> None:
    consent = _load(home, {"ASHLR_TELEMETRY": "0"}, "on", NO_FILE)
    assert (consent.enabled, consent.source) == (False, "ASHLR_TELEMETRY")


def test_our_off_beats_the_originals_opt_in(home: Any) -> None:
    consent = _load(home, {"ASHLR_TELEMETRY": "on"}, "off", "opt-in")
    assert (consent.enabled, consent.source) == (False, str(home.state / "config.json"))


def test_our_on_is_consent_without_the_original(home: Any) -> None:
    consent = _load(home, {}, "on", NO_FILE)
    assert (consent.enabled, consent.source) == (True, str(home.state / "config.json"))


@pytest.mark.parametrize("word", ["on", "ON", " on ", "\u3000On\ufeff", "1", "\t1\n"])
def test_ashlr_telemetry_on_is_read_lowercased_and_js_trimmed(home: Any, word: str) -> None:
    consent = _load(home, {"ASHLR_TELEMETRY": word}, NO_FILE, NO_FILE)
    assert (consent.enabled, consent.source) == (True, "ASHLR_TELEMETRY")


@pytest.mark.parametrize("word", ["true", "yes", "opt-in", "enable", "2", "o n", "\x1con"])
def test_ashlr_telemetry_other_words_are_not_consent(home: Any, word: str) -> None:
    assert _load(home, {"ASHLR_TELEMETRY": word}, NO_FILE, NO_FILE).enabled is False


@pytest.mark.parametrize("value", ["on", True, "Opt-In", " opt-in", "yes", 1, None, ["opt-in"]])
def test_original_config_only_exact_opt_in_is_consent(home: Any, value: object) -> None:
    assert _load(home, {}, NO_FILE, value).enabled is False


def test_original_config_opt_in_is_consent_and_is_named(home: Any) -> None:
    consent = _load(home, {}, NO_FILE, "opt-in")
    assert (consent.enabled, consent.source) == (True, str(home.legacy / "config.json"))


@pytest.mark.parametrize("value", ["off", False, "OFF", "false", "no"])
def test_original_config_off_words_beat_ashlr_on(home: Any, value: object) -> None:
    assert _load(home, {"ASHLR_TELEMETRY": "on"}, NO_FILE, value).enabled is False


@pytest.mark.parametrize("dnt", ["1", "true", "TRUE"])
def test_do_not_track_beats_every_on_at_once(home: Any, dnt: str) -> None:
    env = {"DO_NOT_TRACK": dnt, "SESSION_EVENTS_TELEMETRY": "on", "ASHLR_TELEMETRY": "on"}
    consent = _load(home, env, "on", "opt-in")
    assert (consent.enabled, consent.source) == (False, "DO_NOT_TRACK")


# Every combination of the variables and both config files, against the rule written out
# independently: the original's own isTelemetryEnabled(), transcribed from its source,
# and our words; an "off" anywhere means nothing is sent.
DNT_VALUES = [UNSET, "1", "true", "0"]
OURS_ENV_VALUES = [UNSET, "on", "off"]
ASHLR_VALUES = [UNSET, "on", "1", " On ", "off", "0", "OFF", "true", "yes", "false", "opt-in"]
OUR_CONFIG_VALUES = [NO_FILE, "on", "off"]
ORIGINAL_CONFIG_VALUES = [NO_FILE, "off", "opt-in", "on", True, False, "OFF"]


def _original_sends(ashlr: object, original: object) -> bool:
    """The original plugin's isTelemetryEnabled(), line for line."""
    env_value = "" if ashlr is UNSET else str(ashlr).lower().strip()
    if env_value in ("off", "0"):
        return False
    if env_value in ("on", "1"):
        return original != "off"
    return original == "opt-in"


def _expected(dnt: object, ours_env: object, ashlr: object, ours: object, original: object) -> bool:
    ashlr_word = "" if ashlr is UNSET else str(ashlr).lower().strip()
    says_off = (
        dnt in ("1", "true")
        or ours_env == "off"
        or ashlr_word in ("off", "0", "false")
        or ours == "off"
        or original in ("off", "OFF", False)
    )
    if says_off:
        return False
    return ours_env == "on" or ours == "on" or _original_sends(ashlr, original)


COMBINATIONS = list(
    itertools.product(
        DNT_VALUES, OURS_ENV_VALUES, ASHLR_VALUES, OUR_CONFIG_VALUES, ORIGINAL_CONFIG_VALUES
    )
)


@pytest.mark.parametrize("ashlr", ASHLR_VALUES, ids=repr)
@pytest.mark.parametrize("original", ORIGINAL_CONFIG_VALUES, ids=repr)
def test_every_combination_follows_the_rule(ashlr: object, original: object) -> None:
    wrong = []
    for dnt, ours_env, ours in itertools.product(DNT_VALUES, OURS_ENV_VALUES, OUR_CONFIG_VALUES):
        env = {
            name: value
            for name, value in (
                ("DO_NOT_TRACK", dnt),
                ("SESSION_EVENTS_TELEMETRY", ours_env),
                ("ASHLR_TELEMETRY", ashlr),
            )
            if isinstance(value, str)
        }
        config = {} if ours is NO_FILE else {"telemetry": ours}
        legacy = {} if original is NO_FILE else {"telemetry": original}
        consent = resolve_consent(env, config, legacy)
        if consent.enabled is not _expected(dnt, ours_env, ashlr, ours, original):
            wrong.append((dnt, ours_env, ours, consent))
    assert wrong == []


@pytest.mark.parametrize("ashlr", ASHLR_VALUES, ids=repr)
@pytest.mark.parametrize("original", ORIGINAL_CONFIG_VALUES, ids=repr)
def test_without_our_words_we_send_exactly_when_the_original_does_but_for_wider_offs(
    ashlr: object, original: object
) -> None:
    env = {} if ashlr is UNSET else {"ASHLR_TELEMETRY": str(ashlr)}
    legacy = {} if original is NO_FILE else {"telemetry": original}
    wider_off = ashlr == "false" or original in ("OFF", False)
    consent = resolve_consent(env, {}, legacy)
    assert consent.enabled is (_original_sends(ashlr, original) and not wider_off)


def test_the_combination_table_covers_every_issue_row() -> None:
    pairs = {(a, o) for _, _, a, _, o in COMBINATIONS}
    for ashlr, original, _ in ISSUE_TABLE:
        assert ((UNSET if ashlr is None else ashlr), original) in pairs


def test_status_names_the_original_config_as_the_deciding_source(
    home: Any, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.legacy.mkdir()
    (home.legacy / "config.json").write_text(json.dumps({"telemetry": "off"}))
    monkeypatch.setenv("ASHLR_TELEMETRY", "on")
    monkeypatch.setenv("SESSION_EVENTS_TELEMETRY", "on")
    report = json.loads(run_cli("status", "--json").stdout)
    assert (report["consent"], report["consent_source"]) == (
        "off",
        str(home.legacy / "config.json"),
    )


def test_enable_does_not_outvote_the_originals_off_and_says_so(home: Any, run_cli: Any) -> None:
    home.legacy.mkdir()
    (home.legacy / "config.json").write_text(json.dumps({"telemetry": "off"}))
    done = run_cli("enable")
    assert done.returncode == 0
    assert b"still turns telemetry off" in done.stderr
    report = json.loads(run_cli("status", "--json").stdout)
    assert report["consent"] == "off"


def test_hook_with_the_originals_off_creates_nothing(
    home: Any, run_cli: Any, hook_json: Any, free_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.legacy.mkdir()
    (home.legacy / "config.json").write_text(json.dumps({"telemetry": "off"}))
    monkeypatch.setenv("ASHLR_TELEMETRY", "on")
    monkeypatch.setenv(
        "ASHLR_SESSION_EVENTS_URL", f"http://127.0.0.1:{free_port}/v1/session-events"
    )
    assert run_cli(stdin=hook_json("s")).returncode == 0
    assert not home.state.exists()
    assert sorted(p.name for p in home.legacy.iterdir()) == ["config.json"]


# ~/.ashlr/config.json read as the original reads it: JSON.parse(readFileSync(p, "utf-8")),
# and consent only from an object whose `telemetry` is exactly "opt-in". Each row: a name,
# the file's bytes, and whether the original finds consent in it. Where Python's json and
# JSON.parse disagree, the row says what JSON.parse does; test_json_parse_table_agrees_with_node
# checks every row against the real JSON.parse.
OPT_IN = '{"telemetry":"opt-in"}'


def _with(extra: str) -> bytes:
    """The opt-in object with one more member, `extra` (raw JSON text)."""
    return ('{"telemetry":"opt-in",' + extra + "}").encode()


def _nested(depth: int) -> bytes:
    return _with('"x":' + "[" * depth + "]" * depth)


JSON_PARSE_TABLE: list[tuple[str, bytes, bool]] = [
    ("plain", OPT_IN.encode(), True),
    ("pretty, CRLF line ends", b'{\r\n  "telemetry": "opt-in"\r\n}\r\n', True),
    ("JSON white space around", b" \t\r\n" + OPT_IN.encode() + b"\n\t \r", True),
    # Encodings: read as UTF-8, whatever the bytes say.
    ("UTF-8 byte-order mark", b"\xef\xbb\xbf" + OPT_IN.encode(), False),
    ("UTF-16 LE with mark", ("\ufeff" + OPT_IN).encode("utf-16-le"), False),
    ("UTF-16 BE with mark", ("\ufeff" + OPT_IN).encode("utf-16-be"), False),
    ("UTF-16 LE", OPT_IN.encode("utf-16-le"), False),
    ("UTF-16 BE", OPT_IN.encode("utf-16-be"), False),
    ("UTF-32 LE with mark", ("\ufeff" + OPT_IN).encode("utf-32-le"), False),
    ("UTF-32 BE with mark", ("\ufeff" + OPT_IN).encode("utf-32-be"), False),
    ("UTF-32 LE", OPT_IN.encode("utf-32-le"), False),
    ("UTF-32 BE", OPT_IN.encode("utf-32-be"), False),
    # Malformed UTF-8 becomes U+FFFD: harmless inside a string, fatal outside one.
    ("bad byte in a string", _with('"x":"\xff"').replace(b"\xc3\xbf", b"\xff"), True),
    ("cut sequence before a quote", _with('"x":"\xe2"').replace(b"\xc3\xa2", b"\xe2"), True),
    ("encoded surrogate bytes", _with('"x":"?"').replace(b"?", b"\xed\xa0\x80"), True),
    ("bad byte after the value", OPT_IN.encode() + b"\xff", False),
    # Constants JSON does not have.
    ("NaN", _with('"x":NaN'), False),
    ("Infinity", _with('"x":Infinity'), False),
    ("-Infinity", _with('"x":-Infinity'), False),
    ("NaN deep inside", _with('"x":[1,{"y":[NaN]}]'), False),
    ("NaN as the telemetry value", b'{"telemetry":NaN}', False),
    # Strings.
    ("lone high surrogate escape", _with('"x":"\\ud800"'), True),
    ("lone low surrogate escape", _with('"x":"\\udc00"'), True),
    ("reversed surrogate escapes", _with('"x":"\\udc00\\ud800"'), True),
    ("escaped NUL", _with('"x":"\\u0000"'), True),
    ("escaped value", b'{"telemetry":"opt\\u002din"}', True),
    ("escaped slash", _with('"x":"a\\/b"'), True),
    ("raw tab in a string", _with('"x":"a\tb"'), False),
    ("raw line feed in a string", _with('"x":"a\nb"'), False),
    ("raw U+001F in a string", _with('"x":"a\x1fb"'), False),
    ("raw DEL in a string", _with('"x":"a\x7fb"'), True),
    ("raw U+0085 in a string", _with('"x":"a\x85b"'), True),
    ("raw U+2028 in a string", _with('"x":"a\u2028b"'), True),
    ("unknown escape", _with('"x":"\\x41"'), False),
    ("short unicode escape", _with('"x":"\\u12"'), False),
    ("escaped single quote", _with('"x":"\\\'"'), False),
    ("single-quoted strings", b"{'telemetry':'opt-in'}", False),
    ("unquoted key", b'{telemetry:"opt-in"}', False),
    # Numbers: JSON.parse reads every number as a double.
    ("integer of 5000 digits", _with('"x":' + "1" * 5000), True),
    ("1e400", _with('"x":1e400'), True),
    ("-0 and 1E+2", _with('"x":[-0,1E+2,0.5e-3]'), True),
    ("leading zero", _with('"x":01'), False),
    ("hex number", _with('"x":0x10'), False),
    ("plus sign", _with('"x":+1'), False),
    ("bare fraction", _with('"x":.5'), False),
    ("trailing point", _with('"x":1.'), False),
    ("bare exponent", _with('"x":1e'), False),
    ("True", _with('"x":True'), False),
    ("undefined", _with('"x":undefined'), False),
    # Structure.
    ("trailing comma in the object", b'{"telemetry":"opt-in",}', False),
    ("trailing comma in an array", _with('"x":[1,]'), False),
    ("line comment before", b"// settings\n" + OPT_IN.encode(), False),
    ("line comment after", OPT_IN.encode() + b" // settings", False),
    ("block comment", b'{/* on */"telemetry":"opt-in"}', False),
    ("second object", OPT_IN.encode() + b"{}", False),
    ("second value after a space", OPT_IN.encode() + b' {"telemetry":"off"}', False),
    ("number after a newline", OPT_IN.encode() + b"\n1", False),
    ("null after", OPT_IN.encode() + b" null", False),
    ("NUL byte after", OPT_IN.encode() + b"\x00", False),
    ("empty file", b"", False),
    ("white space only", b" \n", False),
    ("duplicate key, opt-in last", b'{"telemetry":"off","telemetry":"opt-in"}', True),
    ("duplicate key, off last", b'{"telemetry":"opt-in","telemetry":"off"}', False),
    ("array of the object", b"[" + OPT_IN.encode() + b"]", False),
    ("the string alone", b'"opt-in"', False),
    ("null", b"null", False),
    ("telemetry one level down", b'{"x":' + OPT_IN.encode() + b"}", False),
    ("__proto__ member", b'{"__proto__":' + OPT_IN.encode() + b"}", False),
    ("nested 500 deep", _nested(500), True),
    # White space JSON.parse does not know.
    ("vertical tab before", b"\x0b" + OPT_IN.encode(), False),
    ("form feed after", OPT_IN.encode() + b"\x0c", False),
    ("no-break space after", OPT_IN.encode() + "\u00a0".encode(), False),
    ("NEL after", OPT_IN.encode() + "\u0085".encode(), False),
    ("line separator after", OPT_IN.encode() + "\u2028".encode(), False),
    ("ideographic space before", "\u3000".encode() + OPT_IN.encode(), False),
    ("byte-order mark between members", b'{"telemetry":"opt-in",\xef\xbb\xbf"x":1}', False),
]

# Where this emitter is stricter than JSON.parse, and why: nesting deeper than Python's
# recursion limit cannot be read (JSON.parse has no such limit). A file that cannot be
# read gives no consent here, so the difference only ever keeps an event back.
STRICTER_THAN_JSON_PARSE = {("nested 3000 deep", _nested(3000))}


@pytest.mark.parametrize(
    ("name", "data", "consent"), JSON_PARSE_TABLE, ids=[row[0] for row in JSON_PARSE_TABLE]
)
def test_original_config_gives_consent_only_where_json_parse_does(
    home: Any, name: str, data: bytes, consent: bool
) -> None:
    home.legacy.mkdir()
    (home.legacy / "config.json").write_bytes(data)
    found = Settings.load({"HOME": str(home.user_home), "SESSION_EVENTS_HOME": str(home.state)})
    assert found.consent.enabled is consent, name


@pytest.mark.parametrize(("name", "data"), sorted(STRICTER_THAN_JSON_PARSE))
def test_where_we_are_stricter_than_json_parse_there_is_no_consent(
    home: Any, name: str, data: bytes
) -> None:
    home.legacy.mkdir()
    (home.legacy / "config.json").write_bytes(data)
    found = Settings.load({"HOME": str(home.user_home), "SESSION_EVENTS_HOME": str(home.state)})
    assert found.consent.enabled is False, name


# The original's readConfig() and the consent it takes from the file, in Node itself.
_NODE_READ_CONFIG = r"""
const fs = require("fs");
const answers = [];
for (const path of process.argv.slice(1)) {
  let config = {};
  try {
    const parsed = JSON.parse(fs.readFileSync(path, "utf-8"));
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) config = parsed;
  } catch {}
  answers.push(config.telemetry === "opt-in");
}
process.stdout.write(JSON.stringify(answers));
"""


def test_json_parse_table_agrees_with_node(tmp_path: Any) -> None:
    """Every row of the table, and every stricter row, read by the real JSON.parse."""
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is required in CI for the JSON.parse differential test")
        pytest.skip("node is not installed")
    rows = [*JSON_PARSE_TABLE, *((name, data, True) for name, data in STRICTER_THAN_JSON_PARSE)]
    paths = []
    for number, (_, data, _) in enumerate(rows):
        path = tmp_path / f"config-{number}.json"
        path.write_bytes(data)
        paths.append(str(path))
    done = subprocess.run(
        [node, "-e", _NODE_READ_CONFIG, *paths], capture_output=True, timeout=60, check=True
    )
    answers = json.loads(done.stdout)
    assert {name: found for (name, _, _), found in zip(rows, answers, strict=True)} == {
        name: consent for name, _, consent in rows
    }


# Pieces of a generated config: each list's first part is JSON, the rest is where a lenient
# reader and JSON.parse may part ways.
_SPACES = [b"", b"", b" ", b"\n", b"\t", b"\r\n", b"  "]
_ODD_SPACES = [b"\x0b", b"\x0c", b"\xc2\xa0", b"\xef\xbb\xbf", b"\xe2\x80\xa8", b"/**/", b"\x00"]
_KEYS = [b'"x"', b'"y"', b'"telemetry"', b'"__proto__"', b'"\\ud800"']
_ODD_KEYS = [b"'x'", b"x", b"1"]
_VALUES = [
    b'"opt-in"',
    b'"off"',
    b"1",
    b"-0",
    b"0.5e-3",
    b"1E+2",
    b"1e400",
    b"9" * 400,
    b"true",
    b"null",
    b"[1,2]",
    b"{}",
    b'{"a":[[]]}',
    b'"\\ud800"',
    b'"\\u0000"',
    b'"\xff"',
    b'"\xed\xa0\x80"',
    b'"\x7f\xc2\x85"',
    b'"\\/"',
]
_ODD_VALUES = [
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"01",
    b"+1",
    b".5",
    b"1.",
    b"0x1",
    b"True",
    b"undefined",
    b"[1,]",
    b'"a\tb"',
    b'"\\x41"',
    b"'a'",
    b"9" * 5000,
    b'"\x1f"',
]
_TAILS = [b"", b"", b"", b"", b"{}", b" 1", b"null", b",", b"\xff", b"//"]


def _mutants(count: int, seed: int = 19) -> list[bytes]:
    """Generated configs holding ``"telemetry": "opt-in"`` among other members, with now and
    then a piece that a lenient reader and JSON.parse may read differently."""
    rng = random.Random(seed)

    def pick(usual: list[bytes], odd: list[bytes]) -> bytes:
        return rng.choice(odd if rng.random() < 0.06 else usual)

    def space() -> bytes:
        return pick(_SPACES, _ODD_SPACES)

    found = []
    for _ in range(count):
        members = [
            pick(_KEYS, _ODD_KEYS) + space() + b":" + space() + pick(_VALUES, _ODD_VALUES)
            for _ in range(rng.randint(0, 3))
        ]
        members.insert(rng.randint(0, len(members)), b'"telemetry":' + space() + b'"opt-in"')
        body = (space() + b"," + space()).join(members)
        trailing = b"," if rng.random() < 0.03 else b""
        document = space() + b"{" + space() + body + trailing + space() + b"}" + space()
        found.append(document + (rng.choice(_TAILS) if rng.random() < 0.1 else b""))
    return found


def test_random_edits_of_a_config_are_read_as_json_parse_reads_them(
    home: Any, tmp_path: Any
) -> None:
    """Ours and the real JSON.parse on 1500 edited documents: the same consent for each."""
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is required in CI for the JSON.parse differential test")
        pytest.skip("node is not installed")
    documents = _mutants(1500)
    paths = []
    for number, data in enumerate(documents):
        path = tmp_path / f"mutant-{number}.json"
        path.write_bytes(data)
        paths.append(str(path))
    done = subprocess.run(
        [node, "-e", _NODE_READ_CONFIG, *paths], capture_output=True, timeout=120, check=True
    )
    theirs = json.loads(done.stdout)
    env = {"HOME": str(home.user_home), "SESSION_EVENTS_HOME": str(home.state)}
    home.legacy.mkdir()
    differ = []
    for data, their_consent in zip(documents, theirs, strict=True):
        (home.legacy / "config.json").write_bytes(data)
        if Settings.load(env).consent.enabled is not their_consent:
            differ.append((data, their_consent))
    assert differ == []
    assert 100 < sum(theirs) < len(theirs) - 100  # both kinds of answer were put to the test
