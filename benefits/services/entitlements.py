"""Entitlements: what a customer may redeem now, with quota, used, held and remaining.

Benefit grants come from the active rules (the customer's tier and profile);
reward units from what the customer bought with points. Usage is counted from
redemptions per customer, rule id and period, so it survives rule activations:
confirmed ones are used, held ones whose hold has not lapsed are held.
"""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..models import Customer, Redemption, RewardUnits
from . import customers
from .customers import Rules
from .periods import LIFETIME, period_bounds, period_key


@dataclass
class Entitlement:
    benefit: str
    source: str  # rule | reward
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


def for_customer(session: Session, customer: Customer, rules: Rules, now: datetime) -> list[Entitlement]:
    """Rule grants first (in the programme's order), then reward units: the order redemptions draw on."""
    tz = rules.program.timezone
    items = []
    for grant in rules.program.grants(customers.profile(customer, rules, now)):
        per = grant.per or LIFETIME
        start, end = period_bounds(per, now, tz)
        items.append(Entitlement(grant.benefit, "rule", grant.rule, rules.version, grant.quota,
                                 period_key(per, now, tz), start, end))
    for units in session.execute(select(RewardUnits).where(RewardUnits.customer_id == customer.id)
                                 .order_by(RewardUnits.reward_id)).scalars():
        items.append(Entitlement(units.benefit, "reward", units.reward_id, units.rule_version, units.units,
                                 LIFETIME, None, None))
    _count_usage(session, customer.id, items, now)
    return items


def _count_usage(session: Session, customer_id: str, items: list[Entitlement], now: datetime) -> None:
    if not items:
        return
    rows = session.execute(
        select(Redemption.source, Redemption.rule_id, Redemption.period, Redemption.status,
               func.sum(Redemption.quantity))
        .where(Redemption.customer_id == customer_id,
               Redemption.rule_id.in_({item.rule for item in items}),
               or_(Redemption.status == "confirmed",
                   (Redemption.status == "held") & (Redemption.hold_expires_at > now)))
        .group_by(Redemption.source, Redemption.rule_id, Redemption.period, Redemption.status)).all()
    usage = {tuple(key): int(quantity) for *key, quantity in rows}
    for item in items:
        item.used = usage.get((item.source, item.rule, item.period, "confirmed"), 0)
        item.held = usage.get((item.source, item.rule, item.period, "held"), 0)
