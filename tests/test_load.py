"""A bounded load test: mixed traffic on loopback for a fixed time, zero errors, invariants intact.

A real gunicorn (two gthread workers of four threads, as `make run` starts
it) on an SQLite file and on a PostgreSQL schema. Closed-loop client threads
(each sends its next request when the last one is answered, so the rate is
what the server sustains) mix events, customer reads, points, ledger pages,
pass issues, pass look-ups and two-phase redemptions (hold, then confirm or cancel) of an
unlimited benefit. The test stops by itself after BENEFITS_LOAD_SECONDS
(default 60). It asserts no error at all (every answer the one expected:
no 5xx, no 4xx, no connection error) and the invariants afterwards; it
measures and prints requests/s and p50/p99 latency by kind, and asserts
nothing about speed.
"""
from __future__ import annotations

import json
import os
import random
import statistics
import threading
import time
from collections import defaultdict
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from conftest import BACKENDS, check_invariants
from servers import Client, served

pytestmark = pytest.mark.slow

SECONDS = float(os.environ.get("BENEFITS_LOAD_SECONDS", "60"))
CLIENTS = 8
CUSTOMERS = 200  # every third one private banking: the green channel is theirs, unlimited
BENEFIT = "medical_green_channel"
MIX = {"event": 35, "customer": 15, "points": 10, "ledger": 10, "pass_lookup": 15, "redemption": 15}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Traffic:
    def __init__(self, address, keys: dict, partner_key: str, deadline: float):
        self.address, self.keys, self.partner_key, self.deadline = address, keys, partner_key, deadline
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: list[tuple] = []
        self.events_created = 0
        self.kinds, self.weights = list(MIX), list(MIX.values())

    def call(self, client: Client, kind: str, method: str, path: str, expected: int, body=None):
        started = time.perf_counter()
        try:
            status, answer = client.request(method, path, body)
        except Exception as error:  # noqa: BLE001 - no answer is an error like any other
            status, answer = None, repr(error)
        elapsed = time.perf_counter() - started
        with self.lock:
            self.latencies[kind].append(elapsed)
            if status != expected:
                self.errors.append((kind, method, path, status, answer))
        return answer if status == expected else None

    def run(self, number: int) -> None:
        rng = random.Random(number)
        app = Client(self.address, self.keys["app"])
        partner = Client(self.address, self.partner_key)
        passes: dict[str, str] = {}
        cursors: dict[str, str | None] = {}
        sequence = 0
        try:
            while time.monotonic() < self.deadline:
                kind = rng.choices(self.kinds, self.weights)[0]
                customer = f"load-{rng.randrange(CUSTOMERS):03d}"
                if kind == "event":
                    sequence += 1
                    body = {"id": f"load-{number}-{sequence}", "customer_id": customer,
                            "occurred_at": datetime.now(timezone.utc).isoformat()}
                    if rng.random() < 0.2:
                        body |= {"type": "learning", "activity": "course_completed"}
                    else:
                        body |= {"type": "transaction", "amount": f"{rng.randrange(100, 200_000)}.00",
                                 "currency": "CNY", "category": rng.choice(["wealth_product", "fund", "card_spend"])}
                    if self.call(app, kind, "POST", "/api/v1/events", 201, body) is not None:
                        with self.lock:
                            self.events_created += 1
                elif kind == "customer":
                    self.call(app, kind, "GET", f"/api/v1/customers/{customer}", 200)
                elif kind == "points":
                    self.call(app, kind, "GET", f"/api/v1/customers/{customer}/points", 200)
                elif kind == "ledger":
                    cursor = cursors.get(customer)
                    page = self.call(app, kind, "GET", f"/api/v1/customers/{customer}/ledger?limit=20"
                                     + (f"&cursor={cursor}" if cursor else ""), 200)
                    cursors[customer] = page["next_cursor"] if page else None
                else:
                    customer = f"load-{rng.randrange(0, CUSTOMERS, 3):03d}"  # a private-banking customer
                    if customer not in passes:
                        issued = self.call(app, "pass_issue", "POST", f"/api/v1/customers/{customer}/passes", 201,
                                           {"ttl_seconds": 3600})
                        if issued is None:
                            continue
                        passes[customer] = issued["code"]
                    code = passes[customer]
                    if kind == "pass_lookup":
                        self.call(partner, kind, "GET", f"/partner/v1/passes/{code}", 200)
                    else:
                        held = self.call(partner, "redemption_hold", "POST", "/partner/v1/redemptions", 201,
                                         {"pass_code": code, "benefit": BENEFIT})
                        if held is not None:
                            action = rng.choice(["confirm", "cancel"])
                            self.call(partner, f"redemption_{action}", "POST",
                                      f"/partner/v1/redemptions/{held['id']}/{action}", 200, {})
        finally:
            app.close()
            partner.close()


