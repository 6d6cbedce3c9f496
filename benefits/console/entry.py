"""Signing in and out: a partner key opens the front desk, an admin key the admin console."""
import secrets

from flask import g, redirect, request, url_for

from .. import db
from ..api import context
from ..errors import DomainError
from ..models import Role
from ..services import console_sessions
from . import blp, i18n
from .pages import COOKIE, PRE_SIGN_IN, page, sign_in_form, signed_in
HOME = {Role.PARTNER: "console.desk", Role.ADMIN: "console.versions"}


@blp.get("/")
def sign_in_page():
    i18n.choose()
    found = signed_in()
    if found is not None and found[1].role in HOME:
        return redirect(url_for(HOME[found[1].role]), 303)
    return sign_in_form()


@blp.post("/sign-in")
def sign_in():
    i18n.choose()
    sent, kept = request.form.get("csrf_token", ""), request.cookies.get(PRE_SIGN_IN, "")
    if not kept or not secrets.compare_digest(sent, kept):
        return sign_in_form(i18n.gettext("Your session has ended. Sign in again."), 403)
    now = context.now()
    try:
        done = db.run(context.extension().sessions, lambda s: console_sessions.sign_in(
            s, request.form.get("api_key", ""), address=request.remote_addr or "-", request_id=g.request_id,
            now=now))
    except DomainError as error:
        return sign_in_form(_refusal(error), error.status)
    response = redirect(url_for(HOME[done.key.role]), 303)
    response.set_cookie(COOKIE, done.cookie, httponly=True, samesite="Strict", secure=request.is_secure,
                        path="/console", max_age=int(console_sessions.LIFETIME.total_seconds()))
    response.delete_cookie(PRE_SIGN_IN, path="/console")
    return response


def _refusal(error: DomainError) -> str:
    if error.reason == "rate_limited":
        return i18n.gettext("Too many failed sign-ins. Try again in {seconds} seconds.", seconds=error.retry_after)
    if isinstance(error, console_sessions.AppKeyRefused):
        return i18n.gettext("An app key is for the bank's app backend: it opens no console.")
    return i18n.gettext("Unknown or revoked API key.")


def sign_out_view():
    console_sessions.sign_out(g.session, g.console_session, g.api_key, request_id=g.request_id, now=context.now())
    response = redirect(url_for("console.sign_in_page"), 303)
    response.delete_cookie(COOKIE, path="/console")
    return response


blp.add_url_rule("/desk/sign-out", "desk_sign_out", page(Role.PARTNER)(sign_out_view), methods=["POST"])
blp.add_url_rule("/admin/sign-out", "admin_sign_out", page(Role.ADMIN)(sign_out_view), methods=["POST"])
blp.after_request(i18n.remember)
