"""Rule documents: parsing YAML or JSON safely, validating, and comparing two versions.

A document is refused as a whole, with every problem listed by its path
(``earning[1].cap.per``). The structure is checked against the published JSON
Schema (``schema.json``); conditions and cross-references (catalog, tiers,
unique rule ids, the last tier) are checked here, on every well-formed part
even when other parts fail the schema.
"""
import copy
import hashlib
import json
import math
import re
from decimal import Decimal
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from jsonschema import Draft202012Validator

from ..errors import PatternTooComplex, RuleDocumentInvalid
from ..models import SourceType
from ..text import text_problem
from . import conditions, engine

MAX_BYTES = 1 << 20
MAX_VALUES = 50_000
MAX_NESTING = 48
MAX_ERRORS = 200
MAX_DIGITS = 30
DOCUMENT = "document"
SECTIONS = ("earning", "benefits", "rewards", "signals")

RULE_SCHEMA: dict = json.loads(resources.files(__package__).joinpath("schema.json").read_text("utf-8"))
_VALIDATION_SCHEMA = copy.deepcopy(RULE_SCHEMA)
_VALIDATION_SCHEMA["$defs"]["condition"] = {}  # conditions are checked by `conditions`, with clearer messages
_VALIDATOR = Draft202012Validator(_VALIDATION_SCHEMA)
_PATTERN_MESSAGES = {
    RULE_SCHEMA["$defs"]["id"]["pattern"]: "must be 1 to 64 letters, digits, '-' or '_', "
                                            "starting with a letter or digit",
    RULE_SCHEMA["properties"]["currency"]["pattern"]: "must be a three-letter currency code such as CNY",
}
_TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "a whole number",
               "number": "a number", "boolean": "true or false"}


