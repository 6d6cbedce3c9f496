"""Events: awards, multipliers, caps by local period, idempotency, batches."""
import json
import re
import threading
import time
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from benefits import db, imports
from benefits.models import AuditRecord, LedgerEntry, Lot, LotMovement
from benefits.schemas.events import EventIn
from benefits.services import audit, events
from factories import activate_rules, customer, event, learning, rules_yaml


@pytest.fixture
def rules(app, clock):
    return activate_rules(app, rules_yaml(), clock())


def test_transaction_earns_by_rate(rules, app_api):
    customer(app_api, "c1", aum=100000)
    answer = event(app_api, "c1", amount="1234.56")
    assert answer["points"] == 12
    assert answer["awards"] == [{"rule": "card-spend", "points": 12}]
    assert answer["balance"] == 12


def test_multiplier_is_an_exact_decimal(rules, app_api):
    customer(app_api, "c1", aum=600000)  # wealth: × 1.15
    assert event(app_api, "c1", amount="10000")["points"] == 115


def test_private_tier_doubles(rules, app_api):
    customer(app_api, "c1", aum=6000000)
    assert event(app_api, "c1", amount="550")["points"] == 10


def test_event_that_matches_no_rule_earns_nothing(rules, app_api):
    customer(app_api, "c1")
    answer = event(app_api, "c1", category="mortgage")
    assert (answer["points"], answer["awards"]) == (0, [])


def test_cap_cuts_the_award_and_still_answers_201(rules, app_api):
    customer(app_api, "c1")
    event(app_api, "c1", amount="90000")
    answer = event(app_api, "c1", amount="20000")
    assert answer["awards"] == [{"rule": "card-spend", "points": 100}]
    assert event(app_api, "c1", amount="5000")["points"] == 0


def test_cap_period_is_the_local_day_in_shanghai(rules, app_api, clock):
    customer(app_api, "c1")
    clock.set(datetime(2026, 11, 23, 16, 30, tzinfo=timezone.utc))  # 00:30 on the 24th in Shanghai
    event(app_api, "c1", amount="100000", occurred_at="2026-11-23T23:59:00+08:00")
    assert event(app_api, "c1", amount="100", occurred_at="2026-11-23T15:59:30Z")["points"] == 0  # 23:59:30 local
    assert event(app_api, "c1", amount="100", occurred_at="2026-11-23T16:01:00Z")["points"] == 1  # 00:01 local


def test_learning_cap_is_per_rule_per_day(rules, app_api, clock):
    customer(app_api, "c1")
    points = [learning(app_api, "c1")["points"] for _ in range(3)]
    assert points == [50, 50, 0]
    clock.advance(days=1)
    assert learning(app_api, "c1", occurred_at="2026-11-24T00:00:00+08:00")["points"] == 50


def test_replay_answers_200_with_the_first_answer(rules, app_api):
    customer(app_api, "c1")
    body = {"id": "tx-1", "customer_id": "c1", "type": "transaction", "occurred_at": "2026-11-23T10:00:00+08:00",
            "amount": "500", "category": "card_spend"}
    first = app_api.post("/api/v1/events", json=body)
    event(app_api, "c1", amount="300")
    replay = app_api.post("/api/v1/events", json=body)
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.get_json() == first.get_json()


def test_same_id_with_another_body_is_409_event_conflict(rules, app_api):
    customer(app_api, "c1")
    event(app_api, "c1", id="tx-1", amount="500")
    response = app_api.post("/api/v1/events", json={
        "id": "tx-1", "customer_id": "c1", "type": "transaction", "occurred_at": "2026-11-23T10:00:00+08:00",
        "amount": "501", "category": "card_spend"})
    assert response.status_code == 409
    assert response.get_json()["reason"] == "event_conflict"


