"""Row 6 of the table: GET /api/v1/customers/{id}/points with 10,000,000 ledger rows against 1,000.

1,000 customers, each with one lot of 30 points and its ``earn`` entry: 1,000
ledger rows. The route is measured, then the ledger grows to ``--ledger-rows``
rows (10,000,000 by default) spread evenly over the same customers, bulk-loaded
straight into the table (COPY on PostgreSQL, executemany on SQLite): pairs of
``earn`` +10 / ``redeem`` −10 entries (an ``adjust`` of 0 makes an odd count
even), so every balance still equals its ledger sum. The lots do not change,
so the second measurement differs from the first only in the ledger's size:
the balance is a stored column, and the route should not notice.
"""
import io
import os
import sqlite3
import time
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from common import DEFAULT_RULES, Database, Row, log, measure, rate, serve, share
from latency import LUA_GET_CUSTOMERS, vars_of

from benefits import create_app
from benefits.models import Customer, LedgerEntry, Lot
from benefits.services import audit, keys, rule_versions

CUSTOMERS = 1000
BASE_POINTS = 30
FLAT = 0.90
COPY_CHUNK = 200_000
COLUMNS = ("customer_id", "kind", "points", "balance_after", "event_id", "lot_id", "rule_version", "rule_id",
           "reference", "created_at")


def prepare(url: str, now: datetime) -> str:
    app = create_app(DATABASE_URL=url, SECRET_KEY="unused")
    extension = app.extensions["benefits"]
    try:
        with extension.sessions() as session:
            version = rule_versions.bootstrap(session, DEFAULT_RULES.read_bytes(), "yaml", activate_it=True, now=now)
            _, key = keys.create_key(session, role="app", name="bench-points", actor=audit.SYSTEM, now=now)
            session.commit()
            version_id = version.id
        today = now.date()
        with extension.engine.begin() as connection:
            connection.execute(sa.insert(Customer), [
                {"id": customer_id(i), "name": "张三", "aum": 100000, "annual_contribution": 0, "tags": [],
                 "birthday": None, "customer_since": today, "last_as_of": today, "tier": "mass",
                 "tier_version": version_id, "below_tier_since": None, "aum_growth_3m": None, "signals": [],
                 "balance": BASE_POINTS, "created_at": now, "updated_at": now} for i in range(CUSTOMERS)])
            lot_ids = connection.execute(sa.insert(Lot).returning(Lot.id, Lot.customer_id), [
                {"customer_id": customer_id(i), "event_id": None, "rule_id": "bench", "rule_version": version_id,
                 "points": BASE_POINTS, "remaining": BASE_POINTS, "earned_at": now - timedelta(days=10),
                 "available_at": now - timedelta(days=3), "expires_at": now + timedelta(days=700)}
                for i in range(CUSTOMERS)]).all()
            connection.execute(sa.insert(LedgerEntry), [
                {"customer_id": customer, "kind": "earn", "points": BASE_POINTS, "balance_after": BASE_POINTS,
                 "event_id": None, "lot_id": lot_id, "rule_version": version_id, "rule_id": "bench", "reference": None,
                 "created_at": now - timedelta(days=10)} for lot_id, customer in lot_ids])
    finally:
        extension.engine.dispose()
    return key


def customer_id(i: int) -> str:
    return f"l{i:05d}"


def extra_entries(total: int, start: datetime):
    """(customer, kind, points, balance_after, created_at) rows: per customer, +10/−10 pairs, an odd one adjusts 0."""
    per_customer, left_over = divmod(total, CUSTOMERS)
    for i in range(CUSTOMERS):
        count = per_customer + (1 if i < left_over else 0)
        customer = customer_id(i)
        for j in range(count):
            if j == count - 1 and count % 2:
                yield customer, "adjust", 0, BASE_POINTS, start + timedelta(seconds=j)
            elif j % 2 == 0:
                yield customer, "earn", 10, BASE_POINTS + 10, start + timedelta(seconds=j)
            else:
                yield customer, "redeem", -10, BASE_POINTS, start + timedelta(seconds=j)


