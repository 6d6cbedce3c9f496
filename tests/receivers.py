"""What the webhook tests share: a receiver on loopback, the worker run once, the outbox read back, and the
checks every received message must pass (its signature, with the standardwebhooks library; its JSON Schema
from docs/webhooks/)."""
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import sqlalchemy as sa
from jsonschema import Draft202012Validator, FormatChecker
from standardwebhooks import Webhook

from benefits.delivery import Settings, Worker

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = {path.stem: json.loads(path.read_text("utf-8")) for path in (ROOT / "docs" / "webhooks").glob("*.json")}
FAST = (0.2, 0.4, 0.8)  # a retry schedule for tests: four attempts in all


@dataclass
class Call:
    headers: dict
    body: bytes
    path: str

    @property
    def message(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1 that records every call and answers as it is told: ``rule(message)``
    when it gives an answer, else the next of a queue of answers (a status, ``(status, headers)``,
    ``("sleep", seconds)`` then 200, or ``("hold", event)`` then 200 once the event is set), else
    ``default``."""

    default: int = 204
    calls: list[Call] = field(default_factory=list)
    answers: deque = field(default_factory=deque)
    rule: Callable[[dict], object] | None = None

    def __post_init__(self):
        receiver = self
        self.arrived = threading.Condition()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.arrived:
                    call = Call(dict(self.headers), body, self.path)
                    answer = receiver.rule(call.message) if receiver.rule else None
                    if answer is None:
                        answer = receiver.answers.popleft() if receiver.answers else receiver.default
                    receiver.calls.append(call)
                    receiver.arrived.notify_all()
                status, headers = answer, {}
                if isinstance(answer, tuple) and answer[0] == "sleep":
                    time.sleep(answer[1])
                    status = 200
                elif isinstance(answer, tuple) and answer[0] == "hold":
                    answer[1].wait(30)
                    status = 200
                elif isinstance(answer, tuple):
                    status, headers = answer
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the worker hung up (it timed out, or was killed)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def answer(self, *answers) -> None:
        self.answers.extend(answers)

    def wait_for(self, count: int, timeout: float = 10) -> None:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.calls) >= count, timeout), (len(self.calls), count)

    def messages(self) -> list[dict]:
        return [call.message for call in self.calls]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verified(call: Call, secret: str) -> dict:
    """The message of a call whose signature ``secret`` verifies (the standardwebhooks library's check),
    checked against its JSON Schemas."""
    message = Webhook(secret).verify(call.body, call.headers)
    assert call.headers["webhook-id"] == message["id"]
    return valid(message)


def valid(message: dict) -> dict:
    """A message that its envelope's and its type's JSON Schema (docs/webhooks/) accept."""
    for schema, value in ((SCHEMAS["message"], message), (SCHEMAS[message["type"]], message["data"])):
        errors = [error.message for error in Draft202012Validator(schema, format_checker=FormatChecker())
                  .iter_errors(value)]
        assert errors == [], (message["type"], errors)
    return message


def worker(app, **options) -> Worker:
    """A worker on the app's database and clock, allowed loopback, with the tests' fast retry schedule."""
    extension = app.extensions["benefits"]
    settings = Settings(**({"schedule": FAST, "allow_private": True, "timeout": 2.0, "poll": 0.01} | options))
    return Worker(extension.sessions, extension.encryption, settings, extension.now)


def deliver(app, **options):
    """Run a worker once: everything due now is sent (retries wait for a later run)."""
    return worker(app, **options).run(once=True)


def subscribe(admin_api, url: str, types=("tier.changed",), **fields) -> dict:
    response = admin_api.post("/admin/v1/webhooks", json={"url": url, "types": list(types)} | fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def outbox(app, type_: str | None = None) -> list[dict]:
    """The outbox's messages in the order written: ``{type, customer_id, data}``."""
    return [{name: message[name] for name in ("type", "customer_id", "data")} for message in written(app, type_)]


def written(app, type_: str | None = None) -> list[dict]:
    """The outbox's messages in the order written, with their ids: ``{id, type, customer_id, data}``."""
    query = "SELECT message_id, type, customer_id, data FROM outbox_messages" + (
        " WHERE type = :type" if type_ else "") + " ORDER BY id"
    with app.extensions["benefits"].engine.connect() as connection:
        rows = connection.execute(sa.text(query), {"type": type_}).all()
    return [{"id": row.message_id, "type": row.type, "customer_id": row.customer_id,
             "data": row.data if isinstance(row.data, dict) else json.loads(row.data)} for row in rows]


def deliveries(admin_api, webhook_id: int, **query) -> list[dict]:
    response = admin_api.get(f"/admin/v1/webhooks/{webhook_id}/deliveries", query_string={"limit": 500} | query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]
