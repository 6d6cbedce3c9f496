"""Per-request context: the calling key, the clock, and the unit of work a view runs in.

Every view that touches the database is decorated ``@reads`` or ``@writes``:
the decorator runs it in one unit of work (``benefits.db``), whose session
``session()`` answers. ``program()`` leases the active rule version once per
request, so the request is evaluated wholly under it; the lease is held on the
request's ``ExitStack`` and ends with the request.
"""
import functools
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, g, jsonify, request
from flask_smorest import Blueprint
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest

from .. import db, metrics
from ..extension import Extension
from ..errors import DomainError, Forbidden, IdempotencyConflict, Invalid, Unauthenticated
from ..models import Partner, Role
from ..rules import Program
from ..schemas import parse_json
from ..services import audit, idempotency, keys, partners
from .errors import handle_domain_error

log = logging.getLogger("benefits.requests")
ROLE_PREFIXES = {"/api/v1": Role.APP, "/partner/v1": Role.PARTNER, "/admin/v1": Role.ADMIN, "/metrics": Role.ADMIN}
MAX_IDEMPOTENCY_KEY = 200
IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,%d}" % MAX_IDEMPOTENCY_KEY)
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def extension() -> Extension:
    return current_app.extensions["benefits"]


def now() -> datetime:
    return extension().now()


def session() -> Session:
    """The session of the unit of work the view runs in."""
    if "session" not in g:
        raise RuntimeError("no unit of work: decorate the view with @reads or @writes")
    return g.session


def program() -> Program:
    """The active rule version's program, leased for the rest of the request."""
    if "program" not in g:
        g.program = g.resources.enter_context(extension().programs.active(session()))
    return g.program


def actor() -> audit.Actor:
    return g.actor


def partner() -> Partner:
    """The calling partner key's partner (cached with the key for the API; read once a request for the console)."""
    if g.get("partner") is None:
        g.partner = partners.get(session(), g.api_key.partner_id)
    return g.partner


def secret() -> str:
    return current_app.config["SECRET_KEY"]


