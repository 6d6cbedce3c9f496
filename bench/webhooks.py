"""Benchmark: the webhook worker delivering to a receiver on loopback, on SQLite and on PostgreSQL.

Two measurements a backend, each against a baseline from the same run:

- throughput: N messages (``--messages``, spread over ``--customers`` streams) already in the outbox,
  delivered by one worker (`benefits outbox run --once`'s code, ``--concurrency`` calls at a time:
  lease, sign, POST, record) — against plain POSTs of the same bodies to the same receiver from as many
  threads, with no database, lease or signature: the price of the outbox;
- wait: a worker running as `benefits outbox run` does (polling every ``--poll`` seconds when idle)
  while a writer commits one message every ``--every`` seconds; the time from each commit to its arrival
  at the receiver, p50 and p99 — against one bare POST to the receiver (the floor of any delivery).

The receiver is a threaded http.server answering 204, in this process.

    .venv/bin/python bench/webhooks.py [--messages 2000] [--customers 200] [--concurrency 8] [--poll 0.1]
                                       [--backends sqlite,postgresql] [--json]
"""
import argparse
import http.client
import json
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from common import Database, log, usable_backends  # noqa: E402

from benefits import create_app, db  # noqa: E402
from benefits.delivery import Settings, Worker  # noqa: E402
from benefits.encryption import new_key  # noqa: E402
from benefits.models import MessageType, OutboxMessage  # noqa: E402
from benefits.services import audit, outbox, rule_versions, webhooks  # noqa: E402
from benefits.services.webhooks import NewEndpoint  # noqa: E402

DEFAULT_RULES = ROOT / "rules" / "default.yaml"


