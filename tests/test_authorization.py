"""The authorisation matrix: every route × every caller, against the table below.

A route the service serves but the table lacks fails the test, and so does a
row for a route that no longer exists: the table is the reviewed answer to
"who may call what".
"""
import pytest
import sqlalchemy as sa

from conftest import Caller, make_key
from factories import WEALTH, customer, pass_code, redeem

PUBLIC, APP, PARTNER, ADMIN = "public", "app", "partner", "admin"
MATRIX = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("PUT", "/api/v1/customers/<customer_id>"): APP,
    ("GET", "/api/v1/customers/<customer_id>"): APP,
    ("GET", "/api/v1/customers/<customer_id>/points"): APP,
    ("GET", "/api/v1/customers/<customer_id>/ledger"): APP,
    ("GET", "/api/v1/customers/<customer_id>/entitlements"): APP,
    ("POST", "/api/v1/customers/<customer_id>/passes"): APP,
    ("POST", "/api/v1/customers/<customer_id>/rewards/<reward_id>/redeem"): APP,
    ("GET", "/api/v1/rewards"): APP,
    ("POST", "/api/v1/events"): APP,
    ("POST", "/api/v1/events/batch"): APP,
    ("POST", "/api/v1/events/<event_id>/reversal"): APP,
    ("GET", "/partner/v1/passes/<code>"): PARTNER,
    ("POST", "/partner/v1/redemptions"): PARTNER,
    ("GET", "/partner/v1/redemptions"): PARTNER,
    ("POST", "/partner/v1/redemptions/<int:redemption_id>/confirm"): PARTNER,
    ("POST", "/partner/v1/redemptions/<int:redemption_id>/cancel"): PARTNER,
    ("GET", "/partner/v1/statements/<month>"): PARTNER,
    ("POST", "/admin/v1/rule-versions"): ADMIN,
    ("GET", "/admin/v1/rule-versions"): ADMIN,
    ("GET", "/admin/v1/rule-versions/active"): ADMIN,
    ("GET", "/admin/v1/rule-versions/<int:version>"): ADMIN,
    ("GET", "/admin/v1/rule-versions/<int:a>/diff/<int:b>"): ADMIN,
    ("POST", "/admin/v1/rule-versions/<int:version>/approve"): ADMIN,
    ("POST", "/admin/v1/rule-versions/<int:version>/activate"): ADMIN,
    ("POST", "/admin/v1/rule-versions/<int:version>/simulate"): ADMIN,
    ("GET", "/admin/v1/rule-schema"): ADMIN,
    ("POST", "/admin/v1/partners"): ADMIN,
    ("GET", "/admin/v1/partners"): ADMIN,
    ("POST", "/admin/v1/partners/<partner_id>/keys"): ADMIN,
    ("POST", "/admin/v1/api-keys"): ADMIN,
    ("GET", "/admin/v1/api-keys"): ADMIN,
    ("POST", "/admin/v1/api-keys/<int:key_id>/revoke"): ADMIN,
    ("GET", "/metrics"): ADMIN,
    ("GET", "/admin/v1/audit"): ADMIN,
    ("GET", "/admin/v1/audit/verify"): ADMIN,
    ("POST", "/admin/v1/webhooks"): ADMIN,
    ("GET", "/admin/v1/webhooks"): ADMIN,
    ("DELETE", "/admin/v1/webhooks/<int:webhook_id>"): ADMIN,
    ("POST", "/admin/v1/webhooks/<int:webhook_id>/rotate-secret"): ADMIN,
    ("GET", "/admin/v1/webhooks/<int:webhook_id>/deliveries"): ADMIN,
    ("POST", "/admin/v1/webhooks/<int:webhook_id>/deliveries/<message_id>/retry"): ADMIN,
    ("POST", "/admin/v1/webhooks/<int:webhook_id>/deliveries/<message_id>/skip"): ADMIN,
    ("PUT", "/admin/v1/fx-rates/<currency>"): ADMIN,
    ("GET", "/admin/v1/fx-rates"): ADMIN,
    ("POST", "/admin/v1/customers/<customer_id>/adjustments"): ADMIN,
    ("POST", "/admin/v1/customers/<customer_id>/adjustments/<int:adjustment_id>/approve"): ADMIN,
    ("GET", "/admin/v1/adjustments"): ADMIN,
    ("GET", "/admin/v1/reports/points"): ADMIN,
    ("GET", "/admin/v1/reports/liability"): ADMIN,
    ("GET", "/admin/v1/reports/benefits"): ADMIN,
    ("GET", "/admin/v1/reports/partners/<partner_id>/statements/<month>"): ADMIN,
    ("GET", "/admin/v1/reports/tiers"): ADMIN,
}
CALLERS = ("no key", "bad key", "app", "partner A", "partner B", "admin")


