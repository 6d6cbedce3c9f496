"""Rewards: points buy extras, oldest points first, never below zero."""
import threading

from factories import MASS, PRIVATE, WEALTH, customer, entitlement


def earn(app_api, clock, customer_id, amount, event_id):
    """Wealth-product points, made spendable by waiting out the programme's pending days."""
    response = app_api.post("/api/v1/events", json={
        "id": event_id, "customer_id": customer_id, "type": "transaction", "occurred_at": clock().isoformat(),
        "amount": str(amount), "category": "wealth_product"})
    assert response.status_code == 201, response.get_json()
    clock.advance(days=8)
    return response.get_json()["points"]


def buy(app_api, customer_id, reward_id, **kwargs):
    return app_api.post(f"/api/v1/customers/{customer_id}/rewards/{reward_id}/redeem", **kwargs)


def test_the_catalog_without_a_customer_lists_every_reward(app_api):
    items = app_api.get("/api/v1/rewards").get_json()["items"]
    assert {item["id"]: item["cost"] for item in items} == {"advisory-hour": 5000, "extra-lounge": 3000,
                                                            "health-check": 20000}
    assert {item["eligible"] for item in items} == {None}


def test_the_catalog_for_a_customer_says_what_they_may_buy(app_api):
    customer(app_api, "c1", **MASS)
    eligible = {i["id"]: i["eligible"] for i in app_api.get("/api/v1/rewards?customer_id=c1").get_json()["items"]}
    assert eligible == {"advisory-hour": True, "extra-lounge": False, "health-check": True}


def test_the_catalog_for_an_unknown_customer_is_404(app_api):
    assert app_api.get("/api/v1/rewards?customer_id=nobody").status_code == 404


def test_buying_a_reward_spends_points_and_adds_a_unit_to_its_entitlement(app_api, clock):
    customer(app_api, "c1", **WEALTH)
    earned = earn(app_api, clock, "c1", 400000, "e1")
    response = buy(app_api, "c1", "extra-lounge")
    assert response.status_code == 201
    assert response.get_json() == {"points_spent": 3000, "balance": earned - 3000, "benefit": "airport_lounge",
                                        "units": 1}
    item = entitlement(app_api, "c1", source="reward")
    assert (item["rule"], item["quota"], item["remaining"], item["period_start"]) == ("extra-lounge", 1, 1, None)
    ledger = app_api.get("/api/v1/customers/c1/ledger").get_json()["items"]
    assert (ledger[0]["kind"], ledger[0]["points"], ledger[0]["rule"]) == ("redeem", -3000, "extra-lounge")


def test_buying_without_enough_spendable_points_is_409_and_changes_nothing(app_api, clock):
    customer(app_api, "c1", **WEALTH)
    earn(app_api, clock, "c1", 100000, "e1")
    before = app_api.get("/api/v1/customers/c1/points").get_json()
    refused = buy(app_api, "c1", "advisory-hour")
    assert refused.status_code == 409 and refused.get_json()["reason"] == "insufficient_points"
    assert app_api.get("/api/v1/customers/c1/points").get_json() == before


def test_pending_points_cannot_buy_a_reward(app_api, clock):
    customer(app_api, "c1", **PRIVATE)
    app_api.post("/api/v1/events", json={"id": "e1", "customer_id": "c1", "type": "transaction",
                                         "occurred_at": clock().isoformat(), "amount": "500000",
                                         "category": "wealth_product"})
    refused = buy(app_api, "c1", "advisory-hour")
    assert refused.status_code == 409 and refused.get_json()["reason"] == "insufficient_points"


def test_a_reward_the_customer_is_not_eligible_for_is_409(app_api, clock):
    customer(app_api, "c1", **MASS)
    earn(app_api, clock, "c1", 1000000, "e1")
    refused = buy(app_api, "c1", "extra-lounge")
    assert refused.status_code == 409 and refused.get_json()["reason"] == "not_eligible"


def test_an_unknown_reward_is_404(app_api):
    customer(app_api, "c1", **MASS)
    assert buy(app_api, "c1", "yacht").status_code == 404


def test_a_retried_purchase_with_its_idempotency_key_spends_once(app_api, clock):
    customer(app_api, "c1", **WEALTH)
    earned = earn(app_api, clock, "c1", 400000, "e1")
    first = buy(app_api, "c1", "extra-lounge", headers={"Idempotency-Key": "buy-1"})
    again = buy(app_api, "c1", "extra-lounge", headers={"Idempotency-Key": "buy-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json() == first.get_json()
    assert app_api.get("/api/v1/customers/c1").get_json()["balance"] == earned - 3000


def test_concurrent_purchases_beyond_the_balance_never_take_it_below_zero(app, app_api, clock):
    customer(app_api, "c1", **WEALTH)
    earned = earn(app_api, clock, "c1", 500000, "e1")  # 7,500 points: two lounge visits, not three
    assert earned == 7500
    statuses, start = [], threading.Barrier(6)

    def purchase():
        client = type(app_api)(app.test_client(), app_api.key)
        start.wait()
        statuses.append(buy(client, "c1", "extra-lounge").status_code)

    threads = [threading.Thread(target=purchase) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 201, 409, 409, 409, 409]
    assert app_api.get("/api/v1/customers/c1").get_json()["balance"] == 1500
    assert entitlement(app_api, "c1", source="reward")["quota"] == 2
