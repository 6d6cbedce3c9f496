"""Rows 1-3 of the table: the stack's ceiling, then the service's routes against it, under wrk.

One database per backend holds the ceiling's table and the service's data:
1,000 mass customers for events (each event a card payment of CNY 100: one
award, ``card-spend``, 5 points), 100 private customers with a pass each for
the partner rows, and a partner (a hospital serving the medical green channel
and health checks) with its key. The private tier's green channel is unlimited,
so every capture redemption succeeds however many the run makes.

The ceiling (bench/ceiling.py) and the service are served side by side, and
each comparison is ``ROUNDS`` short runs that alternate the ceiling and the
service: a ratio per round, and the median of them, so that the machine's
drift (these shared cores swing by 2x) falls on both sides alike:

* POST /api/v1/events against the insert ceiling (one row inserted, committed);
* GET /partner/v1/passes/{code} against the read ceiling (one row read by key);
* a capture redemption against the insert ceiling.

``four_processes`` (PostgreSQL) serves POST /api/v1/events with 2, then 4
worker processes, and reads from the service's own metrics how long each
request waited for the audit chain's tip, and from /proc/stat how busy the
cores were: which of the two is the limit.
"""
import re
import statistics
import urllib.request
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from common import (GUNICORN_TEXT, LUA_POST_INIT, LUA_THREAD_IDS, ROOT, Database, Load, Row, log, lua_string_list,
                    measure, rate, seed, serve, share)

from benefits import create_app, db
from benefits.models import PartnerKind
from benefits.services import audit, keys, partners, passes
from benefits.services.partners import NewPartner

import ceiling

EVENT_CUSTOMERS = 1000
PASS_CUSTOMERS = 100
PASS_TTL_SECONDS = 3 * 3600
PARTNER_BENEFITS = ["medical_green_channel", "annual_health_check"]
EVENTS_TARGET, LOOKUP_TARGET, CAPTURE_TARGET = 0.40, 0.40, 0.30
ROUNDS = 3

LUA_INSERT = LUA_THREAD_IDS + """
function init(args)
  run = args[1]
  n = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  n = n + 1
  return wrk.format(nil, "/insert", nil, string.format('{"payload":"%s-%d-%d"}', run, tid, n))
end
"""

LUA_READ = LUA_THREAD_IDS + """
function init(args)
  n = 0
end
function request()
  n = n + 1
  return wrk.format("GET", string.format("/read/%%d", (n * 7 + tid * 131) %% %d + 1))
end
""" % ceiling.READ_ROWS

LUA_EVENTS = LUA_THREAD_IDS + LUA_POST_INIT + """
function start(args)
  run, customers, occurred = args[1], tonumber(args[3]), args[4]
end
function request()
  n = n + 1
  local body = string.format('{"id":"%s-%d-%d","customer_id":"m%05d","type":"transaction",'
    .. '"occurred_at":"%s","amount":"100.00","currency":"CNY","category":"card_spend"}',
    run, tid, n, (n * 7 + tid * 131) % customers, occurred)
  return wrk.format(nil, "/api/v1/events", nil, body)
end
"""

LUA_PASS_LOOKUP = LUA_THREAD_IDS + """
codes = %(codes)s
function init(args)
  n = 0
  wrk.headers["Authorization"] = "Bearer " .. args[2]
end
function request()
  n = n + 1
  return wrk.format("GET", "/partner/v1/passes/" .. codes[(n + tid * 37) %% #codes + 1])
end
"""

LUA_CAPTURE = LUA_THREAD_IDS + LUA_POST_INIT + """
codes = %(codes)s
function start(args)
end
function request()
  n = n + 1
  local body = string.format('{"pass_code":"%%s","benefit":"medical_green_channel","capture":true}',
    codes[(n + tid * 37) %% #codes + 1])
  return wrk.format(nil, "/partner/v1/redemptions", nil, body)
end
"""

LUA_GET_CUSTOMERS = LUA_THREAD_IDS + """
function init(args)
  customers, prefix, suffix = tonumber(args[3]), args[4], args[5]
  n = 0
  wrk.headers["Authorization"] = "Bearer " .. args[2]
end
function request()
  n = n + 1
  return wrk.format("GET", string.format("%s%05d%s", prefix, (n * 7 + tid * 131) % customers, suffix))
end
"""


