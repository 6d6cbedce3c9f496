"""Customers: upsert and AUM snapshots; the tier and signals come from ``tiers``."""
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..errors import Invalid, NotFound
from ..models import AumSnapshot, Customer
from ..rules import Program
from .. import db
from . import audit, tiers
from .periods import months_before
from .profiles import CustomerProfile, local_today

PUBLIC_FIELDS = ("name", "aum", "annual_contribution", "tags", "birthday", "customer_since",
                 "last_as_of", "tier", "signals")


def cents(amount) -> Decimal:
    """An amount as stored: two decimal places (the API refuses more)."""
    return Decimal(amount).quantize(Decimal("0.01"))


def get(session: Session, customer_id: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id!r}")
    return customer


_LOCK = select(Customer).where(Customer.id == bindparam("id")).with_for_update()


def lock(session: Session, customer_id: str) -> Customer:
    """The customer row, locked for this transaction (PostgreSQL; SQLite writes are serialised)."""
    customer = session.execute(_LOCK, {"id": customer_id}).scalar_one_or_none()
    if customer is None:
        raise NotFound(f"no customer {customer_id!r}")
    return customer


def current(session: Session, program: Callable[[], Program], customer_id: str, now: datetime) -> Customer:
    """The customer as the active version (``program()``, asked once the customer is found) sees it: read
    without a lock, unless it was last evaluated under another version; then (in a writing unit) locked and
    re-evaluated first, audited as ``system``."""
    customer = get(session, customer_id)
    program = program()
    if customer.tier_version != program.version:
        db.require_write(session)
        customer = session.execute(_LOCK.execution_options(populate_existing=True), {"id": customer_id}).scalar_one()
        tiers.refresh(session, customer, program, now)
    return customer


def snapshot(customer: Customer) -> dict:
    return {field: getattr(customer, field) for field in PUBLIC_FIELDS}


def upsert(session: Session, program: Program, customer_id: str, profile: CustomerProfile, *,
           actor: audit.Actor, now: datetime) -> tuple[Customer, bool]:
    """Create or update a customer, record its AUM snapshot, re-evaluate tier and signals."""
    customer = session.execute(
        select(Customer).where(Customer.id == customer_id).with_for_update()).scalar_one_or_none()
    created = customer is None
    today = local_today(program, now)
    if profile.as_of is not None and profile.as_of > today + timedelta(days=1):
        raise Invalid([{"path": "json.as_of", "message": f"must not be later than tomorrow ({today + timedelta(days=1)} "
                                                         "in the programme's timezone)"}])
    as_of = profile.as_of or today
    if created:
        customer = Customer(id=customer_id, balance=0, created_at=now, tier_version=program.version,
                            customer_since=profile.customer_since or as_of, last_as_of=as_of,
                            signals=[], below_tier_since=None)
        session.add(customer)
        before = None
    else:
        before = snapshot(customer)
    customer.name = profile.name
    customer.aum = cents(profile.aum)
    customer.annual_contribution = cents(profile.annual_contribution)
    customer.tags = sorted(set(profile.tags))
    customer.birthday = profile.birthday
    if profile.customer_since:
        customer.customer_since = profile.customer_since
    customer.last_as_of = max(customer.last_as_of, as_of)
    customer.updated_at = now
    _record_snapshot(session, customer, as_of, profile.aum)
    customer.aum_growth_3m = aum_growth_3m(session, customer_id)
    tiers.evaluate(session, customer, program, as_of=customer.last_as_of, actor=actor, now=now)
    audit.record(session, actor, "customer.upserted", "customer", customer_id, at=now,
                 before=before, after=snapshot(customer))
    return customer, created


def _record_snapshot(session: Session, customer: Customer, as_of: date, aum: Decimal) -> None:
    session.flush()
    existing = session.get(AumSnapshot, (customer.id, as_of))
    if existing is None:
        session.add(AumSnapshot(customer_id=customer.id, as_of=as_of, aum=aum))
    else:
        existing.aum = aum
    session.flush()


def aum_growth_3m(session: Session, customer_id: str) -> float | None:
    """Latest AUM over the latest AUM dated at least three calendar months earlier, minus 1."""
    latest = session.execute(
        select(AumSnapshot).where(AumSnapshot.customer_id == customer_id)
        .order_by(AumSnapshot.as_of.desc()).limit(1)).scalar_one_or_none()
    if latest is None:
        return None
    earlier = session.execute(
        select(AumSnapshot.aum).where(AumSnapshot.customer_id == customer_id,
                                      AumSnapshot.as_of <= months_before(latest.as_of, 3))
        .order_by(AumSnapshot.as_of.desc()).limit(1)).scalar_one_or_none()
    if not earlier:
        return None
    return float(latest.aum / earlier - 1)


def reevaluate_some(session: Session, program: Program, now: datetime, *, after: str = "",
                    limit: int = 500) -> list[str]:
    """Re-evaluate up to ``limit`` customers (with an id after ``after``) last evaluated under another
    version, each under its row lock, so that tiers, signals and the benefit grants the reports count
    follow an activation without waiting for each customer's next request. Returns their ids:
    ``benefits customers reevaluate`` goes on after the last one until none is left, in one pass over
    the customers."""
    due = session.execute(select(Customer.id).where(Customer.id > after, Customer.tier_version != program.version)
                          .order_by(Customer.id).limit(limit)).scalars().all()
    for customer_id in due:
        tiers.refresh(session, lock(session, customer_id), program, now)
    return list(due)
