"""`make demo`: the function served on loopback with a realistic synthetic history, rolled up.

It serves the function (functions-framework, SQLite in a temporary folder), sends weeks
of sessions from dozens of installs through the real batch endpoint (several plugin
versions adopted over time, discovery refs from common to rare, some installs linked to
a GitHub login), runs the rollup job through `POST /v1/jobs/rollup` with a job token, and
prints the operator viewer's URL with its token and the public page's URL. Ctrl-C (or
TERM) stops the function and deletes the folder. Standard library only, like serve.py.

usage: python infra/demo.py [--port 8080] [--identities 60] [--weeks 6] [--seed 7]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import random
import secrets
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import serve

BATCH_SIZE = 100
# Plugin versions in the order they were released, each one adopted a little later.
VERSIONS = ("1.2.0", "1.3.0", "1.3.1", "1.4.0")
# Discovery refs with how likely one session is to touch them: common ones clear any
# publication threshold, rare ones stay under it and are never named in public.
REFS = {
    "skill:grep": 0.45,
    "doc:readme": 0.30,
    "docs:quickstart": 0.22,
    "mcp:search": 0.18,
    "workflow:edit": 0.15,
    "skill:refactor": 0.06,
    "doc:changelog": 0.02,
    "skill:experimental": 0.004,
}
LOGGED_IN_SHARE = 0.3


@dataclass(frozen=True)
class Install:
    """One synthetic install: its id, how busy it is, when it joined, its GitHub login."""

    install_id: str
    sessions_per_week: float
    joined_days_ago: int
    login: str | None
    upgrade_lag_days: int


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def quarter_salt(moment: datetime) -> str:
    """The emitter's salt of the UTC quarter of `moment`, e.g. salt_2026Q4."""
    return f"salt_{moment.year}Q{(moment.month - 1) // 3 + 1}"


def _version_at(days_ago: float, lag: int, span_days: int) -> str:
    """The version an install runs `days_ago`: releases spread over the span, adopted late."""
    step = span_days / len(VERSIONS)
    released = [span_days - step * (index + 0.5) for index in range(len(VERSIONS))]
    usable = [v for v, at in zip(VERSIONS, released, strict=True) if days_ago <= at - lag]
    return usable[-1] if usable else VERSIONS[0]


def history(identities: int, weeks: int, seed: int, now: datetime) -> Iterator[dict[str, object]]:
    """Events of `identities` installs over the last `weeks` weeks, oldest install first."""
    rng = random.Random(seed)
    span_days = weeks * 7
    installs = [
        Install(
            install_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            sessions_per_week=rng.choice((1, 2, 3, 5, 8, 12, 20)) * rng.uniform(0.7, 1.3),
            joined_days_ago=rng.randint(0, span_days - 1) if rng.random() < 0.3 else span_days,
            login=f"dev-{number:03d}" if rng.random() < LOGGED_IN_SHARE else None,
            upgrade_lag_days=rng.randint(0, 10),
        )
        for number in range(identities)
    ]
    for install in installs:
        days = min(install.joined_days_ago, span_days)
        count = max(1, round(install.sessions_per_week * days / 7 * rng.uniform(0.8, 1.2)))
        for _ in range(count):
            days_ago = rng.uniform(0, days)
            ended = now - timedelta(days=days_ago, minutes=rng.randint(1, 30))
            if ended.weekday() >= 5 and rng.random() < 0.6:  # quieter weekends
                ended -= timedelta(days=2)
            version = _version_at(days_ago, install.upgrade_lag_days, span_days)
            yield _event(rng, install, ended, version)


def _event(
    rng: random.Random, install: Install, ended: datetime, version: str
) -> dict[str, object]:
    salt = quarter_salt(ended)
    tools = int(rng.lognormvariate(3.0, 0.9))
    event: dict[str, object] = {
        "identity_hash": _sha256(install.install_id + salt),
        "session_id_hash": _sha256(str(uuid.UUID(int=rng.getrandbits(128), version=4))),
        "ended_at": ended.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ended.microsecond // 1000:03d}Z",
        "tool_count": min(tools, 1_000_000),
        "tokens_saved": int(tools * rng.uniform(50, 600)),
        "plugin_version": version,
        "github_hash": _sha256(install.login + salt) if install.login else None,
        "discovery_refs": [ref for ref, share in REFS.items() if rng.random() < share],
    }
    if rng.random() < 0.85:  # most sessions run inside a git repository
        event["branch_sha"] = f"{rng.getrandbits(48):012x}"
    return event


