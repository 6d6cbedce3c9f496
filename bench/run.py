"""`make bench`: every benchmark of bench/ in one run, one table of ratios, on SQLite and on PostgreSQL.

Rows (each a measurement and its baseline, both from this run):

1. the ceiling of the stack (bench/ceiling.py, served like the service): a Flask
   hello-world, an insert-one-row-and-commit endpoint and a read-one-row-by-key
   endpoint, through SQLAlchemy with the service's engine settings;
2. POST /api/v1/events (one event, one award) against the insert ceiling (target ≥ 40%),
   GET /partner/v1/passes/{code} against the read ceiling (≥ 40%) and a capture
   redemption against the insert ceiling (≥ 30%): each the median of three short
   runs alternating the service with its ceiling;
3. PostgreSQL with 2 and 4 worker processes: requests/s, the audit tip's lock
   wait in a request, how busy the cores were (which one is the limit);
4. bulk: generated transactions through POST /api/v1/events/batch, `benefits events
   import` and `benefits consume` (RabbitMQ), against a plain executemany of the rows
   the service wrote for them, run after each of them, the median of its runs (target ≥ 25%);
5. rule evaluation and simulation: the rows of bench/rules.py and bench/simulate.py (--json);
6. GET /api/v1/customers/{id}/points with 10,000,000 ledger rows against 1,000 (flat);
7. webhooks: messages a second delivered to a loopback receiver against plain POSTs to it, and the wait
   from commit to delivery against one bare POST (bench/webhooks.py --json);
8. the finance reports over 10,000,000 ledger rows against their targets (bench/reports.py --json).

    .venv/bin/python bench/run.py [--scale 0.02] [--ledger-rows 10000000] [--seconds 8]
                                  [--backends sqlite,postgresql]
                                  [--only http,procs,bulk,points,rules,simulate,webhooks,reports]
                                  [--json] [--out results.json]
"""
import argparse
import json
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (GUNICORN_TEXT, ROOT, Load, Row, log, usable_backends,  # noqa: E402
                    table, wrk_path)

SECTIONS = ("http", "procs", "bulk", "points", "rules", "simulate", "webhooks", "reports")
FOREIGN = {"rules": "bench/rules.py", "simulate": "bench/simulate.py", "webhooks": "bench/webhooks.py",
           "reports": "bench/reports.py"}
FULL_EVENTS = 1_000_000
DEFAULT_SCALE = 0.02
FULL_LEDGER_ROWS = 10_000_000


