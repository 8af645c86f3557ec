"""The published contract (infra/openapi.json, infra/session-event.schema.json) matches the code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from flask.testing import FlaskClient

from session_events.contract import openapi
from session_events.contract.schema import SessionEvent
from session_events.ingest.http import ROUTES
from session_events.read.routes import PUBLISHED_ROUTES
from session_events.runtime import reset_runtime

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = str(ROOT / "functions" / "main.py")
REGENERATE = "run: cd functions && python -m session_events.contract.openapi --write ../infra/"

ERROR_CODES = {
    "invalid_json",
    "validation_failed",
    "unauthorized",
    "not_found",
    "method_not_allowed",
    "payload_too_large",
    "unsupported_media_type",
    "rate_limited",
    "store_unavailable",
    "internal",
    "disabled",
}


def checked_in(name: str) -> dict[str, Any]:
    return dict(json.loads((INFRA / name).read_text(encoding="utf-8")))


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


# ---- the checked-in files ------------------------------------------------------------------


@pytest.mark.parametrize("name", [openapi.SCHEMA_FILE, openapi.OPENAPI_FILE])
def test_checked_in_file_matches_what_the_code_builds(name: str) -> None:
    text = (INFRA / name).read_text(encoding="utf-8")
    assert text == openapi.published_files()[name], f"infra/{name} is out of date; {REGENERATE}"


def test_published_files_are_stable_across_builds() -> None:
    assert openapi.published_files() == openapi.published_files()
    for text in openapi.published_files().values():
        assert text.endswith("}\n")
        assert openapi.render(json.loads(text)) == text


def test_check_mode_accepts_infra_and_flags_a_stale_copy(tmp_path: Path) -> None:
    assert openapi.main(["--check", str(INFRA)]) == 0
    assert openapi.main(["--write", str(tmp_path)]) == 0
    (tmp_path / openapi.OPENAPI_FILE).write_text("{}\n")
    assert openapi.main(["--check", str(tmp_path)]) == 1


# ---- the event schema ----------------------------------------------------------------------


def test_event_schema_has_every_model_field_and_nothing_else() -> None:
    schema = checked_in(openapi.SCHEMA_FILE)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert list(schema["properties"]) == list(SessionEvent.model_fields)
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {
        "identity_hash",
        "session_id_hash",
        "ended_at",
        "tool_count",
        "tokens_saved",
        "plugin_version",
    }


def test_event_schema_carries_the_contract_limits() -> None:
    props = checked_in(openapi.SCHEMA_FILE)["properties"]
    assert props["identity_hash"]["pattern"] == "^[0-9a-f]{64}$"
    assert (props["tool_count"]["minimum"], props["tool_count"]["maximum"]) == (0, 1_000_000)
    assert props["tokens_saved"]["maximum"] == 1_000_000_000
    assert props["ended_at"]["format"] == "date-time"
    assert "2020-01-01" in props["ended_at"]["description"]
    assert props["discovery_refs"]["anyOf"][0]["maxItems"] == 200
    assert props["schema_version"]["const"] == 1
    assert all(prop.get("description") for prop in props.values())


def test_openapi_embeds_the_same_event_schema() -> None:
    document = checked_in(openapi.OPENAPI_FILE)
    event = checked_in(openapi.SCHEMA_FILE)
    embedded = document["components"]["schemas"]["SessionEvent"]
    assert embedded["properties"] == event["properties"]
    assert embedded["required"] == event["required"]


# ---- the OpenAPI document -------------------------------------------------------------------


def test_openapi_is_3_1_and_every_ref_resolves() -> None:
    document = checked_in(openapi.OPENAPI_FILE)
    assert document["openapi"] == "3.1.0"
    for ref in refs(document):
        assert ref.startswith("#/"), ref
        assert resolve(document, {"$ref": ref}) is not None


def test_openapi_paths_and_methods_are_the_routes() -> None:
    paths = checked_in(openapi.OPENAPI_FILE)["paths"]
    assert {path: tuple(sorted(ops)) for path, ops in paths.items()} == {
        path: tuple(sorted(method.lower() for method in methods))
        for path, methods in {**ROUTES, **PUBLISHED_ROUTES}.items()
    }


@pytest.mark.parametrize(
    ("path", "codes"),
    [
        ("/v1/session-events", {"202", "400", "401", "413", "415", "429", "500", "503"}),
        ("/v1/session-events/batch", {"200", "400", "401", "413", "415", "429", "500", "503"}),
        ("/v1/forget", {"200", "400", "401", "413", "415", "429", "500", "503"}),
    ],
)
def test_ingest_operations_list_every_answer(path: str, codes: set[str]) -> None:
    operation = checked_in(openapi.OPENAPI_FILE)["paths"][path]["post"]
    assert set(operation["responses"]) == codes
    assert operation["security"] == [{}, {"ingestToken": []}]
    assert operation["requestBody"]["required"] is True


def test_readyz_can_answer_503_and_healthz_cannot() -> None:
    paths = checked_in(openapi.OPENAPI_FILE)["paths"]
    assert "503" in paths["/readyz"]["get"]["responses"]
    assert "503" not in paths["/healthz"]["get"]["responses"]


def test_every_error_code_is_published() -> None:
    document = checked_in(openapi.OPENAPI_FILE)
    published = set()
    for answer in document["components"]["responses"].values():
        schema = answer["content"]["application/json"]["schema"]
        published |= set(schema["allOf"][1]["properties"]["error"]["enum"])
    assert published == ERROR_CODES


@pytest.mark.parametrize(
    ("response", "header"),
    [
        ("RateLimited", "Retry-After"),
        ("StoreUnavailable", "Retry-After"),
        ("MethodNotAllowed", "Allow"),
        ("Unauthorized", "WWW-Authenticate"),
    ],
)
def test_answers_publish_their_headers(response: str, header: str) -> None:
    answers = checked_in(openapi.OPENAPI_FILE)["components"]["responses"]
    assert header in answers[response]["headers"]


def test_batch_request_takes_at_most_100_events() -> None:
    document = checked_in(openapi.OPENAPI_FILE)
    batch = document["components"]["schemas"]["BatchRequest"]
    assert batch["properties"]["events"]["maxItems"] == 100
    assert batch["properties"]["events"]["items"] == {"$ref": "#/components/schemas/SessionEvent"}
    result = document["components"]["schemas"]["BatchItemResult"]
    assert result["properties"]["status"]["enum"] == ["accepted", "duplicate", "invalid", "retry"]


def test_bearer_token_is_optional() -> None:
    scheme = checked_in(openapi.OPENAPI_FILE)["components"]["securitySchemes"]["ingestToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


# ---- served by the function -----------------------------------------------------------------


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Iterator[FlaskClient]:
    monkeypatch.setenv("SESSION_EVENTS_STORE", "memory")
    monkeypatch.setenv("SESSION_EVENTS_INGEST_TOKEN", "private-deployment-token")
    reset_runtime()
    yield functions_framework.create_app(target="session_events", source=MAIN).test_client()
    reset_runtime()


def test_get_openapi_json_serves_the_published_document(app: FlaskClient) -> None:
    answer = app.get("/openapi.json")
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    assert answer.get_json() == checked_in(openapi.OPENAPI_FILE)


def test_openapi_json_needs_no_ingest_token_and_answers_head(app: FlaskClient) -> None:
    assert app.head("/openapi.json").status_code == 200
    assert app.post("/v1/session-events", json={}).status_code == 401


def test_other_methods_on_openapi_json_are_405_with_allow(app: FlaskClient) -> None:
    answer = app.post("/openapi.json", json={})
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET, HEAD"
