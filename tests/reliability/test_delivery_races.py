"""The last races of delivery, each reproduced from outside with real processes.

`disable` racing `retry-dead`, `flush` and hooks; first hooks racing on a fresh install; a
sender killed at the moment its verdicts are recorded; `retry-dead` racing hooks at the
outbox's cap. Every race runs ``RELIABILITY_RACE_TRIALS`` times (default 12) with a fixed
seed, each trial bounded in time; a trial that breaks the promise is named in the failure.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import MakeInstall
from fault_server import FaultServer, event_key, running
from harness import Install, hook_input, wait_until
from loopback import free_port
from test_fault_matrix import queue_directly

from session_event_emitter.outbox import Outbox

TRIALS = int(os.environ.get("RELIABILITY_RACE_TRIALS", "12"))
SEED = 20
GUARD_S = 30.0  # a command that has not returned by then is hung, whatever the race


def start(
    install: Install, *args: str, env: dict[str, str], stdin: int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """An emitter command as its own process (no arguments: the hook), output kept."""
    return subprocess.Popen(
        [sys.executable, "-m", "session_event_emitter", *args],
        env=env,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=install.root,
    )


def start_hook(install: Install, session: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    hook = start(install, env=env, stdin=subprocess.PIPE)
    assert hook.stdin is not None
    hook.stdin.write(hook_input(session))
    hook.stdin.close()
    hook.stdin = None  # given in full: `finish` has nothing more to send
    return hook


def finish(*processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        try:
            process.communicate(timeout=GUARD_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            pytest.fail(f"{process.args[3:]} did not return within {GUARD_S:g} s")


def dead_letter_directly(install: Install, count: int, label: str) -> set[str]:
    """`count` events the server called invalid, through the emitter's own outbox API."""
    queue_directly(install, count, label)
    outbox = Outbox(install.state)
    keys = set()
    for entry in outbox.entries():
        outbox.dead_letter(entry, "invalid", {"issues": []})
        keys.add(entry.key)
    return keys


def status(install: Install, env: dict[str, str]) -> dict[str, object]:
    done = install.run("status", "--json", url=None, env=env)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def sent_keys(server: FaultServer, since: int = 0) -> set[str]:
    return {key for request in server.requests[since:] for key in request.keys}


# -- 1. `disable` leaves nothing that any later command can send ---------------------------


@pytest.mark.slow
def test_disable_leaves_nothing_a_later_command_can_send_whatever_runs_beside_it(
    make_install: MakeInstall,
) -> None:
    """`disable` and `retry-dead` at once, with a `flush` or a hook beside them in some trials.

    Once they have all returned, nothing is pending and no dead letter is left: nothing a
    later `enable` could send (a `disable` stopped half-way is the next test's).
    """
    rng = random.Random(SEED)
    broken: list[str] = []
    with running(FaultServer(script=["accepted"])) as server:
        for trial in range(TRIALS):
            install = make_install(f"disable-{trial}", sender_deadline=5.0)
            env = consent_in_config(install, server.url)
            dead_letter_directly(install, 60, f"dead-{trial}")
            queue_directly(install, 10, f"pending-{trial}")
            beside = rng.choice(["nothing", "flush", "hook"])
            started = [start(install, "retry-dead", env=env)]
            time.sleep(rng.uniform(0.0, 0.2))
            started.append(start(install, "disable", env=env))
            if beside == "flush":
                started.append(start(install, "flush", "--deadline", "5", env=env))
            elif beside == "hook":
                started.append(start_hook(install, f"beside-{trial}", env))
            finish(*started)
            assert install.wait_senders_gone(install.sender_deadline + 10)
            left = status(install, env)
            if left["outbox_events"] or left["dead_letters"]:
                broken.append(
                    f"trial {trial} ({beside} beside): {left['outbox_events']} pending and "
                    f"{left['dead_letters']} dead letters left after `disable`"
                )
    assert broken == []