def foreign_rows(name: str, timeout: float, extra: list[str]) -> list[Row]:
    """Run bench/<name>.py --json and turn each JSON row it prints into a row of the table."""
    script = ROOT / FOREIGN[name]
    if not script.exists():
        return [Row("—", f"{FOREIGN[name]}", "n/a (not there yet)", "—", None, "n/a")]
    log(f"running {FOREIGN[name]} --json {' '.join(extra)} ...")
    try:
        done = subprocess.run([sys.executable, str(script), "--json", *extra], cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [Row("—", FOREIGN[name], f"n/a (no answer within {timeout:.0f} s)", "—", None, "n/a")]
    rows = []
    for line in done.stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            rows.append(foreign_row(name, json.loads(line)))
        except ValueError:
            continue
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        rows.append(Row("—", FOREIGN[name], f"failed (exit {done.returncode}): {last[:120]}", "—", None, "n/a"))
    return [row for row in rows if row is not None]


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def foreign_row(name: str, data: dict) -> Row | None:
    """A row of another bench, shown as it states itself: value, baseline and ratio."""
    if "ratio" not in data or data.get("ratio") is None:
        return None  # a preparation step (e.g. storing customers), not a comparison
    label_keys = ("bench", "step", "case", "what", "via", "name")
    label = " ".join(str(data[k]) for k in label_keys if isinstance(data.get(k), str))
    sizes = ", ".join(f"{_number(data[k])} {k}" for k in ("customers", "facts", "rules", "events", "calls",
                                                         "ledger_rows")
                      if isinstance(data.get(k), int) and not isinstance(data.get(k), bool))
    if sizes:
        label += f" ({sizes})"
    value = next((f"{_number(data[k])} {unit}" for k, unit in (
        ("seconds", "s"), ("per_second", "/s"), ("rps", "req/s"), ("us_per_call", "µs/call"),
        ("ms", "ms")) if k in data), "")
    baseline_value = next((f" {_number(data[k])} {unit}" for k, unit in (
        ("baseline_seconds", "s"), ("baseline_per_second", "/s"), ("baseline_us_per_call", "µs/call"),
        ("baseline_ms", "ms")) if k in data), "")
    ratio = float(data["ratio"])
    target = next((f"{k.removeprefix('target_')} {_number(v)}" if k != "target" else str(v)
                   for k, v in data.items() if k.startswith("target")), "")
    met = next((bool(data[k]) for k in ("met", "within_target", "ok") if isinstance(data.get(k), bool)), None)
    return Row(str(data.get("backend", "—")), label or FOREIGN[name], value,
               f"{data.get('baseline', 'baseline')}{baseline_value}", ratio, f"×{ratio:.2f}",
               target, met, data=data)


def main() -> int:
    parser = argparse.ArgumentParser(description="Every benchmark of bench/, one table of ratios.")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"sections, comma-separated: {', '.join(SECTIONS)}")
    parser.add_argument("--seconds", type=float, default=5.0, help="wrk seconds per measurement (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="wrk warm-up seconds before each (default 1)")
    parser.add_argument("--scale", type=float, default=DEFAULT_SCALE,
                        help=f"bulk size as a share of {FULL_EVENTS:,} events for {FULL_EVENTS // 10:,} customers "
                             f"(default {DEFAULT_SCALE}; 1 is the full size)")
    parser.add_argument("--bulk-paths", default="batch,import,consume",
                        help="the bulk ways in to measure (the import always runs: the baseline writes its rows)")
    parser.add_argument("--ledger-rows", type=int, default=FULL_LEDGER_ROWS,
                        help=f"ledger rows of the large points case (default {FULL_LEDGER_ROWS:,})")
    parser.add_argument("--foreign-timeout", type=float, default=3600,
                        help="seconds allowed to rules.py, simulate.py, webhooks.py, reports.py (which generates "
                             "its history)")
    parser.add_argument("--rules-args", default="", help="extra arguments for bench/rules.py")
    parser.add_argument("--simulate-args", default="", help="extra arguments for bench/simulate.py")
    parser.add_argument("--webhooks-args", default="", help="extra arguments for bench/webhooks.py")
    parser.add_argument("--json", action="store_true", help="print one JSON object per row instead of the table")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON to this file")
    args = parser.parse_args()

    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")
    if not 0 < args.scale <= 1:
        parser.error("--scale must be above 0 and at most 1")
    if args.ledger_rows < 2000:
        parser.error("--ledger-rows must be at least 2,000")
    if {b.strip() for b in args.backends.split(",") if b.strip()} - {"sqlite", "postgresql"}:
        parser.error("--backends takes sqlite and/or postgresql")
    backends = usable_backends(args.backends)
    if {"http", "procs", "points"} & set(sections):
        wrk_path()

    load = Load(seconds=args.seconds, warmup_seconds=args.warmup)
    started = time.monotonic()
    rows: list[Row] = []
    for backend in backends:
        if "http" in sections:
            import latency
            rows += latency.run(backend, load)
        if "procs" in sections and backend == "postgresql":
            import latency
            rows += latency.four_processes(load)
        if "bulk" in sections:
            import bulk
            rows += bulk.run(backend, args.scale, tuple(p.strip() for p in args.bulk_paths.split(",")))
        if "points" in sections:
            import points
            rows += points.run(backend, load, args.ledger_rows)
    for name in ("rules", "simulate", "webhooks", "reports"):
        if name in sections:
            extra = {"rules": args.rules_args, "simulate": args.simulate_args, "webhooks": args.webhooks_args,
                     "reports": f"--ledger-rows {args.ledger_rows}"}[name].split()
            if args.backends != "sqlite,postgresql" and "--backends" not in extra:
                extra += ["--backends", ",".join(backends)]
            rows += foreign_rows(name, args.foreign_timeout, extra)

    elapsed = time.monotonic() - started
    header = [
        f"VIP Benefits benchmarks, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()}: "
        f"{_cpus()} CPUs, Python {platform.python_version()}; took {elapsed / 60:.1f} min",
        f"servers: {GUNICORN_TEXT}; load: {load.text()}",
        f"bulk: {int(FULL_EVENTS * args.scale):,} events for {int(FULL_EVENTS * args.scale) // 10:,} customers "
        f"(--scale {args.scale:g}); points: {args.ledger_rows:,} ledger rows against 1,000",
    ]
    if args.json:
        for row in rows:
            print(json.dumps(row.as_json(), ensure_ascii=False, default=str))
    else:
        print("\n".join(header) + "\n")
        print(table(rows))
    if args.out:
        args.out.write_text(json.dumps({"header": header, "rows": [r.as_json() for r in rows]}, ensure_ascii=False,
                                       indent=1, default=str))
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    sys.exit(main())
