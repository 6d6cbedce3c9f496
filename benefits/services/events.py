"""Events: transactions and learning activity, idempotent by their own id.

An event's awards come from the active rules, are cut to what remains under
each rule's cap for the customer and the period (in the programme's timezone,
by the event's ``occurred_at``), and become lots and ``earn`` entries. An
amount in another currency than the programme's is converted first, at the
rate in force at ``occurred_at`` (``fx``): the rules see the converted amount.
"""
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import (JSON, BigInteger, String, and_, bindparam, cast, func, insert, literal, literal_column, null,
                        select, text, union_all, update)
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ..errors import DomainError, EventConflict, Invalid, NoFxRate, NotFound, OccurredInFuture
from ..models import CapUsage, Customer, EntryKind, Event, EventType, LedgerEntry, Lot, LotMovement, MovementKind
from ..rules import Program
from .. import db, metrics
from . import audit, customers, fx, ledger, tiers
from .periods import month_end_after, period_key
from .profiles import CUSTOMER_FIELDS, rule_fields

CLOCK_SKEW = timedelta(minutes=5)  # how far an event may be dated after the server's clock

@dataclass(frozen=True)
class ReportedEvent:
    """A transaction or learning activity as the caller reports it: the body of ``POST /api/v1/events``."""

    id: str
    customer_id: str
    type: EventType
    occurred_at: datetime
    amount: Decimal | None = None
    currency: str | None = None
    category: str | None = None
    channel: str | None = None
    activity: str | None = None
    course_id: str | None = None

    def rule_fields(self) -> dict:
        """What earning rules read about the event."""
        return {"type": self.type, "amount": self.amount, "currency": self.currency, "category": self.category,
                "channel": self.channel, "activity": self.activity, "course_id": self.course_id}


