"""Redemptions: a partner holds a customer's entitlement, then confirms or cancels it.

Like a card authorisation: a hold reserves quota until ``hold_expires_at``
(15 minutes), when the quota returns by itself; the ``lapsed`` state and its
audit row are written by the next transaction that touches the hold, or by
``benefits redemptions lapse``. Confirmed plus held never exceeds the quota: a
hold runs under the customer's row lock (PostgreSQL ``SELECT ... FOR UPDATE``;
SQLite transactions are IMMEDIATE, so writers are serialised), and counts the
usage after taking it.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from .. import db
from ..errors import AlreadyCancelled, Forbidden, HoldExpired, NotFound
from ..models import Customer, Partner, Redemption, RedemptionStatus
from ..rules import Program
from . import audit, entitlements, outbox, passes, tiers

HOLD_TTL = timedelta(minutes=15)
_WRITTEN = [column.key for column in Redemption.__table__.columns if column.key != "id"]
INSERT = db.Hot(insert(Redemption.__table__).values({column: bindparam(column) for column in _WRITTEN})
                .returning(Redemption.__table__.c.id))  # a new hold, without the ORM's flush


@dataclass(frozen=True)
class HoldRequest:
    """What a front desk asks for: the body of ``POST /partner/v1/redemptions``."""

    pass_code: str
    benefit: str
    quantity: int = 1
    capture: bool = False  # confirm at once


def snapshot(redemption: Redemption) -> dict:
    return {"id": redemption.id, "status": redemption.status, "partner_id": redemption.partner_id,
            "customer_id": redemption.customer_id, "benefit": redemption.benefit,
            "quantity": redemption.quantity, "source": redemption.source, "rule": redemption.rule_id,
            "rule_version": redemption.rule_version, "period": redemption.period,
            "hold_expires_at": redemption.hold_expires_at}


def hold(session: Session, program: Program, partner: Partner, request: HoldRequest, *, key_id: int,
         actor: audit.Actor, now: datetime) -> Redemption:
    """Reserve a quantity of a benefit for the pass's customer (and confirm at once with ``capture``).

    Draws on the first entitlement for the benefit with enough remaining: rule
    grants before reward units (``entitlements.choose``). The redemption
    returned is written, not attached to the session.
    """
    found = passes.find_to_hold(session, request.pass_code, key_id=key_id, now=now)
    benefit = request.benefit
    if benefit not in partner.benefits:
        raise Forbidden(f"partner {partner.id} does not serve {benefit}")
    if not passes.servable(benefit, found, partner):
        raise Forbidden(f"this pass is for {found.benefit} only")
    customer = tiers.current(session, found, program, now)
    chosen = entitlements.choose(entitlements.to_hold(session, customer, program, benefit, now), benefit,
                                 request.quantity)
    redemption = Redemption(
        partner_id=partner.id, customer_id=customer.id, pass_id=found.pass_id, benefit=benefit,
        quantity=request.quantity, status=RedemptionStatus.HELD, source=chosen.source, rule_id=chosen.rule,
        rule_version=chosen.rule_version, period=chosen.period, created_at=now, hold_expires_at=now + HOLD_TTL,
        tier=customer.tier)
    held = snapshot(redemption)
    if request.capture:  # written once, confirmed; audited as held, then confirmed
        _confirm(program, redemption, now)
    [(redemption.id,)] = INSERT.rows(session.connection(), {column: getattr(redemption, column) for column in _WRITTEN})
    audit.record(session, actor, "redemption.held", "redemption", redemption.id, at=now,
                 after=held | {"id": redemption.id})
    if request.capture:
        _audit_confirmed(session, redemption, actor=actor, now=now)
    return redemption


def get_own(session: Session, partner: Partner, redemption_id: int, *, lock: bool = False) -> Redemption:
    """One of the partner's redemptions; another partner's is 404, as if it did not exist.

    With ``lock`` the redemption and its customer are locked together, as a hold
    locks the customer: every change a customer's messages tell of is written
    under the customer's lock, so its messages go out in the order they were
    committed.
    """
    query = select(Redemption).where(Redemption.id == redemption_id, Redemption.partner_id == partner.id)
    if lock:
        query = query.join(Customer, Customer.id == Redemption.customer_id).with_for_update()
    redemption = session.execute(query).scalar_one_or_none()
    if redemption is None:
        raise NotFound(f"no redemption {redemption_id}")
    return redemption


def _refuse_if_over(session: Session, redemption: Redemption, now: datetime) -> None:
    """A hold past its expiry is lapsed now (committed even though the request is refused)."""
    if redemption.status == RedemptionStatus.HELD and redemption.hold_expires_at <= now:
        lapse(session, redemption, now=now)
    if redemption.status == RedemptionStatus.LAPSED:
        raise HoldExpired(f"the hold lapsed at {redemption.hold_expires_at.isoformat()}")


def confirm(session: Session, program: Program, partner: Partner, redemption_id: int, *, actor: audit.Actor,
            now: datetime) -> Redemption:
    redemption = get_own(session, partner, redemption_id, lock=True)
    _refuse_if_over(session, redemption, now)
    if redemption.status == RedemptionStatus.CANCELLED:
        raise AlreadyCancelled(f"redemption {redemption_id} was cancelled")
    if redemption.status == RedemptionStatus.HELD:
        confirm_held(session, program, redemption, actor=actor, now=now)
    return redemption


def confirm_held(session: Session, program: Program, redemption: Redemption, *, actor: audit.Actor,
                 now: datetime) -> None:
    """Confirm a hold, snapshotting the catalog's settlement price of the benefit (the partner's statement)."""
    _confirm(program, redemption, now)
    _audit_confirmed(session, redemption, actor=actor, now=now)


def _confirm(program: Program, redemption: Redemption, now: datetime) -> None:
    redemption.status, redemption.confirmed_at, redemption.hold_expires_at = RedemptionStatus.CONFIRMED, now, None
    redemption.unit_price = program.settlement_price(redemption.benefit)


def _audit_confirmed(session: Session, redemption: Redemption, *, actor: audit.Actor, now: datetime) -> None:
    audit.record(session, actor, "redemption.confirmed", "redemption", redemption.id, at=now,
                 before={"status": RedemptionStatus.HELD}, after=snapshot(redemption))
    outbox.redemption_changed(session, redemption, RedemptionStatus.HELD, now=now)


def cancel(session: Session, partner: Partner, redemption_id: int, *, actor: audit.Actor,
           now: datetime) -> Redemption:
    """Release a hold, or undo a confirmed redemption (a front-desk mistake); the quota returns."""
    redemption = get_own(session, partner, redemption_id, lock=True)
    _refuse_if_over(session, redemption, now)
    if redemption.status != RedemptionStatus.CANCELLED:
        before = redemption.status
        redemption.status, redemption.cancelled_at = RedemptionStatus.CANCELLED, now
        audit.record(session, actor, "redemption.cancelled", "redemption", redemption.id, at=now,
                     before={"status": before}, after=snapshot(redemption))
        outbox.redemption_changed(session, redemption, before, now=now)
    return redemption


def lapse(session: Session, redemption: Redemption, *, now: datetime) -> None:
    redemption.status, redemption.lapsed_at = RedemptionStatus.LAPSED, redemption.hold_expires_at
    audit.record(session, audit.SYSTEM, "redemption.lapsed", "redemption", redemption.id, at=now,
                 before={"status": RedemptionStatus.HELD}, after=snapshot(redemption))
    outbox.redemption_changed(session, redemption, RedemptionStatus.HELD, now=now)


_DUE = (select(Redemption).join(Customer, Customer.id == Redemption.customer_id)
        .where(Redemption.status == RedemptionStatus.HELD, Redemption.hold_expires_at <= bindparam("now"))
        .order_by(Redemption.id).limit(bindparam("limit")).with_for_update())  # with their customers (get_own)


def lapse_due(session: Session, now: datetime, *, limit: int = 1000) -> int:
    """Write the lapsed state of up to ``limit`` holds past their expiry (``benefits redemptions lapse``);
    returns how many."""
    due = session.execute(_DUE, {"now": now, "limit": limit}).scalars().all()
    for redemption in due:
        lapse(session, redemption, now=now)
    return len(due)


def listing(session: Session, partner: Partner, *, limit: int, before: int | None,
            status: RedemptionStatus | None,
            since: datetime | None, until: datetime | None) -> list[Redemption]:
    """The partner's own redemptions, newest first, for reconciliation."""
    query = select(Redemption).where(Redemption.partner_id == partner.id)
    if before is not None:
        query = query.where(Redemption.id < before)
    if status is not None:
        query = query.where(Redemption.status == status)
    if since is not None:
        query = query.where(Redemption.created_at >= since)
    if until is not None:
        query = query.where(Redemption.created_at < until)
    return list(session.execute(query.order_by(Redemption.id.desc()).limit(limit)).scalars())
