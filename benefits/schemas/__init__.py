"""Request schemas shared by every way in: the HTTP API and ``benefits events import``.

Each schema validates one body and loads it into the service's own typed input
(a frozen dataclass of ``benefits.services``); ``flatten`` turns marshmallow's
nested messages into the ``[{path, message}]`` list of every 422.

What a careless or hostile client sends is refused here, once for every way in:
``parse_json`` refuses JSON nested deeper than 32 levels and numbers written
with more than 30 digits; every ``Strict`` schema refuses strings (values and
field names) holding a NUL or a lone surrogate (a query string cannot hold
one: bytes that are not UTF-8 stay percent-encoded); ``Integer`` refuses 1.5 rather
than rounding it; ``Date`` and ``AwareDateTime`` refuse years outside 1900-2100.
"""
import datetime as dt
import json
import re
from collections.abc import Mapping
from decimal import Decimal

import marshmallow as ma
from marshmallow import fields, validate

from ..errors import Invalid
from ..text import text_problem

MAX_AMOUNT = Decimal(10) ** 12
MAX_DEPTH = 32
MAX_DIGITS = 30
YEARS = (1900, 2100)
ID = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$",
                     error="must be 1 to 64 letters, digits or . _ : @ - (starting with a letter or digit)")
TEXT = validate.Length(min=1, max=64)


class _Overlong:
    """A JSON number written with too many digits, kept until its path is known."""

    def __init__(self, text: str):
        self.text = text


def _number(parse):
    def hook(text: str):
        return _Overlong(text) if sum(ch.isdigit() for ch in text) > MAX_DIGITS else parse(text)
    return hook


