"""Finance reports: the points roll-forward, the liability and its IFRS 15 deferred revenue, benefit
utilisation, partner statements, and the tier migration matrix with the signals raised.

Every figure is an SQL aggregate over what the service keeps as it works: the
ledger (each entry with its kind and the moment it was posted), the lots and
their movements, redemptions (with the tier at the hold and the unit price at
confirmation), the tier and signal histories and the customers' benefit
grants. Python only combines the handful of rows the aggregates answer.

Months are calendar months in the programme's timezone; a ledger entry counts
in the month in which it was posted, whatever the date of its event. Each
report reads in one statement where its figures must agree with each other
(PostgreSQL gives each statement one snapshot), and the sums run over ranges of
the indexes that cover them. docs/finance.md says what each figure means.
"""
import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

from sqlalchemy import and_, case, func, literal_column, null, or_, select, union_all
from sqlalchemy.orm import Session

from ..errors import BeforeCutover, Invalid
from ..models import (AuditRecord, Customer, CustomerGrant, EntryKind, LedgerEntry, Lot, LotMovement, MovementKind,
                      Partner, Redemption, RedemptionStatus, ReportCutover, RuleVersion, SignalChange,
                      SignalChangeKind, TierChange)
from ..rules import Program
from ..rules.program import exact
from .partners import customer_ref
from .periods import local_midnight, month_label, month_start, months_before

CENT = Decimal("0.01")
BREAKAGE_PLACES = Decimal("0.0001")
HISTORY_MONTHS = 24  # breakage from history: the full months before the report's month
MAX_MONTHS = 120
NONE = "none"  # the row of the migration matrix for customers that did not exist yet


@dataclass(frozen=True)
class Table:
    """One part of a report as a CSV has it: a header row, then one row per item."""

    columns: tuple[str, ...]
    rows: list[dict]


