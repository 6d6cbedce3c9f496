"""`benefits outbox run`: the worker that delivers the outbox to the webhook endpoints.

Standard Webhooks v1: a POST of the message's JSON with the headers
``webhook-id`` (the message's id, the same on every attempt),
``webhook-timestamp`` (Unix seconds) and ``webhook-signature`` (``v1,`` + the
base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` keyed with the secret's
base64-decoded part after ``whsec_``; during a rotation one signature per
secret, space-separated). Only a 2xx answer delivers; redirects are not
followed; a call may take 15 s in all; 410 disables the endpoint.

Each delivery is two short transactions around one HTTP call
(``services.webhooks.claim`` and ``settle``): the lease is committed before the
call, so several workers, on one machine or many, on SQLite or PostgreSQL,
never send the same stream at once, and a worker killed mid-call loses
nothing. A worker runs ``concurrency`` calls at a time, each to the head of
another stream. Every connection resolves the endpoint's host and refuses the
addresses ``destinations.address_problem`` refuses, then connects to the
address it checked (no second look-up for a rebinding name to answer
differently); TLS is verified against the host's name.
"""
import base64
import email.utils
import hashlib
import hmac
import http.client
import logging
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from sqlalchemy.orm import sessionmaker

from . import db
from .destinations import address_problem, url_problem
from .encryption import Encryption
from .services import outbox, webhooks
from .services.webhooks import Answer, Claimed

log = logging.getLogger("benefits.delivery")
TIMEOUT = 15.0  # seconds for a whole call: connect, send, answer
MAX_ANSWER = 64 * 1024  # bytes of an answer's body read (and dropped)
USER_AGENT = "vip-benefits-webhooks/1"
PRUNE_EVERY = timedelta(minutes=10)


# ---------------------------------------------------------------- signing

def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One Standard Webhooks v1 signature: ``v1,`` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))."""
    key = base64.b64decode(secret.removeprefix(webhooks.SECRET_PREFIX))
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(claimed: Claimed, timestamp: int) -> dict[str, str]:
    return {"Content-Type": "application/json", "User-Agent": USER_AGENT, "webhook-id": claimed.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(sign(secret, claimed.message_id, timestamp, claimed.body)
                                          for secret in claimed.secrets)}


# ---------------------------------------------------------------- one HTTP call

class RefusedAddress(OSError):
    """Every address the endpoint's host resolves to is one that webhooks may not reach."""


def connect(host: str, port: int, timeout: float, *, allow_private: bool) -> socket.socket:
    """A TCP connection to the first allowed address ``host`` resolves to, checked before connecting."""
    refused, failure = [], None
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        problem = address_problem(address[0], allow_private=allow_private)
        if problem is not None:
            refused.append(problem)
            continue
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
            return sock
        except OSError as error:
            sock.close()
            failure = error
    if failure is not None:
        raise failure
    raise RefusedAddress(f"{host} resolves only to refused addresses: {'; '.join(refused)}")


class _Connection(http.client.HTTPConnection):
    """An HTTP(S) connection made through ``connect``: the address is checked at every connect."""

    def __init__(self, host: str, port: int, timeout: float, allow_private: bool, tls: ssl.SSLContext | None):
        super().__init__(host, port, timeout=timeout)
        self.allow_private, self.tls = allow_private, tls

    def connect(self):
        self.sock = connect(self.host, self.port, self.timeout, allow_private=self.allow_private)
        if self.tls is not None:
            self.sock = self.tls.wrap_socket(self.sock, server_hostname=self.host)


_TLS = ssl.create_default_context()


def post(url: str, body: bytes, sent_headers: dict[str, str], *, timeout: float = TIMEOUT,
         allow_private: bool = False) -> Answer:
    """POST ``body`` to ``url`` within ``timeout`` seconds in all, following no redirect."""
    if (problem := url_problem(url, allow_private=allow_private)) is not None:
        return Answer(None, f"URL refused: {problem}")
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    connection = _Connection(parts.hostname, parts.port or (443 if secure else 80), timeout, allow_private,
                             _TLS if secure else None)
    expired = threading.Event()

    def cut_off():
        expired.set()
        if connection.sock is not None:
            try:
                connection.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(timeout, cut_off)
    timer.daemon = True
    timer.start()
    try:
        connection.request("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), body,
                           sent_headers)
        response = connection.getresponse()
        response.read(MAX_ANSWER)
        error = None if 200 <= response.status < 300 else f"HTTP {response.status} {response.reason}".strip()
        return Answer(response.status, error, retry_after(response.getheader("Retry-After")))
    except RefusedAddress as refusal:
        return Answer(None, f"address refused: {refusal}")
    except socket.gaierror as failure:
        return Answer(None, f"{parts.hostname} does not resolve: {failure.strerror}")
    except (OSError, http.client.HTTPException, ValueError) as failure:
        if expired.is_set() or isinstance(failure, TimeoutError):
            return Answer(None, f"no answer within {timeout:g} s")
        return Answer(None, f"{type(failure).__name__}: {failure}".strip().rstrip(":"))
    finally:
        timer.cancel()
        connection.close()


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds asked by a ``Retry-After`` header: a number of seconds or an HTTP date; None when absent or
    unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - (now or datetime.now(timezone.utc))).total_seconds())


