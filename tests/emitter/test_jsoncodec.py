"""The hook's JSON codec reads and writes exactly what the `json` package does."""

from __future__ import annotations

import ast
import json
import math
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from session_event_emitter import jsoncodec

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)
# Documents as other programs write them: any indentation, spacing and escaping.
_documents = st.builds(
    lambda value, indent, ascii_only, pad: (
        pad + json.dumps(value, indent=indent, ensure_ascii=ascii_only) + pad
    ),
    _values,
    st.none() | st.integers(min_value=0, max_value=3),
    st.booleans(),
    st.sampled_from(["", " ", "\n", "\t\r\n "]),
)


# The `codec` fixture only chooses a path, the same for every example of a test.
def _examples(count: int) -> settings:
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


@pytest.fixture(params=["c", "fallback"])
def codec(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Both paths: the C codec, and the `json` package where `_json` cannot be used."""
    if request.param == "fallback":
        monkeypatch.setattr(jsoncodec, "_SCAN", None)
    else:
        assert jsoncodec._SCAN is not None  # CPython always has it; else the test means nothing
    yield request.param


def _same(a: object, b: object) -> bool:
    """Equal values, NaN included, and the same types (1 is not 1.0, True is not 1)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True) and _types(a) == _types(b)


def _types(value: object) -> object:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__


def _outcome(read: object, document: str | bytes) -> tuple[str, object]:
    try:
        return ("value", read(document))  # type: ignore[operator]
    except (ValueError, RecursionError):
        return ("error", None)


@given(document=_documents)
@_examples(300)
def test_any_document_reads_as_json_reads_it(codec: str, document: str) -> None:
    assert _same(jsoncodec.loads(document), json.loads(document))
    assert _same(jsoncodec.loads(document.encode()), json.loads(document.encode()))


@given(
    document=st.text(
        alphabet=st.sampled_from('{}[]",:.-+eE0123456789 \ttrufalsnNIy\\\x00é\ufeff'), max_size=30
    )
)
@_examples(500)
def test_malformed_text_is_refused_where_json_refuses_it(codec: str, document: str) -> None:
    mine, theirs = _outcome(jsoncodec.loads, document), _outcome(json.loads, document)
    assert mine[0] == theirs[0]
    assert mine[0] == "error" or _same(mine[1], theirs[1])


@given(
    document=st.binary(max_size=24)
    | st.sampled_from([b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00", b"\x00{", b"{\x00", b"1\x00\x00"])
)
@_examples(300)
def test_any_bytes_are_decoded_as_json_decodes_them(codec: str, document: bytes) -> None:
    mine, theirs = _outcome(jsoncodec.loads, document), _outcome(json.loads, document)
    assert mine[0] == theirs[0]
    assert mine[0] == "error" or _same(mine[1], theirs[1])


@given(value=_values, sort_keys=st.booleans())
@_examples(300)
def test_any_value_is_written_as_json_writes_it(codec: str, value: object, sort_keys: bool) -> None:
    expected = json.dumps(value, separators=(",", ":"), sort_keys=sort_keys)
    assert jsoncodec.dumps(value, sort_keys=sort_keys) == expected


def test_parse_constant_decides_what_nan_and_infinity_become(codec: str) -> None:
    def refuse(name: str) -> object:
        raise ValueError(name)

    for document in ("NaN", "[1, Infinity]", '{"a": -Infinity}'):
        with pytest.raises(ValueError):
            jsoncodec.loads(document, parse_constant=refuse)
    assert math.isinf(jsoncodec.loads("-Infinity"))  # type: ignore[arg-type]


def test_a_value_that_cannot_be_written_leaves_the_next_one_unharmed(codec: str) -> None:
    shared = [1, 2]
    with pytest.raises(TypeError):
        jsoncodec.dumps({"a": shared, "b": object()})
    # The C encoder's circular-reference memo must not remember `shared` from the failure.
    assert jsoncodec.dumps({"a": shared}) == '{"a":[1,2]}'
    circular: list[object] = []
    circular.append(circular)
    with pytest.raises(ValueError):
        jsoncodec.dumps(circular)


def test_deep_nesting_is_an_error_not_a_crash(codec: str) -> None:
    with pytest.raises((ValueError, RecursionError)):
        jsoncodec.loads("[" * 100_000)


_FRESH_READER = """
import ast, sys
from session_event_emitter import jsoncodec
assert "json" not in sys.modules and "json.decoder" not in sys.modules
for line in sys.stdin:
    document = ast.literal_eval(line)
    for name in ("json", "json.decoder", "json.scanner", "json.encoder"):
        sys.modules.pop(name, None)  # as in a hook process that has not loaded them
    try:
        print(repr(("value", jsoncodec.loads(document))))
    except (ValueError, RecursionError):
        print(repr(("error", None)))
"""


def _corpus(seed: int, count: int) -> list[str | bytes]:
    """Documents and broken documents: every prefix cut and a stray character put in."""
    rng = random.Random(seed)
    found: list[str | bytes] = ["", " ", "{", "[", '"', "{}", "[]", "1 2", '{"a" 1}', "\ufeff{}"]
    for _ in range(count):
        value = {"session_id": "s" * rng.randrange(4), "n": [1, 2.5, None, True, "é\n"]}
        text = json.dumps(value, indent=rng.choice([None, 2]))
        cut = rng.randrange(len(text) + 1)
        spot = rng.randrange(len(text) + 1)
        stray = rng.choice('{}[]",:\\x0\x00 ')
        found += [text, text[:cut], text[:spot] + stray + text[spot:]]
        found.append((text[:cut] if rng.random() < 0.5 else text).encode())
    return found


def test_a_fresh_hook_process_reads_every_document_as_json_would(tmp_path: Path) -> None:
    """In the hook, `json` is not loaded: malformed input must still be an error, not a crash."""
    corpus = _corpus(seed=7, count=300)
    done = subprocess.run(
        [sys.executable, "-c", _FRESH_READER],
        input="".join(repr(document) + "\n" for document in corpus),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    results = [ast.literal_eval(line) for line in done.stdout.splitlines()]
    assert len(results) == len(corpus)
    for document, (kind, value) in zip(corpus, results, strict=True):
        try:
            expected = ("value", json.loads(document))
        except ValueError:
            expected = ("error", None)
        assert (kind, repr(value)) == (expected[0], repr(expected[1])), document
