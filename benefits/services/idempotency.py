"""Stored first answers of mutating requests, by calling key, route and Idempotency-Key."""
import hashlib
from datetime import datetime

from sqlalchemy.orm import Session

from ..errors import IdempotencyConflict
from ..models import IdempotencyRecord


def request_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def find(session: Session, key_id: int, route: str, idempotency_key: str, digest: str):
    """The stored ``(status, body)`` of the first request, None if there was none."""
    record = session.get(IdempotencyRecord, (key_id, route, idempotency_key))
    if record is None:
        return None
    if record.request_hash != digest:
        raise IdempotencyConflict(f"Idempotency-Key {idempotency_key!r} was used with a different request")
    return record.status_code, record.response


def store(session: Session, key_id: int, route: str, idempotency_key: str, digest: str,
          status: int, body, now: datetime) -> None:
    session.add(IdempotencyRecord(key_id=key_id, route=route, idempotency_key=idempotency_key,
                                  request_hash=digest, status_code=status, response=body, created_at=now))
