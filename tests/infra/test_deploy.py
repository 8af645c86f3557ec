"""infra/deploy.sh against a fake `gcloud` that records its argv: commands, idempotence, errors."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "infra" / "deploy.sh"
ENV_FILE = ROOT / "infra" / "env.prod.yaml"

PROJECT = "demo-proj"
REGION = "europe-west1"
SA = f"session-events-fn@{PROJECT}.iam.gserviceaccount.com"
DB = "--database=(default)"

NOT_FOUND = "ERROR: (gcloud) NOT_FOUND: the resource does not exist\n"
ALREADY_EXISTS = "ERROR: (gcloud) ALREADY_EXISTS: index already exists\n"

FAKE_GCLOUD = """\
#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_GCLOUD_CALLS"], "a") as calls:
    calls.write(json.dumps(args) + "\\n")
state_path = os.environ["FAKE_GCLOUD_STATE"]
seen = json.load(open(state_path)) if os.path.exists(state_path) else {{}}
with open(os.environ["FAKE_GCLOUD_ANSWERS"]) as answers_file:
    answers = json.load(answers_file)
line = " ".join(args)
for number, answer in enumerate(answers):
    if not line.startswith(answer["prefix"]):
        continue
    count = seen.get(str(number), 0)
    seen[str(number)] = count + 1
    with open(state_path, "w") as state:
        json.dump(seen, state)
    if "times" in answer and count >= answer["times"]:
        continue
    sys.stdout.write(answer.get("stdout", ""))
    sys.stderr.write(answer.get("stderr", ""))
    sys.exit(answer.get("rc", 0))
