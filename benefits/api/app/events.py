"""Transactions and learning activity: single, batch, and refunds."""
from flask.views import MethodView
from marshmallow import ValidationError, fields, validate, validates_schema

from ...services import events
from .. import context
from ..context import writes
from ..errors import flatten
from ..schemas import ID, Money, Strict
from . import blp

MAX_BATCH = 1000
TEXT = validate.Length(min=1, max=64)


class EventIn(Strict):
    id = fields.String(required=True, validate=ID)
    customer_id = fields.String(required=True, validate=ID)
    type = fields.String(required=True, validate=validate.OneOf(["transaction", "learning"]))
    occurred_at = fields.AwareDateTime(required=True, metadata={"example": "2026-11-23T10:15:00+08:00"})
    amount = Money(load_default=None)
    currency = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Z]{3}$", error="must be an ISO 4217 code such as CNY"))
    category = fields.String(load_default=None, validate=TEXT)
    channel = fields.String(load_default=None, validate=TEXT)
    activity = fields.String(load_default=None, validate=TEXT)
    course_id = fields.String(load_default=None, validate=TEXT)

    @validates_schema
    def check_type(self, data, **_):
        if data.get("type") == "transaction" and data.get("amount") is None:
            raise ValidationError("a transaction needs an amount", "amount")
        if data.get("type") == "learning" and data.get("activity") is None:
            raise ValidationError("a learning event needs an activity", "activity")


class AwardOut(Strict):
    rule = fields.String()
    points = fields.Integer()


class EventOut(Strict):
    id = fields.String()
    points = fields.Integer()
    awards = fields.List(fields.Nested(AwardOut))
    balance = fields.Integer()


class BatchIn(Strict):
    events = fields.List(fields.Dict(), required=True, validate=validate.Length(
        min=1, max=MAX_BATCH, error=f"must hold 1 to {MAX_BATCH} events"))


class BatchError(Strict):
    reason = fields.String()
    message = fields.String()
    errors = fields.List(fields.Dict())


class BatchItem(Strict):
    id = fields.String(allow_none=True)
    status = fields.String()
    points = fields.Integer(allow_none=True)
    error = fields.Nested(BatchError, allow_none=True)


class BatchOut(Strict):
    results = fields.List(fields.Nested(BatchItem))


class ReversalIn(Strict):
    amount = Money(positive=True, load_default=None)


class ReversalOut(Strict):
    points_reversed = fields.Integer()
    balance = fields.Integer()


@blp.route("/events")
class Events(MethodView):
    @writes
    @blp.arguments(EventIn)
    @blp.response(201, EventOut)
    @blp.alt_response(200, schema=EventOut, description="A replay: the first answer")
    @blp.alt_response(409, description="The same id was recorded with another body (`event_conflict`)")
    def post(self, body):
        """Record a transaction or learning activity (idempotent by its id)"""
        answer, created = events.record(context.session(), context.rules(), body,
                                        actor=context.actor(), now=context.now())
        return answer, 201 if created else 200


@blp.route("/events/batch")
class EventBatch(MethodView):
    @writes
    @blp.arguments(BatchIn)
    @blp.response(200, BatchOut)
    def post(self, body):
        """Record up to 1,000 events, each on its own"""
        parsed, refused = [], {}
        for index, raw in enumerate(body["events"]):
            try:
                parsed.append(EventIn().load(raw))
            except ValidationError as error:
                refused[index] = {"id": raw.get("id") if isinstance(raw.get("id"), str) else None,
                                  "status": "error", "points": None,
                                  "error": {"reason": "invalid", "message": "the event is not valid",
                                            "errors": flatten(error.messages, "json")}}
        recorded = iter(events.record_batch(context.session(), context.rules(), parsed,
                                            actor=context.actor(), now=context.now()))
        return {"results": [refused[i] if i in refused else next(recorded) for i in range(len(body["events"]))]}


@blp.route("/events/<event_id>/reversal")
class Reversal(MethodView):
    @writes
    @blp.arguments(ReversalIn)
    @blp.response(201, ReversalOut)
    def post(self, body, event_id):
        """Refund all of an event (no amount) or part of it: reverses its points in proportion"""
        return events.reverse(context.session(), event_id, body["amount"], actor=context.actor(),
                              now=context.now())
