"""Validation: a bad rule document is refused as a whole, every problem listed by its path."""
import json

import pytest

from benefits.errors import RuleDocumentInvalid
from benefits.rules import RULE_SCHEMA, compile_program, load_document, validate_document
from rule_documents import document

FIXED = {"on": "transaction", "points": 1}
YEARLY = {"count": 1, "per": "year"}
OPERATORS = "eq, ne, lt, lte, gt, gte, in, not_in, contains, matches, exists"
PROFILE_FIELDS = "tier, aum, annual_contribution, tags, birthday_month, is_birthday_month, tenure_days, aum_growth_3m"
DFA_BUSTER = "(a|b)*a" + "(a|b)" * 14


def nested_not(depth: int, condition: dict) -> dict:
    for _ in range(depth):
        condition = {"not": condition}
    return condition


CASES = {
    "a period outside the list": (
        document(earning=[{"id": "a"} | FIXED, {"id": "b", "cap": {"points": 5, "per": "fortnight"}} | FIXED]),
        "earning[1].cap.per", "must be one of day, week, month, quarter, year, lifetime"),
    "an unknown field in a rule": (
        document(earning=[{"id": "a", "colour": "red"} | FIXED]),
        "earning[0].colour", "unknown field (fields here: id, description, on, when, rate, points, multiplier, cap)"),
    "an unknown top-level section": (
        document(extras=1),
        "extras", "unknown field (fields here: schema, program, timezone, currency, catalog, tiers, tier_policy, "
                  "points, earning, benefits, rewards, signals)"),
    "an unknown operator": (
        document(signals=[{"id": "s", "when": {"aum": {"about": 5}}}]),
        "signals[0].when.aum.about", f"unknown operator (operators: {OPERATORS})"),
    "an unknown condition field": (
        document(signals=[{"id": "s", "when": {"salary": {"gt": 5}}}]),
        "signals[0].when.salary", f"unknown field (fields here: {PROFILE_FIELDS})"),
    "an event field outside earning": (
        document(benefits=[{"id": "b", "benefit": "hotel_night", "quota": YEARLY, "when": {"amount": {"gt": 5}}}]),
        "benefits[0].when.amount", f"unknown field here (fields here: {PROFILE_FIELDS})"),
    "the tier field inside tiers": (
        document(tiers=[{"id": "p", "name": "P", "when": {"tier": {"eq": "p"}}}, {"id": "m", "name": "M"}]),
        "tiers[0].when.tier", "unknown field here (fields here: "
                              "aum, annual_contribution, tags, birthday_month, is_birthday_month, tenure_days, "
                              "aum_growth_3m)"),
    "an operator the field's kind lacks": (
        document(signals=[{"id": "s", "when": {"tags": {"gt": 1}}}]),
        "signals[0].when.tags.gt", "cannot be used on tags (operators for tags: contains, exists)"),
    "a value of the wrong kind": (
        document(signals=[{"id": "s", "when": {"aum": {"gt": "5"}}}]),
        "signals[0].when.aum.gt", "must be a number (aum is a number)"),
    "an empty in list": (
        document(signals=[{"id": "s", "when": {"aum": {"in": []}}}]),
        "signals[0].when.aum.in", "must be a non-empty list"),
    "a tier the document lacks, in a condition": (
        document(signals=[{"id": "s", "when": {"tier": {"eq": "gold"}}}]),
        "signals[0].when.tier.eq", "unknown tier 'gold' (tiers: private, wealth, mass)"),
    "a benefit missing from the catalog": (
        document(benefits=[{"id": "b", "benefit": "spa_day", "quota": YEARLY}]),
        "benefits[0].benefit", "unknown benefit spa_day (not in catalog)"),
    "a duplicate rule id across sections": (
        document(earning=[{"id": "x"} | FIXED], benefits=[{"id": "x", "benefit": "hotel_night", "quota": YEARLY}]),
        "benefits[0].id", "duplicate rule id x (also at earning[0].id)"),
    "a duplicate tier id": (
        document(tiers=[{"id": "m", "name": "P", "when": {"aum": {"gt": 1}}}, {"id": "m", "name": "M"}]),
        "tiers[1].id", "duplicate tier id m"),
    "a multiplier for a tier the document lacks": (
        document(earning=[{"id": "a", "multiplier": {"gold": 2}} | FIXED]),
        "earning[0].multiplier.gold", "unknown tier gold (tiers: private, wealth, mass)"),
    "a last tier with a when": (
        document(tiers=[{"id": "p", "name": "P", "when": {"aum": {"gt": 1}}},
                        {"id": "m", "name": "M", "when": {"aum": {"gt": 0}}}]),
        "tiers[1].when", "the last tier must have no when: it is the tier every customer falls back to"),
    "an earlier tier without a when": (
        document(tiers=[{"id": "p", "name": "P"}, {"id": "m", "name": "M"}]),
        "tiers[0].when", "is required on every tier but the last (the tiers after it could never apply)"),
    "an unparsable regex": (
        document(earning=[{"id": "a", "when": {"category": {"matches": "[a-"}}} | FIXED]),
        "earning[0].when.category.matches",
        "durable_rules cannot compile this pattern: it is not a pattern of the engine's dialect "
        "(no anchors; escape with %, as in %d) (engine error 501)"),
    "a regex beyond the engine's automaton limit": (
        document(earning=[{"id": "a", "when": {"category": {"matches": DFA_BUSTER}}} | FIXED]),
        "earning[0].when.category.matches",
        "durable_rules cannot compile this pattern: it needs more automaton states than the engine allows; "
        "simplify it (engine error 504)"),
    "a construct durable_rules cannot express: matches under not": (
        document(earning=[{"id": "a", "when": {"not": {"category": {"matches": "card.*"}}}} | FIXED]),
        "earning[0].when.not.category.matches",
        "cannot be used under not: durable_rules has no negated regular-expression match"),
    "both a rate and a fixed award": (
        document(earning=[{"id": "a", "rate": {"points": 1, "per_amount": 100}} | FIXED]),
        "earning[0]", "needs exactly one of rate (points per amount) or points (a fixed award)"),
    "neither a rate nor a fixed award": (
        document(earning=[{"id": "a", "on": "transaction"}]),
        "earning[0]", "needs exactly one of rate (points per amount) or points (a fixed award)"),
    "an unlimited quota with a count": (
        document(benefits=[{"id": "b", "benefit": "hotel_night", "quota": {"unlimited": True, "count": 1}}]),
        "benefits[0].quota", "is either {unlimited: true} or {count, per}, not both"),
    "a counted quota without a period": (
        document(benefits=[{"id": "b", "benefit": "hotel_night", "quota": {"count": 1}}]),
        "benefits[0].quota.per", "is required (or make the quota {unlimited: true})"),
    "a missing section": (
        {key: value for key, value in document().items() if key != "tiers"}, "tiers", "is required"),
    "points that are not a whole number": (
        document(earning=[{"id": "a", "on": "transaction", "points": "ten"}]),
        "earning[0].points", "must be a whole number"),
    "a negative award": (
        document(earning=[{"id": "a", "on": "transaction", "points": -1}]),
        "earning[0].points", "must be at least 1"),
    "a negative multiplier": (
        document(earning=[{"id": "a", "multiplier": {"mass": -1}} | FIXED]),
        "earning[0].multiplier.mass", "must be greater than 0"),
    "a reward that costs nothing": (
        document(rewards=[{"id": "r", "benefit": "hotel_night", "cost": 0}]),
        "rewards[0].cost", "must be at least 1"),
    "an unknown event kind": (
        document(earning=[{"id": "a", "on": "gift", "points": 1}]),
        "earning[0].on", "must be one of transaction, learning"),
    "a rule id with a space": (
        document(earning=[{"id": "a b"} | FIXED]),
        "earning[0].id", "must be 1 to 64 letters, digits, '-' or '_', starting with a letter or digit"),
    "an unknown time zone": (
        document(timezone="Mars/Olympus"),
        "timezone", "unknown time zone 'Mars/Olympus' (an IANA name such as Asia/Shanghai)"),
    "another language version": (document(schema="benefits/v2"), "schema", 'must be "benefits/v1"'),
    "a currency that is not a code": (
        document(currency="yuan"), "currency", "must be a three-letter currency code such as CNY"),
    "a condition nested too deeply": (
        document(signals=[{"id": "s", "when": nested_not(20, {"aum": {"gt": 1}})}]),
        "signals[0].when" + ".not" * 16, "nested too deeply (at most 16 levels)"),
    "a document that is not a mapping": (
        [1, 2], "document", "must be a mapping with schema, program, timezone, currency, catalog and tiers"),
}


