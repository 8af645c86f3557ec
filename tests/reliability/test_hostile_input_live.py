"""Hostile input to a real server over a real socket: every answer a 4xx, memory bounded.

The function runs as functions-framework serves it (gunicorn); requests go out on raw
sockets, so a server that answers before reading the whole body is seen as it is.
"""

from __future__ import annotations

import contextlib
import functools
import json
import socket
import threading
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import (
    SUBMITTED_VALUES,
    FunctionServer,
    event,
    sha256_hex,
)
from loopback import FUNCTION_SOURCE, free_port

SINGLE = "/v1/session-events"
BATCH = "/v1/session-events/batch"
RSS_GROWTH_LIMIT_KB = 100 * 1024
MB = 1024 * 1024


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def exchange(
    port: int,
    path: str,
    body: bytes | Iterable[bytes],
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Answer:
    """POST on a fresh socket; the body is written by a thread so an early answer is read.

    An iterable body is sent chunked (no Content-Length).
    """
    chunked = not isinstance(body, bytes)
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if chunked:
        all_headers["Transfer-Encoding"] = "chunked"
    else:
        assert isinstance(body, bytes)
        all_headers.setdefault("Content-Length", str(len(body)))
    head += [f"{name}: {value}" for name, value in all_headers.items()]
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def send() -> None:
        with contextlib.suppress(OSError):
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            if isinstance(body, bytes):
                sock.sendall(body)
                return
            for chunk in body:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sock.sendall(b"0\r\n\r\n")

    writer = threading.Thread(target=send, daemon=True)
    writer.start()
    received = b""
    try:
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            received += data
            if _complete(received):
                break
    finally:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        writer.join(timeout)
    head_bytes, _, payload = received.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1."), f"no HTTP answer: {received[:200]!r}"
    answer_headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        answer_headers[name.strip().lower()] = value.strip()
    return Answer(int(lines[0].split()[1]), answer_headers, payload)


def _complete(received: bytes) -> bool:
    head, sep, payload = received.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(payload) >= int(value)
    return False


@functools.cache
def gzip_of_zeros(megabytes: int) -> bytes:
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * MB
    return b"".join([deflate.compress(zeros) for _ in range(megabytes)] + [deflate.flush()])


def dumps(value: object) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def _ten_megabytes_in_chunks() -> Iterator[bytes]:
    for _ in range(160):
        yield b" " * (64 * 1024)


# (path, body factory, extra headers, expected status)
SIZE_CASES = {
    "gzip bomb 60 MB in 60 KB (single)": (
        SINGLE,
        lambda: gzip_of_zeros(60),
        {"Content-Encoding": "gzip"},
        413,
    ),
    "gzip bomb 512 MB in 500 KB (batch)": (
        BATCH,
        lambda: gzip_of_zeros(512),
        {"Content-Encoding": "gzip"},
        413,
    ),
    "10 MB body with Content-Length (single)": (SINGLE, lambda: b" " * (10 * MB), {}, 413),
    "10 MB body with Content-Length (batch)": (BATCH, lambda: b" " * (10 * MB), {}, 413),
    "10 MB chunked body, no Content-Length (single)": (SINGLE, _ten_megabytes_in_chunks, {}, 413),
    "10 MB chunked body, no Content-Length (batch)": (BATCH, _ten_megabytes_in_chunks, {}, 413),
    # Larger than the memory bound: a refused body must never be read into memory whole.
    "200 MB body with Content-Length (single)": (SINGLE, lambda: b" " * (200 * MB), {}, 413),
}

NESTING = 30_000
REFS = b'"discovery_refs": ["skill:grep", "doc:readme"]'
TOOLS = b'"tool_count": 42'
JSON_CASES: dict[str, bytes] = {
    "deeply nested arrays": b"[" * NESTING + b"]" * NESTING,
    "deeply nested objects": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "deep nesting inside a field": dumps(event()).replace(
        REFS, b'"discovery_refs": ' + b"[" * 20_000 + b"]" * 20_000
    ),
    "integer of 50,000 digits": dumps(event()).replace(TOOLS, b'"tool_count": ' + b"9" * 50_000),
    "integer far past the bound": dumps(event(tokens_saved=10**40)),
    "negative huge integer": dumps(event(tool_count=-(10**30))),
    "float overflowing to infinity": dumps(event()).replace(TOOLS, b'"tool_count": 1e400'),
    "huge exponent": dumps(event()).replace(TOOLS, b'"tool_count": 1e99999999999999999999'),
    "NaN literal": dumps(event(tool_count=float("nan"))),
    "Infinity literal": dumps(event(tokens_saved=float("inf"))),
    "-Infinity literal": dumps(event(tokens_saved=float("-inf"))),
    "duplicate key, same value": b'{"tool_count": 42, ' + dumps(event())[1:],
    "duplicate key, other value": b'{"tool_count": 7, ' + dumps(event())[1:],
    "duplicate identity_hash": b'{"identity_hash": "' + b"b" * 64 + b'", ' + dumps(event())[1:],
    "duplicate key in the batch envelope": b'{"events": [], "events": [' + dumps(event()) + b"]}",
}

STRING_FIELDS = (
    "identity_hash",
    "session_id_hash",
    "ended_at",
    "plugin_version",
    "github_hash",
    "branch_sha",
)


def _arabic_indic(text: str) -> str:
    return "".join(chr(0x0660 + int(c)) if c.isdigit() else c for c in text)


NASTY_STRINGS = {
    "fullwidth hex": "\uff41" * 64,
    "arabic-indic digits": _arabic_indic("2026-05-22T12:34:56Z"),
    "devanagari digits": "\u0969" * 40,
    "nul byte": "a" * 32 + "\0" + "a" * 31,
    "lone surrogate": "\ud800" + "a" * 63,
    "right-to-left override": "\u202e" + "a" * 63,
    "zero-width space": "a" * 32 + "\u200b" + "a" * 31,
    "combining accent": "a\u0301" * 32,
    "emoji": "\U0001f600" * 16,
    "kelvin sign (folds to k)": "\u212a" * 64,
    "dotless i (folds to i)": "\u0131" * 7,
    "newline after a valid value": "a" * 64 + "\n",
    "unicode line separator": "a" * 63 + "\u2028",
}


def _unicode_cases() -> dict[str, bytes]:
    cases = {}
    for field in STRING_FIELDS:
        for label, nasty in NASTY_STRINGS.items():
            cases[f"{field}: {label}"] = dumps(event(**{field: nasty}))
    for label, nasty in NASTY_STRINGS.items():
        cases[f"discovery_refs item: {label}"] = dumps(event(discovery_refs=["ok", nasty]))
        cases[f"unknown key: {label}"] = dumps({**event(), nasty: 1})
    cases["fullwidth key name"] = dumps({**event(), "\uff54\uff4f\uff4f\uff4c_count": 1})
    return cases


UNICODE_CASES = _unicode_cases()
KNOWN_BUGS: dict[str, str] = {}


def _unicode_params() -> list[object]:
    return [
        pytest.param(case, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[case]))
        if case in KNOWN_BUGS
        else case
        for case in UNICODE_CASES
    ]


