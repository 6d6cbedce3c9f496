"""The rule language evaluated on durable_rules: operators, connectives, tiers, earning, explanations."""
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from benefits.rules import diff_documents
from rule_documents import document, earning_program, program, signal_program

PROFILE_CASES = [
    # (condition, profile, holds)
    ({"aum": {"eq": 500000}}, {"aum": 500000}, True),
    ({"aum": {"eq": 500000}}, {"aum": 500000.01}, False),
    ({"aum": {"ne": 500000}}, {"aum": 1}, True),
    ({"aum": {"ne": 500000}}, {"aum": 500000}, False),
    ({"aum": {"lt": 500000}}, {"aum": Decimal("499999.99")}, True),
    ({"aum": {"lt": 500000}}, {"aum": 500000}, False),
    ({"aum": {"lte": 500000}}, {"aum": 500000}, True),
    ({"aum": {"lte": 500000}}, {"aum": Decimal("500000.01")}, False),
    ({"aum": {"gt": 500000}}, {"aum": Decimal("500000.01")}, True),
    ({"aum": {"gt": 500000}}, {"aum": 500000}, False),
    ({"aum": {"gte": 500000}}, {"aum": 500000}, True),
    ({"aum": {"gte": 500000}}, {"aum": Decimal("499999.99")}, False),
    ({"birthday_month": {"in": [1, 2]}}, {"birthday_month": 2}, True),
    ({"birthday_month": {"in": [1, 2]}}, {"birthday_month": 3}, False),
    ({"birthday_month": {"not_in": [1, 2]}}, {"birthday_month": 3}, True),
    ({"birthday_month": {"not_in": [1, 2]}}, {"birthday_month": 1}, False),
    ({"tags": {"contains": "children_studying_abroad"}}, {"tags": ["golf", "children_studying_abroad"]}, True),
    ({"tags": {"contains": "children_studying_abroad"}}, {"tags": ["golf"]}, False),
    ({"tags": {"contains": "children_studying_abroad"}}, {"tags": []}, False),
    ({"tier": {"eq": "wealth"}}, {"tier": "wealth"}, True),
    ({"tier": {"eq": "wealth"}}, {"tier": "mass"}, False),
    ({"tier": {"ne": "mass"}}, {"tier": "private"}, True),
    ({"tier": {"ne": "mass"}}, {"tier": "mass"}, False),
    ({"tier": {"in": ["wealth", "private"]}}, {"tier": "private"}, True),
    ({"tier": {"in": ["wealth", "private"]}}, {"tier": "mass"}, False),
    ({"tier": {"not_in": ["wealth", "private"]}}, {"tier": "mass"}, True),
    ({"tier": {"not_in": ["wealth", "private"]}}, {"tier": "wealth"}, False),
    ({"is_birthday_month": {"eq": True}}, {"is_birthday_month": True}, True),
    ({"is_birthday_month": {"eq": True}}, {"is_birthday_month": False}, False),
    ({"is_birthday_month": {"ne": True}}, {"is_birthday_month": False}, True),
    ({"tenure_days": {"gte": 365}}, {"tenure_days": 365}, True),
    ({"aum_growth_3m": {"gt": 0.2}}, {"aum_growth_3m": Decimal("0.25")}, True),
    ({"aum_growth_3m": {"gt": 0.2}}, {"aum_growth_3m": Decimal("0.2")}, False),
    ({"aum_growth_3m": {"exists": True}}, {"aum_growth_3m": 0}, True),
    ({"aum_growth_3m": {"exists": True}}, {}, False),
    ({"aum_growth_3m": {"exists": False}}, {}, True),
    ({"aum_growth_3m": {"exists": False}}, {"aum_growth_3m": 0}, False),
    # a comparison on an absent field is false, whatever the operator
    ({"aum_growth_3m": {"gt": 0.2}}, {}, False),
    ({"aum_growth_3m": {"lte": 0.2}}, {}, False),
    ({"aum_growth_3m": {"ne": 0}}, {}, False),
    ({"birthday_month": {"not_in": [1]}}, {}, False),
    ({"tags": {"contains": "golf"}}, {}, False),
    # several fields in one mapping are AND-ed
    ({"aum": {"gte": 500000}, "tenure_days": {"gte": 365}}, {"aum": 600000, "tenure_days": 400}, True),
    ({"aum": {"gte": 500000}, "tenure_days": {"gte": 365}}, {"aum": 600000, "tenure_days": 10}, False),
    ({"aum": {"gt": 1, "lt": 3}}, {"aum": 2}, True),
    ({"aum": {"gt": 1, "lt": 3}}, {"aum": 3}, False),
]

