"""schemathesis against the OpenAPI document the live function serves at GET /openapi.json.

Every operation of the document is fuzzed through a real functions-framework server on
loopback with the "not a server error" check: no generated request, valid or not, may
get a 5xx. schemathesis runs as its command line (its pytest plugin does not load under
this pytest). ``RELIABILITY_OPENAPI_EXAMPLES`` sets the examples per operation (default
400, about a thousand ingest cases in a few minutes on 2 cores; raise it for a longer
hunt, lower it for a quick run).
The read side's operations (statistics, their page and the operator's view, with the read
token) get a twentieth of that: their inputs are a few bounded query parameters; erasure
gets a quarter: its input is one string. The job route is
left out: without its token it only answers 401, and with it every case would run a job.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import StartFunction

EXAMPLES = int(os.environ.get("RELIABILITY_OPENAPI_EXAMPLES", "400"))
READ_EXAMPLES = max(10, EXAMPLES // 20)
READ_TOKEN = "fuzz-read-token"
READ_PATHS = r"^/(admin|v1/stats/|stats)"
FORGET_EXAMPLES = max(10, EXAMPLES // 4)


def schemathesis_command() -> str:
    beside = Path(sys.executable).with_name("schemathesis")
    found = str(beside) if beside.exists() else shutil.which("schemathesis")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("schemathesis is not installed: the OpenAPI fuzz must run in CI")
        pytest.skip("schemathesis is not installed (tests/requirements.txt)")
    return found


@pytest.mark.slow
def test_no_generated_request_gets_a_server_error(
    start_function: StartFunction, tmp_path: Path
) -> None:
    command = schemathesis_command()
    function = start_function(
        SESSION_EVENTS_RATE_LIMIT_PER_MINUTE="0",
        SESSION_EVENTS_JOB_TOKEN="fuzz-job-token",
        SESSION_EVENTS_READ_TOKEN=READ_TOKEN,
        SESSION_EVENTS_PUBLIC_STATS="on",
    )
    url = function.url + "/openapi.json"
    try:
        urllib.request.urlopen(url, timeout=10).close()
    except urllib.error.HTTPError as error:
        if error.code == 404:
            pytest.skip("the function does not serve GET /openapi.json yet")
        raise
    ingest = _schemathesis(
        command,
        url,
        tmp_path,
        EXAMPLES,
        "--exclude-path-regex",
        r"^/(admin|v1/jobs/|v1/stats/|stats|v1/forget)",
    )
    forget = _schemathesis(
        command, url, tmp_path, FORGET_EXAMPLES, "--include-path-regex", r"^/v1/forget$"
    )
    read = _schemathesis(
        command,
        url,
        tmp_path,
        READ_EXAMPLES,
        "--include-path-regex",
        READ_PATHS,
        "--header",
        f"Authorization: Bearer {READ_TOKEN}",
    )
    print(f"schemathesis: ingest {ingest}; erasure {forget}; read side {read}")  # -s or -rA


def _schemathesis(command: str, url: str, cwd: Path, examples: int, *selection: str) -> str:
    """Run schemathesis on some operations; every generated case must pass."""
    done = subprocess.run(
        [
            command,
            "run",
            url,
            *selection,
            "--checks",
            "not_a_server_error",
            "--max-examples",
            str(examples),
            "--seed",
            "1",
            "--workers",
            "2",
            "--request-timeout",
            "10",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=cwd,
    )
    report = done.stdout[-4000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    cases = re.search(r"(\d+) generated, (\d+) passed", done.stdout)
    assert cases is not None, report
    assert int(cases.group(1)) == int(cases.group(2)) > 0
    return cases.group(0)
