"""Simulation: customers under the active version and under a proposed one, side by side, with a summary."""
import sqlite3
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from benefits.errors import Invalid
from benefits.rules.engine import Released
from benefits.services import simulation
from benefits.services.programs import Programs
from conftest import DEFAULT_RULES, sessions
from factories import customer

DEFAULT = DEFAULT_RULES.read_text()
WEALTH_AT_1M = DEFAULT.replace("- {aum: {gte: 500000}}", "- {aum: {gte: 1000000}}")
CULTIVATE_AT_10 = DEFAULT.replace("{aum_growth_3m: {gt: 0.2}}", "{aum_growth_3m: {gt: 0.1}}")
LOYALTY_LOUNGE = DEFAULT.replace("benefits:\n", """benefits:
  - id: loyalty-lounge
    benefit: airport_lounge
    when: {tenure_days: {gte: 365}}
    quota: {count: 1, per: year}
""", 1)
ULTRA = DEFAULT.replace("tiers:", "tiers:\n  - {id: ultra, name: Ultra, when: {aum: {gte: 50000000}}}", 1)


def profile(**fields) -> dict:
    return {"name": "张三", "aum": 100000} | fields


def draft(api, text: str) -> int:
    response = api.post("/admin/v1/rule-versions", data=text.encode(), headers={"Content-Type": "application/yaml"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["version"]


def simulate(api, version: int, body: dict, expect: int = 200) -> dict:
    response = api.post(f"/admin/v1/rule-versions/{version}/simulate", json=body)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def benefits(outcome: dict) -> set[str]:
    return {grant["benefit"] for grant in outcome["benefits"]}


# --- what a simulation answers -----------------------------------------------------------------

def test_supplied_profiles_are_compared_under_the_active_and_the_proposed_version(admin_api):
    version = draft(admin_api, WEALTH_AT_1M)
    answer = simulate(admin_api, version, {"customers": [
        profile(customer_id="p1", aum=800000, tags=["children_studying_abroad"]),
        profile(customer_id="p2", aum=8000000),
        profile(aum=100000)]})
    assert (answer["current_version"], answer["proposed_version"], answer["next_cursor"]) == (1, version, None)
    first, second, third = answer["items"]
    assert (first["customer_id"], first["current"]["tier"], first["proposed"]["tier"]) == ("p1", "wealth", "mass")
    assert {"benefit": "airport_lounge", "rule": "lounge-wealth", "quota": 4, "per": "year"} in \
        first["current"]["benefits"]
    assert first["proposed"]["benefits"] == []
    assert second["current"] == second["proposed"]
    assert {"benefit": "medical_green_channel", "rule": "green-channel-private", "quota": None, "per": None} in \
        second["current"]["benefits"]
    assert third["customer_id"] is None and third["current"]["tier"] == "mass"
    assert answer["summary"] == {
        "customers": 3, "tier_up": 0, "tier_down": 1,
        "benefit_gained": {},
        "benefit_lost": {"airport_lounge": 1, "annual_health_check": 1, "medical_green_channel": 1,
                         "study_abroad_consulting": 1, "tuition_remittance": 1},
        "signal_raised": {}, "signal_cleared": {}}


def test_a_summary_counts_customers_not_rules(admin_api):
    answer = simulate(admin_api, draft(admin_api, WEALTH_AT_1M), {"customers": [
        profile(aum=700000), profile(aum=900000), profile(aum=2000000)]})
    assert answer["summary"]["tier_down"] == 2
    assert answer["summary"]["benefit_lost"]["airport_lounge"] == 2


def test_signals_newly_raised_and_cleared_are_counted(admin_api):
    answer = simulate(admin_api, draft(admin_api, CULTIVATE_AT_10), {"customers": [
        profile(aum_growth_3m=0.15), profile(aum_growth_3m=0.25), profile(), profile(aum=900000, aum_growth_3m=0.5)]})
    assert [item["proposed"]["signals"] for item in answer["items"]] == [
        ["wealth-cultivation"], ["wealth-cultivation"], [], []]
    assert answer["items"][1]["current"]["signals"] == ["wealth-cultivation"]
    assert (answer["summary"]["signal_raised"], answer["summary"]["signal_cleared"]) == (
        {"wealth-cultivation": 1}, {})
    back = simulate(admin_api, 1, {"customers": [profile(aum_growth_3m=0.15)]})
    assert back["summary"]["signal_raised"] == {}  # the active version against itself: nothing moves


def test_tenure_comes_from_tenure_days_or_customer_since_and_is_absent_otherwise(admin_api):
    answer = simulate(admin_api, draft(admin_api, LOYALTY_LOUNGE), {"customers": [
        profile(customer_since="2020-01-01", as_of="2026-11-23"),
        profile(tenure_days=400),
        profile(customer_since="2026-06-01", as_of="2026-11-23"),
        profile()]})
    assert ["airport_lounge" in benefits(item["proposed"]) for item in answer["items"]] == [
        True, True, False, False]
    assert answer["summary"]["benefit_gained"] == {"airport_lounge": 2}


def test_the_birthday_month_is_read_as_of_the_profiles_date(admin_api):
    answer = simulate(admin_api, 1, {"customers": [
        profile(aum=900000, birthday="03-14", as_of="2027-03-01"),
        profile(aum=900000, birthday="03-14", as_of="2027-04-01")]})
    assert ["birthday_gift" in benefits(item["current"]) for item in answer["items"]] == [True, False]


def test_dates_are_read_in_each_versions_timezone(admin_api, app_api, clock):
    customer(app_api, "c1", aum=900000, birthday="12-05")
    clock.set(datetime(2026, 11, 30, 20, 0, tzinfo=timezone.utc))  # December 1st in Shanghai, not in New York
    version = draft(admin_api, DEFAULT.replace("timezone: Asia/Shanghai", "timezone: America/New_York"))
    item = simulate(admin_api, version, {"customer_ids": ["c1"]})["items"][0]
    assert "birthday_gift" in benefits(item["current"]) and "birthday_gift" not in benefits(item["proposed"])


def test_a_new_top_tier_counts_as_a_move_up(admin_api):
    answer = simulate(admin_api, draft(admin_api, ULTRA), {"customers": [
        profile(aum=60000000), profile(aum=8000000)]})
    assert [item["proposed"]["tier"] for item in answer["items"]] == ["ultra", "private"]
    assert (answer["summary"]["tier_up"], answer["summary"]["tier_down"]) == (1, 0)
    assert answer["summary"]["benefit_lost"]["medical_green_channel"] == 1  # ultra has no benefits yet


def test_stored_customers_are_simulated_by_id_in_the_order_named(admin_api, app_api):
    customer(app_api, "c1", aum=800000)
    customer(app_api, "c2", aum=8000000)
    customer(app_api, "c3", aum=100000)
    answer = simulate(admin_api, draft(admin_api, WEALTH_AT_1M), {"customer_ids": ["c3", "c1", "c3"]})
    assert [item["customer_id"] for item in answer["items"]] == ["c3", "c1"]
    assert [(item["current"]["tier"], item["proposed"]["tier"]) for item in answer["items"]] == [
        ("mass", "mass"), ("wealth", "mass")]
    assert answer["summary"]["customers"] == 2 and answer["summary"]["tier_down"] == 1


def test_an_unknown_customer_id_is_404_naming_it(admin_api, app_api):
    customer(app_api, "c1")
    response = admin_api.post("/admin/v1/rule-versions/1/simulate", json={"customer_ids": ["c1", "ghost"]})
    assert response.status_code == 404
    assert response.get_json()["reason"] == "not_found"
    assert "ghost" in response.get_json()["message"]


def test_stored_customers_are_evaluated_for_their_qualified_tier_without_grace(admin_api, app_api):
    customer(app_api, "c1", aum=8000000, as_of="2026-11-01")
    assert customer(app_api, "c1", aum=800000, as_of="2026-11-20")["tier"] == "private"  # in grace
    item = simulate(admin_api, 1, {"customer_ids": ["c1"]})["items"][0]
    assert item["current"]["tier"] == item["proposed"]["tier"] == "wealth"


def test_a_sample_is_that_many_distinct_stored_customers(admin_api, app_api):
    for n in range(5):
        customer(app_api, f"c{n}")
    ids = [item["customer_id"] for item in simulate(admin_api, 1, {"sample": 3})["items"]]
    assert len(ids) == len(set(ids)) == 3 and set(ids) <= {f"c{n}" for n in range(5)}
    everyone = simulate(admin_api, 1, {"sample": 10})["items"]
    assert sorted(item["customer_id"] for item in everyone) == [f"c{n}" for n in range(5)]


def test_all_stored_customers_are_simulated_page_by_page(admin_api, app_api):
    for n in range(5):
        customer(app_api, f"c{n}", aum=800000 if n % 2 else 100000)
    version = draft(admin_api, WEALTH_AT_1M)
    seen, cursor, down = [], None, 0
    while True:
        answer = simulate(admin_api, version, {"all": True, "limit": 2} | ({"cursor": cursor} if cursor else {}))
        assert len(answer["items"]) <= 2
        seen += [item["customer_id"] for item in answer["items"]]
        down += answer["summary"]["tier_down"]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"c{n}" for n in range(5)]
    assert down == 2


def test_any_version_can_be_simulated_and_keeps_its_status(admin_api, second_admin_api):
    version = draft(admin_api, WEALTH_AT_1M)
    simulate(admin_api, version, {"customers": [profile()]})
    assert admin_api.get(f"/admin/v1/rule-versions/{version}").get_json()["status"] == "draft"
    second_admin_api.post(f"/admin/v1/rule-versions/{version}/approve", json={})
    admin_api.post(f"/admin/v1/rule-versions/{version}/activate", json={})
    answer = simulate(admin_api, 1, {"customers": [profile(aum=800000)]})  # the retired one, against the new
    assert (answer["current_version"], answer["proposed_version"]) == (version, 1)
    assert answer["summary"]["tier_up"] == 1


def test_a_call_of_1000_customers_is_answered(admin_api):
    answer = simulate(admin_api, draft(admin_api, WEALTH_AT_1M),
                      {"customers": [profile(aum=500000 + n * 1000) for n in range(1000)]})
    assert len(answer["items"]) == 1000
    assert answer["summary"]["tier_down"] == 500


# --- refusals ------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, path", [
    ({}, "json"),
    ({"sample": 2, "customer_ids": ["c1"]}, "json"),
    ({"all": False}, "json"),
    ({"customers": [profile() for _ in range(1001)]}, "json.customers"),
    ({"customer_ids": [f"c{n}" for n in range(1001)]}, "json.customer_ids"),
    ({"customers": []}, "json.customers"),
    ({"sample": 0}, "json.sample"),
    ({"sample": 1001}, "json.sample"),
    ({"all": True, "limit": 1001}, "json.limit"),
    ({"sample": 3, "cursor": "c1"}, "json.cursor"),
    ({"customer_ids": ["no spaces allowed"]}, "json.customer_ids[0]"),
    ({"customers": [{"aum": 5}]}, "json.customers[0].name"),
    ({"customers": [profile(aum=-1)]}, "json.customers[0].aum"),
    ({"customers": [profile(birthday="13-40")]}, "json.customers[0].birthday"),
    ({"customers": [profile(as_of="yesterday")]}, "json.customers[0].as_of"),
    ({"customers": [profile(tenure_days=-3)]}, "json.customers[0].tenure_days"),
    ({"customers": [profile(aum_growth_3m="fast")]}, "json.customers[0].aum_growth_3m"),
    ({"customers": [profile(colour="blue")]}, "json.customers[0].colour"),
    ({"customers": "everyone"}, "json.customers"),
    ({"sample": 2, "extra": 1}, "json.extra"),
])
def test_a_bad_request_is_422_with_the_path_of_the_problem(admin_api, body, path):
    response = admin_api.post("/admin/v1/rule-versions/1/simulate", json=body)
    assert response.status_code == 422, response.get_json()
    assert path in {error["path"] for error in response.get_json()["errors"]}, response.get_json()


