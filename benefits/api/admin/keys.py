"""API keys: create app and admin keys, list every key, revoke one."""
from flask.views import MethodView
from marshmallow import fields, validate

from ...models import Role
from ...schemas import Strict
from ...services import keys
from .. import context
from ..context import reads, writes
from ..pages import PageArgs, page_of, paged
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


class KeyItem(Strict):
    """A key as listed: never the key itself."""

    id = fields.Integer()
    role = fields.String()
    name = fields.String()
    partner_id = fields.String(allow_none=True)
    created_at = fields.DateTime()
    last_used_at = fields.DateTime(allow_none=True, metadata={"description": "To within five minutes"})
    revoked_at = fields.DateTime(allow_none=True)


KeyPage = page_of(KeyItem, "KeyPage")


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

    @reads
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, KeyPage)
    def get(self, args):
        """Every key, partners' included, newest first: who it is for and when it was last used, never the key"""
        return paged(args, lambda **page: keys.listing(context.session(), **page))


@blp.route("/api-keys/<int:key_id>/revoke")
class Revoke(MethodView):
    @writes
    @blp.response(200, KeyItem)
    def post(self, key_id):
        """Revoke a key: every request with it is refused (401) from now on, on every process"""
        return keys.revoke(context.session(), key_id, actor=context.actor(), now=context.now())
