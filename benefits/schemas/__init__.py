"""Request schemas shared by every way in: the HTTP API, ``benefits events import`` and the broker consumer.

Each schema validates one body and loads it into the service's own typed input
(a frozen dataclass of ``benefits.services``); ``flatten`` turns marshmallow's
nested messages into the ``[{path, message}]`` list of every 422.
"""
from decimal import Decimal

import marshmallow as ma
from marshmallow import fields, validate

MAX_AMOUNT = Decimal(10) ** 12
ID = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$",
                     error="must be 1 to 64 letters, digits or . _ : @ - (starting with a letter or digit)")
TEXT = validate.Length(min=1, max=64)


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    @ma.pre_load
    def refuse_nul(self, data, **kwargs):
        """NUL characters are in no name, id or tag, and PostgreSQL text refuses them."""
        if isinstance(data, dict):
            bad = {str(key): ["must not contain NUL characters"] for key, value in data.items()
                   if _holds_nul(key) or _holds_nul(value)}
            if bad:
                raise ma.ValidationError(bad)
        return data


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


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
