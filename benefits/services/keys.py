"""API keys: created once, shown once, stored as a SHA-256 hash.

A key carries 256 random bits, so a fast hash is enough: nothing short of the
key itself hashes to the stored value, and the look-up on every request stays
one indexed query.
"""
import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Invalid, NotFound
from ..models import ApiKey, Partner, Role
from . import audit


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def create_key(session: Session, *, role: Role, name: str, actor: audit.Actor, now: datetime,
               partner_id: str | None = None) -> tuple[ApiKey, str]:
    if role not in set(Role):
        raise Invalid([{"path": "json.role", "message": f"must be one of {', '.join(Role)}"}])
    if (role == Role.PARTNER) != (partner_id is not None):
        raise Invalid([{"path": "json.role", "message": "a partner key belongs to exactly one partner"}])
    if partner_id is not None and session.get(Partner, partner_id) is None:
        raise NotFound(f"no partner {partner_id!r}")
    plaintext = f"vb_{role}_{secrets.token_urlsafe(32)}"
    key = ApiKey(name=name, role=role, partner_id=partner_id, key_hash=hash_key(plaintext), created_at=now)
    session.add(key)
    session.flush()
    audit.record(session, actor, "api_key.created", "api_key", key.id, at=now,
                 after={"id": key.id, "name": name, "role": role, "partner_id": partner_id})
    return key, plaintext


def revoke(session: Session, key_id: int, *, actor: audit.Actor, now: datetime) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key {key_id}")
    if key.revoked_at is None:
        key.revoked_at = now
        audit.record(session, actor, "api_key.revoked", "api_key", key.id, at=now,
                     after={"id": key.id, "name": key.name, "role": key.role, "partner_id": key.partner_id})
    return key


def authenticate(session: Session, plaintext: str) -> ApiKey | None:
    return session.execute(
        select(ApiKey).where(ApiKey.key_hash == hash_key(plaintext), ApiKey.revoked_at.is_(None))
    ).scalar_one_or_none()


def actor_for(key: ApiKey, request_id: str | None = None) -> audit.Actor:
    return audit.Actor(type="key", id=str(key.id), name=key.name, role=key.role,
                       partner_id=key.partner_id, request_id=request_id)
