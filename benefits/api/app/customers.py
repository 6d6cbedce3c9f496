"""Customers, their points and their ledger."""
from datetime import date

from flask.views import MethodView
from marshmallow import fields, validate, validates, ValidationError

from ...services import customers, ledger
from .. import context
from ..context import writes
from ..schemas import ID, Money, MoneyOut, PageArgs, Strict, cursor_id, page
from . import blp


class CustomerIn(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    aum = Money(required=True)
    annual_contribution = Money(load_default=0)
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=64)), load_default=list,
                       validate=validate.Length(max=50))
    birthday = fields.String(load_default=None, metadata={"example": "03-14"})
    as_of = fields.Date(load_default=None)
    customer_since = fields.Date(load_default=None)

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


class CustomerOut(Strict):
    id = fields.String()
    name = fields.String()
    aum = MoneyOut()
    annual_contribution = MoneyOut()
    tags = fields.List(fields.String())
    birthday = fields.String(allow_none=True)
    customer_since = fields.Date()
    as_of = fields.Date(attribute="last_as_of")
    tier = fields.String()
    signals = fields.List(fields.String())
    balance = fields.Integer()


class ExpiringOut(Strict):
    points = fields.Integer()
    expires_at = fields.DateTime()


class PointsOut(Strict):
    balance = fields.Integer()
    pending = fields.Integer()
    spendable = fields.Integer()
    expiring = fields.List(fields.Nested(ExpiringOut))


class LedgerItem(Strict):
    id = fields.Integer()
    kind = fields.String()
    points = fields.Integer()
    balance_after = fields.Integer()
    event_id = fields.String(allow_none=True)
    rule_version = fields.Integer(allow_none=True)
    rule = fields.String(attribute="rule_id", allow_none=True)
    reference = fields.String(allow_none=True)
    created_at = fields.DateTime()


class LedgerPage(Strict):
    items = fields.List(fields.Nested(LedgerItem))
    next_cursor = fields.String(allow_none=True)


def check_id(customer_id: str) -> None:
    from ...errors import Invalid

    try:
        ID(customer_id)
    except ValidationError as error:
        raise Invalid([{"path": "path.customer_id", "message": error.messages[0]}])


@blp.route("/customers/<customer_id>")
class Customer(MethodView):
    @writes
    @blp.arguments(CustomerIn)
    @blp.response(200, CustomerOut)
    @blp.alt_response(201, schema=CustomerOut, description="Created")
    def put(self, body, customer_id):
        """Create or update a customer; re-evaluates tier and signals"""
        check_id(customer_id)
        customer, created = customers.upsert(context.session(), context.rules(), customer_id, body,
                                             actor=context.actor(), now=context.now())
        return customer, 201 if created else 200

    @writes
    @blp.response(200, CustomerOut)
    def get(self, customer_id):
        """A customer's profile, tier and balance"""
        customer = customers.lock(context.session(), customer_id)
        customers.refresh(context.session(), customer, context.rules(), context.now())
        return customer


@blp.route("/customers/<customer_id>/points")
class Points(MethodView):
    @blp.response(200, PointsOut)
    def get(self, customer_id):
        """Balance (pending included), the part not yet spendable, and what expires when"""
        s, now = context.session(), context.now()
        customer = customers.get(s, customer_id)
        pending = ledger.pending(s, customer_id, now)
        return {"balance": customer.balance, "pending": pending, "spendable": customer.balance - pending,
                "expiring": ledger.expiring(s, customer_id, now)}


@blp.route("/customers/<customer_id>/ledger")
class Ledger(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, LedgerPage)
    def get(self, args, customer_id):
        """Ledger entries, newest first"""
        s = context.session()
        customers.get(s, customer_id)
        items = ledger.entries(s, customer_id, limit=args["limit"] + 1, before_id=cursor_id(args["cursor"]))
        return page(items, args["limit"], lambda entry: entry.id)