def setup_programme(address, keys: dict) -> str:
    app = Client(address, keys["app"])
    for i in range(CUSTOMERS):
        aum = 8_000_000 if i % 3 == 0 else (900_000 if i % 3 == 1 else 60_000)
        status, answer = app.request("PUT", f"/api/v1/customers/load-{i:03d}",
                                     {"name": "赵六", "aum": aum, "tags": []})
        assert status == 201, answer
    app.close()
    admin = Client(address, keys["admin"])
    status, answer = admin.request("POST", "/admin/v1/partners", {"id": "load-hospital", "name": "Load General",
                                                                  "kind": "hospital", "benefits": [BENEFIT]})
    assert status == 201, answer
    status, answer = admin.request("POST", "/admin/v1/partners/load-hospital/keys", {})
    assert status == 201, answer
    admin.close()
    return answer["key"]


def report(backend: str, traffic: Traffic, seconds: float) -> dict:
    figures = {"backend": backend, "seconds": round(seconds, 1), "clients": CLIENTS, "kinds": {}}
    total = 0
    for kind, values in sorted(traffic.latencies.items()):
        total += len(values)
        figures["kinds"][kind] = {"requests": len(values), "per_second": round(len(values) / seconds, 1),
                                  "p50_ms": round(statistics.median(values) * 1000, 1),
                                  "p99_ms": round(percentile(values, 0.99) * 1000, 1)}
    figures["total_per_second"] = round(total / seconds, 1)
    return figures


def format_table(figures: dict) -> str:
    lines = [f"load [{figures['backend']}]: {figures['seconds']} s, {figures['clients']} closed-loop clients, "
             f"{figures['total_per_second']} requests/s in all",
             "| kind | requests | per s | p50 ms | p99 ms |", "|---|---:|---:|---:|---:|"]
    for kind, row in figures["kinds"].items():
        lines.append(f"| {kind} | {row['requests']} | {row['per_second']} | {row['p50_ms']} | {row['p99_ms']} |")
    return "\n".join(lines)


@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_load_has_no_error_and_keeps_the_invariants(backend, tmp_path, capsys):
    with served(backend, tmp_path) as run:
        keys, server, engine = run.keys, run.server, run.engine
        partner_key = setup_programme(server.address, keys)
        started = time.monotonic()
        traffic = Traffic(server.address, keys, partner_key, deadline=started + SECONDS)
        threads = [threading.Thread(target=traffic.run, args=(n,), daemon=True) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=SECONDS + 120)
        assert not any(thread.is_alive() for thread in threads), "a client did not stop"
        seconds = time.monotonic() - started

        figures = report(backend, traffic, seconds)
        with capsys.disabled():
            print("\n" + format_table(figures))
        if os.environ.get("BENEFITS_LOAD_REPORT"):
            with open(os.environ["BENEFITS_LOAD_REPORT"], "a", encoding="utf-8") as out:
                out.write(json.dumps(figures) + "\n")

        assert traffic.errors == [], f"{len(traffic.errors)} errors, the first: {traffic.errors[:5]}"
        assert traffic.events_created > 0 and sum(map(len, traffic.latencies.values())) > 0
        assert traffic.latencies["redemption_hold"], "no redemption was tried"

        # invariants afterwards: the ledger, the lots, the audit chain; every event recorded once
        check_invariants(engine)
        status, verified = Client(server.address, keys["admin"]).request("GET", "/admin/v1/audit/verify")
        assert status == 200 and verified["ok"] is True, verified
        with engine.connect() as connection:
            events = connection.execute(sa.text("SELECT COUNT(*) FROM events")).scalar_one()
            assert events == traffic.events_created
            open_holds = connection.execute(sa.text(
                "SELECT COUNT(*) FROM redemptions WHERE status = 'held'")).scalar_one()
            assert open_holds == 0, "every hold was confirmed or cancelled"
