"""A compiled rule document: one entry point per question, each answer naming the rules that fired.

A program compiles into at most three durable_rules rulesets: the tiers; the
profile rules (benefit grants, reward eligibility and signals, asked together:
a fact fires every rule that matches); and the earning rules. Each question is
one engine call. Arithmetic (rates, multipliers, flooring) is ours; whether a
condition holds is always the engine's answer.
"""
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from zoneinfo import ZoneInfo

from .. import metrics
from .conditions import ALWAYS, FIELDS, NO_TAG, Threshold, compile_condition, fields_read, thresholds
from .document import refusal, validate_document
from .engine import Ruleset

DEFAULT_EXPIRY_MONTHS = 24
DEFAULT_EXPIRY_NOTICE_DAYS = 30


@dataclass(frozen=True)
class Award:
    """Points an earning rule awards for an event, before its cap (the ledger applies caps)."""

    rule: str
    points: int
    cap_points: int | None
    cap_per: str | None


@dataclass(frozen=True)
class Grant:
    """A benefit a rule grants; ``quota`` None is unlimited (and has no period)."""

    rule: str
    benefit: str
    quota: int | None
    per: str | None


@dataclass(frozen=True)
class RewardOption:
    """What points can buy; ``eligible`` is None when no customer was named."""

    id: str
    benefit: str
    cost: int
    eligible: bool | None


@dataclass(frozen=True)
class ProfileAnswer:
    tier: str
    grants: list[Grant]
    rewards: list[str]  # the ids of the rewards the customer may buy
    signals: list[str]

    @property
    def fired(self) -> list[str]:
        """Every rule id behind the answer: the tier, the grants, the eligible rewards, the signals."""
        return [self.tier, *(grant.rule for grant in self.grants), *self.rewards, *self.signals]


@dataclass(frozen=True)
class _EarningRule:
    id: str
    on: str  # the type of event it earns on
    fixed: int | None
    rate_points: int
    per_amount: Decimal
    multipliers: dict[str, Decimal]
    cap_points: int | None
    cap_per: str | None


def exact(number) -> Decimal:
    """A document's number as the decimal it was written as (1.15 is 1.15, not 1.149999...)."""
    return Decimal(repr(number)) if isinstance(number, float) else Decimal(number)


def fact(values: dict, reads=FIELDS) -> dict:
    """The engine's view of a profile or event: the fields ``reads`` names (every field unless told), absent
    ones left out, decimals as numbers."""
    result = {ALWAYS: 1}
    for name in reads:
        value = values.get(name)
        if value is None:
            continue
        if isinstance(value, Decimal):
            value = float(value)
        elif name == "tags":
            value = [*value, NO_TAG]
        result[name] = value
    return result


