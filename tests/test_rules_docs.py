"""Every example of docs/rules.md is checked.

Each ```yaml block is preceded by a marker comment:

- ``<!-- document -->``: a complete document; it validates and compiles;
- ``<!-- fragment -->``: sections added to the first complete document of the page;
  the result validates and compiles;
- ``<!-- invalid: PATH: MESSAGE -->``: a fragment the validator refuses with
  exactly that one error.

After ``|``, a document or fragment marker may carry a Python expression over
``program`` (the compiled example) that must be true: the example's claimed
outcome. A block without a marker fails the test: no example goes unchecked.
"""
import re
from pathlib import Path

import pytest

from benefits.rules import compile_program, parse_document, validate_document

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"(?:<!--\s*(?P<marker>.*?)\s*-->\s*\n)?```yaml\n(?P<body>.*?)```", re.S)
EXAMPLES = [(m.group("marker"), m.group("body"), PAGE.count("\n", 0, m.start()) + 1) for m in BLOCK.finditer(PAGE)]
BASE = next(body for marker, body, _ in EXAMPLES if marker and marker.startswith("document"))



def with_base(fragment: str) -> dict:
    return {**parse_document(BASE), **parse_document(fragment)}


def test_the_page_has_examples_of_every_kind():
    kinds = {marker.split()[0].rstrip(":") for marker, _, _ in EXAMPLES if marker}
    assert kinds == {"document", "fragment", "invalid"}


@pytest.mark.parametrize("marker, body, line", EXAMPLES, ids=[f"line {line}" for _, _, line in EXAMPLES])
def test_example(marker, body, line):
    assert marker, f"the yaml block at line {line} has no marker comment"
    kind, _, claim = (part.strip() for part in marker.partition("|"))
    if kind.startswith("invalid:"):
        path, message = kind.removeprefix("invalid:").strip().split(": ", 1)
        assert validate_document(with_base(body)) == [{"path": path, "message": message}]
        return
    assert kind in ("document", "fragment"), f"unknown marker {marker!r} at line {line}"
    document = parse_document(body) if kind == "document" else with_base(body)
    assert validate_document(document) == []
    program = compile_program(document, "docs")
    try:
        if claim:
            assert eval(claim, {}, {"program": program}), claim  # noqa: S307 - our own documentation
    finally:
        program.release()


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def named_rule_files() -> set[str]:
    return {match for doc in DOCS for match in re.findall(r"(?<![\w/])rules/[\w.-]+\.(?:yaml|json)\b", doc.read_text("utf-8"))}


def test_every_rule_file_a_doc_names_exists_and_is_a_valid_document():
    named = named_rule_files()
    assert {"rules/default.yaml", "rules/wealth-at-1m.yaml", "rules/wealth-at-1m.json"} <= named
    for name in sorted(named):
        path = ROOT / name
        assert path.exists(), f"a doc names {name}, which does not exist"
        assert validate_document(parse_document(path.read_bytes(), "json" if name.endswith(".json") else "yaml")) == []


def test_the_json_twin_of_a_yaml_example_is_the_same_document():
    yaml_doc = parse_document((ROOT / "rules" / "wealth-at-1m.yaml").read_bytes())
    assert parse_document((ROOT / "rules" / "wealth-at-1m.json").read_bytes(), "json") == yaml_doc
    assert yaml_doc["tiers"][1]["when"]["any"][0] == {"aum": {"gte": 1000000}}
