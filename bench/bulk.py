"""Row 4 of the table: bulk events through the service, against a plain executemany of the same rows.

N generated transactions for N/10 customers (the full size is 1,000,000 for
100,000; ``--scale`` shrinks both) are recorded three ways, each in a fresh
database holding the same customers under the same active rules:

* through ``POST /api/v1/events/batch`` (1,000 events a request) on the
  service under gunicorn, from 2 client threads (one per worker), each sending
  the events of its own half of the customers, in file order;
* through ``benefits events import FILE.csv`` (one process, chunks of 1,000);
* through ``benefits consume`` (one process, chunks of 1,000) from a RabbitMQ
  queue the events were published to beforehand; its time ends with its last
  chunk (the idle second it waits before it exits is taken off);
* the baseline: the rows the import wrote for those events (events, lots and
  their movements, ledger entries, audit rows, cap usage), read back and inserted into a
  database of their own with one executemany per table (per 200,000 rows beyond that),
  in one transaction. It runs after each of the ways in (the import runs first), and
  the median of its runs is the one compared with: a single run of it swung from 2.8
  to 5.1 s within an hour on SQLite.

Each event is a card payment, a wealth-product or fund purchase or an
insurance premium (one earning rule each, so one award, sometimes cut by its
cap), dated in the last 30 days.
"""
import csv
import http.client
import json
import random
import statistics
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from common import DEFAULT_RULES, Database, Row, log, rate, serve, share

from benefits import create_app
from benefits.models import AuditRecord, CapUsage, Customer, Event, LedgerEntry, Lot, LotMovement
from benefits.services import audit, keys, rule_versions

FULL_EVENTS = 1_000_000
TARGET = 0.25
BATCH = 1000
CLIENTS = 2
INSERT_CHUNK = 10_000
EXECUTEMANY_CHUNK = 200_000
CATEGORIES = (("card_spend", 0.6, 20, 5_000), ("wealth_product", 0.15, 10_000, 500_000),
              ("fund", 0.15, 5_000, 200_000), ("insurance", 0.10, 5_000, 100_000))
SHANGHAI = timezone(timedelta(hours=8))
COLUMNS = ("id", "customer_id", "type", "occurred_at", "amount", "currency", "category", "channel")


def customer_rows(n: int, version: int, now: datetime, seed: int = 11):
    """Customers spread like a bank's book: log-uniform AUM from 10 thousand to 30 million."""
    rng = random.Random(seed)
    today = now.astimezone(SHANGHAI).date()
    for i in range(n):
        aum = Decimal(round(10 ** rng.uniform(4, 7.5), 2)).quantize(Decimal("0.01"))
        yield {"id": f"k{i:07d}", "name": "张三", "aum": aum, "annual_contribution": Decimal(0), "tags": [],
               "birthday": None, "customer_since": date(2015, 1, 1) + timedelta(days=rng.randrange(3000)),
               "last_as_of": today, "tier_version": version, "below_tier_since": None, "aum_growth_3m": None,
               "tier": "private" if aum >= 6_000_000 else "wealth" if aum >= 500_000 else "mass",
               "signals": [], "balance": 0, "created_at": now, "updated_at": now}


def event_rows(n: int, customers: int, now: datetime, seed: int = 12):
    rng = random.Random(seed)
    names = [c[0] for c in CATEGORIES]
    weights = [c[1] for c in CATEGORIES]
    ranges = {c[0]: (c[2], c[3]) for c in CATEGORIES}
    for i in range(n):
        category = rng.choices(names, weights)[0]
        low, high = ranges[category]
        occurred = (now - timedelta(seconds=rng.randrange(30 * 86400))).astimezone(SHANGHAI).replace(microsecond=0)
        yield {"id": f"bulk-{i:08d}", "customer_id": f"k{rng.randrange(customers):07d}", "type": "transaction",
               "occurred_at": occurred.isoformat(), "amount": f"{rng.uniform(low, high):.2f}", "currency": "CNY",
               "category": category, "channel": rng.choice(("app", "branch", "card"))}


