"""A customer profile: the body of ``PUT /api/v1/customers/{id}``, and a profile given to a simulation."""
from datetime import date

from marshmallow import ValidationError, fields, post_load, validate, validates

from ..services.profiles import CustomerProfile, SuppliedProfile
from . import ID, Date, Integer, Money, Strict


class CustomerIn(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    aum = Money(required=True)
    annual_contribution = Money(load_default=0)
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=64)), load_default=list,
                       validate=validate.Length(max=50))
    birthday = fields.String(load_default=None, metadata={"example": "03-14"})
    as_of = Date(load_default=None)
    customer_since = Date(load_default=None)

    @validates("birthday")
    def check_birthday(self, value, **_):
        if value is None:
            return
        try:
            date.fromisoformat(f"2000-{value}")  # a leap year: 02-29 is a birthday
        except ValueError:
            raise ValidationError("must be a month and day as MM-DD, such as 03-14") from None
        if len(value) != 5:
            raise ValidationError("must be a month and day as MM-DD, such as 03-14")

    @post_load
    def make(self, data, **_) -> CustomerProfile:
        return CustomerProfile(**(data | {"tags": tuple(data["tags"])}))


class ProfileIn(CustomerIn):
    """A customer as the PUT customer body describes one, plus an optional id and two derived fields."""

    customer_id = fields.String(load_default=None, validate=ID,
                                metadata={"description": "Echoed in the answer; not looked up"})
    tenure_days = Integer(load_default=None, validate=validate.Range(min=0, max=100_000), metadata={
        "description": "Default: counted from customer_since to as_of; absent without customer_since"})
    aum_growth_3m = fields.Float(load_default=None, allow_nan=False, validate=validate.Range(min=-1, max=1e9),
                                 metadata={"description": "0.25 for 25% growth over three months; default absent"})

    @post_load
    def make(self, data, **_) -> SuppliedProfile:
        return SuppliedProfile(**(data | {"tags": tuple(data["tags"])}))
