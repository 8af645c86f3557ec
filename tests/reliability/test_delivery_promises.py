"""The emitter's three promises, end to end: the real function on loopback, the hook as a process.

Each test is one way a promise was seen broken: an event sent after `disable`; events
deleted by answers that say nothing about them; a backlog blocked by a rate limit; the
sender holding its caller's pipe; a deadline that was not hard; a relative home; a full
endpoint URL; an unusable URL nobody named.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MakeInstall, StartFunction
from fault_server import FaultServer, running
from harness import Install, hook_input, wait_until
from loopback import LoopbackServer, SilentHandler
from test_fault_matrix import queue_directly

HANG_GUARD_S = 15.0


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A port that takes connections and never answers a byte."""
    with LoopbackServer(SilentHandler) as server:
        yield server.url


# -- never sends an unconsented event ----------------------------------------------------


def test_after_disable_a_sender_already_running_sends_nothing(
    start_function: StartFunction, make_install: MakeInstall
) -> None:
    install = make_install(sender_deadline=30.0)
    down = socket.socket()  # the server is down: connections are taken and dropped
    down.bind(("127.0.0.1", 0))
    down.listen(16)
    port = down.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = install.consent_by_config(url)
    done = install.run(url=url, stdin=hook_input("sent-after-disable"), env=env)
    assert done.returncode == 0
    down.settimeout(HANG_GUARD_S)
    down.accept()[0].close()  # the sender is under way: it has tried once

    done = install.run("disable", url=url, env=env)
    assert b"1 pending event(s) and 0 dead letter(s) deleted" in done.stdout
    down.close()
    function = start_function(port=port)  # back well within the sender's deadline
    assert install.wait_senders_gone(install.sender_deadline + 10)
    assert function.count() == 0


# -- never loses a consented event -------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    [
        "400_html",
        "400_json_validation",
        "401",
        "403",
        "404",
        "413",
        "415",
        "500",
        "malformed_json",
        "wrong_count",
    ],
)
def test_answers_that_say_nothing_about_the_events_keep_all_of_them(
    start_function: StartFunction, install: Install, kind: str
) -> None:
    pairs = queue_directly(install, 250, f"kept-{kind}")
    with running(FaultServer(script=[kind])) as proxy:
        for _ in range(10):  # more runs than any attempt limit
            done = install.flush(proxy.url, deadline=0.5)
            assert done.returncode == 1
        status = install.run("status", url=proxy.url)
    assert len(install.pending()) == 250
    assert not (install.state / "dead-letter").exists() or not any(
        (install.state / "dead-letter").iterdir()
    )
    text = status.stdout.decode()
    assert "250 event(s) pending" in text
    assert " delivered " not in text and "pending" in text
    assert "HTTP" in text  # the last answer, in words

    function = start_function()  # the URL fixed: everything arrives, once
    done = install.flush(function.url, deadline=20)
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(function.pairs()) == pairs
    assert function.count() == 250
    assert install.pending() == []


def test_a_backlog_drains_through_a_rate_limit_below_one_batch(
    start_function: StartFunction, install: Install
) -> None:
    # 90 a minute: a batch of 100 is more than the limit. The backlog of 101 is one full
    # batch and one event that must wait its true Retry-After (about 8 s) within the run.
    function = start_function(SESSION_EVENTS_RATE_LIMIT_PER_MINUTE="90")
    pairs = queue_directly(install, 101, "rate-limited")
    for _ in range(3):  # each run takes what the limit allows within its deadline
        if install.flush(function.url, deadline=30).returncode == 0:
            break
    assert set(function.pairs()) == pairs
    assert install.pending() == []
    assert '"status":429' in function.log_text()  # the limit was met, and waited out


# -- never delays the user ---------------------------------------------------------------


