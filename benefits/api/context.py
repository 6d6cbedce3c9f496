"""Per-request context: the session, the calling key, the clock, the rules, and transactions."""
import functools
import json
import logging
import uuid
from datetime import datetime, timezone

from flask import current_app, g, jsonify, request
from flask_smorest import Blueprint
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import BadRequest

from ..db import expect_writes
from ..errors import DomainError, Forbidden, IdempotencyConflict, Invalid, Unauthenticated
from ..services import idempotency, keys
from ..services.customers import Rules

log = logging.getLogger("benefits.requests")
ROLE_PREFIXES = {"/api/v1": "app", "/partner/v1": "partner", "/admin/v1": "admin"}
MAX_IDEMPOTENCY_KEY = 200


def now() -> datetime:
    clock = current_app.config.get("CLOCK")
    return clock() if clock else datetime.now(timezone.utc)


def session():
    if "session" not in g:
        g.session = current_app.extensions["benefits"].sessions()
    return g.session


def rules() -> Rules:
    """The active rule version, read once per request so the request is wholly under it.

    Its program is leased until the request ends, so it stays compiled even if
    other versions push it out of the process's cache meanwhile.
    """
    if "rules" not in g:
        programs = current_app.extensions["benefits"].programs
        version, _ = programs.active(session())
        lease = programs.lease(session(), version)
        g.rules = Rules(version, lease.__enter__())
        g.rules_lease = lease
    return g.rules


def forget_rules() -> None:
    g.pop("rules", None)
    lease = g.pop("rules_lease", None)
    if lease is not None:
        lease.__exit__(None, None, None)


def actor():
    return g.actor


def partner():
    """The calling partner key's partner."""
    from ..services import partners

    if "partner" not in g:
        g.partner = partners.get(session(), g.api_key.partner_id)
    return g.partner


def secret() -> str:
    return current_app.config["SECRET_KEY"]


def authenticate() -> None:
    """Resolve the bearer key and check its role may use this prefix (before every request)."""
    g.request_id = request.headers.get("X-Request-ID", "")[:64] or uuid.uuid4().hex
    expect_writes(request.method not in ("GET", "HEAD", "OPTIONS"))
    role = next((r for prefix, r in ROLE_PREFIXES.items() if request.path.startswith(prefix + "/")
                 or request.path == prefix), None)
    if role is None:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("An `Authorization: Bearer <key>` header is required.")
    key = keys.authenticate(session(), token.strip())
    if key is None:
        raise Unauthenticated("Unknown or revoked API key.")
    g.api_key = key
    g.actor = keys.actor_for(key, g.request_id)
    if key.role != role:
        raise Forbidden(f"A {key.role} key may not use {request.path.split('/v1')[0]}/v1.")


def close_session(_exc=None) -> None:
    forget_rules()
    s = g.pop("session", None)
    if s is not None:
        s.close()


def finish(response):
    """Echo the request id and log the request by key id and name (never the key itself)."""
    if "request_id" in g:
        response.headers["X-Request-ID"] = g.request_id
    key = g.get("api_key")
    log.info("%s %s %s key=%s request_id=%s", request.method, request.path, response.status_code,
             f"{key.id}:{key.name}" if key else "-", g.get("request_id"))
    return response


def writes(view):
    """Run the view as one transaction, answering retries with the same Idempotency-Key the first answer.

    A concurrent duplicate (a unique constraint hit at commit) is retried once:
    the second run sees what the first committed and answers as a replay.
    """
    refuses_body = view.__name__ != "get" and not _takes_body(view)

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        idem_key = request.headers.get("Idempotency-Key")
        if idem_key is not None and not 0 < len(idem_key) <= MAX_IDEMPOTENCY_KEY:
            raise Invalid([{"path": "headers.Idempotency-Key",
                            "message": f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters"}])
        if refuses_body:
            _refuse_a_body()
        route = f"{request.method} {request.path}"
        digest = idempotency.request_hash(request.get_data()) if idem_key else None
        if request.method == "GET":  # a read that may write (a lazy re-evaluation)
            session().commit()  # ends authentication's deferred transaction
            expect_writes(True)
        for attempt in range(3):
            s = session()
            try:
                if idem_key:
                    stored = idempotency.find(s, g.api_key.id, route, idem_key, digest)
                    if stored is not None:
                        s.rollback()
                        return jsonify(stored[1]), stored[0]
                response = view(*args, **kwargs)
                if idem_key:
                    idempotency.store(s, g.api_key.id, route, idem_key, digest, response.status_code,
                                      response.get_json(), now())
                s.commit()
                return response
            except DomainError as error:
                if error.keep_changes:
                    s.commit()
                else:
                    s.rollback()
                if idem_key and error.status == 409 and not isinstance(error, IdempotencyConflict):
                    _store_refusal(route, idem_key, digest, error)
                raise
            except (IntegrityError, OperationalError) as error:
                s.rollback()
                forget_rules()
                g.pop("partner", None)
                if attempt == 2 or not _retryable(error):
                    raise
        raise RuntimeError("unreachable")
    return wrapper if view.__name__ == "get" else _with_idempotency_doc(wrapper)


IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
    "description": "A retry with the same key and body answers the first response, status included; "
                   "scoped to the calling key and the route",
}


def _with_idempotency_doc(view):
    """The view, its OpenAPI naming the Idempotency-Key header, and its 409 where it documents no other."""
    manual = {"parameters": [IDEMPOTENCY_HEADER]}
    documented = view.__dict__.get("_apidoc", {}).get("response", {}).get("responses", {})
    if not {409, "409"} & set(documented):
        manual["responses"] = {"409": {"description": "`idempotency_conflict`: this Idempotency-Key was used "
                                                      "with another body"}}
    return Blueprint.doc(**manual)(view)


def _takes_body(view) -> bool:
    doc = view.__dict__.get("_apidoc", {})
    locations = {p.get("in") for p in doc.get("arguments", {}).get("parameters", []) if isinstance(p, dict)}
    return "json" in locations or "requestBody" in doc.get("manual_doc", {})


def _refuse_a_body() -> None:
    """Approve, activate, confirm, cancel and redeem take no body, or ``{}``; anything else is refused."""
    data = request.get_data()
    if not data.strip():
        return
    try:
        body = json.loads(data)
    except ValueError:
        raise BadRequest("The body is not valid JSON.") from None
    if body != {}:
        raise Invalid([{"path": "json", "message": "this request takes no body, or {}"}])


def _retryable(error) -> bool:
    if isinstance(error, IntegrityError):
        return True
    text = str(error.orig).lower()
    return "deadlock" in text or "could not serialize" in text or "database is locked" in text


def _store_refusal(route, idem_key, digest, error) -> None:
    from .errors import handle_domain_error

    body, status = handle_domain_error(error)
    s = session()
    try:
        idempotency.store(s, g.api_key.id, route, idem_key, digest, status, body, now())
        s.commit()
    except IntegrityError:
        s.rollback()
