"""Points: reversals, spending oldest lots first, debt, expiry, pending points."""
from datetime import datetime, timedelta, timezone

import pytest

from benefits.errors import InsufficientPoints
from benefits.services import audit, customers, ledger

from factories import activate_rules, customer, event, learning, rules_yaml


@pytest.fixture
def rules(app, clock):
    return activate_rules(app, rules_yaml(), clock())


def spend(app, customer_id, points, now):
    with app.extensions["benefits"].sessions() as session:
        entry = ledger.spend(session, customers.lock(session, customer_id), points, reference="test",
                             rule_id=None, rule_version=None, actor=audit.SYSTEM, now=now)
        session.commit()
        return entry


def points(api, customer_id="c1"):
    return api.get(f"/api/v1/customers/{customer_id}/points").get_json()


def test_full_reversal_takes_back_every_point(rules, app_api):
    customer(app_api, "c1")
    event(app_api, "c1", id="tx", amount="1000")
    response = app_api.post("/api/v1/events/tx/reversal", json={})
    assert response.status_code == 201
    assert response.get_json() == {"points_reversed": 10, "balance": 0}


def test_partial_refunds_add_up_to_the_full_reversal(rules, app_api):
    customer(app_api, "c1")
    event(app_api, "c1", id="tx", amount="999")  # 9 points
    reversed_ = [app_api.post("/api/v1/events/tx/reversal", json={"amount": amount}).get_json()["points_reversed"]
                 for amount in ("333", "333", "333")]
    assert reversed_ == [3, 3, 3]
    assert points(app_api)["balance"] == 0


def test_partial_refund_keeps_the_floor_of_the_remaining_share(rules, app_api):
    customer(app_api, "c1")
    event(app_api, "c1", id="tx", amount="1000")  # 10 points
    answer = app_api.post("/api/v1/events/tx/reversal", json={"amount": "150"}).get_json()
    assert answer == {"points_reversed": 2, "balance": 8}  # keeps floor(10 × 850 / 1000) = 8


def test_refunding_more_than_remains_is_422(rules, app_api):
    customer(app_api, "c1")
    event(app_api, "c1", id="tx", amount="1000")
    app_api.post("/api/v1/events/tx/reversal", json={"amount": "600"})
    response = app_api.post("/api/v1/events/tx/reversal", json={"amount": "400.01"})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["path"] == "json.amount"
    assert points(app_api)["balance"] == 4


def test_reversal_of_unknown_event_is_404(rules, app_api):
    assert app_api.post("/api/v1/events/nope/reversal", json={}).status_code == 404


def test_reversal_frees_no_cap_room(rules, app_api):
    customer(app_api, "c1")
    event(app_api, "c1", id="tx", amount="100000")  # the day's cap: 1000
    app_api.post("/api/v1/events/tx/reversal", json={})
    assert event(app_api, "c1", amount="500")["points"] == 0


def test_reversal_after_spending_leaves_a_debt_that_blocks_spending(rules, app, app_api, clock):
    customer(app_api, "c1")
    event(app_api, "c1", id="tx", amount="1000")
    spend(app, "c1", 8, clock())
    assert app_api.post("/api/v1/events/tx/reversal", json={}).get_json()["balance"] == -8
    with pytest.raises(InsufficientPoints):
        spend(app, "c1", 1, clock())
    event(app_api, "c1", amount="1200")  # 12 points: 8 pay the debt
    assert points(app_api)["balance"] == 4
    spend(app, "c1", 4, clock())
    assert points(app_api)["balance"] == 0


def test_spending_takes_the_oldest_lots_first(rules, app, app_api, clock):
    customer(app_api, "c1")
    event(app_api, "c1", amount="1000", occurred_at="2026-01-15T10:00:00+08:00")
    event(app_api, "c1", amount="2000", occurred_at="2026-03-15T10:00:00+08:00")
    spend(app, "c1", 12, clock())
    assert points(app_api)["expiring"] == [
        {"points": 18, "expires_at": "2028-03-31T16:00:00+00:00"}]


