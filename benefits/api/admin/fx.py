"""Exchange rates: set one (a new entry of its currency's history), list them all."""
import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from flask.views import MethodView
from marshmallow import ValidationError, fields

from ...errors import Invalid
from ...schemas import AwareDateTime, Currency, Date, Strict
from ...services import fx
from ...services.periods import local_midnight
from .. import context
from ..context import reads, writes
from . import blp

CURRENCY = Currency("USD")  # a rate is of another currency than the programme's (CNY)
MAX_RATE = Decimal(1_000_000)
MAX_PLACES = 12
RATE_TEXT = re.compile(r"\d{1,7}(\.\d{1,%d})?" % MAX_PLACES)
FLOAT_DIGITS = 15  # a JSON number with at most this many significant digits is read exactly


class Rate(fields.Field):
    """A rate read exactly: a decimal string ("7.1234"), or a number with at most 15 significant digits."""

    def _deserialize(self, value, attr, data, **kwargs) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValidationError("must be a decimal string such as \"7.1234\" or a number")
        if isinstance(value, float):
            text = repr(value)
            if "e" in text or "E" in text or len(text.replace(".", "").lstrip("0")) > FLOAT_DIGITS:
                raise ValidationError(f"has more than {FLOAT_DIGITS} significant digits: send it as a decimal string")
        else:
            text = str(value).strip()
        if not RATE_TEXT.fullmatch(text):
            raise ValidationError(f"must be a positive decimal with at most {MAX_PLACES} decimal places, "
                                  "such as \"7.1234\"")
        try:
            rate = Decimal(text)
        except InvalidOperation:
            raise ValidationError("is not a decimal") from None
        if not 0 < rate <= MAX_RATE:
            raise ValidationError(f"must be above 0 and at most {MAX_RATE}")
        return rate

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


class ValidFrom(fields.Field):
    """An RFC 3339 time, or a date (YYYY-MM-DD): its midnight in the programme's timezone."""

    def _deserialize(self, value, attr, data, **kwargs) -> dt.date | dt.datetime:
        if isinstance(value, str) and len(value) == 10:
            return Date()._deserialize(value, attr, data, **kwargs)
        return AwareDateTime()._deserialize(value, attr, data, **kwargs)


class RateIn(Strict):
    rate = Rate(required=True, metadata={
        "description": "Programme-currency units per unit of the currency: a decimal string (read exactly) or a "
                       "number with at most 15 significant digits", "example": "7.1234",
        "oneOf": [{"type": "string", "pattern": r"^\d{1,7}(\.\d{1,12})?$"},
                  {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": int(MAX_RATE)}]})
    valid_from = ValidFrom(required=True, metadata={
        "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
        "example": "2026-12-01",
        "description": "From when the rate is in force: an RFC 3339 time, or a date meaning its midnight in the "
                       "programme's timezone"})


class RateOut(Strict):
    currency = fields.String()
    rate = fields.String(metadata={"example": "7.1234"})
    valid_from = fields.DateTime()
    set_by = fields.String(metadata={"description": "The name of the admin key that set it"})
    set_at = fields.DateTime()


class RateList(Strict):
    items = fields.List(fields.Nested(RateOut))


class RateArgs(Strict):
    currency = fields.String(load_default=None, validate=CURRENCY)


@blp.route("/fx-rates/<currency>")
class FxRate(MethodView):
    @writes
    @blp.arguments(RateIn)
    @blp.response(201, RateOut)
    def put(self, body, currency):
        """Set a rate for a currency from `valid_from` on; earlier rates stay in the history (audited)"""
        try:
            CURRENCY(currency)
        except ValidationError as error:
            raise Invalid([{"path": "path.currency", "message": error.messages[0]}]) from None
        program = context.program()
        valid_from = body["valid_from"]
        if not isinstance(valid_from, dt.datetime):
            valid_from = local_midnight(valid_from, program.timezone)
        return fx.set_rate(context.session(), program, currency, body["rate"], valid_from, actor=context.actor(),
                           now=context.now())


@blp.route("/fx-rates")
class FxRates(MethodView):
    @reads
    @blp.arguments(RateArgs, location="query")
    @blp.response(200, RateList)
    def get(self, args):
        """Every rate (of one currency with `currency`), newest first"""
        return {"items": fx.listing(context.session(), args["currency"])}
