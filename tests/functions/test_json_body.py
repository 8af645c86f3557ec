"""A body is read as json.loads reads bytes, and only a plain JSON object gets through."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from session_events.core.errors import InvalidJson
from session_events.ingest.http import parse_object

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)  # JSON has neither
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)
encodings = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "utf-32-be"])


def _read(raw: bytes) -> Any:
    try:
        return ("object", parse_object(raw))
    except InvalidJson:
        return ("invalid_json",)


@given(value=values, encoding=encodings)
def test_a_json_text_in_any_encoding_json_reads_is_read_alike(value: Any, encoding: str) -> None:
    raw = json.dumps(value).encode(encoding)
    expected = ("object", json.loads(raw)) if isinstance(value, dict) else ("invalid_json",)
    assert _read(raw) == expected


@given(raw=st.binary(max_size=40))
def test_bytes_json_cannot_read_are_invalid_json(raw: bytes) -> None:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        assert _read(raw) == ("invalid_json",)
    else:
        if not isinstance(value, dict):
            assert _read(raw) == ("invalid_json",)


@pytest.mark.parametrize("raw", [b'{"a":1,"a":2}', b'{"a":NaN}', b'{"a":-Infinity}', b"[]"])
def test_duplicate_keys_constants_and_non_objects_are_invalid_json(raw: bytes) -> None:
    assert _read(raw) == ("invalid_json",)