def consent_in_config(install: Install, url: str) -> dict[str, str]:
    """Consent and endpoint in the config file (as `enable --url` records them), not in a
    variable; the install's environment without them."""
    install.state.mkdir(parents=True, exist_ok=True)
    (install.state / "config.json").write_text(json.dumps({"telemetry": "on", "url": url}))
    env = install.env(None)
    del env["SESSION_EVENTS_TELEMETRY"]
    return env


def test_a_disable_killed_while_it_waits_leaves_nothing_a_later_enable_sends(
    make_install: MakeInstall,
) -> None:
    """`disable` is killed while it waits for a request in flight (a Ctrl-C, a logout)."""
    install = make_install(sender_deadline=30.0)
    with running(FaultServer(script=["hang", "accepted"], hang_seconds=30.0)) as server:
        env = install.consent_by_config(server.url)
        before = {event_key(event) for event in _queued(install, 5, "interrupted")}
        sender = start(install, "flush", "--deadline", "30", env=env)
        assert wait_until(lambda: bool(server.requests), 15)  # its request hangs
        disable = start(install, "disable", env=env)
        assert disable.stderr is not None
        assert b"waiting" in disable.stderr.readline()  # for the request in flight
        disable.kill()
        disable.communicate()
        sender.kill()
        sender.communicate()
        seen = len(server.requests)
        assert install.run("enable", url=None, env=env).returncode == 0
        install.flush(server.url, deadline=5)
        assert sent_keys(server, seen) & before == set()
    assert status(install, env)["outbox_events"] == 0


def _queued(install: Install, count: int, label: str) -> list[dict[str, object]]:
    queue_directly(install, count, label)
    return [dict(event) for event in install.pending_events()]


# -- 2. one install, one identity -----------------------------------------------------------


def hooks_at_once(install: Install, env: dict[str, str], count: int, label: str) -> None:
    """`count` hooks started together, their input given to all of them at the same moment."""
    hooks = [start(install, env=env, stdin=subprocess.PIPE) for _ in range(count)]
    time.sleep(0.2)  # every hook started and waits for its input
    for number, hook in enumerate(hooks):
        assert hook.stdin is not None
        hook.stdin.write(hook_input(f"{label}-{number}"))
    for hook in hooks:
        assert hook.stdin is not None
        hook.stdin.close()
    for hook in hooks:
        assert hook.wait(GUARD_S) == 0
    install.kill_senders()  # they have nowhere to send; the next trial needs the cores


@pytest.mark.slow
@pytest.mark.parametrize("original", [False, True], ids=["own-install-id", "with-ashlr-dir"])
def test_first_hooks_racing_on_a_fresh_install_send_one_identity(
    make_install: MakeInstall, original: bool
) -> None:
    """Eight hooks at once on a fresh install; with ``~/.ashlr/`` there, the id they agree on
    is the original's ``machine-id`` too."""
    url = f"http://127.0.0.1:{free_port()}"  # refused: the events stay in the outbox
    split: list[str] = []
    for trial in range(TRIALS):
        install = make_install(f"fresh-{trial}", sender_deadline=0.5)
        if original:
            (install.user_home / ".ashlr").mkdir(parents=True)
        hooks_at_once(install, install.env(url), 8, f"first-{trial}")
        events = install.pending_events()
        identities = {event["identity_hash"] for event in events}
        kept = (install.state / "install-id").read_text().strip()
        if original and (install.user_home / ".ashlr" / "machine-id").read_text() != kept:
            split.append(f"trial {trial}: machine-id and install-id differ")
        if len(events) != 8 or len(identities) != 1:
            split.append(f"trial {trial}: {len(events)} events, {len(identities)} identities")
    assert split == []


def test_hooks_that_find_an_empty_install_id_agree_on_one_identity(
    make_install: MakeInstall,
) -> None:
    """An empty ``install-id``: what a hook reads while the first one is writing it, and
    what an older version's first run, stopped at that moment, leaves for good."""
    install = make_install(sender_deadline=0.5)
    install.state.mkdir(parents=True)
    (install.state / "install-id").write_text("")
    hooks_at_once(install, install.env(f"http://127.0.0.1:{free_port()}"), 8, "empty-id")
    identities = {event["identity_hash"] for event in install.pending_events()}
    assert len(identities) == 1
    assert (install.state / "install-id").read_text().strip()  # and it is kept


