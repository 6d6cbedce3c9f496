"""Customers: upsert, AUM snapshots, the profile the rules see, tier and signals."""
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import NotFound
from ..models import AumSnapshot, Customer, TierChange
from ..rules import Program
from . import audit
from .periods import months_before

PUBLIC_FIELDS = ("name", "aum", "annual_contribution", "tags", "birthday", "customer_since",
                 "last_as_of", "tier", "signals")


@dataclass(frozen=True)
class Rules:
    """The active rule version a request is evaluated under."""

    version: int
    program: Program


def cents(amount) -> Decimal:
    """An amount as stored: two decimal places (the API refuses more)."""
    return Decimal(amount).quantize(Decimal("0.01"))


def get(session: Session, customer_id: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id!r}")
    return customer


def lock(session: Session, customer_id: str) -> Customer:
    """The customer row, locked for this transaction (PostgreSQL; SQLite writes are serialised)."""
    customer = session.execute(
        select(Customer).where(Customer.id == customer_id).with_for_update()
    ).scalar_one_or_none()
    if customer is None:
        raise NotFound(f"no customer {customer_id!r}")
    return customer


def local_today(rules: Rules, now: datetime) -> date:
    return now.astimezone(rules.program.timezone).date()


def profile(customer: Customer, rules: Rules, now: datetime, *, with_tier: bool = True) -> dict:
    """The fields a rule's conditions can read about this customer."""
    today = local_today(rules, now)
    birthday_month = int(customer.birthday[:2]) if customer.birthday else None
    fields = {
        "aum": customer.aum,
        "annual_contribution": customer.annual_contribution,
        "tags": list(customer.tags or []),
        "birthday_month": birthday_month,
        "is_birthday_month": birthday_month == today.month if birthday_month else False,
        "tenure_days": (today - customer.customer_since).days,
        "aum_growth_3m": customer.aum_growth_3m,
    }
    if with_tier:
        fields["tier"] = customer.tier
    return fields


def snapshot(customer: Customer) -> dict:
    return {field: getattr(customer, field) for field in PUBLIC_FIELDS}


def upsert(session: Session, rules: Rules, customer_id: str, data: dict, *,
           actor: audit.Actor, now: datetime) -> tuple[Customer, bool]:
    """Create or update a customer, record its AUM snapshot, re-evaluate tier and signals."""
    customer = session.execute(
        select(Customer).where(Customer.id == customer_id).with_for_update()).scalar_one_or_none()
    created = customer is None
    as_of = data.get("as_of") or local_today(rules, now)
    if created:
        customer = Customer(id=customer_id, balance=0, created_at=now, tier_version=rules.version,
                            customer_since=data.get("customer_since") or as_of, last_as_of=as_of,
                            signals=[], below_tier_since=None)
        session.add(customer)
        before = None
    else:
        before = snapshot(customer)
    customer.name = data["name"]
    customer.aum = cents(data["aum"])
    customer.annual_contribution = cents(data.get("annual_contribution", Decimal(0)))
    customer.tags = sorted(set(data.get("tags", [])))
    customer.birthday = data.get("birthday")
    if data.get("customer_since"):
        customer.customer_since = data["customer_since"]
    customer.last_as_of = max(customer.last_as_of, as_of)
    customer.updated_at = now
    _record_snapshot(session, customer, as_of, data["aum"])
    customer.aum_growth_3m = aum_growth_3m(session, customer_id)
    evaluate(session, customer, rules, as_of=customer.last_as_of, actor=actor, now=now)
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


def evaluate(session: Session, customer: Customer, rules: Rules, *, as_of: date,
             actor: audit.Actor, now: datetime) -> None:
    """Tier (with downgrade grace, counted in ``as_of`` days) and signals under ``rules``."""
    program = rules.program
    qualified = program.tier(profile(customer, rules, now, with_tier=False))
    current = customer.tier
    if current is None or current not in program.tier_ids:
        new_tier, below_since = qualified, None
    elif program.tier_ids.index(qualified) <= program.tier_ids.index(current):
        new_tier, below_since = qualified, None
    else:
        below_since = customer.below_tier_since or as_of
        if (as_of - below_since).days >= program.downgrade_grace_days:
            new_tier, below_since = qualified, None
        else:
            new_tier = current
    customer.below_tier_since = below_since
    customer.tier_version = rules.version
    if new_tier != current:
        customer.tier = new_tier
        session.add(TierChange(customer_id=customer.id, from_tier=current, to_tier=new_tier,
                               rule_version=rules.version, as_of=as_of, changed_at=now))
        audit.record(session, actor, "tier.changed", "customer", customer.id, at=now,
                     before={"tier": current}, after={"tier": new_tier, "rule_version": rules.version})
    customer.signals = sorted(program.signals(profile(customer, rules, now)))


def refresh(session: Session, customer: Customer, rules: Rules, now: datetime) -> None:
    """Re-evaluate a customer last evaluated under another version (audited as system)."""
    if customer.tier_version != rules.version:
        evaluate(session, customer, rules, as_of=customer.last_as_of, actor=audit.SYSTEM, now=now)
