"""Entitlements, rewards and passes: what a customer may use, buy, and show a partner."""
from flask.views import MethodView
from marshmallow import fields, validate

from ...schemas import ID, Integer, Strict
from ...services import customers, entitlements, passes, rewards
from .. import context
from ..context import reads, writes
from . import blp


class EntitlementOut(Strict):
    benefit = fields.String()
    source = fields.String(metadata={"description": "rule (a benefit grant) or reward (bought with points)"})
    rule = fields.String(metadata={"description": "The benefit rule id, or the reward id"})
    rule_version = fields.Integer()
    quota = fields.Integer(allow_none=True, metadata={"description": "null: unlimited"})
    used = fields.Integer()
    held = fields.Integer()
    remaining = fields.Integer(allow_none=True, metadata={"description": "null: unlimited"})
    period_start = fields.DateTime(allow_none=True, metadata={"description": "null: lifetime"})
    period_end = fields.DateTime(allow_none=True, metadata={"description": "exclusive; null: lifetime"})


class Entitlements(Strict):
    items = fields.List(fields.Nested(EntitlementOut))


class RewardArgs(Strict):
    customer_id = fields.String(load_default=None, validate=ID)


class RewardOut(Strict):
    id = fields.String()
    benefit = fields.String()
    cost = fields.Integer()
    eligible = fields.Boolean(allow_none=True, metadata={"description": "null when no customer is named"})


class Rewards(Strict):
    items = fields.List(fields.Nested(RewardOut))


class RedeemOut(Strict):
    points_spent = fields.Integer()
    balance = fields.Integer()
    benefit = fields.String()
    units = fields.Integer(metadata={"description": "Units of this reward the customer has bought in all"})


class PassIn(Strict):
    benefit = fields.String(load_default=None, validate=validate.Length(min=1, max=64),
                            metadata={"description": "Only this benefit is shown and redeemable"})
    ttl_seconds = Integer(load_default=None, validate=validate.Range(min=30, max=86400),
                                 metadata={"description": "Default 600 (10 minutes)"})


class PassOut(Strict):
    code = fields.String(metadata={"example": "7KQ2M-XH9PD"})
    benefit = fields.String(allow_none=True)
    expires_at = fields.DateTime()


@blp.route("/customers/<customer_id>/entitlements")
class CustomerEntitlements(MethodView):
    @reads
    @blp.response(200, Entitlements)
    def get(self, customer_id):
        """Benefits the customer may redeem now, with quota, used, held and remaining this period"""
        s, now = context.session(), context.now()
        return {"items": entitlements.for_customer(s, customers.current(s, context.program, customer_id, now),
                                                     context.program(), now)}


@blp.route("/rewards")
class RewardCatalog(MethodView):
    @reads
    @blp.arguments(RewardArgs, location="query")
    @blp.response(200, Rewards)
    def get(self, args):
        """What points can buy; with `customer_id`, whether that customer is eligible"""
        return {"items": rewards.catalog(context.session(), context.program(), args["customer_id"],
                                         context.now())}


@blp.route("/customers/<customer_id>/rewards/<reward_id>/redeem")
class RedeemReward(MethodView):
    @writes
    @blp.response(201, RedeemOut)
    @blp.alt_response(409, description="`insufficient_points` or `not_eligible`")
    def post(self, customer_id, reward_id):
        """Buy a reward with points (oldest points first); adds one unit to the reward's entitlement"""
        return rewards.redeem(context.session(), context.program(), customer_id, reward_id,
                              actor=context.actor(), now=context.now())


@blp.route("/customers/<customer_id>/passes")
class Passes(MethodView):
    @writes
    @blp.arguments(PassIn, required=False)
    @blp.response(201, PassOut)
    def post(self, body, customer_id):
        """Issue a pass code the customer shows a partner (valid 10 minutes unless told otherwise)"""
        code, issued = passes.issue(context.session(), context.program(), customer_id, benefit=body["benefit"],
                                    ttl_seconds=body["ttl_seconds"], actor=context.actor(), now=context.now())
        return {"code": code, "benefit": issued.benefit, "expires_at": issued.expires_at}