@dataclass
class Live:
    server: FunctionServer
    baseline_rss_kb: int  # peak resident memory (VmHWM) after the warm-up

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, server_log_dir: Path) -> Iterator[Live]:
    if not FUNCTION_SOURCE.exists():
        pytest.skip("functions/main.py is not in this tree")
    root = tmp_path_factory.mktemp("hostile")
    server = FunctionServer(
        port=free_port(),
        db=root / "events.db",
        log=server_log_dir / "function-hostile.log",
        env={"SESSION_EVENTS_RATE_LIMIT_PER_MINUTE": "0"},
    )
    server.start()
    for number in range(20):  # warm up: imports, the store, the first threads
        warm = event(session_id_hash=sha256_hex(f"warm-up-{number}"))
        answer = exchange(server.port, SINGLE, dumps(warm))
        assert answer.status == 202
    try:
        yield Live(server, server.peak_rss_kb())
    finally:
        server.stop()


def _assert_refused(answer: Answer, expected: int) -> None:
    assert answer.status == expected, answer.body[:300]
    assert answer.headers.get("content-type") == "application/json"
    body = json.loads(answer.body)
    assert body["ok"] is False
    assert "Traceback" not in answer.body.decode("utf-8", "replace")


@pytest.mark.parametrize("case", list(SIZE_CASES))
def test_oversized_and_compressed_bodies_are_413(live: Live, case: str) -> None:
    path, make_body, headers, expected = SIZE_CASES[case]
    answer = exchange(live.port, path, make_body(), headers)
    _assert_refused(answer, expected)


@pytest.mark.parametrize("case", list(JSON_CASES))
@pytest.mark.parametrize("path", [SINGLE, BATCH])
def test_hostile_json_is_400(live: Live, case: str, path: str) -> None:
    body = JSON_CASES[case]
    if path == BATCH and not body.startswith(b'{"events"'):
        body = b'{"events": [' + body + b"]}"
    answer = exchange(live.port, path, body)
    if path == BATCH and answer.status == 200:
        # One bad item does not reject the batch: it must come back invalid.
        assert json.loads(answer.body)["results"][0]["status"] == "invalid"
        return
    _assert_refused(answer, 400)


@pytest.mark.parametrize("case", _unicode_params())
def test_unicode_in_every_string_field_is_400_and_not_echoed(live: Live, case: str) -> None:
    body = UNICODE_CASES[case]
    SUBMITTED_VALUES.update(v for v in NASTY_STRINGS.values() if len(v) >= 7)
    answer = exchange(live.port, SINGLE, body)
    _assert_refused(answer, 400)
    text = json.loads(answer.body)
    for nasty in NASTY_STRINGS.values():
        assert nasty not in json.dumps(text, ensure_ascii=False)


def test_memory_stays_bounded_and_the_server_still_serves(live: Live) -> None:
    for _ in range(3):  # everything once more, the heaviest cases three times
        for path, make_body, headers, _expected in SIZE_CASES.values():
            assert exchange(live.port, path, make_body(), headers).status == 413
        for body in JSON_CASES.values():
            assert 400 <= exchange(live.port, SINGLE, body).status < 500
    growth = live.server.peak_rss_kb() - live.baseline_rss_kb
    assert growth < RSS_GROWTH_LIMIT_KB, f"peak RSS grew by {growth // 1024} MB"
    stored = live.server.count()
    answer = exchange(live.port, SINGLE, dumps(event(session_id_hash=sha256_hex("after"))))
    assert answer.status == 202
    assert live.server.count() == stored + 1
