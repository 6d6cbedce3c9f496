"""Rate limits on failures: a sliding window of failed attempts by subject, shared by every process.

A failed pass look-up counts against the key that made it; a failed console
sign-in against the address it came from. Past ``limit`` failures in
``window`` the subject is refused (429 with the seconds to wait), valid
attempts included, so the answer tells nothing. A failure is counted under a
lock on its subject (a transaction-scoped advisory lock on PostgreSQL; SQLite
serialises writers anyway), so that 100 failures sent at once are 20 refusals
of the attempt and 80 of the rate limit, not 100 of the attempt.
"""
import hashlib
import math
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, select, text
from sqlalchemy.orm import Session

from ..db import is_sqlite
from ..errors import RateLimited
from ..models import FailedAttempt

LIMIT = 20
WINDOW = timedelta(seconds=60)


_IN_WINDOW = (FailedAttempt.kind == bindparam("kind"), FailedAttempt.subject == bindparam("subject"),
              FailedAttempt.at > bindparam("since"))
WINDOW_COLUMNS = (select(func.count()).where(*_IN_WINDOW).scalar_subquery().label("failures"),
                  select(func.min(FailedAttempt.at)).where(*_IN_WINDOW).scalar_subquery().label("oldest"))
"""The subject's failures in the window and the oldest of them, as columns another query can read too, with
the parameters of ``window``."""
_CHECK = select(*WINDOW_COLUMNS)


def window(kind: str, subject: str, now: datetime) -> dict:
    """The parameters of ``WINDOW_COLUMNS``."""
    return {"kind": kind, "subject": subject, "since": now - WINDOW}


def check(session: Session, kind: str, subject: str, now: datetime) -> None:
    """Refuse a subject that failed as often as it may in the last window (429, with the seconds to wait)."""
    refuse_if_over(*session.execute(_CHECK, window(kind, subject, now)).one(), now)


def refuse_if_over(count: int, oldest: datetime | None, now: datetime) -> None:
    if count >= LIMIT:
        wait = max(1, math.ceil((oldest + WINDOW - now).total_seconds()))
        raise RateLimited(f"more than {LIMIT} failed attempts in {WINDOW.seconds} s; try again in {wait} s",
                          retry_after=wait)


def count_failure(session: Session, kind: str, subject: str, now: datetime) -> None:
    """Count a failure, under the subject's lock; refused (429) when the window was already full."""
    if not is_sqlite(session):
        lock = int.from_bytes(hashlib.sha256(f"{kind}:{subject}".encode()).digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": lock})
    check(session, kind, subject, now)
    session.execute(delete(FailedAttempt).where(FailedAttempt.kind == kind, FailedAttempt.subject == subject,
                                                FailedAttempt.at <= now - WINDOW))
    session.add(FailedAttempt(kind=kind, subject=subject, at=now))
