"""SQLAlchemy 2 typed mappings: the tables of the service.

Points and quotas are integers. Money (amounts, AUM) is stored in minor units
(fen) as integers and exposed as ``Decimal``. Times are stored in UTC and come
back timezone-aware on every database.
"""
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Any, Optional

from sqlalchemy import (JSON, BigInteger, CheckConstraint, Date, DateTime, Float, ForeignKey, Index, Integer, String,
                        Text, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from .db import Base

BigId = BigInteger().with_variant(Integer, "sqlite")


class Role(StrEnum):
    """Who a key belongs to, and so which prefix of the API it reaches."""

    APP = "app"
    PARTNER = "partner"
    ADMIN = "admin"


class PartnerKind(StrEnum):
    HOSPITAL = "hospital"
    HOTEL = "hotel"
    LOUNGE = "lounge"
    EDUCATION = "education"
    OTHER = "other"


class VersionStatus(StrEnum):
    """A rule version's life: draft → approved (by another admin) → active → retired."""

    DRAFT = "draft"
    APPROVED = "approved"
    ACTIVE = "active"
    RETIRED = "retired"


class SourceType(StrEnum):
    """How a rule document was uploaded."""

    JSON = "json"
    YAML = "yaml"


class EventType(StrEnum):
    TRANSACTION = "transaction"
    LEARNING = "learning"


class EntryKind(StrEnum):
    """The kinds of ledger entry; only ``earn`` adds points."""

    EARN = "earn"
    REDEEM = "redeem"
    EXPIRE = "expire"
    REVERSE = "reverse"
    ADJUST = "adjust"


class Source(StrEnum):
    """Where an entitlement comes from: a benefit rule's grant, or a reward bought with points."""

    RULE = "rule"
    REWARD = "reward"


class MovementKind(StrEnum):
    """How a lot's unspent remainder changed: as the ledger's kinds, or carried in (``opening``) when lot
    movements began to be kept."""

    EARN = "earn"
    REDEEM = "redeem"
    EXPIRE = "expire"
    REVERSE = "reverse"
    ADJUST = "adjust"
    OPENING = "opening"


class AdjustmentStatus(StrEnum):
    """A manual correction of points: pending until an admin other than its author approves it."""

    PENDING = "pending"
    APPROVED = "approved"


class SignalChangeKind(StrEnum):
    RAISED = "raised"
    CLEARED = "cleared"


class RedemptionStatus(StrEnum):
    """held → confirmed | cancelled | lapsed; a confirmed one may still be cancelled."""

    HELD = "held"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    LAPSED = "lapsed"


class MessageType(StrEnum):
    """What the outbox tells the bank's other systems (docs/webhooks.md; each ``data`` has a JSON Schema)."""

    TIER_CHANGED = "tier.changed"
    TIER_DOWNGRADE_SCHEDULED = "tier.downgrade_scheduled"
    TIER_DOWNGRADE_CANCELLED = "tier.downgrade_cancelled"
    SIGNAL_RAISED = "signal.raised"
    SIGNAL_CLEARED = "signal.cleared"
    POINTS_EXPIRING = "points.expiring"
    REDEMPTION_CONFIRMED = "redemption.confirmed"
    REDEMPTION_CANCELLED = "redemption.cancelled"
    REDEMPTION_LAPSED = "redemption.lapsed"
    RULE_VERSION_ACTIVATED = "rule_version.activated"


class EndpointStatus(StrEnum):
    """active → disabled (it answered 410 Gone) | deleted (by an admin)."""

    ACTIVE = "active"
    DISABLED = "disabled"
    DELETED = "deleted"


class DeliveryStatus(StrEnum):
    """pending (retried on the schedule) → delivered | failed (after the last attempt) | skipped (by an admin);
    a failed one goes back to pending when an admin retries it."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"


def one_of(column: str, values: type[StrEnum]) -> CheckConstraint:
    """A CHECK constraint keeping ``column`` to the values of an enum (named ``ck_<table>_<column>``)."""
    listed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({listed})", name=column)


class UTCDateTime(TypeDecorator):
    """A timezone-aware datetime, stored in UTC on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    def bind_processor(self, dialect):
        """On SQLite, the text SQLAlchemy's ``DATETIME`` stores (``2026-12-07 06:15:00.000000``, in UTC), written
        in one step: a bulk insert binds a few times a row, and the two steps were a tenth of its time."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        bind = self.process_bind_param

        def process(value):
            value = bind(value, dialect)
            return None if value is None else value.isoformat(" ", "microseconds")
        return process


class Money(TypeDecorator):
    """A Decimal with two places, stored as an integer number of minor units."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return int((Decimal(value) * 100).to_integral_value())

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return (Decimal(value) / 100).quantize(Decimal("0.01"))


class ExactDecimal(TypeDecorator):
    """A Decimal kept exactly as given (an exchange rate), stored as its text."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else str(Decimal(value))

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(value)


class Partner(Base):
    __tablename__ = "partners"
    __table_args__ = (one_of("kind", PartnerKind),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    benefits: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (one_of("role", Role),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    partner_id: Mapped[Optional[str]] = mapped_column(ForeignKey("partners.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)  # to within LAST_USED_EVERY
    revoked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    aum: Mapped[Decimal] = mapped_column(Money)
    annual_contribution: Mapped[Decimal] = mapped_column(Money)
    tags: Mapped[list] = mapped_column(JSON)
    birthday: Mapped[Optional[str]] = mapped_column(String(5))
    customer_since: Mapped[date] = mapped_column(Date)
    last_as_of: Mapped[date] = mapped_column(Date)
    tier: Mapped[Optional[str]] = mapped_column(String(64))
    tier_version: Mapped[int] = mapped_column(Integer)
    below_tier_since: Mapped[Optional[date]] = mapped_column(Date)
    aum_growth_3m: Mapped[Optional[float]] = mapped_column(Float)
    signals: Mapped[list] = mapped_column(JSON)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AumSnapshot(Base):
    __tablename__ = "aum_snapshots"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, primary_key=True)
    aum: Mapped[Decimal] = mapped_column(Money)


class TierChange(Base):
    __tablename__ = "tier_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    from_tier: Mapped[Optional[str]] = mapped_column(String(64))
    to_tier: Mapped[str] = mapped_column(String(64))
    rule_version: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[date] = mapped_column(Date)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SignalChange(Base):
    """A signal raised on a customer, or cleared: the history behind the signals raised per month."""

    __tablename__ = "signal_changes"
    __table_args__ = (Index("ix_signal_changes_changed_at", "changed_at", "kind", "signal"),
                      one_of("kind", SignalChangeKind))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    signal: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))
    rule_version: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CustomerGrant(Base):
    """A benefit rule that held for a customer at its last evaluation, with the tier it held then."""

    __tablename__ = "customer_grants"
    __table_args__ = (Index("ix_customer_grants_benefit_tier", "benefit", "tier"),)

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    benefit: Mapped[str] = mapped_column(String(64))
    tier: Mapped[str] = mapped_column(String(64))
    quota: Mapped[Optional[int]] = mapped_column(Integer)  # None: unlimited
    per: Mapped[Optional[str]] = mapped_column(String(16))
    rule_version: Mapped[int] = mapped_column(Integer)


class RuleVersion(Base):
    __tablename__ = "rule_versions"
    __table_args__ = (
        Index(
            "uq_rule_versions_one_active", "status", unique=True,
            postgresql_where=text("status = 'active'"), sqlite_where=text("status = 'active'"),
        ),
        one_of("status", VersionStatus),
        one_of("source_type", SourceType),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    author: Mapped[str] = mapped_column(String(100))
    author_key_id: Mapped[Optional[int]] = mapped_column(Integer)
    approver: Mapped[Optional[str]] = mapped_column(String(100))
    approver_key_id: Mapped[Optional[int]] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    activated_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    document: Mapped[dict] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(Text)
    source_type: Mapped[str] = mapped_column(String(8))


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (one_of("type", EventType),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    type: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    amount: Mapped[Optional[Decimal]] = mapped_column(Money)  # as reported, in ``currency``
    refunded: Mapped[Decimal] = mapped_column(Money)  # in ``currency`` too
    currency: Mapped[Optional[str]] = mapped_column(String(3))
    fx_rate: Mapped[Optional[Decimal]] = mapped_column(ExactDecimal)  # None: not converted (rate 1)
    body_hash: Mapped[str] = mapped_column(String(64))
    points: Mapped[int] = mapped_column(BigInteger)
    rule_version: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Lot(Base):
    """Points earned by one award: spent oldest first, expiring as a whole."""

    __tablename__ = "lots"
    __table_args__ = (
        Index("ix_lots_customer_open", "customer_id", "expires_at", "id"),
        # the lots with points left, by expiry: what the liability report adds up
        Index("ix_lots_unspent", "expires_at", "remaining", postgresql_where=text("remaining > 0"),
              sqlite_where=text("remaining > 0")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    event_id: Mapped[Optional[str]] = mapped_column(ForeignKey("events.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    rule_version: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    earned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    expiry_notified_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)  # its points.expiring message


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_customer", "customer_id", "id"),
        Index("ix_ledger_entries_posted", "created_at", "kind", "points"),  # covers the points roll-forward
        one_of("kind", EntryKind),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(8))
    points: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[Optional[str]] = mapped_column(String(64), index=True)
    lot_id: Mapped[Optional[int]] = mapped_column(BigInteger)
    rule_version: Mapped[Optional[int]] = mapped_column(Integer)
    rule_id: Mapped[Optional[str]] = mapped_column(String(64))
    reference: Mapped[Optional[str]] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LotMovement(Base):
    """A change of one lot's unspent remainder, so that what was outstanding can be told for a past day.

    The movements of a lot add up to its ``remaining``; ``expires_at`` is the lot's.
    """

    __tablename__ = "lot_movements"
    __table_args__ = (Index("ix_lot_movements_posted", "posted_at", "kind", "expires_at", "points"),
                      one_of("kind", MovementKind))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    points: Mapped[int] = mapped_column(BigInteger)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReportCutover(Base):
    """The moment lot movements began to be kept, when the database held points already: the liability
    report refuses the days before it. No row: the history is complete."""

    __tablename__ = "report_cutover"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Adjustment(Base):
    """A manual correction of a customer's points: an ``adjust`` entry once another admin approves it."""

    __tablename__ = "adjustments"
    __table_args__ = (one_of("status", AdjustmentStatus),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    points: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), index=True)
    author: Mapped[str] = mapped_column(String(100))
    author_key_id: Mapped[Optional[int]] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approver: Mapped[Optional[str]] = mapped_column(String(100))
    approver_key_id: Mapped[Optional[int]] = mapped_column(Integer)
    approved_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    ledger_entry_id: Mapped[Optional[int]] = mapped_column(BigInteger)


