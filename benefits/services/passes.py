"""Passes: how a customer proves who they are to a partner without sharing a bank id.

A code is 10 characters of a 32-letter alphabet (50 bits), shown as
``XXXXX-XXXXX``; only its SHA-256 is stored. Failed look-ups are rate limited
per key (``throttle``), across all processes.
"""
import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, contains_eager

from ..errors import Invalid, PassNotFound
from .. import db
from ..models import Customer, Partner, Pass
from ..rules import Program
from . import audit, customers, entitlements, throttle
from .partners import customer_ref
from .profiles import CUSTOMER_FIELDS

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud at a front desk
CODE_LENGTH = 10
DEFAULT_TTL_SECONDS = 600
LOOKUP = "pass_lookup"


def normalise(code: str) -> str:
    return "".join(code.split()).replace("-", "").upper()


def code_hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def issue(session: Session, program: Program, customer_id: str, *, benefit: str | None, ttl_seconds: int | None,
          actor: audit.Actor, now: datetime) -> tuple[str, Pass]:
    """A new code for the customer (optionally for one benefit); returns the code, shown once."""
    customer = customers.get(session, customer_id)
    if benefit is not None and benefit not in program.catalog:
        raise Invalid([{"path": "json.benefit", "message": f"unknown benefit {benefit!r} (not in the catalog)"}])
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    issued = Pass(code_hash=code_hash(raw), customer_id=customer.id, benefit=benefit, created_at=now,
                  expires_at=now + timedelta(seconds=ttl_seconds or DEFAULT_TTL_SECONDS))
    session.add(issued)
    session.flush()
    audit.record(session, actor, "pass.issued", "customer", customer.id, at=now,
                 after={"pass_id": issued.id, "benefit": benefit, "expires_at": issued.expires_at})
    return f"{raw[:5]}-{raw[5:]}", issued


_FIND = (select(*throttle.WINDOW_COLUMNS, Pass).join(Customer, Customer.id == Pass.customer_id)
         .where(Pass.code_hash == bindparam("code_hash")).options(contains_eager(Pass.customer)))
_PASSES, _CUSTOMERS = Pass.__table__, Customer.__table__
# A hold's look-up, in Core: building the ORM's pass and customer would cost as much as the query.
_FIND_TO_HOLD = db.Hot(
    select(*throttle.WINDOW_COLUMNS, _PASSES.c.id.label("pass_id"), _PASSES.c.benefit, _PASSES.c.expires_at,
           *(_CUSTOMERS.c[name] for name in ("id", "tier_version", *CUSTOMER_FIELDS)))
    .join_from(_PASSES, _CUSTOMERS, _CUSTOMERS.c.id == _PASSES.c.customer_id)
    .where(_PASSES.c.code_hash == bindparam("code_hash")).with_for_update(of=_CUSTOMERS))


def find(session: Session, code: str, *, key_id: int, now: datetime) -> Pass:
    """The live pass with this code; a miss is counted against the key (a write) and answered 404.

    Past the rate limit a valid code is refused (429) too, so the answer tells
    nothing. The key's failures, the pass and its customer (``found.customer``)
    are read in one query.
    """
    row = session.execute(_FIND, _lookup(code, key_id, now)).one_or_none()
    _refuse_unless_live(session, row, row and row.Pass.expires_at, key_id, now)
    return row.Pass


def find_to_hold(session: Session, code: str, *, key_id: int, now: datetime):
    """As ``find``, for a hold: one row of the pass (``pass_id``, ``benefit``) and of its customer, locked
    (``id``, ``tier_version`` and what ``rule_fields`` reads: what ``tiers.current`` takes)."""
    found = _FIND_TO_HOLD.rows(session.connection(), _lookup(code, key_id, now))
    row = found[0] if found else None
    _refuse_unless_live(session, row, row and row.expires_at, key_id, now)
    return row


def _lookup(code: str, key_id: int, now: datetime) -> dict:
    return {"code_hash": code_hash(code), **throttle.window(LOOKUP, str(key_id), now)}


def _refuse_unless_live(session: Session, row, expires_at: datetime | None, key_id: int, now: datetime) -> None:
    if row is not None:
        throttle.refuse_if_over(row.failures, row.oldest, now)
    if row is None or expires_at <= now:
        db.require_write(session)
        throttle.count_failure(session, LOOKUP, str(key_id), now)  # refused (429) past the limit
        raise PassNotFound("no such pass, or it expired")


def masked(name: str) -> str:
    """The first character, the rest as stars: 张三丰 → 张**."""
    return name[:1] + "*" * (len(name) - 1)


def view(session: Session, program: Program, found: Pass, partner: Partner, *, secret: str, now: datetime) -> dict:
    """What a partner sees: a pseudonym, a masked name, the tier and only the entitlements it serves."""
    customer = customers.current(session, lambda: program, found.customer_id, now)
    return {"customer_ref": customer_ref(secret, partner.id, customer.id), "display_name": masked(customer.name),
            "tier": customer.tier, "benefit": found.benefit, "expires_at": found.expires_at,
            "entitlements": [item for item in entitlements.for_customer(session, customer, program, now)
                             if servable(item.benefit, found, partner)]}


def servable(benefit: str, found, partner: Partner) -> bool:
    """Whether the partner serves the benefit and the pass (a ``Pass``, or a hold's row of one) is for it."""
    return benefit in partner.benefits and found.benefit in (None, benefit)
