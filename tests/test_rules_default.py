"""rules/default.yaml: the bank's programme as the rule engine evaluates it."""
from pathlib import Path

import pytest

from benefits.rules import compile_program, load_document, validate_document

DEFAULT = Path(__file__).resolve().parent.parent / "rules" / "default.yaml"


@pytest.fixture(scope="module")
def programme():
    program = compile_program(load_document(DEFAULT.read_bytes()), "default")
    yield program
    program.release()


def test_the_default_programme_is_valid():
    assert validate_document(load_document(DEFAULT.read_bytes())) == []


@pytest.mark.parametrize("profile, tier", [
    ({"aum": 499_999.99, "annual_contribution": 199_999.99}, "mass"),
    ({"aum": 500_000, "annual_contribution": 0}, "wealth"),
    ({"aum": 0, "annual_contribution": 200_000}, "wealth"),
    ({"aum": 5_999_999.99}, "wealth"),
    ({"aum": 6_000_000}, "private"),
    ({}, "mass"),
])
def test_tier_thresholds_of_the_programme(programme, profile, tier):
    assert programme.tier(profile) == tier


@pytest.mark.parametrize("category, amount, tier, rule, points", [
    ("wealth_product", 100_000, "private", "wealth-products", 2000),
    ("wealth_product", 100_000, "wealth", "wealth-products", 1500),
    ("fund", 100_000, "mass", "funds", 500),
    ("insurance", 10_000, "wealth", "insurance", 150),
    ("card_spend", 1_000, "private", "card-spend", 75),
])
def test_each_transaction_category_earns(programme, category, amount, tier, rule, points):
    awards = programme.earn({"tier": tier}, {"type": "transaction", "category": category, "amount": amount})
    assert [(a.rule, a.points) for a in awards] == [(rule, points)]


@pytest.mark.parametrize("activity, rule", [
    ("course_completed", "course-completed"), ("quiz_passed", "quiz-passed"), ("lecture_attended", "lecture-attended")])
def test_each_learning_activity_earns_with_a_cap(programme, activity, rule):
    awards = programme.earn({"tier": "mass"}, {"type": "learning", "activity": activity})
    assert [a.rule for a in awards] == [rule]
    assert awards[0].points > 0 and awards[0].cap_points is not None


def test_every_benefit_of_the_catalog_is_granted_to_some_customer(programme):
    customers = [{"aum": aum, "tags": ["children_studying_abroad"], "is_birthday_month": True}
                 for aum in (0, 600_000, 7_000_000)]
    granted = {grant.benefit for profile in customers for grant in programme.evaluate(profile).grants}
    assert granted == set(programme.catalog)


def test_a_mass_customer_has_no_partner_benefits(programme):
    assert programme.evaluate({"aum": 10_000, "tags": ["children_studying_abroad"]}).grants == []


def test_tuition_remittance_needs_a_child_studying_abroad(programme):
    def benefits(tags):
        return {grant.benefit for grant in programme.evaluate({"aum": 900_000, "tags": tags}).grants}
    assert "tuition_remittance" in benefits(["children_studying_abroad"])
    assert "tuition_remittance" not in benefits([])


def test_the_cultivation_signal_flags_a_growing_mass_customer(programme):
    assert programme.evaluate({"aum": 300_000, "aum_growth_3m": 0.25}).signals == ["wealth-cultivation"]
    assert programme.evaluate({"aum": 300_000, "aum_growth_3m": 0.1}).signals == []
    assert programme.evaluate({"aum": 300_000}).signals == []  # no history: no growth, no signal
    assert programme.evaluate({"aum": 900_000, "aum_growth_3m": 0.5}).signals == []  # already wealth


def test_every_rule_says_why_its_numbers_are_what_they_are():
    lines = DEFAULT.read_text(encoding="utf-8").splitlines()
    numbered = [n for n, line in enumerate(lines) if any(key in line for key in ("cap:", "quota: {count", "cost:"))]
    uncommented = [lines[n].strip() for n in numbered if "#" not in lines[n]]
    assert uncommented == []
