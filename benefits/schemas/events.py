"""An event: the body of ``POST /api/v1/events``, a line of an import file, a message from the broker."""
from marshmallow import ValidationError, fields, post_load, validates_schema

from ..models import EventType
from ..services.events import ReportedEvent
from . import ID, TEXT, AwareDateTime, Currency, Money, Strict


class EventIn(Strict):
    id = fields.String(required=True, validate=ID)
    customer_id = fields.String(required=True, validate=ID)
    type = fields.Enum(EventType, by_value=True, required=True)
    occurred_at = AwareDateTime(required=True, metadata={"example": "2026-11-23T10:15:00+08:00"})
    amount = Money(load_default=None)
    currency = fields.String(load_default=None, validate=Currency("CNY"))
    category = fields.String(load_default=None, validate=TEXT)
    channel = fields.String(load_default=None, validate=TEXT)
    activity = fields.String(load_default=None, validate=TEXT)
    course_id = fields.String(load_default=None, validate=TEXT)

    @validates_schema
    def check_type(self, data, **_):
        if data.get("type") == EventType.TRANSACTION and data.get("amount") is None:
            raise ValidationError("a transaction needs an amount", "amount")
        if data.get("type") == EventType.LEARNING and data.get("activity") is None:
            raise ValidationError("a learning event needs an activity", "activity")

    @post_load
    def make(self, data, **_) -> ReportedEvent:
        return ReportedEvent(**data)