def prepare(url: str, now: datetime) -> dict:
    """Rules, keys, a partner, customers and passes, written through the services."""
    ceiling.create_table(url)
    app = create_app(DATABASE_URL=url, SECRET_KEY="unused")
    extension = app.extensions["benefits"]

    def partner(session):
        with extension.programs.active(session) as program:
            return _partner(session, program, now)

    try:
        app_key = seed(app, now, key_name="bench-app", customers={"m": (EVENT_CUSTOMERS, Decimal(80_000)),
                                                                  "p": (PASS_CUSTOMERS, Decimal(8_000_000))})
        partner_key, codes = db.run(extension.sessions, partner)
        admin_key = db.run(extension.sessions, lambda s: keys.create_key(
            s, role="admin", name="bench-metrics", actor=audit.SYSTEM, now=now)[1])
    finally:
        extension.engine.dispose()
    return {"app_key": app_key, "partner_key": partner_key, "admin_key": admin_key, "codes": codes}


def _partner(session, program, now):
    """A partner, its key and a pass per private customer."""
    partners.create(session, program, NewPartner("bench-hospital", "Bench Hospital", PartnerKind.HOSPITAL,
                                                 tuple(PARTNER_BENEFITS)), actor=audit.SYSTEM, now=now)
    _, partner_key = keys.create_key(session, role="partner", name="bench-desk", partner_id="bench-hospital",
                                     actor=audit.SYSTEM, now=now)
    codes = [passes.issue(session, program, f"p{i:05d}", benefit=None, ttl_seconds=PASS_TTL_SECONDS,
                          actor=audit.SYSTEM, now=now)[0] for i in range(PASS_CUSTOMERS)]
    return partner_key, codes


def occurred_text(now: datetime) -> str:
    local = (now - timedelta(minutes=5)).astimezone(timezone(timedelta(hours=8)))
    return local.replace(microsecond=0).isoformat()


def error_note(m) -> str:
    return f"{m.errors} of {m.requests} requests failed (see the server log)" if m.errors else ""


@dataclass
class Side:
    """One side of a comparison: where, what wrk sends (a Lua script and its arguments)."""

    url: str
    script: str
    args: tuple = ()

    def measure(self, load: Load, round_label: str):
        args = (f"{self.args[0]}{round_label}", *self.args[1:]) if self.args else ()
        return measure(self.url, load, script=self.script, args=args)


def alternate(service: Side, baseline: Side, load: Load) -> list[tuple]:
    """``ROUNDS`` pairs (baseline, service), measured one after the other."""
    return [(baseline.measure(load, f"r{n}"), service.measure(load, f"r{n}")) for n in range(ROUNDS)]


def run(backend: str, load: Load) -> list[Row]:
    rows: list[Row] = []
    now = datetime.now(timezone.utc)
    with Database(backend, "bench_http") as db:
        log(f"[{backend}] preparing the service's data ...")
        data = prepare(db.url, now)
        env = db.env()
        log_path = db.path / "server.log"
        codes = lua_string_list(data["codes"])
        log(f"[{backend}] the ceiling and the service side by side, {ROUNDS} alternating rounds a row")
        with serve("ceiling:app", {**env, "BENCH_CEILING_DATABASE_URL": db.url}, log_path=log_path,
                   extra=("--pythonpath", str(ROOT / "bench"))) as ceiling_server, \
                serve("wsgi:app", env, log_path=log_path, ready_path="/readyz") as server:
            hello = measure(ceiling_server.url + "/hello", load)
            insert = Side(ceiling_server.url, LUA_INSERT, ("i",))
            read = Side(ceiling_server.url, LUA_READ)
            pairs = {
                "events": alternate(Side(server.url, LUA_EVENTS, ("ev", data["app_key"], EVENT_CUSTOMERS,
                                                                  occurred_text(now))), insert, load),
                "lookup": alternate(Side(server.url, LUA_PASS_LOOKUP % {"codes": codes}, ("pl", data["partner_key"])),
                                    read, load),
                "capture": alternate(Side(server.url, LUA_CAPTURE % {"codes": codes}, ("pc", data["partner_key"])),
                                     insert, load),
            }
        rows.append(Row(backend, "ceiling: hello-world", f"{rate(hello.rps)} req/s", "", None, "", "", None,
                        data={"hello": vars_of(hello)}))
        for key, label, baseline_name, target in (
                ("events", "POST /api/v1/events (one event, one award)", "insert ceiling", EVENTS_TARGET),
                ("lookup", "GET /partner/v1/passes/{code}", "read ceiling", LOOKUP_TARGET),
                ("capture", "POST /partner/v1/redemptions (capture: true)", "insert ceiling", CAPTURE_TARGET)):
            rows += compare(backend, label, pairs[key], baseline_name, target)
    return rows


