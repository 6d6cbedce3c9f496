"""Manual adjustments of a customer's points: proposed by one admin, approved by another."""
from flask.views import MethodView
from marshmallow import fields, post_load, validate

from ...models import AdjustmentStatus
from ...schemas import ID, Integer, Strict
from ...services import adjustments
from ...services.adjustments import NewAdjustment
from .. import context
from ..context import reads, writes
from ..pages import LARGEST_BIG_ID, PageArgs, page_of, paged
from . import blp

MAX_POINTS = 1_000_000_000


class AdjustmentIn(Strict):
    points = Integer(required=True, validate=[validate.Range(min=-MAX_POINTS, max=MAX_POINTS),
                                              validate.NoneOf([0], error="must not be 0")],
                     metadata={"description": "Signed: points added (+) or taken back (−), not 0"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))

    @post_load
    def make(self, data, **_) -> NewAdjustment:
        return NewAdjustment(**data)


class AdjustmentOut(Strict):
    id = fields.Integer()
    customer_id = fields.String()
    points = fields.Integer()
    reason = fields.String()
    status = fields.String(metadata={"description": "`pending` or `approved`"})
    author = fields.String()
    created_at = fields.DateTime()
    approver = fields.String(allow_none=True)
    approved_at = fields.DateTime(allow_none=True)
    ledger_entry_id = fields.Integer(allow_none=True, metadata={"description": "The `adjust` entry, once approved"})


class AdjustmentArgs(PageArgs):
    status = fields.Enum(AdjustmentStatus, by_value=True, load_default=None)
    customer_id = fields.String(load_default=None, validate=ID)


AdjustmentPage = page_of(AdjustmentOut, "AdjustmentPage")


@blp.route("/customers/<customer_id>/adjustments")
class Adjustments(MethodView):
    @writes
    @blp.arguments(AdjustmentIn)
    @blp.response(201, AdjustmentOut)
    def post(self, new, customer_id):
        """Propose a manual adjustment of a customer's points; pending until another admin approves it"""
        return adjustments.create(context.session(), customer_id, new, actor=context.actor(), now=context.now())


@blp.route("/customers/<customer_id>/adjustments/<int:adjustment_id>/approve")
class Approve(MethodView):
    @writes
    @blp.response(200, AdjustmentOut)
    @blp.alt_response(403, description="`four_eyes`: the author may not approve their own adjustment")
    @blp.alt_response(409, description="The adjustment is approved already")
    def post(self, customer_id, adjustment_id):
        """Approve a pending adjustment (four eyes): it becomes an `adjust` entry of the ledger"""
        return adjustments.approve(context.session(), context.program(), customer_id, adjustment_id,
                                   actor=context.actor(), now=context.now())


@blp.route("/adjustments")
class AdjustmentList(MethodView):
    @reads
    @blp.arguments(AdjustmentArgs, location="query")
    @blp.response(200, AdjustmentPage)
    def get(self, args):
        """Manual adjustments, newest first (filter `status=pending` for those awaiting approval)"""
        return paged(args, lambda **page: adjustments.listing(
            context.session(), status=args["status"], customer_id=args["customer_id"], **page),
            largest=LARGEST_BIG_ID)
