"""Customers: upsert, tier, downgrade grace, AUM growth, signals."""
import pytest

from factories import activate_rules, customer, rules_yaml


def test_first_upsert_creates_the_customer_with_its_tier(app_api):
    answer = customer(app_api, "c-new", aum=700000, expect=(201,))
    assert answer["tier"] == "wealth"
    assert answer["balance"] == 0


def test_second_upsert_updates_and_answers_200(app_api):
    customer(app_api, "c1", aum=100000)
    answer = customer(app_api, "c1", aum=7000000, expect=(200,))
    assert answer["tier"] == "private"


def test_get_shows_profile_tier_and_balance(app_api):
    customer(app_api, "c1", aum=700000, tags=["children_studying_abroad"], birthday="03-14")
    body = app_api.get("/api/v1/customers/c1").get_json()
    assert (body["tier"], body["balance"], body["tags"], body["birthday"]) == (
        "wealth", 0, ["children_studying_abroad"], "03-14")


def test_unknown_customer_is_404(app_api):
    response = app_api.get("/api/v1/customers/nobody")
    assert response.status_code == 404
    assert response.get_json()["reason"] == "not_found"


def test_annual_contribution_alone_qualifies_for_wealth(app_api):
    assert customer(app_api, aum=1000, annual_contribution=200000)["tier"] == "wealth"


def test_upgrade_applies_at_once(app, app_api, clock):
    activate_rules(app, rules_yaml(grace=90), clock())
    customer(app_api, "c1", aum=100000, as_of="2026-01-01")
    assert customer(app_api, "c1", aum=6000000, as_of="2026-01-02")["tier"] == "private"


def test_downgrade_waits_for_the_grace_days_counted_by_as_of(app, app_api, clock):
    activate_rules(app, rules_yaml(grace=90), clock())
    customer(app_api, "c1", aum=6000000, as_of="2026-01-01")
    assert customer(app_api, "c1", aum=100000, as_of="2026-01-10")["tier"] == "private"
    assert customer(app_api, "c1", aum=100000, as_of="2026-04-09")["tier"] == "private"  # 89 days below
    assert customer(app_api, "c1", aum=100000, as_of="2026-04-10")["tier"] == "mass"    # 90 days below


def test_recovering_during_grace_restarts_the_count(app, app_api, clock):
    activate_rules(app, rules_yaml(grace=90), clock())
    customer(app_api, "c1", aum=6000000, as_of="2026-01-01")
    customer(app_api, "c1", aum=100000, as_of="2026-01-10")
    customer(app_api, "c1", aum=6000000, as_of="2026-02-01")
    assert customer(app_api, "c1", aum=100000, as_of="2026-04-15")["tier"] == "private"


def test_zero_grace_downgrades_at_once(app, app_api, clock):
    activate_rules(app, rules_yaml(grace=0), clock())
    customer(app_api, "c1", aum=6000000, as_of="2026-01-01")
    assert customer(app_api, "c1", aum=100000, as_of="2026-01-02")["tier"] == "mass"


def test_tier_changes_are_audited(app, app_api, admin_api):
    customer(app_api, "c1", aum=100000)
    customer(app_api, "c1", aum=7000000)
    rows = admin_api.get("/admin/v1/audit?action=tier.changed&subject=c1").get_json()["items"]
    assert [(r["before"]["tier"], r["after"]["tier"]) for r in rows] == [("mass", "private"), (None, "mass")]


def test_growth_over_three_months_raises_the_cultivation_signal(app, app_api, clock):
    activate_rules(app, rules_yaml(), clock())
    customer(app_api, "c1", aum=100000, as_of="2026-05-31")
    assert customer(app_api, "c1", aum=130000, as_of="2026-08-30")["signals"] == []  # less than 3 months
    assert customer(app_api, "c1", aum=130000, as_of="2026-08-31")["signals"] == ["wealth-cultivation"]


def test_growth_compares_with_the_latest_snapshot_three_months_back_clipped_to_month_end(app, app_api, clock):
    activate_rules(app, rules_yaml(), clock())
    customer(app_api, "c1", aum=100000, as_of="2026-02-28")
    assert customer(app_api, "c1", aum=125000, as_of="2026-05-31")["signals"] == ["wealth-cultivation"]


def test_no_history_means_no_growth_signal(app, app_api, clock):
    activate_rules(app, rules_yaml(), clock())
    assert customer(app_api, "c1", aum=100000)["signals"] == []


@pytest.mark.parametrize("field, value", [
    ("aum", -1), ("aum", "10000000000000"), ("aum", "1.001"), ("aum", "abc"), ("birthday", "13-01"),
    ("birthday", "02-30"), ("tags", "vip"), ("as_of", "2026-13-01"), ("name", ""), ("colour", "red"),
])
def test_bad_profile_is_422_with_the_field_path_and_writes_nothing(app_api, field, value):
    body = {"name": "张三", "aum": 1000, field: value}
    response = app_api.put("/api/v1/customers/c1", json=body)
    assert response.status_code == 422
    assert any(e["path"] == f"json.{field}" for e in response.get_json()["errors"]), response.get_json()
    assert app_api.get("/api/v1/customers/c1").status_code == 404


def test_customer_id_with_bad_characters_is_422(app_api):
    response = app_api.put("/api/v1/customers/" + "x" * 65, json={"name": "a", "aum": 1})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["path"] == "path.customer_id"
