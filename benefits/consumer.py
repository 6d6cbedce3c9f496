"""Events from the bank's message bus: `benefits consume` reads a RabbitMQ queue, one event a message.

A message is the body of ``POST /api/v1/events`` as JSON. It is validated by the
same schema as the API and the file import, and recorded by the same set-based
service (``imports.record_chunk``): messages are taken in chunks, one
transaction a chunk, and acknowledged only once it has committed. An event the
API would refuse (invalid, unknown customer, a conflicting replay, dated in the
future) is published to the dead-letter exchange with its reason in the header
``x-benefits-reason``, confirmed by the broker, and only then acknowledged.

When a chunk's transaction fails for another cause, the database is checked:
while it cannot be reached the chunk waits (unacknowledged, the connection kept
alive) and is tried again; otherwise the chunk is recorded one message at a
time, and a message whose own transaction fails is returned to the queue, whose
delivery limit dead-letters it once it has failed that often. Replays are
harmless: events are idempotent by their id, so a message delivered again after
a crash is answered as a duplicate.

Topology (declared at start, durable): the quorum queue ``<queue>`` with
``x-delivery-limit`` and ``x-dead-letter-exchange: <queue>.dlx``; the fanout
exchange ``<queue>.dlx``, bound to the queue ``<queue>.dead``.
"""
import logging
import signal
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

import pika
import pika.exceptions
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from . import db, imports
from .schemas.events import EventIn
from .services import audit

log = logging.getLogger("benefits.consumer")

DELIVERY_LIMIT = 5
CHUNK = 1000
FLUSH_AFTER = 0.2  # seconds a message may wait for its chunk to fill
PREFETCH_CHUNKS = 2  # the next chunk arrives while this one is recorded
OUTAGE_WAIT = (1, 2, 5, 10, 30)  # seconds between tries while the database cannot be reached
REASON_HEADER = "x-benefits-reason"
MESSAGE_HEADER = "x-benefits-message"


class BrokerUnusable(RuntimeError):
    """The broker cannot be reached, or the queue exists with other arguments."""


@dataclass(frozen=True)
class Topology:
    queue: str

    @property
    def exchange(self) -> str:
        return f"{self.queue}.dlx"

    @property
    def dead(self) -> str:
        return f"{self.queue}.dead"

    def declare(self, channel) -> None:
        channel.exchange_declare(self.exchange, exchange_type="fanout", durable=True)
        channel.queue_declare(self.dead, durable=True, arguments={"x-queue-type": "quorum"})
        channel.queue_bind(self.dead, self.exchange)
        channel.queue_declare(self.queue, durable=True, arguments={
            "x-queue-type": "quorum", "x-delivery-limit": DELIVERY_LIMIT, "x-dead-letter-exchange": self.exchange})


@dataclass
class Message:
    tag: int
    body: bytes
    properties: pika.BasicProperties


@dataclass
class Tally:
    recorded: int = 0
    duplicate: int = 0
    dead_lettered: int = 0
    returned: int = 0

    def line(self) -> str:
        return (f"recorded {self.recorded}, duplicate {self.duplicate}, dead-lettered {self.dead_lettered}, "
                f"returned {self.returned}")


def connect(url: str) -> pika.BlockingConnection:
    try:
        return pika.BlockingConnection(pika.URLParameters(url))
    except pika.exceptions.AMQPError as error:
        raise BrokerUnusable(f"the broker cannot be reached at {_safe(url)}: {error!r}") from None


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    parameters = pika.URLParameters(url)
    return f"amqp://{parameters.host}:{parameters.port}{parameters.virtual_host}"