def test_points_earned_in_month_m_expire_at_the_end_of_month_m_plus_24(rules, app, app_api, clock):
    customer(app_api, "c1")
    event(app_api, "c1", amount="1000", occurred_at="2026-01-31T23:30:00+08:00")
    event(app_api, "c1", amount="500", occurred_at="2026-02-01T00:30:00+08:00")
    assert [e["expires_at"] for e in points(app_api)["expiring"]] == [
        "2028-01-31T16:00:00+00:00", "2028-02-29T16:00:00+00:00"]
    with app.extensions["benefits"].sessions() as session:
        expired = ledger.expire_due(session, customers.lock(session, "c1"),
                                    now=datetime(2028, 1, 31, 16, 0, tzinfo=timezone.utc))
        session.commit()
    assert expired == 10
    assert points(app_api)["balance"] == 5
    kinds = [(i["kind"], i["points"]) for i in app_api.get("/api/v1/customers/c1/ledger").get_json()["items"]]
    assert kinds[0] == ("expire", -10)


def test_a_lot_a_second_before_its_expiry_is_kept(rules, app, app_api):
    customer(app_api, "c1")
    event(app_api, "c1", amount="1000", occurred_at="2026-01-31T23:30:00+08:00")
    with app.extensions["benefits"].sessions() as session:
        assert ledger.expire_due(session, customers.lock(session, "c1"),
                                 now=datetime(2028, 1, 31, 15, 59, 59, tzinfo=timezone.utc)) == 0


def test_expire_command_expires_every_customers_due_lots(rules, app, app_api):
    customer(app_api, "c1")
    customer(app_api, "c2")
    event(app_api, "c1", amount="1000", occurred_at="2024-01-15T10:00:00+08:00")
    event(app_api, "c2", amount="700", occurred_at="2024-02-15T10:00:00+08:00")
    result = app.test_cli_runner().invoke(args=["points", "expire"])
    assert result.exit_code == 0, result.output
    assert "expired 17 points of 2 customers" in result.output
    assert points(app_api, "c1")["balance"] == points(app_api, "c2")["balance"] == 0


def test_pending_points_count_in_the_balance_but_cannot_be_spent(app, app_api, clock):
    activate_rules(app, rules_yaml(pending_days=7), clock())
    customer(app_api, "c1")
    event(app_api, "c1", amount="1000", occurred_at=clock().isoformat())
    learning(app_api, "c1", occurred_at=clock().isoformat())
    assert points(app_api) | {"expiring": None} == {"balance": 60, "pending": 10, "spendable": 50, "expiring": None}
    with pytest.raises(InsufficientPoints):
        spend(app, "c1", 51, clock())
    clock.advance(days=7)
    assert points(app_api)["pending"] == 0
    spend(app, "c1", 60, clock())


def test_learning_points_are_never_pending_even_when_dated_ahead_of_the_clock(app, app_api, clock):
    activate_rules(app, rules_yaml(pending_days=7), clock())
    customer(app_api, "c1")
    learning(app_api, "c1", occurred_at=(clock() + timedelta(minutes=4)).isoformat())
    assert points(app_api)["pending"] == 0
    spend(app, "c1", 50, clock())


def test_ledger_is_newest_first_and_paged(rules, app_api):
    customer(app_api, "c1")
    for amount in ("100", "200", "300"):
        event(app_api, "c1", amount=amount)
    first = app_api.get("/api/v1/customers/c1/ledger?limit=2").get_json()
    assert [i["points"] for i in first["items"]] == [3, 2]
    rest = app_api.get(f"/api/v1/customers/c1/ledger?limit=2&cursor={first['next_cursor']}").get_json()
    assert ([i["points"] for i in rest["items"]], rest["next_cursor"]) == ([1], None)
    assert [i["balance_after"] for i in first["items"] + rest["items"]] == [6, 3, 1]


def test_bad_cursor_is_422(rules, app_api):
    customer(app_api, "c1")
    assert app_api.get("/api/v1/customers/c1/ledger?cursor=abc").status_code == 422
