"""What each evaluation of a customer leaves for the reports: its signal changes and its benefit grants.

Signals are kept as history (a row each time one is raised or cleared), so the
signals raised in a month are counted, not guessed. The benefit rules that
held at the customer's last evaluation are kept with the tier it held then,
so "customers entitled now" is an aggregate rather than an evaluation of
every customer.
"""
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Customer, CustomerGrant, SignalChange, SignalChangeKind
from ..rules import Grant, Program


def record_signals(session: Session, customer: Customer, signals: list[str], program: Program,
                   now: datetime) -> None:
    """A row for each signal raised or cleared since the customer's last evaluation."""
    before, after = set(customer.signals or ()), set(signals)
    for kind, changed in ((SignalChangeKind.RAISED, after - before), (SignalChangeKind.CLEARED, before - after)):
        for signal in sorted(changed):
            session.add(SignalChange(customer_id=customer.id, signal=signal, kind=kind,
                                     rule_version=program.version, changed_at=now))


def store_grants(session: Session, customer: Customer, grants: list[Grant], program: Program) -> None:
    """The customer's benefit grants as they are now: rows that no longer hold go, new ones come."""
    stored = {row.rule_id: row for row in session.execute(
        select(CustomerGrant).where(CustomerGrant.customer_id == customer.id)).scalars()}
    for grant in grants:
        values = {"benefit": grant.benefit, "tier": customer.tier, "quota": grant.quota, "per": grant.per,
                  "rule_version": program.version}
        row = stored.pop(grant.rule, None)
        if row is None:
            session.add(CustomerGrant(customer_id=customer.id, rule_id=grant.rule, **values))
        else:
            for name, value in values.items():
                if getattr(row, name) != value:
                    setattr(row, name, value)
    for row in stored.values():
        session.delete(row)
