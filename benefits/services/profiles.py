"""What a rule's conditions read about a customer, from a stored customer or a supplied profile."""
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from ..models import Customer
from ..rules import Program


@dataclass(frozen=True)
class CustomerProfile:
    """A customer as the bank's app describes one: the body of ``PUT /api/v1/customers/{id}``."""

    name: str
    aum: Decimal
    annual_contribution: Decimal = Decimal(0)
    tags: tuple[str, ...] = ()
    birthday: str | None = None  # MM-DD
    as_of: date | None = None
    customer_since: date | None = None


@dataclass(frozen=True)
class SuppliedProfile(CustomerProfile):
    """A profile given to a simulation: a customer that need not exist, with the fields stored ones derive."""

    customer_id: str | None = None
    tenure_days: int | None = None
    aum_growth_3m: float | None = None


@dataclass(frozen=True)
class RuleProfile:
    """The rule fields of one customer on one day (``today``, in the programme's timezone)."""

    aum: Decimal
    annual_contribution: Decimal
    tags: tuple[str, ...]
    birthday: str | None
    tenure_days: int | None
    aum_growth_3m: float | None
    today: date

    @classmethod
    def of_customer(cls, customer: Customer, today: date) -> "RuleProfile":
        return cls(customer.aum, customer.annual_contribution, tuple(customer.tags or ()), customer.birthday,
                   (today - customer.customer_since).days, customer.aum_growth_3m, today)

    @classmethod
    def of_supplied(cls, profile: SuppliedProfile, today: date) -> "RuleProfile":
        """As of the profile's ``as_of`` (else ``today``); tenure as given, else from ``customer_since``, else absent."""
        day = profile.as_of or today
        tenure_days = profile.tenure_days
        if tenure_days is None and profile.customer_since is not None:
            tenure_days = (day - profile.customer_since).days
        return cls(profile.aum, profile.annual_contribution, tuple(profile.tags), profile.birthday, tenure_days,
                   profile.aum_growth_3m, day)

    def fields(self) -> dict:
        birthday_month = int(self.birthday[:2]) if self.birthday else None
        return {
            "aum": self.aum,
            "annual_contribution": self.annual_contribution,
            "tags": list(self.tags),
            "birthday_month": birthday_month,
            "is_birthday_month": birthday_month == self.today.month if birthday_month else False,
            "tenure_days": self.tenure_days,
            "aum_growth_3m": self.aum_growth_3m,
        }


def local_today(program: Program, now: datetime) -> date:
    return now.astimezone(program.timezone).date()


# What ``rule_fields`` reads of a stored customer (a query that reads only these can pass its rows)
CUSTOMER_FIELDS = ("aum", "annual_contribution", "tags", "birthday", "customer_since", "aum_growth_3m", "tier")


def rule_fields(customer: Customer, program: Program, now: datetime, *, with_tier: bool = True) -> dict:
    """The fields a rule's conditions read about a stored customer now (its tier too, unless told not)."""
    fields = RuleProfile.of_customer(customer, local_today(program, now)).fields()
    if with_tier:
        fields["tier"] = customer.tier
    return fields
