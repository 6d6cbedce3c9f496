"""The set-based path and the single-event path are one service: for the same random stream of events they
give the same answers, ledger, lots, cap usage and audit rows.

Each example sends one stream twice in one database, to two twin sets of customers (prefixes ``s`` and
``b``): one event at a time through ``POST /api/v1/events``, then in random chunks through
``POST /api/v1/events/batch``; then everything each twin wrote is compared with the prefix taken out.
Streams hold replays, conflicting bodies, unknown customers, events dated in the future, learning
activity and amounts that run into the caps.
"""
import itertools
from datetime import timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benefits.models import AuditRecord
from factories import activate_rules, customer, rules_yaml

_streams = itertools.count(1)
CUSTOMERS = 3
AUMS = (50_000, 900_000, 8_000_000)

event_strategy = st.fixed_dictionaries({
    "n": st.integers(0, 11),  # an id among a few, so that replays and conflicts come up
    "customer": st.integers(0, CUSTOMERS),  # CUSTOMERS itself: a customer nobody created
    "kind": st.sampled_from(["card_spend", "card_spend", "fund", "learning"]),
    "amount": st.sampled_from(["99.99", "100.00", "4321.50", "60000.00", "250000.00"]),
    "hours_ago": st.sampled_from([-2, 0, 0, 1, 30, 24 * 8]),  # -2: two hours ahead of the clock
})


def body(raw: dict, prefix: str, stream: int, now) -> dict:
    occurred = (now - timedelta(hours=raw["hours_ago"])).isoformat()
    event = {"id": f"{prefix}{stream}-e{raw['n']}", "customer_id": f"{prefix}{stream}-c{raw['customer']}",
             "occurred_at": occurred}
    if raw["kind"] == "learning":
        return event | {"type": "learning", "activity": "course_completed"}
    return event | {"type": "transaction", "amount": raw["amount"], "currency": "CNY", "category": raw["kind"]}


def answer_of(response) -> dict:
    """A single event's answer in a batch line's terms."""
    data = response.get_json()
    if response.status_code in (200, 201):
        return {"status": "created" if response.status_code == 201 else "duplicate", "points": data["points"],
                "error": None}
    return {"status": "error", "points": None, "error": data["reason"]}


def written(app, prefix: str, stream: int) -> dict:
    """What the service wrote for a twin, in the order written, with its prefix and row ids taken out."""
    mark = f"{prefix}{stream}-"
    with app.extensions["benefits"].engine.connect() as connection:
        def rows(sql: str) -> list:
            return [tuple(str(value).replace(mark, "") for value in row)
                    for row in connection.execute(sa.text(sql), {"like": mark + "%"})]
        return {
            "events": rows("SELECT id, customer_id, points, response FROM events WHERE id LIKE :like ORDER BY id"),
            "lots": rows("SELECT customer_id, event_id, rule_id, points, remaining, earned_at, available_at, "
                         "expires_at FROM lots WHERE customer_id LIKE :like ORDER BY id"),
            "ledger": rows("SELECT customer_id, kind, points, balance_after, event_id, rule_id FROM ledger_entries "
                           "WHERE customer_id LIKE :like ORDER BY id"),
            "caps": rows("SELECT customer_id, rule_id, period_start, points FROM cap_usage "
                         "WHERE customer_id LIKE :like ORDER BY customer_id, rule_id, period_start"),
            "balances": rows("SELECT id, balance FROM customers WHERE id LIKE :like ORDER BY id"),
            "audit": [(row.action, row.subject_id.replace(mark, ""),
                       {key: str(value).replace(mark, "") for key, value in row.after.items() if key != "lot_id"})
                      for row in connection.execute(sa.select(AuditRecord.__table__).where(
                          AuditRecord.subject_id.like(mark + "%")).order_by(AuditRecord.seq))],
        }


def test_a_random_stream_gives_the_same_outcome_one_by_one_and_in_batches(app, app_api, clock):
    activate_rules(app, rules_yaml(pending_days=3), clock())

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(stream=st.lists(event_strategy, min_size=1, max_size=40),
           cuts=st.lists(st.integers(1, 40), min_size=1, max_size=8))
    def same_outcome(stream, cuts):
        number = next(_streams)
        for prefix in ("s", "b"):
            for i, aum in enumerate(AUMS):
                customer(app_api, f"{prefix}{number}-c{i}", aum=aum)
        now = clock()
        singles = [answer_of(app_api.post("/api/v1/events", json=body(raw, "s", number, now))) for raw in stream]
        batched, start = [], 0
        for cut in itertools.cycle(cuts):
            chunk = [body(raw, "b", number, now) for raw in stream[start:start + cut]]
            response = app_api.post("/api/v1/events/batch", json={"events": chunk})
            assert response.status_code == 200, response.get_json()
            batched += [{"status": line["status"], "points": line["points"],
                         "error": line["error"]["reason"] if line["error"] else None}
                        for line in response.get_json()["results"]]
            start += cut
            if start >= len(stream):
                break
        assert batched == singles
        assert written(app, "b", number) == written(app, "s", number)

    same_outcome()