def csv_text(table: Table) -> str:
    """RFC 4180 CSV: the header row, then the rows; times and dates ISO 8601, money as decimals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([_cell(row.get(name)) for name in table.columns])
    return out.getvalue()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def by_interval(column, bounds: list[datetime], columns: list, group_by: list, *where, first: int = 0,
                beyond: bool = False):
    """One aggregate per interval of ``bounds`` (``[bounds[i], bounds[i + 1])``, and with ``beyond`` at or
    after the last bound), each a range of an index on ``column``, as one statement: rows of
    ``(first + i, *columns)``. A compound of ranges rather than one scan with a CASE: each row is read once
    and compared with nothing."""
    ranges = [(low, high) for low, high in zip(bounds, bounds[1:])] + ([(bounds[-1], None)] if beyond else [])
    parts = []
    for number, (low, high) in enumerate(ranges):
        within = [column >= low] + ([column < high] if high is not None else [])
        parts.append(select(literal_column(str(first + number)), *columns).where(*within, *where)
                     .group_by(*group_by))
    return parts


def month_period(first: date | None, last: date | None, today: date) -> tuple[date, date]:
    """The first days of a month report's ``from`` and ``to`` months: those given or, by default, the last 12
    months up to this one (``to`` is ``today``'s month, ``from`` the 11 months before ``to``)."""
    last = month_start(last or today)
    return (month_start(first) if first else month_start(last, -11)), last


def day_period(first: date | None, last: date | None, today: date) -> tuple[date, date]:
    """The tiers report's ``from`` and ``to`` days: those given or, by default, ``to`` is ``today`` and
    ``from`` the same day 12 months before ``to``."""
    last = last or today
    return first or months_before(last, 12), last


def month_range(first: date, last: date) -> list[date]:
    """The first days of the months from ``first``'s to ``last``'s, both included (at most ``MAX_MONTHS``)."""
    if last < first:
        raise Invalid([{"path": "query.to", "message": "must not be before from"}])
    count = (last.year - first.year) * 12 + last.month - first.month + 1
    if count > MAX_MONTHS:
        raise Invalid([{"path": "query.to", "message": f"the report covers at most {MAX_MONTHS} months"}])
    return [month_start(first, offset) for offset in range(count)]


def _month_bounds(starts: list[date], tz) -> list[datetime]:
    """Each month's start, and the end of the last, as instants."""
    return [local_midnight(day, tz) for day in starts] + [local_midnight(month_start(starts[-1], 1), tz)]


# ---------------------------------------------------------------------------------------------- points


POINT_COLUMNS = ("month", "opening", "earned", "spent", "expired", "reversed", "adjusted", "closing")
_SIGNS = {EntryKind.EARN: ("earned", 1), EntryKind.REDEEM: ("spent", -1), EntryKind.EXPIRE: ("expired", -1),
          EntryKind.REVERSE: ("reversed", -1), EntryKind.ADJUST: ("adjusted", 1)}


def points(session: Session, program: Program, first: date, last: date) -> dict:
    """The points roll-forward by month: ``closing = opening + earned − spent − expired − reversed + adjusted``.

    The opening of the first month is the sum of all balances less what was
    posted since that month began (the balance is kept equal to the ledger's
    sum), so only the entries of the range and after it are read.
    """
    starts = month_range(first, last)
    bounds = _month_bounds(starts, program.timezone)
    entries = LedgerEntry.__table__
    by_month = by_interval(entries.c.created_at, bounds, [entries.c.kind, func.sum(entries.c.points)],
                           [entries.c.kind], beyond=True)
    balances = select(literal_column("-1"), null(), func.sum(Customer.__table__.c.balance))
    sums: dict[int, dict[str, int]] = defaultdict(dict)
    total = 0
    for bucket, kind, amount in session.execute(union_all(balances, *by_month)):
        if bucket == -1:
            total = int(amount or 0)
        else:
            sums[bucket][kind] = int(amount)
    opening = total - sum(sum(kinds.values()) for kinds in sums.values())
    items = []
    for index, start in enumerate(starts):
        item = {"month": month_label(start), "opening": opening}
        for kind, (name, sign) in _SIGNS.items():
            item[name] = sign * sums[index].get(kind, 0)
        opening += sum(sums[index].values())
        item["closing"] = opening
        items.append(item)
    return {"items": items}


# ---------------------------------------------------------------------------------------------- liability


LIABILITY_COLUMNS = ("as_of", "outstanding", "debt_points", "value", "breakage", "breakage_source",
                     "deferred_revenue", "opening", "issued", "redeemed", "expired", "reversed", "adjusted",
                     "remeasurement", "closing")
EXPIRY_COLUMNS = ("month", "points")
LOTS, IN_MONTH, AFTER, BALANCES, POSTED_AFTER, HISTORY = range(6)  # the parts of the liability statement
_LINES = {MovementKind.EARN: ("issued", 1), MovementKind.REDEEM: ("redeemed", -1),
          MovementKind.EXPIRE: ("expired", -1), MovementKind.REVERSE: ("reversed", -1),
          MovementKind.ADJUST: ("adjusted", 1)}


@dataclass(frozen=True)
class Measure:
    """What a point is worth in deferred revenue: ``value × (1 − breakage)``."""

    value: Decimal | None
    breakage: Decimal
    source: str  # expected (points.expected_breakage) | history | none

    @property
    def factor(self) -> Decimal:
        return (self.value or Decimal(0)) * (1 - self.breakage)

    def of(self, points: int) -> Decimal:
        return _money(points * self.factor)


def cutover(session: Session, program: Program) -> date | None:
    """The first day the liability report can answer for, or None when the history is complete."""
    row = session.get(ReportCutover, 1)
    return row.at.astimezone(program.timezone).date() if row is not None else None


def liability(session: Session, program: Program, as_of: date, *, now: datetime) -> dict:
    """Outstanding points at the end of ``as_of``, by expiry month; the debts apart; the deferred revenue and
    its roll-forward over ``as_of``'s month.

    Outstanding is what the lots held at the end of the day: the unspent lots
    now, less the lots' movements posted since. The roll-forward's lines are
    the lots' movements of the month, each × value × (1 − breakage); the
    remeasurement is what a change of value or breakage did to the opening
    (and the cents of rounding), so opening + lines + remeasurement = closing.
    """
    tz = program.timezone
    today = now.astimezone(tz).date()
    if as_of > today:
        raise Invalid([{"path": "query.as_of", "message": f"must not be later than today ({today})"}])
    first_day = cutover(session, program)
    if first_day is not None and as_of < first_day:
        raise BeforeCutover([{"path": "query.as_of", "message": (
            f"must be on or after {first_day}: the lots' movements are kept from then on")}])
    start, end = local_midnight(as_of.replace(day=1), tz), local_midnight(as_of + timedelta(days=1), tz)
    window = [local_midnight(month_start(as_of, offset), tz) for offset in (-HISTORY_MONTHS - 1, -HISTORY_MONTHS,
                                                                            -1, 0)]
    documents = _document_at(session, start, program), _document_at(session, end, program)
    needs_history = any("expected_breakage" not in (document or {}).get("points", {}) for document in documents)
    rows = session.execute(_liability_statement(start, end, window if needs_history else None)).all()
    unspent, after, in_month, history = defaultdict(int), defaultdict(int), defaultdict(int), defaultdict(int)
    balances = posted_after = 0
    for part, kind, expires_at, amount in rows:
        amount = int(amount or 0)
        if part == LOTS:
            unspent[expires_at] += amount
        elif part == AFTER:
            after[expires_at] += amount
        elif part == IN_MONTH:
            in_month[kind] += amount
        elif part == BALANCES:
            balances = amount
        elif part == POSTED_AFTER:
            posted_after = amount
        else:
            history[(part - HISTORY, kind)] += amount
    by_month: dict[str, int] = defaultdict(int)
    for expires_at in set(unspent) | set(after):
        held = unspent[expires_at] - after[expires_at]
        if held:
            by_month[month_label((expires_at.astimezone(tz) - timedelta(days=1)).date())] += held
    outstanding = sum(by_month.values())
    lines = {name: sign * in_month[kind] for kind, (name, sign) in _LINES.items()}
    opening_points = outstanding - sum(amount for kind, amount in in_month.items() if kind != MovementKind.OPENING)
    then_measure, now_measure = _measure(documents[0], history, (0, 1)), _measure(documents[1], history, (1, 2))
    closing, opening = now_measure.of(outstanding), then_measure.of(opening_points)
    amounts = {name: now_measure.of(points) for name, points in lines.items()}
    moved = amounts["issued"] - amounts["redeemed"] - amounts["expired"] - amounts["reversed"] + amounts["adjusted"]
    return {
        "as_of": as_of, "outstanding": outstanding, "debt_points": balances - posted_after - outstanding,
        "by_expiry_month": [{"month": month, "points": held} for month, held in sorted(by_month.items())],
        "value": now_measure.value, "breakage": now_measure.breakage, "breakage_source": now_measure.source,
        "deferred_revenue": closing,
        "rollforward": {"month": month_label(as_of), "opening": opening, **amounts,
                        "remeasurement": closing - opening - moved, "closing": closing,
                        "opening_value": then_measure.value, "opening_breakage": then_measure.breakage},
        "rollforward_points": {"opening": opening_points, **lines, "closing": outstanding},
    }


def _liability_statement(start: datetime, end: datetime, window: list[datetime] | None):
    """One statement (one snapshot): unspent lots by expiry; the lots' movements of the month by kind and those
    after the day by expiry; all balances; the entries posted after the day; and, when breakage is to be
    measured (``window``), spent and expired in the 25 months before the month, in three parts (the month
    before alone, the 23 before it, the one before those)."""
    lots, moves, entries = Lot.__table__, LotMovement.__table__, LedgerEntry.__table__
    unspent = select(literal_column(str(LOTS)), null(), lots.c.expires_at, func.sum(lots.c.remaining)) \
        .where(lots.c.remaining > 0).group_by(lots.c.expires_at)
    in_month = select(literal_column(str(IN_MONTH)), moves.c.kind, null(), func.sum(moves.c.points)) \
        .where(moves.c.posted_at >= start, moves.c.posted_at < end).group_by(moves.c.kind)
    after = select(literal_column(str(AFTER)), null(), moves.c.expires_at, func.sum(moves.c.points)) \
        .where(moves.c.posted_at >= end).group_by(moves.c.expires_at)
    balances = select(literal_column(str(BALANCES)), null(), null(), func.sum(Customer.__table__.c.balance))
    posted_after = select(literal_column(str(POSTED_AFTER)), null(), null(), func.sum(entries.c.points)) \
        .where(entries.c.created_at >= end)
    if window is None:
        return union_all(unspent, in_month, after, balances, posted_after)
    history = by_interval(entries.c.created_at, window, [entries.c.kind, null(), func.sum(entries.c.points)],
                          [entries.c.kind], entries.c.kind.in_([EntryKind.REDEEM, EntryKind.EXPIRE]), first=HISTORY)
    return union_all(unspent, in_month, after, balances, posted_after, *history)


def _document_at(session: Session, moment: datetime, program: Program) -> dict | None:
    """The document of the rule version active just before ``moment``, by the audit trail's activations."""
    version = session.execute(
        select(AuditRecord.subject_id).where(AuditRecord.action == "rule_version.activated", AuditRecord.at < moment)
        .order_by(AuditRecord.at.desc(), AuditRecord.seq.desc()).limit(1)).scalar_one_or_none()
    if version is None:
        return None
    if program.version is not None and int(version) == program.version:
        return program.document
    return session.execute(select(RuleVersion.document).where(RuleVersion.id == int(version))).scalar_one_or_none()


def _measure(document: dict | None, history: dict, parts: tuple[int, int]) -> Measure:
    """A document's ``points.value`` and breakage: ``points.expected_breakage``, else expired ÷ (expired +
    spent) over the history ``parts`` (24 full months), else 0."""
    settings = (document or {}).get("points", {})
    value = exact(settings["value"]) if "value" in settings else None
    if "expected_breakage" in settings:
        return Measure(value, exact(settings["expected_breakage"]), "expected")
    expired = -sum(history[(part, EntryKind.EXPIRE)] for part in parts)
    spent = -sum(history[(part, EntryKind.REDEEM)] for part in parts)
    if expired + spent <= 0:
        return Measure(value, Decimal(0), "none")
    ratio = (Decimal(expired) / Decimal(expired + spent)).quantize(BREAKAGE_PLACES, rounding=ROUND_HALF_EVEN)
    return Measure(value, ratio.normalize() if ratio else Decimal(0), "history")


def liability_tables(answer: dict) -> dict[str, Table]:
    summary = {name: answer[name] for name in LIABILITY_COLUMNS if name in answer}
    summary.update({name: answer["rollforward"][name] for name in LIABILITY_COLUMNS if name in answer["rollforward"]})
    return {"summary": Table(LIABILITY_COLUMNS, [summary]),
            "by_expiry_month": Table(EXPIRY_COLUMNS, answer["by_expiry_month"])}


# ---------------------------------------------------------------------------------------------- benefits


USAGE_COLUMNS = ("month", "benefit", "partner", "tier", "quantity")
ENTITLED_COLUMNS = ("benefit", "tier", "per", "customers", "quota")


def benefits(session: Session, program: Program, first: date, last: date) -> dict:
    """Confirmed quantities per month (of the hold), benefit, partner and the customer's tier at the hold; and,
    per benefit and tier, the customers entitled and the quota granted at their last evaluation."""
    starts = month_range(first, last)
    bounds = _month_bounds(starts, program.timezone)
    table = Redemption.__table__
    keys = [table.c.benefit, table.c.partner_id, table.c.tier]
    usage = sorted(session.execute(union_all(*by_interval(
        table.c.created_at, bounds, [*keys, func.sum(table.c.quantity)], keys,
        table.c.status == RedemptionStatus.CONFIRMED))).all(),
        key=lambda row: (int(row[0]), *(str(value or "") for value in row[1:4])))
    grants = CustomerGrant.__table__
    entitled = session.execute(
        select(grants.c.benefit, grants.c.tier, grants.c.per, func.count(func.distinct(grants.c.customer_id)),
               func.sum(grants.c.quota))
        .group_by(grants.c.benefit, grants.c.tier, grants.c.per)
        .order_by(grants.c.benefit, grants.c.tier, grants.c.per)).all()
    stale = session.execute(select(func.count()).select_from(Customer).where(
        Customer.tier_version != program.version)).scalar_one()
    return {
        "usage": [{"month": month_label(starts[bucket]), "benefit": benefit, "partner": partner, "tier": tier,
                   "quantity": int(quantity)} for bucket, benefit, partner, tier, quantity in usage],
        "entitled": [{"benefit": benefit, "tier": tier, "per": per, "customers": int(customers),
                      "quota": None if per is None else int(quota or 0)}
                     for benefit, tier, per, customers, quota in entitled],
        "customers_not_reevaluated": int(stale),
    }


# ---------------------------------------------------------------------------------------------- statements


STATEMENT_COLUMNS = ("redemption_id", "confirmed_at", "cancelled_at", "benefit", "quantity", "unit_price", "amount",
                     "customer_ref")


def statement(session: Session, program: Program, partner: Partner, month: date, *, secret: str) -> dict:
    """The redemptions ``partner`` confirmed in ``month`` (in the programme's timezone), at the unit price of
    their confirmation; one confirmed in an earlier month and cancelled in this one is a negative line. One
    confirmed and cancelled within the month has no line. The total adds up the lines' amounts, so that it
    agrees with them (a second statement could see another snapshot)."""
    start, end = local_midnight(month.replace(day=1), program.timezone), local_midnight(month_start(month, 1),
                                                                                         program.timezone)
    table = Redemption.__table__
    confirmed = and_(table.c.confirmed_at >= start, table.c.confirmed_at < end,
                     or_(table.c.cancelled_at.is_(None), table.c.cancelled_at >= end))
    undone = and_(table.c.cancelled_at >= start, table.c.cancelled_at < end, table.c.confirmed_at < start)
    sign = case((confirmed, 1), else_=-1)
    lines = select(table.c.id, table.c.customer_id, table.c.confirmed_at, table.c.cancelled_at, table.c.benefit,
                   (sign * table.c.quantity).label("quantity"), table.c.unit_price).where(
        table.c.partner_id == partner.id, or_(confirmed, undone))
    rows = session.execute(lines.order_by(case((confirmed, table.c.confirmed_at), else_=table.c.cancelled_at),
                                          table.c.id)).all()
    items = []
    for row in rows:
        items.append({
            "redemption_id": row.id, "confirmed_at": row.confirmed_at,
            "cancelled_at": row.cancelled_at if row.quantity < 0 else None, "benefit": row.benefit,
            "quantity": row.quantity, "unit_price": row.unit_price,
            "amount": None if row.unit_price is None else row.unit_price * row.quantity,
            "customer_ref": customer_ref(secret, partner.id, row.customer_id)})
    return {"partner": partner.id, "partner_name": partner.name, "month": month_label(month),
            "currency": program.currency, "items": items,
            "total": sum((item["amount"] for item in items if item["amount"] is not None), Decimal("0.00"))}


# ---------------------------------------------------------------------------------------------- tiers


MATRIX_COLUMNS = ("from_tier", "to_tier", "customers")
SIGNAL_COLUMNS = ("month", "signal", "raised", "cleared")


def _tiers_at(moment: datetime):
    """Each customer's tier at ``moment``: the last change of its tier history before it."""
    changes = TierChange.__table__
    ranked = select(changes.c.customer_id, changes.c.to_tier, func.row_number().over(
        partition_by=changes.c.customer_id, order_by=(changes.c.changed_at.desc(), changes.c.id.desc())).label("n")) \
        .where(changes.c.changed_at < moment).subquery()
    return select(ranked.c.customer_id, ranked.c.to_tier.label("tier")).where(ranked.c.n == 1).subquery()


def tiers(session: Session, program: Program, first: date, last: date) -> dict:
    """The migration matrix from the end of ``first`` to the end of ``last`` (customers that did not exist yet
    at the end of ``first`` in the row ``none``), and the signals raised and cleared between, by month."""
    if last < first:
        raise Invalid([{"path": "query.to", "message": "must not be before from"}])
    tz = program.timezone
    start, end = local_midnight(first + timedelta(days=1), tz), local_midnight(last + timedelta(days=1), tz)
    before, after = _tiers_at(start), _tiers_at(end)
    from_tier = func.coalesce(before.c.tier, literal_column(f"'{NONE}'")).label("from_tier")
    moved = select(from_tier, after.c.tier.label("to_tier")) \
        .select_from(after.outerjoin(before, before.c.customer_id == after.c.customer_id)).subquery()
    matrix = session.execute(select(moved.c.from_tier, moved.c.to_tier, func.count())
                             .group_by(moved.c.from_tier, moved.c.to_tier)).all()
    signals: dict[tuple[int, str], dict] = {}
    counted = []
    if end > start:
        starts = month_range(first + timedelta(days=1), last)
        bounds = [start] + _month_bounds(starts, tz)[1:-1] + [end]
        changes = SignalChange.__table__
        counted = session.execute(union_all(*by_interval(
            changes.c.changed_at, bounds, [changes.c.signal, changes.c.kind, func.count()],
            [changes.c.signal, changes.c.kind]))).all()
    for bucket, signal, kind, count in counted:
        line = signals.setdefault((bucket, signal), {"month": month_label(starts[bucket]), "signal": signal,
                                                     "raised": 0, "cleared": 0})
        line["raised" if kind == SignalChangeKind.RAISED else "cleared"] = int(count)
    order = {tier: index for index, tier in enumerate((NONE, *program.tier_ids))}
    return {
        "from": first, "to": last, "tiers": [*program.tier_ids],
        "matrix": sorted(({"from_tier": a, "to_tier": b, "customers": int(n)} for a, b, n in matrix),
                         key=lambda line: (order.get(line["from_tier"], len(order)), order.get(line["to_tier"],
                                                                                               len(order)))),
        "signals": [signals[key] for key in sorted(signals)],
    }


# ---------------------------------------------------------------------------------------------- CSV


TABLES = {
    "points": lambda answer: {"months": Table(POINT_COLUMNS, answer["items"])},
    "liability": liability_tables,
    "benefits": lambda answer: {"usage": Table(USAGE_COLUMNS, answer["usage"]),
                                "entitled": Table(ENTITLED_COLUMNS, answer["entitled"])},
    "statement": lambda answer: {"lines": Table(STATEMENT_COLUMNS, answer["items"])},
    "tiers": lambda answer: {"matrix": Table(MATRIX_COLUMNS, answer["matrix"]),
                             "signals": Table(SIGNAL_COLUMNS, answer["signals"])},
}
PARTS = {"points": ("months",), "liability": ("summary", "by_expiry_month"), "benefits": ("usage", "entitled"),
         "statement": ("lines",), "tiers": ("matrix", "signals")}


def table(report: str, answer: dict, part: str | None = None) -> Table:
    """One part of a report's answer (its first part by default) as a CSV table."""
    parts = PARTS[report]
    if part is not None and part not in parts:
        raise Invalid([{"path": "query.part", "message": f"must be one of {', '.join(parts)}"}])
    return TABLES[report](answer)[part or parts[0]]
