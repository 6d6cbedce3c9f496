"""Schemas shared by the blueprints: money, paging, and the error body."""
from decimal import Decimal

import marshmallow as ma
from marshmallow import fields, validate

MAX_AMOUNT = Decimal(10) ** 12
ID = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$",
                     error="must be 1 to 64 letters, digits or . _ : @ - (starting with a letter or digit)")


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    @ma.pre_load
    def refuse_nul(self, data, **kwargs):
        """NUL characters are in no name, id or tag, and PostgreSQL text refuses them."""
        if isinstance(data, dict):
            bad = {str(key): ["must not contain NUL characters"] for key, value in data.items()
                   if _holds_nul(key) or _holds_nul(value)}
            if bad:
                raise ma.ValidationError(bad)
        return data


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def two_places(value: Decimal) -> None:
    if abs(value) <= MAX_AMOUNT and value != value.quantize(Decimal("0.01")):
        raise ma.ValidationError("must have at most two decimal places")


def Money(positive: bool = False, **kwargs):
    """An amount of money from 0 (or above 0) to 10^12, with at most two decimal places."""
    # documented with numeric bounds and default: apispec would write the Decimal ones as strings
    metadata = {"minimum": 0, "maximum": int(MAX_AMOUNT)} | ({"exclusiveMinimum": True} if positive else {})
    if kwargs.get("load_default") is not None:
        metadata["default"] = kwargs["load_default"]
    return fields.Decimal(
        validate=[validate.Range(min=0, min_inclusive=not positive, max=MAX_AMOUNT), two_places],
        allow_nan=False, as_string=False, metadata=metadata | kwargs.pop("metadata", {}), **kwargs)


def MoneyOut(**kwargs):
    """An amount as the API answers it: a decimal string such as "8000000.00"."""
    return fields.Decimal(as_string=True, metadata={"type": "string", "format": "decimal",
                                                    "example": "8000000.00"} | kwargs.pop("metadata", {}), **kwargs)


class PageArgs(Strict):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.String(load_default=None, validate=validate.Length(max=100))


def cursor_id(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit() or len(cursor) > 19:
        from ..errors import Invalid
        raise Invalid([{"path": "query.cursor", "message": "not a cursor this API gave out"}])
    return int(cursor)


def page(items: list, limit: int, cursor_of) -> dict:
    """``{items, next_cursor}`` from ``limit + 1`` fetched items."""
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": str(cursor_of(items[-1])) if more and items else None}


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
