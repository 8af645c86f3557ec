"""Hook wall time: process start to exit of ``session-event-emit`` vs its baselines.

The emitter runs from a venv of its own (emitter_venv.py), inside a git repository, against
three servers: (a) the real function answering 202, (b) a refused port, (c) a socket that
accepts and never answers. Baselines, measured with the same interpreter in the same
interleaved rounds: ``python -c pass`` (the interpreter's own start, site included, as the
hook's console script pays it), ``python -S -c pass`` (without site), and a script that
posts synchronously with a 500 ms timeout (what the original emitter did).

``ref`` (``session-event-emit ref REF...``, which a PostToolUse hook runs after every tool
call) is timed in the same rounds: it touches no network, so it is one figure.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import emitter_venv
from common import clean_env, median, paired_ratio, percentile
from servers import hanging_server, refused_port, serve

SYNC_POST = Path(__file__).resolve().parent / "sync_post.py"
CASES = ("ok", "refused", "hanging")
SENDER_DEADLINE_S = "2"
SETTLE_S = 0.35  # lets the detached sender of the previous run finish its start-up


def _git_repository(directory: Path, env: dict[str, str]) -> Path:
    """A repository with one commit on a branch: where a coding session usually ends."""
    repo = directory / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "bench"]):
        subprocess.run([*git, *args], cwd=repo, env=env, check=True, capture_output=True)
    return repo


def _transcript(directory: Path, turns: int = 200) -> Path:
    """A JSONL transcript of `turns` assistant turns, each with one tool-use block."""
    path = directory / "transcript.jsonl"
    with path.open("w") as out:
        for n in range(turns):
            block = {"type": "tool_use", "id": f"toolu_{n:06d}", "name": "Read", "input": {}}
            record = {"type": "assistant", "message": {"content": [{"type": "text"}, block]}}
            out.write(json.dumps(record) + "\n")
    return path


def _plugin(directory: Path) -> Path:
    """A plugin's directory as Claude Code gives it in CLAUDE_PLUGIN_ROOT: the hook reads
    its version from the manifest."""
    manifest = directory / "plugin" / ".claude-plugin" / "plugin.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"name": "bench-plugin", "version": "1.4.2"}))
    return manifest.parents[1]


def _timed(command: list[str], stdin: bytes, env: dict[str, str]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one run; the CPU time (user + system) is the process's own."""
    began = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert process.stdin is not None
    with contextlib.suppress(BrokenPipeError):  # a command that reads nothing may exit first
        process.stdin.write(stdin)
    with contextlib.suppress(BrokenPipeError):
        process.stdin.close()
    _, status, usage = os.wait4(process.pid, 0)
    wall = (time.perf_counter() - began) * 1000
    process.returncode = os.waitstatus_to_exitcode(status)
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


def _stats(samples: list[float], cpu: list[float]) -> dict[str, Any]:
    return {
        "median_ms": round(median(samples), 2),
        "p90_ms": round(percentile(samples, 0.9), 2),
        "min_ms": round(min(samples), 2),
        "cpu_median_ms": round(median(cpu), 2),
        "runs": len(samples),
        "samples_ms": [round(v, 1) for v in samples],
    }


def hook_wall_time(*, rounds: int) -> dict[str, Any]:
    """Median wall times of the hook and of its baselines against each kind of server."""
    bin_dir = emitter_venv.prepare()
    python, hook = bin_dir / "python", bin_dir / "session-event-emit"
    names = ("hook", "hook_sync_baseline", "ref", "python_startup", "python_startup_nosite")
    samples: dict[str, dict[str, list[float]]] = {name: {c: [] for c in CASES} for name in names}
    cpu: dict[str, dict[str, list[float]]] = {name: {c: [] for c in CASES} for name in names}
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
        base_env = clean_env(HOME=str(user_home), CLAUDE_PLUGIN_ROOT=str(_plugin(tmp)))
        repo = _git_repository(tmp, base_env)
        for round_no in range(rounds):
            for case in CASES:
                hook_input = json.dumps(
                    {
                        "session_id": f"bench-{case}-{round_no}-{time.time_ns()}",
                        "cwd": str(repo),
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
                sync_post = [str(python), str(SYNC_POST), urls[case]]
                commands = [
                    ("hook", [str(hook)], hook_input, True),
                    ("ref", [str(hook), "ref", "owner-repo", "docs:setup"], hook_input, False),
                    ("python_startup", [str(python), "-c", "pass"], b"", False),
                    ("hook_sync_baseline", sync_post, hook_input, True),
                    ("python_startup_nosite", [str(python), "-S", "-c", "pass"], b"", False),
                ]
                for name, command, stdin, settle in (
                    commands if round_no % 2 == 0 else commands[::-1]
                ):
                    wall, cpu_ms = _timed(command, stdin, env)
                    samples[name][case].append(wall)
                    cpu[name][case].append(cpu_ms)
                    if settle:
                        time.sleep(SETTLE_S)
        # Senders still waiting on the hanging socket end at their deadline; wait them out
        # before the socket goes away so that none of them outlives the benchmark.
        time.sleep(float(SENDER_DEADLINE_S) + 0.5)
    for name in names:
        print(
            f"  {name:22} "
            + "  ".join(
                f"{case} {median(v):6.1f} ms (cpu {median(cpu[name][case]):5.1f})"
                for case, v in samples[name].items()
            )
        )
    pooled = {
        name: (
            [v for vs in samples[name].values() for v in vs],
            [v for vs in cpu[name].values() for v in vs],
        )
        for name in ("ref", "python_startup", "python_startup_nosite")
    }
    figures: dict[str, Any] = {
        name: {case: _stats(samples[name][case], cpu[name][case]) for case in CASES}
        for name in ("hook", "hook_sync_baseline")
    }
    for case in CASES:
        startup = samples["python_startup"][case]
        figures["hook"][case]["ratio_to_startup"] = round(
            paired_ratio(samples["hook"][case], startup), 3
        )
        figures["hook"][case]["cpu_ratio_to_startup"] = round(
            paired_ratio(cpu["hook"][case], cpu["python_startup"][case]), 3
        )
    all_startups = [v for case in CASES for v in samples["python_startup"][case]]
    all_refs = [v for case in CASES for v in samples["ref"][case]]
    return figures | {
        "ref": _stats(*pooled["ref"])
        | {"ratio_to_startup": round(paired_ratio(all_refs, all_startups), 3)},
        "python_startup_ms": round(median(pooled["python_startup"][0]), 2),
        "python_startup_nosite_ms": round(median(pooled["python_startup_nosite"][0]), 2),
        "python_startup": _stats(*pooled["python_startup"]),
        "python_startup_nosite": _stats(*pooled["python_startup_nosite"]),
        "hook_environment": {
            "python": str(python),
            "emitter_venv": "own venv, the emitter installed from this checkout",
            "installed_by": emitter_venv.installer(),
            "cwd": "a git repository with one commit",
            "plugin": "CLAUDE_PLUGIN_ROOT set: the version is read from its plugin.json",
        },
    }
