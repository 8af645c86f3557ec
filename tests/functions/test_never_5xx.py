"""Property tests: no body or header a client can send gets a 5xx or an echo of its input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import BATCH_URL, MAIN, URL, event

from session_events.runtime import reset_runtime

MARKER = "ECHO-MARKER"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
field_values = st.one_of(
    json_values,
    st.just(MARKER),
    st.text(alphabet="0123456789abcdefABCDEF\n ", min_size=60, max_size=70),
)
events = st.fixed_dictionaries(
    {},
    optional={
        name: field_values
        for name in (
            "identity_hash",
            "session_id_hash",
            "ended_at",
            "tool_count",
            "tokens_saved",
            "plugin_version",
            "github_hash",
            "branch_sha",
            "discovery_refs",
            "schema_version",
        )
    },
).map(lambda changes: {**event(), **changes})
headers = st.fixed_dictionaries(
    {},
    optional={
        "Content-Type": st.sampled_from(
            ["application/json", "text/plain", "application/json; charset=utf-8", "", MARKER]
        ),
        "Content-Encoding": st.sampled_from(["gzip", "identity", "br", MARKER]),
        "Authorization": st.sampled_from(["Bearer x", MARKER, ""]),
    },
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    mp = pytest.MonkeyPatch()
    mp.setenv("SESSION_EVENTS_STORE", "sqlite")
    mp.setenv("SESSION_EVENTS_SQLITE_PATH", str(Path(tmp_path_factory.mktemp("db")) / "e.db"))
    mp.setenv("SESSION_EVENTS_RATE_LIMIT_PER_MINUTE", "0")
    reset_runtime()
    yield functions_framework.create_app(target="session_events", source=MAIN).test_client()
    mp.undo()
    reset_runtime()


def check(answer: Any) -> None:
    assert answer.status_code < 500
    text = answer.get_data(as_text=True)
    assert MARKER not in text
    assert json.loads(text)["ok"] in (True, False)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=events, extra=headers)
def test_any_event_shape_gets_a_4xx_or_2xx_without_echo(
    client: Any, payload: dict[str, Any], extra: dict[str, str]
) -> None:
    check(client.post(URL, data=json.dumps(payload), headers=extra))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=st.lists(events | json_values, max_size=5), wrap=st.booleans())
def test_any_batch_gets_a_200_or_4xx_without_echo(
    client: Any, payload: list[Any], wrap: bool
) -> None:
    body = {"events": payload} if wrap else payload
    check(client.post(BATCH_URL, data=json.dumps(body), content_type="application/json"))


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=300), path=st.sampled_from([URL, BATCH_URL]))
def test_any_bytes_get_a_4xx(client: Any, body: bytes, path: str) -> None:
    answer = client.post(path, data=body, content_type="application/json")
    assert 400 <= answer.status_code < 500
