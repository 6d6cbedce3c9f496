"""A time is stored on SQLite as the very text SQLAlchemy's own DATETIME writes of it in UTC, so that rows
written in one step and rows written by SQLAlchemy compare and sort alike."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite import DATETIME

from benefits.models import UTCDateTime

SHANGHAI = timezone(timedelta(hours=8))
DIALECT = sqlite.dialect()


@pytest.mark.parametrize("moment", [
    datetime(2026, 12, 7, 14, 2, 39, tzinfo=SHANGHAI),
    datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2027, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc),
    datetime(1900, 1, 1, 7, 30, tzinfo=SHANGHAI),
    datetime(999, 3, 4, 5, 6, 7, 80, tzinfo=timezone.utc),
])
def test_a_time_binds_on_sqlite_as_sqlalchemy_writes_it_in_utc(moment):
    in_utc = moment.astimezone(timezone.utc).replace(tzinfo=None)
    assert UTCDateTime().bind_processor(DIALECT)(moment) == DATETIME().bind_processor(DIALECT)(in_utc)


def test_a_naive_time_is_refused_on_sqlite():
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().bind_processor(DIALECT)(datetime(2026, 12, 7, 14, 2))


def test_no_time_binds_as_null_on_sqlite():
    assert UTCDateTime().bind_processor(DIALECT)(None) is None
