"""The ingest path's validator is schema.py's pydantic models: same schema, same answers."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from support import MAIN, ROOT, event

from session_events.contract.schema import BatchEnvelope, SessionEvent
from session_events.core.timestamps import format_timestamp
from session_events.ingest import validator
from session_events.ingest.validator import batch_items, validate_event, validation_issues

FIELDS = list(SessionEvent.model_fields)


def _comparable(schema: Any) -> Any:
    """A core schema without what only names or documents it (the class, ref, metadata)."""
    if isinstance(schema, dict):
        return {
            key: _comparable(value)
            for key, value in schema.items()
            if key not in ("cls", "ref", "metadata")
        }
    if isinstance(schema, list):
        return [_comparable(item) for item in schema]
    return schema


def test_event_core_schema_is_the_one_pydantic_builds_from_the_model() -> None:
    assert _comparable(validator.EVENT_SCHEMA) == _comparable(SessionEvent.__pydantic_core_schema__)


def test_batch_core_schema_is_the_one_pydantic_builds_from_the_model() -> None:
    assert _comparable(validator.BATCH_SCHEMA) == _comparable(
        BatchEnvelope.__pydantic_core_schema__
    )


def _rejection(error: ValidationError) -> tuple[Any, ...]:
    """Everything a rejection tells: the client's issues and pydantic's own error list."""
    errors = error.errors(include_url=False, include_input=False, include_context=False)
    return validation_issues(error), errors, error.error_count(), error.title


def _event_outcome(validate: Any, payload: Any) -> tuple[str, Any]:
    try:
        parsed = validate(payload)
    except ValidationError as error:
        return "invalid", _rejection(error)
    return "valid", {name: getattr(parsed, name) for name in FIELDS}


def _batch_outcome(items: Any, payload: Any) -> tuple[str, Any]:
    try:
        return "valid", items(payload)
    except ValidationError as error:
        return "invalid", _rejection(error)


def _soon(hours: float) -> str:
    return format_timestamp(datetime.now(UTC) + timedelta(hours=hours))


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=80),
)
candidates: dict[str, st.SearchStrategy[Any]] = {
    "identity_hash": st.text(alphabet="0123456789abcdefA\n", min_size=62, max_size=66),
    "session_id_hash": st.text(alphabet="0123456789abcdef", min_size=63, max_size=65),
    "github_hash": st.text(alphabet="0123456789abcdefg", min_size=63, max_size=65),
    "ended_at": st.sampled_from(
        [
            "2026-05-22T12:34:56.000Z",
            "2026-05-22t12:34:56z",
            "2026-05-22T12:34:56.123456789+02:00",
            "2026-05-22T12:34:56+24:00",
            "2026-02-30T12:00:00Z",
            "2019-12-31T23:59:59Z",
            "2026-05-22",
            "2026-05-22T12:34:56Zjunk",
            _soon(23),
            _soon(25),
        ]
    )
    | st.datetimes().map(lambda moment: moment.isoformat()),
    "tool_count": st.integers(min_value=-2, max_value=1_000_002)
    | st.floats(min_value=-2, max_value=2e6)
    | st.sampled_from([5.0, 1e6, 1_000_001.0, "3"]),
    "tokens_saved": st.integers(min_value=-2, max_value=1_000_000_002)
    | st.sampled_from([5.5, 7.0, True]),
    "plugin_version": st.text(alphabet="0123456789.+_-aZ /", max_size=66),
    "branch_sha": st.text(alphabet="0123456789abcdefABCDEFg", min_size=5, max_size=42),
    "discovery_refs": st.lists(st.text(alphabet="ab0.:_-/ ", min_size=0, max_size=130), max_size=3)
    | st.lists(st.just("r"), min_size=199, max_size=202),
    "schema_version": st.sampled_from([1, 2, 1.0, True, "1"]),
}
payloads = st.fixed_dictionaries(
    {},
    optional={name: strategy | scalars for name, strategy in candidates.items()}
    | {"unknown": scalars, "__proto__": scalars},
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads)
@example(payload=event())
@example(payload=event(branch_sha="ABCDEF0", tool_count=5.0, discovery_refs=None))
def test_validator_accepts_and_rejects_exactly_as_the_model_does(payload: dict[str, Any]) -> None:
    ours = _event_outcome(validate_event, payload)
    assert ours == _event_outcome(SessionEvent.model_validate, payload)


@settings(max_examples=200, deadline=None)
@given(
    payload=st.one_of(
        scalars,
        st.lists(scalars, max_size=3),
        st.fixed_dictionaries(
            {},
            optional={
                "events": st.lists(scalars, max_size=101) | scalars,
                "extra": scalars,
            },
        ),
    )
)
def test_batch_envelope_is_read_exactly_as_the_model_reads_it(payload: Any) -> None:
    def model_items(value: Any) -> list[Any]:
        return BatchEnvelope.model_validate(value).events

    assert _batch_outcome(batch_items, payload) == _batch_outcome(model_items, payload)


def test_valid_event_values_are_the_models_values() -> None:
    payload = event(ended_at="2026-05-22T14:34:56.5+02:00", branch_sha="ABCDEF0", tool_count=5.0)
    parsed = validate_event(payload)
    model = SessionEvent.model_validate(payload)
    assert {name: getattr(parsed, name) for name in FIELDS} == model.model_dump()
    assert parsed.refs == model.refs


def test_validated_event_cannot_be_changed() -> None:
    parsed = validate_event(event())
    with pytest.raises(AttributeError):
        parsed.tool_count = 7  # type: ignore[misc]
    assert parsed.tool_count == event()["tool_count"]


def test_answering_an_event_builds_no_pydantic_model() -> None:
    """A cold instance answers its first 202 without importing pydantic's model machinery."""
    script = f"""
import json, sys
import functions_framework
app = functions_framework.create_app(target="session_events", source={MAIN!r})
answer = app.test_client().post("/v1/session-events", json={json.dumps(event())})
print(json.dumps([answer.status_code, sorted(m for m in sys.modules if m.startswith("pydantic"))]))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"SESSION_EVENTS_STORE": "memory", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    status, modules = json.loads(done.stdout.strip().splitlines()[-1])
    assert status == 202
    assert "pydantic.main" not in modules
    assert "pydantic" not in modules
