"""Reads that do not lock: a customer, its entitlements and a pass look-up take no row lock and no write
transaction, unless the customer must be re-evaluated under a newly active version."""
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from factories import PRIVATE, activate_rules, customer, pass_code, rules_yaml


@contextmanager
def statements(app):
    """Every SQL statement the app sends while the block runs."""
    sent = []
    engine = app.extensions["benefits"].engine

    def record(_connection, _cursor, statement, *_):
        sent.append(" ".join(statement.split()).upper())

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def writes(sent: list[str]) -> list[str]:
    return [s for s in sent if "FOR UPDATE" in s or s.startswith(("INSERT", "UPDATE", "DELETE", "BEGIN IMMEDIATE"))]


@pytest.fixture
def reader(app, app_api, partner_api, clock):
    activate_rules(app, rules_yaml(), clock())
    customer(app_api, "c1", **PRIVATE)
    return partner_api("desk", ["airport_lounge"]), pass_code(app_api, "c1")


@pytest.mark.parametrize("read", ["customer", "entitlements", "pass"])
def test_a_read_takes_no_lock_and_writes_nothing(app, app_api, reader, read):
    partner, code = reader
    app_api.get("/api/v1/customers/c1"), partner.get(f"/partner/v1/passes/{code}")  # each key's first use is written
    with statements(app) as sent:
        response = {"customer": lambda: app_api.get("/api/v1/customers/c1"),
                    "entitlements": lambda: app_api.get("/api/v1/customers/c1/entitlements"),
                    "pass": lambda: partner.get(f"/partner/v1/passes/{code}")}[read]()
    assert response.status_code == 200, response.get_json()
    assert sent and writes(sent) == []


def test_the_pass_look_up_reads_the_key_s_failures_the_pass_and_its_customer_in_one_query(app, reader):
    partner, code = reader
    partner.get(f"/partner/v1/passes/{code}")  # the key is cached from here on
    with statements(app) as sent:
        assert partner.get(f"/partner/v1/passes/{code}").status_code == 200
    reads = [s for s in sent if s.startswith("SELECT")]
    assert any("FAILED_ATTEMPTS" in s and "PASSES" in s and "CUSTOMERS" in s for s in reads)
    assert not any(s.startswith("SELECT") and "FROM CUSTOMERS" in s and "PASSES" not in s for s in reads)


@pytest.mark.parametrize("read", ["customer", "entitlements", "pass"])
def test_a_read_after_an_activation_re_evaluates_the_customer_under_a_lock(app, app_api, reader, clock, read):
    partner, code = reader
    activate_rules(app, rules_yaml(grace=0).replace("gte: 6000000", "gte: 9000000"), clock())  # c1 is wealth now
    with statements(app) as sent:
        response = {"customer": lambda: app_api.get("/api/v1/customers/c1"),
                    "entitlements": lambda: app_api.get("/api/v1/customers/c1/entitlements"),
                    "pass": lambda: partner.get(f"/partner/v1/passes/{code}")}[read]()
    assert response.status_code == 200
    assert writes(sent)
    assert app_api.get("/api/v1/customers/c1").get_json()["tier"] == "wealth"


def test_an_unknown_pass_is_counted_as_a_failure_in_a_write(app, reader):
    partner, _ = reader
    with statements(app) as sent:
        assert partner.get("/partner/v1/passes/AAAAA-AAAAA").status_code == 404
    assert any(s.startswith("INSERT INTO FAILED_ATTEMPTS") for s in sent)