EVENT_CASES = [
    ({"category": {"eq": "fund"}}, {"category": "fund"}, True),
    ({"category": {"eq": "fund"}}, {"category": "insurance"}, False),
    ({"category": {"ne": "fund"}}, {"category": "insurance"}, True),
    ({"category": {"in": ["fund", "insurance"]}}, {"category": "insurance"}, True),
    ({"category": {"in": ["fund", "insurance"]}}, {"category": "card_spend"}, False),
    ({"category": {"not_in": ["fund"]}}, {"category": "card_spend"}, True),
    ({"category": {"matches": "card.*"}}, {"category": "card_spend"}, True),
    ({"category": {"matches": "card.*"}}, {"category": "debit_card"}, False),  # the whole value must match
    ({"course_id": {"matches": "fx-%d+"}}, {"course_id": "fx-101"}, True),
    ({"course_id": {"matches": "fx-%d+"}}, {"course_id": "fx-basics"}, False),
    ({"channel": {"exists": True}}, {"channel": "app"}, True),
    ({"channel": {"exists": True}}, {}, False),
    ({"amount": {"gte": 10000}}, {"amount": Decimal("10000.00")}, True),
    ({"amount": {"gte": 10000}}, {"amount": Decimal("9999.99")}, False),
    ({"currency": {"eq": "CNY"}}, {"currency": "CNY"}, True),
    ({"activity": {"eq": "quiz_passed"}}, {"activity": "lecture_attended"}, False),
    ({"category": {"eq": "fund"}, "amount": {"gt": 100}}, {"category": "fund", "amount": 50}, False),
]


def raised(condition, profile) -> bool:
    return signal_program(condition).signals(profile) == ["hit"]


def earned(condition, event) -> bool:
    awards = earning_program(condition).earn({"tier": "mass"}, {"type": "transaction", **event})
    return [award.rule for award in awards] == ["hit"]


@pytest.mark.parametrize("condition, profile, holds", PROFILE_CASES)
def test_profile_operator(condition, profile, holds):
    assert raised(condition, profile) is holds


@pytest.mark.parametrize("condition, profile, holds", PROFILE_CASES)
def test_profile_operator_under_not(condition, profile, holds):
    assert raised({"not": condition}, profile) is not holds


@pytest.mark.parametrize("condition, event, holds", EVENT_CASES)
def test_event_operator(condition, event, holds):
    assert earned(condition, event) is holds


@pytest.mark.parametrize("condition, event, holds", [case for case in EVENT_CASES
                                                     if "matches" not in next(iter(case[0].values()))])
def test_event_operator_under_not(condition, event, holds):
    assert earned({"not": condition}, event) is not holds


def test_double_negation_is_the_condition_itself():
    condition = {"aum_growth_3m": {"gt": 0.2}}
    assert raised({"not": {"not": condition}}, {}) is False
    assert raised({"not": {"not": condition}}, {"aum_growth_3m": 0.3}) is True


