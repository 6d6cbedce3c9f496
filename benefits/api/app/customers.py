"""Customers, their points and their ledger."""
from flask.views import MethodView
from marshmallow import ValidationError, fields

from ...errors import Invalid
from ...schemas import ID, MoneyOut, Strict
from ...schemas.customers import CustomerIn
from ...services import customers, ledger, progress
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


class MissingOut(Strict):
    field = fields.String(metadata={"description": "A numeric field of the next tier's condition, such as aum"})
    threshold = fields.String(metadata={"description": "The bar, as a decimal string", "example": "500000.00"})
    current = fields.String(allow_none=True, metadata={
        "description": "The customer's value (null: the customer has no such value, e.g. no AUM history)",
        "example": "200000.00"})
    missing = fields.String(allow_none=True, metadata={
        "description": "What the customer still lacks to pass the bar (0 or more)", "example": "300000.00"})


class NextTierOut(Strict):
    tier = fields.String(metadata={"description": "The tier above the customer's"})
    mode = fields.String(metadata={"description": "all: every bar must be passed; any: one is enough",
                                   "enum": ["all", "any"]})
    missing = fields.List(fields.Nested(MissingOut))


class CustomerDetailOut(CustomerOut):
    next_tier = fields.Nested(NextTierOut, allow_none=True, metadata={
        "description": "The next tier up and what is missing for it, from the active rules; null at the top tier "
                       "or when the next tier's condition is not made of numeric thresholds"})


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
    @blp.response(200, CustomerDetailOut)
    def get(self, customer_id):
        """A customer's profile, tier and balance, and how far the next tier up is"""
        customer = customers.current(context.session(), context.program, customer_id, context.now())
        return customers.snapshot(customer) | {"id": customer.id, "balance": customer.balance, "next_tier": (
            progress.next_tier(customer, context.program(), context.now()))}


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