def compare(backend: str, label: str, pairs: list[tuple], baseline_name: str, target: float) -> list[Row]:
    """The median of the rounds' ratios, with the median rates and p99s of each side."""
    ratios = [m.rps / b.rps for b, m in pairs if b.rps]
    ratio = statistics.median(ratios) if ratios else None
    service_rps = statistics.median(m.rps for _, m in pairs)
    baseline_rps = statistics.median(b.rps for b, _ in pairs)
    service_p99 = statistics.median(m.p99_ms for _, m in pairs)
    baseline_p99 = statistics.median(b.p99_ms for b, _ in pairs)
    errors = next((error_note(m) for b, m in pairs if m.errors), "") or next(
        (error_note(b) for b, m in pairs if b.errors), "")
    rounds = ", ".join(f"{r:.0%}" for r in ratios)
    p99_factor = service_p99 / baseline_p99 if baseline_p99 else None
    return [
        Row(backend, f"{label} req/s", f"{rate(service_rps)} req/s", f"{baseline_name} {rate(baseline_rps)} req/s",
            ratio, f"{ratio:.0%}" if ratio is not None else "n/a", f"≥ {target:.0%}",
            ratio is not None and ratio >= target and not errors, note=errors or f"rounds: {rounds}",
            data={"rounds": [{"baseline": vars_of(b), "measured": vars_of(m)} for b, m in pairs],
                  "ratios": ratios}),
        Row(backend, f"{label} p99", f"{service_p99:.1f} ms", f"{baseline_name} {baseline_p99:.1f} ms",
            p99_factor, f"×{p99_factor:.1f}" if p99_factor else "n/a", "", None),
    ]


def vars_of(m) -> dict:
    return {"requests": m.requests, "seconds": m.seconds, "rps": m.rps, "p50_ms": m.p50_ms, "p99_ms": m.p99_ms,
            "errors": m.errors}


# ---------------------------------------------------------------- 2 and 4 processes on PostgreSQL


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _scrape(url: str, key: str) -> dict[str, float]:
    request = urllib.request.Request(url + "/metrics", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    wanted = {}
    for name, pattern in (
            ("tip_wait_sum", r'^benefits_audit_tip_lock_wait_seconds_sum (\S+)'),
            ("tip_wait_count", r'^benefits_audit_tip_lock_wait_seconds_count (\S+)'),
            ("request_sum", r'^benefits_http_request_duration_seconds_sum\{method="POST",route="/api/v1/events"\} (\S+)'),
            ("request_count", r'^benefits_http_request_duration_seconds_count\{method="POST",route="/api/v1/events"\} (\S+)')):
        found = re.search(pattern, text, re.M)
        wanted[name] = float(found.group(1)) if found else 0.0
    return wanted


def four_processes(load: Load) -> list[Row]:
    """POST /api/v1/events on PostgreSQL with 2 and with 4 worker processes (4 threads each, a connection a
    thread): requests/s, the share of a request's time spent waiting for the audit tip, and how busy the
    cores were."""
    rows = []
    now = datetime.now(timezone.utc)
    with Database("postgresql", "bench_procs") as db:
        log("[postgresql] 2 and 4 processes: POST /api/v1/events ...")
        data = prepare(db.url, now)
        results = {}
        for workers in (2, 4):
            with serve("wsgi:app", db.env(), log_path=db.path / "server.log", ready_path="/readyz",
                       extra=("--workers", str(workers))) as server:
                side = Side(server.url, LUA_EVENTS, (f"w{workers}", data["app_key"], EVENT_CUSTOMERS,
                                                     occurred_text(now)))
                scaled = replace(load, connections=workers * 4)
                side.measure(replace(scaled, seconds=load.warmup_seconds, warmup_seconds=0), "warm")
                before, cpu_before = _scrape(server.url, data["admin_key"]), _cpu_ticks()
                measured = side.measure(replace(scaled, warmup_seconds=0), "m")
                after, cpu_after = _scrape(server.url, data["admin_key"]), _cpu_ticks()
            delta = {k: after[k] - before[k] for k in after}
            busy = (cpu_after[0] - cpu_before[0]) / max(1, cpu_after[1] - cpu_before[1])
            tip_ms = 1000 * delta["tip_wait_sum"] / max(1, delta["tip_wait_count"])
            request_ms = 1000 * delta["request_sum"] / max(1, delta["request_count"])
            results[workers] = measured.rps
            rows.append(Row("postgresql", f"POST /api/v1/events, {workers} processes × 4 threads",
                            f"{rate(measured.rps)} req/s", f"cores busy {busy:.0%}",
                            tip_ms / request_ms if request_ms else None,
                            f"tip wait {tip_ms:.2f} of {request_ms:.1f} ms", "", None,
                            note=error_note(measured),
                            data={"workers": workers, "rps": measured.rps, "cpu_busy": busy,
                                  "tip_wait_ms": tip_ms, "request_ms": request_ms}))
    gain = results[4] / results[2] if results.get(2) else None
    rows.append(Row("postgresql", "4 processes against 2", f"×{gain:.2f}" if gain else "n/a", "", gain,
                    f"×{gain:.2f}" if gain else "n/a", "", None))
    return rows
