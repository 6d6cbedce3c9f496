"""JSON as the service writes and reads it: answers, statement parameters, log lines and what PostgreSQL
answers, by orjson where it can.

orjson writes the same JSON as the standard library several times faster; on
the events path the standard library's share was a tenth of a worker's CPU.
What orjson refuses (a lone surrogate, an integer past 64 bits, a non-string
key of a type it does not know) is written by the standard library, with
``\\u`` escapes for what is not ASCII, so that it can always be sent.
Hashed JSON (the audit chain, an event's body hash) stays with the standard
library: its bytes are part of what was stored.
"""
import json
from typing import Any, Callable

import orjson
from flask.json.provider import DefaultJSONProvider

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """``value`` as compact JSON text, names such as 张三 as they are (escaped only in what orjson refuses);
    ``default`` is called for what JSON has no type for, dates and times included."""
    return dumps_bytes(value, default).decode()


def dumps_bytes(value: Any, default: Callable[[Any], Any] | None = None, *, newline: bool = False) -> bytes:
    try:
        return orjson.dumps(value, default=default, option=_OPTIONS | (orjson.OPT_APPEND_NEWLINE if newline else 0))
    except orjson.JSONEncodeError:
        text = json.dumps(value, default=default, separators=(",", ":"))
        return (text + "\n" if newline else text).encode()


def loads(data: bytes | str) -> Any:
    """JSON text as Python values (what PostgreSQL answers for a json or jsonb column)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:  # an integer past 64 bits, say: the standard library reads it
        return json.loads(data)


class JsonProvider(DefaultJSONProvider):
    """Flask's JSON with names such as 张三 kept readable and fields in the order the schemas declare them;
    answers written by orjson (indented, by the standard library, in debug mode)."""

    ensure_ascii = False
    sort_keys = False

    def response(self, *args, **kwargs):
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(*args, **kwargs)
        body = dumps_bytes(self._prepare_response_obj(args, kwargs), self.default, newline=True)
        return self._app.response_class(body, mimetype=self.mimetype)
