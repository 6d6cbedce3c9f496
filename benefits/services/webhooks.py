"""Webhook endpoints and their deliveries.

Admins subscribe an endpoint (a URL and the message types it wants); its secret
(``whsec_`` + base64 of 32 random bytes) is shown once and stored encrypted
(``benefits.encryption``). Rotating it keeps the old one signing beside the new
one for ``ROTATION_OVERLAP``. Subscribing, deleting, rotating and a 410 Gone that
disables an endpoint are audited; deliveries are recorded, not audited.

The worker (``benefits.delivery``) makes its HTTP calls outside any
transaction, between short ones: ``claim`` leases the due deliveries that head
their stream (no earlier delivery of the same endpoint and customer still
pending or failed), ``settle`` records the answers. The lease is committed before the call, so a
worker that dies mid-call loses nothing: the lease runs out and another worker
sends the message again, with the same ``webhook-id``.
"""
import base64
import json
import random
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from ..destinations import url_problem
from ..encryption import Encryption
from ..errors import Conflict, Invalid, NotFound
from ..models import DeliveryStatus, EndpointStatus, MessageType, OutboxMessage, WebhookDelivery, WebhookEndpoint
from . import audit

SECRET_PREFIX = "whsec_"
ROTATION_OVERLAP = timedelta(hours=24)
LEASE = timedelta(seconds=60)  # longer than the 15 s an HTTP call may take, with room to record its answer
MAX_RETRY_AFTER = timedelta(hours=24)
JITTER = 0.10  # a retry waits its scheduled time plus up to 10%
OPEN = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)  # what holds a stream


@dataclass(frozen=True)
class NewEndpoint:
    """An admin's subscription: the body of ``POST /admin/v1/webhooks``."""

    url: str
    types: tuple[MessageType, ...]
    description: str | None = None


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def summary(endpoint: WebhookEndpoint) -> dict:
    """What the audit trail keeps of an endpoint (never a secret)."""
    return {"id": endpoint.id, "url": endpoint.url, "types": endpoint.types, "description": endpoint.description,
            "status": endpoint.status}


def create(session: Session, encryption: Encryption, new: NewEndpoint, *, allow_private: bool, actor: audit.Actor,
           now: datetime) -> tuple[WebhookEndpoint, str]:
    """Subscribe an endpoint to the messages written from now on; returns it and its secret (shown once)."""
    if (problem := url_problem(new.url, allow_private=allow_private)) is not None:
        raise Invalid([{"path": "json.url", "message": problem}])
    secret = new_secret()
    endpoint = WebhookEndpoint(url=new.url, types=sorted(set(new.types)), description=new.description,
                               status=EndpointStatus.ACTIVE, secret=encryption.encrypt(secret), created_at=now)
    session.add(endpoint)
    session.flush()
    audit.record(session, actor, "webhook.created", "webhook", endpoint.id, at=now, after=summary(endpoint))
    return endpoint, secret


def get(session: Session, endpoint_id: int, *, lock: bool = False) -> WebhookEndpoint:
    """An endpoint that was not deleted."""
    query = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id,
                                          WebhookEndpoint.status != EndpointStatus.DELETED)
    endpoint = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if endpoint is None:
        raise NotFound(f"no webhook {endpoint_id}")
    return endpoint


def listing(session: Session, *, limit: int | None, before: int | None) -> list[WebhookEndpoint]:
    """Endpoints not deleted, newest first."""
    query = select(WebhookEndpoint).where(WebhookEndpoint.status != EndpointStatus.DELETED)
    if before is not None:
        query = query.where(WebhookEndpoint.id < before)
    return list(session.execute(query.order_by(WebhookEndpoint.id.desc()).limit(limit)).scalars())


def delete(session: Session, endpoint_id: int, *, actor: audit.Actor, now: datetime) -> None:
    """Unsubscribe: nothing more is sent to it (a call in flight still ends); its deliveries stay listed until
    their messages are pruned."""
    endpoint = get(session, endpoint_id, lock=True)
    before = summary(endpoint)
    endpoint.status, endpoint.deleted_at = EndpointStatus.DELETED, now
    endpoint.secret, endpoint.previous_secret = "", None  # nothing left to sign with
    audit.record(session, actor, "webhook.deleted", "webhook", endpoint.id, at=now, before=before,
                 after=summary(endpoint))


