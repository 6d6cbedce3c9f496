"""JSON written by orjson reads back as the standard library's would; what orjson refuses is still written."""
import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from benefits import jsontext
from benefits.models import EntryKind

MOMENT = datetime(2026, 12, 7, 6, 15, tzinfo=timezone.utc)


@pytest.mark.parametrize("value", [
    {"name": "张三", "points": 5, "kind": EntryKind.EARN, "nested": [1.5, None, True]},
    [{"expires_at": MOMENT, "rate": Decimal("7.1234")}],
    {"points": 2**63 - 1},
])
def test_written_json_reads_back_as_the_standard_librarys(value):
    assert json.loads(jsontext.dumps(value, default=str)) == json.loads(json.dumps(value, default=str))


def test_dates_and_times_go_to_the_default_given():
    assert jsontext.dumps({"at": MOMENT}, default=lambda value: value.isoformat()) == \
        '{"at":"2026-12-07T06:15:00+00:00"}'


@pytest.mark.parametrize("value", [{"text": "a lone \ud800"}, {"points": 2**70}])
def test_what_orjson_refuses_is_written_by_the_standard_library(value):
    assert json.loads(jsontext.dumps(value)) == value


def test_an_integer_past_64_bits_is_read():
    assert jsontext.loads(b'{"points": 1180591620717411303424}') == {"points": 2**70}
