"""GET /api/v1/customers/{id} says how far the next tier up is, from the active rule document."""
from datetime import date, timedelta

from factories import activate_rules, customer

ANY_OF_TWO = """\
schema: benefits/v1
program: progress
timezone: Asia/Shanghai
currency: CNY
catalog: {lounge: {name: Lounge}}
tiers:
  - id: private
    name: Private banking
    when: {any: [{aum: {gte: 3000000}}, {annual_contribution: {gt: 300000}}]}
  - id: wealth
    name: Wealth
    when: {aum: {gte: 500000}, tenure_days: {gte: 365}}
  - id: club
    name: Club
    when: {tags: {contains: club}}
  - {id: mass, name: Mass}
"""


def next_tier(app_api, customer_id: str):
    response = app_api.get(f"/api/v1/customers/{customer_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["next_tier"]


def test_a_mass_customer_sees_what_either_bar_of_the_wealth_tier_still_needs(app_api):
    customer(app_api, "c1", aum=200000, annual_contribution=50000)
    assert next_tier(app_api, "c1") == {"tier": "wealth", "mode": "any", "missing": [
        {"field": "aum", "threshold": "500000.00", "current": "200000.00", "missing": "300000.00"},
        {"field": "annual_contribution", "threshold": "200000.00", "current": "50000.00", "missing": "150000.00"}]}


def test_at_each_threshold_of_the_default_programme_the_next_tier_moves_up(app_api):
    customer(app_api, "below", aum=499999.99)
    customer(app_api, "at", aum=500000)
    customer(app_api, "top", aum=6000000)
    assert next_tier(app_api, "below")["missing"][0] == {"field": "aum", "threshold": "500000.00",
                                                        "current": "499999.99", "missing": "0.01"}
    assert next_tier(app_api, "at") == {"tier": "private", "mode": "all", "missing": [
        {"field": "aum", "threshold": "6000000.00", "current": "500000.00", "missing": "5500000.00"}]}
    assert next_tier(app_api, "top") is None  # the top tier has no next tier


def test_an_any_of_two_thresholds_with_a_strict_bar(app, app_api, clock):
    activate_rules(app, ANY_OF_TWO, clock())
    customer(app_api, "c1", aum=800000, annual_contribution=250000, customer_since="2020-01-01")
    assert next_tier(app_api, "c1") == {"tier": "private", "mode": "any", "missing": [
        {"field": "aum", "threshold": "3000000.00", "current": "800000.00", "missing": "2200000.00"},
        {"field": "annual_contribution", "threshold": "300000.00", "current": "250000.00",
         "missing": "50000.01"}]}  # more than 300,000: one cent more than the difference


def test_several_fields_in_one_mapping_are_all_needed_and_a_bar_passed_misses_nothing(app, app_api, clock):
    activate_rules(app, ANY_OF_TWO, clock())
    since = date(2026, 11, 23) - timedelta(days=100)
    customer(app_api, "c1", aum=600000, customer_since=since.isoformat(), tags=["club"])
    assert next_tier(app_api, "c1") == {"tier": "wealth", "mode": "all", "missing": [
        {"field": "aum", "threshold": "500000.00", "current": "600000.00", "missing": "0.00"},
        {"field": "tenure_days", "threshold": "365", "current": "100", "missing": "265"}]}


def test_a_next_tier_whose_condition_is_no_threshold_is_null(app, app_api, clock):
    activate_rules(app, ANY_OF_TWO, clock())
    customer(app_api, "c1", aum=100)
    assert next_tier(app_api, "c1") is None  # mass; club asks for a tag, not an amount
