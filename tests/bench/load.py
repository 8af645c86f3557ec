"""A small closed-loop HTTP/1.1 load generator: N threads, one keep-alive connection each.

Each thread sends a request, reads the whole answer, records the latency and sends the
next, until a request count or a time limit is reached (whichever comes first). Requests
are built as bytes from a per-request body function, so the client spends a few
microseconds per request and the server stays the bottleneck.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from common import percentile

BodyFactory = Callable[[int, int], bytes]  # (thread index, request index) -> body


@dataclass
class LoadResult:
    concurrency: int
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 0.50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 0.99)


class _Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = b""

    def _open(self) -> socket.socket:
        if self.sock is None:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock, self.buffer = sock, b""
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def exchange(self, request: bytes) -> int:
        """Send one request and read its whole answer; returns the status code."""
        sock = self._open()
        sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self._fill(sock)
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        while len(rest) < length:
            rest += self._recv(sock)
        self.buffer = rest[length:]
        if close:
            self.close()
        return status

    def _fill(self, sock: socket.socket) -> None:
        self.buffer += self._recv(sock)

    @staticmethod
    def _recv(sock: socket.socket) -> bytes:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk


def build_request(path: str, body: bytes, *, extra_headers: str = "") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra_headers}\r\n"
    )
    return head.encode("ascii") + body


def run_load(
    port: int,
    path: str,
    body: BodyFactory,
    *,
    concurrency: int,
    duration_s: float,
    max_requests: int,
    warmup_requests: int = 20,
) -> LoadResult:
    """Closed-loop load at `concurrency`; bounded by `duration_s` and `max_requests`."""
    result = LoadResult(concurrency=concurrency)
    lock = threading.Lock()
    ready = threading.Barrier(concurrency + 1, timeout=60)
    go = threading.Event()
    per_thread = max(1, max_requests // concurrency)
    deadline = [0.0]

    def worker(index: int) -> None:
        conn = _Connection(port)
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        errors = 0
        try:
            for n in range(warmup_requests // concurrency + 1):  # open and warm the connection
                try:
                    conn.exchange(build_request(path, body(index, -1 - n)))
                except OSError:
                    conn.close()
            ready.wait()
            go.wait()
            sent = 0
            while sent < per_thread and time.perf_counter() < deadline[0]:
                request = build_request(path, body(index, sent))
                began = time.perf_counter()
                try:
                    status = conn.exchange(request)
                except (OSError, ValueError, IndexError):
                    conn.close()
                    errors += 1
                    sent += 1
                    continue
                latencies.append((time.perf_counter() - began) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
                sent += 1
        finally:
            conn.close()
        with lock:
            result.latencies_ms.extend(latencies)
            result.errors += errors
            for status, count in statuses.items():
                result.statuses[status] = result.statuses.get(status, 0) + count

    threads = [
        threading.Thread(target=worker, args=(i,), name=f"load-{i}", daemon=True)
        for i in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    ready.wait()  # every connection is open and warm
    began = time.perf_counter()
    deadline[0] = began + duration_s
    go.set()
    for thread in threads:
        thread.join(timeout=duration_s + 30)
    result.seconds = time.perf_counter() - began
    result.requests = len(result.latencies_ms)
    return result
