"""`benefits consume`: events from a real RabbitMQ queue, acknowledged once committed, refusals dead-lettered.

Every test has queues of its own (``<queue>``, ``<queue>.dlx``, ``<queue>.dead``), deleted afterwards.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pika
import pytest
import sqlalchemy as sa

from benefits import consumer, db
from benefits.models import AuditTip
from factories import WEALTH, activate_rules, customer, rules_yaml
from servers import environment

AMQP_URL = os.environ.get("BENEFITS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
T = "2026-11-23T10:00:00+08:00"  # the test clock's day


class Broker:
    """A test's own queues on the real broker: publish to them, read what was dead-lettered."""

    def __init__(self):
        self.queue = f"benefits.test.{uuid.uuid4().hex[:10]}"
        self.topology = consumer.Topology(self.queue)
        self.connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        self.channel = self.connection.channel()
        self.topology.declare(self.channel)

    def publish(self, *bodies) -> None:
        for body in bodies:
            data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8",
                                                                                                 "surrogatepass")
            self.channel.basic_publish("", self.queue, data)

    def depth(self, queue: str | None = None) -> int:
        return self.channel.queue_declare(queue or self.queue, passive=True).method.message_count

    def consumers(self) -> int:
        return self.channel.queue_declare(self.queue, passive=True).method.consumer_count

    def dead(self) -> list[tuple[dict, bytes]]:
        letters = []
        while True:
            method, properties, body = self.channel.basic_get(self.topology.dead, auto_ack=True)
            if method is None:
                return letters
            letters.append((properties.headers or {}, body))

    def close(self) -> None:
        self.channel.queue_delete(self.queue)
        self.channel.queue_delete(self.topology.dead)
        self.channel.exchange_delete(self.topology.exchange)
        self.connection.close()


@pytest.fixture
def broker():
    opened = Broker()
    yield opened
    opened.close()


@pytest.fixture
def rules(app, clock):
    return activate_rules(app, rules_yaml(), clock())


def body(event_id: str, customer_id: str = "c1", **fields) -> dict:
    return {"id": event_id, "customer_id": customer_id, "type": "transaction", "occurred_at": T,
            "amount": "1000.00", "currency": "CNY", "category": "card_spend"} | fields


def consume(app, broker: Broker, **options):
    extension = app.extensions["benefits"]
    return consumer.consume(AMQP_URL, broker.queue, sessions=extension.sessions, programs=extension.programs,
                            clock=extension.now, exit_when_idle=options.pop("exit_when_idle", 0.3), **options)


def count(app, sql: str) -> int:
    with app.extensions["benefits"].engine.connect() as connection:
        return connection.execute(sa.text(sql)).scalar_one()


def test_each_message_is_recorded_once_and_acknowledged_after_its_commit(app, app_api, rules, broker):
    customer(app_api, "c1", **WEALTH)
    broker.publish(*[body(f"m{i}") for i in range(12)], body("m3"), body("m7"))
    tally = consume(app, broker, chunk=5)
    assert (tally.recorded, tally.duplicate, tally.dead_lettered) == (12, 2, 0)
    assert count(app, "SELECT count(*) FROM ledger_entries WHERE kind = 'earn'") == 12
    assert app_api.get("/api/v1/customers/c1/points").get_json()["balance"] == 12 * 11  # 1000 / 100 × 1.15
    assert broker.depth() == 0 and broker.dead() == []


def test_a_chunk_that_records_slower_than_the_idle_limit_does_not_end_the_run(app, app_api, rules, broker,
                                                                              monkeypatch):
    customer(app_api, "c1", **WEALTH)
    broker.publish(*[body(f"m{i}") for i in range(9)])
    record_chunk = consumer.imports.record_chunk

    def slow(*args, **kwargs):
        time.sleep(0.5)
        return record_chunk(*args, **kwargs)

    monkeypatch.setattr(consumer.imports, "record_chunk", slow)
    assert consume(app, broker, chunk=3, exit_when_idle=0.3).recorded == 9
    assert broker.depth() == 0


