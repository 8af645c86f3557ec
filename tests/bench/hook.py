"""Hook wall time: process start to exit of ``session-event-emit`` vs its two baselines.

Three servers: (a) the real function answering 202, (b) a refused port, (c) a socket that
accepts and never answers. Baselines, measured in the same interleaved rounds: a script
that posts synchronously with a 500 ms timeout (the original emitter) and ``python -c pass``.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from common import PYTHON, REPO, VENV_BIN, clean_env, median, percentile
from servers import hanging_server, refused_port, serve

HOOK = VENV_BIN / "session-event-emit"
SYNC_POST = Path(__file__).resolve().parent / "sync_post.py"
CASES = ("ok", "refused", "hanging")
SENDER_DEADLINE_S = "2"
SETTLE_S = 0.35  # lets the detached sender of the previous run finish its start-up


def _transcript(directory: Path, turns: int = 200) -> Path:
    """A JSONL transcript of `turns` assistant turns, each with one tool-use block."""
    path = directory / "transcript.jsonl"
    with path.open("w") as out:
        for n in range(turns):
            block = {"type": "tool_use", "id": f"toolu_{n:06d}", "name": "Read", "input": {}}
            record = {"type": "assistant", "message": {"content": [{"type": "text"}, block]}}
            out.write(json.dumps(record) + "\n")
    return path


def _timed(command: list[str], stdin: bytes, env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run(
        command,
        input=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        check=False,
        timeout=30,
    )
    return (time.perf_counter() - began) * 1000


def _stats(samples: list[float]) -> dict[str, Any]:
    return {
        "median_ms": round(median(samples), 2),
        "p90_ms": round(percentile(samples, 0.9), 2),
        "min_ms": round(min(samples), 2),
        "runs": len(samples),
        "samples_ms": [round(v, 1) for v in samples],
    }


def hook_wall_time(*, rounds: int) -> dict[str, Any]:
    """Median wall times of the hook and of its baselines against each kind of server."""
    samples: dict[str, dict[str, list[float]]] = {
        "hook": {case: [] for case in CASES},
        "hook_sync_baseline": {case: [] for case in CASES},
    }
    startup: list[float] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-hook-")))
        urls = {
            "ok": f"http://127.0.0.1:{stack.enter_context(serve('function', tmp / 'data'))}",
            "refused": f"http://127.0.0.1:{refused_port()}",
            "hanging": f"http://127.0.0.1:{stack.enter_context(hanging_server())}",
        }
        transcript = _transcript(tmp)
        user_home = tmp / "user"
        user_home.mkdir()
        base_env = clean_env(HOME=str(user_home))
        for round_no in range(rounds):
            for case in CASES:
                hook_input = json.dumps(
                    {
                        "session_id": f"bench-{case}-{round_no}-{time.time_ns()}",
                        "cwd": str(REPO),
                        "transcript_path": str(transcript),
                        "reason": "exit",
                    }
                ).encode()
                env = {
                    **base_env,
                    "SESSION_EVENTS_TELEMETRY": "on",
                    "SESSION_EVENTS_URL": urls[case],
                    "SESSION_EVENTS_HOME": str(tmp / f"state-{case}"),
                    "SESSION_EVENTS_SENDER_DEADLINE": SENDER_DEADLINE_S,
                }
                pair = [
                    ("hook", [str(HOOK)]),
                    ("hook_sync_baseline", [str(PYTHON), str(SYNC_POST), urls[case]]),
                ]
                for name, command in pair if round_no % 2 == 0 else pair[::-1]:
                    samples[name][case].append(_timed(command, hook_input, env))
                    time.sleep(SETTLE_S)
            startup.append(_timed([str(PYTHON), "-c", "pass"], b"", base_env))
        # Senders still waiting on the hanging socket end at their deadline; wait them out
        # before the socket goes away so that none of them outlives the benchmark.
        time.sleep(float(SENDER_DEADLINE_S) + 0.5)
    for name, by_case in samples.items():
        print(
            f"  {name:18} "
            + "  ".join(f"{case} {median(values):7.1f} ms" for case, values in by_case.items())
        )
    print(f"  python -c pass     {median(startup):7.1f} ms")
    return {
        "hook": {case: _stats(values) for case, values in samples["hook"].items()},
        "hook_sync_baseline": {
            case: _stats(values) for case, values in samples["hook_sync_baseline"].items()
        },
        "python_startup_ms": round(median(startup), 2),
        "python_startup": _stats(startup),
    }
