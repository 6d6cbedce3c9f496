"""Bad input: a clear 4xx saying what was wrong, never a 500, and nothing half-written."""
import json

import pytest
import sqlalchemy as sa

from benefits import create_app

from factories import WEALTH, customer, pass_code, redeem

EVENT = {"id": "e1", "customer_id": "c1", "type": "transaction", "occurred_at": "2026-11-23T10:00:00+08:00",
         "amount": "100", "category": "card_spend"}

WRITES = [
    ("PUT", "/api/v1/customers/c1", {"name": "张三", "aum": 1000}),
    ("POST", "/api/v1/events", EVENT),
    ("POST", "/api/v1/events/batch", {"events": [EVENT]}),
    ("POST", "/api/v1/events/e0/reversal", {"amount": "1"}),
]


def counts(app) -> dict:
    with app.extensions["benefits"].engine.connect() as connection:
        return {table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("customers", "events", "ledger_entries", "lots", "audit_log")}


@pytest.fixture
def known(app_api):
    customer(app_api, "c0")
    app_api.post("/api/v1/events", json={**EVENT, "id": "e0", "customer_id": "c0"})


@pytest.mark.parametrize("method, path, body", WRITES)
def test_malformed_json_is_400(known, app, app_api, method, path, body):
    before = counts(app)
    response = app_api.open(method, path, data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["message"]
    assert counts(app) == before


@pytest.mark.parametrize("method, path, body", WRITES)
def test_unknown_field_is_422_naming_it(known, app, app_api, method, path, body):
    before = counts(app)
    response = app_api.open(method, path, json={**body, "surprise": 1})
    assert response.status_code == 422
    assert {"path": "json.surprise", "message": "Unknown field."} in response.get_json()["errors"]
    assert counts(app) == before


@pytest.mark.parametrize("method, path, body", WRITES)
def test_body_over_one_megabyte_is_413(known, app, app_api, method, path, body):
    before = counts(app)
    response = app_api.open(method, path, data=json.dumps({**body, "pad": "x" * 1_100_000}),
                            content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["reason"] == "too_large"
    assert counts(app) == before


@pytest.mark.parametrize("field, value", [
    ("amount", "-5"), ("amount", "1000000000001"), ("amount", 1e300), ("amount", "NaN"), ("amount", "Infinity"),
    ("amount", [1]), ("id", 7), ("id", ""), ("id", "x" * 65), ("occurred_at", "yesterday"), ("type", "gift"),
    ("customer_id", None), ("currency", "yuan"), ("category", "x" * 65),
])
def test_bad_event_field_is_422_naming_it(known, app, app_api, field, value):
    before = counts(app)
    response = app_api.post("/api/v1/events", json={**EVENT, field: value})
    assert response.status_code == 422, response.get_json()
    assert any(e["path"] == f"json.{field}" for e in response.get_json()["errors"]), response.get_json()
    assert counts(app) == before


def test_body_that_is_not_an_object_is_422(known, app_api):
    response = app_api.post("/api/v1/events", json=[EVENT])
    assert response.status_code == 422


def test_batch_item_that_is_not_an_object_is_422_naming_it(known, app_api):
    response = app_api.post("/api/v1/events/batch", json={"events": [EVENT, "x"]})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["path"] == "json.events[1]"


def test_batch_event_of_wrong_types_is_an_error_result(known, app_api):
    results = app_api.post("/api/v1/events/batch", json={"events": [{"id": 1}]}).get_json()["results"]
    assert results[0]["status"] == "error" and results[0]["id"] is None


def test_reversal_amount_must_be_positive(known, app_api):
    response = app_api.post("/api/v1/events/e0/reversal", json={"amount": "0"})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["path"] == "json.amount"


def test_unknown_route_is_404_json(app_api):
    response = app_api.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["reason"] == "not_found"


def test_wrong_method_is_405_json(app_api):
    response = app_api.open("DELETE", "/api/v1/events")
    assert response.status_code == 405
    assert response.get_json()["reason"] == "method_not_allowed"


def test_nul_character_in_a_field_is_422_naming_it(known, app, app_api):
    before = counts(app)
    response = app_api.put("/api/v1/customers/c1", json={"name": "张\x00三", "aum": 1000})
    assert response.status_code == 422
    assert response.get_json()["errors"] == [{"path": "json.name", "message": "must not contain NUL characters"}]
    assert counts(app) == before


def test_nul_character_in_a_path_is_404(known, app_api):
    assert app_api.get("/api/v1/customers/c0%00").status_code == 404


def mutating_routes(app) -> list[str]:
    """The API's (the console's forms are not JSON: tests/test_console.py)."""
    return sorted(f"{method} {rule.rule}" for rule in app.url_map.iter_rules()
                  if not rule.endpoint.startswith("console.") for method in rule.methods & {"POST", "PUT"})


@pytest.fixture
def anywhere(app, app_api, admin_api, partner_api):
    """A caller and a concrete path for every mutating route, each naming something that exists."""
    webhook = admin_api.post("/admin/v1/webhooks", json={"url": "https://crm.bank.example/",
                                                         "types": ["tier.changed"]}).get_json()["id"]
    customer(app_api, "c1", **WEALTH)
    app_api.post("/api/v1/events", json={**EVENT, "id": "e1"})
    partner = partner_api("skyport", ["airport_lounge"])
    redemption = redeem(partner, pass_code(app_api, "c1", ttl_seconds=3600))["id"]
    values = {"customer_id": "c1", "reward_id": "extra-lounge", "event_id": "e1", "redemption_id": str(redemption),
              "key_id": "1",
              "version": "1", "partner_id": "skyport", "webhook_id": str(webhook), "message_id": admin_api.get(
                  f"/admin/v1/webhooks/{webhook}/deliveries").get_json()["items"][0]["message_id"],
              "currency": "USD", "adjustment_id": "1"}
    callers = {"/api/": app_api, "/partner/": partner, "/admin/": admin_api}

    def target(route: str):
        method, rule = route.split(" ")
        path = rule
        for name, value in values.items():
            path = path.replace(f"<{name}>", value).replace(f"<int:{name}>", value)
        assert "<" not in path, f"no value for a parameter of {rule}"
        caller = next(c for prefix, c in callers.items() if rule.startswith(prefix))
        return caller, method, path
    return target


def test_every_mutating_route_is_covered(app):
    assert len(mutating_routes(app)) == 24


RULE_UPLOAD = "POST /admin/v1/rule-versions"


@pytest.mark.parametrize("route", mutating_routes(create_app(DATABASE_URL="sqlite://")))
def test_every_mutating_route_answers_malformed_json_with_400_and_writes_nothing(app, anywhere, route):
    """A rule document that does not parse is a 422 with its path, as every refused document is."""
    caller, method, path = anywhere(route)
    before = counts(app)
    response = caller.open(method, path, data="{not json", content_type="application/json")
    assert response.status_code == (422 if route == RULE_UPLOAD else 400), response.get_json()
    assert response.get_json()["reason"]
    assert counts(app) == before


@pytest.mark.parametrize("route", mutating_routes(create_app(DATABASE_URL="sqlite://")))
def test_every_mutating_route_answers_a_body_over_one_megabyte_with_413_and_writes_nothing(app, anywhere, route):
    caller, method, path = anywhere(route)
    before = counts(app)
    response = caller.open(method, path, data=json.dumps({"pad": "x" * 1_100_000}), content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["reason"] == "too_large"
    assert counts(app) == before


@pytest.mark.parametrize("route", mutating_routes(create_app(DATABASE_URL="sqlite://")))
def test_every_mutating_route_answers_a_list_body_with_a_4xx_and_writes_nothing(app, anywhere, route):
    caller, method, path = anywhere(route)
    before = counts(app)
    response = caller.open(method, path, json=[1, 2, 3])
    assert 400 <= response.status_code < 500, response.get_json()
    assert response.get_json()["message"]
    assert counts(app) == before
