"""Which answers are verdicts about events: only this API's own JSON shapes."""

from __future__ import annotations

import json

import pytest

from session_event_emitter.send.answers import Refusal, Verdict, read_batch, read_single
from session_event_emitter.send.transport import Answer


def _answer(status: int, body: object, kind: str = "application/json") -> Answer:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Answer(
        status=status, content_type=kind, retry_after=None, location=None, body=data, raw=None
    )


@pytest.mark.parametrize(
    "answer",
    [
        _answer(200, b"<html><body>Welcome to the hotel wifi</body></html>", "text/html"),
        _answer(200, b"", "text/plain"),
        _answer(202, {"ok": False}),
        _answer(200, {"status": "accepted"}),  # no "ok": true
        _answer(400, b"<html>Bad Request</html>", "text/html"),
        _answer(400, {"ok": False, "error": "invalid_json"}),
    ],
)
def test_a_single_endpoint_answer_that_is_not_this_apis_verdict_removes_nothing(
    answer: Answer,
) -> None:
    assert isinstance(read_single(answer), Refusal)


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (_answer(202, {"ok": True}), "accepted"),  # the original server's answer
        (_answer(202, {"ok": True, "status": "duplicate"}), "duplicate"),
        (_answer(400, {"error": "Validation failed", "issues": []}), "invalid"),
        (_answer(400, {"ok": False, "error": "validation_failed", "issues": []}), "invalid"),
    ],
)
def test_the_single_endpoints_verdicts(answer: Answer, status: str) -> None:
    verdict = read_single(answer)
    assert isinstance(verdict, Verdict) and verdict.status == status


def test_a_batch_answer_with_the_wrong_number_of_results_removes_nothing() -> None:
    answer = _answer(200, {"ok": True, "results": [{"status": "accepted"}]})
    assert isinstance(read_batch(answer, 2), Refusal)
