"""The outbox: what the bank's other systems hear of, written in the transaction of the change it reports.

``publish`` keeps a message for the caller's transaction; just before it commits, the audit seal (a
``before_commit`` hook) writes its messages, each with one delivery for every active endpoint subscribed to
its type: on PostgreSQL in one statement, the seal's own when the transaction has audit rows. A change that rolls
back (or a savepoint that does) tells nobody, one that commits is delivered at least once (``benefits
outbox run``, ``delivery``). A message is ``{id, type, occurred_at, data}``; its ``data`` names a customer
by the bank's id only, never by name, and carries no AUM (docs/webhooks/ holds the JSON Schema of each
type's ``data``). A delivery's stream is its customer ("" for a message about none): the
worker sends a stream's messages in the order they were written. Every producer writes a customer's
messages under that customer's row lock, so the order written is the order committed: a message cannot
be overtaken by a later one of the same customer that committed first (the lock is held until the commit,
after the messages are written).

The producers are here too, so the services they report on change by one call each: a customer's
evaluation (``customer_evaluated``: tier, grace, signals), a redemption's end (``redemption_changed``), an
activation (``version_activated``), and the job announcing lots about to expire (``notify_expiring``).
"""
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, delete, exists, insert, select, text
from sqlalchemy.orm import Session

from .. import db
from ..models import (Customer, DeliveryStatus, EndpointStatus, Lot, MessageType, OutboxMessage, Redemption,
                      WebhookDelivery, WebhookEndpoint)
from ..rules import Program

_MESSAGES, _DELIVERIES = OutboxMessage.__table__, WebhookDelivery.__table__
INSERT_MESSAGES = insert(_MESSAGES).returning(_MESSAGES.c.id, _MESSAGES.c.message_id)
INSERT_DELIVERIES = insert(_DELIVERIES)
SUBSCRIBERS = (select(WebhookEndpoint.id, WebhookEndpoint.types).where(WebhookEndpoint.status == EndpointStatus.ACTIVE)
               .order_by(WebhookEndpoint.id))
PENDING = "outbox_pending"
NO_CUSTOMER = ""  # the stream of messages about no customer (rule_version.activated)


def written_after(ctes: str = "") -> db.Hot:
    """PostgreSQL: one statement for a transaction's messages and their deliveries, in the order published,
    after the caller's ``ctes`` (data-modifying, answering nothing: the audit seal's), if any."""
    return db.Hot(text("WITH " + (ctes + ", " if ctes else "") + """messages AS (
    INSERT INTO outbox_messages (message_id, type, customer_id, occurred_at, data)
    SELECT message_id, type, customer_id, occurred_at, data
    FROM json_populate_recordset(NULL::outbox_messages, CAST(:messages AS json)) WITH ORDINALITY ORDER BY ordinality
    RETURNING id, type, customer_id, occurred_at
)
INSERT INTO webhook_deliveries (endpoint_id, message_id, stream, status, attempts, next_attempt_at, updated_at)
SELECT e.id, m.id, coalesce(m.customer_id, :no_customer), :pending, 0, m.occurred_at, m.occurred_at
FROM messages AS m JOIN webhook_endpoints AS e
    ON e.status = :active AND CAST(e.types AS jsonb) @> jsonb_build_array(m.type)
ORDER BY m.id, e.id"""))


WRITE_ON_POSTGRESQL = written_after()


def message_id() -> str:
    """A message's public id: the ``webhook-id`` of every attempt to deliver it."""
    return f"msg_{uuid.uuid4().hex}"


def plain(value):
    """``data`` as JSON holds it: dates and times in ISO 8601."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def publish(session: Session, type_: MessageType, data: dict, *, customer_id: str | None,
            now: datetime) -> None:
    """Keep a message for the caller's transaction: written, with its deliveries, when it commits."""
    db.defer(session, PENDING, {"message_id": message_id(), "type": type_, "customer_id": customer_id,
                                "occurred_at": now, "data": plain(data)})


def take(session: Session) -> list[dict]:
    """The transaction's messages, taken at its outermost commit (none when a savepoint is released): the
    audit seal writes them (``write``, or with its own statement: ``written_after``)."""
    return db.take_at_commit(session, PENDING)


def parameters(messages: list[dict], dialect) -> dict:
    return {"messages": db.json_rows(_MESSAGES, messages, dialect), "no_customer": NO_CUSTOMER,
            "pending": DeliveryStatus.PENDING, "active": EndpointStatus.ACTIVE}


def write(connection, messages: list[dict]) -> None:
    """Messages and their deliveries, on their own."""
    if not messages:
        return
    if connection.dialect.name == "postgresql":
        WRITE_ON_POSTGRESQL.rows(connection, parameters(messages, connection.dialect))
        return
    ids = {row.message_id: row.id for row in connection.execute(INSERT_MESSAGES, messages)}
    subscribers = [(row.id, set(row.types)) for row in connection.execute(SUBSCRIBERS)]
    deliveries = [{"endpoint_id": endpoint, "message_id": ids[message["message_id"]],
                   "stream": message["customer_id"] or NO_CUSTOMER, "status": DeliveryStatus.PENDING, "attempts": 0,
                   "next_attempt_at": message["occurred_at"], "updated_at": message["occurred_at"]}
                  for message in messages for endpoint, types in subscribers if message["type"] in types]
    if deliveries:
        connection.execute(INSERT_DELIVERIES, deliveries)


# ---------------------------------------------------------------- what a customer's evaluation tells

