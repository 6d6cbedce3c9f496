"""Crash safety: gunicorn SIGKILLed mid-load, restarted; nothing acknowledged is lost, retries apply once.

A real gunicorn (two gthread workers) on an SQLite file and on a PostgreSQL
schema. Client threads post events (unique ids), customer upserts and
refunds, each with an Idempotency-Key, until the whole process group is
killed with SIGKILL while requests are in flight. After a restart:

- every request answered 2xx before the kill is in the database: the event
  with its points and ledger entries, the upsert's AUM snapshot, the refund's
  `reverse` entries;
- balance == ledger sum (and the lots) for every customer; the audit chain
  verifies (`GET /admin/v1/audit/verify` and the same check in SQL);
- every request, answered or not, retried with its Idempotency-Key (and
  event id) answers 2xx; an answered one answers exactly as the first time;
  then a second round of retries answers the same again and changes nothing:
  one earn entry per award, one reversal per refund.
"""
from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from conftest import BACKENDS, check_invariants
from servers import Client, served

pytestmark = pytest.mark.slow

CLIENTS = 6
CUSTOMERS = 20
KILL_AFTER_ACKNOWLEDGED = 400  # writes answered 2xx before the kill (bounded by KILL_AFTER_SECONDS)
KILL_AFTER_SECONDS = 60
CATEGORIES = ("wealth_product", "fund", "insurance", "card_spend")


@dataclass
class Write:
    """One mutating request and what became of it."""

    kind: str  # event | upsert | reversal
    method: str
    path: str
    body: dict
    idempotency_key: str
    status: int | None = None  # None: no answer (the server died first)
    answer: object = None
    retries: list = field(default_factory=list)  # (status, answer) of each retry round

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def send(self, client: Client):
        return client.request(self.method, self.path, self.body, {"Idempotency-Key": self.idempotency_key})


class Load:
    """Client threads that write until told to stop; every request is recorded before it is sent."""

    def __init__(self, address, key: str, seed: int):
        self.address, self.key = address, key
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.writes: list[Write] = []
        self.refundable: list[str] = []  # acknowledged transactions not yet claimed by a refund
        self.counter = itertools.count(1)
        self.stop = threading.Event()
        self.acknowledged = 0

    def next_write(self) -> Write:
        with self.lock:
            n = next(self.counter)
            roll = self.random.random()
            customer = f"cust-{self.random.randrange(CUSTOMERS):02d}"
            if roll < 0.15 and self.refundable:
                event_id = self.refundable.pop(self.random.randrange(len(self.refundable)))
                write = Write("reversal", "POST", f"/api/v1/events/{event_id}/reversal", {}, f"refund-{event_id}")
            elif roll < 0.30:
                as_of = date.today() - timedelta(days=2000 - n)  # one AUM snapshot per upsert, none ahead of today
                body = {"name": "王五", "aum": self.random.choice([80_000, 700_000, 7_000_000]) + n,
                        "as_of": as_of.isoformat(), "tags": []}
                write = Write("upsert", "PUT", f"/api/v1/customers/{customer}", body, f"upsert-{n}")
            else:
                occurred = datetime.now(timezone.utc).replace(microsecond=0)
                if self.random.random() < 0.2:
                    body = {"id": f"ev-{n}", "customer_id": customer, "type": "learning",
                            "occurred_at": occurred.isoformat(), "activity": "course_completed"}
                else:
                    body = {"id": f"ev-{n}", "customer_id": customer, "type": "transaction",
                            "occurred_at": occurred.isoformat(), "currency": "CNY",
                            "amount": f"{self.random.randrange(100, 500_000)}.{self.random.randrange(100):02d}",
                            "category": self.random.choice(CATEGORIES)}
                write = Write("event", "POST", "/api/v1/events", body, f"event-{n}")
            self.writes.append(write)
            return write

    def client_loop(self) -> None:
        # no resending here: a request without an answer stays unacknowledged, as a real client would see it
        client = Client(self.address, self.key, timeout=60, resend_on_idle_close=False)
        try:
            while not self.stop.is_set():
                write = self.next_write()
                try:
                    write.status, write.answer = write.send(client)
                except OSError:
                    continue  # no answer: the server is gone (or going); the write stays unacknowledged
                except Exception:  # noqa: BLE001 - http.client's own errors: no answer either
                    continue
                if write.acknowledged:
                    with self.lock:
                        self.acknowledged += 1
                        if write.kind == "event" and write.body["type"] == "transaction":
                            self.refundable.append(write.body["id"])
        finally:
            client.close()


def seed_customers(client: Client) -> None:
    for i in range(CUSTOMERS):
        status, answer = client.request("PUT", f"/api/v1/customers/cust-{i:02d}",
                                        {"name": "张三", "aum": [50_000, 900_000, 8_000_000][i % 3],
                                         "as_of": "2026-01-01", "tags": []})
        assert status == 201, answer


def retry_all(address, key: str, writes: list[Write]) -> None:
    """Retry every write, events first (refunds need their event), several at a time."""
    def retry(chunk):
        client = Client(address, key)
        try:
            for write in chunk:
                write.retries.append(write.send(client))
        finally:
            client.close()

    for kind in ("event", "upsert", "reversal"):
        group = [w for w in writes if w.kind == kind]
        chunks = [group[i::CLIENTS] for i in range(CLIENTS)]
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(retry, chunks))


def ledger_state(engine) -> dict:
    with engine.connect() as connection:
        return {
            "entries": connection.execute(sa.text("SELECT COUNT(*) FROM ledger_entries")).scalar_one(),
            "balances": dict(connection.execute(sa.text("SELECT id, balance FROM customers")).all()),
            "events": connection.execute(sa.text("SELECT COUNT(*) FROM events")).scalar_one(),
            "audit": connection.execute(sa.text("SELECT COUNT(*) FROM audit_log")).scalar_one(),
        }


