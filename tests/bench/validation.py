"""Validation cost per event, in process: the schema alone, the whole parse, the worst rejects.

Baseline: ``json.loads`` of the same body, the least any JSON endpoint pays.
"""

from __future__ import annotations

import json
import sys
import timeit
from collections.abc import Callable
from typing import Any

from common import REPO, event, hex64, median

sys.path.insert(0, str(REPO / "functions"))

from pydantic_core import ValidationError

from session_events.core.errors import IngestError
from session_events.ingest.config import BATCH_BODY_LIMIT, SINGLE_BODY_LIMIT
from session_events.ingest.http import parse_object
from session_events.ingest.validator import batch_items, validate_event, validation_issues


def _per_call_us(fn: Callable[[], Any], *, rounds: int, min_time_s: float = 0.05) -> float:
    """Median over `rounds` of the mean time per call, each round lasting >= `min_time_s`."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    while number * (timer.timeit(1) or 1e-7) < min_time_s and number < 10_000_000:
        number *= 2
    return median([timer.timeit(number) / number * 1e6 for _ in range(rounds)])


def _reject(raw: bytes, *, batch: bool = False) -> None:
    """What the HTTP edge does with a bad body: parse, validate, build the issues list."""
    try:
        payload = parse_object(raw)
        items = batch_items(payload) if batch else [payload]
        for item in items:
            try:
                validate_event(item)
            except ValidationError as error:
                json.dumps(validation_issues(error))
    except ValidationError as error:
        json.dumps(validation_issues(error))
    except IngestError as error:
        json.dumps(error.body())


def _bad_payloads() -> dict[str, tuple[bytes, bool]]:
    """Candidate worst cases for a rejection, each at (or under) the body size limit."""
    unknown_keys = {f"k{n:05d}": 0 for n in range(SINGLE_BODY_LIMIT // 12)}
    body = json.dumps(unknown_keys, separators=(",", ":")).encode()[: SINGLE_BODY_LIMIT - 2]
    body = body[: body.rfind(b",")] + b"}"
    bad_refs = event(discovery_refs=["-" + "x" * 126] * 200)
    every_field_wrong = {
        "identity_hash": "A" * 64,
        "session_id_hash": "z" * 64,
        "ended_at": "2026-99-99T99:99:99.000Z",
        "tool_count": -1,
        "tokens_saved": "1",
        "plugin_version": "",
        "github_hash": "x",
        "branch_sha": "x",
        "discovery_refs": ["-"] * 200,
        "schema_version": 2,
    }
    depth = 100_000
    nested = b"[" * depth + b"]" * depth
    batch_of_bad = {"events": [every_field_wrong] * 100}
    batch_raw = json.dumps(batch_of_bad).encode()
    assert len(batch_raw) <= BATCH_BODY_LIMIT
    return {
        "unknown_keys_64KiB": (body, False),
        "200_bad_refs": (json.dumps(bad_refs).encode(), False),
        "every_field_wrong": (json.dumps(every_field_wrong).encode(), False),
        "nested_100k": (nested[:SINGLE_BODY_LIMIT], False),
        "batch_100_every_field_wrong": (batch_raw, True),
    }


def validation_costs(*, rounds: int) -> dict[str, Any]:
    good = event(session_id_hash=hex64(1, 2, 3, 4))
    raw = json.dumps(good).encode()
    validate_us = _per_call_us(lambda: validate_event(good), rounds=rounds)
    parse_validate_us = _per_call_us(
        lambda: validate_event(parse_object(raw)), rounds=rounds
    )
    loads_us = _per_call_us(lambda: json.loads(raw), rounds=rounds)
    rejects: dict[str, float] = {}
    for name, (body, is_batch) in _bad_payloads().items():
        rejects[name] = round(
            _per_call_us(lambda b=body, f=is_batch: _reject(b, batch=f), rounds=rounds), 1
        )
    worst = max(rejects, key=lambda name: rejects[name])
    print(
        f"  validate {validate_us:.1f} us, parse+validate {parse_validate_us:.1f} us,"
        f" json.loads {loads_us:.1f} us"
    )
    print("  rejects (us): " + ", ".join(f"{k} {v}" for k, v in rejects.items()))
    return {
        "validate_us": round(validate_us, 2),
        "validation": {
            "validate_us": round(validate_us, 2),
            "parse_and_validate_us": round(parse_validate_us, 2),
            "json_loads_baseline_us": round(loads_us, 2),
            "reject_us": rejects,
            "worst_reject": {"payload": worst, "us": rejects[worst]},
        },
    }