class FxRate(Base):
    """Programme-currency units per unit of ``currency``, in force from ``valid_from`` until the next one."""

    __tablename__ = "fx_rates"
    __table_args__ = (Index("ix_fx_rates_currency_valid_from", "currency", "valid_from", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal] = mapped_column(ExactDecimal)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    set_by: Mapped[str] = mapped_column(String(100))
    set_by_key_id: Mapped[Optional[int]] = mapped_column(Integer)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CapUsage(Base):
    """Points one earning rule awarded one customer in one period."""

    __tablename__ = "cap_usage"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period_start: Mapped[str] = mapped_column(String(32), primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger)


class AuditRecord(Base):
    """One row of the hash-chained audit trail; ``seq`` is assigned under the tip's lock."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[Optional[str]] = mapped_column(String(64))
    actor_name: Mapped[str] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(100), index=True)
    before: Mapped[Optional[Any]] = mapped_column(JSON)
    after: Mapped[Optional[Any]] = mapped_column(JSON)
    request_id: Mapped[Optional[str]] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditTip(Base):
    """The single row naming the chain's last seq and hash; its lock serialises sealing."""

    __tablename__ = "audit_tip"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"

    key_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    route: Mapped[str] = mapped_column(String(200), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Pass(Base):
    """A short-lived code a customer shows a partner; only its hash is stored."""

    __tablename__ = "passes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    benefit: Mapped[Optional[str]] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    customer: Mapped[Customer] = relationship(lazy="raise_on_sql")  # loaded with the pass by passes.find


class FailedAttempt(Base):
    """A failed pass look-up (by a key) or console sign-in (from an address): the sliding window of a rate
    limit, shared by all processes."""

    __tablename__ = "failed_attempts"
    __table_args__ = (Index("ix_failed_attempts_kind_subject_at", "kind", "subject", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConsoleSession(Base):
    """A web console session: the cookie holds a random id, of which only the hash is stored."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)


class RewardUnits(Base):
    """Units of a benefit a customer bought with points: a lifetime entitlement whose rule is the reward id."""

    __tablename__ = "reward_units"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    reward_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    benefit: Mapped[str] = mapped_column(String(64))
    units: Mapped[int] = mapped_column(Integer)
    rule_version: Mapped[int] = mapped_column(Integer)


class Redemption(Base):
    """A partner's use of a customer's entitlement: held, then confirmed, cancelled or lapsed.

    It counts against the quota of the rule (or reward) it drew on, in the
    period in which it was held (``period``, as in cap usage: ``year:2026-01-01``).
    """

    __tablename__ = "redemptions"
    __table_args__ = (
        Index("ix_redemptions_usage", "customer_id", "rule_id", "period"),
        Index("ix_redemptions_partner", "partner_id", "id"),
        Index("ix_redemptions_status_expiry", "status", "hold_expires_at"),
        Index("ix_redemptions_partner_confirmed", "partner_id", "confirmed_at"),
        Index("ix_redemptions_partner_cancelled", "partner_id", "cancelled_at"),
        one_of("status", RedemptionStatus),
        one_of("source", Source),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    pass_id: Mapped[int] = mapped_column(ForeignKey("passes.id"))
    benefit: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(8))
    rule_id: Mapped[str] = mapped_column(String(64))
    rule_version: Mapped[int] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    hold_expires_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    lapsed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    tier: Mapped[Optional[str]] = mapped_column(String(64))  # the customer's when it was held
    unit_price: Mapped[Optional[Decimal]] = mapped_column(Money)  # the catalog's settlement price at confirmation


class OutboxMessage(Base):
    """A message for the bank's other systems, written in the transaction of the change it reports.

    ``id`` orders messages as they were written; ``message_id`` is the public id (the ``webhook-id`` of
    every attempt). Pruned once delivered (or skipped) to every active endpoint and older than the
    retention period.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (one_of("type", MessageType),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[Optional[str]] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    data: Mapped[dict] = mapped_column(JSON)


class WebhookEndpoint(Base):
    """An admin's subscription: where to send which types, and the secret that signs (stored encrypted)."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (one_of("status", EndpointStatus),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    types: Mapped[list] = mapped_column(JSON)
    description: Mapped[Optional[str]] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))
    secret: Mapped[str] = mapped_column(Text)  # a Fernet token of the whsec_ secret
    previous_secret: Mapped[Optional[str]] = mapped_column(Text)  # signs too until previous_secret_expires_at
    previous_secret_expires_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    secret_rotated_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    disabled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    deleted_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One message to one endpoint: its stream (the customer, "" for messages about no customer), its status
    and attempts, and the lease of the worker sending it."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # one delivery per endpoint and message (a message's stream is its customer's), and the index the
        # head-of-stream check probes: no other index may look better to the planner for it
        Index("uq_webhook_deliveries_stream", "endpoint_id", "stream", "message_id", unique=True),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),  # an endpoint's deliveries, paged
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at", "id"),  # claimed in this order
        one_of("status", DeliveryStatus),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"))
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox_messages.id"), index=True)
    stream: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    leased_until: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    lease: Mapped[Optional[str]] = mapped_column(String(32))
    last_status_code: Mapped[Optional[int]] = mapped_column(Integer)
    last_error: Mapped[Optional[str]] = mapped_column(String(200))
    delivered_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
