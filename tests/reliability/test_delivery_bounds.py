"""Bounds that hold behind any server and on any disk, seen from outside.

`disable` behind a server that drips its answer returns within the answer's bound, not
the sender's deadline; a full disk (a tiny tmpfs in a user and mount namespace of the
test's own, so any user can have one) stops no delivery, and `status` and `flush` name it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MakeInstall
from fault_server import FaultServer, event_key, running
from harness import wait_until
from test_delivery_races import sent_keys, start
from test_fault_matrix import queue_directly

ANSWER_BOUND_S = 5.0  # the sender's read timeout, which bounds a whole answer
FULL_DISK_DRIVER = Path(__file__).with_name("full_disk.py")


def test_disable_returns_within_the_answer_bound_behind_a_server_that_drips(
    make_install: MakeInstall,
) -> None:
    install = make_install(sender_deadline=60.0)
    with running(FaultServer(script=["drip"], hang_seconds=90.0)) as server:
        env = install.consent_by_config(server.url)
        queue_directly(install, 3, "drip")
        flush = start(install, "flush", "--deadline", "60", env=env)
        assert wait_until(lambda: bool(server.requests), 15)  # its answer is dripping in
        try:
            done = install.run("disable", url=None, env=env, timeout=ANSWER_BOUND_S + 15)
        except subprocess.TimeoutExpired:
            pytest.fail("`disable` waited for the dripping answer, past the answer's bound")
        finally:
            server.release.set()
        assert b"3 pending event(s)" in done.stdout
        try:
            flush.communicate(timeout=30)  # it stopped once consent was off
        except subprocess.TimeoutExpired:
            flush.kill()
            flush.communicate()
            pytest.fail("flush went on after `disable`")


def test_flush_behind_a_server_that_drips_says_the_answer_did_not_come_in_full(
    make_install: MakeInstall,
) -> None:
    install = make_install()
    with running(FaultServer(script=["drip"], hang_seconds=30.0)) as server:
        queue_directly(install, 1, "drip-words")
        done = install.flush(server.url, deadline=ANSWER_BOUND_S + 2)
        server.release.set()
    assert done.returncode == 1
    assert b"did not answer in full within" in done.stdout
    assert len(install.pending()) == 1


def _namespace_command() -> list[str] | None:
    """``unshare`` into a user and mount namespace of our own, if this machine allows it."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    probe = subprocess.run([unshare, "-rm", "true"], capture_output=True, check=False)
    return [unshare, "-rm"] if probe.returncode == 0 else None


def test_a_full_disk_stops_no_delivery_and_status_and_flush_name_it(
    make_install: MakeInstall,
) -> None:
    namespace = _namespace_command()
    if namespace is None:
        if os.environ.get("CI"):
            pytest.fail("unshare -rm is needed for the full-disk test (user namespaces)")
        pytest.skip("no user namespaces here: no full disk for an unprivileged test")
    install = make_install()
    install.state.mkdir(parents=True)
    with (
        running(FaultServer(script=["accepted"])) as sender_side,
        running(FaultServer(script=["accepted"])) as flush_side,
    ):
        env = install.env(None)
        mount = 'mount -t tmpfs -o size=256k,mode=0700 tmpfs "$0" && exec "$@"'
        done = subprocess.run(
            [
                *namespace,
                "sh",
                "-c",
                mount,
                str(install.state),
                sys.executable,
                str(FULL_DISK_DRIVER),
                str(install.state),
                sender_side.url,
                flush_side.url,
                json.dumps(env),
            ],
            capture_output=True,
            timeout=180,
            check=False,
            cwd=install.root,
            env=env,
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        said = json.loads(done.stdout)
        queued = sent_keys(flush_side)
    # The sender sent everything pending, though it could record nothing.
    assert len(sender_side.told("accepted")) == 5
    # `status` and `flush` say why the events are still shown pending: the disk.
    assert "no space left on the disk holding" in said["status"]["out"]
    assert "no space left on the disk holding" in said["flush"]["out"]
    assert said["flush"]["rc"] == 1
    # With room again, the next flush records every verdict, and nothing is left.
    assert said["flush_with_room"]["rc"] == 0, said["flush_with_room"]
    logged = {event_key(json.loads(line)["event"]) for line in said["log"]["out"].splitlines()}
    assert logged == sender_side.told("accepted") == queued
    assert json.loads(said["status_with_room"]["out"])["outbox_events"] == 0