def prepare(url: str, customers: int, now: datetime, *, app_key: bool) -> str | None:
    """Active rules, the customers (bulk-inserted), and an app key when asked."""
    app = create_app(DATABASE_URL=url, SECRET_KEY="unused")
    extension = app.extensions["benefits"]
    try:
        with extension.sessions() as session:
            version = rule_versions.bootstrap(session, DEFAULT_RULES.read_bytes(), "yaml", activate_it=True, now=now)
            key = None
            if app_key:
                _, key = keys.create_key(session, role="app", name="bench-bulk", actor=audit.SYSTEM, now=now)
            session.commit()
            version_id = version.id
        rows = customer_rows(customers, version_id, now)
        with extension.engine.begin() as connection:
            while chunk := [row for _, row in zip(range(INSERT_CHUNK), rows)]:
                connection.execute(sa.insert(Customer), chunk)
    finally:
        extension.engine.dispose()
    return key


def write_csv(path: Path, bodies: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(bodies)


def via_batch(db: Database, bodies: list[dict], key: str) -> tuple[float, dict]:
    """POST /api/v1/events/batch from CLIENTS threads, each with its own customers; returns seconds and statuses."""
    streams = [[b for b in bodies if int(b["customer_id"][1:]) % CLIENTS == i] for i in range(CLIENTS)]
    statuses: dict = {}
    failures: list = []
    lock = threading.Lock()
    with serve("wsgi:app", db.env(), log_path=db.path / "server.log", ready_path="/readyz") as server:
        host, port = server.url.removeprefix("http://").split(":")

        def send(stream: list[dict]) -> None:
            connection = http.client.HTTPConnection(host, int(port), timeout=600)
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
            try:
                for start in range(0, len(stream), BATCH):
                    payload = json.dumps({"events": stream[start:start + BATCH]})
                    connection.request("POST", "/api/v1/events/batch", payload, headers)
                    response = connection.getresponse()
                    answer = response.read()
                    if response.status != 200:
                        raise RuntimeError(f"batch answered {response.status}: {answer[:300]!r}")
                    counts: dict = {}
                    for result in json.loads(answer)["results"]:
                        counts[result["status"]] = counts.get(result["status"], 0) + 1
                    with lock:
                        for status, count in counts.items():
                            statuses[status] = statuses.get(status, 0) + count
            except Exception as error:  # noqa: BLE001 - reported below, the bench goes on
                failures.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=send, args=(stream,)) for stream in streams]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"batch posting failed: {failures[0]}")
    return seconds, statuses


AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
IDLE_EXIT = 1.0


def via_consume(db: Database, bodies: list[dict]) -> tuple[float, str]:
    """Publish the events to a queue of their own (not timed), then time `benefits consume` draining it."""
    import pika

    from benefits.consumer import Topology

    topology = Topology(f"bench.{db.path.name}")
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    topology.declare(channel)
    for body in bodies:
        channel.basic_publish("", topology.queue, json.dumps(body))
    command = [str(Path(sys.executable).parent / "benefits"), "consume", "--exit-when-idle", str(IDLE_EXIT)]
    env = {**db.env(), "BENEFITS_AMQP_URL": AMQP_URL, "BENEFITS_AMQP_QUEUE": topology.queue}
    try:
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=db.path)
        seconds = time.perf_counter() - started - IDLE_EXIT
        if done.returncode != 0:
            raise RuntimeError(f"benefits consume failed: {done.stderr[-500:]}")
    finally:
        for queue in (topology.queue, topology.dead):
            channel.queue_delete(queue)
        channel.exchange_delete(topology.exchange)
        connection.close()
    return seconds, done.stdout.strip().splitlines()[-1]


def via_import(db: Database, path: Path) -> tuple[float, str]:
    command = [str(Path(sys.executable).parent / "benefits"), "events", "import", str(path),
               "--rejected", str(path.with_suffix(".rejected"))]
    started = time.perf_counter()
    done = subprocess.run(command, env=db.env(), capture_output=True, text=True, cwd=db.path)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"benefits events import failed: {done.stderr[-500:]}")
    return seconds, done.stdout.strip().splitlines()[-1]


TABLES = (Event, Lot, LotMovement, LedgerEntry, CapUsage, AuditRecord)


def written_rows(url: str, first_audit_seq: int) -> dict:
    """The rows the service wrote for the events: every row of these tables, audit rows past the setup's."""
    engine = sa.create_engine(url) if not url.startswith("sqlite") else sa.create_engine(url)
    rows = {}
    try:
        with engine.connect() as connection:
            for model in TABLES:
                query = sa.select(model.__table__)
                if model is AuditRecord:
                    query = query.where(AuditRecord.seq >= first_audit_seq)
                rows[model.__tablename__] = [dict(r) for r in connection.execute(query).mappings()]
    finally:
        engine.dispose()
    return rows