def test_an_event_recorded_over_http_is_a_duplicate_on_the_bus(app, app_api, rules, broker):
    customer(app_api, "c1", **WEALTH)
    assert app_api.post("/api/v1/events", json=body("e1")).status_code == 201
    broker.publish(body("e1"))
    assert consume(app, broker).duplicate == 1
    assert count(app, "SELECT count(*) FROM events") == 1


def test_refused_events_are_dead_lettered_with_their_reason_and_nothing_of_them_is_recorded(
        app, app_api, rules, broker, clock):
    customer(app_api, "c1", **WEALTH)
    broker.publish(body("first"))
    consume(app, broker)
    before = count(app, "SELECT count(*) FROM audit_log")
    broker.publish(
        b'{"id": "broken"',                                                  # not JSON
        b"[1, 2]",                                                           # not an object
        body("no-amount", amount="abc"),                                     # the schema refuses it
        body("stranger", customer_id="nobody"),                              # unknown customer
        body("first", amount="2000.00"),                                     # same id, another body
        body("later", occurred_at=(clock() + timedelta(hours=1)).isoformat()),
        body("nul", category="card\x00spend"),                               # the edges of the API
        body("surrogate", category="\ud800"),
        json.dumps(body("deep"))[:-1].encode() + b', "x": ' + b"[" * 40 + b"]" * 40 + b"}",
        json.dumps(body("digits")).replace('"1000.00"', "9" * 5000).encode(),
        body("year-one", occurred_at="0001-01-01T00:00:00+08:00"),
        b"\xff\xfe not utf-8",
    )
    tally = consume(app, broker)
    assert tally.dead_lettered == 12 and tally.recorded == 0
    letters = {}
    for headers, data in broker.dead():
        named = re.match(rb'\{"id": "([a-z-]+)", ', data)
        letters[named.group(1).decode() if named else data[:8]] = headers
    reasons = {key: headers[consumer.REASON_HEADER] for key, headers in letters.items()}
    assert reasons == {
        b'{"id": "': "invalid", b"[1, 2]": "invalid", "no-amount": "invalid", "stranger": "not_found",
        "first": "event_conflict", "later": "occurred_in_future", "nul": "invalid", "surrogate": "invalid",
        "deep": "invalid", "digits": "invalid", "year-one": "invalid", b"\xff\xfe not u": "invalid"}
    assert "amount" in letters["no-amount"][consumer.MESSAGE_HEADER]
    assert "NUL" in letters["nul"][consumer.MESSAGE_HEADER]
    assert "32 levels" in letters["deep"][consumer.MESSAGE_HEADER]
    assert letters["year-one"][consumer.MESSAGE_HEADER].startswith("occurred_at")
    assert count(app, "SELECT count(*) FROM events") == 1
    assert count(app, "SELECT count(*) FROM audit_log") == before
    assert broker.depth() == 0


@pytest.fixture
def poison(app):
    """A database that refuses to record the event ``poison`` (a trigger): a failure that is not a refusal."""
    engine = app.extensions["benefits"].engine
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.id = 'poison' "
                                       "BEGIN SELECT RAISE(ABORT, 'poisoned'); END")
        else:
            connection.exec_driver_sql("CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN "
                                       "IF NEW.id = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; "
                                       "RETURN NEW; END $$ LANGUAGE plpgsql")
            connection.exec_driver_sql("CREATE TRIGGER poison BEFORE INSERT ON events "
                                       "FOR EACH ROW EXECUTE FUNCTION poison()")
    yield
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("DROP TRIGGER poison")
        else:
            connection.exec_driver_sql("DROP TRIGGER poison ON events")
            connection.exec_driver_sql("DROP FUNCTION poison()")


