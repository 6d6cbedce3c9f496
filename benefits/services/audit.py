"""The audit trail: one row per state change, hash-chained.

Services call ``record`` while they work (the rows wait with the transaction, or
go with a savepoint that rolls back); they are sealed into the chain
just before the transaction commits (``seal``, a ``before_commit`` hook, which
writes the transaction's outbox messages too): it locks the chain tip last, so
the serialised part of every transaction is short, and every committed row of
every process extends one chain.
"""
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal

from sqlalchemy import bindparam, event, insert, or_, select, text, update
from sqlalchemy.orm import Session

from .. import db, metrics
from . import outbox
from ..models import AuditRecord, AuditTip

_ROWS, _TIP = AuditRecord.__table__, AuditTip.__table__
LOCK_TIP = db.Hot(select(_TIP.c.seq, _TIP.c.hash).where(_TIP.c.id == 1).with_for_update())
INSERT_ROWS = insert(_ROWS)
MOVE_TIP = update(_TIP).where(_TIP.c.id == 1).values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
# On PostgreSQL the rows go in with the tip's move in one statement, whatever their number, and with the
# transaction's outbox messages when it has some
_SEAL_CTES = ("moved AS (UPDATE audit_tip SET seq = :new_seq, hash = :new_hash WHERE id = 1), "
              "sealed AS (INSERT INTO audit_log "
              "SELECT * FROM json_populate_recordset(NULL::audit_log, CAST(:rows AS json)))")
SEAL_ON_POSTGRESQL = db.Hot(text("WITH " + _SEAL_CTES + " SELECT 1 AS sealed"))
SEAL_WITH_MESSAGES = outbox.written_after(_SEAL_CTES)
GENESIS = "0" * 64
PENDING = "audit_pending"
CHAINED = ("seq", "at", "actor_type", "actor_id", "actor_name", "action", "subject_type", "subject_id",
           "before", "after", "request_id")  # the fields a row's hash covers, with the previous row's hash


@dataclass(frozen=True)
class Actor:
    """Who acts: an API key (``type`` "key") or the service itself ("system")."""

    type: str
    id: str | None
    name: str
    role: str | None = None
    partner_id: str | None = None
    request_id: str | None = None

    @classmethod
    def system(cls, request_id: str | None = None) -> "Actor":
        """The service itself: bootstrap, jobs, imports, lazy re-evaluations."""
        return cls(type="system", id=None, name="system", request_id=request_id)

    @property
    def is_system(self) -> bool:
        return self.type == "system"

    @property
    def key_id(self) -> int | None:
        """The id of the acting API key, as the tables keep it (an integer); None for the service itself."""
        return int(self.id) if self.id is not None else None


SYSTEM = Actor.system()