class Program:
    """A compiled document; ``version`` is the stored rule version it was compiled from (None for a loose one)."""

    def __init__(self, document: dict, label: str, version: int | None = None):
        self.label = label
        self.version = version
        self.document = document
        self.timezone = ZoneInfo(document["timezone"])
        self.catalog: dict = document["catalog"]
        self.tier_ids: tuple[str, ...] = tuple(tier["id"] for tier in document["tiers"])
        self.tier_names: dict[str, str] = {tier["id"]: tier["name"] for tier in document["tiers"]}
        self.downgrade_grace_days: int = document.get("tier_policy", {}).get("downgrade_grace_days", 0)
        self.expiry_months: int = document.get("points", {}).get("expiry_months", DEFAULT_EXPIRY_MONTHS)
        self.pending_days: int = document.get("points", {}).get("pending_days", 0)
        self.expiry_notice_days: int = document.get("points", {}).get("expiry_notice_days",
                                                                       DEFAULT_EXPIRY_NOTICE_DAYS)
        self.currency: str = document["currency"]
        points = document.get("points", {})
        self.point_value: Decimal | None = exact(points["value"]) if "value" in points else None
        self.expected_breakage: Decimal | None = (exact(points["expected_breakage"])
                                                  if "expected_breakage" in points else None)

        self._tier_rules = {f"t{i}": compile_condition(tier["when"])
                            for i, tier in enumerate(document["tiers"]) if "when" in tier}
        self._grants = [(f"b{i}", Grant(rule["id"], rule["benefit"], rule["quota"].get("count"),
                                        rule["quota"].get("per")))
                        for i, rule in enumerate(document.get("benefits", []))]
        self._rewards = [(f"r{i}", RewardOption(rule["id"], rule["benefit"], rule["cost"], None))
                         for i, rule in enumerate(document.get("rewards", []))]
        self._signals = [(f"s{i}", rule["id"]) for i, rule in enumerate(document.get("signals", []))]
        self._earning = [(f"e{i}", _earning_rule(rule)) for i, rule in enumerate(document.get("earning", []))]

        profile_rules = {}
        for section, compiled in (("benefits", self._grants), ("rewards", self._rewards),
                                  ("signals", self._signals)):
            for (name, _), rule in zip(compiled, document.get(section, [])):
                profile_rules[name] = compile_condition(rule.get("when"))
        earning_rules = {name: {"$and": [{"type": rule["on"]}, compile_condition(rule.get("when"))]}
                         for (name, _), rule in zip(self._earning, document.get("earning", []))}
        self._rulesets = {}
        # A fact carries only the fields its group's conditions read: the engine parses less, and answers alike.
        # Every earning rule also reads the event's type.
        self._reads = {"tiers": _fields_read(document["tiers"]),
                       "profile": _fields_read([rule for section in ("benefits", "rewards", "signals")
                                                for rule in document.get(section, [])]),
                       "earning": [*_fields_read(document.get("earning", [])), "type"]}
        for group, rules in (("tiers", self._tier_rules), ("profile", profile_rules), ("earning", earning_rules)):
            if rules:
                definition = {name: {"all": [{"m": condition}]} for name, condition in rules.items()}
                self._rulesets[group] = Ruleset(f"{label}.{group}", definition)

    def next_tier(self, tier: str | None) -> tuple[str, str, list[Threshold]] | None:
        """The tier above ``tier`` with its condition as numeric thresholds: ``(tier, mode, bars)``; None at the
        top, for a tier this document lacks, or when that condition is not made of thresholds alone."""
        if tier not in self.tier_ids or self.tier_ids.index(tier) == 0:
            return None
        above = self.document["tiers"][self.tier_ids.index(tier) - 1]
        found = thresholds(above.get("when"))
        return (above["id"], *found) if found is not None else None

    def settlement_price(self, benefit: str) -> Decimal | None:
        """What the bank pays a partner for one unit of ``benefit``, if the catalog says."""
        price = self.catalog.get(benefit, {}).get("settlement_price")
        return None if price is None else exact(price).quantize(Decimal("0.01"))

    def definitions(self) -> dict[str, dict]:
        """The durable_rules ruleset definitions, by group (tiers, profile, earning)."""
        return {group: ruleset.definition for group, ruleset in self._rulesets.items()}

    def _fired(self, group: str, values: dict) -> set[str]:
        """The rules of ``group`` that hold for ``values``."""
        ruleset = self._rulesets.get(group)
        if ruleset is None:
            return set()
        with metrics.timed(metrics.RULE_SECONDS, group):
            return ruleset.fired(fact(values, self._reads[group]))

    def tier(self, profile: dict) -> str:
        """The first tier whose condition holds (the last tier when none does); ``tier`` is not read."""
        fired = self._fired("tiers", {**profile, "tier": None})
        for index, tier_id in enumerate(self.tier_ids):
            if f"t{index}" in fired:
                return tier_id
        return self.tier_ids[-1]

    def evaluate(self, profile: dict, tier: str | None = None) -> ProfileAnswer:
        """Tier (unless given), benefit grants and signals; two engine calls."""
        tier = tier or self.tier(profile)
        fired = self._fired("profile", {**profile, "tier": tier})
        grants = [grant for name, grant in self._grants if name in fired]
        signals = [signal for name, signal in self._signals if name in fired]
        rewards = [option.id for name, option in self._rewards if name in fired]
        return ProfileAnswer(tier, grants, rewards, signals)

    def grants(self, profile: dict) -> list[Grant]:
        """The benefit grants whose conditions hold for a profile (with its tier)."""
        fired = self._fired("profile", profile)
        return [grant for name, grant in self._grants if name in fired]

    def signals(self, profile: dict) -> list[str]:
        fired = self._fired("profile", profile)
        return [signal for name, signal in self._signals if name in fired]

    def rewards(self, profile: dict | None = None) -> list[RewardOption]:
        """The reward catalog; with a profile, each option says whether that customer is eligible."""
        if profile is None:
            return [option for _, option in self._rewards]
        fired = self._fired("profile", profile)
        return [RewardOption(o.id, o.benefit, o.cost, name in fired) for name, o in self._rewards]

    def earn(self, profile: dict, event: dict) -> list[Award]:
        """Awards for an event (``type`` transaction or learning), in document order, before caps.

        ``floor(floor(amount / per_amount) × points × multiplier)``, or ``floor(points × multiplier)``
        for a fixed award; the multiplier is the customer's tier's (1 when the rule names none).
        """
        fired = self._fired("earning", {**profile, **event})
        tier, amount = profile.get("tier"), event.get("amount")
        return [Award(rule.id, _points(rule, tier, amount), rule.cap_points, rule.cap_per)
                for name, rule in self._earning if name in fired]

    def capped_rules(self, on: str) -> list[tuple[str, str]]:
        """The earning rules with a cap for events of type ``on``, and the period of each cap."""
        return [(rule.id, rule.cap_per) for _, rule in self._earning if rule.on == on and rule.cap_points is not None]

    def release(self) -> None:
        """Free the engine's rulesets (evaluations in flight finish first)."""
        for ruleset in self._rulesets.values():
            ruleset.release()


def _fields_read(rules: list[dict]) -> list[str]:
    """The fields the rules' conditions read, in the order of ``FIELDS``."""
    read = set().union(*(fields_read(rule.get("when")) for rule in rules))
    return [name for name in FIELDS if name in read]


def _earning_rule(rule: dict) -> _EarningRule:
    rate = rule.get("rate", {})
    cap = rule.get("cap") or {}
    return _EarningRule(
        id=rule["id"], on=rule["on"], fixed=rule.get("points"), rate_points=rate.get("points", 0),
        per_amount=exact(rate.get("per_amount", 1)),
        multipliers={tier: exact(value) for tier, value in rule.get("multiplier", {}).items()},
        cap_points=cap.get("points"), cap_per=cap.get("per"))


def _points(rule: _EarningRule, tier: str | None, amount) -> int:
    multiplier = rule.multipliers.get(tier, Decimal(1))
    if rule.fixed is not None:
        base = Decimal(rule.fixed)
    elif amount is None:
        return 0
    else:
        base = (exact(amount) / rule.per_amount).to_integral_value(ROUND_FLOOR) * rule.rate_points
    return max(0, int((base * multiplier).to_integral_value(ROUND_FLOOR)))


def compile_program(document: dict, label: str = "draft", version: int | None = None) -> Program:
    """Compile a document (validated again: a program is never built from an invalid one)."""
    errors = validate_document(document)
    if errors:
        raise refusal(errors)
    return Program(document, label, version)
