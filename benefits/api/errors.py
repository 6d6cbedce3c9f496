"""The one place where errors become HTTP answers.

Every error body is ``{code, status, message, reason, errors?}``; on 422
``errors`` is a list of ``{path, message}``.
"""
import logging

from flask import current_app
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, InternalServerError

from ..errors import DomainError
from .schemas import ErrorBody

log = logging.getLogger(__name__)

REASONS = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
    422: "invalid", 429: "rate_limited", 500: "internal_error", 503: "unavailable",
}


def flatten(errors, prefix="") -> list[dict]:
    """webargs' nested ``{"json": {"events": {"0": {"id": [...]}}}}`` as ``[{path, message}]``."""
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        return [{"path": prefix or "json", "message": message} for message in errors]
    if isinstance(errors, list):
        return [item for i, e in enumerate(errors) for item in flatten(e, f"{prefix}[{i}]")]
    if isinstance(errors, dict):
        flat = []
        for key, value in errors.items():
            if key == "_schema":
                path = prefix
            elif isinstance(key, int) or str(key).isdigit():
                path = f"{prefix}[{key}]"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            flat.extend(flatten(value, path))
        return flat
    return [{"path": prefix, "message": str(errors)}]


def payload(code: int, name: str, message: str, reason: str, errors=None) -> dict:
    body = {"code": code, "status": name, "message": message, "reason": reason}
    if errors is not None:
        body["errors"] = errors
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
        if error.code == 422 and body.get("errors") is None:
            body["errors"] = []
        return body, error.code, data.get("headers", {})


def handle_domain_error(error: DomainError):
    from werkzeug.http import HTTP_STATUS_CODES

    body = payload(error.status, HTTP_STATUS_CODES.get(error.status, "Error"), error.message,
                   error.reason, error.errors if error.status == 422 else None)
    if error.status == 422 and body.get("errors") is None:
        body["errors"] = []
    return body, error.status


def register(app, api: BenefitsApi) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
