"""Hook wall time: process start to exit of ``session-event-emit`` vs its baselines.

The emitter runs from a venv of its own (emitter_venv.py), inside a git repository, against
three servers: (a) the real function answering 202, (b) a refused port, (c) a socket that
accepts and never answers. Baselines, measured with the same interpreter in the same
interleaved rounds: ``python -c pass`` (the interpreter's own start, site included, as the
hook's console script pays it), ``python -S -c pass`` (without site), and a script that
posts synchronously with a 500 ms timeout (what the original emitter did).

``ref`` (``session-event-emit ref REF...``, which a PostToolUse hook runs after every tool
call) is timed in the same rounds: it touches no network, so it is one figure. So is the
hook of a machine that has been offline for weeks (``hook_full_outbox``: the refused
server, with the outbox at its bound of 1,000 pending events).

The sender a hook starts takes a few hundred milliseconds of CPU (it loads an HTTP
client); each command is timed only once the senders of earlier runs have ended, so no
figure, the baselines included, is measured beside one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import emitter_venv
from common import clean_env, event, median, paired_ratio, percentile
from git_repository import repository
from servers import hanging_server, refused_port, serve

from session_event_emitter.outbox import Outbox, OutboxLimits

SYNC_POST = Path(__file__).resolve().parent / "sync_post.py"
CASES = ("ok", "refused", "hanging")
SENDER_DEADLINE_S = "1"
SETTLE_S = 0.35  # where /proc cannot tell when a sender ended: its start-up is over by then
SENDER_MODULE = b"session_event_emitter.send.sender"
VALGRIND = shutil.which("valgrind")


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


def _full_outbox(state: Path) -> Path:
    """A state folder whose outbox holds as many pending events as it may keep, stored as
    hooks store them, the oldest an hour old."""
    outbox = Outbox(state)
    moment = time.time() - 3600
    for n in range(OutboxLimits().max_events):
        key = hashlib.sha256(f"pending-{n}".encode()).hexdigest()
        outbox.put(key, event(session_id_hash=key), now=moment + n)
        os.utime(outbox.path_of(key), (moment + n, moment + n))
    return state


def _senders_running(marker: bytes) -> bool | None:
    """Whether a sender whose environment names `marker` (this run's folder) still runs;
    None where /proc cannot tell."""
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if SENDER_MODULE not in cmdline.read():
                    continue
            with open(f"/proc/{pid}/environ", "rb") as environ:
                if marker in environ.read():
                    return True
        except OSError:
            continue  # ended meanwhile, or not ours to read
    return False


def _wait_for_senders(marker: bytes) -> None:
    """Return once the senders started by this run's hooks have ended (each ends by its
    deadline), or after SETTLE_S where that cannot be seen."""
    give_up = time.monotonic() + float(SENDER_DEADLINE_S) + 5
    while time.monotonic() < give_up:
        running = _senders_running(marker)
        if running is None:
            time.sleep(SETTLE_S)
            return
        if not running:
            return
        time.sleep(0.01)


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
    names = (
        "hook",
        "hook_sync_baseline",
        "ref",
        "hook_full_outbox",
        "python_startup",
        "python_startup_nosite",
    )
    samples: dict[str, dict[str, list[float]]] = {name: {c: [] for c in CASES} for name in names}
    cpu: dict[str, dict[str, list[float]]] = {name: {c: [] for c in CASES} for name in names}
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-hook-")))
        marker = str(tmp).encode()  # every sender of this run has it in SESSION_EVENTS_HOME
        urls = {
            "ok": f"http://127.0.0.1:{stack.enter_context(serve('function', tmp / 'data')).port}",
            "refused": f"http://127.0.0.1:{refused_port()}",
            "hanging": f"http://127.0.0.1:{stack.enter_context(hanging_server())}",
        }
        transcript = _transcript(tmp)
        user_home = tmp / "user"
        user_home.mkdir()
        base_env = clean_env(HOME=str(user_home), CLAUDE_PLUGIN_ROOT=str(_plugin(tmp)))
        repo = repository(tmp / "repo", env=base_env)  # where a coding session usually ends
        full_state = _full_outbox(tmp / "state-full")
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
                    ("hook", [str(hook)], hook_input, env),
                    ("ref", [str(hook), "ref", "owner-repo", "docs:setup"], hook_input, env),
                    ("python_startup", [str(python), "-c", "pass"], b"", env),
                    ("hook_sync_baseline", sync_post, hook_input, env),
                    ("python_startup_nosite", [str(python), "-S", "-c", "pass"], b"", env),
                ]
                if case == "refused":
                    full_env = {**env, "SESSION_EVENTS_HOME": str(full_state)}
                    commands.insert(1, ("hook_full_outbox", [str(hook)], hook_input, full_env))
                for name, command, stdin, run_env in (
                    commands if round_no % 2 == 0 else commands[::-1]
                ):
                    _wait_for_senders(marker)
                    wall, cpu_ms = _timed(command, stdin, run_env)
                    samples[name][case].append(wall)
                    cpu[name][case].append(cpu_ms)
        # Senders still waiting on the hanging socket end at their deadline; wait them out
        # before the socket goes away so that none of them outlives the benchmark.
        _wait_for_senders(marker)
    for name in names:
        print(
            f"  {name:22} "
            + "  ".join(
                f"{case} {median(v):6.1f} ms (cpu {median(cpu[name][case]):5.1f})"
                for case, v in samples[name].items()
                if v
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
    full = _stats(samples["hook_full_outbox"]["refused"], cpu["hook_full_outbox"]["refused"])
    full["pending"] = OutboxLimits().max_events
    full["ratio_to_startup"] = round(
        paired_ratio(samples["hook_full_outbox"]["refused"], samples["python_startup"]["refused"]),
        3,
    )
    full["cpu_ratio_to_startup"] = round(
        paired_ratio(cpu["hook_full_outbox"]["refused"], cpu["python_startup"]["refused"]), 3
    )
    figures["hook_full_outbox"] = full
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
            "between_runs": "each command starts once earlier runs' senders have ended",
        },
    }


def _instructions(command: list[str], stdin: bytes, env: dict[str, str]) -> int:
    """User-space instructions of one run, counted by valgrind's callgrind (the process
    alone: the sender a hook starts is not followed)."""
    done = subprocess.run(
        [VALGRIND or "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    counted = re.search(rb"Collected\s*:\s*(\d+)", done.stderr)
    if done.returncode != 0 or counted is None:
        raise CallgrindFailed(done.stderr.decode(errors="replace").strip()[-300:])
    return int(counted.group(1))


class CallgrindFailed(Exception):
    """valgrind itself could not count (a machine it does not support, say)."""


def hook_instructions(*, rounds: int) -> dict[str, Any]:
    """The hook's instructions beside the interpreter's start: the one figure of the hook
    that a busy machine does not move. Reported only where valgrind is installed."""
    if VALGRIND is None:
        print("  instructions: skipped (valgrind is not installed)")
        return {"skipped": "valgrind is not installed"}
    bin_dir = emitter_venv.prepare()
    python, hook = bin_dir / "python", bin_dir / "session-event-emit"
    counts: dict[str, list[int]] = {"hook": [], "python_startup": []}
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as folder:
        tmp = Path(folder)
        user_home = tmp / "user"
        user_home.mkdir()
        base_env = clean_env(HOME=str(user_home), CLAUDE_PLUGIN_ROOT=str(_plugin(tmp)))
        repo = repository(tmp / "repo", env=base_env)
        transcript = _transcript(tmp)
        marker = str(tmp).encode()
        env = {
            **base_env,
            "SESSION_EVENTS_TELEMETRY": "on",
            "SESSION_EVENTS_URL": f"http://127.0.0.1:{refused_port()}",
            "SESSION_EVENTS_HOME": str(tmp / "state"),
            "SESSION_EVENTS_SENDER_DEADLINE": SENDER_DEADLINE_S,
        }
        for round_no in range(rounds + 1):
            hook_input = json.dumps(
                {
                    "session_id": f"bench-instructions-{round_no}",
                    "cwd": str(repo),
                    "transcript_path": str(transcript),
                    "reason": "exit",
                }
            ).encode()
            try:
                count = _instructions([str(python), str(hook)], hook_input, env)
                if round_no:  # the first run makes the install id and folders, once per install
                    counts["hook"].append(count)
                    counts["python_startup"].append(
                        _instructions([str(python), "-c", "pass"], b"", env)
                    )
            except CallgrindFailed as failure:
                print(f"  instructions: not counted, valgrind failed: {failure}")
                return {"skipped": f"valgrind failed: {failure}"}
            finally:
                _wait_for_senders(marker)
    hook_median, startup_median = median(counts["hook"]), median(counts["python_startup"])
    print(
        f"  instructions: hook {hook_median / 1e6:.1f} M, python -c pass"
        f" {startup_median / 1e6:.1f} M ({hook_median / startup_median:.2f}x)"
    )
    return {
        "hook_millions": round(hook_median / 1e6, 2),
        "python_startup_millions": round(startup_median / 1e6, 2),
        "ratio_to_startup": round(hook_median / startup_median, 3),
        "rounds": rounds,
        "case": "refused server, as the wall-time rounds run it (not an install's first event)",
    }
