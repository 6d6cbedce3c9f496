"""Entitlements: what a customer may redeem now, with quota, used, held and remaining.

Benefit grants come from the active rules (the customer's tier and profile);
reward units from what the customer bought with points. Usage is counted from
redemptions per customer, rule id and period, so it survives rule activations:
confirmed ones are used, held ones whose hold has not lapsed are held.
"""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, String, bindparam, cast, func, literal, null, or_, select, union_all
from sqlalchemy.orm import Session

from .. import db
from ..errors import NotEligible, QuotaExhausted
from ..models import Customer, Redemption, RedemptionStatus, RewardUnits, Source
from ..rules import Program
from .periods import LIFETIME, period_bounds, period_key
from .profiles import rule_fields


@dataclass
class Entitlement:
    benefit: str
    source: Source
    rule: str
    rule_version: int
    quota: int | None  # None: unlimited
    period: str
    period_start: datetime | None
    period_end: datetime | None
    used: int = 0
    held: int = 0

    @property
    def remaining(self) -> int | None:
        return None if self.quota is None else self.quota - self.used - self.held


def for_customer(session: Session, customer: Customer, program: Program, now: datetime) -> list[Entitlement]:
    """Rule grants first (in the programme's order), then reward units: the order redemptions draw on."""
    return _counted(session, customer, _granted(customer, program, now), now)


def to_hold(session: Session, customer: Customer, program: Program, benefit: str,
            now: datetime) -> list[Entitlement]:
    """What a hold of ``benefit`` chooses from (``choose``): ``for_customer``, or, when the customer's first
    grant of the benefit is unlimited, the grants alone, since that grant is chosen whatever was used: no
    usage is read (a private client's medical green channel, say)."""
    granted = _granted(customer, program, now)
    first = next((item for item in granted if item.benefit == benefit), None)
    if first is not None and first.quota is None:
        return granted
    return _counted(session, customer, granted, now)


def _granted(customer: Customer, program: Program, now: datetime) -> list[Entitlement]:
    """The rule grants, in the programme's order, their usage not yet counted."""
    tz = program.timezone
    items = []
    for grant in program.grants(rule_fields(customer, program, now)):
        per = grant.per or LIFETIME
        start, end = period_bounds(per, now, tz)
        items.append(Entitlement(grant.benefit, Source.RULE, grant.rule, program.version, grant.quota,
                                 period_key(per, now, tz), start, end))
    return items


def _counted(session: Session, customer: Customer, items: list[Entitlement], now: datetime) -> list[Entitlement]:
    """The grants with their usage, then the reward units (read with the usage, in one statement)."""
    rows = _HOLDINGS.rows(session.connection(), {
        "customer": customer.id, "now": now, "periods": sorted({item.period for item in items} | {LIFETIME})})
    for row in sorted((row for row in rows if row.kind == _UNITS_KIND), key=lambda row: row.rule):
        items.append(Entitlement(row.detail, Source.REWARD, row.rule, row.version, int(row.quantity),
                                 LIFETIME, None, None))
    usage = {(row.source, row.rule, row.detail, row.status): int(row.quantity)
             for row in rows if row.kind != _UNITS_KIND}
    for item in items:
        item.used = usage.get((item.source, item.rule, item.period, RedemptionStatus.CONFIRMED), 0)
        item.held = usage.get((item.source, item.rule, item.period, RedemptionStatus.HELD), 0)
    return items


_UNITS_KIND = "units"
# In one query: the customer's reward units (kind "units"; detail: the benefit), and what its redemptions in
# the current periods use (kind "usage"; detail: the period): confirmed, or held and not lapsed.
_HOLDINGS = db.Hot(union_all(
    select(literal(_UNITS_KIND, String).label("kind"), literal(Source.REWARD, String).label("source"),
           RewardUnits.reward_id.label("rule"), RewardUnits.benefit.label("detail"),
           cast(null(), String).label("status"), RewardUnits.units.label("quantity"),
           RewardUnits.rule_version.label("version"))
    .where(RewardUnits.customer_id == bindparam("customer")),
    select(literal("usage", String), Redemption.source, Redemption.rule_id, Redemption.period, Redemption.status,
           func.sum(Redemption.quantity), cast(null(), Integer))
    .where(Redemption.customer_id == bindparam("customer"),
           Redemption.period.in_(bindparam("periods", expanding=True)),
           or_(Redemption.status == RedemptionStatus.CONFIRMED,
               (Redemption.status == RedemptionStatus.HELD) & (Redemption.hold_expires_at > bindparam("now"))))
    .group_by(Redemption.source, Redemption.rule_id, Redemption.period, Redemption.status)))


def choose(entitlements: list[Entitlement], benefit: str, quantity: int) -> Entitlement:
    """The entitlement a redemption of ``quantity`` draws on: the first for the benefit with enough remaining.

    Refused as ``not_eligible`` when the customer has none for the benefit, and
    ``quota_exhausted`` when none has enough left.
    """
    options = [item for item in entitlements if item.benefit == benefit]
    if not options:
        raise NotEligible(f"the customer has no {benefit} entitlement")
    chosen = next((item for item in options if item.remaining is None or item.remaining >= quantity), None)
    if chosen is None:
        raise QuotaExhausted(f"no {benefit} quota remains in the current period")
    return chosen
