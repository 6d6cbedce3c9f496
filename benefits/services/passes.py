"""Passes: how a customer proves who they are to a partner without sharing a bank id.

A code is 10 characters of a 32-letter alphabet (50 bits), shown as
``XXXXX-XXXXX``; only its SHA-256 is stored. Failed look-ups are counted in
the database per key, so the rate limit holds across all processes. A miss is
counted under the key row's lock, so that 100 guesses sent at once get 20
answers of 404 and 80 of 429, not 100 of 404.
"""
import hashlib
import math
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..errors import Invalid, PassNotFound, RateLimited
from ..models import ApiKey, Partner, Pass, PassLookupFailure
from ..rules import Program
from . import audit, customers, entitlements, tiers
from .partners import customer_ref

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud at a front desk
CODE_LENGTH = 10
DEFAULT_TTL_SECONDS = 600
MAX_FAILURES = 20
WINDOW = timedelta(seconds=60)


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


def check_rate(session: Session, key_id: int, now: datetime) -> None:
    """Refuse a key that failed as often as it may in the last minute (429, with the seconds to wait)."""
    count, oldest = session.execute(
        select(func.count(), func.min(PassLookupFailure.at)).where(
            PassLookupFailure.key_id == key_id, PassLookupFailure.at > now - WINDOW)).one()
    if count >= MAX_FAILURES:
        wait = max(1, math.ceil((oldest + WINDOW - now).total_seconds()))
        raise RateLimited(f"more than {MAX_FAILURES} failed pass look-ups in {WINDOW.seconds} s; "
                          f"try again in {wait} s", retry_after=wait)


def find(session: Session, code: str, *, key_id: int, now: datetime) -> Pass:
    """The live pass with this code; a miss is counted against the key and answered 404.

    The count is checked before the look-up (past the limit a valid code is 429
    too, so the answer tells nothing) and, for a miss, again under the key row's
    lock, which serialises the misses of one key across processes.
    """
    check_rate(session, key_id, now)
    found = session.execute(select(Pass).where(Pass.code_hash == code_hash(code))).scalar_one_or_none()
    if found is None or found.expires_at <= now:
        session.execute(select(ApiKey.id).where(ApiKey.id == key_id).with_for_update())
        check_rate(session, key_id, now)
        session.execute(delete(PassLookupFailure).where(PassLookupFailure.key_id == key_id,
                                                        PassLookupFailure.at <= now - WINDOW))
        session.add(PassLookupFailure(key_id=key_id, at=now))
        raise PassNotFound("no such pass, or it expired")
    return found


def masked(name: str) -> str:
    """The first character, the rest as stars: 张三丰 → 张**."""
    return name[:1] + "*" * (len(name) - 1)


def view(session: Session, program: Program, found: Pass, partner: Partner, *, secret: str, now: datetime) -> dict:
    """What a partner sees: a pseudonym, a masked name, the tier and only the entitlements it serves."""
    customer = customers.lock(session, found.customer_id)
    tiers.refresh(session, customer, program, now)
    return {"customer_ref": customer_ref(secret, partner.id, customer.id), "display_name": masked(customer.name),
            "tier": customer.tier, "benefit": found.benefit, "expires_at": found.expires_at,
            "entitlements": [item for item in entitlements.for_customer(session, customer, program, now)
                             if servable(item.benefit, found, partner)]}


def servable(benefit: str, found: Pass, partner: Partner) -> bool:
    return benefit in partner.benefits and found.benefit in (None, benefit)