def rotate(session: Session, encryption: Encryption, endpoint_id: int, *, actor: audit.Actor,
           now: datetime) -> tuple[WebhookEndpoint, str]:
    """A new secret, shown once; the current one goes on signing beside it for ``ROTATION_OVERLAP`` (a secret
    older than that is dropped)."""
    endpoint = get(session, endpoint_id, lock=True)
    secret = new_secret()
    endpoint.previous_secret, endpoint.previous_secret_expires_at = endpoint.secret, now + ROTATION_OVERLAP
    endpoint.secret, endpoint.secret_rotated_at = encryption.encrypt(secret), now
    audit.record(session, actor, "webhook.secret_rotated", "webhook", endpoint.id, at=now, after={
        "id": endpoint.id, "previous_secret_expires_at": endpoint.previous_secret_expires_at})
    return endpoint, secret


def signing_secrets(endpoint: WebhookEndpoint, encryption: Encryption, now: datetime) -> tuple[str, ...]:
    """The secrets that sign a message sent now: the current one, and the previous one during its overlap."""
    tokens = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        tokens.append(endpoint.previous_secret)
    return tuple(encryption.decrypt(token) for token in tokens)


def reencrypt(session: Session, encryption: Encryption) -> int:
    """Every stored secret encrypted again with the first key of ``BENEFITS_ENCRYPTION_KEYS``; returns how many
    endpoints. Once done, the keys after the first can be dropped."""
    endpoints = session.execute(select(WebhookEndpoint).where(WebhookEndpoint.status != EndpointStatus.DELETED)
                                .with_for_update()).scalars().all()
    for endpoint in endpoints:
        endpoint.secret = encryption.reencrypt(endpoint.secret)
        if endpoint.previous_secret:
            endpoint.previous_secret = encryption.reencrypt(endpoint.previous_secret)
    return len(endpoints)


# ---------------------------------------------------------------- deliveries, as admins see them

@dataclass(frozen=True)
class DeliveryView:
    """A delivery with its message, as ``GET /admin/v1/webhooks/{id}/deliveries`` lists it."""

    id: int
    message_id: str
    type: str
    customer_id: str | None
    occurred_at: datetime
    status: str
    attempts: int
    last_response_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None


def _view(delivery: WebhookDelivery, message: OutboxMessage) -> DeliveryView:
    return DeliveryView(delivery.id, message.message_id, message.type, message.customer_id, message.occurred_at,
                        delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error,
                        delivery.next_attempt_at, delivery.delivered_at)


def deliveries(session: Session, endpoint_id: int, *, limit: int | None, before: int | None,
               status: DeliveryStatus | None = None) -> list[DeliveryView]:
    """An endpoint's deliveries, newest message first (those with a delivery id below ``before``)."""
    get(session, endpoint_id)
    query = (select(WebhookDelivery, OutboxMessage).join(OutboxMessage, OutboxMessage.id == WebhookDelivery.message_id)
             .where(WebhookDelivery.endpoint_id == endpoint_id))
    if before is not None:
        query = query.where(WebhookDelivery.id < before)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    rows = session.execute(query.order_by(WebhookDelivery.id.desc()).limit(limit)).all()
    return [_view(delivery, message) for delivery, message in rows]


def _delivery(session: Session, endpoint_id: int, message_id: str) -> tuple[WebhookDelivery, OutboxMessage]:
    get(session, endpoint_id)
    row = session.execute(
        select(WebhookDelivery, OutboxMessage).join(OutboxMessage, OutboxMessage.id == WebhookDelivery.message_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id, OutboxMessage.message_id == message_id)
        .with_for_update(of=WebhookDelivery)).one_or_none()
    if row is None:
        raise NotFound(f"webhook {endpoint_id} has no delivery of message {message_id!r}")
    return row[0], row[1]


def retry(session: Session, endpoint_id: int, message_id: str, *, now: datetime) -> DeliveryView:
    """Send a failed (or pending) delivery again now, with a new round of the retry schedule; a call in flight
    loses its lease (its answer is not recorded), so the retry's count from 0."""
    return _reopen(session, endpoint_id, message_id, DeliveryStatus.PENDING, now=now)