@pytest.mark.parametrize("case", CASES)
def test_validation_names_the_path_and_the_problem(case):
    doc, path, message = CASES[case]
    assert validate_document(doc) == [{"path": path, "message": message}]


def test_every_problem_is_listed_at_once():
    doc = document(timezone="Mars/Olympus",
                   earning=[{"id": "a", "cap": {"points": 5, "per": "fortnight"}} | FIXED],
                   benefits=[{"id": "a", "benefit": "spa_day", "quota": YEARLY}],
                   signals=[{"id": "s", "when": {"aum": {"about": 5}}}])
    assert validate_document(doc) == [
        {"path": "earning[0].cap.per", "message": "must be one of day, week, month, quarter, year, lifetime"},
        {"path": "timezone", "message": "unknown time zone 'Mars/Olympus' (an IANA name such as Asia/Shanghai)"},
        {"path": "benefits[0].id", "message": "duplicate rule id a (also at earning[0].id)"},
        {"path": "benefits[0].benefit", "message": "unknown benefit spa_day (not in catalog)"},
        {"path": "signals[0].when.aum.about", "message": f"unknown operator (operators: {OPERATORS})"},
    ]


def test_a_bad_document_is_refused_as_a_whole_by_the_loader():
    text = "schema: benefits/v1\nprogram: x\ntimezone: Asia/Shanghai\ncurrency: CNY\ncatalog: {spa: {name: Spa}}\n" \
           "tiers:\n  - {id: mass, name: Mass, when: {aum: {gt: 0}}}\n"
    with pytest.raises(RuleDocumentInvalid) as refused:
        load_document(text)
    assert refused.value.errors == [{"path": "tiers[0].when", "message": "the last tier must have no when: it is "
                                                                         "the tier every customer falls back to"}]


