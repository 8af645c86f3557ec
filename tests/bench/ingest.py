"""Ingest benchmarks over HTTP: throughput and latency, batch vs single, cold start, Firestore.

The function and the no-op are served side by side by functions-framework in production
mode (gunicorn), and every figure is measured on both in the same interleaved rounds.
Before the function is measured, its rollup job runs once through `POST /v1/jobs/rollup`,
as a deployed instance's scheduler runs it: the SQLite store then keeps its read-side
indexes, which every later insert updates too.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import re
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import REPO, event, free_port, hex64, median, paired_ratio
from load import LoadResult, run_load
from servers import (
    Served,
    compile_sources,
    function_env,
    process_tree_cpu_ms,
    serve,
    start_server,
    stop_group,
)

sys.path.insert(0, str(REPO / "functions"))

from session_events.stores.sqlite.store import READ_SCHEMA

SINGLE_PATH = "/v1/session-events"
BATCH_PATH = "/v1/session-events/batch"
JOB_PATH = "/v1/jobs/rollup"
JOB_TOKEN = "bench-job-token"
DATABASE = "session_events.db"  # the file servers.function_env points the store at
_PLACEHOLDER = "X" * 64
_runs = itertools.count(1)
# The indexes the SQLite store adds once the read side has run (its READ_SCHEMA).
READ_INDEXES = frozenset(re.findall(r"CREATE INDEX IF NOT EXISTS (\w+)", READ_SCHEMA))


def run_read_side(served: Served, data_dir: Path) -> list[str]:
    """Run the rollup job once through the served function, then check that the database
    has the read side's indexes; returns every index of the events table."""
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
    try:
        connection.request("POST", JOB_PATH, b"", {"Authorization": f"Bearer {JOB_TOKEN}"})
        answer = connection.getresponse()
        answer.read()
    finally:
        connection.close()
    if answer.status != 200:
        raise RuntimeError(f"the rollup job answered {answer.status}, not 200")
    with contextlib.closing(sqlite3.connect(data_dir / DATABASE)) as database:
        indexes = sorted(
            name
            for (name,) in database.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?",
                ("session_events",),
            )
        )
    missing = READ_INDEXES - set(indexes)
    if missing:
        raise RuntimeError(f"the read side ran but the database lacks {sorted(missing)}")
    return indexes


