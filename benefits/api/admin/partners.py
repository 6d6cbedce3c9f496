"""Partners and their keys."""
from flask.views import MethodView
from marshmallow import fields, post_load, validate

from ...models import PartnerKind, Role
from ...schemas import ID, Strict
from ...services import keys, partners
from ...services.partners import NewPartner
from .. import context
from ..context import reads, writes
from . import blp
from .keys import KeyOut, created


class PartnerIn(Strict):
    id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.Enum(PartnerKind, by_value=True, required=True)
    benefits = fields.List(fields.String(validate=validate.Length(min=1, max=64)), required=True,
                           validate=validate.Length(min=1, max=100))

    @post_load
    def make(self, data, **_) -> NewPartner:
        return NewPartner(**(data | {"benefits": tuple(data["benefits"])}))


class PartnerOut(Strict):
    id = fields.String()
    name = fields.String()
    kind = fields.String()
    benefits = fields.List(fields.String())
    created_at = fields.DateTime()


class PartnerList(Strict):
    items = fields.List(fields.Nested(PartnerOut))


class PartnerKeyIn(Strict):
    name = fields.String(load_default=None, validate=validate.Length(min=1, max=100))


@blp.route("/partners")
class Partners(MethodView):
    @writes
    @blp.arguments(PartnerIn)
    @blp.response(201, PartnerOut)
    @blp.alt_response(409, description="`conflict`: a partner with this id exists already")
    def post(self, new):
        """Register a partner and the benefits it serves"""
        return partners.create(context.session(), context.program(), new, actor=context.actor(), now=context.now())

    @reads
    @blp.response(200, PartnerList)
    def get(self):
        """All partners"""
        return {"items": partners.listing(context.session())}


@blp.route("/partners/<partner_id>/keys")
class PartnerKeys(MethodView):
    @writes
    @blp.arguments(PartnerKeyIn, required=False)
    @blp.response(201, KeyOut)
    def post(self, body, partner_id):
        """Create a key for a partner (shown once)"""
        partner = partners.get(context.session(), partner_id)
        return created(*keys.create_key(context.session(), role=Role.PARTNER, name=body["name"] or f"{partner.id}-key",
                                        partner_id=partner.id, actor=context.actor(), now=context.now()))
