"""Web console sessions: an API key exchanged for a server-side session.

The browser's cookie holds a random id; the database holds its hash, the key
it stands for, and the session's CSRF token. A session ends at sign-out, after
``IDLE`` without a request, ``LIFETIME`` after sign-in, or as soon as its key is
revoked. Failed sign-ins are rate limited by the address they come from, like
failed pass look-ups by key.
"""
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..errors import Forbidden, Unauthenticated
from ..models import ApiKey, ConsoleSession, Role
from . import audit, keys, throttle

IDLE = timedelta(minutes=30)
LIFETIME = timedelta(hours=12)
SIGN_IN = "sign_in"
SEEN_EVERY = timedelta(seconds=30)  # how often a request writes that the session is in use


class AppKeyRefused(Forbidden):
    """An app key is for the bank's app backend: it opens no console."""


class UnknownKey(Unauthenticated):
    """Unknown or revoked API key. The failed sign-in it counts is kept."""

    keep_changes = True


@dataclass(frozen=True)
class SignedIn:
    session: ConsoleSession
    key: ApiKey
    cookie: str  # the value the browser keeps; shown only at sign-in


def _hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def sign_in(session: Session, plaintext: str, *, address: str, request_id: str | None, now: datetime) -> SignedIn:
    """A new session for a partner or admin key; a wrong key counts against the address (429 past the limit)."""
    throttle.check(session, SIGN_IN, address, now)
    key = keys.authenticate(session, plaintext.strip())
    if key is None:
        throttle.count_failure(session, SIGN_IN, address, now)
        raise UnknownKey()
    if key.role == Role.APP:
        raise AppKeyRefused()
    cookie = secrets.token_urlsafe(32)
    row = ConsoleSession(id_hash=_hash(cookie), key_id=key.id, csrf_token=secrets.token_urlsafe(32),
                         created_at=now, last_seen_at=now)
    session.add(row)
    audit.record(session, keys.actor_for(key, request_id), "console.signed_in", "api_key", key.id, at=now,
                 after={"role": key.role, "address": address})
    return SignedIn(row, key, cookie)


def current(session: Session, cookie: str | None, now: datetime) -> tuple[ConsoleSession, ApiKey] | None:
    """The live session behind a cookie and its key, or None: never signed in, signed out, idle, too old,
    or its key revoked."""
    if not cookie:
        return None
    found = session.execute(
        select(ConsoleSession, ApiKey).join(ApiKey, ApiKey.id == ConsoleSession.key_id)
        .where(ConsoleSession.id_hash == _hash(cookie))).one_or_none()
    if found is None:
        return None
    row, key = found
    if row.ended_at is not None or key.revoked_at is not None or now - row.last_seen_at >= IDLE \
            or now - row.created_at >= LIFETIME:
        return None
    return row, key


def needs_touch(row: ConsoleSession, now: datetime) -> bool:
    """Whether the session's last use is old enough to be written again (idle expiry counts from it)."""
    return now - row.last_seen_at >= SEEN_EVERY


def touch(session: Session, row: ConsoleSession, now: datetime) -> None:
    session.execute(update(ConsoleSession).where(ConsoleSession.id_hash == row.id_hash).values(last_seen_at=now))


def sign_out(session: Session, row: ConsoleSession, key: ApiKey, *, request_id: str | None, now: datetime) -> None:
    session.execute(update(ConsoleSession).where(ConsoleSession.id_hash == row.id_hash, ConsoleSession.ended_at.is_(None))
                    .values(ended_at=now))
    audit.record(session, keys.actor_for(key, request_id), "console.signed_out", "api_key", key.id, at=now)
