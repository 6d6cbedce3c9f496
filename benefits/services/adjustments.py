"""Manual adjustments of points, with four eyes: one admin proposes, another approves, then the ledger moves.

An approved adjustment is an ``adjust`` entry. A positive one is a new lot,
spendable at once and expiring like points earned that day; it pays a debt
first, as earned points do. A negative one takes points back as a reversal
does: from the oldest lots, pending ones included, and what the customer does
not have becomes a debt (a negative balance) that later points pay first.
"""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Conflict, NotFound
from ..models import Adjustment, AdjustmentStatus, EntryKind
from ..rules import Program
from . import audit, customers, ledger
from .periods import month_end_after
from .rule_versions import four_eyes

RULE_ID = "adjustment"  # the rule id of a lot an adjustment makes


@dataclass(frozen=True)
class NewAdjustment:
    """The body of ``POST /admin/v1/customers/{id}/adjustments``."""

    points: int
    reason: str


def snapshot(adjustment: Adjustment) -> dict:
    return {"id": adjustment.id, "customer_id": adjustment.customer_id, "points": adjustment.points,
            "reason": adjustment.reason, "status": adjustment.status, "author": adjustment.author,
            "approver": adjustment.approver}


def create(session: Session, customer_id: str, new: NewAdjustment, *, actor: audit.Actor,
           now: datetime) -> Adjustment:
    """A pending adjustment: nothing moves until another admin approves it."""
    customers.get(session, customer_id)
    adjustment = Adjustment(customer_id=customer_id, points=new.points, reason=new.reason,
                            status=AdjustmentStatus.PENDING, author=actor.name, author_key_id=actor.key_id,
                            created_at=now)
    session.add(adjustment)
    session.flush()
    audit.record(session, actor, "adjustment.created", "adjustment", adjustment.id, at=now,
                 after=snapshot(adjustment))
    return adjustment


def approve(session: Session, program: Program, customer_id: str, adjustment_id: int, *, actor: audit.Actor,
            now: datetime) -> Adjustment:
    """Approve a pending adjustment (not by its author) and post its ``adjust`` entry."""
    adjustment = session.execute(select(Adjustment).where(
        Adjustment.id == adjustment_id, Adjustment.customer_id == customer_id).with_for_update()).scalar_one_or_none()
    if adjustment is None:
        raise NotFound(f"no adjustment {adjustment_id} of customer {customer_id!r}")
    if adjustment.status != AdjustmentStatus.PENDING:
        raise Conflict(f"adjustment {adjustment_id} is {adjustment.status} already")
    four_eyes(actor, adjustment.author, adjustment.author_key_id,
              "A manual adjustment must be approved by an admin other than its author.")
    customer = customers.lock(session, customer_id)
    ledger.expire_due(session, customer, now=now)
    reference = f"adjustment:{adjustment.id}"
    if adjustment.points > 0:
        entry = ledger.add_lot(session, customer, EntryKind.ADJUST, adjustment.points, rule_id=RULE_ID,
                               rule_version=program.version, event_id=None, earned_at=now, available_at=now,
                               expires_at=month_end_after(now, program.expiry_months, program.timezone), now=now,
                               reference=reference)
    else:
        entry = ledger.take_back(session, customer, -adjustment.points, now=now, reference=reference)
    session.flush()
    adjustment.status, adjustment.approver, adjustment.approver_key_id = (AdjustmentStatus.APPROVED, actor.name,
                                                                          actor.key_id)
    adjustment.approved_at, adjustment.ledger_entry_id = now, entry.id
    audit.record(session, actor, "adjustment.approved", "adjustment", adjustment.id, at=now,
                 before={"status": AdjustmentStatus.PENDING}, after=snapshot(adjustment))
    audit.record(session, actor, "points.adjusted", "customer", customer.id, at=now, after={
        "points": adjustment.points, "balance": customer.balance, "adjustment_id": adjustment.id,
        "reason": adjustment.reason, "author": adjustment.author})
    return adjustment


def listing(session: Session, *, limit: int, before: int | None, status: AdjustmentStatus | None = None,
            customer_id: str | None = None) -> list[Adjustment]:
    """Adjustments, newest first (those with an id below ``before``)."""
    query = select(Adjustment)
    if before is not None:
        query = query.where(Adjustment.id < before)
    if status is not None:
        query = query.where(Adjustment.status == status)
    if customer_id is not None:
        query = query.where(Adjustment.customer_id == customer_id)
    return list(session.execute(query.order_by(Adjustment.id.desc()).limit(limit)).scalars())
