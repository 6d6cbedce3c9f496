"""API keys for the app and for admins."""
from flask.views import MethodView
from marshmallow import fields, validate

from ...services import keys
from .. import context
from ..context import writes
from ..schemas import Strict
from . import blp


class KeyIn(Strict):
    role = fields.String(required=True, validate=validate.OneOf(["app", "admin"]))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


class KeyOut(Strict):
    id = fields.Integer()
    name = fields.String()
    role = fields.String()
    partner_id = fields.String(allow_none=True)
    key = fields.String(metadata={"description": "The key itself: shown once, stored only hashed"})


@blp.route("/api-keys")
class ApiKeys(MethodView):
    @writes
    @blp.arguments(KeyIn)
    @blp.response(201, KeyOut)
    def post(self, body):
        """Create an app or admin key (shown once)"""
        key, plaintext = keys.create_key(context.session(), role=body["role"], name=body["name"],
                                         actor=context.actor(), now=context.now())
        return {"id": key.id, "name": key.name, "role": key.role, "partner_id": None, "key": plaintext}