def parse_json(data: bytes | str, prefix: str = "json"):
    """JSON text as Python values; 422 (``Invalid``) naming the path of every value nested too deep or
    written with too many digits; ``ValueError`` when it is not JSON at all. Strings are the schemas' to
    check (``Strict``), so that one bad event of a batch refuses that event only."""
    try:
        value = json.loads(data, parse_int=_number(int), parse_float=_number(float))
    except RecursionError:
        raise Invalid([{"path": prefix, "message": f"is nested deeper than {MAX_DEPTH} levels"}]) from None
    problems = []
    stack = [(value, prefix, 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, (dict, list)) and depth > MAX_DEPTH:
            problems.append({"path": path, "message": f"is nested deeper than {MAX_DEPTH} levels"})
        elif isinstance(item, dict):
            stack.extend((inner, f"{path}.{key}" if path else key, depth + 1) for key, inner in item.items())
        elif isinstance(item, list):
            stack.extend((inner, f"{path}[{index}]", depth + 1) for index, inner in enumerate(item))
        elif isinstance(item, _Overlong):
            problems.append({"path": path, "message": f"is a number written with more than {MAX_DIGITS} digits"})
    if problems:
        raise Invalid(sorted(problems, key=lambda problem: problem["path"]))
    return value


class Strict(ma.Schema):
    """Unknown fields are refused, and so is every string that cannot be stored as text.

    ``opaque`` names fields whose content another schema validates (a batch's
    events, each on its own): they are not looked into here.
    """

    opaque: tuple[str, ...] = ()

    class Meta:
        unknown = ma.RAISE

    @ma.pre_load
    def refuse_what_is_no_text(self, data, **kwargs):
        if isinstance(data, Mapping):
            messages = _text_messages(data, skip=self.opaque)
            if messages:
                raise ma.ValidationError(messages)
        return data


def _text_messages(data: Mapping, skip: tuple[str, ...] = ()) -> dict:
    """marshmallow messages, nested as the data is, for every string of ``data`` that cannot be text."""
    if type(data) is dict and all(type(key) is str and type(value) in _SCALARS for key, value in data.items()) \
            and text_problem("".join(data) + "".join(v for v in data.values() if type(v) is str)) is None:
        return {}  # a flat object whose every string is good text (an event): nothing to walk
    messages: dict = {}
    stack = [(data, ())]
    while stack:
        item, parts = stack.pop()
        if isinstance(item, Mapping):
            for key in list(item):
                problem = text_problem(key) if isinstance(key, str) else None
                if problem is not None:
                    _nest(messages, parts + ("_schema",), f"has a field name that {problem}")
                elif not (parts == () and key in skip):
                    values = item.getlist(key) if hasattr(item, "getlist") else [item[key]]
                    stack.extend((value, parts + (key,)) for value in values)
        elif isinstance(item, list):
            stack.extend((value, parts + (index,)) for index, value in enumerate(item))
        elif isinstance(item, str) and (problem := text_problem(item)) is not None:
            _nest(messages, parts, problem)
    return messages


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _nest(messages: dict, parts: tuple, message: str) -> None:
    for part in parts[:-1]:
        messages = messages.setdefault(part, {})
    messages.setdefault(parts[-1] if parts else "_schema", []).append(message)


class Integer(fields.Integer):
    """A whole number: 2, 2.0 or "2" (a query string); 1.5 is refused, never rounded."""

    def _validated(self, value):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        if isinstance(value, str) and not re.fullmatch(r"\s*[-+]?\d+\s*", value):
            raise self.make_error("invalid")
        return super()._validated(value)


def _in_years(value) -> None:
    if not YEARS[0] <= value.year <= YEARS[1]:
        raise ma.ValidationError(f"must be in the years {YEARS[0]} to {YEARS[1]}")


class Date(fields.Date):
    """A calendar date in the years 1900 to 2100."""

    def _deserialize(self, value, attr, data, **kwargs) -> dt.date:
        day = super()._deserialize(value, attr, data, **kwargs)
        _in_years(day)
        return day


class AwareDateTime(fields.AwareDateTime):
    """An RFC 3339 time with its offset, in the years 1900 to 2100."""

    def _deserialize(self, value, attr, data, **kwargs) -> dt.datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        _in_years(moment)
        return moment


class Currency(validate.Regexp):
    """An ISO 4217 code: three capital letters, the whole string (``Regexp`` alone would let "CNY\\n" by);
    ``example`` names one in the refusal. Documented as its pattern."""

    def __init__(self, example: str = "CNY"):
        super().__init__(r"^[A-Z]{3}$", error=f"must be an ISO 4217 code such as {example}")

    def __call__(self, value: str) -> str:
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ma.ValidationError(self._format_error(value))
        return value


def two_places(value: Decimal) -> None:
    if abs(value) <= MAX_AMOUNT and value != value.quantize(Decimal("0.01")):
        raise ma.ValidationError("must have at most two decimal places")


def Money(positive: bool = False, **kwargs):
    """An amount of money from 0 (or above 0) to 10^12, with at most two decimal places."""
    # documented with numeric bounds and default: apispec would write the Decimal ones as strings
    metadata = {"minimum": 0, "maximum": int(MAX_AMOUNT)} | ({"exclusiveMinimum": True} if positive else {})
    if kwargs.get("load_default") is not None:
        metadata["default"] = kwargs["load_default"]
    return fields.Decimal(
        validate=[validate.Range(min=0, min_inclusive=not positive, max=MAX_AMOUNT), two_places],
        allow_nan=False, as_string=False, metadata=metadata | kwargs.pop("metadata", {}), **kwargs)


def MoneyOut(**kwargs):
    """An amount as the API answers it: a decimal string such as "8000000.00"."""
    return fields.Decimal(as_string=True, metadata={"type": "string", "format": "decimal",
                                                    "example": "8000000.00"} | kwargs.pop("metadata", {}), **kwargs)


def flatten(errors, prefix="") -> list[dict]:
    """marshmallow's nested ``{"events": {"0": {"id": [...]}}}`` as ``[{path, message}]``."""
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        return [{"path": prefix or "json", "message": message} for message in errors]
    if isinstance(errors, list):
        return [item for i, e in enumerate(errors) for item in flatten(e, f"{prefix}[{i}]")]
    if isinstance(errors, dict):
        flat = []
        for key, value in errors.items():
            if key == "_schema":
                path = prefix
            elif isinstance(key, int) or str(key).isdigit():
                path = f"{prefix}[{key}]"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            flat.extend(flatten(value, path))
        return flat
    return [{"path": prefix, "message": str(errors)}]
