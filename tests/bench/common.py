"""Shared pieces of the benchmarks: paths, a clean environment, statistics, sample events."""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: shared loopback helpers

from loopback import clean_env as clean_env
from loopback import free_port as free_port

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
PYTHON = VENV_BIN / "python"
FUNCTION_SOURCE = REPO / "functions" / "main.py"
NOOP_SOURCE = Path(__file__).resolve().parent / "noop_function.py"
FLOOR_SOURCE = Path(__file__).resolve().parent / "sqlite_floor_function.py"
FIXTURE_EVENT: dict[str, Any] = json.loads((REPO / "tests" / "fixtures" / "event.json").read_text())


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def paired_ratio(values: Sequence[float], baselines: Sequence[float]) -> float:
    """Median of value/baseline over rounds that measured both side by side.

    On a shared machine the load drifts from one round to the next; a figure and its
    baseline taken in the same round share that load, so their ratio is steadier than the
    ratio of two medians.
    """
    pairs = [v / b for v, b in zip(values, baselines, strict=True) if b]
    return median(pairs)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 100 samples is the 99th smallest)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def event(**changes: Any) -> dict[str, Any]:
    """A valid event (the shared fixture) with some fields changed."""
    return {**FIXTURE_EVENT, **changes}


def hex64(*parts: int) -> str:
    """64 lowercase hex chars built from integers: unique session ids without hashing."""
    text = "".join(f"{part:016x}" for part in parts)
    return text[-64:].rjust(64, "0")