def test_a_program_is_never_compiled_from_an_invalid_document():
    with pytest.raises(RuleDocumentInvalid):
        compile_program(document(earning=[{"id": "a", "on": "transaction"}]))


def test_a_valid_document_has_no_problems():
    assert validate_document(document()) == []


def test_on_stays_a_key_in_yaml():
    text = ("schema: benefits/v1\nprogram: x\ntimezone: Asia/Shanghai\ncurrency: CNY\ncatalog: {spa: {name: Spa}}\n"
            "tiers:\n  - {id: mass, name: Mass}\nearning:\n  - id: quiz\n    on: learning\n    points: 5\n")
    assert load_document(text)["earning"][0]["on"] == "learning"


def test_the_published_schema_describes_the_language():
    assert RULE_SCHEMA["properties"]["schema"]["const"] == "benefits/v1"
    assert set(RULE_SCHEMA["required"]) >= {"schema", "program", "timezone", "currency", "catalog", "tiers"}
    assert "condition" in RULE_SCHEMA["$defs"]


def test_a_nul_character_anywhere_is_refused_with_its_path():
    doc = document()
    doc["catalog"]["hotel_night"]["name"] = "Hotel\x00night"
    with pytest.raises(RuleDocumentInvalid) as refused:
        load_document(json.dumps(doc), "json")
    assert refused.value.errors == [{"path": "document.catalog.hotel_night.name",
                                     "message": "must not contain NUL characters"}]