# ---------------------------------------------------------------- the worker

@dataclass(frozen=True)
class Settings:
    schedule: tuple[float, ...]  # BENEFITS_WEBHOOK_RETRY_SCHEDULE
    allow_private: bool = False  # BENEFITS_WEBHOOK_ALLOW_PRIVATE
    retention: timedelta = timedelta(days=7)  # BENEFITS_OUTBOX_RETENTION_DAYS
    timeout: float = TIMEOUT
    concurrency: int = 8
    poll: float = 0.1  # seconds between looks when nothing is due

    @classmethod
    def of(cls, config, **options) -> "Settings":
        return cls(schedule=tuple(config.WEBHOOK_RETRY_SCHEDULE), allow_private=config.WEBHOOK_ALLOW_PRIVATE,
                   retention=timedelta(days=config.OUTBOX_RETENTION_DAYS), **options)


@dataclass
class Worker:
    """Delivers what is due, ``concurrency`` calls at a time, until stopped (or, with ``once``, until nothing
    that was due when it started is left).

    The calls run on a pool of threads that touch no database; this thread works in rounds, each one
    transaction: record the answers that came back since the last round (``settle``), then lease as many
    due deliveries as there are free calls (``claim``). So a busy worker commits once for several messages,
    and the message after a delivered one in its stream is claimed in the round that records the delivery.
    """

    sessions: sessionmaker
    encryption: Encryption
    settings: Settings
    clock: Callable[[], datetime]
    send: Callable[..., Answer] = post
    stop: threading.Event = field(default_factory=threading.Event)
    counts: Counter = field(default_factory=Counter)

    def __post_init__(self):
        self._changed = threading.Condition()
        self._in_flight = 0
        self._answered: list[tuple[Claimed, Answer]] = []
        self._pruned_at: datetime | None = None

    def run(self, *, once: bool = False) -> Counter:
        started, busy = self.clock(), False
        with ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="delivery") as pool:
            while not self.stop.is_set():
                self._prune_now_and_then()
                with self._changed:
                    answered, self._answered = self._answered, []
                    free = self.settings.concurrency - self._in_flight
                now = self.clock()
                claimed = self._round(answered, free, now, due_by=started if once else now, look_first=not busy)
                busy = bool(answered or claimed)
                with self._changed:
                    self._in_flight += len(claimed)
                for one in claimed:
                    pool.submit(self._call, one)
                with self._changed:
                    if once and not busy and self._in_flight == 0 and not self._answered:
                        break
                    half = max(1, self.settings.concurrency // 2)
                    self._changed.wait_for(lambda: len(self._answered) >= half or (
                        self._answered and self._in_flight == 0) or self.stop.is_set(),
                        timeout=self.settings.poll)
            pool.shutdown(wait=True)
            with self._changed:
                answered, self._answered = self._answered, []
            if answered:  # stopped: record what came back, lease nothing more
                self._round(answered, 0, self.clock(), due_by=self.clock(), look_first=False)
        return self.counts

    def _round(self, answered: list[tuple[Claimed, Answer]], free: int, now: datetime, *, due_by: datetime,
               look_first: bool) -> list[Claimed]:
        """One transaction: settle the answers, then lease up to ``free`` due deliveries. An idle worker first
        looks with a read, which takes no write lock (SQLite), and writes only when something is due."""
        if not answered and (free <= 0 or look_first and not db.run(
                self.sessions, lambda s: webhooks.any_due(s, now=now, due_by=due_by), write=False, retries=0)):
            return []

        def work(session):
            settled = webhooks.settle(session, answered, schedule=self.settings.schedule, now=now)
            leased = webhooks.claim(session, self.encryption, now=now, due_by=due_by, limit=free) if free > 0 else []
            return settled, leased

        settled, leased = db.run(self.sessions, work)
        for (claimed, answer), status in zip(answered, settled):
            outcome = "lost" if status is None else "retrying" if status == "pending" else str(status)
            self.counts[outcome] += 1
            log.info("%s %s", claimed.message_id, outcome, extra={
                "message_id": claimed.message_id, "webhook": claimed.endpoint_id, "attempt": claimed.attempt,
                "status_code": answer.status_code, "error": answer.error, "outcome": outcome})
        return leased

    def _call(self, claimed: Claimed) -> None:
        """One HTTP call, on a thread of the pool; its answer waits for the next round."""
        try:
            answer = self.send(claimed.url, claimed.body, headers(claimed, int(self.clock().timestamp())),
                               timeout=self.settings.timeout, allow_private=self.settings.allow_private)
        except Exception as error:  # noqa: BLE001 - recorded as a failed attempt like any other
            log.exception("delivery of %s failed", claimed.message_id)
            answer = Answer(None, f"{type(error).__name__}: {error}")
        with self._changed:
            self._answered.append((claimed, answer))
            self._in_flight -= 1
            self._changed.notify_all()

    def _prune_now_and_then(self) -> None:
        now = self.clock()
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = now
            self._prune()

    def _prune(self) -> int:
        total, now = 0, self.clock()
        while removed := db.run(self.sessions, lambda s: outbox.prune(s, now, self.settings.retention)):
            total += removed
        self.counts["pruned"] += total
        return total