class Receiver:
    """Answers 204 to every POST; remembers when each message id first arrived (monotonic seconds)."""

    def __init__(self):
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                message_id = self.headers.get("webhook-id")
                if message_id:
                    with receiver.lock:
                        receiver.arrived.setdefault(message_id, time.monotonic())
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def plain_post(port: int, body: bytes) -> None:
    """One POST on a new connection, as the worker makes it, without signing or a database."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request("POST", "/hooks", body, {"Content-Type": "application/json"})
        connection.getresponse().read()
    finally:
        connection.close()


def prepare(url: str, receiver: Receiver):
    app = create_app(DATABASE_URL=url, ENCRYPTION_KEYS=(new_key(),), WEBHOOK_ALLOW_PRIVATE=True)
    extension = app.extensions["benefits"]
    now = datetime.now(timezone.utc)

    def setup(session):
        rule_versions.bootstrap(session, DEFAULT_RULES.read_bytes(), "yaml", activate_it=True, now=now)
        webhooks.create(session, extension.encryption, NewEndpoint(receiver.url, tuple(MessageType)),
                        allow_private=True, actor=audit.SYSTEM, now=now)

    db.run(extension.sessions, setup)
    return app, extension


def publish(extension, customers: list[str], *, sequence: int) -> None:
    """One tier.changed message for each customer, in one transaction."""
    now = datetime.now(timezone.utc)

    def work(session):
        for customer in customers:
            outbox.publish(session, MessageType.TIER_CHANGED, {
                "customer_id": customer, "tier": "wealth", "previous_tier": "mass", "as_of": now.date(),
                "rule_version": 1, "sequence": sequence}, customer_id=customer, now=now)

    db.run(extension.sessions, work)


def throughput(backend: str, args) -> dict:
    receiver = Receiver()
    try:
        with Database(backend, "bench-webhooks") as database:
            app, extension = prepare(database.url, receiver)
            customers = [f"c{n:05d}" for n in range(args.customers)]
            rounds = max(1, args.messages // args.customers)
            for sequence in range(rounds):
                publish(extension, customers, sequence=sequence)
            total = rounds * len(customers)
            settings = Settings(schedule=(5,), allow_private=True, concurrency=args.concurrency, poll=0.01)
            worker = Worker(extension.sessions, extension.encryption, settings, extension.now)
            started = time.perf_counter()
            counts = worker.run(once=True)
            seconds = time.perf_counter() - started
            assert counts["delivered"] == total and len(receiver.arrived) == total, (counts, len(receiver.arrived))
            extension.engine.dispose()
        body = json.dumps({"id": "msg_" + "0" * 32, "type": "tier.changed", "occurred_at": "2026-12-01T00:00:00",
                           "data": {"customer_id": "c00001", "tier": "wealth"}}).encode()
        with ThreadPoolExecutor(args.concurrency) as pool:
            started = time.perf_counter()
            list(pool.map(lambda _: plain_post(receiver.port, body), range(total)))
            baseline_seconds = time.perf_counter() - started
    finally:
        receiver.close()
    per_second, baseline = total / seconds, total / baseline_seconds
    return {"bench": "webhooks", "what": "messages delivered", "backend": backend, "messages": total,
            "customers": args.customers, "concurrency": args.concurrency, "took_seconds": round(seconds, 3),
            "per_second": round(per_second, 1), "baseline": f"plain POSTs, {args.concurrency} threads",
            "baseline_per_second": round(baseline, 1), "ratio": round(per_second / baseline, 3)}


def wait(backend: str, args) -> dict:
    receiver = Receiver()
    try:
        with Database(backend, "bench-webhooks") as database:
            app, extension = prepare(database.url, receiver)
            settings = Settings(schedule=(5,), allow_private=True, concurrency=args.concurrency, poll=args.poll)
            worker = Worker(extension.sessions, extension.encryption, settings, extension.now)
            running = threading.Thread(target=worker.run, daemon=True)
            running.start()
            committed: dict[str, float] = {}
            for number in range(args.waits):
                customer = f"w{number:05d}"
                publish(extension, [customer], sequence=number)
                committed[customer] = time.monotonic()
                time.sleep(args.every)
            deadline = time.monotonic() + 30
            while len(receiver.arrived) < args.waits and time.monotonic() < deadline:
                time.sleep(0.01)
            worker.stop.set()
            running.join(30)
            with extension.engine.connect() as connection:
                ids = dict(connection.execute(select(OutboxMessage.message_id, OutboxMessage.customer_id)).all())
            extension.engine.dispose()
        body = b'{"id":"msg_bench"}'
        bare = []
        for _ in range(50):
            started = time.perf_counter()
            plain_post(receiver.port, body)
            bare.append(time.perf_counter() - started)
    finally:
        receiver.close()
    waits = sorted((receiver.arrived[message] - committed[customer]) * 1000 for message, customer in ids.items()
                   if customer in committed and message in receiver.arrived)
    assert len(waits) == args.waits, f"{len(waits)} of {args.waits} messages arrived"
    p50, p99 = statistics.median(waits), waits[min(len(waits) - 1, round(0.99 * (len(waits) - 1)))]
    baseline_ms = statistics.median(bare) * 1000
    return {"bench": "webhooks", "what": f"wait from commit to arrival (poll {args.poll:g} s), p50",
            "backend": backend, "messages": args.waits, "ms": round(p50, 1), "p99_ms": round(p99, 1),
            "max_ms": round(waits[-1], 1), "baseline": "one bare POST", "baseline_ms": round(baseline_ms, 2),
            "ratio": round(p50 / baseline_ms, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description="The webhook worker: messages per second, and the wait from "
                                                 "commit to delivery.")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--customers", type=int, default=200, help="streams the messages are spread over")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--poll", type=float, default=0.1, help="the idle worker's poll interval (its default)")
    parser.add_argument("--waits", type=int, default=100, help="messages committed one by one for the wait")
    parser.add_argument("--every", type=float, default=0.05, help="seconds between those commits")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    args = parser.parse_args()
    backends = usable_backends(args.backends)
    rows = []
    for backend in backends:
        log(f"webhooks on {backend}: throughput ...")
        rows.append(throughput(backend, args))
        log(f"webhooks on {backend}: wait from commit to delivery ...")
        rows.append(wait(backend, args))
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    print("| backend | measurement | value | baseline | ratio |")
    print("|---|---|---:|---:|---:|")
    for row in rows:
        value = f"{row['per_second']:,.0f} /s" if "per_second" in row else \
            f"{row['ms']:,.1f} ms (p99 {row['p99_ms']:,.1f} ms)"
        baseline = f"{row['baseline_per_second']:,.0f} /s" if "baseline_per_second" in row else \
            f"{row['baseline_ms']:,.2f} ms"
        print(f"| {row['backend']} | {row['what']} | {value} | {row['baseline']}: {baseline} | ×{row['ratio']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
