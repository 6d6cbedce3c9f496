"""Benchmark: rule evaluation, three ways, on rules/default.yaml.

For 100,000 generated profiles (tier + benefits + signals: a full profile
evaluation) and 100,000 generated events (earning), in one run and one thread:

- ours: the evaluator the service uses (Program.evaluate, Program.earn);
- raw: the same compiled durable_rules rulesets driven by the same C calls
  (assert_fact, start_action_for_state, complete_and_start_action,
  retract_fact) with the least Python around them: the price of the engine;
- plain: the same decisions hand-written in Python, checked against ours on
  the first 1,000 items: the price of having a rules engine at all.

Targets: ours within 1.5x of raw (ours/raw ≥ 0.67), and at least 5,000 full
profile evaluations per second.

    .venv/bin/python bench/rules.py [--profiles 100000] [--events 100000] [--json]
"""
import argparse
import json
import random
import sys
import time
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import durable_rules_engine as engine  # noqa: E402

from benefits.rules import compile_program, load_document  # noqa: E402
from benefits.rules.program import fact  # noqa: E402

MIN_PROFILES_PER_SECOND = 5000
MAX_SLOWDOWN = 1.5
TAGS = ["children_studying_abroad", "golf", "retired", "study_abroad_planned"]
CATEGORIES = ["wealth_product", "fund", "insurance", "card_spend", "deposit"]
ACTIVITIES = ["course_completed", "quiz_passed", "lecture_attended", "video_watched"]


def profiles(count: int, rng: random.Random) -> list[dict]:
    people = []
    for _ in range(count):
        tier_band = rng.random()
        aum = (rng.uniform(0, 499_999) if tier_band < 0.6 else rng.uniform(500_000, 5_999_999)
               if tier_band < 0.9 else rng.uniform(6_000_000, 50_000_000))
        profile = {"aum": Decimal(f"{aum:.2f}"), "annual_contribution": Decimal(rng.choice([0, 50_000, 250_000])),
                   "tags": rng.sample(TAGS, rng.randint(0, 2)), "birthday_month": rng.randint(1, 12),
                   "tenure_days": rng.randint(0, 5000)}
        profile["is_birthday_month"] = profile["birthday_month"] == 11
        if rng.random() < 0.7:  # the others have no three months of history: the field is absent
            profile["aum_growth_3m"] = Decimal(f"{rng.uniform(-0.3, 0.6):.4f}")
        people.append(profile)
    return people


def events(count: int, rng: random.Random) -> list[tuple[dict, dict]]:
    """(customer, event) pairs: the customer's tier matters for multipliers."""
    pairs = []
    for _ in range(count):
        customer = {"tier": rng.choice(["mass", "mass", "wealth", "private"])}
        if rng.random() < 0.7:
            event = {"type": "transaction", "category": rng.choice(CATEGORIES),
                     "amount": Decimal(rng.randint(1, 2_000_000)) / 10, "currency": "CNY", "channel": "app"}
        else:
            event = {"type": "learning", "activity": rng.choice(ACTIVITIES), "course_id": "fx-101"}
        pairs.append((customer, event))
    return pairs


# ---- the same decisions in plain Python (rules/default.yaml, by hand) ----

EARNING = {"wealth_product": ("wealth-products", 1, 100, {"private": 2, "wealth": Decimal("1.5")}),
           "fund": ("funds", 1, 200, {"private": 2, "wealth": Decimal("1.5")}),
           "insurance": ("insurance", 1, 100, {"private": 2, "wealth": Decimal("1.5")}),
           "card_spend": ("card-spend", 1, 20, {"private": Decimal("1.5"), "wealth": Decimal("1.2")})}
LEARNING = {"course_completed": ("course-completed", 50), "quiz_passed": ("quiz-passed", 20),
            "lecture_attended": ("lecture-attended", 100)}
GRANTS = {
    "wealth": ["lounge-wealth", "health-check-wealth", "green-channel-wealth"],
    "private": ["lounge-private", "health-check-private", "green-channel-private", "private-doctor", "mdt-private",
                "hotel-nights-private", "exclusive-events", "advisory-private"],
}
ABROAD = {"wealth": ["tuition-family", "study-abroad-consulting"],
          "private": ["tuition-family", "study-abroad-consulting", "overseas-account"]}
ORDER = ["lounge-wealth", "lounge-private", "birthday-gift", "health-check-wealth", "health-check-private",
         "green-channel-wealth", "green-channel-private", "private-doctor", "mdt-private", "tuition-family",
         "study-abroad-consulting", "overseas-account", "hotel-nights-private", "exclusive-events",
         "advisory-private"]


def plain_evaluate(profile: dict) -> tuple:
    aum = profile.get("aum", 0)
    if aum >= 6_000_000:
        tier = "private"
    elif aum >= 500_000 or profile.get("annual_contribution", 0) >= 200_000:
        tier = "wealth"
    else:
        tier = "mass"
    rules = set(GRANTS.get(tier, []))
    if tier != "mass" and profile.get("is_birthday_month"):
        rules.add("birthday-gift")
    if "children_studying_abroad" in profile.get("tags", ()):
        rules.update(ABROAD.get(tier, []))
    growth = profile.get("aum_growth_3m")
    signals = ["wealth-cultivation"] if tier == "mass" and growth is not None and growth > Decimal("0.2") else []
    return tier, [rule for rule in ORDER if rule in rules], signals


