"""The one place where errors become HTTP answers.

Every error body is ``{code, status, message, reason, errors?}``; on 422
``errors`` is a list of ``{path, message}``.
"""
import logging

import marshmallow as ma
from flask_smorest import Api
from marshmallow import fields
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from ..errors import DomainError
from ..schemas import flatten

log = logging.getLogger(__name__)

REASONS = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
    422: "invalid", 429: "rate_limited", 500: "internal_error", 503: "unavailable",
}


class ErrorItem(ma.Schema):
    path = fields.String(required=True, metadata={"example": "json.amount"})
    message = fields.String(required=True)


class ErrorBody(ma.Schema):
    """The error body of every answer >= 400 (documented as the `Error` component)."""

    code = fields.Integer(required=True, metadata={"description": "The HTTP status"})
    status = fields.String(required=True, metadata={"description": "The status' phrase"})
    message = fields.String(required=True, metadata={"description": "For a person"})
    reason = fields.String(required=True, metadata={"description": "A stable machine-readable word",
                                                    "example": "insufficient_points"})
    errors = fields.List(fields.Nested(ErrorItem), metadata={"description": "Field errors; on every 422"})


def payload(code: int, name: str, message: str, reason: str, errors=None) -> dict:
    body = {"code": code, "status": name, "message": message, "reason": reason}
    if errors is not None:
        body["errors"] = errors
    if code == 422 and errors is None:
        body["errors"] = []
    return body


class BenefitsApi(Api):
    ERROR_SCHEMA = ErrorBody  # documents `{code, status, message, reason, errors?}`, the body sent

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        errors = None
        if "messages" in data:
            errors = flatten(data["messages"])
        message = data.get("message") or error.description
        if errors and error.code == 422:
            message = "; ".join(f"{e['path']}: {e['message']}" for e in errors[:5])
        if isinstance(error, InternalServerError):
            log.exception("internal error", exc_info=getattr(error, "original_exception", None))
            message = "An internal error occurred; it has been logged."
        body = payload(error.code, error.name, message, REASONS.get(error.code, "error"), errors)
        headers = {name: value for name, value in error.get_headers() if name != "Content-Type"}
        return body, error.code, headers | (data.get("headers") or {})


def handle_domain_error(error: DomainError):
    body = payload(error.status, HTTP_STATUS_CODES.get(error.status, "Error"), error.message,
                   error.reason, error.errors if error.status == 422 else None)
    return body, error.status, error.headers


def register(app) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
