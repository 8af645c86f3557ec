"""`make bench`: every figure of the benchmark suite beside its baseline, measured in one run.

Prints a table (figure, baseline, ratio, target) and writes tests/bench/results/latest.json.
Each figure is the median over repeated rounds that interleave it with its baseline, because
the machine is shared and noisy. Everything runs on 127.0.0.1, bounded in count and time.

Usage: python tests/bench/run.py [--quick] [--no-firestore] [--output PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import forget
import hook
import ingest
import rollup
import validation
from servers import firestore_emulator

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
# The keys latest.json always holds (dotted paths into the object).
REQUIRED_KEYS = (
    "python_startup_ms",
    *(f"{name}.{case}.median_ms" for name in ("hook", "hook_sync_baseline") for case in hook.CASES),
    "ingest.c8.rps",
    "ingest.c8.p99_ms",
    "noop.c8.rps",
    "batch.events_per_s",
    "single.events_per_s",
    "cold_start_ms.function",
    "cold_start_ms.noop",
    "validate_us",
    "rollup.events_per_s",
    "rollup.events",
    "forget.seconds",
    "forget.events",
    "release.seconds",
    "release.events",
    "release.identities",
)


# The targets: each is judged on a paired ratio (figure and baseline taken in the same round)
# or, for the p99, on the figure itself.
HOOK_TARGET_X = 1.5  # the hook's wall time, times the interpreter's own start
INGEST_TARGET_X = 0.8  # ingest requests per second at 8 clients, times the no-op's
INGEST_P99_TARGET_MS = 20.0
COLD_START_TARGET_X = 1.3  # process start to first 202, times the no-op's


def _ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline and not math.isnan(baseline) else math.nan


def _row(
    figure: str,
    value: float,
    unit: str,
    baseline_name: str = "",
    baseline: float = math.nan,
    target: str = "",
    met: bool | None = None,
    miss: str = "",
    ratio: float | None = None,
) -> dict[str, Any]:
    """One figure; `ratio` is the paired (per-round) ratio where one was measured."""
    return {
        "figure": figure,
        "value": value,
        "unit": unit,
        "baseline_name": baseline_name,
        "baseline": baseline,
        "ratio": _ratio(value, baseline) if ratio is None else ratio,
        "paired": ratio is not None,
        "target": target,
        "met": met,
        "miss": miss,
    }


def _most(value: float, limit: float, unit: str) -> tuple[bool, str]:
    """Target `value <= limit`: whether it is met and, if not, by how much it is missed."""
    if value <= limit:
        return True, ""
    if unit == "x":
        return False, f"{value:.2f}x vs {limit}x"
    return False, f"+{value - limit:.1f} {unit} ({value / limit:.2f}x the target)"


def _least(value: float, floor: float, unit: str) -> tuple[bool, str]:
    if value >= floor:
        return True, ""
    return False, f"-{floor - value:.2f}{unit} short"


def figures_table(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if "hook" in results:
        startup = results["python_startup_ms"]
        for case in hook.CASES:
            value = results["hook"][case]["median_ms"]
            sync = results["hook_sync_baseline"][case]["median_ms"]
            paired = results["hook"][case]["ratio_to_startup"]
            met, miss = _most(paired, HOOK_TARGET_X, "x")
            rows.append(
                _row(
                    f"hook {case} (ms)",
                    value,
                    "ms",
                    "python -c pass",
                    startup,
                    f"<= {HOOK_TARGET_X}x python -c pass",
                    met,
                    miss and f"ratio {miss}",
                    ratio=paired,
                )
            )
            rows.append(_row(f"hook {case} vs sync POST", value, "ms", "sync POST 500 ms", sync))
            rows.append(
                _row(
                    f"hook {case} CPU time (ms)",
                    results["hook"][case]["cpu_median_ms"],
                    "ms",
                    "python -c pass CPU",
                    results["python_startup"]["cpu_median_ms"],
                    ratio=results["hook"][case]["cpu_ratio_to_startup"],
                )
            )
        if "ref" in results:
            rows.append(
                _row(
                    "ref, after each tool call (ms)",
                    results["ref"]["median_ms"],
                    "ms",
                    "python -c pass",
                    startup,
                    ratio=results["ref"]["ratio_to_startup"],
                )
            )
        if "hook_full_outbox" in results:
            full = results["hook_full_outbox"]
            rows.append(
                _row(
                    f"hook refused, {full['pending']:,} events pending (ms)",
                    full["median_ms"],
                    "ms",
                    "python -c pass",
                    startup,
                    ratio=full["ratio_to_startup"],
                )
            )
        counted = results.get("hook_instructions", {})
        if "ratio_to_startup" in counted:
            rows.append(
                _row(
                    "hook refused, instructions (millions)",
                    counted["hook_millions"],
                    "",
                    "python -c pass",
                    counted["python_startup_millions"],
                )
            )
        rows.append(_row("python -c pass (ms)", startup, "ms"))
        rows.append(
            _row(
                "python -S -c pass (ms)",
                results["python_startup_nosite_ms"],
                "ms",
                "python -c pass",
                startup,
            )
        )
    if "ingest" in results:
        for level, figures in results["ingest"].items():
            noop = results["noop"][level]
            rps_met, rps_miss = (None, "")
            paired = figures["rps_ratio_to_noop"]
            if level == "c8":
                rps_met, rps_miss = _least(paired, INGEST_TARGET_X, "x")
            rows.append(
                _row(
                    f"ingest {level} (req/s)",
                    figures["rps"],
                    "req/s",
                    "no-op req/s",
                    noop["rps"],
                    f">= {INGEST_TARGET_X}x no-op" if level == "c8" else "",
                    rps_met,
                    rps_miss,
                    ratio=paired,
                )
            )
            p99_met, p99_miss = (None, "")
            if level == "c8":
                p99_met, p99_miss = _most(figures["p99_ms"], INGEST_P99_TARGET_MS, "ms")
            rows.append(
                _row(
                    f"ingest {level} p99 (ms)",
                    figures["p99_ms"],
                    "ms",
                    "no-op p99",
                    noop["p99_ms"],
                    f"<= {INGEST_P99_TARGET_MS:g} ms" if level == "c8" else "",
                    p99_met,
                    p99_miss,
                )
            )
            cpu, noop_cpu = (
                figures.get("server_cpu_us_per_request"),
                noop.get("server_cpu_us_per_request"),
            )
            if level == "c8" and cpu is not None and noop_cpu is not None:
                rows.append(
                    _row(
                        f"ingest {level} server CPU (us/request)",
                        cpu,
                        "us",
                        "no-op server CPU",
                        noop_cpu,
                    )
                )
            floor = results.get("floor", {}).get(level)
            if floor is not None:
                rows.append(
                    _row(
                        f"SQLite floor {level}: store only (req/s)",
                        floor["rps"],
                        "req/s",
                        "no-op req/s",
                        noop["rps"],
                        "reported (bounds the ingest ratio)",
                        ratio=floor["rps_ratio_to_noop"],
                    )
                )
                rows.append(
                    _row(
                        f"ingest {level} vs the SQLite floor (req/s)",
                        figures["rps"],
                        "req/s",
                        "floor req/s",
                        floor["rps"],
                        ratio=figures["rps_ratio_to_floor"],
                    )
                )
                if floor.get("server_cpu_us_per_request") is not None and noop_cpu is not None:
                    rows.append(
                        _row(
                            f"SQLite floor {level} server CPU (us/request)",
                            floor["server_cpu_us_per_request"],
                            "us",
                            "no-op server CPU",
                            noop_cpu,
                        )
                    )
        batch, single = results["batch"]["events_per_s"], results["single"]["events_per_s"]
        met, miss = _least(batch / single, 5.0, "x")
        rows.append(
            _row(
                "batch c8 (events/s)", batch, "ev/s", "single c8", single, ">= 5x single", met, miss
            )
        )
    if "cold_start_ms" in results:
        cold = results["cold_start_ms"]
        met, miss = _most(cold["ratio_to_noop"], COLD_START_TARGET_X, "x")
        rows.append(
            _row(
                "cold start, new database (ms)",
                cold["function"],
                "ms",
                "no-op cold start",
                cold["noop"],
                f"<= {COLD_START_TARGET_X}x no-op",
                met,
                miss and f"ratio {miss}",
                ratio=cold["ratio_to_noop"],
            )
        )
        rows.append(
            _row(
                "cold start, database already there (ms)",
                cold["function_existing_db"],
                "ms",
                "no-op cold start",
                cold["noop"],
                ratio=cold["existing_db_ratio_to_noop"],
            )
        )
        if "cpu_ms" in cold:
            rows.append(
                _row(
                    "cold start CPU time, new database (ms)",
                    cold["cpu_ms"]["function"],
                    "ms",
                    "no-op cold start CPU",
                    cold["cpu_ms"]["noop"],
                    ratio=cold["cpu_ms"]["ratio_to_noop"],
                )
            )
    if "validate_us" in results:
        detail = results["validation"]
        met, miss = _most(results["validate_us"], 15.0, "us")
        rows.append(
            _row(
                "validate (us/event)",
                results["validate_us"],
                "us",
                "json.loads",
                detail["json_loads_baseline_us"],
                "<= 15 us",
                met,
                miss,
            )
        )
        rows.append(
            _row(
                "parse+validate (us/event)",
                detail["parse_and_validate_us"],
                "us",
                "json.loads",
                detail["json_loads_baseline_us"],
            )
        )
        worst = detail["worst_reject"]
        rows.append(
            _row(
                f"worst reject {worst['payload']} (us)",
                worst["us"],
                "us",
                "json.loads",
                detail["json_loads_baseline_us"],
            )
        )
    rollup_figures = results.get("rollup", {})
    if rollup_figures.get("events_per_s") is not None:
        rows.append(
            _row(
                f"rollup on SQLite with one release, {rollup_figures['events']:,} events"
                " (events/s)",
                rollup_figures["events_per_s"],
                "ev/s",
                "reading the window alone",
                rollup_figures.get("read_only", {}).get("events_per_s", math.nan),
                target="reported",
            )
        )
    week = results.get("release", {})
    if week.get("seconds") is not None:
        rows.append(
            _row(
                f"release of one week, {week['events']:,} events from"
                f" {week['identities']:,} identities (s)",
                week["seconds"],
                "s",
                target="reported",
            )
        )
    forget_figures = results.get("forget", {})
    if forget_figures.get("seconds") is not None:
        rows.append(
            _row(
                f"forget on SQLite, one install's {forget_figures['events']:,} events (ms)",
                forget_figures["seconds"] * 1000,
                "ms",
                "a plain DELETE of the same rows",
                forget_figures["plain_delete_seconds"] * 1000,
                target="reported",
                ratio=forget_figures["ratio_paired"],
            )
        )
    if "firestore_emulator" in results:
        store = results["firestore_emulator"]
        if store.get("events_per_s") is not None:
            rows.append(
                _row(
                    "firestore emulator c8 (events/s)",
                    store["events_per_s"],
                    "ev/s",
                    "sqlite c8",
                    results.get("single", {}).get("events_per_s", math.nan),
                    "reported",
                )
            )
    return rows


def missing_keys(results: dict[str, Any]) -> list[str]:
    """The required keys that `results` does not hold."""
    missing = []
    for dotted in REQUIRED_KEYS:
        node: Any = results
        for part in dotted.split("."):
            node = node.get(part, KeyError) if isinstance(node, dict) else KeyError
        if node is KeyError:
            missing.append(dotted)
    return missing


def _rollup(*, quick: bool) -> dict[str, Any]:
    """The rollup job on SQLite (events per second, its release step included) and the
    release of one week (seconds, with its event and identity counts)."""
    figures: dict[str, Any] = rollup.run(quick)
    job, week = figures["rollup"], figures["release"]
    print(
        f"  {job['events']:,} events in {job['seconds']:.2f} s:"
        f" {job['events_per_s']:,.0f} events/s (one week released)"
    )
    print(
        f"  release of {week['week']}: {week['events']:,} events, {week['identities']:,}"
        f" identities in {week['seconds']:.2f} s (OpenDP plan {week['plan_seconds']:.2f} s)"
    )
    return figures


def _forget(*, quick: bool) -> dict[str, Any]:
    """Seconds for POST /v1/forget to erase one install's events on SQLite, with their count."""
    figures: dict[str, Any] = forget.run(quick)
    print(
        f"  {figures['events']:,} events of one install erased in {figures['seconds']:.3f} s"
        f" (a plain DELETE: {figures['plain_delete_seconds']:.3f} s)"
    )
    return figures