def skip(session: Session, endpoint_id: int, message_id: str, *, now: datetime) -> DeliveryView:
    """Give up on a pending or failed delivery: the messages after it in its stream go on."""
    return _reopen(session, endpoint_id, message_id, DeliveryStatus.SKIPPED, now=now)


def _reopen(session: Session, endpoint_id: int, message_id: str, status: DeliveryStatus, *,
            now: datetime) -> DeliveryView:
    """An admin's decision on an open delivery: sent again from attempt 0 (pending) or given up (skipped);
    either way a call in flight loses its lease."""
    delivery, message = _delivery(session, endpoint_id, message_id)
    if delivery.status not in OPEN:
        verb = "retried" if status == DeliveryStatus.PENDING else "skipped"
        raise Conflict(f"message {message_id} was {delivery.status}: only a pending or failed delivery is {verb}")
    delivery.status, delivery.lease, delivery.leased_until, delivery.updated_at = status, None, None, now
    if status == DeliveryStatus.PENDING:
        delivery.attempts, delivery.next_attempt_at = 0, now
    else:
        delivery.next_attempt_at = None
    return _view(delivery, message)


# ---------------------------------------------------------------- the worker's two transactions

@dataclass(frozen=True)
class Claimed:
    """A delivery leased to a worker: everything the HTTP call needs."""

    delivery_id: int
    lease: str
    attempt: int  # from 1
    endpoint_id: int
    url: str
    secrets: tuple[str, ...]
    message_id: str
    body: bytes


@dataclass(frozen=True)
class Answer:
    """What came of one HTTP call: the status code (None when nothing was answered) and what went wrong."""

    status_code: int | None
    error: str | None = None
    retry_after: float | None = None  # seconds, from the Retry-After header

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


_EARLIER = aliased(WebhookDelivery)
_HEADS = (
    select(WebhookDelivery.id, WebhookDelivery.attempts, WebhookEndpoint, OutboxMessage)
    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
    .join(OutboxMessage, OutboxMessage.id == WebhookDelivery.message_id)
    .where(WebhookEndpoint.status == EndpointStatus.ACTIVE, WebhookDelivery.status == DeliveryStatus.PENDING,
           ~exists().where(_EARLIER.endpoint_id == WebhookDelivery.endpoint_id,
                           _EARLIER.stream == WebhookDelivery.stream,
                           _EARLIER.message_id < WebhookDelivery.message_id,
                           _EARLIER.status.in_(OPEN)))
    .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id))  # the due index's order: no sort of them all


def _due(now: datetime, due_by: datetime, limit: int):
    """The heads of streams a worker may send now: due by ``due_by`` and not leased (or their lease ran out)."""
    return _HEADS.where(WebhookDelivery.next_attempt_at <= due_by,
                        or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until <= now)).limit(limit)


def any_due(session: Session, *, now: datetime, due_by: datetime) -> bool:
    """Whether a worker has anything to send (a read: it takes no write lock)."""
    return session.execute(_due(now, due_by, 1).with_only_columns(WebhookDelivery.id)).first() is not None


def claim(session: Session, encryption: Encryption, *, now: datetime, due_by: datetime,
          limit: int) -> list[Claimed]:
    """Lease up to ``limit`` due heads of streams for ``LEASE`` (PostgreSQL: rows other workers are claiming
    are skipped, ``SKIP LOCKED``; SQLite: claims are serialised by the write lock), counting the attempt. The
    deliveries of one claim share a lease token."""
    rows = session.execute(_due(now, due_by, limit).with_for_update(of=WebhookDelivery, skip_locked=True)).all()
    if not rows:
        return []
    lease = uuid.uuid4().hex
    session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_([row.id for row in rows]))
                    .values(attempts=WebhookDelivery.attempts + 1, lease=lease, leased_until=now + LEASE,
                            updated_at=now).execution_options(synchronize_session=False))
    keys: dict[int, tuple[str, ...]] = {}
    claimed = []
    for row in rows:
        endpoint, message = row.WebhookEndpoint, row.OutboxMessage
        if endpoint.id not in keys:
            keys[endpoint.id] = signing_secrets(endpoint, encryption, now)
        claimed.append(Claimed(row.id, lease, row.attempts + 1, endpoint.id, endpoint.url, keys[endpoint.id],
                               message.message_id, body(message)))
    return claimed