@dataclass(frozen=True)
class TierState:
    """What an evaluation may change about a customer: tier, the start of a downgrade's grace, signals."""

    tier: str | None
    below_since: date | None
    signals: frozenset[str]

    @classmethod
    def of(cls, customer: Customer) -> "TierState":
        return cls(customer.tier, customer.below_tier_since, frozenset(customer.signals or ()))


def customer_evaluated(session: Session, customer: Customer, before: TierState, *, qualified: str,
                       program: Program, as_of: date, now: datetime) -> None:
    """The messages of one evaluation: a downgrade's grace ending early, a tier change, a grace starting,
    signals raised and cleared."""
    after = TierState.of(customer)

    def send(type_: MessageType, **data) -> None:
        publish(session, type_, {"customer_id": customer.id, **data, "as_of": as_of, "rule_version": program.version},
                customer_id=customer.id, now=now)

    if before.below_since is not None and after.below_since is None and not _lower(after.tier, before.tier, program):
        send(MessageType.TIER_DOWNGRADE_CANCELLED, tier=after.tier)
    if after.tier != before.tier:
        send(MessageType.TIER_CHANGED, tier=after.tier, previous_tier=before.tier)
    if after.below_since is not None and before.below_since is None:
        send(MessageType.TIER_DOWNGRADE_SCHEDULED, tier=after.tier, lower_tier=qualified,
             effective_on=after.below_since + timedelta(days=program.downgrade_grace_days))
    for signal in sorted(after.signals - before.signals):
        send(MessageType.SIGNAL_RAISED, signal=signal)
    for signal in sorted(before.signals - after.signals):
        send(MessageType.SIGNAL_CLEARED, signal=signal)


def _lower(tier: str | None, than: str | None, program: Program) -> bool:
    """Whether ``tier`` is below ``than`` in the programme's tiers (highest first)."""
    tiers = program.tier_ids
    return tier in tiers and than in tiers and tiers.index(tier) > tiers.index(than)


# ---------------------------------------------------------------- redemptions, activations

REDEMPTION_TYPES = {"confirmed": MessageType.REDEMPTION_CONFIRMED, "cancelled": MessageType.REDEMPTION_CANCELLED,
                    "lapsed": MessageType.REDEMPTION_LAPSED}


def redemption_changed(session: Session, redemption: Redemption, previous: str, *, now: datetime) -> None:
    """A redemption confirmed, cancelled or lapsed (its new status)."""
    changed_at = {"confirmed": redemption.confirmed_at, "cancelled": redemption.cancelled_at,
                  "lapsed": redemption.lapsed_at}[redemption.status]
    publish(session, REDEMPTION_TYPES[redemption.status], {
        "redemption_id": redemption.id, "customer_id": redemption.customer_id, "partner_id": redemption.partner_id,
        "benefit": redemption.benefit, "quantity": redemption.quantity, "status": redemption.status,
        "previous_status": previous, "changed_at": changed_at, "rule": redemption.rule_id,
        "rule_version": redemption.rule_version}, customer_id=redemption.customer_id, now=now)


def version_activated(session: Session, version: int, previous: int | None, *, now: datetime) -> None:
    publish(session, MessageType.RULE_VERSION_ACTIVATED, {"version": version, "previous_version": previous},
            customer_id=None, now=now)


# ---------------------------------------------------------------- points about to expire

def notify_expiring(session: Session, program: Program, now: datetime, limit: int = 500) -> int:
    """One ``points.expiring`` message for each lot with unspent points that expires within the programme's
    ``points.expiry_notice_days``, at most once a lot; up to ``limit`` lots, returns how many.

    ``benefits points notify-expiring`` calls it, one transaction a time, until it answers 0. Lots are
    taken with ``SKIP LOCKED`` on PostgreSQL (SQLite serialises writers), so two runs at once announce
    each lot once.
    """
    horizon = now + timedelta(days=program.expiry_notice_days)
    lots = session.execute(
        select(Lot).join(Customer, Customer.id == Lot.customer_id)
        .where(Lot.expiry_notified_at.is_(None), Lot.remaining > 0, Lot.expires_at > now, Lot.expires_at <= horizon)
        .order_by(Lot.expires_at, Lot.id).limit(limit)
        .with_for_update(skip_locked=True)).scalars().all()  # with their customers, as every producer
    for lot in lots:
        lot.expiry_notified_at = now
        publish(session, MessageType.POINTS_EXPIRING, {
            "customer_id": lot.customer_id, "lot_id": lot.id, "points": lot.remaining, "expires_at": lot.expires_at,
            "earned_at": lot.earned_at, "rule": lot.rule_id, "expiry_notice_days": program.expiry_notice_days},
            customer_id=lot.customer_id, now=now)
    return len(lots)


# ---------------------------------------------------------------- pruning

def prune(session: Session, now: datetime, retention: timedelta, limit: int = 1000) -> int:
    """Delete up to ``limit`` messages older than ``retention`` that no active endpoint still waits for
    (every delivery to an active endpoint delivered or skipped), with their deliveries; returns how many."""
    waiting = exists().where(
        WebhookDelivery.message_id == OutboxMessage.id,
        WebhookDelivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.FAILED)),
        WebhookDelivery.endpoint_id.in_(
            select(WebhookEndpoint.id).where(WebhookEndpoint.status == EndpointStatus.ACTIVE)))
    ids = session.execute(
        select(OutboxMessage.id).where(and_(OutboxMessage.occurred_at < now - retention, ~waiting))
        .order_by(OutboxMessage.id).limit(limit)).scalars().all()
    if ids:
        session.execute(delete(WebhookDelivery).where(WebhookDelivery.message_id.in_(ids)))
        session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))
    return len(ids)