def _json_safe(value: Any) -> Any:
    """NaN (a missing baseline) becomes null so that latest.json stays strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def _fmt(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return f"{value:,.1f}" if abs(value) >= 1 or value == 0 else f"{value:.3f}"


def print_table(rows: list[dict[str, Any]]) -> None:
    header = f"{'figure':46} {'value':>11} {'baseline':>11} {'ratio':>8}  {'target':26} result"
    print(header)
    print("-" * len(header))
    for row in rows:
        verdict = {True: "met", False: "MISSED " + row["miss"], None: ""}[row["met"]]
        ratio = "-" if math.isnan(row["ratio"]) else f"{row['ratio']:.2f}x"
        ratio += "*" if row["paired"] else " "
        baseline = _fmt(row["baseline"])
        print(
            f"{row['figure']:46} {_fmt(row['value']):>11} {baseline:>11} {ratio:>8}"
            f"  {row['target']:26} {verdict}"
        )
    print("* median of the per-round ratios (figure and baseline measured in the same round)")
    names = sorted({row["baseline_name"] for row in rows if row["baseline_name"]})
    print("baselines (same run, interleaved): " + "; ".join(names))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter loads")
    parser.add_argument("--no-firestore", action="store_true", help="skip the emulator figure")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rounds = 3 if args.quick else 15
    load_rounds = 1 if args.quick else 3
    duration = 1.0 if args.quick else 2.0
    began = time.monotonic()
    results: dict[str, Any] = {
        "meta": {
            "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": "make bench QUICK=1" if args.quick else "make bench",
            "quick": args.quick,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_at_start": list(os.getloadavg()),
            "hook_rounds": rounds,
            "load_rounds": load_rounds,
            "load_duration_s": duration,
            "pythondontwritebytecode": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
        }
    }

    print(f"== hook wall time ({rounds} interleaved rounds)")
    results.update(hook.hook_wall_time(rounds=rounds))
    print("== hook instructions (callgrind)")
    results["hook_instructions"] = hook.hook_instructions(rounds=1 if args.quick else 3)
    print(f"== ingest throughput and latency ({load_rounds} rounds of {duration} s per level)")
    results.update(
        ingest.throughput(
            levels=(1, 8, 64), rounds=load_rounds, duration_s=duration, max_requests=20_000
        )
    )
    print("== cold start (process start to first 202)")
    results["cold_start_ms"] = ingest.cold_start(rounds=3 if args.quick else 5)
    print("== validation cost (in process)")
    results.update(validation.validation_costs(rounds=3 if args.quick else 7))
    print("== rollup job (SQLite)")
    results.update(_rollup(quick=args.quick))
    print("== forget (SQLite)")
    results["forget"] = _forget(quick=args.quick)
    print("== Firestore emulator (8 clients through the function)")
    if args.no_firestore:
        print("  skipped (--no-firestore)")
        results["firestore_emulator"] = {"events_per_s": None, "skipped": "--no-firestore"}
    else:
        with firestore_emulator() as host:
            if host is None:
                results["firestore_emulator"] = {"events_per_s": None, "skipped": "no emulator"}
            else:
                results["firestore_emulator"] = ingest.firestore_throughput(
                    host, rounds=load_rounds, duration_s=duration, max_requests=20_000
                )
    results["meta"]["elapsed_s"] = round(time.monotonic() - began, 1)
    rows = figures_table(results)
    results["table"] = rows
    print()
    print_table(rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(_json_safe(results), indent=2, allow_nan=False, default=str) + "\n"
    )
    print(f"\nwritten to {args.output} in {results['meta']['elapsed_s']} s")
    missing = missing_keys(results)
    if missing:
        print("latest.json lacks keys that it always holds: " + ", ".join(missing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
