"""How far a customer is from the next tier up: what the app shows as "CNY 300,000.00 more AUM".

Computed from the active document: the tier above the customer's, when its
condition is made of numeric thresholds alone (``Program.next_tier``), with the
amount still missing for each. Amounts are exact decimals: money to the cent;
for a ``gt`` bar the missing amount is what makes the value pass it (one cent
more, one day more), for a ratio (``aum_growth_3m``) the difference itself.
"""
from datetime import datetime
from decimal import Decimal

from ..models import Customer
from ..rules import Program
from ..rules.program import exact
from .profiles import rule_fields

MONEY = ("aum", "annual_contribution")
WHOLE = ("tenure_days", "birthday_month")
CENT = Decimal("0.01")


def next_tier(customer: Customer, program: Program, now: datetime) -> dict | None:
    """``{tier, mode, missing: [{field, threshold, current, missing}]}``, or None at the top tier or when the
    next tier's condition is not made of thresholds."""
    found = program.next_tier(customer.tier)
    if found is None:
        return None
    tier, mode, bars = found
    fields = rule_fields(customer, program, now, with_tier=False)
    return {"tier": tier, "mode": mode, "missing": [_missing(bar, fields.get(bar.field)) for bar in bars]}


def _missing(bar, current) -> dict:
    threshold = exact(bar.value)
    if current is None:  # a field the customer does not have (no three months of AUM history)
        return {"field": bar.field, "threshold": _text(bar.field, threshold), "current": None, "missing": None}
    current = exact(current)
    step = CENT if bar.field in MONEY else Decimal(1) if bar.field in WHOLE else Decimal(0)
    missing = max(threshold - current + (step if bar.op == "gt" else 0), Decimal(0))
    return {"field": bar.field, "threshold": _text(bar.field, threshold), "current": _text(bar.field, current),
            "missing": _text(bar.field, missing)}


def _text(field: str, value: Decimal) -> str:
    if field in MONEY:
        return str(value.quantize(CENT))
    if field in WHOLE:
        return str(int(value))
    return format(value.normalize(), "f")
