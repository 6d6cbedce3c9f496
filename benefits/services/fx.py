"""Exchange rates: how many units of the programme's currency one unit of another buys, with their history.

A rate is in force from its ``valid_from`` until the next rate of its currency
(of two rates with the same ``valid_from``, the one set last). Rates are never
changed or removed: a correction is a new rate, so an event converts the same
way whenever it is looked at again, and keeps the rate it was recorded with.
"""
from collections import defaultdict
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from ..errors import Invalid
from ..models import FxRate, UTCDateTime
from ..rules import Program
from . import audit

CENT = Decimal("0.01")
_RATES = FxRate.__table__
_FIRST, _LAST = bindparam("first", type_=UTCDateTime()), bindparam("last", type_=UTCDateTime())
_LATEST_BEFORE = (select(func.max(_RATES.c.valid_from))
                  .where(_RATES.c.currency == bindparam("currency"), _RATES.c.valid_from <= _FIRST)
                  .scalar_subquery())
# the rate in force at the span's first moment, and every later one until its last
RATES_FOR_SPAN = (select(_RATES.c.valid_from, _RATES.c.rate)
                  .where(_RATES.c.currency == bindparam("currency"), _RATES.c.valid_from <= _LAST,
                         _RATES.c.valid_from >= func.coalesce(_LATEST_BEFORE, _FIRST))
                  .order_by(_RATES.c.valid_from, _RATES.c.id))


@dataclass(frozen=True)
class Conversion:
    """An amount converted into the programme's currency at ``rate``, truncated to the cent."""

    amount: Decimal
    currency: str
    rate: Decimal

    @classmethod
    def at(cls, amount: Decimal, rate: Decimal, currency: str) -> "Conversion":
        return cls((amount * rate).quantize(CENT, rounding=ROUND_DOWN), currency, rate)

    def answer(self) -> dict:
        """As an answer carries it (and the event's stored answer): decimal strings."""
        return {"amount": str(self.amount), "currency": self.currency, "rate": str(self.rate)}


def is_foreign(currency: str | None, program: Program) -> bool:
    """Whether an amount in ``currency`` needs converting (no currency: the programme's)."""
    return currency is not None and currency != program.currency


def set_rate(session: Session, program: Program, currency: str, rate: Decimal, valid_from: datetime, *,
             actor: audit.Actor, now: datetime) -> FxRate:
    """A new rate for ``currency`` from ``valid_from`` on (the history keeps every earlier one)."""
    if currency == program.currency:
        raise Invalid([{"path": "path.currency",
                        "message": f"{currency} is the programme's own currency: its rate is 1"}])
    valid_from = valid_from.astimezone(timezone.utc)
    row = FxRate(currency=currency, rate=rate, valid_from=valid_from, set_by=actor.name, set_by_key_id=actor.key_id,
                 set_at=now)
    session.add(row)
    session.flush()
    audit.record(session, actor, "fx_rate.set", "fx_rate", currency, at=now,
                 after={"currency": currency, "rate": str(rate), "valid_from": valid_from, "id": row.id})
    return row


def listing(session: Session, currency: str | None = None) -> list[FxRate]:
    """Every rate (of one currency), newest first: by ``valid_from``, then the later set first."""
    query = select(FxRate)
    if currency is not None:
        query = query.where(FxRate.currency == currency)
    return list(session.execute(query.order_by(FxRate.valid_from.desc(), FxRate.id.desc())).scalars())


class Rates:
    """The rates a set of events needs, read once: for each currency, those in force during the events' span."""

    def __init__(self, by_currency: dict[str, tuple[list[datetime], list[Decimal]]]):
        self._by_currency = by_currency

    @classmethod
    def load(cls, connection, program: Program, wanted: list[tuple[str | None, datetime]]) -> "Rates":
        """``wanted``: (currency, moment) pairs; programme-currency ones need no rate."""
        spans: dict[str, list[datetime]] = defaultdict(list)
        for currency, moment in wanted:
            if is_foreign(currency, program):
                spans[currency].append(moment)
        found = {}
        for currency, moments in spans.items():
            rows = connection.execute(RATES_FOR_SPAN, {"currency": currency, "first": min(moments),
                                                       "last": max(moments)}).all()
            found[currency] = ([row.valid_from for row in rows], [row.rate for row in rows])
        return cls(found)

    def at(self, currency: str, moment: datetime) -> Decimal | None:
        """The rate in force at ``moment``, or None when there is none."""
        starts, rates = self._by_currency.get(currency, ([], []))
        index = bisect_right(starts, moment)
        return rates[index - 1] if index else None