def body(message: OutboxMessage) -> bytes:
    """The JSON a message is sent as: ``{id, type, occurred_at, data}``."""
    return json.dumps({"id": message.message_id, "type": message.type, "occurred_at": message.occurred_at.isoformat(),
                       "data": message.data}, ensure_ascii=False, separators=(",", ":")).encode()


def next_wait(attempt: int, schedule: tuple[float, ...], retry_after: float | None,
              jitter: Callable[[], float] = random.random) -> timedelta | None:
    """How long to wait after failed attempt ``attempt`` (from 1): the schedule's wait plus 0-10% jitter, or
    ``Retry-After`` when that is longer (at most 24 h); None after the last attempt."""
    if attempt > len(schedule):
        return None
    wait = timedelta(seconds=schedule[attempt - 1] * (1 + JITTER * jitter()))
    if retry_after is not None and retry_after > 0:
        wait = max(wait, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return wait


def settle(session: Session, answered: list[tuple[Claimed, Answer]], *, schedule: tuple[float, ...],
           now: datetime) -> list[str | None]:
    """Record HTTP calls' answers: delivered (2xx), failed with the endpoint disabled (410), pending again after
    its wait, or failed after the last attempt. Returns each delivery's new status; None (nothing written) for
    one whose lease was lost meanwhile (it ran out and another worker took it, or an admin skipped it)."""
    if not answered:
        return []
    held = {delivery.id: delivery for delivery in session.execute(
        select(WebhookDelivery).where(WebhookDelivery.id.in_([claimed.delivery_id for claimed, _ in answered]),
                                      WebhookDelivery.status == DeliveryStatus.PENDING)
        .order_by(WebhookDelivery.id).with_for_update()).scalars()}
    statuses = []
    for claimed, answer in answered:
        delivery = held.get(claimed.delivery_id)
        if delivery is None or delivery.lease != claimed.lease:
            statuses.append(None)
            continue
        delivery.last_status_code, delivery.last_error = answer.status_code, answer.error and answer.error[:200]
        delivery.lease = delivery.leased_until = None
        delivery.updated_at = now
        if answer.ok:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.DELIVERED, now, None
        elif answer.status_code == 410:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
            _disable(session, claimed.endpoint_id, now)
        else:
            wait = next_wait(delivery.attempts, schedule, answer.retry_after)
            if wait is None:
                delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
            else:
                delivery.next_attempt_at = now + wait
        statuses.append(delivery.status)
    return statuses


def _disable(session: Session, endpoint_id: int, now: datetime) -> None:
    """An endpoint that answered 410 Gone asked for nothing more: disabled (audited as the system)."""
    endpoint = session.execute(select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.status == EndpointStatus.ACTIVE).with_for_update()
    ).scalar_one_or_none()
    if endpoint is None:
        return
    before = summary(endpoint)
    endpoint.status, endpoint.disabled_at = EndpointStatus.DISABLED, now
    audit.record(session, audit.SYSTEM, "webhook.disabled", "webhook", endpoint.id, at=now, before=before,
                 after=summary(endpoint) | {"reason": "the endpoint answered 410 Gone"})


def backlog(session: Session, now: datetime) -> dict:
    """Deliveries to active endpoints not yet delivered, by status, and the age of the oldest pending one."""
    rows = session.execute(
        select(WebhookDelivery.status, func.count(), func.min(OutboxMessage.occurred_at))
        .join(OutboxMessage, OutboxMessage.id == WebhookDelivery.message_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookEndpoint.status == EndpointStatus.ACTIVE, WebhookDelivery.status.in_(OPEN))
        .group_by(WebhookDelivery.status)).all()
    counts = {status: 0 for status in OPEN}
    oldest = None
    for status, count, first in rows:
        counts[status] = count
        if status == DeliveryStatus.PENDING:
            oldest = first
    return {"pending": counts[DeliveryStatus.PENDING], "failed": counts[DeliveryStatus.FAILED],
            "oldest_pending_seconds": max(0.0, (now - oldest).total_seconds()) if oldest else 0.0}
