"""Two-phase redemptions: hold, then confirm or cancel; and the partner's own list to reconcile."""
from flask import g
from flask.views import MethodView
from marshmallow import fields, post_load, validate

from ...errors import DomainError
from ...models import RedemptionStatus
from ...schemas import AwareDateTime, Integer, Strict
from ...services import partners, redemptions
from ...services.redemptions import HoldRequest
from .. import context
from ..context import grouped, reads, writes
from ..pages import LARGEST_BIG_ID, PageArgs, page_of, paged
from . import blp


class RedemptionIn(Strict):
    pass_code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    benefit = fields.String(required=True, validate=validate.Length(min=1, max=64))
    quantity = Integer(load_default=1, validate=validate.Range(min=1, max=100))
    capture = fields.Boolean(load_default=False, metadata={"description": "Hold and confirm at once"})

    @post_load
    def make(self, data, **_) -> HoldRequest:
        return HoldRequest(**data)


class RedemptionOut(Strict):
    id = fields.Integer()
    status = fields.String()
    benefit = fields.String()
    quantity = fields.Integer()
    customer_ref = fields.Method("ref")
    rule = fields.String(attribute="rule_id")
    rule_version = fields.Integer()
    created_at = fields.DateTime()
    hold_expires_at = fields.DateTime(allow_none=True)
    confirmed_at = fields.DateTime(allow_none=True)
    cancelled_at = fields.DateTime(allow_none=True)
    lapsed_at = fields.DateTime(allow_none=True)

    def ref(self, redemption) -> str:
        return partners.customer_ref(context.secret(), redemption.partner_id, redemption.customer_id)


class RedemptionArgs(PageArgs):
    status = fields.Enum(RedemptionStatus, by_value=True, load_default=None)
    since = AwareDateTime(load_default=None, metadata={"description": "Created at or after"})
    until = AwareDateTime(load_default=None, metadata={"description": "Created before"})


RedemptionPage = page_of(RedemptionOut, "RedemptionPage")


@blp.route("/redemptions")
class Redemptions(MethodView):
    @grouped
    @blp.arguments(RedemptionIn)
    @blp.response(201, RedemptionOut)
    @blp.alt_response(403, description="The partner does not serve this benefit, or the pass is for another")
    @blp.alt_response(404, description="Unknown or expired pass")
    @blp.alt_response(409, description="`quota_exhausted` or `not_eligible`")
    def post(self, hold):
        """Hold a benefit for the pass's customer (`capture: true` confirms at once)"""
        return context.in_group("holds", (context.partner(), hold, g.api_key.id), hold_posted, RESPONSE.dump)

    @reads
    @blp.arguments(RedemptionArgs, location="query")
    @blp.response(200, RedemptionPage)
    def get(self, args):
        """The partner's own redemptions, newest first"""
        return paged(args, lambda **page: redemptions.listing(
            context.session(), context.partner(), status=args["status"], since=args["since"],
            until=args["until"], **page), largest=LARGEST_BIG_ID)


RESPONSE = RedemptionOut()


def hold_posted(session, program, posted: list[tuple], actors, now) -> list:
    """Holds posted at the same moment, one after the other in one unit of work, each answered as if alone:
    ``(redemption, 201)`` or its refusal. A hold refuses before it writes, but for what it must keep (a
    failed look-up counted, a customer re-evaluated), which goes with the group's commit."""
    answers = []
    for (partner, request, key_id), actor in zip(posted, actors):
        try:
            answers.append((redemptions.hold(session, program, partner, request, key_id=key_id, actor=actor,
                                             now=now), 201))
        except DomainError as refusal:
            answers.append(refusal)
    return answers


@blp.route("/redemptions/<int:redemption_id>/confirm")
class Confirm(MethodView):
    @writes
    @blp.response(200, RedemptionOut)
    @blp.alt_response(409, description="`hold_expired` or `already_cancelled`")
    def post(self, redemption_id):
        """Confirm a held redemption"""
        return redemptions.confirm(context.session(), context.program(), context.partner(), redemption_id,
                                   actor=context.actor(), now=context.now())


@blp.route("/redemptions/<int:redemption_id>/cancel")
class Cancel(MethodView):
    @writes
    @blp.response(200, RedemptionOut)
    @blp.alt_response(409, description="`hold_expired`")
    def post(self, redemption_id):
        """Cancel a hold, or a confirmed redemption (the quota returns)"""
        return redemptions.cancel(context.session(), context.partner(), redemption_id,
                                  actor=context.actor(), now=context.now())
