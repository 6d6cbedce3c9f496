"""Webhook endpoints: subscribe, list, delete, rotate the secret; their deliveries: list, retry, skip.

Saving an endpoint stores it and nothing more: only the worker (``benefits outbox run``) sends.
"""
from flask.views import MethodView
from marshmallow import fields, post_load, validate

from ...models import DeliveryStatus, MessageType
from ...schemas import Strict
from ...services import webhooks
from ...services.webhooks import NewEndpoint
from .. import context
from ..context import reads, writes
from ..pages import LARGEST_BIG_ID, PageArgs, page_of, paged
from . import blp


class WebhookIn(Strict):
    url = fields.String(required=True, validate=validate.Length(min=1, max=2000), metadata={
        "description": "https (http and private addresses only with BENEFITS_WEBHOOK_ALLOW_PRIVATE=1)",
        "example": "https://crm.bank.example/hooks/benefits"})
    types = fields.List(fields.Enum(MessageType, by_value=True), required=True,
                        validate=validate.Length(min=1, max=len(MessageType)))
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))

    @post_load
    def make(self, data, **_) -> NewEndpoint:
        return NewEndpoint(url=data["url"], types=tuple(data["types"]), description=data["description"])


class WebhookOut(Strict):
    id = fields.Integer()
    url = fields.String()
    types = fields.List(fields.String())
    description = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "active; disabled (it answered 410 Gone)"})
    created_at = fields.DateTime()
    secret_rotated_at = fields.DateTime(allow_none=True)
    previous_secret_expires_at = fields.DateTime(allow_none=True, metadata={
        "description": "Until then the previous secret signs too"})
    disabled_at = fields.DateTime(allow_none=True)


class WebhookCreated(WebhookOut):
    secret = fields.String(metadata={"description": "whsec_...: shown once, stored only encrypted"})


WebhookPage = page_of(WebhookOut, "WebhookPage")


class SecretOut(Strict):
    id = fields.Integer()
    secret = fields.String(metadata={"description": "The new whsec_... secret: shown once"})
    previous_secret_expires_at = fields.DateTime(metadata={"description": "The old secret signs too until then"})


class DeliveryArgs(PageArgs):
    status = fields.Enum(DeliveryStatus, by_value=True, load_default=None)


class DeliveryItem(Strict):
    message_id = fields.String(metadata={"description": "The message's id, sent as webhook-id"})
    type = fields.String()
    customer_id = fields.String(allow_none=True)
    occurred_at = fields.DateTime()
    status = fields.String(metadata={"description": "pending, delivered, failed or skipped"})
    attempts = fields.Integer()
    last_response_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)


DeliveryPage = page_of(DeliveryItem, "DeliveryPage")


def created(endpoint, secret: str) -> dict:
    return {name: getattr(endpoint, name) for name in WebhookOut._declared_fields} | {"secret": secret}


@blp.route("/webhooks")
class Webhooks(MethodView):
    @writes
    @blp.arguments(WebhookIn)
    @blp.response(201, WebhookCreated)
    def post(self, new):
        """Subscribe an endpoint to message types; its secret is shown once"""
        extension = context.extension()
        return created(*webhooks.create(context.session(), extension.encryption, new,
                                        allow_private=extension.config.WEBHOOK_ALLOW_PRIVATE,
                                        actor=context.actor(), now=context.now()))

    @reads
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, WebhookPage)
    def get(self, args):
        """Endpoints, newest first (never their secrets)"""
        return paged(args, lambda **page: webhooks.listing(context.session(), **page))


@blp.route("/webhooks/<int:webhook_id>")
class Webhook(MethodView):
    @writes
    @blp.response(204)
    def delete(self, webhook_id):
        """Delete an endpoint: nothing more is sent to it"""
        webhooks.delete(context.session(), webhook_id, actor=context.actor(), now=context.now())


@blp.route("/webhooks/<int:webhook_id>/rotate-secret")
class RotateSecret(MethodView):
    @writes
    @blp.response(200, SecretOut)
    def post(self, webhook_id):
        """A new secret, shown once; the old one signs beside it for 24 h"""
        endpoint, secret = webhooks.rotate(context.session(), context.extension().encryption, webhook_id,
                                           actor=context.actor(), now=context.now())
        return {"id": endpoint.id, "secret": secret,
                "previous_secret_expires_at": endpoint.previous_secret_expires_at}


@blp.route("/webhooks/<int:webhook_id>/deliveries")
class Deliveries(MethodView):
    @reads
    @blp.arguments(DeliveryArgs, location="query")
    @blp.response(200, DeliveryPage)
    def get(self, args, webhook_id):
        """An endpoint's deliveries, newest first, with status, attempts, last answer and next attempt"""
        return paged(args, lambda **page: webhooks.deliveries(context.session(), webhook_id, status=args["status"],
                                                              **page), largest=LARGEST_BIG_ID)


@blp.route("/webhooks/<int:webhook_id>/deliveries/<message_id>/retry")
class Retry(MethodView):
    @writes
    @blp.response(200, DeliveryItem)
    @blp.alt_response(409, description="`conflict`: the delivery was delivered or skipped")
    def post(self, webhook_id, message_id):
        """Send a pending or failed delivery again now, with a new round of retries"""
        return webhooks.retry(context.session(), webhook_id, message_id, now=context.now())


@blp.route("/webhooks/<int:webhook_id>/deliveries/<message_id>/skip")
class Skip(MethodView):
    @writes
    @blp.response(200, DeliveryItem)
    @blp.alt_response(409, description="`conflict`: the delivery was delivered or skipped")
    def post(self, webhook_id, message_id):
        """Give up on a pending or failed delivery: the later messages of its stream go on"""
        return webhooks.skip(context.session(), webhook_id, message_id, now=context.now())