class UnderWay:
    """How many requests the process has begun and not yet ended, whatever the app or thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._count = 0

    def count(self) -> int:
        return self._count

    def change(self, by: int) -> None:
        with self._lock:
            self._count += by


UNDER_WAY = UnderWay()  # what a group of requests waits for under load (``db.Group``)


def begin_request() -> None:
    """Before every request: the request id, the request's resources, the caller's key and role."""
    g.started = time.perf_counter()
    UNDER_WAY.change(+1)
    g.under_way = True
    sent = request.headers.get("X-Request-ID", "")
    g.request_id = sent if REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
    g.resources = ExitStack()
    authenticate()


def end_request(_exc=None) -> None:
    if g.pop("under_way", False):
        UNDER_WAY.change(-1)
    resources = g.pop("resources", None)
    if resources is not None:
        resources.close()


def authenticate() -> None:
    """Resolve the bearer key and check its role may use this prefix."""
    prefix = next((prefix for prefix in ROLE_PREFIXES if request.path.startswith(prefix + "/")
                   or request.path == prefix), None)
    if prefix is None:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("An `Authorization: Bearer <key>` header is required.")
    sessions = extension().sessions
    found = extension().keys.authenticate(token.strip(), lambda plaintext: db.run(
        sessions, lambda s: keys.caller(s, plaintext), write=False, retries=0))
    if found is None:
        raise Unauthenticated("Unknown or revoked API key.")
    key, g.partner = found
    if keys.last_use_is_stale(key, now()):
        db.run(sessions, lambda s: keys.record_use(s, key.id, now()), retries=0)
        key.last_used_at = now()  # the cached key: written, so not again for a while
    g.api_key = key
    g.actor = keys.actor_for(key, g.request_id)
    if key.role != ROLE_PREFIXES[prefix]:
        raise Forbidden(f"A {key.role} key may not use {prefix}.")


def finish(response):
    """Echo the request id; log and count the request by its route template and key (never the key itself)."""
    if "request_id" in g:
        response.headers["X-Request-ID"] = g.request_id
    key = g.get("api_key")
    method, rule, status = request.method, request.url_rule, response.status_code
    route = rule.rule if rule else "(no route)"
    seconds = time.perf_counter() - g.get("started", time.perf_counter())
    metrics.REQUESTS.labels(method, route, status).inc()
    metrics.LATENCY.labels(method, route).observe(seconds)
    log.info("%s %s %s", method, route, status, extra={
        "request_id": g.get("request_id"), "method": method, "route": route, "status": status,
        "duration_ms": round(seconds * 1000, 1), "key": f"{key.id}:{key.name}" if key else None})
    return response


def in_unit(view, args, kwargs, session: Session):
    """Call ``view`` with ``session`` on ``g`` for the length of the call (the console's pages use it too)."""
    g.session = session
    try:
        return view(*args, **kwargs)
    finally:
        g.pop("session", None)


def _forget_attempt() -> None:
    """Before a retry: what the failed attempt read is re-read."""
    g.pop("program", None)


def reads(view):
    """Run the view in a reading unit of work: it takes no lock and writes nothing, unless a service finds it
    must (``db.require_write``: then it runs again in a writing unit)."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        return db.run(extension().sessions, functools.partial(in_unit, view, args, kwargs), write=False,
                      retries=0)
    return wrapper


@dataclass(frozen=True)
class Idempotent:
    """A mutating request's Idempotency-Key, scoped to the calling key and the route, and its body's digest."""

    key_id: int
    route: str
    key: str
    digest: str

    @property
    def scope(self) -> tuple:
        return self.key_id, self.route, self.key

    def find(self, session: Session):
        """The stored ``(status, body)`` of the first request; refused if it had another body."""
        return idempotency.find(session, self.key_id, self.route, self.key, self.digest)

    def store(self, session: Session, status: int, body, now: datetime) -> None:
        idempotency.store(session, self.key_id, self.route, self.key, self.digest, status, body, now)


def _idempotent() -> Idempotent | None:
    """The request's Idempotency-Key (checked), if it sent one."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise Invalid([{"path": "headers.Idempotency-Key",
                        "message": f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"}])
    return Idempotent(g.api_key.id, f"{request.method} {request.path}", key,
                      idempotency.request_hash(request.get_data()))


class Replayed(Exception):
    """The stored first answer to a request's Idempotency-Key, sent again as it was."""

    def __init__(self, status: int, body):
        super().__init__(status)
        self.status, self.body = status, body


def grouped(view):
    """For a route whose requests are done in groups (``in_group``) rather than each in a unit of its own:
    the Idempotency-Key is read here and kept on ``g.idempotent`` for the group's unit of work, and a stored
    first answer (``Replayed``) is sent as it was."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        g.idempotent = _idempotent()
        try:
            return view(*args, **kwargs)
        except Replayed as replayed:
            return jsonify(replayed.body), replayed.status
    return _with_idempotency_doc(wrapper)


@dataclass(frozen=True)
class Posted:
    """A request done in a group: what it asks (``payload``), who asks, its Idempotency-Key."""

    payload: object
    actor: audit.Actor
    idempotent: Idempotent | None


DoMany = Callable[[Session, Program, list, list[audit.Actor], datetime], list]


def in_group(name: str, payload, do_many: DoMany, dump: Callable[[object], object]):
    """The answer ``(answer, status)`` of a request done with the others of its route posted at the same
    moment (``db.Group`` named ``name``), or its refusal raised.

    ``do_many(session, program, payloads, actors, now)`` answers every payload of
    the group, each with ``(answer, status)`` or the ``DomainError`` refusing it;
    ``dump(answer)`` is the JSON an answer is stored as for its Idempotency-Key.
    """
    groups = extension().groups
    if name not in groups:
        groups[name] = db.Group(extension().sessions, functools.partial(_answer_group, extension(), do_many, dump),
                                under_way=UNDER_WAY.count)
    return groups[name].submit(Posted(payload, actor(), g.idempotent))


def _answer_group(ext: Extension, do_many: DoMany, dump, session: Session, posted: list[Posted]) -> list:
    """Each request of a group answered as if alone, in one unit of work.

    A request's Idempotency-Key is looked up, and its answer stored, in the
    same unit of work; a 409 refusal is stored too, as ``writes`` stores it.
    Two requests of one group with the same Idempotency-Key answer alike (the
    second as a replay of the first).
    """
    outcomes: list = [None] * len(posted)
    todo, first, again = [], {}, []
    for i, item in enumerate(posted):
        if item.idempotent is None:
            todo.append(i)
        elif item.idempotent.scope in first:
            again.append((i, first[item.idempotent.scope]))
        else:
            first[item.idempotent.scope] = i
            try:
                stored = item.idempotent.find(session)
            except IdempotencyConflict as conflict:
                outcomes[i] = conflict
                continue
            if stored is None:
                todo.append(i)
            else:
                outcomes[i] = Replayed(*stored)
    now = ext.now()
    with ext.programs.active(session) as program:
        answers = do_many(session, program, [posted[i].payload for i in todo], [posted[i].actor for i in todo], now)
    stored_as = {}
    for i, outcome in zip(todo, answers):
        outcomes[i] = outcome
        if posted[i].idempotent is None:
            continue
        if isinstance(outcome, DomainError):
            body, status, _ = handle_domain_error(outcome)
            stored_as[i] = (status, body) if status == 409 else None
        else:
            stored_as[i] = outcome[1], dump(outcome[0])
        if stored_as[i] is not None:
            posted[i].idempotent.store(session, *stored_as[i], now)
    for i, j in again:
        if posted[i].idempotent.digest != posted[j].idempotent.digest:
            outcomes[i] = IdempotencyConflict(f"Idempotency-Key {posted[i].idempotent.key!r} was used with a "
                                              "different request")
        elif stored_as.get(j) is not None:
            outcomes[i] = Replayed(*stored_as[j])
        else:
            outcomes[i] = outcomes[j]
    return outcomes


def writes(view):
    """Run the view as one unit of work, answering retries with the same Idempotency-Key the first answer.

    A concurrent duplicate (a unique constraint hit at commit) makes the unit run
    again: the second run sees what the first committed and answers as a replay.
    A GET that may write (a lazy re-evaluation of the customer) takes no
    Idempotency-Key.
    """
    is_get = view.__name__ == "get"
    refuses_body = not is_get and not _takes_body(view)

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        idempotent = None if is_get else _idempotent()
        if refuses_body:
            _refuse_a_body()

        def work(s: Session):
            if idempotent:
                stored = idempotent.find(s)
                if stored is not None:
                    return jsonify(stored[1]), stored[0]
            response = in_unit(view, args, kwargs, s)
            if idempotent:
                idempotent.store(s, response.status_code, response.get_json(), now())
            return response

        try:
            return db.run(extension().sessions, work, on_retry=_forget_attempt)
        except DomainError as error:
            if idempotent and error.status == 409 and not isinstance(error, IdempotencyConflict):
                _store_refusal(idempotent, error)
            raise
    return wrapper if is_get else _with_idempotency_doc(wrapper)


IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY, "pattern": "^[ -~]+$"},
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
        body = parse_json(data)
    except ValueError:
        raise BadRequest("The body is not valid JSON.") from None
    if body != {}:
        raise Invalid([{"path": "json", "message": "this request takes no body, or {}"}])


def _store_refusal(idempotent: Idempotent, error: DomainError) -> None:
    """Keep a business refusal (409) as the first answer to this Idempotency-Key, in a unit of its own."""
    body, status, _ = handle_domain_error(error)
    try:
        db.run(extension().sessions, lambda s: idempotent.store(s, status, body, now()), retries=0)
    except IntegrityError:
        pass  # a concurrent retry stored its answer first
