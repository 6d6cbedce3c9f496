"""Partners and their keys."""
from flask.views import MethodView
from marshmallow import fields, validate

from ...services import keys, partners
from .. import context
from ..context import writes
from ..schemas import ID, Strict
from . import blp


class PartnerIn(Strict):
    id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=validate.OneOf(partners.KINDS))
    benefits = fields.List(fields.String(validate=validate.Length(min=1, max=64)), required=True,
                           validate=validate.Length(min=1, max=100))


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


class PartnerKeyOut(Strict):
    id = fields.Integer()
    name = fields.String()
    role = fields.String()
    partner_id = fields.String()
    key = fields.String(metadata={"description": "The key itself: shown once, stored only hashed"})


@blp.route("/partners")
class Partners(MethodView):
    @writes
    @blp.arguments(PartnerIn)
    @blp.response(201, PartnerOut)
    @blp.alt_response(409, description="`conflict`: a partner with this id exists already")
    def post(self, body):
        """Register a partner and the benefits it serves"""
        return partners.create(context.session(), context.rules(), body, actor=context.actor(), now=context.now())

    @blp.response(200, PartnerList)
    def get(self):
        """All partners"""
        return {"items": partners.listing(context.session())}


@blp.route("/partners/<partner_id>/keys")
class PartnerKeys(MethodView):
    @writes
    @blp.arguments(PartnerKeyIn)
    @blp.response(201, PartnerKeyOut)
    def post(self, body, partner_id):
        """Create a key for a partner (shown once)"""
        partner = partners.get(context.session(), partner_id)
        key, plaintext = keys.create_key(context.session(), role="partner", name=body["name"] or f"{partner.id}-key",
                                         partner_id=partner.id, actor=context.actor(), now=context.now())
        return {"id": key.id, "name": key.name, "role": key.role, "partner_id": key.partner_id, "key": plaintext}
