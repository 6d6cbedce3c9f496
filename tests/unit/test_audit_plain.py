"""The JSON form of an audit row's values is exactly what a JSON round trip makes of them: the hash of a
sealed row and of the row read back from the database agree."""
import json
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from benefits.models import RedemptionStatus
from benefits.services.audit import plain


@pytest.mark.parametrize("value", [
    None, 0, -7, 1.5, True, "张三", [], {},
    {"points": 5, "expires_at": datetime(2028, 12, 1, tzinfo=timezone.utc), "event_id": "e1"},
    {"status": RedemptionStatus.HELD, "nested": {"amount": Decimal("100.10"), "day": date(2026, 11, 23)}},
    [("a", 1), {"b": None}],
    {1: "a key that is no string"},
    Decimal("1E+2"),
])
def test_plain_is_what_a_json_round_trip_makes(value):
    expected = json.loads(json.dumps(value, default=str)) if value is not None else None
    got = plain(value)
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert type(got) is type(expected)
