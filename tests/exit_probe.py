"""Probes run in a child interpreter: a report when the process ends, and the imports of a run.

The bare hook ends with ``os._exit`` (no teardown, so no ``atexit``): the snippet AT_EXIT
defines ``at_exit(report)``, which runs `report` however the process ends, exactly once.
"""

import os
import subprocess
import sys
from pathlib import Path

import session_event_emitter

AT_EXIT = """
import atexit as _atexit, os as _os, sys as _sys
def at_exit(report):
    done = []
    def once():
        if not done:
            done.append(True)
            report()
            _sys.stderr.flush()
    _atexit.register(once)
    real_exit = _os._exit
    def exit_now(code):
        once()
        real_exit(code)
    _os._exit = exit_now
"""


def run_watching_imports(
    argv: list[str], stdin: bytes, watched: tuple[str, ...], *, without_site: bool = True
) -> subprocess.CompletedProcess[bytes]:
    """Run ``session-event-emit argv`` in a child interpreter; its stderr ends with the
    comma-separated `watched` modules the run loaded (those loaded before it do not count).

    Without site by default: the preloads of a test environment would hide an import.
    """
    probe = (
        AT_EXIT + "import sys\n"
        f"watched = {watched!r}\n"
        "before = {m for m in watched if m in sys.modules}\n"
        "at_exit(lambda: sys.stderr.write(\n"
        "    ','.join(m for m in watched if m in sys.modules and m not in before)))\n"
        f"sys.argv = ['session-event-emit', *{argv!r}]\n"
        "from session_event_emitter import cli\n"
        "cli.run()\n"
    )
    source = str(Path(session_event_emitter.__file__).parents[1])
    return subprocess.run(
        [sys.executable, *(["-S"] if without_site else []), "-c", probe],
        input=stdin,
        capture_output=True,
        timeout=10,
        check=False,
        env={**os.environ, "PYTHONPATH": source},
    )
