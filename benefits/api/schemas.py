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


def two_places(value: Decimal) -> None:
    if abs(value) <= MAX_AMOUNT and value != value.quantize(Decimal("0.01")):
        raise ma.ValidationError("must have at most two decimal places")


def Money(positive: bool = False, **kwargs):
    """An amount of money from 0 (or above 0) to 10^12, with at most two decimal places."""
    return fields.Decimal(
        validate=[validate.Range(min=0, min_inclusive=not positive, max=MAX_AMOUNT), two_places],
        allow_nan=False, as_string=False, **kwargs)


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
    path = fields.String()
    message = fields.String()


class ErrorBody(ma.Schema):
    code = fields.Integer()
    status = fields.String()
    message = fields.String()
    reason = fields.String()
    errors = fields.List(fields.Nested(ErrorItem))
