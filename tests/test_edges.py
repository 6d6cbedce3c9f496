"""Input at the edges: what a careless or hostile client sends is a 4xx naming its path and writes nothing,
over HTTP and in an imported file alike; and the answers follow RFC 9110."""
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from conftest import Caller
from factories import WEALTH, activate_rules, customer, event, learning, pass_code, rules_yaml
from test_import import HEADER, rejected_jsonl, run_import

EVENT = {"id": "e1", "customer_id": "c1", "type": "transaction", "occurred_at": "2026-11-23T10:00:00+08:00",
         "amount": "100", "category": "card_spend"}
SURROGATE = "\ud800"


def counts(app) -> dict:
    with app.extensions["benefits"].engine.connect() as connection:
        return {table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("customers", "events", "ledger_entries", "lots", "audit_log", "rule_versions")}


def raw_post(api, path, text: str):
    """POST (PUT for a customer) JSON text as written: json= would refuse to encode a lone surrogate."""
    return api.open("PUT" if "/customers/" in path else "POST", path, data=text.encode("utf-8", "surrogatepass"),
                    content_type="application/json")


def paths(response) -> list[str]:
    assert response.status_code == 422, response.get_data(as_text=True)
    return [error["path"] for error in response.get_json()["errors"]]


@pytest.fixture
def known(app, app_api, clock):
    activate_rules(app, rules_yaml(), clock())
    customer(app_api, "c1", **WEALTH)
    return counts(app)


# --- strings that cannot be text -----------------------------------------------------------------

@pytest.mark.parametrize("text, where", [
    ('{"name": "张\\ud800", "aum": 1000}', "json.name"),
    ('{"name": "张三", "aum": 1000, "tags": ["ok", "\\udfff"]}', "json.tags[1]"),
    ('{"name": "张三", "aum": 1000, "\\ud800": 1}', "json"),
])
def test_a_lone_surrogate_in_a_body_is_422_naming_its_path(known, app, app_api, text, where):
    assert where in paths(raw_post(app_api, "/api/v1/customers/c2", text))
    assert counts(app) == known


def test_a_lone_surrogate_in_a_batch_event_refuses_that_event_only(known, app, app_api):
    bad = json.dumps({**EVENT, "id": "e2", "category": "x"}).replace('"x"', '"\\ud800"')
    response = raw_post(app_api, "/api/v1/events/batch", '{"events": [%s, %s]}' % (json.dumps(EVENT), bad))
    assert response.status_code == 200, response.get_json()
    first, second = response.get_json()["results"]
    assert first["status"] == "created"
    assert second["status"] == "error" and second["error"]["errors"][0]["path"] == "json.category"


def test_a_query_parameter_holding_nul_is_422_naming_it(known, admin_api):
    assert paths(admin_api.get("/admin/v1/audit", query_string={"subject": "a\x00b"})) == ["query.subject"]


def test_a_surrogate_sent_in_a_query_string_stays_percent_encoded_and_matches_nothing(known, admin_api):
    response = admin_api.get("/admin/v1/audit", query_string="subject=a%ED%A0%80")
    assert response.status_code == 200 and response.get_json()["items"] == []


def test_a_rule_document_naming_a_benefit_with_a_lone_surrogate_is_refused_and_not_stored(admin_api, known, app):
    document = json.dumps({"schema": "benefits/v1", "program": "p", "timezone": "Asia/Shanghai",
                           "currency": "CNY", "catalog": {"lounge": {"name": "x", "category": "travel"}},
                           "tiers": [{"id": "mass", "name": "Mass"}]}).replace('"name": "x"', '"name": "\\ud800"')
    response = admin_api.post("/admin/v1/rule-versions", data=document, content_type="application/json")
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["path"].endswith("catalog.lounge.name")
    assert counts(app) == known


# --- shapes too deep or too long ------------------------------------------------------------------

def test_json_nested_deeper_than_32_levels_is_422(known, app, app_api):
    deep = "[" * 40 + "]" * 40
    response = raw_post(app_api, "/api/v1/events", '{"id": "e9", "extra": %s}' % deep)
    assert response.status_code == 422
    assert "nested deeper than 32 levels" in response.get_json()["message"]
    assert counts(app) == known


def test_json_nested_four_hundred_levels_is_422_not_500(known, app_api):
    response = raw_post(app_api, "/api/v1/customers/c2", "[" * 400 + "]" * 400)
    assert response.status_code == 422


