"""Conditions: checked against the fields a rule may read, compiled to durable_rules expressions.

A condition is ``{all: [...]}``, ``{any: [...]}``, ``{not: c}`` or
``{FIELD: {OP: VALUE}}``; several keys in one mapping are AND-ed. The engine
evaluates every comparison; this module only checks and translates.

The engine has no general negation, so ``not`` is pushed down to the
comparisons (De Morgan), each negated comparison becoming "the field is absent,
or the opposite comparison holds": a comparison on an absent field is false, so
its negation is true there. The engine has no negated regular-expression
match, so ``matches`` under ``not`` is refused as a construct durable_rules
cannot express.
"""
from dataclasses import dataclass

from . import engine

MAX_DEPTH = 16
MAX_LIST = 100
MAX_PATTERN = 200
ALWAYS = "_"  # a field every fact carries with the value 1: the condition of a rule without `when`
NO_TAG = "\u2400"  # every fact's tags end with this, so "no item equals x" holds for an empty list


@dataclass(frozen=True)
class Field:
    kind: str  # number | string | list | bool | tier
    event: bool = False  # readable only by earning rules


FIELDS = {
    "tier": Field("tier"),
    "aum": Field("number"),
    "annual_contribution": Field("number"),
    "tags": Field("list"),
    "birthday_month": Field("number"),
    "is_birthday_month": Field("bool"),
    "tenure_days": Field("number"),
    "aum_growth_3m": Field("number"),
    "amount": Field("number", event=True),  # in the programme's currency (converted)
    "original_amount": Field("number", event=True),  # in the currency the transaction was made in
    "currency": Field("string", event=True),
    "category": Field("string", event=True),
    "channel": Field("string", event=True),
    "activity": Field("string", event=True),
    "course_id": Field("string", event=True),
}
OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains", "matches", "exists")
ALLOWED = {
    "number": ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "exists"),
    "string": ("eq", "ne", "in", "not_in", "matches", "exists"),
    "tier": ("eq", "ne", "in", "not_in", "exists"),
    "bool": ("eq", "ne", "exists"),
    "list": ("contains", "exists"),
}
CONNECTIVES = ("all", "any", "not")
_ENGINE_OP = {"lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}
_OPPOSITE = {"lt": "gte", "lte": "gt", "gt": "lte", "gte": "lt", "eq": "ne", "ne": "eq", "in": "not_in",
             "not_in": "in"}


@dataclass(frozen=True)
class Scope:
    """What a condition may read: event fields in earning rules, `tier` outside `tiers`."""

    tiers: tuple[str, ...]
    events: bool = False
    tier_field: bool = True

    def fields(self) -> list[str]:
        return [name for name, field in FIELDS.items()
                if (self.events or not field.event) and (self.tier_field or name != "tier")]


def check(condition, path: str, scope: Scope) -> list[dict]:
    """Every problem of a condition, by path; [] when it is valid and the engine can run it."""
    errors: list[dict] = []
    _check(condition, path, scope, errors, depth=1, negated=False)
    return errors


def _error(errors: list, path: str, message: str) -> None:
    errors.append({"path": path, "message": message})


def _check(condition, path, scope, errors, *, depth, negated) -> None:
    if depth > MAX_DEPTH:
        return _error(errors, path, f"nested too deeply (at most {MAX_DEPTH} levels)")
    if not isinstance(condition, dict) or not condition:
        return _error(errors, path, "must be a non-empty mapping: {all: [...]}, {any: [...]}, {not: ...} "
                                    "or {FIELD: {OP: VALUE}}")
    for key, value in condition.items():
        at = f"{path}.{key}"
        if key in ("all", "any"):
            for index, item in _listed(value, at, errors, "conditions"):
                _check(item, f"{at}[{index}]", scope, errors, depth=depth + 1, negated=negated)
        elif key == "not":
            _check(value, at, scope, errors, depth=depth + 1, negated=not negated)
        elif key not in scope.fields():
            where = "" if key not in FIELDS else " here"
            _error(errors, at, f"unknown field{where} (fields here: {', '.join(scope.fields())})")
        else:
            _check_comparison(key, value, at, scope, errors, negated=negated)


def _listed(value, path, errors, what: str) -> list:
    """(index, item) of a non-empty list of at most MAX_LIST items; none, with the error, otherwise."""
    if not isinstance(value, list) or not value:
        _error(errors, path, "must be a non-empty list" + (" of conditions" if what == "conditions" else ""))
        return []
    if len(value) > MAX_LIST:
        _error(errors, path, f"must have at most {MAX_LIST} {what}")
        return []
    return list(enumerate(value))


def _check_comparison(name, comparison, path, scope, errors, *, negated) -> None:
    kind = FIELDS[name].kind
    if not isinstance(comparison, dict) or not comparison:
        return _error(errors, path, f"must be a mapping of operator to value, e.g. {{eq: ...}}; "
                                    f"operators for {name}: {', '.join(ALLOWED[kind])}")
    for op, value in comparison.items():
        at = f"{path}.{op}"
        if op not in OPERATORS:
            _error(errors, at, f"unknown operator (operators: {', '.join(OPERATORS)})")
        elif op not in ALLOWED[kind]:
            _error(errors, at, f"cannot be used on {name} (operators for {name}: {', '.join(ALLOWED[kind])})")
        elif op == "exists":
            if not isinstance(value, bool):
                _error(errors, at, "must be true or false")
        elif op in ("in", "not_in"):
            for index, item in _listed(value, at, errors, "values"):
                _check_value(name, kind, item, f"{at}[{index}]", scope, errors)
        elif op == "matches":
            if negated:
                _error(errors, at, "cannot be used under not: durable_rules has no negated "
                                   "regular-expression match")
            elif not isinstance(value, str) or not value:
                _error(errors, at, "must be a non-empty pattern")
            elif len(value) > MAX_PATTERN:
                _error(errors, at, f"must be at most {MAX_PATTERN} characters")
            else:
                problem = engine.pattern_error(value)
                if problem:
                    _error(errors, at, problem)
        elif op == "contains":
            if not isinstance(value, str) or not value or value == NO_TAG:
                _error(errors, at, "must be a non-empty string")
        else:
            _check_value(name, kind, value, at, scope, errors)


def _check_value(name, kind, value, path, scope, errors) -> None:
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _error(errors, path, f"must be a number ({name} is a number)")
        elif abs(value) > 1e15:
            _error(errors, path, "must be between -10^15 and 10^15")
    elif kind == "bool":
        if not isinstance(value, bool):
            _error(errors, path, "must be true or false")
    elif kind == "tier":
        if value not in scope.tiers:
            _error(errors, path, f"unknown tier {value!r} (tiers: {', '.join(scope.tiers)})")
    elif not isinstance(value, str):
        _error(errors, path, f"must be a string ({name} is a string)")


def compile_condition(condition: dict | None) -> dict:
    """A valid condition as one durable_rules expression over the fact ``m``."""
    if condition is None:
        return {ALWAYS: 1}
    return _compile(condition, negated=False)


def fields_read(condition: dict | None) -> set[str]:
    """The fields a condition reads (none for a rule without `when`)."""
    names = set()
    for key, value in (condition or {}).items():
        if key in ("all", "any"):
            for item in value:
                names |= fields_read(item)
        elif key == "not":
            names |= fields_read(value)
        else:
            names.add(key)
    return names


def _both(parts: list[dict], op: str) -> dict:
    return parts[0] if len(parts) == 1 else {op: parts}


def _compile(condition: dict, *, negated: bool) -> dict:
    parts = []
    for key, value in condition.items():
        if key in ("all", "any"):
            inner = [_compile(item, negated=negated) for item in value]
            parts.append(_both(inner, "$and" if (key == "all") != negated else "$or"))
        elif key == "not":
            parts.append(_compile(value, negated=not negated))
        else:
            for op, operand in value.items():
                parts.append(_comparison(key, op, operand, negated))
    return _both(parts, "$or" if negated else "$and")


def _comparison(name: str, op: str, value, negated: bool) -> dict:
    if op == "exists":
        return {"$ex" if value != negated else "$nex": {name: 1}}
    if not negated:
        return _positive(name, op, value)
    if op == "contains":
        opposite = {"$iall": {name: {"$neq": {"$i": value}}}}
    else:
        opposite = _positive(name, _OPPOSITE[op], value)
    return {"$or": [{"$nex": {name: 1}}, opposite]}


def _positive(name: str, op: str, value) -> dict:
    if op == "eq":
        return {name: value}
    if op == "ne":
        return {"$neq": {name: value}}
    if op == "in":
        return _both([{name: item} for item in value], "$or")
    if op == "not_in":
        return _both([{"$neq": {name: item}} for item in value], "$and")
    if op == "contains":
        return {"$iany": {name: {"$i": value}}}
    if op == "matches":
        return {"$mt": {name: value}}
    return {_ENGINE_OP[op]: {name: value}}


@dataclass(frozen=True)
class Threshold:
    """One bar of a threshold condition: ``field`` (a number about the customer) ``op`` (gte or gt) ``value``."""

    field: str
    op: str
    value: int | float


def thresholds(condition: dict | None) -> tuple[str, list[Threshold]] | None:
    """A condition made only of numeric thresholds, as ``(mode, bars)``: ``{aum: {gte: 500000}}`` (several
    fields or operators in one mapping are all required) or an ``all``/``any`` of such comparisons, mode
    ``all`` or ``any``. None for any other shape (another operator or field, a `not`, nesting)."""
    if not isinstance(condition, dict) or not condition:
        return None
    if set(condition) in ({"all"}, {"any"}):
        mode, items = next(iter(condition.items()))
        bars = [_bars(item) for item in items]
        if any(found is None for found in bars) or (mode == "any" and any(len(found) != 1 for found in bars)):
            return None  # an `any` of several-field mappings is no flat list of bars
        return mode, [bar for found in bars for bar in found]
    bars = _bars(condition)
    return ("all", bars) if bars is not None else None


def _bars(comparisons: dict) -> list[Threshold] | None:
    """The bars of one mapping of numeric comparisons, or None when it holds anything else."""
    if not isinstance(comparisons, dict) or not comparisons:
        return None
    bars = []
    for name, comparison in comparisons.items():
        field = FIELDS.get(name)
        if field is None or field.kind != "number" or field.event or not isinstance(comparison, dict):
            return None
        for op, value in comparison.items():
            if op not in ("gte", "gt") or isinstance(value, bool) or not isinstance(value, (int, float)):
                return None
            bars.append(Threshold(name, op, value))
    return bars
