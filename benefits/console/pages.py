"""What every console page shares: the signed-in session, CSRF, one-time form keys, plain messages.

A page handler is decorated ``@page(role)``: it runs in a unit of work with the
signed-in key (else the sign-in page, or a 403 page for the other role's
pages), and a POST must carry the session's CSRF token (else 403, nothing
changed). An action handler (``@action``) also takes the form's one-time
``idempotency_key``: a second post of the same form (a double click) answers
what the first did, and does it once.
"""
import functools
import secrets
import uuid
from datetime import datetime

from flask import abort, g, make_response, render_template, request
from sqlalchemy.orm import Session

from marshmallow import ValidationError

from .. import db
from ..errors import DomainError
from ..schemas import flatten
from ..models import Role
from ..services import console_sessions, idempotency, keys
from ..api import context
from . import blp, i18n

COOKIE = "benefits_console"
PRE_SIGN_IN = "benefits_sign_in"  # the sign-in form's CSRF token, kept by the browser before there is a session


def signed_in() -> tuple | None:
    """The request's live console session and key, or None."""
    cookie = request.cookies.get(COOKIE)
    now = context.now()
    found = db.run(context.extension().sessions, lambda s: console_sessions.current(s, cookie, now), write=False,
                   retries=0)
    if found is not None and console_sessions.needs_touch(found[0], now):
        db.run(context.extension().sessions, lambda s: console_sessions.touch(s, found[0], now), retries=0)
    return found


def page(role: Role):
    """A page of ``role``'s console, run in one unit of work under the signed-in key."""
    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            i18n.choose()
            found = signed_in()
            if found is None:
                return sign_in_form(_ended_message(), 401)
            g.console_session, g.api_key = found
            g.actor = keys.actor_for(g.api_key, g.request_id)
            if g.api_key.role != role:
                return render_template("console/error.html", message=i18n.gettext(
                    "This page is not for a {role} key.", role=i18n.gettext(g.api_key.role))), 403
            if request.method == "POST" and not secrets.compare_digest(
                    request.form.get("csrf_token", ""), g.console_session.csrf_token):
                abort(403, "the form's CSRF token is missing or wrong: reload the page and try again")
            return db.run(context.extension().sessions, functools.partial(context.in_unit, view, args, kwargs),
                          write=request.method == "POST")
        return wrapper
    return decorate


def sign_in_form(message: str | None = None, status: int = 200):
    """The sign-in form, with a CSRF token the browser also keeps in a cookie."""
    token = secrets.token_urlsafe(32)
    response = make_response(render_template("console/sign_in.html", message=message, pre_token=token), status)
    response.set_cookie(PRE_SIGN_IN, token, httponly=True, samesite="Strict", secure=request.is_secure,
                        path="/console")
    return response


def _ended_message() -> str | None:
    return i18n.gettext("Your session has ended. Sign in again.") if request.cookies.get(COOKIE) else None


def action(name: str, work, session: Session, secret: str | None = None) -> dict:
    """Run ``work()`` once per form: the outcome (``{"ok", "message", "values", ...}``) of the first post.

    A refusal is an outcome too, its message translated when it is shown, and
    a second post of the form answers it again. ``secret`` names a field of the
    outcome that is never kept (a new key): a second post answers without it.
    """
    form_key = request.form.get("idempotency_key", "")
    route = f"console {name} {request.path}"
    digest = idempotency.request_hash(request.get_data())
    if form_key:
        stored = idempotency.find(session, g.api_key.id, route, form_key, digest)
        if stored is not None:
            return stored[1]
    outcome = attempt(work, session)
    if form_key:
        kept = outcome
        if secret in outcome:
            kept = {**outcome, secret: None, "message": "This key was shown once, when it was created.", "values": {}}
        idempotency.store(session, g.api_key.id, route, form_key, digest, 200, kept, context.now())
    return outcome


def attempt(work, session: Session) -> dict:
    """``{"ok": True, **work()}`` in a savepoint, or the refusal it met, as a plain message to show."""
    try:
        with db.savepoint(session):
            return {"ok": True, **work()}
    except ValidationError as error:
        return {"ok": False, "reason": "invalid", "message": "; ".join(
            f"{item['path']}: {item['message']}" for item in flatten(error.messages)), "values": {}}
    except DomainError as error:
        if error.status not in (403, 404, 409, 422, 429):
            raise
        return {"ok": False, "reason": error.reason, **refusal(error), "errors": error.errors or []}


MESSAGES = {
    "not_found": "No such pass code, or it has expired.",
    "quota_exhausted": "No quota is left for this benefit in this period.",
    "hold_expired": "The hold lapsed before it was confirmed.",
    "already_cancelled": "This redemption was cancelled.",
    "not_eligible": "The customer has no such benefit.",
    "forbidden": "This desk does not serve this benefit, or the pass is for another one.",
    "four_eyes": "A version must be approved by an admin other than its author.",
    "not_approved": "Only an approved version can be activated.",
}


def refusal(error: DomainError) -> dict:
    """A refusal said plainly: the message to translate when shown, and its values."""
    if error.reason == "rate_limited":
        return {"message": "Too many failed look-ups. Try again in {seconds} seconds.",
                "values": {"seconds": error.retry_after}}
    return {"message": MESSAGES.get(error.reason, error.message), "values": {}}


def render(template: str, **values):
    """A console page, with what every page shows: the key signed in, the CSRF token, a new form key."""
    return render_template(template, key=g.api_key, csrf_token=g.console_session.csrf_token,
                           form_key=uuid.uuid4().hex, **values)


def local(moment: datetime | None, program) -> str:
    """A time as a desk reads it: in the programme's timezone, to the minute."""
    return moment.astimezone(program.timezone).strftime("%Y-%m-%d %H:%M") if moment else ""


blp.add_app_template_filter(lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "", "utc")
