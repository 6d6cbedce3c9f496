"""API fuzzing from our own OpenAPI document (schemathesis), on SQLite and PostgreSQL.

Every operation of `/openapi.json` gets a bounded, deterministic run of
generated requests (valid ones and, where the operation has inputs, invalid
ones), sent with a valid key of the role its path prefix needs. Path and body
values are sometimes swapped for ids that exist (customers, events, passes,
redemptions, versions, partners), so the generated requests reach the code
behind the 404s too. Each answer must:

- not be a 5xx;
- carry a status the operation documents: a success status (2xx) or 409 must be
  listed explicitly, other errors fall under the documented `default` error;
- have a documented content type and a body that validates against the
  documented schema (the error body included).

After each operation the fixtures check the invariants (balance == ledger sum,
lots, audit chain). Operations are read from the document, so a route added
later is fuzzed without a change here.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from benefits import create_app
from benefits.rules.document import parse_document
from conftest import make_key
from factories import MASS, PRIVATE, WEALTH, customer, event, learning, pass_code, rules_yaml

MAX_EXAMPLES = 30
PREFIX_ROLES = {"/api/v1/": "app", "/partner/v1/": "partner", "/admin/v1/": "admin"}


SPEC = create_app(DATABASE_URL="sqlite://").test_client().get("/openapi.json").get_json()
OPERATIONS = sorted((method.upper(), path) for path, item in SPEC["paths"].items()
                    for method in item if method in ("get", "put", "post", "patch", "delete"))
INTEGER_PATHS = sorted({(method, path) for method, path in OPERATIONS
                        for parameter in SPEC["paths"][path].get("parameters", [])
                        if parameter["in"] == "path" and parameter["schema"].get("type") == "integer"})


def explicit_status(ctx, response, case) -> None:
    """Success statuses and business conflicts must be documented by number, not only by `default`."""
    status = response.status_code
    documented = set(case.operation.responses.status_codes)
    if (200 <= status < 300 or status == 409) and str(status) not in documented:
        raise AssertionError(f"{case.operation.label} answered {status}, which it does not document "
                             f"(documented: {', '.join(sorted(documented))})")


def error_body_shape(ctx, response, case) -> None:
    """Every error carries `{code, status, message, reason}`; a 422 a list of `{path, message}`."""
    if response.status_code < 400:
        return
    body = json.loads(response.content)
    assert body["code"] == response.status_code, body
    assert isinstance(body.get("reason"), str) and body["reason"], body
    if response.status_code == 422:
        assert isinstance(body.get("errors"), list), body
        assert all(set(item) == {"path", "message"} for item in body["errors"]), body


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          explicit_status, error_body_shape]


class World:
    """Resources that exist, so generated requests can name them: ids by path parameter or body field."""

    def __init__(self, app, app_api, admin_api, second_admin_api, partner_api, clock):
        self.keys = {"app": app_api.key, "admin": admin_api.key}
        hook = admin_api.post("/admin/v1/webhooks", json={"url": "https://crm.bank.example/hooks", "types": [
            "tier.changed", "redemption.confirmed"]})  # stored only: no worker runs here, nothing is sent
        assert hook.status_code == 201, hook.get_json()
        for name, fields in (("c-private", PRIVATE | {"tags": ["children_studying_abroad"]}),
                             ("c-wealth", WEALTH), ("c-mass", MASS)):
            customer(app_api, name, **fields)
        events = [event(app_api, "c-private", category="wealth_product", amount="250000.00")["id"],
                  event(app_api, "c-wealth", category="fund", amount="40000.00")["id"],
                  learning(app_api, "c-mass")["id"]]
        # enough spendable points on c-private to buy a reward (transaction points wait pending_days)
        clock.advance(days=10)
        skyport = partner_api("skyport", ["airport_lounge", "medical_green_channel"])
        self.keys["partner"] = skyport.key
        partner_api("city-hospital", ["medical_green_channel", "annual_health_check"], kind="hospital")
        codes = [pass_code(app_api, "c-private"), pass_code(app_api, "c-wealth"),
                 pass_code(app_api, "c-private", benefit="airport_lounge")]
        redemptions = []
        for code, capture in ((codes[0], False), (codes[0], True), (codes[1], False)):
            response = skyport.post("/partner/v1/redemptions",
                                    json={"pass_code": code, "benefit": "airport_lounge", "capture": capture})
            assert response.status_code == 201, response.get_json()
            redemptions.append(response.get_json()["id"])
        draft = admin_api.post("/admin/v1/rule-versions", data=rules_yaml(),
                               headers={"Content-Type": "application/yaml"})
        assert draft.status_code == 201, draft.get_json()
        approved = admin_api.post("/admin/v1/rule-versions", data=rules_yaml(grace=0),
                                  headers={"Content-Type": "application/yaml"})
        assert approved.status_code == 201, approved.get_json()
        response = second_admin_api.post(f"/admin/v1/rule-versions/{approved.get_json()['version']}/approve",
                                         json={})
        assert response.status_code == 200, response.get_json()
        versions = [1, draft.get_json()["version"], approved.get_json()["version"]]
        adjustment = admin_api.post("/admin/v1/customers/c-mass/adjustments", json={"points": 40, "reason": "fuzz"})
        assert adjustment.status_code == 201, adjustment.get_json()
        self.values = {
            "customer_id": ["c-private", "c-wealth", "c-mass"],
            "event_id": events,
            "reward_id": ["extra-lounge", "advisory-hour", "health-check"],
            "code": codes, "pass_code": codes,
            "redemption_id": redemptions,
            "version": versions, "a": versions, "b": versions,
            "partner_id": ["skyport", "city-hospital"],
            "benefit": ["airport_lounge", "medical_green_channel"],
            "id": events,
            "webhook_id": [hook.get_json()["id"]],
            "message_id": [item["message_id"] for item in admin_api.get(
                f"/admin/v1/webhooks/{hook.get_json()['id']}/deliveries").get_json()["items"]],
            "currency": ["USD", "HKD", "CNY"],
            "month": ["2026-11", "2026-12"],
            "adjustment_id": [adjustment.get_json()["id"]],
        }

    def key_for(self, path: str) -> str | None:
        return next((self.keys[role] for prefix, role in PREFIX_ROLES.items() if path.startswith(prefix)), None)

    def known(self, data, name: str):
        """Three times in four, a value that exists; else None (keep what was generated)."""
        if data.draw(st.sampled_from([True, True, True, False]), label=f"known {name}"):
            return data.draw(st.sampled_from(self.values[name]), label=name)
        return None

    def steer(self, case, data) -> None:
        """Name things that exist instead of what was generated, and now and then send a valid event."""
        for name in list(case.path_parameters or {}):
            if name in self.values and (value := self.known(data, name)) is not None:
                case.path_parameters[name] = value
        if case.operation.path == "/api/v1/events" and data.draw(st.booleans(), label="valid event"):
            case.body = data.draw(self.valid_event(), label="event")
        elif case.operation.path == "/api/v1/events/batch" and isinstance(case.body, dict) \
                and isinstance(case.body.get("events"), list) and data.draw(st.booleans(), label="valid events"):
            case.body["events"] = (case.body["events"][:3]
                                   + data.draw(st.lists(self.valid_event(), min_size=1, max_size=5), label="events"))
        elif case.operation.path == "/admin/v1/rule-versions" and data.draw(st.booleans(), label="valid rules"):
            case.body, case.media_type = parse_document(rules_yaml(grace=data.draw(st.integers(0, 400)))), \
                "application/json"
        elif case.operation.path.endswith("/simulate") and data.draw(st.booleans(), label="valid simulation"):
            case.body = data.draw(st.one_of(
                st.fixed_dictionaries({"customer_ids": st.lists(st.sampled_from(self.values["customer_id"]),
                                                                min_size=1, max_size=3)}),
                st.fixed_dictionaries({"sample": st.integers(1, 5)}),
                st.fixed_dictionaries({"customers": st.lists(st.fixed_dictionaries({
                    "name": st.just("李四"), "aum": st.integers(0, 10**8),
                    "tags": st.lists(st.sampled_from(["children_studying_abroad", "golf"]), max_size=2)}),
                    min_size=1, max_size=3)})), label="simulation")
        elif isinstance(case.body, dict):
            if isinstance(case.body.get("benefits"), list) and data.draw(st.booleans(), label="known benefits"):
                case.body["benefits"] = data.draw(st.lists(st.sampled_from(self.values["benefit"]), min_size=1,
                                                           max_size=2, unique=True), label="benefits")
            for name in ("customer_id", "pass_code", "benefit"):
                if name in case.body and (value := self.known(data, name)) is not None:
                    case.body[name] = value

    def valid_event(self):
        """An event the service should record (or answer as a replay or a conflict)."""
        ids = st.one_of(st.sampled_from(self.values["event_id"]), st.from_regex(r"\Afz-[a-z0-9]{1,12}\Z"))
        when = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31),
                            timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=8))]))
        common = {"id": ids, "customer_id": st.sampled_from(self.values["customer_id"]),
                  "occurred_at": when.map(lambda moment: moment.isoformat())}
        transaction = st.fixed_dictionaries(common | {
            "type": st.just("transaction"),
            "amount": st.decimals(min_value=0, max_value=10**9, places=2).map(str),
            "category": st.sampled_from(["wealth_product", "fund", "insurance", "card_spend", "deposit"]),
        }, optional={"currency": st.just("CNY"), "channel": st.sampled_from(["app", "branch"])})
        learning = st.fixed_dictionaries(common | {
            "type": st.just("learning"),
            "activity": st.sampled_from(["course_completed", "quiz_passed", "lecture_attended", "other"]),
        }, optional={"course_id": st.sampled_from(["c101", "c102"])})
        return st.one_of(transaction, learning)


@pytest.fixture
def world(app, app_api, admin_api, second_admin_api, partner_api, clock) -> World:
    return World(app, app_api, admin_api, second_admin_api, partner_api, clock)


@pytest.mark.parametrize("method, path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_answers_as_documented(app, world, method, path):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operation = schema[path][method]
    key = world.key_for(path)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    has_inputs = bool(operation.path_parameters or operation.query or operation.body)
    modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if has_inputs else [])
    cases = st.one_of(*(operation.as_strategy(generation_mode=mode, headers=headers) for mode in modes))
    seen: dict[int, int] = {}

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink])
    @given(case=cases, data=st.data())
    def answers_as_documented(case, data):
        world.steer(case, data)
        response = case.call(headers=headers)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    answers_as_documented()
    assert seen, "no request was sent"


def test_integer_path_values_beyond_every_id_are_not_found(app, world):
    """Ids past what an INTEGER or BIGINT column holds are unknown ids: 404, never a database error."""
    assert INTEGER_PATHS, "no operation takes an integer path parameter: this test would prove nothing"
    client = app.test_client()
    answers = {}
    for method, path in INTEGER_PATHS:
        names = [p["name"] for p in SPEC["paths"][path]["parameters"] if p["schema"].get("type") == "integer"]
        for value in (2**31, 2**63, 10**30):
            url = path
            for name in names:
                url = url.replace("{" + name + "}", str(value))
            response = client.open(url, method=method, json={} if method == "POST" else None,
                                   headers={"Authorization": f"Bearer {world.key_for(path)}"})
            answers[f"{method} {url}"] = response.status_code
    assert {url: status for url, status in answers.items() if status != 404} == {}
