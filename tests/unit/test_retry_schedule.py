"""When a failed delivery is tried again, table-driven: the schedule plus jitter, Retry-After, the last attempt."""
from datetime import datetime, timedelta, timezone

import pytest

from benefits.delivery import retry_after
from benefits.services.webhooks import next_wait

SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)


@pytest.mark.parametrize("attempt, jitter, asked, wait", [
    (1, 0.0, None, timedelta(seconds=5)),
    (1, 1.0, None, timedelta(seconds=5.5)),  # at most 10% more
    (2, 0.5, None, timedelta(seconds=315)),
    (7, 0.0, None, timedelta(hours=10)),
    (8, 0.0, None, None),  # the eighth attempt was the last
    (1, 0.0, 120, timedelta(seconds=120)),  # Retry-After, longer than the schedule
    (4, 0.0, 120, timedelta(hours=2)),  # Retry-After shorter than the schedule: the schedule
    (1, 0.0, 10 ** 9, timedelta(hours=24)),  # never longer than a day
    (8, 0.0, 60, None),  # Retry-After cannot add an attempt
])
def test_the_wait_after_a_failed_attempt(attempt, jitter, asked, wait):
    assert next_wait(attempt, SCHEDULE, asked, lambda: jitter) == wait


@pytest.mark.parametrize("header, seconds", [
    ("120", 120.0),
    (" 7 ", 7.0),
    ("Sun, 06 Dec 2026 13:02:00 GMT", 120.0),
    ("Sun, 06 Dec 2026 12:00:00 GMT", 0.0),  # a date past
    ("soon", None),
    ("-5", None),
    (None, None),
])
def test_retry_after_is_seconds_or_an_http_date(header, seconds):
    assert retry_after(header, now=datetime(2026, 12, 6, 13, 0, tzinfo=timezone.utc)) == seconds
