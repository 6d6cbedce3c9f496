"""Rows 1-3 of the table: the stack's ceiling, then the service's routes against it, under wrk.

One database per backend holds the ceiling's table and the service's data:
1,000 mass customers for events (each event a card payment of CNY 100: one
award, ``card-spend``, 5 points), 100 private customers with a pass each for
the partner rows, and a partner (a hospital serving the medical green channel
and health checks) with its key. The private tier's green channel is unlimited,
so every capture redemption succeeds however many the run makes.
"""
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
EVENTS_TARGET, PARTNER_TARGET = 0.50, 0.60

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
    finally:
        extension.engine.dispose()
    return {"app_key": app_key, "partner_key": partner_key, "codes": codes}


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


def error_note(name: str, m) -> str:
    return f"{m.errors} of {m.requests} requests failed (see the server log)" if m.errors else ""


def run(backend: str, load: Load, partner_routes: bool = True) -> list[Row]:
    rows: list[Row] = []
    now = datetime.now(timezone.utc)
    with Database(backend, "bench_http") as db:
        log(f"[{backend}] preparing the service's data ...")
        data = prepare(db.url, now)
        env = db.env()
        log_path = db.path / "server.log"

        log(f"[{backend}] ceiling: hello-world and insert-one-row, {GUNICORN_TEXT}")
        with serve("ceiling:app", {**env, "BENCH_CEILING_DATABASE_URL": db.url}, log_path=log_path,
                   extra=("--pythonpath", str(ROOT / "bench"))) as server:
            hello = measure(server.url + "/hello", load)
            insert = measure(server.url, load, script=LUA_INSERT, args=("i",))
        ratio, text = share(insert.rps, hello.rps)
        rows.append(Row(backend, "ceiling: insert one row + commit (POST JSON) req/s", f"{rate(insert.rps)} req/s",
                        f"hello-world {rate(hello.rps)} req/s", ratio, text, "", None,
                        note=error_note("ceiling", hello) or error_note("ceiling", insert),
                        data={"insert": vars_of(insert), "hello": vars_of(hello)}))
        p99 = insert.p99_ms / hello.p99_ms if hello.p99_ms else None
        rows.append(Row(backend, "ceiling: insert one row + commit p99", f"{insert.p99_ms:.1f} ms",
                        f"hello-world {hello.p99_ms:.1f} ms", p99, f"×{p99:.1f}" if p99 else "n/a", "", None))

        log(f"[{backend}] service: POST /api/v1/events, partner routes")
        with serve("wsgi:app", env, log_path=log_path, ready_path="/readyz") as server:
            key = data["app_key"]
            events = measure(server.url, load, script=LUA_EVENTS,
                             args=("ev", key, EVENT_CUSTOMERS, occurred_text(now)))
            partner = {}
            if partner_routes and data["codes"] and _route_exists(server.url):
                codes = lua_string_list(data["codes"])
                partner["lookup"] = measure(server.url, load, script=LUA_PASS_LOOKUP % {"codes": codes},
                                            args=("pl", data["partner_key"]))
                partner["capture"] = measure(server.url, load, script=LUA_CAPTURE % {"codes": codes},
                                             args=("pc", data["partner_key"]))
        rows += compare(backend, "POST /api/v1/events (one event, one award)", events, insert,
                        "insert ceiling", EVENTS_TARGET)
        for label, key in (("GET /partner/v1/passes/{code}", "lookup"),
                           ("POST /partner/v1/redemptions (capture: true)", "capture")):
            if key in partner:
                rows += compare(backend, label, partner[key], hello, "hello-world", PARTNER_TARGET)
            else:
                rows.append(Row(backend, label + " req/s", "n/a (route missing)", "hello-world", None, "n/a",
                                f"≥ {PARTNER_TARGET:.0%}", None))
    return rows


def compare(backend: str, label: str, m, baseline, baseline_name: str, target: float) -> list[Row]:
    ratio, text = share(m.rps, baseline.rps)
    p99_factor = m.p99_ms / baseline.p99_ms if baseline.p99_ms else None
    return [
        Row(backend, f"{label} req/s", f"{rate(m.rps)} req/s", f"{baseline_name} {rate(baseline.rps)} req/s",
            ratio, text, f"≥ {target:.0%}", ratio is not None and ratio >= target and not m.errors,
            note=error_note(label, m), data={"measured": vars_of(m), "baseline": vars_of(baseline)}),
        Row(backend, f"{label} p99", f"{m.p99_ms:.1f} ms", f"{baseline_name} {baseline.p99_ms:.1f} ms",
            p99_factor, f"×{p99_factor:.1f}" if p99_factor else "n/a", "", None),
    ]


def vars_of(m) -> dict:
    return {"requests": m.requests, "seconds": m.seconds, "rps": m.rps, "p50_ms": m.p50_ms, "p99_ms": m.p99_ms,
            "errors": m.errors}


def _route_exists(url: str) -> bool:
    """Whether the service's OpenAPI document has the partner routes of the contract."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url + "/openapi.json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            spec = json.load(response)
    except (urllib.error.URLError, ValueError):
        return False
    return "/partner/v1/passes/{code}" in spec.get("paths", {}) and "/partner/v1/redemptions" in spec.get("paths", {})