# -- 3. the audit log misses no verdict ------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("verdict", "events"), [("accepted", 110), ("invalid", 30)])
def test_log_lists_every_event_that_got_a_verdict_when_the_sender_is_killed_as_it_records_them(
    make_install: MakeInstall, verdict: str, events: int
) -> None:
    """The sender is killed (`kill -9`) once the k-th event of its answer has left the outbox.

    Afterwards, and after a flush that finishes the work, `log` lists every event the server
    gave a verdict (a line twice is allowed, a line missing is not).
    """
    rng = random.Random(SEED)
    missing: list[str] = []
    with running(FaultServer(script=[verdict])) as server:
        for trial in range(TRIALS):
            install = make_install(f"killed-{trial}", sender_deadline=10.0)
            queue_directly(install, events, f"killed-{trial}-{verdict}")
            seen = len(server.requests)
            sender = subprocess.Popen(
                [sys.executable, "-m", "session_event_emitter.send.sender", "--deadline", "10"],
                env=install.env(server.url),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd="/",
            )
            gone_at = rng.randint(1, events - 5)  # in the first answer or the second
            outbox = str(install.outbox)
            deadline = time.monotonic() + GUARD_S
            while sender.poll() is None and time.monotonic() < deadline:
                if len(os.listdir(outbox)) <= events - gone_at:
                    break
            sender.send_signal(signal.SIGKILL)
            sender.wait()
            install.flush(server.url, deadline=10)
            told = {
                key
                for request in server.requests[seen:]
                for key, said in request.told.items()
                if said == verdict
            }
            done = install.run("log", "-n", "0", url=server.url)
            logged = {event_key(json.loads(line)["event"]) for line in done.stdout.splitlines()}
            if not told or told - logged:
                missing.append(f"trial {trial}: {len(told - logged)} of {len(told)} not in log")
    assert missing == []


# -- 4. retry-dead puts back only what fits --------------------------------------------------

CAP = 1000  # the outbox's count bound
ROOM = 10
DEAD = 30
HOOKS = 5


@pytest.mark.slow
def test_retry_dead_while_hooks_fill_the_outbox_evicts_no_pending_event(
    make_install: MakeInstall,
) -> None:
    """The outbox 10 short of its cap, 30 dead letters, and 5 hooks storing events while
    `retry-dead` runs. Hooks and what was pending all stay pending; no dead letter is lost."""
    rng = random.Random(SEED)
    template = make_install("template")
    dead_letter_directly(template, DEAD, "cap-dead")
    queue_directly(template, CAP - ROOM, "cap-pending")
    first = {path.name for path in template.pending()}
    dead = {path.name for path in (template.state / "dead-letter").iterdir()}
    url = f"http://127.0.0.1:{free_port()}"
    broken: list[str] = []
    for trial in range(max(TRIALS // 2, 1)):
        install = make_install(f"cap-{trial}", sender_deadline=1.0)
        shutil.copytree(template.state, install.state)
        env = install.env(url)
        retry = start(install, "retry-dead", env=env)
        time.sleep(rng.uniform(0.0, 0.15))
        hooks = [start_hook(install, f"cap-{trial}-{n}", env) for n in range(HOOKS)]
        finish(retry, *hooks)
        install.kill_senders()  # they have nowhere to send; the next trial needs the cores
        now = status(install, env)
        kept = {path.name for path in install.pending()}
        evicted = {k: v for k, v in dict(now["counters"]).items() if k.startswith("evicted")}
        hooks_kept = len(kept - first - dead)  # (a dead letter put back may be in outbox/)
        total = int(now["outbox_events"]) + int(now["dead_letters"])
        lost = CAP - ROOM + HOOKS + DEAD - total
        if evicted or not first <= kept or hooks_kept != HOOKS or lost:
            broken.append(
                f"trial {trial}: evicted {evicted}, {len(first - kept)} first events gone, "
                f"{hooks_kept} hook events kept, {lost} events lost in all"
            )
    assert broken == []