def _ended_at() -> str:
    moment = datetime.now(UTC) - timedelta(minutes=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def single_body_factory() -> Any:
    """Bodies of new, valid events: each request carries a session id never sent before."""
    run = next(_runs)
    head, tail = (
        json.dumps(event(session_id_hash=_PLACEHOLDER, ended_at=_ended_at()), separators=(",", ":"))
        .encode()
        .split(_PLACEHOLDER.encode())
    )

    def body(thread: int, n: int) -> bytes:
        return head + hex64(run, thread, n & 0xFFFFFFFFFFFFFFFF).encode() + tail

    return body


def batch_body_factory(size: int = 100) -> Any:
    """Bodies of `size`-event batches of new, valid events."""
    run = next(_runs)
    head, tail = (
        json.dumps(event(session_id_hash=_PLACEHOLDER, ended_at=_ended_at()), separators=(",", ":"))
        .encode()
        .split(_PLACEHOLDER.encode())
    )

    def body(thread: int, n: int) -> bytes:
        items = b",".join(
            head + hex64(run, thread, n & 0xFFFFFFFFFFFF, i).encode() + tail for i in range(size)
        )
        return b'{"events":[' + items + b"]}"

    return body


def _summary(runs: list[LoadResult], cpu_us: list[float] | None = None) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    for run in runs:
        for status, count in run.statuses.items():
            statuses[str(status)] = statuses.get(str(status), 0) + count
    per_request = [value for value in cpu_us or [] if value == value]  # NaN: not measured
    return {
        "rps": round(median([r.rps for r in runs]), 1),
        "server_cpu_us_per_request": round(median(per_request), 1) if per_request else None,
        "p50_ms": round(median([r.p50_ms for r in runs]), 2),
        "p99_ms": round(median([r.p99_ms for r in runs]), 2),
        "requests": sum(r.requests for r in runs),
        "errors": sum(r.errors for r in runs),
        "statuses": statuses,
        "runs_rps": [round(r.rps, 1) for r in runs],
    }


def throughput(
    *, levels: tuple[int, ...], rounds: int, duration_s: float, max_requests: int
) -> dict[str, Any]:
    """ingest/noop at each concurrency level, the SQLite floor and 100-event batches at c=8,
    interleaved."""
    raw: dict[str, dict[str, list[LoadResult]]] = {
        "ingest": {f"c{c}": [] for c in levels},
        "noop": {f"c{c}": [] for c in levels},
        "floor": {"c8": []},
        "batch": {"c8": []},
    }
    cpu: dict[str, dict[str, list[float]]] = {
        name: {level: [] for level in raw[name]} for name in ("ingest", "noop", "floor")
    }
    with contextlib.ExitStack() as stack:
        data = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ingest-")))
        servers = {
            "ingest": stack.enter_context(
                serve("function", data / "function", SESSION_EVENTS_JOB_TOKEN=JOB_TOKEN)
            ),
            "noop": stack.enter_context(serve("noop", data / "noop")),
            "floor": stack.enter_context(serve("floor", data / "floor")),
        }
        indexes = run_read_side(servers["ingest"], data / "function")
        print(f"  the function's database after its rollup job: indexes {', '.join(indexes)}")
        for round_no in range(rounds):
            for level in levels:
                names = ["ingest", "noop"] + (["floor"] if level == 8 else [])
                if round_no % 2:
                    names.reverse()
                for name in names:
                    cpu_before = servers[name].cpu_ms()
                    result = run_load(
                        servers[name].port,
                        SINGLE_PATH,
                        single_body_factory(),
                        concurrency=level,
                        duration_s=duration_s,
                        max_requests=max_requests,
                    )
                    cpu_after = servers[name].cpu_ms()
                    per_request = (
                        (cpu_after - cpu_before) * 1000 / result.requests
                        if cpu_before is not None and cpu_after is not None and result.requests
                        else float("nan")
                    )
                    raw[name][f"c{level}"].append(result)
                    cpu[name][f"c{level}"].append(per_request)
                    print(
                        f"  round {round_no + 1}/{rounds} {name:6} c={level:<3}"
                        f" {result.rps:8.1f} req/s  p99 {result.p99_ms:7.2f} ms"
                        f"  server CPU {per_request:6.0f} us/req"
                        f"  statuses {dict(sorted(result.statuses.items()))}"
                        + (f" errors {result.errors}" if result.errors else "")
                    )
            batch = run_load(
                servers["ingest"].port,
                BATCH_PATH,
                batch_body_factory(),
                concurrency=8,
                duration_s=duration_s,
                max_requests=max_requests // 100 + 8,
                warmup_requests=8,
            )
            raw["batch"]["c8"].append(batch)
            print(
                f"  round {round_no + 1}/{rounds} batch  c=8   {batch.rps * 100:8.1f} events/s"
                f" ({batch.rps:.1f} req/s)  p99 {batch.p99_ms:7.2f} ms"
            )
    figures: dict[str, Any] = {
        name: {level: _summary(runs, cpu[name][level]) for level, runs in raw[name].items() if runs}
        for name in ("ingest", "noop", "floor")
    }
    figures["ingest_store"] = {"read_side_built": True, "indexes": indexes}
    for name in ("ingest", "floor"):
        for level, runs in raw[name].items():
            figures[name][level]["rps_ratio_to_noop"] = round(
                paired_ratio([r.rps for r in runs], [r.rps for r in raw["noop"][level]]), 3
            )
    if raw["floor"]["c8"]:
        figures["ingest"]["c8"]["rps_ratio_to_floor"] = round(
            paired_ratio([r.rps for r in raw["ingest"]["c8"]], [r.rps for r in raw["floor"]["c8"]]),
            3,
        )
    batch_runs = raw["batch"]["c8"]
    figures["batch"] = {
        "events_per_s": round(median([r.rps * 100 for r in batch_runs]), 1),
        "batch_size": 100,
        "concurrency": 8,
        "p99_ms": round(median([r.p99_ms for r in batch_runs]), 2),
        "runs_events_per_s": [round(r.rps * 100, 1) for r in batch_runs],
    }
    single_c8 = raw["ingest"].get("c8", [])
    figures["single"] = {
        "events_per_s": round(median([r.rps for r in single_c8]), 1),
        "concurrency": 8,
    }
    return figures


def _post_once(port: int, body: bytes) -> int | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("POST", SINGLE_PATH, body, {"Content-Type": "application/json"})
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


def cold_start_once(
    kind: str, data_dir: Path, deadline_s: float = 60
) -> tuple[float, float | None]:
    """Milliseconds from spawning the server process to its first 202 answer, and the CPU
    time (ms) its processes had used by then (None where /proc cannot tell)."""
    body = single_body_factory()(0, 0)
    port = free_port()
    began = time.perf_counter()
    process = start_server(kind, port, function_env(data_dir))
    try:
        while time.perf_counter() - began < deadline_s:
            if _post_once(port, body) == 202:
                wall = (time.perf_counter() - began) * 1000
                return wall, process_tree_cpu_ms(process.pid)
            if process.poll() is not None:
                raise RuntimeError(f"the {kind} server exited while starting")
            time.sleep(0.002)
        raise RuntimeError(f"the {kind} server gave no 202 within {deadline_s} s")
    finally:
        stop_group(process)


def cold_start(*, rounds: int) -> dict[str, Any]:
    """Spawn to first 202 of the function and the no-op, interleaved.

    `function` starts on a new SQLite file, so its first request also creates the database
    (the figure kept from earlier runs); `function_existing_db` starts on a database an
    earlier run created, as a restarted instance does.
    """
    kinds = ("function", "function_existing_db", "noop")
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
    compile_sources()
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        existing = Path(tmp) / "existing"
        cold_start_once("function", existing)  # creates the database; not counted
        for round_no in range(rounds):
            for kind in kinds if round_no % 2 == 0 else kinds[::-1]:
                if kind == "function_existing_db":
                    wall, cpu_ms = cold_start_once("function", existing)
                else:
                    wall, cpu_ms = cold_start_once(kind, Path(tmp) / f"{kind}-{round_no}")
                samples[kind].append(wall)
                if cpu_ms is not None:
                    cpu[kind].append(cpu_ms)
    print(
        "  cold start samples (ms): "
        + "; ".join(f"{k} {[round(v) for v in vs]}" for k, vs in samples.items())
    )
    figures: dict[str, Any] = {kind: round(median(samples[kind]), 1) for kind in kinds} | {
        "ratio_to_noop": round(paired_ratio(samples["function"], samples["noop"]), 3),
        "existing_db_ratio_to_noop": round(
            paired_ratio(samples["function_existing_db"], samples["noop"]), 3
        ),
        "samples": {k: [round(v, 1) for v in vs] for k, vs in samples.items()},
    }
    if all(len(cpu[kind]) == rounds for kind in kinds):
        print(
            "  CPU time to the first 202 (ms): "
            + "; ".join(f"{k} {[round(v) for v in vs]}" for k, vs in cpu.items())
        )
        figures["cpu_ms"] = {kind: round(median(cpu[kind]), 1) for kind in kinds} | {
            "ratio_to_noop": round(paired_ratio(cpu["function"], cpu["noop"]), 3),
            "existing_db_ratio_to_noop": round(
                paired_ratio(cpu["function_existing_db"], cpu["noop"]), 3
            ),
        }
    return figures


def firestore_throughput(
    emulator_host: str, *, rounds: int, duration_s: float, max_requests: int
) -> dict[str, Any]:
    """Single events/s through the function with the Firestore store, at 8 clients."""
    runs: list[LoadResult] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-firestore-") as tmp,
        serve(
            "function",
            Path(tmp),
            SESSION_EVENTS_STORE="firestore",
            FIRESTORE_EMULATOR_HOST=emulator_host,
            GOOGLE_CLOUD_PROJECT="demo-session-events-bench",
            SESSION_EVENTS_COLLECTION=f"bench_{int(time.time())}",
        ) as served,
    ):
        for round_no in range(rounds):
            result = run_load(
                served.port,
                SINGLE_PATH,
                single_body_factory(),
                concurrency=8,
                duration_s=duration_s,
                max_requests=max_requests,
            )
            runs.append(result)
            accepted = result.statuses.get(202, 0)
            print(
                f"  round {round_no + 1}/{rounds} firestore c=8 "
                f"{accepted / result.seconds:8.1f} events/s  p99 {result.p99_ms:7.2f} ms"
                f"  statuses {dict(sorted(result.statuses.items()))}"
            )
    return {
        "events_per_s": round(median([r.statuses.get(202, 0) / r.seconds for r in runs]), 1),
        "p99_ms": round(median([r.p99_ms for r in runs]), 2),
        "concurrency": 8,
        "statuses": _summary(runs)["statuses"],
    }
