"""schemathesis against the OpenAPI document the live function serves at GET /openapi.json.

Every operation of the document is fuzzed through a real functions-framework server on
loopback with the "not a server error" check: no generated request, valid or not, may
get a 5xx. schemathesis runs as its command line (its pytest plugin does not load under
this pytest). ``RELIABILITY_OPENAPI_EXAMPLES`` sets the examples per operation (default
300: with the ingest, job, statistics and operator routes, several thousand cases in a
few minutes on 2 cores; raise it for a longer hunt, lower it for a quick run).
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

EXAMPLES = int(os.environ.get("RELIABILITY_OPENAPI_EXAMPLES", "300"))


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
        SESSION_EVENTS_READ_TOKEN="fuzz-read-token",
        SESSION_EVENTS_PUBLIC_STATS="on",
    )
    url = function.url + "/openapi.json"
    try:
        urllib.request.urlopen(url, timeout=10).close()
    except urllib.error.HTTPError as error:
        if error.code == 404:
            pytest.skip("the function does not serve GET /openapi.json yet")
        raise
    done = subprocess.run(
        [
            command,
            "run",
            url,
            "--checks",
            "not_a_server_error",
            "--max-examples",
            str(EXAMPLES),
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
        cwd=tmp_path,
    )
    report = done.stdout[-4000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    cases = re.search(r"(\d+) generated, (\d+) passed", done.stdout)
    assert cases is not None, report
    assert int(cases.group(1)) == int(cases.group(2)) > 0
    print(f"schemathesis: {cases.group(0)}")  # shown with -s or -rA
