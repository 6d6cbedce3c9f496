"""Events: transactions and learning activity, idempotent by their own id.

An event's awards come from the active rules, are cut to what remains under
each rule's cap for the customer and the period (in the programme's timezone,
by the event's ``occurred_at``), and become lots and ``earn`` entries.
"""
import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import DomainError, EventConflict, Invalid, NotFound, OccurredInFuture
from ..models import CapUsage, Event, EventType, Lot
from ..rules import Program
from .. import db, metrics
from . import audit, customers, ledger, tiers
from .periods import month_end_after, period_key
from .profiles import rule_fields

CLOCK_SKEW = timedelta(minutes=5)  # how far an event may be dated after the server's clock

@dataclass(frozen=True)
class ReportedEvent:
    """A transaction or learning activity as the caller reports it: the body of ``POST /api/v1/events``."""

    id: str
    customer_id: str
    type: EventType
    occurred_at: datetime
    amount: Decimal | None = None
    currency: str | None = None
    category: str | None = None
    channel: str | None = None
    activity: str | None = None
    course_id: str | None = None

    def rule_fields(self) -> dict:
        """What earning rules read about the event."""
        return {"type": self.type, "amount": self.amount, "currency": self.currency, "category": self.category,
                "channel": self.channel, "activity": self.activity, "course_id": self.course_id}


def body_hash(event: ReportedEvent) -> str:
    """The digest that tells a replay (same body) from a conflict (same id, another body)."""
    text = json.dumps(dataclasses.asdict(event), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def replay(event: Event, digest: str) -> dict:
    if event.body_hash != digest:
        raise EventConflict(f"event {event.id!r} was recorded with a different body")
    return event.response


def record(session: Session, program: Program, reported: ReportedEvent, *, actor: audit.Actor,
           now: datetime) -> tuple[dict, bool]:
    """Record one event; returns its answer and whether it was created (False: a replay).

    An event dated more than ``CLOCK_SKEW`` after ``now`` is refused: it would earn
    under the caps of a period that has not begun.
    """
    if reported.occurred_at > now + CLOCK_SKEW:
        raise OccurredInFuture([{"path": "json.occurred_at", "message": f"is more than "
                                 f"{CLOCK_SKEW.seconds // 60} minutes after the server's clock ({now.isoformat()})"}])
    digest = body_hash(reported)
    customer = customers.lock(session, reported.customer_id)
    existing = session.get(Event, reported.id)
    if existing is not None:
        return replay(existing, digest), False
    tiers.refresh(session, customer, program, now)
    occurred_at = reported.occurred_at
    awards = program.earn(rule_fields(customer, program, now), reported.rule_fields())
    event = Event(id=reported.id, customer_id=customer.id, type=reported.type, occurred_at=occurred_at,
                  amount=reported.amount, refunded=Decimal(0), body_hash=digest, points=0,
                  rule_version=program.version, response={}, created_at=now)
    session.add(event)
    session.flush()
    expires_at = month_end_after(occurred_at, program.expiry_months, program.timezone)
    if reported.type == EventType.TRANSACTION:
        available_at = occurred_at + timedelta(days=program.pending_days)
    else:
        available_at = min(occurred_at, now)  # learning points are never pending
    answered = []
    for award in awards:
        points = _within_cap(session, customer.id, award, occurred_at, program.timezone)
        answered.append({"rule": award.rule, "points": points})
        if points > 0:
            ledger.earn(session, customer, points, rule_id=award.rule, rule_version=program.version,
                        event_id=event.id, earned_at=occurred_at, available_at=available_at,
                        expires_at=expires_at, actor=actor, now=now)
    db.defer(session, db.AFTER_COMMIT, metrics.EVENTS.labels(reported.type).inc)
    event.points = sum(a["points"] for a in answered)
    event.response = {"id": event.id, "points": event.points, "awards": answered, "balance": customer.balance}
    return event.response, True


def _within_cap(session: Session, customer_id: str, award, occurred_at: datetime, tz) -> int:
    """The award cut to what remains under its rule's cap; the cap's usage grows by what is awarded."""
    if award.cap_points is None or award.points <= 0:
        return max(award.points, 0)
    key = period_key(award.cap_per, occurred_at, tz)
    usage = session.get(CapUsage, (customer_id, award.rule, key))
    if usage is None:
        usage = CapUsage(customer_id=customer_id, rule_id=award.rule, period_start=key, points=0)
        session.add(usage)
    points = max(0, min(award.points, award.cap_points - usage.points))
    usage.points += points
    return points


def reverse(session: Session, event_id: str, amount: Decimal | None, *, actor: audit.Actor,
            now: datetime) -> dict:
    """Refund all (``amount`` None) or part of an event: each award keeps floor(awarded × unrefunded / amount)."""
    event = get(session, event_id)
    customer = customers.lock(session, event.customer_id)
    session.refresh(event)
    total = event.amount or Decimal(0)
    if total <= 0:
        raise Invalid([{"path": "json.amount", "message": "only an event with a positive amount can be refunded"}])
    left = total - event.refunded
    amount = left if amount is None else amount
    if amount > left or left == 0:
        raise Invalid([{"path": "json.amount", "message": f"must not exceed the amount not yet refunded ({left})"}])
    refunded_after = event.refunded + amount
    reversed_points = 0
    for lot in session.execute(select(Lot).where(Lot.event_id == event.id).order_by(Lot.id)).scalars():
        points = _kept(lot.points, total, event.refunded) - _kept(lot.points, total, refunded_after)
        if points > 0:
            ledger.reverse(session, customer, lot, points, event_id=event.id, actor=actor, now=now)
            reversed_points += points
    event.refunded = refunded_after
    return {"points_reversed": reversed_points, "balance": customer.balance}


def get(session: Session, event_id: str) -> Event:
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound(f"no event {event_id!r}")
    return event


def _kept(awarded: int, total: Decimal, refunded: Decimal) -> int:
    return int((Decimal(awarded) * (total - refunded) / total).to_integral_value(rounding=ROUND_FLOOR))


def record_batch(session: Session, program: Program, reported: list[ReportedEvent], *, actor: audit.Actor,
                 now: datetime) -> list[dict]:
    """Record each event on its own (a savepoint each); one failing does not stop the others.

    Events are taken in customer order so that two batches lock customers in the
    same order and cannot deadlock; the results keep the order of ``reported``.
    """
    results: list[dict] = [{}] * len(reported)
    for index in sorted(range(len(reported)), key=lambda i: reported[i].customer_id):
        event = reported[index]
        try:
            with db.savepoint(session):
                answer, created = record(session, program, event, actor=actor, now=now)
            results[index] = {"id": event.id, "status": "created" if created else "duplicate",
                              "points": answer["points"], "error": None}
        except DomainError as error:
            results[index] = {"id": event.id, "status": "error", "points": None,
                              "error": {"reason": error.reason, "message": error.message,
                                        "errors": error.errors or []}}
    return results
