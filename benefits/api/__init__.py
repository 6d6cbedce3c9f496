"""HTTP blueprints by user group: they parse, authorise and serialise — nothing else."""
from flask import Flask
from flask.sessions import SessionInterface
from flask_smorest.spec.plugins import integerconverter2paramschema
from werkzeug.routing import BaseConverter, IntegerConverter

from . import context, errors

MAX_ID = 2**31 - 1


class DatabaseId(IntegerConverter):
    """An integer id in a URL: one past what the id columns hold is no id (404), not a database error."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


class PathSegment(BaseConverter):
    """A path segment without NUL characters: no id holds one, and PostgreSQL text refuses them (404)."""

    regex = "[^/\x00]+"


class NoCookieSession(SessionInterface):
    """Flask's cookie session, never opened: the API authenticates by key and the console keeps its sessions
    in the database, so no request reads or sets Flask's cookie (whose signer would be built for every request)."""

    def open_session(self, app, request):
        return None  # Flask's null session: reading it is empty, writing to it refused

    def save_session(self, app, session, response):
        return None


def init_app(app: Flask) -> None:
    app.session_interface = NoCookieSession()
    app.url_map.converters.update(default=PathSegment, string=PathSegment, int=DatabaseId)
    api = errors.BenefitsApi(app, spec_kwargs={
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    })
    api.register_converter(DatabaseId, integerconverter2paramschema)
    api.register_converter(PathSegment, lambda converter: {"type": "string"})
    api.ma_plugin.converter.add_attribute_function(no_nul)
    errors.register(app)
    app.before_request(context.begin_request)
    app.after_request(context.finish)
    app.after_request(security_headers)
    app.teardown_request(context.end_request)

    from . import admin, app as app_api, ops, partner

    for module in (ops, app_api, partner, admin):
        api.register_blueprint(module.blp)


def no_nul(self, field, ret, **kwargs) -> dict:
    """Say in the OpenAPI document that a free-text string holds no NUL: every request schema refuses one."""
    if ret.get("type") == "string" and not {"pattern", "format", "enum"} & set(ret):
        return {"pattern": "^[^\\u0000]*$"}
    return {}


SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                    "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
_BY_LOWER = {key.lower(): (key, value) for key, value in SECURITY_HEADERS.items()}


def security_headers(response):
    """The headers every answer carries, unless its view set one of them itself (the headers are read once:
    ``Headers.setdefault`` reads them three times a header)."""
    sent = {key.lower() for key in response.headers.keys()}
    for lower, (key, value) in _BY_LOWER.items():
        if lower not in sent:
            response.headers.add(key, value)
    return response