def test_a_number_written_with_5000_digits_is_422_naming_its_path(known, app, app_api):
    response = raw_post(app_api, "/api/v1/customers/c2", '{"name": "张三", "aum": %s}' % ("9" * 5000))
    assert paths(response) == ["json.aum"]
    assert counts(app) == known


def test_thirty_digits_are_still_a_number(known, app_api):
    response = raw_post(app_api, "/api/v1/customers/c2", '{"name": "张三", "aum": 0.%s}' % ("0" * 29))
    assert response.status_code == 201, response.get_json()


# --- dates and times ------------------------------------------------------------------------------

@pytest.mark.parametrize("occurred_at", ["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-08:00",
                                         "1899-12-31T23:59:59+00:00"])
def test_an_event_in_a_year_outside_1900_to_2100_is_422(known, app, app_api, occurred_at):
    assert paths(app_api.post("/api/v1/events", json={**EVENT, "occurred_at": occurred_at})) == ["json.occurred_at"]
    assert counts(app) == known


@pytest.mark.parametrize("field, value", [("as_of", "0001-01-01"), ("customer_since", "9999-12-31")])
def test_a_profile_date_outside_1900_to_2100_is_422(known, app_api, field, value):
    response = app_api.put("/api/v1/customers/c2", json={"name": "张三", "aum": 1, field: value})
    assert paths(response) == [f"json.{field}"]


def test_an_audit_filter_in_year_9999_is_422(known, admin_api):
    assert paths(admin_api.get("/admin/v1/audit?since=9999-12-31T23:59:59%2B14:00")) == ["query.since"]


def test_as_of_tomorrow_is_accepted_and_the_day_after_is_422(known, app_api):
    """The clock is at 2026-11-23 10:00 in Shanghai, the programme's timezone."""
    assert customer(app_api, "c2", as_of="2026-11-24")["as_of"] == "2026-11-24"
    response = app_api.put("/api/v1/customers/c3", json={"name": "张三", "aum": 1, "as_of": "2026-11-25"})
    assert paths(response) == ["json.as_of"]


def test_an_event_more_than_five_minutes_ahead_of_the_clock_is_422_occurred_in_future(known, app, app_api, clock):
    ahead = (clock() + timedelta(minutes=5, seconds=1)).isoformat()
    response = app_api.post("/api/v1/events", json={**EVENT, "occurred_at": ahead})
    assert response.status_code == 422
    assert response.get_json()["reason"] == "occurred_in_future"
    assert response.get_json()["errors"][0]["path"] == "json.occurred_at"
    assert counts(app) == known
    assert event(app_api, "c1", occurred_at=(clock() + timedelta(minutes=5)).isoformat())["points"] > 0


def test_future_dated_lectures_earn_nothing_beyond_the_cap_of_this_period(known, app, app_api):
    for n in range(10):
        response = app_api.post("/api/v1/events", json={"id": f"l{n}", "customer_id": "c1", "type": "learning",
                                                        "occurred_at": f"2030-01-{n + 1:02d}T10:00:00+08:00",
                                                        "activity": "course_completed"})
        assert response.get_json()["reason"] == "occurred_in_future"
    assert sum(learning(app_api, "c1")["points"] for _ in range(5)) == 100  # the day's cap
    assert app_api.get("/api/v1/customers/c1/points").get_json()["balance"] == 100


# --- numbers and bodies ---------------------------------------------------------------------------

@pytest.mark.parametrize("quantity", [1.5, "1.5", True])
def test_an_integer_field_given_a_fraction_is_422_not_rounded(known, app, app_api, partner_api, quantity):
    lounge = partner_api()
    code = pass_code(app_api, "c1")
    response = lounge.post("/partner/v1/redemptions", json={"pass_code": code, "benefit": "airport_lounge",
                                                            "quantity": quantity})
    assert paths(response) == ["json.quantity"]
    with app.extensions["benefits"].engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM redemptions")).scalar_one() == 0


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/events/batch", "/api/v1/customers/c2"])
def test_a_route_whose_body_is_required_refuses_a_missing_body(known, app, app_api, path):
    method = "PUT" if "customers" in path else "POST"
    response = app_api.open(method, path, content_type="application/json")
    assert response.status_code == 422
    assert counts(app) == known


def test_a_route_whose_body_is_optional_takes_none(known, app_api):
    assert app_api.post("/api/v1/customers/c1/passes").status_code == 201


