"""The table of tests/bench/README.md, rendered from a latest.json written by `make bench`.

Usage: python tests/bench/markdown.py [tests/bench/results/latest.json]
Every number comes from the file; a target that was missed says so, with the margin.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
TIMES = "\N{MULTIPLICATION SIGN}"
_UNITS = {"ms": " ms", "us": " µs", "req/s": " req/s", "ev/s": " events/s", "x": TIMES}


def _number(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return text + _UNITS.get(unit, "")


def _verdict(row: dict[str, Any]) -> str:
    if not row["target"]:
        return ""
    if row["met"] is None:
        return row["target"]
    if row["met"]:
        return f"{row['target']} — met"
    return f"{row['target']} — **missed** ({row['miss']})"


def table(results: dict[str, Any]) -> str:
    lines = [
        "| figure | session-events | baseline (same run) | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for row in results["table"]:
        baseline = _number(row["baseline"], row["unit"])
        named = f"{row['baseline_name']}: {baseline}" if baseline else ""
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}{TIMES}"
        if ratio and row.get("paired"):
            ratio += " (paired)"
        figure = row["figure"].replace(" (ms)", "").replace(" (us)", "")
        figure = (
            figure.replace(" (req/s)", "").replace(" (events/s)", "").replace(" (us/event)", "")
        )
        lines.append(
            f"| {figure} | {_number(row['value'], row['unit'])} | {named} | {ratio}"
            f" | {_verdict(row)} |"
        )
    meta = results["meta"]
    lines.append("")
    lines.append(
        f"Run of {meta['started_at']} (`{meta['command']}`, {meta['elapsed_s']} s): Python"
        f" {meta['python']}, {meta['cpus']} CPUs, load average at start"
        f" {', '.join(f'{v:.1f}' for v in meta['load_average_at_start'])};"
        f" {meta['hook_rounds']} hook rounds, {meta['load_rounds']} load rounds of"
        f" {meta['load_duration_s']} s."
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else RESULTS
    print(table(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