def test_all_needs_every_branch_and_any_needs_one():
    both = [{"aum": {"gte": 100}}, {"tags": {"contains": "golf"}}]
    assert raised({"all": both}, {"aum": 100, "tags": ["golf"]}) is True
    assert raised({"all": both}, {"aum": 100, "tags": []}) is False
    assert raised({"any": both}, {"aum": 0, "tags": ["golf"]}) is True
    assert raised({"any": both}, {"aum": 0, "tags": []}) is False


def test_not_of_any_holds_only_when_no_branch_holds():
    condition = {"not": {"any": [{"aum": {"gte": 100}}, {"tags": {"contains": "golf"}}]}}
    assert raised(condition, {"aum": 0, "tags": []}) is True
    assert raised(condition, {"aum": 0, "tags": ["golf"]}) is False


def test_an_earning_rule_without_when_fires_for_every_event_of_its_kind():
    assert earning_program(None).earn({}, {"type": "transaction", "amount": 1})[0].rule == "hit"
    assert earning_program(None).earn({}, {"type": "learning", "activity": "quiz_passed"}) == []


def test_any_with_several_true_branches_awards_once():
    p = earning_program({"any": [{"category": {"eq": "fund"}}, {"amount": {"gt": 100}},
                                 {"category": {"in": ["fund", "insurance"]}}]})
    awards = p.earn({"tier": "mass"}, {"type": "transaction", "category": "fund", "amount": 1000})
    assert [(award.rule, award.points) for award in awards] == [("hit", 10)]


def test_any_with_several_true_branches_grants_once():
    p = program(benefits=[{"id": "lounge", "benefit": "airport_lounge", "quota": {"count": 2, "per": "year"},
                           "when": {"any": [{"tier": {"eq": "wealth"}}, {"aum": {"gte": 1}}]}}])
    assert [grant.rule for grant in p.evaluate({"aum": 900000}).grants] == ["lounge"]


# ---- a random condition tree against a reference evaluator written here ----

NUMBER_FIELDS = ("aum", "tenure_days", "aum_growth_3m")


def reference(condition, profile) -> bool:
    """What a condition means (docs/rules.md), evaluated in Python for comparison with the engine."""
    results = []
    for key, value in condition.items():
        if key == "all":
            results.append(all(reference(item, profile) for item in value))
        elif key == "any":
            results.append(any(reference(item, profile) for item in value))
        elif key == "not":
            results.append(not reference(value, profile))
        else:
            for op, operand in value.items():
                present = key in profile
                actual = profile.get(key)
                results.append({
                    "exists": lambda: present == operand,
                    "eq": lambda: present and actual == operand, "ne": lambda: present and actual != operand,
                    "lt": lambda: present and actual < operand, "lte": lambda: present and actual <= operand,
                    "gt": lambda: present and actual > operand, "gte": lambda: present and actual >= operand,
                    "in": lambda: present and actual in operand, "not_in": lambda: present and actual not in operand,
                    "contains": lambda: present and operand in actual,
                }[op]())
    return all(results)


