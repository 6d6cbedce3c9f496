"""API keys for the app and for admins."""
from flask.views import MethodView
from marshmallow import fields, validate

from ...models import Role
from ...schemas import Strict
from ...services import keys
from .. import context
from ..context import writes
from . import blp


class KeyIn(Strict):
    role = fields.String(required=True, validate=validate.OneOf([Role.APP, Role.ADMIN]))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


class KeyOut(Strict):
    id = fields.Integer()
    name = fields.String()
    role = fields.String()
    partner_id = fields.String(allow_none=True)
    key = fields.String(metadata={"description": "The key itself: shown once, stored only hashed"})


def created(key, plaintext: str) -> dict:
    return {"id": key.id, "name": key.name, "role": key.role, "partner_id": key.partner_id, "key": plaintext}


@blp.route("/api-keys")
class ApiKeys(MethodView):
    @writes
    @blp.arguments(KeyIn)
    @blp.response(201, KeyOut)
    def post(self, body):
        """Create an app or admin key (shown once)"""
        return created(*keys.create_key(context.session(), role=body["role"], name=body["name"],
                                        actor=context.actor(), now=context.now()))