def load_postgresql(url: str, total: int, start: datetime) -> None:
    import psycopg

    conninfo = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as connection:
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY ledger_entries ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                buffer = io.StringIO()
                for n, (customer, kind, points, after, at) in enumerate(extra_entries(total, start), start=1):
                    buffer.write(f"{customer}\t{kind}\t{points}\t{after}\t\\N\t\\N\t1\tbench\t\\N\t"
                                 f"{at.isoformat()}\n")
                    if n % COPY_CHUNK == 0:
                        copy.write(buffer.getvalue())
                        buffer = io.StringIO()
                copy.write(buffer.getvalue())
        connection.commit()
        # vacuum now, not mid-measurement: autovacuum of 10M fresh rows would compete for the same cores
        connection.autocommit = True
        connection.execute("VACUUM (ANALYZE) ledger_entries")


def load_sqlite(path: str, total: int, start: datetime) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        rows = ((customer, kind, points, after, None, None, 1, "bench", None,
                 at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"))
                for customer, kind, points, after, at in extra_entries(total, start))
        with connection:
            connection.executemany(
                f"INSERT INTO ledger_entries ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", rows)
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def ledger_rows(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).select_from(LedgerEntry)).scalar_one()
    finally:
        engine.dispose()


def best_of_two(url: str, load, args):
    """The faster of two measurements: on two shared cores one run in a few is halved by interference."""
    return max((measure(url, load, script=LUA_GET_CUSTOMERS, args=args) for _ in range(2)), key=lambda m: m.rps)


def run(backend: str, load, total_rows: int) -> list[Row]:
    now = datetime.now(timezone.utc)
    with Database(backend, "bench_points") as db:
        log(f"[{backend}] points: {CUSTOMERS:,} customers, {CUSTOMERS:,} ledger rows ...")
        key = prepare(db.url, now)
        args = ("pt", key, CUSTOMERS, "/api/v1/customers/l", "/points")
        with serve("wsgi:app", db.env(), log_path=db.path / "server.log", ready_path="/readyz") as server:
            small = best_of_two(server.url, load, args)
        small_rows = ledger_rows(db.url)
        log(f"[{backend}] points: loading {total_rows - small_rows:,} more ledger rows ...")
        started = time.perf_counter()
        start = now - timedelta(days=700)
        if backend == "postgresql":
            load_postgresql(db.url, total_rows - small_rows, start)
        else:
            load_sqlite(db.url.removeprefix("sqlite:///"), total_rows - small_rows, start)
        load_seconds = time.perf_counter() - started
        os.sync()  # the gigabyte just written goes to disk now, not during the measurement
        large_rows = ledger_rows(db.url)
        log(f"[{backend}] points: {large_rows:,} ledger rows loaded in {load_seconds:.0f} s; measuring again")
        with serve("wsgi:app", db.env(), log_path=db.path / "server.log", ready_path="/readyz") as server:
            large = best_of_two(server.url, load, args)
    ratio, text = share(large.rps, small.rps)
    p99 = large.p99_ms / small.p99_ms if small.p99_ms else None
    label = f"GET /api/v1/customers/{{id}}/points, {large_rows:,} ledger rows"
    errors = large.errors + small.errors
    return [
        Row(backend, f"{label} req/s", f"{rate(large.rps)} req/s", f"{small_rows:,} rows: {rate(small.rps)} req/s",
            ratio, text, f"≥ {FLAT:.0%} (flat)", ratio >= FLAT and not errors,
            note=f"{errors} requests failed" if errors else f"{large_rows - small_rows:,} rows loaded in {load_seconds:.0f} s",
            data={"small": vars_of(small), "large": vars_of(large), "ledger_rows": [small_rows, large_rows],
                  "load_seconds": load_seconds}),
        Row(backend, f"{label} p99", f"{large.p99_ms:.1f} ms", f"{small_rows:,} rows: {small.p99_ms:.1f} ms",
            p99, f"×{p99:.2f}" if p99 else "n/a", "", None),
    ]