def check_writes_are_there(engine, writes: list[Write], *, only_acknowledged: bool) -> None:
    """Each write (each acknowledged one, or all) is in the database, exactly once."""
    with engine.connect() as connection:
        events = {row.id: row for row in connection.execute(sa.text("SELECT id, customer_id, points FROM events"))}
        earned = dict(connection.execute(sa.text(
            "SELECT event_id, SUM(points) FROM ledger_entries WHERE kind = 'earn' GROUP BY event_id")).all())
        earn_rows = dict(connection.execute(sa.text(
            "SELECT event_id, COUNT(*) FROM ledger_entries WHERE kind = 'earn' GROUP BY event_id")).all())
        reversed_ = dict(connection.execute(sa.text(
            "SELECT event_id, SUM(points) FROM ledger_entries WHERE kind = 'reverse' GROUP BY event_id")).all())
        snapshots = {(row.customer_id, str(row.as_of)): row.aum for row in connection.execute(
            sa.text("SELECT customer_id, as_of, aum FROM aum_snapshots"))}
    missing, wrong = [], []
    for write in writes:
        if only_acknowledged and not write.acknowledged:
            continue
        status, answer = (write.status, write.answer) if write.acknowledged else write.retries[-1]
        if write.kind == "event":
            event_id = write.body["id"]
            if event_id not in events:
                missing.append(write)
                continue
            awarded = [award for award in answer["awards"] if award["points"] > 0]
            if (events[event_id].points != answer["points"] or (earned.get(event_id) or 0) != answer["points"]
                    or (earn_rows.get(event_id) or 0) != len(awarded)):
                wrong.append((write, events[event_id].points, earned.get(event_id), earn_rows.get(event_id)))
        elif write.kind == "upsert":
            customer_id = write.path.rsplit("/", 1)[1]
            aum = snapshots.get((customer_id, write.body["as_of"]))
            if aum is None:
                missing.append(write)
            elif aum != write.body["aum"] * 100:  # Money columns hold minor units
                wrong.append((write, aum))
        else:
            event_id = write.path.split("/")[4]
            if (reversed_.get(event_id) or 0) != -answer["points_reversed"]:
                wrong.append((write, reversed_.get(event_id)))
    assert missing == [], f"{len(missing)} writes are not in the database: {missing[:5]}"
    assert wrong == [], f"{len(wrong)} writes are in the database wrongly or more than once: {wrong[:5]}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_mid_load_loses_nothing_acknowledged_and_retries_apply_once(backend, tmp_path, capsys):
    with served(backend, tmp_path) as run:
        keys, server, engine = run.keys, run.server, run.engine
        seed_customers(Client(server.address, keys["app"]))
        load = Load(server.address, keys["app"], seed=7)
        threads = [threading.Thread(target=load.client_loop, daemon=True) for _ in range(CLIENTS)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        while load.acknowledged < KILL_AFTER_ACKNOWLEDGED and time.monotonic() - started < KILL_AFTER_SECONDS:
            time.sleep(0.01)
        server.kill()  # mid-load: the clients are still sending
        load.stop.set()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads), "a client thread did not stop"

        writes = load.writes
        answered = Counter(w.status for w in writes)
        unexpected = [w for w in writes if w.status is not None and not w.acknowledged]
        assert unexpected == [], f"answers other than 2xx before the kill: {unexpected[:5]}"
        acknowledged = [w for w in writes if w.acknowledged]
        lost_in_flight = [w for w in writes if w.status is None]
        assert len(acknowledged) >= 100, f"too few writes were answered to prove anything: {answered}"
        assert lost_in_flight, "the kill answered every request: it did not happen mid-load"

        server.start()
        admin = Client(server.address, keys["admin"])

        # nothing acknowledged is lost, the invariants hold
        check_writes_are_there(engine, writes, only_acknowledged=True)
        check_invariants(engine)
        status, verified = admin.request("GET", "/admin/v1/audit/verify")
        assert status == 200 and verified["ok"] is True, verified

        # every write retried with its Idempotency-Key completes, and an answered one answers as before
        retry_all(server.address, keys["app"], writes)
        failed = [(w, w.retries[-1]) for w in writes if not 200 <= w.retries[-1][0] < 300]
        assert failed == [], f"retries refused: {failed[:5]}"
        changed = [(w, w.retries[-1]) for w in acknowledged if w.retries[-1] != (w.status, w.answer)]
        assert changed == [], f"retries answered otherwise than the first time: {changed[:5]}"
        check_writes_are_there(engine, writes, only_acknowledged=False)
        check_invariants(engine)

        # a second round changes nothing and answers the same
        before = ledger_state(engine)
        retry_all(server.address, keys["app"], writes)
        assert ledger_state(engine) == before
        changed = [w for w in writes if w.retries[-1] != w.retries[-2]]
        assert changed == [], f"a second retry answered otherwise: {changed[:5]}"
        status, verified = admin.request("GET", "/admin/v1/audit/verify")
        assert status == 200 and verified["ok"] is True, verified
        with capsys.disabled():
            kinds = Counter(w.kind for w in acknowledged)
            print(f"\ncrash safety [{backend}]: {len(writes)} writes sent, {len(acknowledged)} answered 2xx "
                  f"before SIGKILL ({dict(kinds)}), {len(lost_in_flight)} in flight; all retried twice; "
                  f"audit rows {before['audit']}, ledger entries {before['entries']}")