def audit_rows(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).select_from(AuditRecord)).scalar_one()
    finally:
        engine.dispose()


def executemany(url: str, rows: dict) -> float:
    """One executemany per table (per EXECUTEMANY_CHUNK rows), one transaction; returns the seconds."""
    from benefits.db import make_engine

    engine = make_engine(url)
    try:
        started = time.perf_counter()
        with engine.begin() as connection:
            for model in TABLES:
                table_rows = rows[model.__tablename__]
                for start in range(0, len(table_rows), EXECUTEMANY_CHUNK):
                    connection.execute(sa.insert(model.__table__), table_rows[start:start + EXECUTEMANY_CHUNK])
        return time.perf_counter() - started
    finally:
        engine.dispose()


PATHS = ("batch", "import", "consume")


def baseline(backend: str, customers: int, now: datetime, rows: dict) -> float:
    """The seconds of one executemany of ``rows``, in a database of its own."""
    with Database(backend, "bench_executemany") as db:
        log(f"[{backend}] bulk: the same rows with one executemany per table ...")
        prepare(db.url, customers, now, app_key=False)
        return executemany(db.url, rows)


def run(backend: str, scale: float, paths: tuple[str, ...] = PATHS) -> list[Row]:
    """The bulk rows of the ways in named (the import always runs, first: the baseline writes the rows it
    wrote). The baseline runs after each way in, and the median of its runs is the one compared with."""
    n = max(1000, int(FULL_EVENTS * scale))
    customers = max(100, n // 10)
    now = datetime.now(timezone.utc)
    size = f"{n:,} events, {customers:,} customers"
    bodies = list(event_rows(n, customers, now))
    measured, baselines = [], []

    with Database(backend, "bench_import") as db:
        log(f"[{backend}] bulk: {size} through `benefits events import` ...")
        prepare(db.url, customers, now, app_key=False)
        first_seq = audit_rows(db.url) + 1
        path = db.path / "events.csv"
        write_csv(path, bodies)
        seconds, summary = via_import(db, path)
        measured.append(("benefits events import (CSV)", seconds, summary, f"created {n}, duplicate 0, rejected 0"))
        rows = written_rows(db.url, first_seq)
    baselines.append(baseline(backend, customers, now, rows))
    if "batch" in paths:
        with Database(backend, "bench_batch") as db:
            log(f"[{backend}] bulk: {size} through POST /api/v1/events/batch ...")
            key = prepare(db.url, customers, now, app_key=True)
            seconds, statuses = via_batch(db, bodies, key)
            measured.insert(0, ("POST /api/v1/events/batch", seconds, statuses, {"created": n}))
        baselines.append(baseline(backend, customers, now, rows))
    if "consume" in paths:
        with Database(backend, "bench_consume") as db:
            log(f"[{backend}] bulk: {size} through `benefits consume` ...")
            prepare(db.url, customers, now, app_key=False)
            seconds, tally = via_consume(db, bodies)
            measured.append(("benefits consume (RabbitMQ)", seconds, tally,
                             f"recorded {n}, duplicate 0, dead-lettered 0, returned 0"))
        baselines.append(baseline(backend, customers, now, rows))
    baseline_seconds = statistics.median(baselines)

    counts = ", ".join(f"{len(v):,} {k}" for k, v in rows.items())
    baseline_rate = n / baseline_seconds
    runs = ", ".join(f"{b:.1f}" for b in baselines)
    compared = (f"executemany {rate(baseline_rate)} events/s ({baseline_seconds:.1f} s"
                + (f", the median of {runs} s)" if len(baselines) > 1 else ")"))
    out = []
    for label, seconds, check, expected in measured:
        ratio, text = share(n / seconds, baseline_rate)
        ok = check == expected
        out.append(Row(backend, f"bulk: {label}, {size}", f"{rate(n / seconds)} events/s ({seconds:.1f} s)",
                       compared, ratio, text, f"≥ {TARGET:.0%}", ratio >= TARGET and ok,
                       note="" if ok else f"expected {expected}, got {check}",
                       data={"events": n, "customers": customers, "seconds": seconds,
                             "baseline_seconds": baseline_seconds, "baseline_runs": baselines,
                             "rows": {k: len(v) for k, v in rows.items()}}))
    out[-1].note = out[-1].note or f"rows per run: {counts}"
    return out