class Client:
    """Requests to the served function on loopback."""

    def __init__(self, port: int) -> None:
        self.port = port

    def call(
        self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            data = None if body is None else json.dumps(body).encode("utf-8")
            sent = {"Content-Type": "application/json", **(headers or {})}
            connection.request(method, path, body=data, headers=sent)
            answer = connection.getresponse()
            return answer.status, answer.read()
        finally:
            connection.close()


def send_history(client: Client, events: list[dict[str, object]]) -> int:
    """Post `events` in batches through the ingest endpoint; the number accepted."""
    accepted = 0
    for start in range(0, len(events), BATCH_SIZE):
        chunk = events[start : start + BATCH_SIZE]
        status, body = client.call("POST", "/v1/session-events/batch", {"events": chunk})
        if status != 200:
            raise RuntimeError(f"the batch endpoint answered {status}: {body[:200]!r}")
        results = json.loads(body)["results"]
        accepted += sum(1 for result in results if result["status"] == "accepted")
    return accepted


def run_rollup(client: Client, job_token: str) -> dict[str, object]:
    status, body = client.call(
        "POST", "/v1/jobs/rollup", headers={"Authorization": f"Bearer {job_token}"}
    )
    if status != 200:
        raise RuntimeError(f"the rollup job answered {status}: {body[:200]!r}")
    answer: dict[str, object] = json.loads(body)
    return answer


def public_page(client: Client) -> str:
    """The path of the public statistics page, once the function serves it."""
    path = "/stats/"
    if client.call("GET", path)[0] == 200:
        return path
    raise RuntimeError("no public statistics page (is SESSION_EVENTS_PUBLIC_STATS on?)")


def demo_env(folder: Path, weeks: int, read_token: str, job_token: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SESSION_EVENTS_", "FIRESTORE_"))
    }
    env.update(
        SESSION_EVENTS_STORE="sqlite",
        SESSION_EVENTS_SQLITE_PATH=str(folder / "session_events.db"),
        SESSION_EVENTS_READ_TOKEN=read_token,
        SESSION_EVENTS_JOB_TOKEN=job_token,
        SESSION_EVENTS_PUBLIC_STATS="on",
        # The plugin's released versions and its own ref names are public facts: declared,
        # they are always in the weekly releases (with noise); any other key needs a count
        # far above what a demo sends.
        SESSION_EVENTS_PUBLIC_VERSIONS=",".join(VERSIONS),
        SESSION_EVENTS_PUBLIC_REFS=",".join(REFS),
        SESSION_EVENTS_ROLLUP_DAYS=str(min(90, weeks * 7 + 1)),
    )
    return env


def _say(text: str = "", stream: IO[str] = sys.stdout) -> None:
    print(text, file=stream, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo.py", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--identities", type=int, default=60, help="installs (default 60)")
    parser.add_argument("--weeks", type=int, default=6, help="weeks of history (default 6)")
    parser.add_argument("--seed", type=int, default=7, help="the history's random seed")
    args = parser.parse_args(argv)
    if not (1 <= args.identities <= 10_000 and 1 <= args.weeks <= 12):
        parser.error("--identities must be 1..10000 and --weeks 1..12")
    try:
        serve.check_port_free("127.0.0.1", args.port, command="make demo")
    except serve.PortTaken as taken:
        _say(f"session-events demo: {taken}", sys.stderr)
        return 1
    serve.exit_on_stop_signals()
    folder = Path(tempfile.mkdtemp(prefix="session-events-demo-"))
    read_token, job_token = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    log_path = folder / "function.log"
    with log_path.open("wb") as log:
        process = serve.start(
            "127.0.0.1", args.port, demo_env(folder, args.weeks, read_token, job_token), log
        )
        try:
            return _show(process, args, read_token, job_token, folder, log_path)
        except KeyboardInterrupt:
            return 130
        finally:
            serve.stop(process)
            shutil.rmtree(folder, ignore_errors=True)
            _say("session-events demo: stopped; its data is deleted")


def _show(
    process: serve.Server,
    args: argparse.Namespace,
    read_token: str,
    job_token: str,
    folder: Path,
    log_path: Path,
) -> int:
    base = f"http://127.0.0.1:{args.port}"
    try:
        serve.wait_serving(base, process)
        client = Client(args.port)
        events = sorted(
            history(args.identities, args.weeks, args.seed, datetime.now(UTC)),
            key=lambda event: str(event["ended_at"]),
        )
        accepted = send_history(client, events)
        rolled = run_rollup(client, job_token)
        public = public_page(client)
    except (RuntimeError, OSError) as failed:
        _say(f"session-events demo: {failed}; the function's last lines:", sys.stderr)
        _say(log_path.read_text(errors="replace")[-3000:], sys.stderr)
        return 1
    identities = len({event["identity_hash"] for event in events})
    logged_in = len({event["identity_hash"] for event in events if event.get("github_hash")})
    versions = len({event["plugin_version"] for event in events})
    basic = base64.b64encode(f"demo:{read_token}".encode()).decode()
    _say(f"session-events demo: serving on {base} (SQLite in {folder})")
    _say(
        f"  sent {len(events)} sessions through POST /v1/session-events/batch "
        f"({accepted} accepted): {identities} identities over {args.weeks} weeks, "
        f"{versions} plugin versions, {logged_in} identities logged in"
    )
    days = rolled.get("days")
    _say(
        f"  rolled up through POST /v1/jobs/rollup: {len(days) if isinstance(days, list) else '?'}"
        f" days, {rolled.get('events')} events"
    )
    _say()
    _say(f"  operator's viewer:  {base}/admin/")
    _say(f"                      user: any name, password: {read_token}")
    _say(f"                      (or the header  Authorization: Basic {basic})")
    _say(f"                      curl -u :{read_token} '{base}/admin/sessions?days=7'")
    _say(f"  public statistics:  {base}{public}")
    _say()
    _say("  Ctrl-C stops the function and deletes the demo's data.")
    return process.wait()


if __name__ == "__main__":
    sys.exit(main())