def test_same_event_from_eight_threads_gives_one_ledger_entry(rules, app, app_api):
    customer(app_api, "c1")
    body = {"id": "tx-race", "customer_id": "c1", "type": "transaction",
            "occurred_at": "2026-11-23T10:00:00+08:00", "amount": "5000", "category": "card_spend"}
    barrier, statuses = threading.Barrier(8), []

    def post():
        client = app.test_client()
        barrier.wait()
        statuses.append(client.post("/api/v1/events", json=body,
                                    headers={"Authorization": f"Bearer {app_api.key}"}).status_code)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 7 + [201]
    with app.extensions["benefits"].engine.connect() as connection:
        entries = connection.execute(sa.text("SELECT count(*) FROM ledger_entries WHERE event_id = 'tx-race'"))
        assert entries.scalar_one() == 1
    assert app_api.get("/api/v1/customers/c1/points").get_json()["balance"] == 50


def test_event_for_unknown_customer_is_404(rules, app_api):
    response = app_api.post("/api/v1/events", json={
        "id": "x", "customer_id": "ghost", "type": "learning", "occurred_at": "2026-11-23T10:00:00+08:00",
        "activity": "course_completed"})
    assert response.status_code == 404


def test_naive_time_is_refused(rules, app_api):
    customer(app_api, "c1")
    response = app_api.post("/api/v1/events", json={
        "id": "x", "customer_id": "c1", "type": "learning", "occurred_at": "2026-11-23T10:00:00",
        "activity": "course_completed"})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["path"] == "json.occurred_at"


def test_transaction_without_amount_is_refused(rules, app_api):
    customer(app_api, "c1")
    response = app_api.post("/api/v1/events", json={
        "id": "x", "customer_id": "c1", "type": "transaction", "occurred_at": "2026-11-23T10:00:00+08:00"})
    assert response.status_code == 422
    assert response.get_json()["errors"] == [{"path": "json.amount", "message": "a transaction needs an amount"}]


def test_batch_records_each_event_on_its_own(rules, app_api):
    customer(app_api, "c1")
    good = {"id": "b1", "customer_id": "c1", "type": "transaction", "occurred_at": "2026-11-23T10:00:00+08:00",
            "amount": "300", "category": "card_spend"}
    answer = app_api.post("/api/v1/events/batch", json={"events": [
        good, {"id": "b2", "customer_id": "c1", "type": "gift"}, {**good, "id": "b3", "customer_id": "ghost"},
        good]})
    assert answer.status_code == 200
    results = answer.get_json()["results"]
    assert [r["status"] for r in results] == ["created", "error", "error", "duplicate"]
    assert results[1]["error"]["reason"] == "invalid"
    assert {e["path"] for e in results[1]["error"]["errors"]} >= {"json.type", "json.occurred_at"}
    assert results[2]["error"]["reason"] == "not_found"
    assert app_api.get("/api/v1/customers/c1/points").get_json()["balance"] == 3


def test_event_recorded_by_a_batch_replays_in_the_single_shape(rules, app_api):
    customer(app_api, "c1")
    body = {"id": "b1", "customer_id": "c1", "type": "transaction", "occurred_at": "2026-11-23T10:00:00+08:00",
            "amount": "300", "category": "card_spend"}
    app_api.post("/api/v1/events/batch", json={"events": [body]})
    replay = app_api.post("/api/v1/events", json=body)
    assert replay.status_code == 200
    assert replay.get_json() == {"id": "b1", "points": 3, "awards": [{"rule": "card-spend", "points": 3}],
                                 "balance": 3}


@pytest.mark.parametrize("few_balances", [100, 1], ids=["few-by-key", "many-joined"])
def test_batch_updates_the_balance_of_each_of_its_customers(rules, app_api, monkeypatch, few_balances):
    monkeypatch.setattr(events, "FEW_BALANCES", few_balances)  # on PostgreSQL, either form of the update
    for name in ("c1", "c2", "c3"):
        customer(app_api, name)
    body = {"type": "transaction", "occurred_at": "2026-11-23T10:00:00+08:00", "category": "card_spend"}
    app_api.post("/api/v1/events/batch", json={"events": [
        {**body, "id": "b1", "customer_id": "c1", "amount": "300"},
        {**body, "id": "b2", "customer_id": "c2", "amount": "500"},
        {**body, "id": "b3", "customer_id": "c1", "amount": "100"}]})
    balances = [app_api.get(f"/api/v1/customers/{name}/points").get_json()["balance"] for name in ("c1", "c2", "c3")]
    assert balances == [4, 5, 0]