"""

APIS = [
    "cloudfunctions.googleapis.com",
    "run.googleapis.com",
    "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com",
    "firestore.googleapis.com",
    "secretmanager.googleapis.com",
    "cloudscheduler.googleapis.com",
]
JOB_SECRET = "session-events-job-token"
READ_SECRET = "session-events-read-token"
FUNCTION_URL = "https://session-events-abc.a.run.app"
JOB_TOKEN = "0123abcd" * 8

DESCRIBE_DB = ["firestore", "databases", "describe", DB, f"--project={PROJECT}"]
CREATE_DB = [
    "firestore", "databases", "create", DB, f"--location={REGION}",
    "--type=firestore-native", f"--project={PROJECT}", "--quiet",
]
FIRESTORE_SETUP = [
    [
        "firestore", "indexes", "composite", "create", DB,
        "--collection-group=session_events", "--query-scope=collection",
        "--field-config=field-path=identity_hash,order=ascending",
        "--field-config=field-path=ended_at,order=descending",
        f"--project={PROJECT}", "--quiet",
    ],
    [
        "firestore", "indexes", "composite", "create", DB,
        "--collection-group=session_events", "--query-scope=collection",
        "--field-config=field-path=github_hash,order=ascending",
        "--field-config=field-path=ended_at,order=descending",
        f"--project={PROJECT}", "--quiet",
    ],
    [
        "firestore", "indexes", "composite", "create", DB,
        "--collection-group=session_events", "--query-scope=collection",
        "--field-config=field-path=session_id_hash,order=ascending",
        "--field-config=field-path=received_at,order=ascending",
        f"--project={PROJECT}", "--quiet",
    ],
    [
        "firestore", "indexes", "fields", "update", "received_at", DB,
        "--collection-group=session_events", "--disable-indexes", f"--project={PROJECT}",
        "--quiet",
    ],
    [
        "firestore", "indexes", "fields", "update", "expire_at", DB,
        "--collection-group=session_events", "--disable-indexes", f"--project={PROJECT}",
        "--quiet",
    ],
    [
        "firestore", "indexes", "fields", "update", "body", DB,
        "--collection-group=session_events_rollups", "--disable-indexes",
        f"--project={PROJECT}", "--quiet",
    ],
    [
        "firestore", "fields", "ttls", "update", "expire_at", DB,
        "--collection-group=session_events", "--enable-ttl", f"--project={PROJECT}", "--quiet",
    ],
]
DESCRIBE_SA = ["iam", "service-accounts", "describe", SA, f"--project={PROJECT}"]
CREATE_SA = [
    "iam", "service-accounts", "create", "session-events-fn",
    "--display-name=session-events ingest function",
    "--description=Runs the session-events function; Firestore read/write only",
    f"--project={PROJECT}",
]
GRANT_DATASTORE = [
    "projects", "add-iam-policy-binding", PROJECT, f"--member=serviceAccount:{SA}",
    "--role=roles/datastore.user", "--condition=None", "--quiet",
]
DEPLOY = [
    "functions", "deploy", "session-events", "--gen2", "--runtime=python312",
    f"--region={REGION}", f"--project={PROJECT}", "--source=functions",
    "--entry-point=session_events", "--trigger-http", "--allow-unauthenticated",
    f"--service-account={SA}", "--memory=512Mi", "--cpu=1", "--concurrency=80",
    "--min-instances=0", "--max-instances=10", "--timeout=540s",
    "--env-vars-file=infra/env.prod.yaml",
    f"--set-secrets=SESSION_EVENTS_JOB_TOKEN={JOB_SECRET}:latest,"
    f"SESSION_EVENTS_READ_TOKEN={READ_SECRET}:latest",
    "--quiet",
]
DESCRIBE_FN = [
    "functions", "describe", "session-events", f"--region={REGION}", f"--project={PROJECT}",
    "--format=value(serviceConfig.uri)",
]


def describe_secret(name: str) -> list[str]:
    return ["secrets", "describe", name, f"--project={PROJECT}"]


def create_secret(name: str) -> list[str]:
    return [
        "secrets", "create", name, "--replication-policy=automatic", "--data-file=-",
        f"--project={PROJECT}",
    ]


def grant_secret(name: str) -> list[str]:
    return [
        "secrets", "add-iam-policy-binding", name, f"--member=serviceAccount:{SA}",
        "--role=roles/secretmanager.secretAccessor", f"--project={PROJECT}", "--quiet",
    ]


DESCRIBE_SECRET = describe_secret(JOB_SECRET)
CREATE_SECRET = create_secret(JOB_SECRET)
GRANT_JOB_SECRET = grant_secret(JOB_SECRET)
DESCRIBE_READ_SECRET = describe_secret(READ_SECRET)
CREATE_READ_SECRET = create_secret(READ_SECRET)
GRANT_READ_SECRET = grant_secret(READ_SECRET)
ACCESS_SECRET = ["secrets", "versions", "access", "latest", f"--secret={JOB_SECRET}",
                 f"--project={PROJECT}"]
DESCRIBE_SCHEDULE = [
    "scheduler", "jobs", "describe", "session-events-rollup", f"--location={REGION}",
    f"--project={PROJECT}",
]


def schedule(verb: str, token: str) -> list[str]:
    header = "--headers" if verb == "create" else "--update-headers"
    return [
        "scheduler", "jobs", verb, "http", "session-events-rollup", f"--location={REGION}",
        "--schedule=17 3 * * *", "--time-zone=Etc/UTC", f"--uri={FUNCTION_URL}/v1/jobs/rollup",
        "--http-method=POST", f"{header}=Authorization=Bearer {token}",
        "--attempt-deadline=600s", "--max-retry-attempts=3", "--min-backoff=300s",
        f"--project={PROJECT}", "--quiet",
    ]


FRESH_PROJECT = [
    ["services", "enable", *APIS, f"--project={PROJECT}"],
    DESCRIBE_DB,
    CREATE_DB,
    *FIRESTORE_SETUP,
    DESCRIBE_SECRET,
    CREATE_SECRET,
    DESCRIBE_READ_SECRET,
    CREATE_READ_SECRET,
    DESCRIBE_SA,
    CREATE_SA,
    GRANT_DATASTORE,
    GRANT_JOB_SECRET,
    GRANT_READ_SECRET,
    DEPLOY,
    DESCRIBE_FN,
    ACCESS_SECRET,
    DESCRIBE_SCHEDULE,
    schedule("create", JOB_TOKEN),
    DESCRIBE_FN,
]
CREATED = (CREATE_DB, CREATE_SA, CREATE_SECRET, CREATE_READ_SECRET)

# What a project answers when everything is missing, and when everything is already there.
READS = [
    {"prefix": "functions describe", "stdout": FUNCTION_URL + "\n"},
    {"prefix": "secrets versions access", "stdout": JOB_TOKEN},
]
MISSING = [
    {"prefix": "firestore databases describe", "rc": 1, "stderr": NOT_FOUND},
    {"prefix": "iam service-accounts describe", "rc": 1, "stderr": NOT_FOUND},
    {"prefix": "secrets describe", "rc": 1, "stderr": NOT_FOUND},
    {"prefix": "scheduler jobs describe", "rc": 1, "stderr": NOT_FOUND},
    *READS,
]
PRESENT = [
    {"prefix": "firestore indexes composite create", "rc": 1, "stderr": ALREADY_EXISTS},
    *READS,
]


class FakeGcloud:
    """A `gcloud` first on PATH that records each call's argv and answers from a table."""

    def __init__(self, tmp_path: Path) -> None:
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        script = self.bin / "gcloud"
        script.write_text(FAKE_GCLOUD.format(python=sys.executable))
        script.chmod(0o755)
        self.calls_path = tmp_path / "calls.jsonl"
        self.answers_path = tmp_path / "answers.json"
        self.state_path = tmp_path / "state.json"
        self.answer([])

    def answer(self, answers: list[dict[str, Any]]) -> None:
        self.answers_path.write_text(json.dumps(answers))
        self.state_path.unlink(missing_ok=True)

    def calls(self) -> list[list[str]]:
        if not self.calls_path.exists():
            return []
        return [json.loads(line) for line in self.calls_path.read_text().splitlines()]

    def forget(self) -> None:
        self.calls_path.unlink(missing_ok=True)

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        base = {
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(self.bin.parent),
            "FAKE_GCLOUD_CALLS": str(self.calls_path),
            "FAKE_GCLOUD_ANSWERS": str(self.answers_path),
            "FAKE_GCLOUD_STATE": str(self.state_path),
            "RETRY_SLEEP_S": "0",
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "REGION": REGION,
        }
        base.update(env)
        return subprocess.run(
            ["bash", str(SCRIPT), *args],
            env={key: value for key, value in base.items() if value != ""},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture
def gcloud(tmp_path: Path) -> FakeGcloud:
    return FakeGcloud(tmp_path)


def test_fresh_project_runs_every_step_in_order(gcloud: FakeGcloud) -> None:
    gcloud.answer(MISSING)
    result = gcloud.run()
    assert result.returncode == 0, result.stderr
    assert gcloud.calls() == FRESH_PROJECT


def test_second_run_creates_nothing_and_succeeds(gcloud: FakeGcloud) -> None:
    gcloud.answer(MISSING)
    assert gcloud.run().returncode == 0
    gcloud.forget()
    gcloud.answer(PRESENT)
    result = gcloud.run()
    assert result.returncode == 0, result.stderr
    calls = gcloud.calls()
    for created in CREATED:
        assert created not in calls
    expected = [call for call in FRESH_PROJECT if call not in CREATED]
    assert calls == [schedule("update", JOB_TOKEN) if c == schedule("create", JOB_TOKEN) else c
                     for c in expected]
    assert "(already exists)" in result.stderr


def test_deploy_prints_the_function_url(gcloud: FakeGcloud) -> None:
    gcloud.answer(PRESENT)
    result = gcloud.run()
    assert result.stdout.strip().endswith(FUNCTION_URL)


@pytest.mark.parametrize("variable", ["GOOGLE_CLOUD_PROJECT", "REGION"])
def test_missing_variable_is_named_and_nothing_runs(gcloud: FakeGcloud, variable: str) -> None:
    result = gcloud.run(**{variable: ""})
    assert result.returncode == 2
    assert f"{variable} is not set" in result.stderr
    assert gcloud.calls() == []


def test_dry_run_prints_the_exact_commands_and_runs_none(gcloud: FakeGcloud) -> None:
    result = gcloud.run(DRY_RUN="1")
    assert result.returncode == 0, result.stderr
    assert gcloud.calls() == []
    commands = [line for line in result.stdout.splitlines() if not line.startswith("#")]
    checks = (DESCRIBE_DB, DESCRIBE_SECRET, DESCRIBE_READ_SECRET, DESCRIBE_SA, DESCRIBE_SCHEDULE)
    reads = {len(FRESH_PROJECT) - 5, len(FRESH_PROJECT) - 4}  # the URL and the token
    planned = [
        c for i, c in enumerate(FRESH_PROJECT) if c not in checks and i not in reads
    ]
    planned = [
        [word.replace(FUNCTION_URL, "<function-url>").replace(JOB_TOKEN, "<job-token>")
         for word in c]
        for c in planned
    ]
    assert [shlex.split(line) for line in commands] == [["gcloud", *c] for c in planned]
    notes = [line for line in result.stdout.splitlines() if "answers NOT_FOUND" in line]
    assert [shlex.split(line.split(": ", 1)[1]) for line in notes] == [
        ["gcloud", *check] for check in checks
    ]


def test_dry_run_lines_are_shell_quoted(gcloud: FakeGcloud) -> None:
    result = gcloud.run(DRY_RUN="1")
    assert "'--database=(default)'" in result.stdout
    assert "'--display-name=session-events ingest function'" in result.stdout


def test_firestore_part_runs_alone(gcloud: FakeGcloud) -> None:
    gcloud.answer(MISSING)
    result = gcloud.run("firestore")
    assert result.returncode == 0, result.stderr
    assert gcloud.calls() == [
        ["services", "enable", "firestore.googleapis.com", f"--project={PROJECT}"],
        DESCRIBE_DB,
        CREATE_DB,
        *FIRESTORE_SETUP,
    ]


def test_unexpected_describe_failure_stops_before_any_change(gcloud: FakeGcloud) -> None:
    gcloud.answer(
        [{"prefix": "firestore databases describe", "rc": 1, "stderr": "PERMISSION_DENIED\n"}]
    )
    result = gcloud.run()
    assert result.returncode == 1
    assert "PERMISSION_DENIED" in result.stderr
    assert [call[:3] for call in gcloud.calls()] == [
        ["services", "enable", *APIS[:1]],
        DESCRIBE_DB[:3],
    ]


def test_failing_create_fails_the_deployment(gcloud: FakeGcloud) -> None:
    gcloud.answer(
        [
            *MISSING,
            {"prefix": "firestore databases create", "rc": 1, "stderr": "INVALID_ARGUMENT\n"},
        ]
    )
    result = gcloud.run()
    assert result.returncode == 1
    assert gcloud.calls()[-1] == CREATE_DB


def test_grant_is_retried_while_a_new_service_account_propagates(gcloud: FakeGcloud) -> None:
    not_yet = "ERROR: Service account session-events-fn does not exist.\n"
    gcloud.answer(
        [
            *MISSING,
            {"prefix": "projects add-iam-policy-binding", "rc": 1, "stderr": not_yet, "times": 2},
        ]
    )
    result = gcloud.run()
    assert result.returncode == 0, result.stderr
    assert gcloud.calls().count(GRANT_DATASTORE) == 3


def test_ingest_token_secret_is_granted_and_mounted(gcloud: FakeGcloud) -> None:
    gcloud.answer(PRESENT)
    result = gcloud.run(INGEST_TOKEN_SECRET="session-events-ingest-token")
    assert result.returncode == 0, result.stderr
    calls = gcloud.calls()
    assert "secretmanager.googleapis.com" in calls[0]
    assert [
        "secrets", "add-iam-policy-binding", "session-events-ingest-token",
        f"--member=serviceAccount:{SA}", "--role=roles/secretmanager.secretAccessor",
        f"--project={PROJECT}", "--quiet",
    ] in calls
    deploy = next(call for call in calls if call[:2] == ["functions", "deploy"])
    assert deploy[-2:] == [
        f"--set-secrets=SESSION_EVENTS_JOB_TOKEN={JOB_SECRET}:latest,"
        "SESSION_EVENTS_INGEST_TOKEN=session-events-ingest-token:latest,"
        f"SESSION_EVENTS_READ_TOKEN={READ_SECRET}:latest",
        "--quiet",
    ]


def test_a_named_read_token_secret_is_created_granted_and_mounted(gcloud: FakeGcloud) -> None:
    gcloud.answer(MISSING)
    assert gcloud.run(READ_TOKEN_SECRET="viewer-token").returncode == 0
    calls = gcloud.calls()
    assert describe_secret("viewer-token") in calls
    assert create_secret("viewer-token") in calls
    assert grant_secret("viewer-token") in calls
    deploy = next(call for call in calls if call[:2] == ["functions", "deploy"])
    assert deploy[-2] == (
        f"--set-secrets=SESSION_EVENTS_JOB_TOKEN={JOB_SECRET}:latest,"
        "SESSION_EVENTS_READ_TOKEN=viewer-token:latest"
    )


def test_dry_run_shows_the_read_token_secret_made_and_mounted(gcloud: FakeGcloud) -> None:
    printed = gcloud.run(DRY_RUN="1").stdout.splitlines()
    commands = [shlex.split(line) for line in printed if line.startswith("gcloud ")]
    assert ["gcloud", *CREATE_READ_SECRET] in commands
    assert ["gcloud", *GRANT_READ_SECRET] in commands
    deploy = next(c for c in commands if c[1:3] == ["functions", "deploy"])
    assert f"SESSION_EVENTS_READ_TOKEN={READ_SECRET}:latest" in deploy[-2]
    before = printed[printed.index(shlex.join(["gcloud", *CREATE_READ_SECRET])) - 1]
    assert before == "# the next command reads a random token on stdin"


def test_without_an_ingest_secret_the_job_and_read_tokens_are_mounted(
    gcloud: FakeGcloud,
) -> None:
    gcloud.answer(PRESENT)
    gcloud.run()
    deploy = next(call for call in gcloud.calls() if call[:2] == ["functions", "deploy"])
    assert [flag for flag in deploy if "secret" in flag] == [
        f"--set-secrets=SESSION_EVENTS_JOB_TOKEN={JOB_SECRET}:latest,"
        f"SESSION_EVENTS_READ_TOKEN={READ_SECRET}:latest"
    ]


def test_the_job_token_never_appears_in_the_output(gcloud: FakeGcloud) -> None:
    gcloud.answer(MISSING)
    result = gcloud.run()
    assert result.returncode == 0, result.stderr
    assert JOB_TOKEN not in result.stdout + result.stderr
    assert schedule("create", JOB_TOKEN) in gcloud.calls()


def test_a_new_job_token_is_random_and_passed_on_stdin(tmp_path: Path) -> None:
    script = SCRIPT.read_text()
    assert "--data-file=- --project=\"$PROJECT\" < <(random_token)" in script
    first = subprocess.run(["bash", "-c", _function(script, "random_token")],
                           capture_output=True, text=True, check=True).stdout
    second = subprocess.run(["bash", "-c", _function(script, "random_token")],
                            capture_output=True, text=True, check=True).stdout
    assert re.fullmatch(r"[0-9a-f]{64}", first) and first != second


def _function(script: str, name: str) -> str:
    start = script.index(f"{name}() {{")
    return script[start : script.index("\n}\n", start) + 3] + f"\n{name}\n"


def test_an_empty_job_token_secret_stops_before_the_schedule(gcloud: FakeGcloud) -> None:
    gcloud.answer([{"prefix": "functions describe", "stdout": FUNCTION_URL + "\n"}])
    result = gcloud.run()
    assert result.returncode == 1
    assert "holds no token" in result.stderr
    assert not any(call[:1] == ["scheduler"] for call in gcloud.calls())


def test_rollup_schedule_comes_from_the_environment(gcloud: FakeGcloud) -> None:
    gcloud.answer(MISSING)
    gcloud.run(ROLLUP_SCHEDULE="0 5 * * *", SCHEDULER_LOCATION="us-central1")
    create = next(call for call in gcloud.calls() if call[:3] == ["scheduler", "jobs", "create"])
    assert {"--schedule=0 5 * * *", "--location=us-central1"} <= set(create)


def test_sizing_comes_from_the_environment(gcloud: FakeGcloud) -> None:
    gcloud.run(MEMORY="1Gi", CPU="2", MIN_INSTANCES="1", MAX_INSTANCES="20")
    deploy = next(call for call in gcloud.calls() if call[:2] == ["functions", "deploy"])
    assert {"--memory=1Gi", "--cpu=2", "--min-instances=1", "--max-instances=20"} <= set(deploy)


def test_concurrency_above_one_needs_a_whole_cpu(gcloud: FakeGcloud) -> None:
    result = gcloud.run(CPU="0.5")
    assert result.returncode == 2
    assert "CPU >= 1" in result.stderr
    assert gcloud.calls() == []


def test_unknown_stage_names_the_missing_env_file(gcloud: FakeGcloud) -> None:
    result = gcloud.run(STAGE="nowhere")
    assert result.returncode == 2
    assert "infra/env.nowhere.yaml not found" in result.stderr
    assert gcloud.calls() == []


def test_unknown_part_is_refused(gcloud: FakeGcloud) -> None:
    result = gcloud.run("everything")
    assert result.returncode == 2
    assert gcloud.calls() == []


# ---- the checked-in env file ----------------------------------------------------------------

KNOWN_VARIABLES = {
    "SESSION_EVENTS_STORE",
    "SESSION_EVENTS_COLLECTION",
    "SESSION_EVENTS_RETENTION_DAYS",
    "SESSION_EVENTS_RATE_LIMIT_PER_MINUTE",
    "SESSION_EVENTS_STORE_TIMEOUT_S",
    "THREADS",
}
LINE = re.compile(r'^([A-Z][A-Z0-9_]*): "([^"\\]*)"$')


def parse_env_file(path: Path) -> dict[str, str]:
    """A flat YAML mapping of quoted strings, the only shape --env-vars-file needs."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = LINE.fullmatch(line)
        assert match, f"not a KEY: \"value\" line: {line!r}"
        assert match[1] not in values, f"duplicate key {match[1]}"
        values[match[1]] = match[2]
    return values


def test_env_file_is_flat_quoted_yaml_of_known_variables() -> None:
    values = parse_env_file(ENV_FILE)
    assert set(values) == KNOWN_VARIABLES
    assert values["SESSION_EVENTS_STORE"] == "firestore"
    assert values["SESSION_EVENTS_COLLECTION"] == "session_events"


def test_env_file_carries_no_ingest_token() -> None:
    assert "SESSION_EVENTS_INGEST_TOKEN" not in parse_env_file(ENV_FILE)


def test_env_file_is_valid_for_the_function_settings() -> None:
    from session_events.ingest.config import Settings

    settings = Settings.from_env(parse_env_file(ENV_FILE))
    assert settings.store == "firestore"
    assert settings.ingest_token is None


def test_threads_match_the_deployed_concurrency(gcloud: FakeGcloud) -> None:
    gcloud.run()
    deploy = next(call for call in gcloud.calls() if call[:2] == ["functions", "deploy"])
    threads = parse_env_file(ENV_FILE)["THREADS"]
    assert f"--concurrency={threads}" in deploy


# ---- the flags exist in the real gcloud ------------------------------------------------------


def _help_text(gcloud_path: str, words: list[str]) -> str:
    answer = subprocess.run(
        [gcloud_path, *words, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1", "PAGER": "cat"},
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    return re.sub(r"\x1b\[[0-9;]*m", "", answer.stdout)


def test_every_flag_used_exists_in_the_installed_gcloud(gcloud: FakeGcloud) -> None:
    real = shutil.which("gcloud")
    if real is None:
        if os.environ.get("CI"):
            pytest.fail("gcloud is not installed: the flag check must run in CI")
        pytest.skip("gcloud is not installed")
    printed = gcloud.run(DRY_RUN="1", INGEST_TOKEN_SECRET="token").stdout.splitlines()
    commands = [shlex.split(line) for line in printed if line.startswith("gcloud ")]
    commands += [
        shlex.split(line.split(": ", 1)[1]) for line in printed if "answers NOT_FOUND" in line
    ]
    checked: dict[tuple[str, ...], set[str]] = {}
    for command in commands:
        words = [word for word in command[1:5] if re.fullmatch(r"[a-z][a-z-]*", word)]
        path = tuple(words)
        flags = {word.split("=", 1)[0] for word in command if word.startswith("--")}
        checked.setdefault(path, set()).update(flags)
    assert len(checked) >= 12
    for path, flags in checked.items():
        text = _help_text(real, list(path))
        for flag in flags:
            assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text), (
                f"gcloud {' '.join(path)} has no {flag}"
            )
