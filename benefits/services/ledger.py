"""The points ledger: append-only entries, lots, and the stored balance.

Every change of points goes through ``post``, which changes the customer's
stored balance and appends its entry in the same transaction, so the balance
always equals the sum of the ledger. Lots hold what was earned: spending and
reversals take the oldest first; a debt (negative balance) left by a reversal
is paid first by newly earned points. Hence, always: the lots' unspent
remainders add up to the balance when it is positive, and to 0 otherwise.
Every change of a lot's remainder is also written as a lot movement (``move``),
so that what was outstanding on a past day is an aggregate of them.
The caller holds the customer's row lock.
"""
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import InsufficientPoints
from ..models import Customer, EntryKind, LedgerEntry, Lot, LotMovement, MovementKind
from . import audit, customers


def post(session: Session, customer: Customer, kind: EntryKind, points: int, *, now: datetime,
         lot_id=None, event_id=None, rule_version=None, rule_id=None, reference=None) -> LedgerEntry:
    customer.balance += points
    entry = LedgerEntry(customer_id=customer.id, kind=kind, points=points, balance_after=customer.balance,
                        event_id=event_id, lot_id=lot_id, rule_version=rule_version, rule_id=rule_id,
                        reference=reference, created_at=now)
    session.add(entry)
    return entry


def move(session: Session, lot: Lot, points: int, kind: MovementKind, now: datetime) -> None:
    """Change a lot's unspent remainder by ``points`` and write the movement."""
    lot.remaining += points
    session.add(LotMovement(lot_id=lot.id, kind=kind, points=points, posted_at=now, expires_at=lot.expires_at))


def add_lot(session: Session, customer: Customer, kind: EntryKind, points: int, *, rule_id: str,
            rule_version: int | None, event_id: str | None, earned_at: datetime, available_at: datetime,
            expires_at: datetime, now: datetime, reference: str | None = None) -> LedgerEntry:
    """Points that go into a new lot, posted as an entry of the ``kind`` the caller gives (a positive
    ``adjust``: earned points reach their lots in ``events``' batch writes instead). A debt is paid from them
    first; what is left goes into the lot as a movement of that same kind."""
    debt = max(0, -customer.balance)
    lot = Lot(customer_id=customer.id, event_id=event_id, rule_id=rule_id, rule_version=rule_version,
              points=points, remaining=0, earned_at=earned_at, available_at=available_at, expires_at=expires_at)
    session.add(lot)
    session.flush()
    if points > debt:
        move(session, lot, points - debt, MovementKind(kind), now)
    return post(session, customer, kind, points, now=now, lot_id=lot.id, event_id=event_id,
                rule_version=rule_version, rule_id=rule_id, reference=reference)


def pending(session: Session, customer_id: str, now: datetime) -> int:
    return session.execute(
        select(func.coalesce(func.sum(Lot.remaining), 0)).where(
            Lot.customer_id == customer_id, Lot.available_at > now, Lot.remaining > 0)
    ).scalar_one()


def spendable(session: Session, customer: Customer, now: datetime) -> int:
    return customer.balance - pending(session, customer.id, now)


def _open_lots(session: Session, customer_id: str, now: datetime, *, first_lot: Lot | None = None,
               include_pending: bool = False):
    """Unspent, unexpired lots, oldest first (``first_lot`` ahead of them)."""
    if first_lot is not None and first_lot.remaining > 0:
        yield first_lot
    query = select(Lot).where(Lot.customer_id == customer_id, Lot.remaining > 0, Lot.expires_at > now)
    if not include_pending:
        query = query.where(Lot.available_at <= now)
    for lot in session.execute(query.order_by(Lot.expires_at, Lot.earned_at, Lot.id)).scalars():
        if lot is not first_lot:
            yield lot


def _take(session: Session, lots, points: int, kind: MovementKind, now: datetime) -> int:
    """Take up to ``points`` from ``lots`` in order; returns what could not be taken."""
    for lot in lots:
        if points == 0:
            break
        taken = min(lot.remaining, points)
        move(session, lot, -taken, kind, now)
        points -= taken
    return points


def spend(session: Session, customer: Customer, points: int, *, reference: str, rule_id: str | None,
          rule_version: int | None, actor: audit.Actor, now: datetime) -> LedgerEntry:
    """Spend ``points`` from available lots, oldest first; refused unless the spendable balance covers it."""
    expire_due(session, customer, now=now)
    available = spendable(session, customer, now)
    if available < points:
        raise InsufficientPoints(f"{points} points needed, {max(available, 0)} spendable")
    _take(session, _open_lots(session, customer.id, now), points, MovementKind.REDEEM, now)
    entry = post(session, customer, EntryKind.REDEEM, -points, now=now, rule_version=rule_version,
                 rule_id=rule_id, reference=reference)
    audit.record(session, actor, "points.spent", "customer", customer.id, at=now, after={
        "points": points, "balance": customer.balance, "reference": reference, "rule": rule_id,
        "rule_version": rule_version})
    return entry


