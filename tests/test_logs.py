"""Structured logs: a JSON line a request, with its request id and route template; no key, no pass code."""
import json
import logging

from benefits.logs import JsonFormatter
from factories import WEALTH, customer, pass_code


def request_lines(caplog) -> list[dict]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(record)) for record in caplog.records if record.name == "benefits.requests"]


def test_a_request_is_logged_as_json_by_its_route_template_and_request_id(app_api, partner_api, caplog):
    caplog.set_level(logging.INFO)
    customer(app_api, "c1", **WEALTH)
    code = pass_code(app_api, "c1")
    lounge = partner_api()
    response = lounge.get(f"/partner/v1/passes/{code}", headers={"X-Request-ID": "desk-42"})
    assert response.headers["X-Request-ID"] == "desk-42"
    line = next(line for line in request_lines(caplog) if line["request_id"] == "desk-42")
    assert line["route"] == "/partner/v1/passes/<code>" and line["status"] == 200 and line["method"] == "GET"
    assert line["duration_ms"] >= 0 and line["key"].endswith(":skyport-key")
    assert code not in caplog.text and code.replace("-", "") not in caplog.text
    assert lounge.key not in caplog.text


def test_a_request_without_an_id_gets_one_and_its_audit_rows_carry_it(app_api, admin_api, caplog):
    caplog.set_level(logging.INFO)
    response = app_api.put("/api/v1/customers/c1", json={"name": "张三", "aum": 1000})
    request_id = response.headers["X-Request-ID"]
    assert len(request_id) == 32
    rows = admin_api.get("/admin/v1/audit?subject=c1").get_json()["items"]
    assert rows and all(row["request_id"] == request_id for row in rows)


def test_a_request_id_that_is_no_plain_token_is_replaced(app_api):
    response = app_api.get("/api/v1/customers/none", headers={"X-Request-ID": "a b\tc" + "x" * 70})
    assert response.headers["X-Request-ID"] != "a b\tc" + "x" * 70 and len(response.headers["X-Request-ID"]) == 32


def test_a_path_without_a_route_is_logged_without_the_path(app_api, caplog):
    caplog.set_level(logging.INFO)
    app_api.get("/api/v1/passes/SECRET-CODE9/whatever")
    assert "SECRET-CODE9" not in caplog.text
    assert any(line["route"] == "(no route)" for line in request_lines(caplog))