def served_routes(app) -> set[tuple[str, str]]:
    """The API's routes: the web console signs in with a session, not a bearer key (tests/test_console.py)."""
    return {(method, rule.rule) for rule in app.url_map.iter_rules()
            if rule.endpoint not in ("static", "docs.static") and not rule.endpoint.startswith("console.")
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_every_served_route_is_in_the_matrix_and_every_row_is_served(app):
    served = served_routes(app)
    assert served - MATRIX.keys() == set(), "routes missing from the authorisation matrix"
    assert MATRIX.keys() - served == set(), "matrix rows for routes that are not served"


@pytest.fixture
def world(app, client, app_api, admin_api, partner_api):
    """One of everything a path can name: a customer with an event, a pass, partner A's redemption, a webhook
    and its delivery of the customer's tier."""
    hook = admin_api.post("/admin/v1/webhooks", json={"url": "https://crm.bank.example/", "types": ["tier.changed"]})
    customer(app_api, "c1", **WEALTH)
    app_api.post("/api/v1/events", json={"id": "e1", "customer_id": "c1", "type": "transaction",
                                         "occurred_at": "2026-11-23T10:00:00+08:00", "amount": "1000",
                                         "category": "card_spend"})
    partner_a = partner_api("skyport", ["airport_lounge"])
    partner_b = partner_api("westlake", ["airport_lounge"], "hotel")
    code = pass_code(app_api, "c1", ttl_seconds=3600)
    redemption = redeem(partner_a, code)["id"]
    adjustment = admin_api.post("/admin/v1/customers/c1/adjustments", json={"points": 10, "reason": "goodwill"})
    callers = {"no key": Caller(client, None), "bad key": Caller(client, "vb_app_forged"), "app": app_api,
               "partner A": partner_a, "partner B": partner_b,
               "admin": Caller(client, make_key(app, "admin", "carol"))}
    make_key(app, "app", "spare")
    with app.extensions["benefits"].engine.connect() as connection:
        spare = connection.execute(sa.text("SELECT id FROM api_keys WHERE name = 'spare'")).scalar_one()
    values = {"customer_id": "c1", "reward_id": "extra-lounge", "event_id": "e1", "code": code,
              "redemption_id": redemption, "version": 1, "a": 1, "b": 1, "partner_id": "skyport", "key_id": spare,
              "webhook_id": hook.get_json()["id"], "message_id": admin_api.get(
                  f"/admin/v1/webhooks/{hook.get_json()['id']}/deliveries").get_json()["items"][0]["message_id"],
              "currency": "USD", "month": "2026-11", "adjustment_id": adjustment.get_json()["id"]}
    return callers, values


def concrete(rule: str, values: dict) -> str:
    path = rule
    for name, value in values.items():
        path = path.replace(f"<int:{name}>", str(value)).replace(f"<{name}>", str(value))
    return path


def expected(role: str, caller: str, rule: str) -> set[int] | str:
    if role == PUBLIC:
        return "allowed"
    if caller in ("no key", "bad key"):
        return {401}
    if caller.split()[0] != role:
        return {403}
    if caller == "partner B" and "<int:redemption_id>" in rule:
        return {404}  # another partner's redemption does not exist for it
    return "allowed"


@pytest.mark.parametrize("caller", CALLERS)
def test_each_caller_reaches_exactly_what_the_matrix_allows(world, caller):
    callers, values = world
    for (method, rule), role in sorted(MATRIX.items()):
        response = callers[caller].open(method, concrete(rule, values), json={} if method != "GET" else None)
        want = expected(role, caller, rule)
        assert response.status_code < 500, (method, rule, caller, response.get_data(as_text=True))
        if want == "allowed":
            assert response.status_code not in (401, 403), (method, rule, caller, response.get_json())
        else:
            assert response.status_code in want, (method, rule, caller, response.status_code)
            if 403 in want:
                assert response.get_json()["reason"] == "forbidden"


def test_every_route_is_documented_in_the_openapi_document(client):
    documented = {(method.upper(), path) for path, operations in client.get("/openapi.json").get_json()["paths"].items()
                  for method in operations if method != "parameters"}
    def openapi_path(rule):
        return rule.replace("<int:", "{").replace("<", "{").replace(">", "}")

    undocumented = {(method, rule) for method, rule in MATRIX
                    if rule not in ("/openapi.json", "/docs") and (method, openapi_path(rule)) not in documented}
    assert undocumented == set()