def test_a_body_that_is_not_json_is_a_4xx(admin_api):
    response = admin_api.post("/admin/v1/rule-versions/1/simulate", data="{customers",
                              headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500


def test_an_unknown_version_is_404(admin_api):
    response = admin_api.post("/admin/v1/rule-versions/77/simulate", json={"customers": [profile()]})
    assert response.status_code == 404
    assert response.get_json()["reason"] == "not_found"


def test_the_service_refuses_more_than_1000_customers_too(app, session):
    programs = app.extensions["benefits"].programs
    with pytest.raises(Invalid):
        simulation.simulate(session, programs, 1, active_version=1, now=None, every=True, limit=1001)
    with pytest.raises(Invalid):
        simulation.simulate(session, programs, 1, active_version=1, now=None, sample=5, customer_ids=["c1"])


# --- a simulation reads and writes nothing -----------------------------------------------------

def counts(app) -> dict:
    with sessions(app)() as session:
        return {table: session.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
                for table in ("audit_log", "customers", "aum_snapshots", "tier_changes", "rule_versions",
                              "idempotency_records")} | {
            "statuses": session.execute(sa.text("SELECT id, status FROM rule_versions ORDER BY id")).all()}


def test_a_simulation_writes_nothing(app, admin_api, app_api):
    customer(app_api, "c1", aum=800000)
    version = draft(admin_api, WEALTH_AT_1M)
    before = counts(app)
    for body in ({"customer_ids": ["c1"]}, {"sample": 5}, {"all": True}, {"customers": [profile()]}):
        response = admin_api.post(f"/admin/v1/rule-versions/{version}/simulate", json=body,
                                  headers={"Idempotency-Key": "sim-1"})
        assert response.status_code == 200
    assert counts(app) == before
    assert app_api.get("/api/v1/customers/c1").get_json()["tier"] == "wealth"


def test_writers_are_not_held_off_while_a_simulation_evaluates(app, admin_api, app_api, database_url,
                                                               monkeypatch):
    customer(app_api, "c1", aum=800000)
    evaluate, probes = simulation.outcome, []

    def probing(program, fields):
        probes.append(write_lock_is_free(app, database_url))
        return evaluate(program, fields)

    monkeypatch.setattr(simulation, "outcome", probing)
    simulate(admin_api, draft(admin_api, WEALTH_AT_1M), {"customer_ids": ["c1"]})
    assert probes and all(probes)


def write_lock_is_free(app, database_url: str) -> bool:
    """Whether another connection could start writing at once."""
    if database_url.startswith("sqlite"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            connection.close()
    with app.extensions["benefits"].engine.connect() as connection:
        connection.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
        try:
            connection.execute(sa.text("UPDATE customers SET name = name WHERE id = 'c1'"))
            connection.execute(sa.text("UPDATE rule_versions SET status = status"))
            return True
        except sa.exc.OperationalError:
            return False
        finally:
            connection.rollback()


# --- compiled programs: reused, and released --------------------------------------------------

def test_the_proposed_version_is_compiled_once_per_process_and_released_when_it_falls_out(app, admin_api):
    programs = app.extensions["benefits"].programs
    first = draft(admin_api, WEALTH_AT_1M)
    simulate(admin_api, first, {"customers": [profile()]})
    with sessions(app)() as session:
        with programs.lease(session, first) as compiled:
            pass
        simulate(admin_api, first, {"customers": [profile()]})
        with programs.lease(session, first) as again:
            assert again is compiled
        for text in (CULTIVATE_AT_10, LOYALTY_LOUNGE, ULTRA, DEFAULT):
            simulate(admin_api, draft(admin_api, text), {"customers": [profile()]})
        with pytest.raises(Released):
            compiled.evaluate({"aum": 1})
        with programs.lease(session, first) as again:
            assert again is not compiled  # compiled again when asked again


def test_a_leased_program_outlives_its_eviction_until_the_lease_ends(app, admin_api):
    version = draft(admin_api, WEALTH_AT_1M)
    programs = Programs(refresh_seconds=0, keep=1)
    with sessions(app)() as session:
        with programs.lease(session, version) as program:
            with programs.lease(session, 1):  # evicts the other from the cache of one
                pass
            assert program.evaluate({"aum": 800000}).tier == "mass"
        with pytest.raises(Released):
            program.evaluate({"aum": 800000})
        with programs.lease(session, 1) as no_longer_leased:
            pass
        with programs.lease(session, version):
            pass
        with pytest.raises(Released):
            no_longer_leased.evaluate({"aum": 800000})