class Consumer:
    """Reads the queue in chunks and records them; ``run`` returns once stopped, or idle for ``exit_when_idle``."""

    def __init__(self, connection: pika.BlockingConnection, topology: Topology, *, sessions, programs,
                 clock: Callable[[], datetime], chunk: int = CHUNK, exit_when_idle: float | None = None):
        self.connection, self.topology = connection, topology
        self.sessions, self.programs, self.clock = sessions, programs, clock
        self.chunk, self.exit_when_idle = chunk, exit_when_idle
        self.tally = Tally()
        self.stopping = False
        self.schema = EventIn()
        self.channel = connection.channel()
        try:
            topology.declare(self.channel)
        except pika.exceptions.ChannelClosedByBroker as error:
            raise BrokerUnusable(f"the queues cannot be declared: {error.reply_text}") from None
        self.channel.confirm_delivery()
        self.channel.basic_qos(prefetch_count=PREFETCH_CHUNKS * chunk)

    def stop(self, *_) -> None:
        """Finish the chunk at hand, then return (SIGTERM, SIGINT)."""
        self.stopping = True

    def run(self) -> Tally:
        pending: list[Message] = []
        last_seen = first_at = time.monotonic()
        for method, properties, body in self.channel.consume(self.topology.queue, inactivity_timeout=FLUSH_AFTER):
            if method is not None:
                pending.append(Message(method.delivery_tag, body, properties))
                if len(pending) == 1:
                    first_at = time.monotonic()
                last_seen = time.monotonic()
            if pending and (len(pending) >= self.chunk or method is None or self.stopping
                            or time.monotonic() - first_at >= FLUSH_AFTER):
                self.handle(pending)
                pending = []
                last_seen = time.monotonic()  # idle is counted from the end of the work, not from the last delivery
            if self.stopping or (not pending and self.exit_when_idle is not None
                                 and time.monotonic() - last_seen >= self.exit_when_idle):
                break
        self.channel.cancel()  # what was delivered but not taken goes back to the queue
        return self.tally

    def handle(self, messages: list[Message]) -> None:
        """Record a chunk: every message is recorded, dead-lettered or returned to the queue; then the ones not
        returned are acknowledged with one frame."""
        lines = [imports.json_line(tag_order, imports.decoded(m.body), self.schema)
                 for tag_order, m in enumerate(messages, start=1)]
        valid = []
        for message, line in zip(messages, lines):
            if line.event is None:
                self.dead_letter(message, line.reason, line.message)
            else:
                valid.append((message, line))
        returned = self._record(valid) if valid else set()
        settled = [message.tag for message in messages if message.tag not in returned]
        if settled:
            self.channel.basic_ack(max(settled), multiple=True)

    def _record(self, valid: list[tuple[Message, imports.Line]]) -> set[int]:
        """The delivery tags returned to the queue."""
        results = self._record_chunk([line.event for _, line in valid])
        if results is not None:
            for (message, _), result in zip(valid, results):
                self.settle(message, result)
            return set()
        returned = set()
        for message, line in valid:  # the chunk failed as a whole: each message on its own
            results = self._record_chunk([line.event])
            if results is None:
                log.warning("an event failed to record: returned to the queue", extra={"delivery_tag": message.tag})
                self.channel.basic_nack(message.tag, requeue=True)
                self.tally.returned += 1
                returned.add(message.tag)
            else:
                self.settle(message, results[0])
        return returned

    def _record_chunk(self, chunk) -> list[dict] | None:
        """The chunk's results once committed; None when its transaction failed for another cause than a
        refusal. While the database cannot be reached, waits and tries again."""
        waits = iter(OUTAGE_WAIT)
        while True:
            try:
                return imports.record_chunk(self.sessions, self.programs, chunk, actor=self.actor(),
                                            now=self.clock())
            except SQLAlchemyError as error:
                if self._database_reachable():
                    log.warning("a chunk failed to record", extra={"events": len(chunk), "error": repr(error)[:300]})
                    return None
                wait = next(waits, OUTAGE_WAIT[-1])
                log.error("the database cannot be reached; the chunk waits", extra={"seconds": wait})
                self.connection.sleep(wait)  # keeps the broker's heartbeats going

    def _database_reachable(self) -> bool:
        try:
            with db.unit_of_work(self.sessions, write=False) as session:
                session.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def actor(self) -> audit.Actor:
        return audit.Actor.system(request_id=f"consume-{self.topology.queue}"[:64])

    def settle(self, message: Message, result: dict) -> None:
        if result["status"] == "created":
            self.tally.recorded += 1
        elif result["status"] == "duplicate":
            self.tally.duplicate += 1
        else:
            error = result["error"]
            details = "; ".join(f"{e['path'].removeprefix('json.')}: {e['message']}" for e in error["errors"][:5])
            self.dead_letter(message, error["reason"], details or error["message"])

    def dead_letter(self, message: Message, reason: str, detail: str | None) -> None:
        """Publish the message to the dead-letter exchange with its reason, confirmed before the chunk is
        acknowledged."""
        headers = dict(message.properties.headers or {})
        headers[REASON_HEADER] = reason
        headers[MESSAGE_HEADER] = (detail or "")[:1000]
        self.channel.basic_publish(
            self.topology.exchange, self.topology.queue, message.body, mandatory=True,
            properties=pika.BasicProperties(headers=headers, delivery_mode=pika.DeliveryMode.Persistent,
                                            content_type=message.properties.content_type,
                                            message_id=message.properties.message_id))
        self.tally.dead_lettered += 1


def consume(url: str, queue: str, *, sessions, programs, clock, chunk: int = CHUNK,
            exit_when_idle: float | None = None) -> Tally:
    """Consume until stopped (SIGTERM, SIGINT) or idle for ``exit_when_idle`` seconds."""
    connection = connect(url)
    try:
        consumer = Consumer(connection, Topology(queue), sessions=sessions, programs=programs, clock=clock,
                            chunk=chunk, exit_when_idle=exit_when_idle)
        in_main = threading.current_thread() is threading.main_thread()  # only there can signals be caught
        previous = {sig: signal.signal(sig, consumer.stop) for sig in (signal.SIGTERM, signal.SIGINT) if in_main}
        try:
            return consumer.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        if connection.is_open:
            connection.close()