def plain_earn(customer: dict, event: dict) -> list[tuple[str, int]]:
    if event["type"] == "learning":
        rule = LEARNING.get(event.get("activity"))
        return [rule] if rule else []
    rule = EARNING.get(event.get("category"))
    if rule is None:
        return []
    rule_id, points, per_amount, multipliers = rule
    base = (event["amount"] / per_amount).to_integral_value(ROUND_FLOOR) * points
    return [(rule_id, int((base * multipliers.get(customer["tier"], 1)).to_integral_value(ROUND_FLOOR)))]


# ---- raw durable_rules: the same rulesets, the same C calls ----

def raw_fired(handle, text: str) -> list[str]:
    code, state = engine.assert_fact(handle, text)
    names = []
    if code != 1:
        started = engine.start_action_for_state(handle, state)
        message = started[1] if started else None
        while message:
            names.append(message[2:message.index('"', 2)])
            message = engine.complete_and_start_action(handle, state)
    engine.retract_fact(handle, text)
    return names


def raw_profile(tiers, profile_rules, profile: dict) -> list[str]:
    fired = raw_fired(tiers, json.dumps({**fact({**profile, "tier": None}), "sid": "1", "id": "fact"}))
    tier = "private" if "t0" in fired else "wealth" if "t1" in fired else "mass"
    return raw_fired(profile_rules, json.dumps({**fact({**profile, "tier": tier}), "sid": "1", "id": "fact"}))


def raw_earn(earning, customer: dict, event: dict) -> list[str]:
    return raw_fired(earning, json.dumps({**fact({**customer, **event}), "type": event["type"], "sid": "1",
                                          "id": "fact"}))


def rate(function, items) -> float:
    started = time.perf_counter()
    for item in items:
        function(item)
    return len(items) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    args = parser.parse_args()

    rng = random.Random(20261123)
    people, pairs = profiles(args.profiles, rng), events(args.events, rng)
    program = compile_program(load_document((ROOT / "rules" / "default.yaml").read_bytes()), "bench")

    def ours_evaluate(profile):
        answer = program.evaluate(profile)
        return answer.tier, [grant.rule for grant in answer.grants], answer.signals

    def ours_earn(pair):
        return [(award.rule, award.points) for award in program.earn(*pair)]

    mismatches = [(p, ours_evaluate(p), plain_evaluate(p)) for p in people[:1000] if ours_evaluate(p) != plain_evaluate(p)]
    mismatches += [(pair, ours_earn(pair), plain_earn(*pair)) for pair in pairs[:1000]
                   if ours_earn(pair) != plain_earn(*pair)]
    if mismatches:
        print(f"the plain-Python decisions differ from the rule engine's, e.g. {mismatches[0]}", file=sys.stderr)
        return 1

    handles = {group: ruleset._handle for group, ruleset in program._rulesets.items()}
    measured = {
        "profile": {
            "ours": rate(ours_evaluate, people),
            "raw": rate(lambda p: raw_profile(handles["tiers"], handles["profile"], p), people),
            "plain": rate(plain_evaluate, people)},
        "earning": {
            "ours": rate(ours_earn, pairs),
            "raw": rate(lambda pair: raw_earn(handles["earning"], *pair), pairs),
            "plain": rate(lambda pair: plain_earn(*pair), pairs)},
    }
    program.release()

    rows = []
    for question, what, count in (("profile", "full profile evaluation (tier + benefits + signals)", args.profiles),
                                  ("earning", "earning for an event", args.events)):
        m = measured[question]
        ours_vs_raw = m["ours"] / m["raw"]
        met = ours_vs_raw >= 1 / MAX_SLOWDOWN and (question != "profile" or m["ours"] >= MIN_PROFILES_PER_SECOND)
        target = f"≥ {1 / MAX_SLOWDOWN:.2f} of raw" + (f", ≥ {MIN_PROFILES_PER_SECOND:,}/s"
                                                        if question == "profile" else "")
        rows.append({"bench": "rules", "what": what, "via": "our evaluator", "per_second": round(m["ours"]),
                     "baseline": "raw durable_rules", "baseline_per_second": round(m["raw"]),
                     "ratio": round(ours_vs_raw, 3), "target": target, "met": met,
                     "plain_python_per_second": round(m["plain"]), "ours_vs_plain": round(m["ours"] / m["plain"], 4),
                     "calls": count})
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    print(f"rules/default.yaml, one thread, {args.profiles:,} profiles and {args.events:,} events\n")
    print("| question | ours /s | raw durable_rules /s | plain Python /s | ours/raw | ours/plain | target | met |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for row, question in zip(rows, ("profile", "earning")):
        m = measured[question]
        print(f"| {row['what']} | {m['ours']:,.0f} | {m['raw']:,.0f} | {m['plain']:,.0f} | "
              f"{row['ratio']:.2f} | {row['ours_vs_plain']:.3f} | {row['target']} | {'yes' if row['met'] else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
