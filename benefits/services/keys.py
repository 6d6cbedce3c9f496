"""API keys: created once, shown once, stored as a SHA-256 hash.

A key carries 256 random bits, so a fast hash is enough: nothing short of the
key itself hashes to the stored value, and the look-up on every request stays
one indexed query.
"""
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ..errors import Invalid, NotFound
from ..models import ApiKey, Partner, Role
from . import audit

LAST_USED_EVERY = timedelta(minutes=5)  # a key's last use is written at most this often


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


def caller(session: Session, plaintext: str) -> tuple[ApiKey, Partner | None] | None:
    """The live key and, for a partner key, its partner: one query."""
    found = session.execute(
        select(ApiKey, Partner).outerjoin(Partner, Partner.id == ApiKey.partner_id)
        .where(ApiKey.key_hash == hash_key(plaintext), ApiKey.revoked_at.is_(None))).one_or_none()
    return None if found is None else (found[0], found[1])


class KeyCache:
    """The keys a process has just authenticated (with their partner), each trusted for ``seconds`` before it is
    looked up again.

    So a revocation (or a new key's first use) takes effect on every process
    within ``seconds``, while a busy key costs no query on most requests.
    """

    def __init__(self, seconds: float, size: int = 10_000):
        self.seconds, self.size = seconds, size
        self._entries: dict[str, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def authenticate(self, plaintext: str, look_up: Callable[[str], object]):
        """What ``look_up(plaintext)`` answers for a live key (None for no such key), from the cache while fresh."""
        digest = hash_key(plaintext)
        entry = self._entries.get(digest)
        if entry is not None and time.monotonic() - entry[0] < self.seconds:
            return entry[1]
        key = look_up(plaintext)
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[digest] = (time.monotonic(), key)
        return key


def last_use_is_stale(key: ApiKey, now: datetime) -> bool:
    return key.last_used_at is None or key.last_used_at <= now - LAST_USED_EVERY


def record_use(session: Session, key_id: int, now: datetime) -> None:
    """Write that a key was used now, unless another request wrote it within ``LAST_USED_EVERY``."""
    session.execute(update(ApiKey).where(
        ApiKey.id == key_id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - LAST_USED_EVERY))
        .values(last_used_at=now))


def listing(session: Session, *, limit: int | None, before: int | None) -> list[ApiKey]:
    """Keys, newest first (those with an id below ``before``; all of them when ``limit`` is None)."""
    query = select(ApiKey)
    if before is not None:
        query = query.where(ApiKey.id < before)
    return list(session.execute(query.order_by(ApiKey.id.desc()).limit(limit)).scalars())


def actor_for(key: ApiKey, request_id: str | None = None) -> audit.Actor:
    return audit.Actor(type="key", id=str(key.id), name=key.name, role=key.role,
                       partner_id=key.partner_id, request_id=request_id)
