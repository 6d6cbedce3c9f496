"""What the report routes share: month and day arguments, `?format=csv`, and the statement's shape.

A report answers JSON, or CSV with ``?format=csv`` (one part of it: ``?part=``,
the first by default): a header row, one row per item, as a download.
"""
import datetime as dt
import re

from flask import Response
from flask_smorest import Blueprint
from marshmallow import ValidationError, fields, validate

from ..errors import Invalid
from ..schemas import Date, MoneyOut, Strict, YEARS
from ..services import reports

MONTH = re.compile(r"(\d{4})-(\d{2})")


class Month(fields.Field):
    """A calendar month, ``YYYY-MM``: its first day."""

    def _deserialize(self, value, attr, data, **kwargs) -> dt.date:
        match = MONTH.fullmatch(value) if isinstance(value, str) else None
        if match is None or not 1 <= int(match.group(2)) <= 12:
            raise ValidationError("must be a month, YYYY-MM")
        if not YEARS[0] <= int(match.group(1)) <= YEARS[1]:
            raise ValidationError(f"must be in the years {YEARS[0]} to {YEARS[1]}")
        return dt.date(int(match.group(1)), int(match.group(2)), 1)


def month_field(**kwargs) -> Month:
    return Month(metadata={"type": "string", "pattern": r"^\d{4}-\d{2}$", "example": "2026-11"}, **kwargs)


class FormatArgs(Strict):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))
    part = fields.String(load_default=None, validate=validate.Length(min=1, max=32), metadata={
        "description": "With `format=csv`: the part of the report (its first by default)"})


class MonthRangeArgs(FormatArgs):
    first = month_field(data_key="from", load_default=None)
    last = month_field(data_key="to", load_default=None)


class DayRangeArgs(FormatArgs):
    first = Date(data_key="from", load_default=None)
    last = Date(data_key="to", load_default=None)


def answer(report: str, result: dict, args: dict, filename: str):
    """The report as JSON (through the route's schema), or one part of it as a CSV download."""
    if args["format"] != "csv":
        return result
    part = reports.table(report, result, args["part"])
    name = f"{filename}-{args['part'] or reports.PARTS[report][0]}.csv"
    return Response(reports.csv_text(part), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def documented(blp: Blueprint):
    """A report route's 200 documents its CSV form too."""
    return blp.alt_response(200, schema={"type": "string"}, content_type="text/csv", success=True,
                            description="The report as JSON; with `?format=csv`, one part of it as CSV")


class StatementLine(Strict):
    redemption_id = fields.Integer()
    confirmed_at = fields.DateTime()
    cancelled_at = fields.DateTime(allow_none=True, metadata={"description": "Set on a negative line: a redemption "
                                                                             "confirmed earlier, cancelled this month"})
    benefit = fields.String()
    quantity = fields.Integer(metadata={"description": "Negative on a cancellation's line"})
    unit_price = MoneyOut(allow_none=True, metadata={"description": "The catalog's settlement price at confirmation"})
    amount = MoneyOut(allow_none=True)
    customer_ref = fields.String()


class StatementOut(Strict):
    partner = fields.String()
    partner_name = fields.String()
    month = fields.String()
    currency = fields.String()
    items = fields.List(fields.Nested(StatementLine))
    total = MoneyOut()


def month_of(text: str, path: str = "path.month") -> dt.date:
    """A month named in a path, or 422 naming that path."""
    try:
        return Month().deserialize(text)
    except ValidationError as error:
        raise Invalid([{"path": path, "message": error.messages[0]}]) from None