def plain(value):
    """The JSON form a value takes in the audit table (and in its hash): ``json.loads(json.dumps(value,
    default=str))``, without the round trip for the shapes the services write."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if type(value) is dict and all(type(key) is str for key in value):
        return {key: plain(item) for key, item in value.items()}
    if type(value) in (list, tuple):
        return [plain(item) for item in value]
    if isinstance(value, str):
        return str(value)  # a StrEnum: its value
    if isinstance(value, (datetime, date, Decimal)):
        return str(value)
    return json.loads(json.dumps(value, default=str))


def record(session: Session, actor: Actor, action: str, subject_type: str, subject_id, *,
           at: datetime, before=None, after=None) -> None:
    db.defer(session, PENDING, {
        "at": at.astimezone(timezone.utc),  # as stored and read back, so that the hash verifies
        "actor_type": actor.type,
        "actor_id": actor.id,
        "actor_name": actor.name,
        "action": action,
        "subject_type": subject_type,
        "subject_id": str(subject_id),
        "before": plain(before),
        "after": plain(after),
        "request_id": actor.request_id,
    })


def digest(prev_hash: str, row: dict) -> str:
    payload = {key: row[key] for key in CHAINED}
    payload["at"] = row["at"].isoformat()
    payload["prev_hash"] = prev_hash
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def seal(session: Session) -> None:
    """Chain the transaction's audit rows, once, at its outermost commit, and write its outbox messages.

    SQLAlchemy also calls this when a savepoint is released; its rows wait for
    the outermost commit (or go with a rollback), so a batch of events takes
    the chain's tip once, not once per event. The tip is locked last, after
    every other write, so that it is held for as short as can be: on PostgreSQL
    the messages go in with the rows, in the statement that moves the tip.
    Once committed, the rows are counted in the metrics.
    """
    pending = db.take_at_commit(session, PENDING)  # flushed first
    messages = outbox.take(session)
    if not pending and not messages:
        return
    connection = session.connection()
    if not pending or connection.dialect.name != "postgresql":  # the messages on their own
        outbox.write(connection, messages)
        messages = []
    if not pending:
        return
    with metrics.timed(metrics.TIP_WAIT):
        [(seq, prev)] = LOCK_TIP.rows(connection)
    rows = []
    for row in pending:
        seq += 1
        row = {**row, "seq": seq, "prev_hash": prev}
        row["hash"] = prev = digest(row["prev_hash"], row)
        rows.append(row)
    if connection.dialect.name == "postgresql":
        sealed = {"new_seq": seq, "new_hash": prev, "rows": db.json_rows(_ROWS, rows, connection.dialect)}
        if messages:
            SEAL_WITH_MESSAGES.rows(connection, sealed | outbox.parameters(messages, connection.dialect))
        else:
            SEAL_ON_POSTGRESQL.rows(connection, sealed)
    else:
        connection.execute(INSERT_ROWS, rows)
        connection.execute(MOVE_TIP, {"new_seq": seq, "new_hash": prev})
    db.defer(session, db.AFTER_COMMIT, lambda: metrics.count_committed(pending))


event.listen(Session, "before_commit", seal)


def verify(session: Session, batch: int = 5000) -> dict:
    """Walk the chain: every row's hash, its link to the previous row, no gap, the tip."""
    checked, prev, expected_seq = 0, GENESIS, 1
    last_seq = 0
    while True:
        rows = session.execute(
            select(AuditRecord).where(AuditRecord.seq > last_seq).order_by(AuditRecord.seq).limit(batch)
        ).scalars().all()
        if not rows:
            break
        for row in rows:
            fields = {name: getattr(row, name) for name in CHAINED}
            if row.seq != expected_seq or row.prev_hash != prev or digest(prev, fields) != row.hash:
                return {"ok": False, "checked": checked, "first_bad": expected_seq if row.seq != expected_seq else row.seq}
            checked += 1
            prev, expected_seq, last_seq = row.hash, row.seq + 1, row.seq
    tip = session.get(AuditTip, 1)
    if tip is None or tip.seq != last_seq or tip.hash != prev:
        return {"ok": False, "checked": checked, "first_bad": last_seq + 1}
    return {"ok": True, "checked": checked, "first_bad": None}


def tip(session: Session) -> dict:
    """The chain's last row: what `benefits audit export-tip` saves, for `audit verify --tip`."""
    row = session.execute(select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(1)).scalar_one_or_none()
    if row is None:
        return {"seq": 0, "hash": GENESIS, "at": None}
    return {"seq": row.seq, "hash": row.hash, "at": row.at.isoformat()}


def extends(session: Session, seq: int, row_hash: str) -> bool:
    """Whether the chain still holds the row of a tip saved earlier, unchanged (``seq`` 0: the empty chain)."""
    if seq == 0:
        return row_hash == GENESIS
    return session.execute(select(AuditRecord.hash).where(AuditRecord.seq == seq)).scalar_one_or_none() == row_hash


def search(session: Session, *, limit: int, before: int | None = None, action: str | None = None,
           subject: str | None = None, actor: str | None = None, since: datetime | None = None,
           until: datetime | None = None) -> list[AuditRecord]:
    """Rows newest first; ``action`` matches as a prefix, ``actor`` a key's name or id."""
    query = select(AuditRecord)
    if before is not None:
        query = query.where(AuditRecord.seq < before)
    if action:
        escaped = action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(AuditRecord.action.like(escaped + "%", escape="\\"))
    if subject:
        query = query.where(AuditRecord.subject_id == subject)
    if actor:
        query = query.where(or_(AuditRecord.actor_name == actor, AuditRecord.actor_id == actor))
    if since:
        query = query.where(AuditRecord.at >= since)
    if until:
        query = query.where(AuditRecord.at < until)
    return list(session.execute(query.order_by(AuditRecord.seq.desc()).limit(limit)).scalars())
