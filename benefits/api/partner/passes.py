"""Looking a customer's pass code up at the front desk."""
from flask import g
from flask.views import MethodView
from marshmallow import fields

from ...schemas import Strict
from ...services import passes
from .. import context
from ..context import reads
from . import blp


class PassEntitlement(Strict):
    benefit = fields.String()
    quota = fields.Integer(allow_none=True, metadata={"description": "null: unlimited"})
    used = fields.Integer()
    held = fields.Integer()
    remaining = fields.Integer(allow_none=True, metadata={"description": "null: unlimited"})
    period_start = fields.DateTime(allow_none=True)
    period_end = fields.DateTime(allow_none=True)


class PassView(Strict):
    customer_ref = fields.String(metadata={"description": "The customer's pseudonym for this partner"})
    display_name = fields.String(metadata={"example": "张**"})
    tier = fields.String()
    benefit = fields.String(allow_none=True, metadata={"description": "Set when the pass is for one benefit only"})
    expires_at = fields.DateTime()
    entitlements = fields.List(fields.Nested(PassEntitlement))


@blp.route("/passes/<code>")
class PassLookup(MethodView):
    @reads
    @blp.response(200, PassView)
    @blp.alt_response(404, description="Unknown or expired (counts as a failed look-up)")
    @blp.alt_response(429, description="More than 20 failed look-ups by this key in the last minute")
    def get(self, code):
        """The customer behind a pass: pseudonym, masked name, tier, and this partner's benefits only"""
        s, now = context.session(), context.now()
        found = passes.find(s, code, key_id=g.api_key.id, now=now)
        return passes.view(s, context.program(), found, context.partner(), secret=context.secret(), now=now)