def test_a_failed_chunk_is_retried_message_by_message_and_the_delivery_limit_dead_letters_the_poison(
        app, app_api, rules, broker, poison):
    customer(app_api, "c1", **WEALTH)
    broker.publish(body("a"), body("poison"), body("b"), body("c"))
    tally = consume(app, broker, chunk=10, exit_when_idle=1)
    assert tally.recorded == 3
    assert tally.returned == consumer.DELIVERY_LIMIT + 1  # the first delivery and every redelivery allowed
    assert {row for row in _ids(app)} == {"a", "b", "c"}
    [(headers, data)] = broker.dead()
    assert json.loads(data)["id"] == "poison"
    assert headers["x-death"][0]["reason"] == "delivery_limit"
    assert broker.depth() == 0


def _ids(app) -> list[str]:
    with app.extensions["benefits"].engine.connect() as connection:
        return list(connection.execute(sa.text("SELECT id FROM events")).scalars())


# ---------------------------------------------------------------- real processes


def consumer_process(app, broker: Broker, *args: str) -> subprocess.Popen:
    env = environment(app.extensions["benefits"].config.DATABASE_URL)
    env.update(BENEFITS_AMQP_URL=AMQP_URL, BENEFITS_AMQP_QUEUE=broker.queue)
    return subprocess.Popen([str(Path(sys.executable).parent / "benefits"), "consume", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def now_bodies(n: int, customers: int, prefix: str = "k") -> list[dict]:
    """Events dated now (the processes read the real clock), spread over the customers."""
    occurred = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()
    return [body(f"{prefix}{i}", f"c{i % customers}", occurred_at=occurred, amount="100.00") for i in range(n)]


def wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@contextmanager
def writes_held(app):
    """The audit chain's tip locked by the test (on SQLite: the writer's turn and its lock), so every writer waits."""
    with db.unit_of_work(app.extensions["benefits"].sessions) as session:
        session.execute(sa.select(AuditTip).where(AuditTip.id == 1).with_for_update()).all()
        yield


def test_a_consumer_killed_mid_stream_and_restarted_loses_nothing_and_doubles_nothing(
        app, app_api, rules, broker):
    for i in range(20):
        customer(app_api, f"c{i}", **WEALTH)
    bodies = now_bodies(3000, 20)
    broker.publish(*bodies[:400])
    first = consumer_process(app, broker, "--chunk-size", "200")
    try:
        wait_for(lambda: count(app, "SELECT count(*) FROM events") == 400)
        with writes_held(app):
            broker.publish(*bodies[400:])
            wait_for(lambda: broker.depth() < 2600)  # the consumer holds messages it cannot commit yet
            first.send_signal(signal.SIGKILL)
            first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert count(app, "SELECT count(*) FROM events") == 400
    second = consumer_process(app, broker, "--chunk-size", "200", "--exit-when-idle", "1")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert sorted(_ids(app)) == sorted(b["id"] for b in bodies)
    assert count(app, "SELECT count(*) FROM ledger_entries") == 3000
    assert count(app, "SELECT sum(balance) FROM customers") == 3000  # 1 point an event: none twice
    assert broker.depth() == 0 and broker.dead() == []


def test_two_consumers_on_one_queue_record_each_event_exactly_once(app, app_api, rules, broker):
    for i in range(10):
        customer(app_api, f"c{i}", **WEALTH)
    consumers = [consumer_process(app, broker, "--chunk-size", "50", "--exit-when-idle", "2") for _ in range(2)]
    wait_for(lambda: broker.consumers() == 2)
    bodies = now_bodies(2000, 10)
    broker.publish(*bodies)
    tallies = []
    for process in consumers:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        tallies.append(out.strip().splitlines()[-1])
    recorded = [int(line.split(",")[0].removeprefix("recorded ")) for line in tallies]
    assert sum(recorded) == 2000 and min(recorded) > 0, tallies
    assert sorted(_ids(app)) == sorted(b["id"] for b in bodies)
    assert count(app, "SELECT count(*) FROM ledger_entries") == 2000
    assert broker.depth() == 0 and broker.dead() == []