class _Loader(yaml.SafeLoader):
    """Safe YAML without aliases (no exponential expansion) and with only true/false as booleans,
    so that a key such as ``on:`` stays the string "on"."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed", mark)
        return super().compose_node(parent, index)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def _refuse(message: str, path: str = DOCUMENT):
    raise RuleDocumentInvalid([{"path": path, "message": message}])


def parse_document(data: bytes | str, media_type: SourceType = SourceType.YAML):
    """The document's structure, or RuleDocumentInvalid for text that is not a sane YAML/JSON document."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_BYTES:
        _refuse(f"is {len(raw):,} bytes: a rule document may be at most {MAX_BYTES:,} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        _refuse(f"is not UTF-8 text (byte 0x{raw[error.start]:02x} at offset {error.start})")
    try:
        if media_type == SourceType.JSON:
            document = json.loads(text, parse_constant=_no_constant)
        else:
            document = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except RecursionError:
        _refuse(f"is nested too deeply (at most {MAX_NESTING} levels)")
    except ValueError as error:
        _refuse(f"is not valid JSON: {error}")
    except yaml.YAMLError as error:
        _refuse(f"is not valid YAML: {' '.join(str(error).split())}")
    _check_shape(document)
    return document


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number")


def _check_shape(document) -> None:
    """Bounded size and depth, string keys, finite numbers: checked without recursion."""
    stack = [(document, DOCUMENT, 1)]
    values = 0
    while stack:
        value, path, depth = stack.pop()
        values += 1
        if values > MAX_VALUES:
            _refuse(f"has more than {MAX_VALUES:,} values: too large for a rule document")
        if depth > MAX_NESTING:
            _refuse(f"is nested too deeply (at most {MAX_NESTING} levels)", path)
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    _refuse(f"has a key that is not a string ({key!r})", path)
                if (problem := text_problem(key)) is not None:
                    _refuse(f"has a key that {problem}", path)
                stack.append((item, f"{path}.{key}", depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value))
        elif isinstance(value, str) and (problem := text_problem(value)) is not None:
            _refuse(problem, path)
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10 ** MAX_DIGITS:
            _refuse(f"is a number written with more than {MAX_DIGITS} digits", path)
        elif isinstance(value, float) and not math.isfinite(value):
            _refuse("must be a finite number", path)
        elif not isinstance(value, (str, int, float, bool, type(None))):
            _refuse(f"must be a string, number, true/false, list or mapping (not {type(value).__name__}); "
                    "quote dates and times", path)


def validate_document(document) -> list[dict]:
    """Every problem of a parsed document as ``{path, message}``; [] when it is valid."""
    if not isinstance(document, dict):
        return [{"path": DOCUMENT, "message": "must be a mapping with schema, program, timezone, currency, "
                                              "catalog and tiers"}]
    engine.check_patterns(_patterns(document))  # in one child process, before the checks ask one by one
    errors = _schema_errors(document)
    errors += _reference_errors(document)
    unique, seen = [], set()
    for error in errors:
        key = (error["path"], error["message"])
        if key not in seen:
            seen.add(key)
            unique.append(error)
    if len(unique) > MAX_ERRORS:
        unique = unique[:MAX_ERRORS] + [{"path": DOCUMENT,
                                         "message": f"{len(unique) - MAX_ERRORS} more problems not listed"}]
    return unique


def load_document(data: bytes | str, media_type: SourceType = SourceType.YAML) -> dict:
    """Parse and validate; the document, or RuleDocumentInvalid listing every problem.

    A valid document is remembered by its text, so the same programme loaded
    again (a re-upload, every process's bootstrap) is not parsed again.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    key = (hashlib.sha256(raw).digest(), str(media_type))
    if key in _loaded:
        return copy.deepcopy(_loaded[key])
    document = parse_document(raw, media_type)
    errors = validate_document(document)
    if errors:
        raise refusal(errors)
    if len(_loaded) >= 16:
        _loaded.clear()
    _loaded[key] = copy.deepcopy(document)
    return document


_loaded: dict[tuple[bytes, str], dict] = {}


def refusal(errors: list[dict]) -> RuleDocumentInvalid:
    """The refusal of a document with these problems: ``pattern_too_complex`` when a pattern is among them."""
    if any(engine.is_too_complex(error["message"]) for error in errors):
        return PatternTooComplex(errors)
    return RuleDocumentInvalid(errors)


def _patterns(document) -> list[str]:
    """Every ``matches`` pattern of a document (wherever it stands; the checks say which are misplaced)."""
    found, stack = [], [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if isinstance(value.get("matches"), str) and len(value["matches"]) <= conditions.MAX_PATTERN:
                found.append(value["matches"])
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


def _path(parts) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or DOCUMENT


def _schema_errors(document: dict) -> list[dict]:
    errors = []
    for error in sorted(_VALIDATOR.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]):
        path = _path(error.absolute_path)
        kind, expected = error.validator, error.validator_value
        if "propertyNames" in error.schema_path:
            errors.append({"path": _path([*error.absolute_path, error.instance]),
                           "message": f"is not a valid name: {_PATTERN_MESSAGES.get(expected, 'invalid')}"})
        elif kind == "required":
            errors += [{"path": _path([*error.absolute_path, name]), "message": "is required"}
                       for name in expected if name not in error.instance]
        elif kind == "additionalProperties":
            allowed = list(error.schema.get("properties", {}))
            errors += [{"path": _path([*error.absolute_path, name]),
                        "message": f"unknown field (fields here: {', '.join(allowed)})"}
                       for name in error.instance if name not in allowed]
        else:
            errors.append({"path": path, "message": _message(kind, expected, error.instance)})
    return errors


def _message(kind: str, expected, instance) -> str:
    if kind == "enum":
        return f"must be one of {', '.join(map(str, expected))}"
    if kind == "const":
        return f"must be {json.dumps(expected)}"
    if kind == "type":
        names = [expected] if isinstance(expected, str) else expected
        return "must be " + " or ".join(_TYPE_NAMES[name] for name in names)
    if kind == "pattern":
        return _PATTERN_MESSAGES.get(expected, f"must match {expected}")
    bounds = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "greater than",
              "exclusiveMaximum": "less than"}
    if kind in bounds:
        return f"must be {bounds[kind]} {expected}"
    if kind in ("minItems", "minProperties", "minLength"):
        return "must not be empty" if expected == 1 else f"must have at least {expected} entries"
    if kind in ("maxItems", "maxProperties"):
        return f"must have at most {expected} entries"
    if kind == "maxLength":
        return f"must be at most {expected} characters"
    return f"is not valid ({kind})"


def _items(document: dict, section: str):
    """(index, rule) for every rule of a section that is a mapping."""
    rules = document.get(section)
    if isinstance(rules, list):
        for index, rule in enumerate(rules):
            if isinstance(rule, dict):
                yield index, rule


def _reference_errors(document: dict) -> list[dict]:
    """Cross-reference checks, one per part of the document, each on whatever of it is well formed."""
    tier_ids = _tier_ids(document)
    catalog = document.get("catalog") if isinstance(document.get("catalog"), dict) else {}
    errors = _timezone_errors(document) + _tier_errors(document, tier_ids) + _rule_id_errors(document)
    errors += _price_errors(catalog)
    for section in SECTIONS:
        scope = conditions.Scope(tiers=tier_ids, events=section == "earning")
        for index, rule in _items(document, section):
            at = f"{section}[{index}]"
            if "when" in rule:
                errors += conditions.check(rule["when"], f"{at}.when", scope)
            errors += _catalog_errors(rule, at, catalog)
    for index, rule in _items(document, "earning"):
        errors += _earning_errors(rule, f"earning[{index}]", tier_ids)
    for index, rule in _items(document, "benefits"):
        errors += _quota_errors(rule, f"benefits[{index}]")
    return errors


def _error(path: str, message: str) -> dict:
    return {"path": path, "message": message}


def _timezone_errors(document: dict) -> list[dict]:
    timezone = document.get("timezone")
    if isinstance(timezone, str) and timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return [_error("timezone", f"unknown time zone {timezone!r} (an IANA name such as Asia/Shanghai)")]
    return []


def _price_errors(catalog: dict) -> list[dict]:
    """A settlement price is money: at most two decimal places."""
    errors = []
    for benefit, entry in catalog.items():
        price = entry.get("settlement_price") if isinstance(entry, dict) else None
        if isinstance(price, (int, float)) and not isinstance(price, bool) and math.isfinite(price):
            if decimal_places(price) > 2:
                errors.append(_error(f"catalog.{benefit}.settlement_price", "must have at most two decimal places"))
    return errors


def decimal_places(number) -> int:
    """The decimal places of a document's number as it was written (0.1 has one)."""
    exponent = Decimal(repr(number) if isinstance(number, float) else number).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _tier_ids(document: dict) -> tuple[str, ...]:
    """The tiers' ids in document order, each once."""
    ids = [tier.get("id") for _, tier in _items(document, "tiers") if isinstance(tier.get("id"), str)]
    return tuple(dict.fromkeys(ids))


def _tier_errors(document: dict, tier_ids: tuple[str, ...]) -> list[dict]:
    """Duplicate tier ids; a `when` on every tier but the last, and none on the last; the tiers' conditions."""
    errors, seen = [], set()
    last = len(document["tiers"]) - 1 if isinstance(document.get("tiers"), list) else -1
    scope = conditions.Scope(tiers=tier_ids, tier_field=False)
    for index, tier in _items(document, "tiers"):
        tier_id = tier.get("id")
        if isinstance(tier_id, str):
            if tier_id in seen:
                errors.append(_error(f"tiers[{index}].id", f"duplicate tier id {tier_id}"))
            seen.add(tier_id)
        if index == last and "when" in tier:
            errors.append(_error(f"tiers[{index}].when", "the last tier must have no when: it is the tier every "
                                                         "customer falls back to"))
        elif index != last and "when" not in tier:
            errors.append(_error(f"tiers[{index}].when", "is required on every tier but the last (the tiers "
                                                         "after it could never apply)"))
        elif "when" in tier:
            errors += conditions.check(tier["when"], f"tiers[{index}].when", scope)
    return errors


def _rule_id_errors(document: dict) -> list[dict]:
    """A rule id is unique across earning, benefits, rewards and signals."""
    errors, first_seen = [], {}
    for section in SECTIONS:
        for index, rule in _items(document, section):
            rule_id, at = rule.get("id"), f"{section}[{index}].id"
            if not isinstance(rule_id, str):
                continue
            if rule_id in first_seen:
                errors.append(_error(at, f"duplicate rule id {rule_id} (also at {first_seen[rule_id]})"))
            else:
                first_seen[rule_id] = at
    return errors


def _catalog_errors(rule: dict, at: str, catalog: dict) -> list[dict]:
    benefit = rule.get("benefit")
    if isinstance(benefit, str) and catalog and benefit not in catalog:
        return [_error(f"{at}.benefit", f"unknown benefit {benefit} (not in catalog)")]
    return []


def _earning_errors(rule: dict, at: str, tier_ids: tuple[str, ...]) -> list[dict]:
    """Exactly one of rate or points; multipliers only for tiers the document has."""
    errors = []
    if ("rate" in rule) == ("points" in rule):
        errors.append(_error(at, "needs exactly one of rate (points per amount) or points (a fixed award)"))
    multiplier = rule.get("multiplier")
    if isinstance(multiplier, dict):
        errors += [_error(f"{at}.multiplier.{tier_id}", f"unknown tier {tier_id} (tiers: {', '.join(tier_ids)})")
                   for tier_id in multiplier if tier_id not in tier_ids]
    return errors


def _quota_errors(rule: dict, at: str) -> list[dict]:
    """A quota is either ``{unlimited: true}`` or ``{count, per}``."""
    quota = rule.get("quota")
    if not isinstance(quota, dict):
        return []
    if quota.get("unlimited") is True:
        if "count" in quota or "per" in quota:
            return [_error(f"{at}.quota", "is either {unlimited: true} or {count, per}, not both")]
        return []
    return [_error(f"{at}.quota.{name}", "is required (or make the quota {unlimited: true})")
            for name in ("count", "per") if name not in quota]


def _rules_by_id(document: dict) -> dict[tuple[str, str], tuple[int, dict]]:
    found = {}
    for section in ("tiers", *SECTIONS):
        for index, rule in _items(document, section):
            found[(section, rule.get("id"))] = (index, rule)
    return found


def diff_documents(old: dict, new: dict) -> dict:
    """What changed between two documents, by rule id: added, removed, changed (with the fields)."""
    before, after = _rules_by_id(old), _rules_by_id(new)
    added = [rule_id for section, rule_id in after if (section, rule_id) not in before]
    removed = [rule_id for section, rule_id in before if (section, rule_id) not in after]
    changed = []
    for key, (index, rule) in after.items():
        if key not in before:
            continue
        old_index, old_rule = before[key]
        fields = sorted(name for name in set(rule) | set(old_rule) if rule.get(name) != old_rule.get(name))
        if key[0] == "tiers" and index != old_index:
            fields.append("position")
        if fields:
            changed.append({"rule": key[1], "section": key[0], "fields": fields})
    settings = sorted(name for name in set(old) | set(new)
                      if name not in ("tiers", *SECTIONS) and old.get(name) != new.get(name))
    return {"added": added, "removed": removed, "changed": changed, "settings": settings}


def line_of(source: str, path: str) -> int | None:
    """The line (from 1) of the value a validation path names in a YAML or JSON source, or of the nearest
    value above it that the source has; None when the source does not parse."""
    try:
        node = yaml.compose(source, Loader=_Loader)
    except (yaml.YAMLError, ValueError):
        return None
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path.removeprefix(DOCUMENT)):
        if isinstance(node, yaml.MappingNode):
            inner = next((value for key, value in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and part.startswith("["):
            index = int(part[1:-1])
            inner = node.value[index] if index < len(node.value) else None
        else:
            inner = None
        if inner is None:
            break
        node = inner
    return node.start_mark.line + 1 if node is not None else None