def body_hash(event: ReportedEvent) -> str:
    """The digest that tells a replay (same body) from a conflict (same id, another body)."""
    text = json.dumps(vars(event), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Recorded:
    """What became of one event of a chunk: ``created`` (with its answer), ``duplicate`` (the first answer
    again) or ``error`` (the refusal, as the single-event path raises it)."""

    id: str
    status: str
    answer: dict | None = None
    refusal: DomainError | None = None

    def result(self) -> dict:
        """The event's line in a batch's answer."""
        if self.refusal is None:
            return {"id": self.id, "status": self.status, "points": self.answer["points"], "error": None}
        return {"id": self.id, "status": "error", "points": None, "error": {
            "reason": self.refusal.reason, "message": self.refusal.message, "errors": self.refusal.errors or []}}


@dataclass
class _Account:
    """A locked customer during a chunk (its row, or the ORM object once its tier was re-evaluated): its
    balance as the chunk's events change it, and what earning rules read of it (once its tier is current)."""

    customer: object
    balance: int
    stored_balance: int
    profile: dict | None = None


# The statements of recording, built once: constructing and compiling SQL costs more than running it.
_CUSTOMERS, _EVENTS, _LOTS, _ENTRIES, _CAPS, _MOVEMENTS = (model.__table__ for model in (
    Customer, Event, Lot, LedgerEntry, CapUsage, LotMovement))
# What recording reads of a customer: its balance, whether its tier is current, and what earning rules read.
_LOCKED_COLUMNS = ("id", "balance", "tier_version", *CUSTOMER_FIELDS)
LOCK_CUSTOMERS = db.Hot(select(*(_CUSTOMERS.c[name] for name in _LOCKED_COLUMNS))
                        .where(_CUSTOMERS.c.id.in_(bindparam("ids", expanding=True)))
                        .order_by(_CUSTOMERS.c.id).with_for_update())
# The events already recorded (``event`` rows) and the cap usage (``usage`` rows) in one statement, read once
# the customers are locked, so that it sees what the chunks before committed. The ids, and the usage keys
# [customer, rule, period], go as two JSON arrays. On PostgreSQL each is looked up on its own by its primary key
# (NULL: none yet): an IN list or a join would leave the choice to the planner, which cannot know how many a JSON
# parameter holds and, while a table is small, scans it whole, then keeps that plan for its prepared statement.
def _json_arrays(dialect: str, ids: str = "ids"):
    """The parameters ``ids`` and ``keys`` (two JSON arrays) as tables ``i`` and ``k`` of one column, ``value``,
    and a key's three parts."""
    def elements(name: str, alias: str, on_postgresql):
        values = (on_postgresql(cast(bindparam(name), JSON)) if dialect == "postgresql"
                  else func.json_each(bindparam(name)))
        return values.table_valued("value").alias(alias)

    keys = elements("keys", "k", func.json_array_elements)
    return (elements(ids, "i", func.json_array_elements_text), keys,
            [keys.c.value.op("->>")(literal_column(str(n))) for n in range(3)])


def _looked_up(ids, key):
    """PostgreSQL: a column of the event an id names, and the points a key's cap usage holds, each a subquery
    looked up by its primary key (NULL: none yet)."""
    def recorded(column):
        return select(column).where(_EVENTS.c.id == ids.c.value).scalar_subquery()

    return recorded, (select(_CAPS.c.points)
                      .where(_CAPS.c.customer_id == key[0], _CAPS.c.rule_id == key[1], _CAPS.c.period_start == key[2])
                      .scalar_subquery())


def _known_and_used_statement(dialect: str):
    ids, keys, key = _json_arrays(dialect)
    if dialect == "sqlite":  # its planner looks each up by its key in a join as well, and a join costs it less
        return union_all(
            select(literal("event").label("row"), _EVENTS.c.id.label("key"), _EVENTS.c.body_hash.label("hash_or_rule"),
                   cast(null(), String).label("period"), cast(null(), BigInteger).label("points"), _EVENTS.c.response)
            .join_from(ids, _EVENTS, _EVENTS.c.id == ids.c.value),
            select(literal("usage"), _CAPS.c.customer_id, _CAPS.c.rule_id, _CAPS.c.period_start, _CAPS.c.points,
                   cast(null(), JSON))
            .join_from(keys, _CAPS, and_(_CAPS.c.customer_id == key[0], _CAPS.c.rule_id == key[1],
                                         _CAPS.c.period_start == key[2])))
    recorded, points = _looked_up(ids, key)
    return union_all(
        select(literal("event").label("row"), cast(ids.c.value, String).label("key"),
               recorded(_EVENTS.c.body_hash).label("hash_or_rule"), cast(null(), String).label("period"),
               cast(null(), BigInteger).label("points"), recorded(_EVENTS.c.response).label("response"))
        .select_from(ids),
        select(literal("usage"), key[0], key[1], key[2], points, cast(null(), JSON)).select_from(keys))


KNOWN_AND_USED = db.Hot(_known_and_used_statement("postgresql"), on_sqlite=_known_and_used_statement("sqlite"))


def _lock_and_read_statement():
    """PostgreSQL: the customers locked (``LOCK_CUSTOMERS``), and in the same statement what ``KNOWN_AND_USED``
    reads, as JSON on one more row (``id`` NULL), so that a chunk starts with one round trip, not two.

    Under READ COMMITTED the statement reads the events and the usage as they were when it began, before it
    waited for a lock: a chunk that held one of the customers and committed meanwhile may have written some.
    Such a chunk updated the customer's row (a chunk that awards points changes the balance; cap usage grows
    only with points), so each row answers its ``xmin`` as locked and as the statement's snapshot saw it: when
    they differ, the events and usage are read again, now that the locks are held. A chunk that wrote events
    of no points without changing the row is met by the events' primary key (the unit of work runs again).
    """
    seen = _CUSTOMERS.alias("seen")
    locked = (select(*(_CUSTOMERS.c[name] for name in _LOCKED_COLUMNS),
                     cast(literal_column("customers.xmin"), String).label("locked_xmin"),
                     select(cast(literal_column("seen.xmin"), String)).where(seen.c.id == _CUSTOMERS.c.id)
                     .scalar_subquery().label("seen_xmin"))
              .where(_CUSTOMERS.c.id.in_(bindparam("ids", expanding=True)))
              .order_by(_CUSTOMERS.c.id).with_for_update().cte("locked").prefix_with("MATERIALIZED"))
    ids, keys, key = _json_arrays("postgresql", ids="event_ids")
    recorded, points = _looked_up(ids, key)
    known = (select(func.json_agg(func.json_build_array(ids.c.value, recorded(_EVENTS.c.body_hash),
                                                         recorded(_EVENTS.c.response))))
             .select_from(ids).scalar_subquery())
    used = select(func.json_agg(func.json_build_array(key[0], key[1], key[2], points))).select_from(keys).scalar_subquery()
    return union_all(
        select(*locked.c, cast(null(), JSON).label("known"), cast(null(), JSON).label("used")),
        select(*(cast(null(), column.type) for column in locked.c), known, used))


LOCK_AND_READ = db.Hot(_lock_and_read_statement())
INSERT_EVENTS = insert(_EVENTS)
# Lots are inserted in the chunk's order and found again by (event, rule): asking for RETURNING in parameter order
# would make SQLAlchemy insert them one statement a row on SQLite.
INSERT_LOTS = insert(_LOTS).returning(_LOTS.c.id, _LOTS.c.event_id, _LOTS.c.rule_id)
INSERT_ENTRIES = insert(_ENTRIES)
INSERT_MOVEMENTS = insert(_MOVEMENTS)


_upsert = sqlite.insert(_CAPS)
# Cap usage written as it is now, inserted or updated; RETURNING lets SQLAlchemy send the rows as one multi-row
# statement (its "insertmanyvalues").
STORE_CAPS = _upsert.on_conflict_do_update(
    index_elements=[_CAPS.c.customer_id, _CAPS.c.rule_id, _CAPS.c.period_start],
    set_={"points": _upsert.excluded.points}).returning(_CAPS.c.customer_id)
UPDATE_BALANCES = update(_CUSTOMERS).where(_CUSTOMERS.c.id == bindparam("c")).values(balance=bindparam("b"))
# On PostgreSQL a chunk's rows go in with one statement: there a round trip costs more than the rows it carries.
# The lots are numbered, and their entries and movements written, in the chunk's order; an entry finds its lot
# by event and rule (an event earns once a rule: rule ids are unique in a programme).
_WRITE_ON_POSTGRESQL = """
WITH new_events AS (
    INSERT INTO events SELECT * FROM json_populate_recordset(NULL::events, CAST(:events AS json))
), new_lots AS (
    INSERT INTO lots (customer_id, event_id, rule_id, rule_version, points, remaining, earned_at, available_at,
                      expires_at)
    SELECT customer_id, event_id, rule_id, rule_version, points, remaining, earned_at, available_at, expires_at
    FROM json_populate_recordset(NULL::lots, CAST(:lots AS json)) WITH ORDINALITY ORDER BY ordinality
    RETURNING id, event_id, rule_id, remaining, expires_at
), new_entries AS (
    INSERT INTO ledger_entries (customer_id, kind, points, balance_after, event_id, lot_id, rule_version, rule_id,
                                created_at)
    SELECT e.customer_id, e.kind, e.points, e.balance_after, e.event_id, l.id, e.rule_version, e.rule_id,
           e.created_at
    FROM json_populate_recordset(NULL::ledger_entries, CAST(:entries AS json)) WITH ORDINALITY AS e
    JOIN new_lots AS l ON l.event_id = e.event_id AND l.rule_id = e.rule_id ORDER BY e.ordinality
), new_movements AS (
    INSERT INTO lot_movements (lot_id, kind, points, posted_at, expires_at)
    SELECT id, :earn, remaining, CAST(:now AS timestamptz), expires_at FROM new_lots WHERE remaining > 0 ORDER BY id
), usage AS (
    INSERT INTO cap_usage SELECT * FROM json_populate_recordset(NULL::cap_usage, CAST(:usage AS json))
    ON CONFLICT (customer_id, rule_id, period_start) DO UPDATE SET points = EXCLUDED.points
), balances AS (
    {balances}
)
SELECT id, event_id, rule_id FROM new_lots"""
# The balances go as a JSON object of id → balance. The planner takes a JSON parameter for a hundred rows, and
# would rather scan a small customers table whole than look a hundred customers up: a few customers (single
# events, small batches) are named in an IN list, and so looked up by their key; a chunk's many are joined.
FEW_BALANCES = 100
WRITE_ON_POSTGRESQL = {
    "few": db.Hot(text(_WRITE_ON_POSTGRESQL.format(balances=(
        "UPDATE customers SET balance = CAST(CAST(:balances AS json) ->> customers.id AS bigint) "
        "WHERE customers.id IN :changed"))).bindparams(bindparam("changed", expanding=True, type_=String))),
    "many": db.Hot(text(_WRITE_ON_POSTGRESQL.format(balances=(
        "UPDATE customers SET balance = CAST(b.value AS bigint) "
        "FROM json_each_text(CAST(:balances AS json)) AS b WHERE customers.id = b.key")))),
}


def record(session: Session, program: Program, reported: ReportedEvent, *, actor: audit.Actor,
           now: datetime) -> tuple[dict, bool]:
    """Record one event; returns its answer and whether it was created (False: a replay)."""
    recorded = record_many(session, program, [reported], actor=actor, now=now)[0]
    if recorded.refusal is not None:
        raise recorded.refusal
    return recorded.answer, recorded.status == "created"


def record_many(session: Session, program: Program, reported: list[ReportedEvent], *,
                actor: audit.Actor | Sequence[audit.Actor], now: datetime) -> list[Recorded]:
    """Record events as a set: a few reads, the rules in memory, one multi-row insert a table.

    Each event is answered as it would be alone, in the order given: refused if
    dated more than ``CLOCK_SKEW`` after ``now`` (it would earn under the caps of
    a period that has not begun), for an unknown customer, or when its currency
    has no exchange rate in force at ``occurred_at`` (the chunk's rates are read
    once, before the rules are evaluated); a replay of an event
    recorded before (or earlier in the chunk) answers its first answer, the same
    id with another body is a conflict. The chunk's customers are locked in the
    order of their ids, so two chunks cannot deadlock; caps, debts and balances
    are carried from one event to the next in memory. ``actor`` is who reports
    them all, or each event's own (events posted at once by several callers).
    """
    connection = session.connection()
    accounts, known, usage = _lock_and_read(connection, program, reported, now)
    rates = fx.Rates.load(connection, program, [(e.currency, e.occurred_at) for e in reported if e.amount is not None])
    writes = _Writes()
    actors = [actor] * len(reported) if isinstance(actor, audit.Actor) else actor
    outcomes = []
    for event, by in zip(reported, actors):
        outcomes.append(_one(session, program, event, accounts, known, usage, rates, writes, actor=by, now=now))
    writes.flush(session, program, usage, accounts, now=now)
    return outcomes


def _too_late(event: ReportedEvent, now: datetime) -> bool:
    return event.occurred_at > now + CLOCK_SKEW


def _lock_and_read(connection, program: Program, reported: list[ReportedEvent],
                   now: datetime) -> tuple[dict[str, _Account], dict, dict]:
    """The chunk's customers, locked in the order of their ids (PostgreSQL; SQLite serialises writers), then
    the events of the chunk recorded before (``id → (body hash, answer)``) and ``(customer, rule, period) →
    [points used, points stored]`` for every capped rule an event of the chunk may be awarded by (points
    stored None: no row yet; the chunk's writes store the ones that changed)."""
    customer_ids = {event.customer_id for event in reported if not _too_late(event, now)}
    if not customer_ids:
        return {}, {}, {}
    event_ids = json.dumps(list({event.id for event in reported}))
    if connection.dialect.name != "postgresql":
        accounts = _accounts(LOCK_CUSTOMERS.rows(connection, {"ids": sorted(customer_ids)}))
        return accounts, *_known_and_used(connection, event_ids, _usage_keys(program, reported, accounts))
    rows = LOCK_AND_READ.rows(connection, {"ids": sorted(customer_ids), "event_ids": event_ids,
                                           "keys": json.dumps(_usage_keys(program, reported, customer_ids))})
    locked = [row for row in rows if row.id is not None]
    accounts = _accounts(locked)
    if any(row.locked_xmin != row.seen_xmin for row in locked):  # changed by a chunk that committed meanwhile
        return accounts, *_known_and_used(connection, event_ids, _usage_keys(program, reported, accounts))
    [read] = [row for row in rows if row.id is None]
    known = {event_id: (digest, answer) for event_id, digest, answer in read.known or () if digest is not None}
    usage = {(customer, rule, period): [points, points] for customer, rule, period, points in read.used or ()
             if points is not None}
    return accounts, known, usage


def _accounts(rows) -> dict[str, _Account]:
    return {row.id: _Account(row, row.balance, row.balance) for row in rows}


def _usage_keys(program: Program, reported: list[ReportedEvent], customer_ids) -> list[tuple]:
    """The (customer, rule, period) of every capped rule an event of the chunk may be awarded by."""
    capped = {on: program.capped_rules(on) for on in EventType}
    keys = set()
    for event in reported:
        if event.customer_id in customer_ids:
            for rule, per in capped[event.type]:
                keys.add((event.customer_id, rule, period_key(per, event.occurred_at, program.timezone)))
    return list(keys)


def _known_and_used(connection, event_ids: str, keys: list[tuple]) -> tuple[dict, dict]:
    """``KNOWN_AND_USED``, read once the customers are locked: what ``_lock_and_read`` answers."""
    known, usage = {}, {}
    for row in KNOWN_AND_USED.rows(connection, {"ids": event_ids, "keys": json.dumps(keys)}):
        if row.row == "event" and row.hash_or_rule is not None:
            known[row.key] = (row.hash_or_rule, row.response)
        elif row.row == "usage" and row.points is not None:
            usage[row.key, row.hash_or_rule, row.period] = [row.points, row.points]
    return known, usage


def _one(session, program, event: ReportedEvent, accounts, known, usage, rates, writes, *, actor,
         now) -> Recorded:
    if _too_late(event, now):
        return Recorded(event.id, "error", refusal=OccurredInFuture([{
            "path": "json.occurred_at",
            "message": f"is more than {CLOCK_SKEW.seconds // 60} minutes after the server's clock ({now.isoformat()})"}]))
    account = accounts.get(event.customer_id)
    if account is None:
        return Recorded(event.id, "error", refusal=NotFound(f"no customer {event.customer_id!r}"))
    digest = body_hash(event)
    if event.id in known:
        stored_digest, answer = known[event.id]
        if stored_digest != digest:
            return Recorded(event.id, "error", refusal=EventConflict(
                f"event {event.id!r} was recorded with a different body"))
        return Recorded(event.id, "duplicate", answer=answer)
    conversion = None
    if event.amount is not None and fx.is_foreign(event.currency, program):
        rate = rates.at(event.currency, event.occurred_at)
        if rate is None:
            return Recorded(event.id, "error", refusal=NoFxRate([{"path": "json.currency", "message": (
                f"no exchange rate from {event.currency} to {program.currency} is in force at "
                f"{event.occurred_at.isoformat()}")}]))
        conversion = fx.Conversion.at(event.amount, rate, program.currency)
    if account.profile is None:
        account.customer = tiers.current(session, account.customer, program, now)
        account.profile = rule_fields(account.customer, program, now)
    answered = []
    expires_at = month_end_after(event.occurred_at, program.expiry_months, program.timezone)
    available_at = (event.occurred_at + timedelta(days=program.pending_days) if event.type == EventType.TRANSACTION
                    else min(event.occurred_at, now))  # learning points are never pending
    fields = event.rule_fields() | {"original_amount": event.amount}
    if conversion is not None:
        fields["amount"] = conversion.amount
    for award in program.earn(account.profile, fields):
        points = _within_cap(usage, event.customer_id, award, event.occurred_at, program.timezone)
        answered.append({"rule": award.rule, "points": points})
        if points > 0:
            writes.earn(account, event, award.rule, points, available_at=available_at, expires_at=expires_at,
                        actor=actor)
    answer = {"id": event.id, "points": sum(a["points"] for a in answered), "awards": answered,
              "balance": account.balance}
    if conversion is not None:
        answer["converted"] = conversion.answer()
    writes.event(event, digest, answer, program, now, rate=conversion.rate if conversion else None)
    known[event.id] = (digest, answer)
    return Recorded(event.id, "created", answer=answer)


def _within_cap(usage: dict, customer_id: str, award, occurred_at: datetime, tz) -> int:
    """The award cut to what remains under its rule's cap; the cap's usage grows by what is awarded."""
    if award.cap_points is None or award.points <= 0:
        return max(award.points, 0)
    used = usage.setdefault((customer_id, award.rule, period_key(award.cap_per, occurred_at, tz)), [0, None])
    points = max(0, min(award.points, award.cap_points - used[0]))
    used[0] += points
    return points


class _Writes:
    """The rows a chunk writes, inserted at the end with one statement a table."""

    def __init__(self):
        self.events: list[dict] = []
        self.lots: list[dict] = []
        self.earned: list[tuple] = []  # (account, lot row, balance after, actor)

    def earn(self, account: _Account, event: ReportedEvent, rule: str, points: int, *, available_at, expires_at,
             actor: audit.Actor):
        debt = max(0, -account.balance)
        account.balance += points
        self.lots.append({"customer_id": account.customer.id, "event_id": event.id, "rule_id": rule,
                          "points": points, "remaining": points - min(points, debt), "earned_at": event.occurred_at,
                          "available_at": available_at, "expires_at": expires_at})
        self.earned.append((account, self.lots[-1], account.balance, actor))

    def event(self, event: ReportedEvent, digest: str, answer: dict, program: Program, now: datetime, *,
              rate: Decimal | None) -> None:
        self.events.append({"id": event.id, "customer_id": event.customer_id, "type": event.type,
                            "occurred_at": event.occurred_at, "amount": event.amount, "refunded": Decimal(0),
                            "currency": event.currency, "fx_rate": rate,
                            "body_hash": digest, "points": answer["points"], "rule_version": program.version,
                            "response": answer, "created_at": now})

    def flush(self, session: Session, program: Program, usage: dict, accounts: dict, *, now) -> None:
        if not self.events:
            return
        session.flush()  # what tier re-evaluations changed goes first
        connection = session.connection()
        for lot in self.lots:
            lot["rule_version"] = program.version
        entries = [{"customer_id": account.customer.id, "kind": EntryKind.EARN, "points": lot["points"],
                    "balance_after": balance, "event_id": lot["event_id"], "rule_version": program.version,
                    "rule_id": lot["rule_id"], "reference": None, "created_at": now}
                   for account, lot, balance, _ in self.earned]
        changed_usage = [{"customer_id": c, "rule_id": r, "period_start": p, "points": used[0]}
                         for (c, r, p), used in usage.items() if used[0] != used[1] and used[0] > 0]
        changed = [account for account in accounts.values() if account.balance != account.stored_balance]
        balances = [{"id": a.customer.id, "balance": a.balance} for a in changed]
        write = _write_on_postgresql if connection.dialect.name == "postgresql" else _write_on_sqlite
        lot_ids = write(connection, self.events, self.lots, entries, changed_usage, balances, now=now)
        for (account, lot, balance, actor), lot_id in zip(self.earned, lot_ids):
            audit.record(session, actor, "points.earned", "customer", account.customer.id, at=now, after={
                "points": lot["points"], "balance": balance, "event_id": lot["event_id"], "rule": lot["rule_id"],
                "rule_version": program.version, "lot_id": lot_id, "expires_at": lot["expires_at"]})
        for account in changed:
            if isinstance(account.customer, Customer):
                set_committed_value(account.customer, "balance", account.balance)
        for event in self.events:
            db.defer(session, db.AFTER_COMMIT, metrics.EVENTS.labels(event["type"]).inc)


def _write_on_sqlite(connection, events: list[dict], lots: list[dict], entries: list[dict], usage: list[dict],
                    balances: list[dict], *, now) -> list[int]:
    """The chunk's rows, a statement a table; returns the lots' ids, in order."""
    connection.execute(INSERT_EVENTS, events)
    lot_ids = _in_order(connection.execute(INSERT_LOTS, lots), lots) if lots else []
    movements = []
    for entry, lot, lot_id in zip(entries, lots, lot_ids):
        entry["lot_id"] = lot_id
        if lot["remaining"] > 0:
            movements.append({"lot_id": lot_id, "kind": MovementKind.EARN, "points": lot["remaining"],
                              "posted_at": now, "expires_at": lot["expires_at"]})
    if entries:
        connection.execute(INSERT_ENTRIES, entries)
    if movements:
        connection.execute(INSERT_MOVEMENTS, movements)
    if usage:
        connection.execute(STORE_CAPS, usage)
    if balances:
        connection.execute(UPDATE_BALANCES, [{"c": b["id"], "b": b["balance"]} for b in balances])
    return lot_ids


def _write_on_postgresql(connection, events: list[dict], lots: list[dict], entries: list[dict], usage: list[dict],
                         balances: list[dict], *, now) -> list[int]:
    """The chunk's rows in one statement (``WRITE_ON_POSTGRESQL``); returns the lots' ids, in order."""
    dialect = connection.dialect
    few = len(balances) <= FEW_BALANCES
    found = WRITE_ON_POSTGRESQL["few" if few else "many"].rows(connection, {
        "events": db.json_rows(_EVENTS, events, dialect), "lots": db.json_rows(_LOTS, lots, dialect),
        "entries": db.json_rows(_ENTRIES, entries, dialect), "usage": db.json_rows(_CAPS, usage, dialect),
        "balances": json.dumps({b["id"]: b["balance"] for b in balances}), "earn": MovementKind.EARN, "now": now,
        **({"changed": [b["id"] for b in balances]} if few else {})})
    return _in_order(found, lots)


def _in_order(found, lots: list[dict]) -> list[int]:
    """The ids of the lots written, in the order of ``lots``, from rows of (id, event_id, rule_id)."""
    ids = {(row.event_id, row.rule_id): row.id for row in found}
    return [ids[lot["event_id"], lot["rule_id"]] for lot in lots]


def reverse(session: Session, program: Program, event_id: str, amount: Decimal | None, *, actor: audit.Actor,
            now: datetime) -> dict:
    """Refund all (``amount`` None) or part of an event: each award keeps floor(awarded × unrefunded / amount).

    ``amount`` is in the event's currency; a foreign-currency refund is converted
    at the event's own rate, whatever the rate is now.
    """
    event = get(session, event_id)
    customer = customers.lock(session, event.customer_id)
    session.refresh(event)
    total = event.amount or Decimal(0)
    if total <= 0:
        raise Invalid([{"path": "json.amount", "message": "only an event with a positive amount can be refunded"}])
    left = total - event.refunded
    amount = left if amount is None else amount
    if amount > left or left == 0:
        raise Invalid([{"path": "json.amount", "message": f"must not exceed the amount not yet refunded ({left})"}])
    refunded_after = event.refunded + amount
    reversed_points = 0
    for lot in session.execute(select(Lot).where(Lot.event_id == event.id).order_by(Lot.id)).scalars():
        points = _kept(lot.points, total, event.refunded) - _kept(lot.points, total, refunded_after)
        if points > 0:
            ledger.reverse(session, customer, lot, points, event_id=event.id, actor=actor, now=now)
            reversed_points += points
    event.refunded = refunded_after
    answer = {"points_reversed": reversed_points, "balance": customer.balance}
    if event.fx_rate is not None:
        answer["converted"] = fx.Conversion.at(amount, event.fx_rate, program.currency).answer()
    return answer


def get(session: Session, event_id: str) -> Event:
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound(f"no event {event_id!r}")
    return event


def _kept(awarded: int, total: Decimal, refunded: Decimal) -> int:
    return int((Decimal(awarded) * (total - refunded) / total).to_integral_value(rounding=ROUND_FLOOR))
