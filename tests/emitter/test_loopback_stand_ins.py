"""The loopback stand-ins say what real networks say: read off the wire with a raw client.

The emitter's fault tests are only as strong as these answers: a proxy's HTML page, a
404, a reset connection, a hang, an answer that drips a byte at a time, a peer that never
answers at all.
"""

from __future__ import annotations

import errno
import http.client
import json
import socket
from urllib.parse import urlsplit

import pytest
from fault_server import BATCH_PATH, HTML_PAGE, FaultServer, running

BODY = json.dumps({"events": [{"identity_hash": "a" * 64, "session_id_hash": "b" * 64}]})


def _post(port: int, *, timeout: float = 5.0) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("POST", BATCH_PATH, body=BODY, headers={"Content-Type": "application/json"})
    return conn.getresponse()


def _port(url: str) -> int:
    return int(urlsplit(url).port or 0)


def test_the_fault_server_sends_a_proxys_html_error_page() -> None:
    with running(FaultServer(script=["400_html"])) as server:
        answer = _post(server.port)
        assert answer.status == 400
        assert answer.getheader("Content-Type") == "text/html"
        assert answer.read() == HTML_PAGE


def test_the_fault_server_sends_a_gateways_page_and_a_json_404() -> None:
    with running(FaultServer(script=["502", "404"])) as server:
        gateway = _post(server.port)
        assert (gateway.status, gateway.getheader("Content-Type")) == (502, "text/html")
        assert b"Bad Gateway" in gateway.read()
        missing = _post(server.port)
        assert (missing.status, missing.getheader("Content-Type")) == (404, "application/json")
        assert json.loads(missing.read()) == {"error": "Not found"}


def test_the_fault_server_resets_the_connection() -> None:
    with running(FaultServer(script=["reset"])) as server, pytest.raises(OSError) as raised:
        _post(server.port)
    # A TCP reset, not a closed connection (http.client's RemoteDisconnected).
    assert raised.value.errno == errno.ECONNRESET


def test_the_fault_server_hangs_until_released() -> None:
    with running(FaultServer(script=["hang"], hang_seconds=30)) as server:
        with pytest.raises(TimeoutError):
            _post(server.port, timeout=0.5)
        assert [request.kind for request in server.requests] == ["hang"]


def test_the_fault_server_answers_in_the_shape_of_this_api() -> None:
    with running(FaultServer(script=["mixed", "malformed_json"])) as server:
        first = _post(server.port)
        assert first.status == 200
        [result] = json.loads(first.read())["results"]
        assert result["status"] in ("accepted", "retry", "duplicate", "invalid")
        second = _post(server.port)
        with pytest.raises(ValueError):
            json.loads(second.read())


def test_the_dripping_server_never_finishes_its_headers(dripping_server: str) -> None:
    with socket.create_connection(("127.0.0.1", _port(dripping_server)), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        received = b""
        while received.count(b"a") < 4:  # the status line has no "a"; each drip is one
            chunk = sock.recv(64)
            assert chunk, f"the connection closed after {received!r}"
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 OK\r\nX-Slow: a")
    assert b"\r\n\r\n" not in received


def test_the_silent_server_takes_the_connection_and_says_nothing(silent_server: str) -> None:
    with socket.create_connection(("127.0.0.1", _port(silent_server)), timeout=0.5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        with pytest.raises(TimeoutError):
            sock.recv(1)