def test_batch_over_1000_events_is_422(rules, app_api):
    response = app_api.post("/api/v1/events/batch", json={"events": [{}] * 1001})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["path"] == "json.events"


def test_batch_without_events_list_is_422(rules, app_api):
    response = app_api.post("/api/v1/events/batch", json={"items": []})
    assert response.status_code == 422


def test_every_ledger_entry_names_its_rule_version_and_rule(rules, app_api):
    customer(app_api, "c1")
    event(app_api, "c1", amount="500")
    item = app_api.get("/api/v1/customers/c1/ledger").get_json()["items"][0]
    assert (item["kind"], item["points"], item["rule"], item["rule_version"]) == ("earn", 5, "card-spend", rules)


def test_a_batch_writes_its_lots_entries_and_movements_in_the_order_of_its_events(rules, app, app_api):
    customer(app_api, "c1")
    customer(app_api, "c2")
    ids = [f"o{n}" for n in range(6)]
    app_api.post("/api/v1/events/batch", json={"events": [
        {"id": event_id, "customer_id": f"c{n % 2 + 1}", "type": "transaction",
         "occurred_at": "2026-11-23T10:00:00+08:00", "amount": str(100 * (n + 1)), "category": "card_spend"}
        for n, event_id in enumerate(ids)]})
    with app.extensions["benefits"].engine.connect() as connection:
        lots = dict(connection.execute(sa.select(Lot.event_id, Lot.id).order_by(Lot.id)).all())
        entries = connection.execute(sa.select(LedgerEntry.event_id, LedgerEntry.lot_id, LedgerEntry.balance_after)
                                     .order_by(LedgerEntry.id)).all()
        movements = connection.execute(sa.select(LotMovement.lot_id, LotMovement.points)
                                       .order_by(LotMovement.id)).all()
        audited = connection.execute(sa.select(AuditRecord.after).where(AuditRecord.action == "points.earned")
                                     .order_by(AuditRecord.seq)).scalars().all()
    assert list(lots) == ids
    assert entries == [(event_id, lots[event_id], balance)
                       for event_id, balance in zip(ids, [1, 2, 4, 6, 9, 12])]  # each customer's, event by event
    assert movements == [(lots[event_id], n + 1) for n, event_id in enumerate(ids)]
    assert [(after["event_id"], after["lot_id"]) for after in audited] == list(lots.items())


def test_chunks_recorded_at_the_same_moment_for_one_customer_never_pass_its_cap(rules, app, app_api):
    customer(app_api, "c1")
    extension = app.extensions["benefits"]
    barrier, errors = threading.Barrier(6), []

    def record(n: int) -> None:
        chunk = [EventIn().load({"id": f"lecture-{n}", "customer_id": "c1", "type": "learning",
                                 "activity": "course_completed", "occurred_at": "2026-11-23T10:00:00+08:00"})]
        barrier.wait()
        try:
            imports.record_chunk(extension.sessions, extension.programs, chunk, actor=audit.SYSTEM,
                                 now=extension.now())
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=record, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with extension.engine.connect() as connection:
        awarded = connection.execute(sa.select(sa.func.sum(Lot.points))).scalar_one()
    assert awarded == 100  # 50 a course, at most 100 a day, however the six chunks interleaved
    assert app_api.get("/api/v1/customers/c1/points").get_json()["balance"] == 100


def _lecture(event_id: str):
    return EventIn().load({"id": event_id, "customer_id": "c1", "type": "learning", "activity": "course_completed",
                           "occurred_at": "2026-11-23T10:00:00+08:00"})


