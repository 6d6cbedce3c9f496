"""Prometheus metrics, served at ``/metrics`` (an admin key, sent by Prometheus as a bearer token).

Under gunicorn every worker writes its samples to ``PROMETHEUS_MULTIPROC_DIR``
(``benefits.gunicorn`` sets it up) and a scrape adds them up, whichever worker
answers it; in a single process the samples are its own. What is counted is
what was committed: the business counters are taken from the audit rows of a
transaction after it commits (``count_committed``), so a rolled-back attempt
or a refused request counts nothing.
"""
import os
import time
from contextlib import contextmanager

from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram,
                               generate_latest, multiprocess)

REQUESTS = Counter("benefits_http_requests_total", "HTTP requests answered, by route template and status",
                   ["method", "route", "status"])
LATENCY = Histogram("benefits_http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
EVENTS = Counter("benefits_events_recorded_total", "Events recorded (replays and refusals not counted)", ["type"])
POINTS = Counter("benefits_points_total", "Points posted to the ledger, by kind of entry "
                 "(earned, spent, reversed, expired, adjusted), as positive numbers", ["kind"])
REDEMPTIONS = Counter("benefits_redemptions_total", "Redemptions by outcome (held, confirmed, cancelled, lapsed)",
                      ["outcome"])
RULE_SECONDS = Histogram("benefits_rule_evaluation_seconds", "Time of one question to the rules engine", ["group"],
                         buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05))
TIP_WAIT = Histogram("benefits_audit_tip_lock_wait_seconds", "Time a committing transaction waited for the audit "
                     "chain's tip", buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5))
OUTBOX_BACKLOG = Gauge("benefits_outbox_backlog", "Webhook deliveries to active endpoints not yet delivered, by "
                       "status (pending: waiting for an attempt; failed: holding its stream until retried or skipped)",
                       ["status"], multiprocess_mode="mostrecent")
OUTBOX_OLDEST = Gauge("benefits_outbox_oldest_pending_seconds", "Age of the oldest message still pending delivery",
                      multiprocess_mode="mostrecent")

_POINTS = {"points.earned": "earned", "points.spent": "spent", "points.reversed": "reversed",
           "points.expired": "expired", "points.adjusted": "adjusted"}
_REDEMPTIONS = {"redemption.held": "held", "redemption.confirmed": "confirmed",
                "redemption.cancelled": "cancelled", "redemption.lapsed": "lapsed"}


def count_committed(rows: list[dict]) -> None:
    """Count the points and redemptions of a committed transaction's audit rows."""
    for row in rows:
        action = row["action"]
        if action in _POINTS:
            POINTS.labels(_POINTS[action]).inc(abs((row["after"] or {}).get("points", 0)))
        elif action in _REDEMPTIONS:
            REDEMPTIONS.labels(_REDEMPTIONS[action]).inc()


def observe_backlog(backlog: dict) -> None:
    """The outbox backlog as a scrape finds it (read from the database at every scrape)."""
    for status in ("pending", "failed"):
        OUTBOX_BACKLOG.labels(status).set(backlog[status])
    OUTBOX_OLDEST.set(backlog["oldest_pending_seconds"])


@contextmanager
def timed(histogram, *labels):
    started = time.perf_counter()
    try:
        yield
    finally:
        (histogram.labels(*labels) if labels else histogram).observe(time.perf_counter() - started)


def exposition() -> tuple[bytes, str]:
    """The samples of every process serving the app, in Prometheus' text format."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
