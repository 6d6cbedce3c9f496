"""The admins' Webhooks page: endpoints (subscribe, rotate the secret, delete) and their deliveries with status
and attempts (retry, skip), through the same services as /admin/v1/webhooks."""
from flask import g, request, url_for
from marshmallow import ValidationError

from ..api import context
from ..api.admin.webhooks import DeliveryArgs, WebhookIn
from ..api.pages import LARGEST_BIG_ID, paged
from ..errors import NotFound
from ..models import DeliveryStatus, MessageType, Role
from ..services import webhooks
from ..schemas import flatten
from . import blp
from .pages import action, page, render

PAGE = 50


def show(outcome: dict | None = None, status: int = 200):
    """The page: every endpoint, and the deliveries of the one chosen (``?webhook=ID``), newest first."""
    rows, next_page, problems = [], None, None
    filters = {name: value for name, value in request.args.items() if name in ("status", "cursor") and value}
    endpoints = webhooks.listing(g.session, limit=None, before=None)
    wanted = request.args.get("webhook", "")
    chosen = next((endpoint for endpoint in endpoints if wanted.isdigit() and endpoint.id == int(wanted)), None)
    if chosen is not None:
        try:
            args = DeliveryArgs().load(filters | {"limit": PAGE})
        except ValidationError as error:
            problems, args = flatten(error.messages), {"status": None, "cursor": None, "limit": PAGE}
        found = paged(args, lambda **page_of: webhooks.deliveries(g.session, chosen.id, status=args["status"],
                                                                    **page_of), largest=LARGEST_BIG_ID)
        rows = found["items"]
        if found["next_cursor"]:
            next_page = url_for("console.webhook_list", webhook=chosen.id, status=args["status"] or "",
                                cursor=found["next_cursor"])
    return render("console/webhooks.html", endpoints=endpoints,
                  chosen=chosen, rows=rows, next_page=next_page, problems=problems, outcome=outcome,
                  types=list(MessageType), statuses=list(DeliveryStatus), status_filter=filters.get("status", ""),
                  retryable=webhooks.OPEN), status


def unless_gone(work):
    """``work``, or a plain message when its webhook or message is no longer there (deleted in another tab,
    pruned): the desk's message for an unknown pass would not fit."""
    def run() -> dict:
        try:
            return work()
        except NotFound:
            return {"ok": False, "reason": "not_found", "message": "This webhook or message no longer exists.",
                    "values": {}}
    return run


@blp.get("/admin/webhooks")
@page(Role.ADMIN)
def webhook_list():
    return show()


@blp.post("/admin/webhooks")
@page(Role.ADMIN)
def subscribe():
    body = {"url": request.form.get("url", "").strip(), "types": request.form.getlist("types"),
            "description": request.form.get("description", "").strip() or None}

    def work() -> dict:
        extension = context.extension()
        endpoint, secret = webhooks.create(g.session, extension.encryption, WebhookIn().load(body),
                                           allow_private=extension.config.WEBHOOK_ALLOW_PRIVATE,
                                           actor=context.actor(), now=context.now())
        return {"message": "Webhook {id} is subscribed. Its secret, shown only now:", "values": {"id": endpoint.id},
                "key": secret}

    return show(action("subscribe-webhook", work, g.session, secret="key"))


@blp.post("/admin/webhooks/<int:webhook_id>/rotate")
@page(Role.ADMIN)
def rotate_secret(webhook_id):
    def work() -> dict:
        endpoint, secret = webhooks.rotate(g.session, context.extension().encryption, webhook_id,
                                           actor=context.actor(), now=context.now())
        return {"message": "The new secret of webhook {id}, shown only now (the old one signs too for 24 hours):",
                "values": {"id": endpoint.id}, "key": secret}

    return show(action("rotate-webhook", unless_gone(work), g.session, secret="key"))


@blp.post("/admin/webhooks/<int:webhook_id>/delete")
@page(Role.ADMIN)
def delete_webhook(webhook_id):
    def work() -> dict:
        webhooks.delete(g.session, webhook_id, actor=context.actor(), now=context.now())
        return {"message": "Webhook {id} is deleted.", "values": {"id": webhook_id}}

    return show(action("delete-webhook", unless_gone(work), g.session))


@blp.post("/admin/webhooks/<int:webhook_id>/deliveries/<message_id>/<any(retry, skip):verb>")
@page(Role.ADMIN)
def settle_delivery(webhook_id, message_id, verb):
    def work() -> dict:
        change = webhooks.retry if verb == "retry" else webhooks.skip
        change(g.session, webhook_id, message_id, now=context.now())
        return {"message": "Message {id} will be sent again now." if verb == "retry" else "Message {id} is skipped.",
                "values": {"id": message_id}}

    return show(action(f"{verb}-delivery", unless_gone(work), g.session))
