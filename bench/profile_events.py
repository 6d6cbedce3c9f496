"""Profile the events path in one process with pyinstrument: where a POST /api/v1/events spends its time.

Runs ``--n`` single events (the bench's shape: a card payment of CNY 100 by a
mass customer, one award) through the Flask test client, or ``--n`` events
through ``events.record_many`` in chunks of 1,000 (``--path batch``, what
`benefits events import` and POST /api/v1/events/batch do), and prints the
profile and the time per event. pyinstrument is a development tool:
`.venv/bin/pip install pyinstrument` first.

    .venv/bin/python bench/profile_events.py [--backend sqlite|postgresql] [--path single|batch] [--n 2000]
                                             [--html profile.html]
"""
import argparse
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Database, log, postgres_reachable, seed  # noqa: E402

from benefits import create_app, db  # noqa: E402
from benefits.schemas.events import EventIn  # noqa: E402
from benefits.services import audit, customers, events, tiers  # noqa: E402

CUSTOMERS = 1000


class Phases:
    """Inclusive wall time of named functions, by wrapping them (no sampling, little overhead)."""

    def __init__(self):
        self.seconds, self.calls, self._undo = {}, {}, []

    def wrap(self, owner, attribute: str, label: str) -> None:
        original = getattr(owner, attribute)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started
                self.calls[label] = self.calls.get(label, 0) + 1

        setattr(owner, attribute, timed)
        self._undo.append((owner, attribute, original))

    def install(self) -> None:
        import sqlalchemy.orm
        from flask import Flask
        from sqlalchemy import event as sa_event

        from benefits.api import context
        from benefits.rules import program

        self.wrap(Flask, "full_dispatch_request", "request (Flask dispatch, all of it)")
        self.wrap(context.keys, "authenticate", "  authenticate the key (1 SELECT)")
        self.wrap(events, "record_many", "  events.record_many")
        self.wrap(events, "_lock_and_read", "    _lock_and_read (customers FOR UPDATE, known events, cap usage)")
        self.wrap(events, "_known_and_used", "      _known_and_used (read again: a customer changed meanwhile)")
        self.wrap(tiers, "refresh", "    tiers.refresh")
        self.wrap(program.Program, "earn", "    Program.earn (durable_rules)")
        self.wrap(events._Writes, "flush", "    writes (INSERT events, lots, entries; UPDATE caps, balances)")
        self.wrap(sqlalchemy.orm.Session, "commit", "  Session.commit (flush + audit seal + COMMIT)")
        self.wrap(sqlalchemy.orm.Session, "flush", "  Session.flush (every flush, inside the above too)")
        sa_event.remove(sqlalchemy.orm.Session, "before_commit", audit.seal)
        self.wrap(audit, "seal", "    audit.seal (tip lock, audit INSERT, tip UPDATE)")
        sa_event.listen(sqlalchemy.orm.Session, "before_commit", lambda session: audit.seal(session))

    def report(self, n: int) -> str:
        lines = [f"{'phase (inclusive wall time)':<62} {'ms/event':>9} {'calls/event':>12}"]
        for label, seconds in self.seconds.items():
            lines.append(f"{label:<62} {seconds / n * 1000:>9.3f} {self.calls[label] / n:>12.2f}")
        return "\n".join(lines)


def prepare(app, now):
    return seed(app, now, key_name="profile", customers={"m": (CUSTOMERS, Decimal(80_000))})


def body(i: int, occurred: str) -> dict:
    return {"id": f"p-{i}", "customer_id": f"m{(i * 7) % CUSTOMERS:05d}", "type": "transaction",
            "occurred_at": occurred, "amount": "100.00", "currency": "CNY", "category": "card_spend"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--path", default="single", choices=("single", "batch"))
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--html", type=Path, default=None, help="also write pyinstrument's HTML report here")
    parser.add_argument("--no-profile", action="store_true", help="time only (no profiler overhead)")
    parser.add_argument("--phases", action="store_true",
                        help="no profiler: inclusive wall time of the path's phases, by wrapping them")
    args = parser.parse_args()
    if args.backend == "postgresql" and not postgres_reachable():
        log("PostgreSQL is not reachable")
        return 2
    try:
        from pyinstrument import Profiler
    except ImportError:
        Profiler = None
        if not (args.no_profile or args.phases):
            log("pyinstrument is not installed: `.venv/bin/pip install pyinstrument`, or use --no-profile")
            return 2

    now = datetime.now(timezone.utc)
    occurred = (now - timedelta(minutes=5)).astimezone(timezone(timedelta(hours=8))).replace(microsecond=0).isoformat()
    with Database(args.backend, "bench_profile") as database:
        app = create_app(DATABASE_URL=database.url, SECRET_KEY="profile")
        key = prepare(app, now)
        client = app.test_client()
        headers = {"Authorization": f"Bearer {key}"}
        extension = app.extensions["benefits"]

        def single(lo, hi):
            for i in range(lo, hi):
                response = client.post("/api/v1/events", json=body(i, occurred), headers=headers)
                assert response.status_code == 201, response.get_json()

        def batch(lo, hi):
            for start in range(lo, hi, 1000):
                chunk = [EventIn().load(body(i, occurred)) for i in range(start, min(hi, start + 1000))]

                def record(session):
                    with extension.programs.active(session) as program:
                        return events.record_many(session, program, chunk, actor=audit.SYSTEM,
                                                   now=datetime.now(timezone.utc))

                results = db.run(extension.sessions, record)
                assert all(r.status == "created" for r in results), results[:3]


        work = single if args.path == "single" else batch
        work(10_000_000, 10_000_000 + min(200, args.n))  # warm-up: compile, caches, connections
        profiler = None if args.no_profile or args.phases or Profiler is None else Profiler(interval=0.001)
        phases = Phases() if args.phases else None
        if phases:
            phases.install()
        started = time.perf_counter()
        if profiler:
            profiler.start()
        work(0, args.n)
        if profiler:
            profiler.stop()
        elapsed = time.perf_counter() - started
        extension.engine.dispose()
    print(f"{args.backend} {args.path}: {args.n} events in {elapsed:.2f} s = {elapsed / args.n * 1000:.2f} ms/event"
          f" ({args.n / elapsed:,.0f}/s){' (profiled)' if profiler else ''}")
    if phases:
        print(phases.report(args.n))
    if profiler:
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        if args.html:
            args.html.write_text(profiler.output_html())
    return 0


if __name__ == "__main__":
    sys.exit(main())
