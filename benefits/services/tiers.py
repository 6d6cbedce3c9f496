"""Tiers and signals: which tier a customer holds, with the downgrade grace, and which signals it raises.

``decide`` is the pure decision; ``evaluate`` applies it to a stored customer
under a program, recording the change and its audit row, and what the reports
keep of each evaluation (``standing``: signal changes, benefit grants).
"""
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from ..models import Customer, TierChange
from ..rules import Program
from . import audit, outbox, standing
from .profiles import rule_fields


@dataclass(frozen=True)
class TierDecision:
    tier: str
    below_since: date | None  # the first as_of below ``tier`` while its grace runs; None otherwise


def decide(*, current: str | None, qualified: str, tiers: tuple[str, ...], below_since: date | None,
           as_of: date, grace_days: int) -> TierDecision:
    """The tier held after an evaluation on ``as_of``.

    An upgrade (or a tier unknown to ``tiers``, highest first) applies at once;
    a lower qualified tier applies once the customer has been below the current
    one for ``grace_days`` days, counted by ``as_of`` dates.
    """
    if current is None or current not in tiers or tiers.index(qualified) <= tiers.index(current):
        return TierDecision(qualified, None)
    since = below_since or as_of
    if (as_of - since).days >= grace_days:
        return TierDecision(qualified, None)
    return TierDecision(current, since)


def evaluate(session: Session, customer: Customer, program: Program, *, as_of: date, actor: audit.Actor,
             now: datetime) -> None:
    """Tier (with downgrade grace) and signals under ``program``; a tier change is recorded and audited, and
    what changed is told through the outbox."""
    before = outbox.TierState.of(customer)
    current, fields = customer.tier, rule_fields(customer, program, now, with_tier=False)
    qualified = program.tier(fields)
    decision = decide(current=current, qualified=qualified, tiers=program.tier_ids,
                      below_since=customer.below_tier_since, as_of=as_of, grace_days=program.downgrade_grace_days)
    customer.below_tier_since = decision.below_since
    customer.tier_version = program.version
    if decision.tier != current:
        customer.tier = decision.tier
        session.add(TierChange(customer_id=customer.id, from_tier=current, to_tier=decision.tier,
                               rule_version=program.version, as_of=as_of, changed_at=now))
        audit.record(session, actor, "tier.changed", "customer", customer.id, at=now,
                     before={"tier": current}, after={"tier": decision.tier, "rule_version": program.version})
    answer = program.evaluate(fields, tier=customer.tier)
    standing.record_signals(session, customer, answer.signals, program, now)
    standing.store_grants(session, customer, answer.grants, program)
    customer.signals = sorted(answer.signals)
    outbox.customer_evaluated(session, customer, before, qualified=qualified, program=program, as_of=as_of, now=now)


def current(session: Session, customer, program: Program, now: datetime):
    """A customer read as a row (``id``, ``tier_version`` and what ``rule_fields`` reads), as ``program`` sees
    it: the row itself when it was evaluated under this version, else the stored customer, re-evaluated
    first (through the ORM, audited as system). The row's customer is locked already."""
    if customer.tier_version == program.version:
        return customer
    stored = session.get(Customer, customer.id)
    refresh(session, stored, program, now)
    return stored


def refresh(session: Session, customer: Customer, program: Program, now: datetime) -> None:
    """Re-evaluate a customer last evaluated under another version (audited as system)."""
    if customer.tier_version != program.version:
        evaluate(session, customer, program, as_of=customer.last_as_of, actor=audit.SYSTEM, now=now)