small = st.integers(0, 3)
comparisons = st.one_of(
    st.tuples(st.sampled_from(NUMBER_FIELDS), st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte"]), small)
    .map(lambda t: {t[0]: {t[1]: t[2]}}),
    st.tuples(st.sampled_from(NUMBER_FIELDS), st.sampled_from(["in", "not_in"]), st.lists(small, min_size=1,
                                                                                        max_size=3))
    .map(lambda t: {t[0]: {t[1]: t[2]}}),
    st.tuples(st.sampled_from(NUMBER_FIELDS + ("tags",)), st.booleans()).map(lambda t: {t[0]: {"exists": t[1]}}),
    st.sampled_from(["a", "b"]).map(lambda tag: {"tags": {"contains": tag}}),
)
conditions = st.recursive(comparisons, lambda inner: st.one_of(
    st.lists(inner, min_size=1, max_size=3).map(lambda items: {"all": items}),
    st.lists(inner, min_size=1, max_size=3).map(lambda items: {"any": items}),
    inner.map(lambda item: {"not": item}),
), max_leaves=6)
profiles = st.fixed_dictionaries({}, optional={
    "aum": small, "tenure_days": small, "aum_growth_3m": small,
    "tags": st.lists(st.sampled_from(["a", "b", "c"]), max_size=2, unique=True)})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(condition=conditions, people=st.lists(profiles, min_size=1, max_size=6))
def test_the_engine_agrees_with_the_meaning_of_any_condition(condition, people):
    p = signal_program(condition)
    try:
        for profile in people:
            assert (p.signals(profile) == ["hit"]) is reference(condition, profile), (condition, profile)
    finally:
        p.release()


# ---- tiers ----

def test_the_first_tier_whose_condition_holds_wins():
    p = program()
    assert p.tier({"aum": 7000000, "annual_contribution": 300000}) == "private"
    assert p.tier({"aum": 100, "annual_contribution": 300000}) == "wealth"


def test_the_last_tier_is_the_fallback():
    assert program().tier({"aum": 100}) == "mass"
    assert program().tier({}) == "mass"


def test_tier_order_is_document_order_not_threshold_order():
    reordered = document()
    reordered["tiers"] = [reordered["tiers"][1], reordered["tiers"][0], reordered["tiers"][2]]
    from benefits.rules import compile_program
    assert compile_program(reordered).tier({"aum": 7000000}) == "wealth"


def test_evaluate_answers_tier_grants_signals_and_names_every_rule_that_fired():
    p = program(
        benefits=[{"id": "lounge-wealth", "benefit": "airport_lounge", "when": {"tier": {"eq": "wealth"}},
                   "quota": {"count": 4, "per": "year"}},
                  {"id": "hotel-private", "benefit": "hotel_night", "when": {"tier": {"eq": "private"}},
                   "quota": {"count": 2, "per": "year"}},
                  {"id": "green-all", "benefit": "medical_green_channel", "quota": {"unlimited": True}}],
        rewards=[{"id": "extra-lounge", "benefit": "airport_lounge", "cost": 3000,
                  "when": {"tier": {"in": ["wealth", "private"]}}}],
        signals=[{"id": "big-spender", "when": {"annual_contribution": {"gte": 200000}}}])
    answer = p.evaluate({"aum": 100, "annual_contribution": 250000})
    assert answer.tier == "wealth"
    assert [(g.rule, g.benefit, g.quota, g.per) for g in answer.grants] == [
        ("lounge-wealth", "airport_lounge", 4, "year"), ("green-all", "medical_green_channel", None, None)]
    assert answer.signals == ["big-spender"]
    assert answer.fired == ["wealth", "lounge-wealth", "green-all", "extra-lounge", "big-spender"]


def test_reward_eligibility_follows_its_condition():
    p = program(rewards=[{"id": "extra-lounge", "benefit": "airport_lounge", "cost": 3000,
                          "when": {"tier": {"in": ["wealth", "private"]}}},
                         {"id": "open", "benefit": "hotel_night", "cost": 100}])
    assert [(o.id, o.eligible) for o in p.rewards({"tier": "mass"})] == [("extra-lounge", False), ("open", True)]
    assert [(o.id, o.eligible) for o in p.rewards({"tier": "wealth"})] == [("extra-lounge", True), ("open", True)]
    assert [o.eligible for o in p.rewards()] == [None, None]


# ---- earning arithmetic ----

def rate_program(points=1, per_amount=100, multiplier=None, fixed=None):
    rule = {"id": "r", "on": "transaction", "cap": {"points": 500, "per": "day"}}
    rule |= {"points": fixed} if fixed is not None else {"rate": {"points": points, "per_amount": per_amount}}
    if multiplier:
        rule["multiplier"] = multiplier
    return program(earning=[rule])


def points(p, amount, tier="mass"):
    return [a.points for a in p.earn({"tier": tier}, {"type": "transaction", "amount": Decimal(amount)})]


def test_rate_floors_the_amount_to_whole_steps():
    assert points(rate_program(), "199.99") == [1]
    assert points(rate_program(), "200") == [2]
    assert points(rate_program(), "99.99") == [0]


def test_multiplier_applies_after_the_rate_and_floors():
    p = rate_program(points=1, per_amount=1, multiplier={"wealth": 1.15, "private": 1.5})
    assert points(p, "100", "wealth") == [115]
    assert points(p, "101", "private") == [151]  # 151.5 floors
    assert points(p, "101", "mass") == [101]  # a tier the multiplier does not name: 1


def test_fixed_award_takes_the_multiplier_too():
    assert points(rate_program(fixed=50, multiplier={"private": 1.5}), "0", "private") == [75]


def test_award_carries_its_cap_for_the_ledger_to_apply():
    award = rate_program().earn({"tier": "mass"}, {"type": "transaction", "amount": 100000})[0]
    assert (award.points, award.cap_points, award.cap_per) == (1000, 500, "day")


def test_every_earning_rule_that_holds_awards_and_awards_add_up():
    p = program(earning=[
        {"id": "fund", "on": "transaction", "when": {"category": {"eq": "fund"}}, "rate": {"points": 1,
                                                                                             "per_amount": 200}},
        {"id": "big", "on": "transaction", "when": {"amount": {"gte": 100000}}, "points": 500},
        {"id": "card", "on": "transaction", "when": {"category": {"eq": "card_spend"}}, "points": 1}])
    awards = p.earn({"tier": "mass"}, {"type": "transaction", "category": "fund", "amount": 120000})
    assert [(a.rule, a.points) for a in awards] == [("fund", 600), ("big", 500)]


def test_learning_rules_do_not_fire_for_transactions():
    p = program(earning=[{"id": "quiz", "on": "learning", "when": {"activity": {"eq": "quiz_passed"}},
                          "points": 20}])
    assert p.earn({}, {"type": "transaction", "activity": "quiz_passed", "amount": 1}) == []
    assert [a.points for a in p.earn({}, {"type": "learning", "activity": "quiz_passed"})] == [20]


def test_earning_rules_read_the_customer_too():
    p = earning_program({"tier": {"eq": "private"}})
    assert p.earn({"tier": "private"}, {"type": "transaction", "amount": 1})[0].rule == "hit"
    assert p.earn({"tier": "wealth"}, {"type": "transaction", "amount": 1}) == []


# ---- diff ----

def test_diff_names_added_removed_and_changed_rules_with_their_fields():
    lounge = {"id": "lounge", "benefit": "airport_lounge", "quota": {"count": 4, "per": "year"}}
    old = document(benefits=[lounge, {"id": "hotel", "benefit": "hotel_night", "quota": {"count": 1, "per": "year"}}])
    new = document(benefits=[lounge | {"quota": {"count": 6, "per": "year"}},
                             {"id": "green", "benefit": "medical_green_channel", "quota": {"unlimited": True}}],
                   timezone="Asia/Hong_Kong")
    new["tiers"][0]["when"] = {"aum": {"gte": 1000000}}
    assert diff_documents(old, new) == {
        "added": ["green"], "removed": ["hotel"],
        "changed": [{"rule": "private", "section": "tiers", "fields": ["when"]},
                    {"rule": "lounge", "section": "benefits", "fields": ["quota"]}],
        "settings": ["timezone"]}


def test_diff_of_a_document_with_itself_is_empty():
    assert diff_documents(document(), document()) == {"added": [], "removed": [], "changed": [], "settings": []}


def test_diff_reports_a_tier_that_moved():
    moved = document()
    moved["tiers"] = [moved["tiers"][1], moved["tiers"][0], moved["tiers"][2]]
    changed = diff_documents(document(), moved)["changed"]
    assert {"rule": "private", "section": "tiers", "fields": ["position"]} in changed
