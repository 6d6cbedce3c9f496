"""Transactions and learning activity: single, batch, and refunds."""
from flask import jsonify
from flask.views import MethodView
from marshmallow import ValidationError, fields, validate

from ...schemas import Money, Strict, flatten
from ...schemas.events import EventIn
from ...services import events
from ...services.events import ReportedEvent
from .. import context
from ..context import grouped, writes
from . import blp

MAX_BATCH = 1000


class AwardOut(Strict):
    rule = fields.String()
    points = fields.Integer()


class ConvertedOut(Strict):
    amount = fields.String(metadata={"description": "In the programme's currency, truncated to the cent",
                                     "example": "7123.40"})
    currency = fields.String(metadata={"description": "The programme's currency", "example": "CNY"})
    rate = fields.String(metadata={"description": "Programme-currency units per unit, as set", "example": "7.1234"})


class EventOut(Strict):
    id = fields.String()
    points = fields.Integer()
    awards = fields.List(fields.Nested(AwardOut))
    balance = fields.Integer()
    converted = fields.Nested(ConvertedOut, allow_none=True, metadata={
        "description": "A foreign-currency amount as the rules saw it: converted at the rate in force at "
                       "`occurred_at` (absent for an amount in the programme's currency)"})


class BatchIn(Strict):
    opaque = ("events",)  # each event is validated on its own: one bad event does not refuse the batch
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
    converted = fields.Nested(ConvertedOut, allow_none=True, metadata={
        "description": "A foreign-currency refund, converted at the event's own rate"})


@blp.route("/events")
class Events(MethodView):
    @grouped
    @blp.arguments(EventIn)
    @blp.response(201, EventOut)
    @blp.alt_response(200, schema=EventOut, description="A replay: the first answer")
    @blp.alt_response(409, description="The same id was recorded with another body (`event_conflict`)")
    @blp.alt_response(422, description="Invalid; `occurred_in_future`; or `no_fx_rate`: no exchange rate for the "
                                       "currency is in force at `occurred_at` (nothing is recorded)")
    def post(self, event):
        """Record a transaction or learning activity (idempotent by its id)"""
        answer, status = context.in_group("events", event, record_posted, dump=lambda answer: answer)
        return jsonify(answer), status  # as recorded, and as a replay answers it: already in EventOut's shape


def record_posted(session, program, posted: list[ReportedEvent], actors, now) -> list:
    """Events posted alone at the same moment, recorded together (``events.record_many``), each answered as
    if alone: ``(answer, 201)``, a replay ``(answer, 200)``, or its refusal."""
    return [result.refusal or (result.answer, 201 if result.status == "created" else 200)
            for result in events.record_many(session, program, posted, actor=actors, now=now)]


@blp.route("/events/batch")
class EventBatch(MethodView):
    @writes
    @blp.arguments(BatchIn)
    @blp.response(200, BatchOut)
    def post(self, body):
        """Record up to 1,000 events, each on its own"""
        parsed, refused, schema = [], {}, EventIn()
        for index, raw in enumerate(body["events"]):
            try:
                parsed.append(schema.load(raw))
            except ValidationError as error:
                refused[index] = {"id": raw.get("id") if isinstance(raw.get("id"), str) else None,
                                  "status": "error", "points": None,
                                  "error": {"reason": "invalid", "message": "the event is not valid",
                                            "errors": flatten(error.messages, "json")}}
        recorded = iter(outcome.result() for outcome in events.record_many(
            context.session(), context.program(), parsed, actor=context.actor(), now=context.now()))
        return {"results": [refused[i] if i in refused else next(recorded) for i in range(len(body["events"]))]}


@blp.route("/events/<event_id>/reversal")
class Reversal(MethodView):
    @writes
    @blp.arguments(ReversalIn, required=False)
    @blp.response(201, ReversalOut)
    def post(self, body, event_id):
        """Refund all of an event (no amount) or part of it: reverses its points in proportion"""
        return events.reverse(context.session(), context.program(), event_id, body["amount"], actor=context.actor(),
                              now=context.now())
