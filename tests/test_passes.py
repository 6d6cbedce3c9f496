"""Passes: a customer proves who they are to a partner without sharing a bank id."""
import math
import re

from benefits import create_app
from benefits.services.passes import ALPHABET
from factories import PRIVATE, WEALTH, customer, pass_code, redeem


def lookup(partner, code):
    return partner.get(f"/partner/v1/passes/{code}")


def test_a_pass_code_carries_at_least_40_bits_and_codes_differ(app_api):
    customer(app_api, "c1", **WEALTH)
    codes = {pass_code(app_api, "c1") for _ in range(50)}
    assert len(codes) == 50
    for code in codes:
        symbols = code.replace("-", "")
        assert set(symbols) <= set(ALPHABET)
        assert len(symbols) * math.log2(len(ALPHABET)) >= 40


def test_a_pass_expires_after_ten_minutes_by_default(app_api, partner_api, clock):
    customer(app_api, "c1", **WEALTH)
    response = app_api.post("/api/v1/customers/c1/passes", json={})
    assert response.status_code == 201
    lounge = partner_api()
    clock.advance(seconds=599)
    assert lookup(lounge, response.get_json()["code"]).status_code == 200
    clock.advance(seconds=1)
    assert lookup(lounge, response.get_json()["code"]).status_code == 404


def test_a_pass_for_an_unknown_customer_is_404(app_api):
    assert app_api.post("/api/v1/customers/nobody/passes", json={}).status_code == 404


def test_a_pass_for_a_benefit_outside_the_catalog_is_422(app_api):
    customer(app_api, "c1", **WEALTH)
    response = app_api.post("/api/v1/customers/c1/passes", json={"benefit": "spa"})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["path"] == "json.benefit"


def test_the_partner_sees_a_pseudonym_a_masked_name_the_tier_and_only_its_benefits(app_api, partner_api):
    customer(app_api, "c-9876", name="张三丰", **PRIVATE)
    lounge = partner_api("skyport", ["airport_lounge"])
    response = lookup(lounge, pass_code(app_api, "c-9876"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["display_name"] == "张**"
    assert body["tier"] == "private"
    assert [item["benefit"] for item in body["entitlements"]] == ["airport_lounge"]
    assert body["entitlements"][0]["quota"] == 12
    text = response.get_data(as_text=True)
    assert "c-9876" not in text and "8000000" not in text and "张三丰" not in text


def test_customer_ref_is_stable_for_one_partner_and_differs_between_partners(app_api, partner_api):
    customer(app_api, "c1", **PRIVATE)
    lounge, hospital = partner_api("skyport"), partner_api("huaxia", ["medical_green_channel"], "hospital")
    first = lookup(lounge, pass_code(app_api, "c1")).get_json()["customer_ref"]
    again = lookup(lounge, pass_code(app_api, "c1")).get_json()["customer_ref"]
    other = lookup(hospital, pass_code(app_api, "c1")).get_json()["customer_ref"]
    assert first == again
    assert first != other
    assert "c1" not in first.removeprefix("cr_")


def test_customer_ref_depends_on_the_server_secret(database_url, clock):
    from benefits.services.partners import customer_ref

    assert customer_ref("secret-a", "skyport", "c1") != customer_ref("secret-b", "skyport", "c1")
    assert re.fullmatch(r"cr_[a-z2-7]{24}", customer_ref("secret-a", "skyport", "c1"))


def test_a_pass_for_one_benefit_shows_and_redeems_only_that_benefit(app_api, partner_api):
    customer(app_api, "c1", **PRIVATE)
    hospital = partner_api("huaxia", ["medical_green_channel", "annual_health_check"], "hospital")
    code = pass_code(app_api, "c1", benefit="annual_health_check")
    assert [i["benefit"] for i in lookup(hospital, code).get_json()["entitlements"]] == ["annual_health_check"]
    refused = redeem(hospital, code, "medical_green_channel", expect=(403,))
    assert refused["reason"] == "forbidden"


def test_a_pass_can_be_used_by_several_partners_until_it_expires(app_api, partner_api):
    customer(app_api, "c1", **PRIVATE)
    code = pass_code(app_api, "c1")
    assert lookup(partner_api("skyport"), code).status_code == 200
    assert lookup(partner_api("huaxia", ["medical_green_channel"], "hospital"), code).status_code == 200


def test_an_unknown_code_of_any_form_is_404(partner_api):
    lounge = partner_api()
    for code in ("ZZZZZ-ZZZZZ", "x", "%20", "0" * 60):
        assert lookup(lounge, code).status_code == 404


def test_more_than_20_failed_lookups_a_minute_are_refused_with_429(app_api, partner_api, clock):
    customer(app_api, "c1", **WEALTH)
    lounge, other = partner_api("skyport"), partner_api("westlake", ["hotel_night"], "hotel")
    code = pass_code(app_api, "c1", ttl_seconds=3600)
    for attempt in range(20):
        assert lookup(lounge, f"WRONG-{attempt:05d}").status_code == 404
    refused = lookup(lounge, code)
    assert refused.status_code == 429
    assert refused.get_json()["reason"] == "rate_limited"
    assert lookup(other, code).status_code == 200
    clock.advance(seconds=61)
    assert lookup(lounge, code).status_code == 200


def test_failed_lookups_through_redemptions_count_too(app_api, partner_api):
    customer(app_api, "c1", **WEALTH)
    lounge = partner_api()
    for attempt in range(20):
        redeem(lounge, f"NOPE{attempt}", expect=(404,))
    assert redeem(lounge, pass_code(app_api, "c1"), expect=(429,))["reason"] == "rate_limited"


def test_failed_lookups_are_shared_by_two_app_instances_on_one_database(app, app_api, partner_api, database_url,
                                                                       clock):
    customer(app_api, "c1", **WEALTH)
    lounge = partner_api()
    second = create_app(DATABASE_URL=database_url, RULES_REFRESH_SECONDS=0, CLOCK=clock, TESTING=True)
    other_process = type(lounge)(second.test_client(), lounge.key)
    for attempt in range(10):
        assert lookup(lounge, f"A{attempt}").status_code == 404
        assert lookup(other_process, f"B{attempt}").status_code == 404
    assert lookup(lounge, pass_code(app_api, "c1")).status_code == 429
    second.extensions["benefits"].engine.dispose()
