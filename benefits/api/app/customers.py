"""Customers, their points and their ledger."""
from flask.views import MethodView
from marshmallow import ValidationError, fields

from ...errors import Invalid
from ...schemas import ID, MoneyOut, Strict
from ...schemas.customers import CustomerIn
from ...services import customers, ledger
from .. import context
from ..context import reads, writes
from ..pages import LARGEST_BIG_ID, PageArgs, page_of, paged
from . import blp


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


LedgerPage = page_of(LedgerItem, "LedgerPage")


def check_id(customer_id: str) -> None:
    try:
        ID(customer_id)
    except ValidationError as error:
        raise Invalid([{"path": "path.customer_id", "message": error.messages[0]}]) from None


@blp.route("/customers/<customer_id>")
class Customer(MethodView):
    @writes
    @blp.arguments(CustomerIn)
    @blp.response(200, CustomerOut)
    @blp.alt_response(201, schema=CustomerOut, description="Created")
    def put(self, profile, customer_id):
        """Create or update a customer; re-evaluates tier and signals"""
        check_id(customer_id)
        customer, created = customers.upsert(context.session(), context.program(), customer_id, profile,
                                             actor=context.actor(), now=context.now())
        return customer, 201 if created else 200

    @reads
    @blp.response(200, CustomerOut)
    def get(self, customer_id):
        """A customer's profile, tier and balance"""
        return customers.current(context.session(), context.program, customer_id, context.now())


@blp.route("/customers/<customer_id>/points")
class Points(MethodView):
    @reads
    @blp.response(200, PointsOut)
    def get(self, customer_id):
        """Balance (pending included), the part not yet spendable, and what expires when"""
        return ledger.points(context.session(), customers.get(context.session(), customer_id), context.now())


@blp.route("/customers/<customer_id>/ledger")
class Ledger(MethodView):
    @reads
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, LedgerPage)
    def get(self, args, customer_id):
        """Ledger entries, newest first"""
        s = context.session()
        customers.get(s, customer_id)
        return paged(args, lambda **page: ledger.entries(s, customer_id, **page), largest=LARGEST_BIG_ID)