def test_the_openapi_document_marks_only_optional_bodies_optional(client):
    spec = client.get("/openapi.json").get_json()["paths"]
    assert spec["/api/v1/customers/{customer_id}/passes"]["post"]["requestBody"]["required"] is False
    assert spec["/api/v1/events"]["post"]["requestBody"]["required"] is True


# --- RFC 9110 -------------------------------------------------------------------------------------

def test_405_names_the_methods_allowed(app_api):
    response = app_api.open("DELETE", "/api/v1/events")
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"POST"}


def test_401_carries_a_bearer_challenge(client):
    response = client.get("/api/v1/customers/c1")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_429_says_how_many_seconds_to_wait(known, app_api, partner_api, clock):
    lounge = partner_api()
    for _ in range(20):
        assert lounge.get("/partner/v1/passes/NOPE-NOPE").status_code == 404
        clock.advance(seconds=1)
    refused = lounge.get("/partner/v1/passes/NOPE-NOPE")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "40"  # the oldest failure leaves the 60 s window in 40 s
    clock.advance(seconds=40)
    assert lounge.get("/partner/v1/passes/NOPE-NOPE").status_code == 404


def test_a_hundred_guesses_at_once_get_twenty_404s_and_a_valid_code_is_429_after_them(known, app, app_api,
                                                                                     partner_api, client):
    lounge = partner_api()
    code = pass_code(app_api, "c1")

    def guess(n):
        return Caller(app.test_client(), lounge.key).get(f"/partner/v1/passes/WRONG-{n:05d}").status_code

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(guess, range(100)))
    assert (answers.count(404), answers.count(429)) == (20, 80)
    assert lounge.get(f"/partner/v1/passes/{code}").status_code == 429


# --- the same edges in an imported file ------------------------------------------------------------

def import_lines(app, tmp_path, lines: list[str], suffix=".jsonl"):
    path = tmp_path / f"events{suffix}"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))
    result = run_import(app, path)
    rejected = tmp_path / f"events{suffix}.rejected"
    return result, rejected


def test_an_imported_file_refuses_each_edge_case_on_its_line_and_records_the_rest(known, app, clock, tmp_path):
    good = json.dumps({**EVENT, "id": "i0"})
    lines = [
        good,
        json.dumps({**EVENT, "id": "i1", "category": "x"}).replace('"x"', '"\\ud800"'),  # 2: a lone surrogate
        json.dumps({**EVENT, "id": "i2", "category": "a\x00b"}),                            # 3: NUL
        json.dumps({**EVENT, "id": "i3"})[:-1] + ', "deep": ' + "[" * 40 + "]" * 40 + "}",  # 4: too deep
        json.dumps({**EVENT, "id": "i4"}).replace('"100"', "9" * 5000),                      # 5: 5,000 digits
        json.dumps({**EVENT, "id": "i5", "occurred_at": "0001-01-01T00:00:00+08:00"}),      # 6: year 1
        json.dumps({**EVENT, "id": "i6", "occurred_at": (clock() + timedelta(hours=1)).isoformat()}),  # 7: future
    ]
    result, rejected = import_lines(app, tmp_path, lines)
    assert result.exit_code == 1, result.output
    by_line = {row["line"]: row for row in rejected_jsonl(rejected)}
    assert sorted(by_line) == [2, 3, 4, 5, 6, 7]
    assert by_line[2]["errors"][0]["path"] == "category" and "surrogate" in by_line[2]["errors"][0]["message"]
    assert by_line[3]["errors"] == [{"path": "category", "message": "must not contain NUL characters"}]
    assert "nested deeper than 32 levels" in by_line[4]["message"]
    assert by_line[5]["errors"][0]["path"] == "amount"
    assert by_line[6]["errors"][0]["path"] == "occurred_at"
    assert by_line[7]["reason"] == "occurred_in_future" and by_line[7]["errors"][0]["path"] == "occurred_at"
    assert counts(app)["events"] == known["events"] + 1


def test_an_imported_csv_cell_holding_nul_is_rejected_naming_its_column(known, app, tmp_path):
    result, rejected = import_lines(app, tmp_path, [
        HEADER, "c-1,c1,transaction,2026-11-23T10:00:00+08:00,100,CNY,card\x00spend,,,"], suffix=".csv")
    assert result.exit_code == 1
    rows = rejected.read_text(encoding="utf-8").splitlines()
    assert "category: must not contain NUL characters" in rows[1]