def _record_while_another_chunk_holds_the_customer(app, first: list, second: list) -> list[dict]:
    """``first`` recorded and held uncommitted while ``second`` is recorded by another thread; ``first``
    commits once the other is waiting for the customer (PostgreSQL: for its row lock, after its statement
    began; SQLite: for the writers' turn). Returns ``second``'s results."""
    extension = app.extensions["benefits"]
    results = []

    def record_second():
        results.extend(imports.record_chunk(extension.sessions, extension.programs, second, actor=audit.SYSTEM,
                                            now=extension.now()))

    with db.unit_of_work(extension.sessions) as session, extension.programs.active(session) as program:
        events.record_many(session, program, first, actor=audit.SYSTEM, now=extension.now())
        waiting = threading.Thread(target=record_second)
        waiting.start()
        _until_a_writer_waits(extension.engine)
    waiting.join()
    return results


def _until_a_writer_waits(engine) -> None:
    if engine.dialect.name == "sqlite":
        time.sleep(0.3)  # the waiting writer cannot be seen: it queues on a file lock
        return
    with engine.connect() as connection:
        for _ in range(200):
            if connection.execute(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()")).scalar_one():
                return
            time.sleep(0.02)
    raise AssertionError("the second chunk never waited for the customer's lock")


def test_a_chunk_that_waited_for_its_customer_counts_the_cap_usage_committed_meanwhile(rules, app, app_api):
    customer(app_api, "c1")
    [second] = _record_while_another_chunk_holds_the_customer(
        app, [_lecture("lecture-1"), _lecture("lecture-2")], [_lecture("lecture-3")])
    assert second["points"] == 0  # 50 a course, at most 100 a day: the first chunk used the day's cap
    assert app_api.get("/api/v1/customers/c1/points").get_json()["balance"] == 100


def test_a_chunk_that_waited_for_its_customer_answers_an_event_committed_meanwhile_as_a_duplicate(
        rules, app, app_api):
    customer(app_api, "c1")
    [second] = _record_while_another_chunk_holds_the_customer(app, [_lecture("lecture-1")], [_lecture("lecture-1")])
    assert (second["status"], second["points"]) == ("duplicate", 50)
    with app.extensions["benefits"].engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(LedgerEntry)).scalar_one() == 1


def _plan(connection, statement, params: dict) -> list[str]:
    expanded = statement.compile(dialect=connection.dialect).construct_expanded_state(params)
    if connection.dialect.name == "sqlite":
        return [row.detail for row in connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + expanded.statement, expanded.positional_parameters)]
    return [row[0] for row in connection.exec_driver_sql("EXPLAIN " + expanded.statement, expanded.parameters)]


def test_known_events_and_cap_usage_are_looked_up_by_their_keys_however_small_the_tables(session):
    """The plan of recording's reads does not rest on the planner's guess of how many ids and keys a JSON
    array holds: on a small table that guess made PostgreSQL scan the whole of events and cap_usage."""
    connection = session.connection()
    keys = json.dumps([["c1", "card-spend", "day:2026-12-07"]])
    plans = [_plan(connection, getattr(events.KNOWN_AND_USED, f"on_{connection.dialect.name}"),
                   {"ids": json.dumps(["e1", "e2"]), "keys": keys})]
    if connection.dialect.name == "postgresql":  # where the customers' lock reads them in the same statement
        plans.append(_plan(connection, events.LOCK_AND_READ.on_postgresql,
                           {"ids": ["c1", "c2"], "event_ids": json.dumps(["e1", "e2"]), "keys": keys}))
    for plan in plans:
        lookups = [line for line in plan if re.search(r"\b(events|cap_usage)\b", line)]
        assert {"events", "cap_usage"} == {re.search(r"\b(events|cap_usage)\b", line)[1] for line in lookups}, plan
        assert all(re.search(r"Index Scan|SEARCH", line) for line in lookups), plan