def test_the_sender_keeps_none_of_its_callers_descriptors(
    make_install: MakeInstall, silent_url: str
) -> None:
    install = make_install(sender_deadline=20.0)
    read_end, write_end = os.pipe()
    try:
        hook = subprocess.Popen(
            [sys.executable, "-m", "session_event_emitter"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(write_end,),  # a pipe the hook inherits from its caller
            env=install.env(silent_url),
            cwd=install.root,
        )
        os.close(write_end)
        write_end = -1
        out, _ = hook.communicate(hook_input("callers-pipe"), timeout=HANG_GUARD_S)
        assert (hook.returncode, out) == (0, b"")
        assert wait_until(lambda: bool(install.senders()), 5)
        ready, _, _ = select.select([read_end], [], [], HANG_GUARD_S)
        assert ready, "the caller's pipe is still open in the sender"
        assert os.read(read_end, 1) == b""  # end of file: nobody holds the write end
        assert install.senders(), "the end of file came before the sender ended"
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


def test_the_sender_ends_by_its_deadline_even_while_an_import_hangs(
    install: Install, tmp_path: Path, silent_url: str
) -> None:
    slow = tmp_path / "slow-site"
    (slow / "requests").mkdir(parents=True)
    (slow / "requests" / "__init__.py").write_text("import time\ntime.sleep(120)\n")
    queue_directly(install, 1, "hung-import")
    sender = subprocess.Popen(
        [sys.executable, "-m", "session_event_emitter.send.sender", "--deadline", "1"],
        env=install.env(silent_url, PYTHONPATH=str(slow)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/",
    )
    try:
        sender.wait(timeout=HANG_GUARD_S)
    except subprocess.TimeoutExpired:
        sender.kill()
        sender.wait()
        pytest.fail("the sender outlived its deadline while an import hung")
    assert len(install.pending()) == 1  # cut short, nothing lost


def test_a_relative_home_is_found_by_the_detached_sender(
    start_function: StartFunction, install: Install
) -> None:
    function = start_function()
    env = install.env(function.url, SESSION_EVENTS_HOME="relative-state")
    done = install.run(url=function.url, stdin=hook_input("relative-home"), env=env)
    assert done.returncode == 0
    assert wait_until(lambda: function.count() == 1, install.sender_deadline + 10)
    # The sender writes its audit line just after the server's answer: wait for it too.
    audit_log = install.root / "relative-state" / "delivered.jsonl"
    assert wait_until(audit_log.exists, install.sender_deadline + 10)


# -- URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["enable --url", "SESSION_EVENTS_URL", "config file"])
def test_a_full_endpoint_url_is_understood_wherever_it_is_given(
    start_function: StartFunction, install: Install, where: str
) -> None:
    function = start_function()
    endpoint = function.url + "/v1/session-events"
    env = install.env(None)
    if where == "enable --url":
        assert install.run("enable", "--url", endpoint, url=None, env=env).returncode == 0
    elif where == "SESSION_EVENTS_URL":
        env["SESSION_EVENTS_URL"] = endpoint
    else:
        install.state.mkdir(parents=True, exist_ok=True)
        (install.state / "config.json").write_text(json.dumps({"url": endpoint}))
    done = install.run(url=None, stdin=hook_input(f"full-url-{where}"), env=env)
    assert done.returncode == 0
    assert wait_until(lambda: function.count() == 1, install.sender_deadline + 10)
    status = install.run("status", url=None, env=env).stdout.decode()
    assert "batches" in status


@pytest.mark.parametrize("bad", ["localhost:8080", "htp://typo.example", "http://h:99999"])
def test_an_unusable_url_is_named_by_status_flush_and_enable(install: Install, bad: str) -> None:
    env = install.env(bad)
    status = install.run("status", url=None, env=env)
    flush = install.run("flush", url=None, env=env)
    enable = install.run("enable", "--url", bad, url=None, env=env)
    assert bad in status.stdout.decode()
    assert bad in flush.stderr.decode() and flush.returncode == 1
    assert bad in enable.stderr.decode() and enable.returncode == 2


def test_an_event_kept_under_an_unusable_url_is_delivered_once_it_is_fixed(
    start_function: StartFunction, install: Install
) -> None:
    env = install.env("localhost:8080")
    assert install.run(url=None, stdin=hook_input("fixed-url"), env=env).returncode == 0
    assert install.wait_senders_gone(install.sender_deadline + 10)
    assert len(install.pending()) == 1
    function = start_function()
    assert install.flush(function.url).returncode == 0
    assert function.count() == 1


@pytest.mark.parametrize(
    ("variables", "words"),
    [
        ({"SESSION_EVENTS_TELEMETRY": "off"}, b"nothing stored: telemetry is off"),
        ({"SESSION_EVENTS_URL": ""}, b"nothing stored: no endpoint is configured"),
    ],
)
def test_the_hooks_debug_output_says_why_it_stored_nothing(
    install: Install, variables: dict[str, str], words: bytes
) -> None:
    env = install.env("http://127.0.0.1:9", SESSION_EVENTS_DEBUG="1", **variables)
    if variables.get("SESSION_EVENTS_URL") == "":
        del env["SESSION_EVENTS_URL"]
    done = install.run(url=None, stdin=hook_input("debug"), env=env)
    assert (done.returncode, done.stdout) == (0, b"")
    assert words in done.stderr
    with contextlib.suppress(FileNotFoundError):
        assert list((install.state / "outbox").iterdir()) == []