def reverse(session: Session, customer: Customer, lot: Lot, points: int, *, event_id: str,
            actor: audit.Actor, now: datetime) -> None:
    """Take back ``points`` of ``lot``'s award: from that lot first, then the oldest; the rest is debt."""
    _take(session, _open_lots(session, customer.id, now, first_lot=lot, include_pending=True), points,
          MovementKind.REVERSE, now)
    post(session, customer, EntryKind.REVERSE, -points, now=now, lot_id=lot.id, event_id=event_id,
         rule_version=lot.rule_version, rule_id=lot.rule_id)
    audit.record(session, actor, "points.reversed", "customer", customer.id, at=now, after={
        "points": points, "balance": customer.balance, "event_id": event_id, "rule": lot.rule_id,
        "rule_version": lot.rule_version, "lot_id": lot.id})


def expire_due(session: Session, customer: Customer, *, now: datetime, actor: audit.Actor = audit.SYSTEM) -> int:
    """Write an ``expire`` entry for each of the customer's lots past its expiry; returns the points."""
    lots = session.execute(
        select(Lot).where(Lot.customer_id == customer.id, Lot.remaining > 0, Lot.expires_at <= now)
        .order_by(Lot.expires_at, Lot.id)).scalars().all()
    total = 0
    for lot in lots:
        points = lot.remaining
        move(session, lot, -points, MovementKind.EXPIRE, now)
        total += points
        post(session, customer, EntryKind.EXPIRE, -points, now=now, lot_id=lot.id, event_id=lot.event_id,
             rule_version=lot.rule_version, rule_id=lot.rule_id)
        audit.record(session, actor, "points.expired", "customer", customer.id, at=now, after={
            "points": points, "balance": customer.balance, "lot_id": lot.id, "expires_at": lot.expires_at})
    return total


def take_back(session: Session, customer: Customer, points: int, *, now: datetime,
              reference: str | None = None) -> LedgerEntry:
    """A negative ``adjust``: from the oldest lots, pending ones included, as a reversal; the rest is a debt."""
    _take(session, _open_lots(session, customer.id, now, include_pending=True), points, MovementKind.ADJUST, now)
    return post(session, customer, EntryKind.ADJUST, -points, now=now, reference=reference)


def expire_some(session: Session, now: datetime, limit: int = 500) -> tuple[int, int]:
    """Expire the due lots of up to ``limit`` customers (each under its row lock): ``(points, customers)``.

    ``benefits points expire`` calls it, one transaction a time, until it answers no customers.
    """
    due = session.execute(
        select(Lot.customer_id).where(Lot.remaining > 0, Lot.expires_at <= now)
        .group_by(Lot.customer_id).order_by(Lot.customer_id).limit(limit)).scalars().all()
    points = sum(expire_due(session, customers.lock(session, customer_id), now=now) for customer_id in due)
    return points, len(due)


def expiring(session: Session, customer_id: str, now: datetime, limit: int = 12) -> list[dict]:
    """Unspent points by expiry date, soonest first."""
    rows = session.execute(
        select(Lot.expires_at, func.sum(Lot.remaining)).where(
            Lot.customer_id == customer_id, Lot.remaining > 0, Lot.expires_at > now)
        .group_by(Lot.expires_at).order_by(Lot.expires_at).limit(limit)).all()
    return [{"points": int(points), "expires_at": expires_at} for expires_at, points in rows]


def points(session: Session, customer: Customer, now: datetime) -> dict:
    """Balance (pending included), the part not yet spendable, and what expires when."""
    waiting = pending(session, customer.id, now)
    return {"balance": customer.balance, "pending": waiting, "spendable": customer.balance - waiting,
            "expiring": expiring(session, customer.id, now)}


def entries(session: Session, customer_id: str, *, limit: int, before: int | None) -> list[LedgerEntry]:
    """Ledger entries, newest first (those with an id below ``before``)."""
    query = select(LedgerEntry).where(LedgerEntry.customer_id == customer_id)
    if before is not None:
        query = query.where(LedgerEntry.id < before)
    return list(session.execute(query.order_by(LedgerEntry.id.desc()).limit(limit)).scalars())
