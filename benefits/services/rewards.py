"""Rewards: what points buy. Buying spends points (oldest lots first) and adds one unit
to the customer's reward entitlement, in one transaction."""
from datetime import datetime

from sqlalchemy.orm import Session

from ..errors import NotEligible, NotFound
from ..models import RewardUnits
from ..rules import Program, RewardOption
from . import audit, customers, ledger, tiers
from .profiles import rule_fields


def catalog(session: Session, program: Program, customer_id: str | None, now: datetime) -> list[RewardOption]:
    """The reward catalog; with a customer, each option says whether they are eligible."""
    if customer_id is None:
        return program.rewards()
    customer = customers.get(session, customer_id)
    return program.rewards(rule_fields(customer, program, now))


def redeem(session: Session, program: Program, customer_id: str, reward_id: str, *, actor: audit.Actor,
           now: datetime) -> dict:
    customer = customers.lock(session, customer_id)
    tiers.refresh(session, customer, program, now)
    option = next((o for o in program.rewards(rule_fields(customer, program, now)) if o.id == reward_id), None)
    if option is None:
        raise NotFound(f"no reward {reward_id!r} in the active programme")
    if not option.eligible:
        raise NotEligible(f"the customer is not eligible for {reward_id}")
    ledger.spend(session, customer, option.cost, reference=f"reward:{reward_id}", rule_id=reward_id,
                 rule_version=program.version, actor=actor, now=now)
    units = session.get(RewardUnits, (customer.id, reward_id))
    if units is None:
        units = RewardUnits(customer_id=customer.id, reward_id=reward_id, benefit=option.benefit, units=0,
                            rule_version=program.version)
        session.add(units)
    units.units += 1
    audit.record(session, actor, "reward.redeemed", "customer", customer.id, at=now, after={
        "reward": reward_id, "benefit": option.benefit, "points": option.cost, "units": units.units,
        "rule_version": program.version})
    return {"points_spent": option.cost, "balance": customer.balance, "benefit": option.benefit,
            "units": units.units}
