"""Hostile rule documents are refused with a clear error; none crashes or hangs the process.

Each case runs in a child process with a time limit, so a crash or a hang fails
the test instead of taking pytest down with it; the limit detects a hang and is
far above the time any refusal takes.
"""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HANG = 60

HEADER = ("schema: benefits/v1\nprogram: x\ntimezone: Asia/Shanghai\ncurrency: CNY\n"
          "catalog: {spa: {name: Spa}}\ntiers:\n  - {id: mass, name: Mass}\n")


def in_child(script: str, data: bytes | str, tmp_path: Path) -> str:
    """Run ``script`` in a child process with the document in ``DATA`` (bytes); its stdout."""
    path = tmp_path / "document"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    prelude = f"from pathlib import Path\nDATA = Path({str(path)!r}).read_bytes()\n"
    done = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(script)], cwd=ROOT,
                          capture_output=True, text=True, timeout=HANG)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def refusal(data: bytes | str, tmp_path: Path, media_type: str = "yaml") -> list[dict]:
    """The errors with which load_document refuses ``data``."""
    out = in_child(f"""
        import json
        from benefits.errors import RuleDocumentInvalid
        from benefits.rules import load_document
        try:
            load_document(DATA, {media_type!r})
        except RuleDocumentInvalid as error:
            print(json.dumps(error.errors))
        else:
            print(json.dumps("accepted"))
    """, data, tmp_path)
    errors = json.loads(out)
    assert errors != "accepted"
    return errors


TOO_DEEP = [{"path": "document", "message": "is nested too deeply (at most 48 levels)"}]


def too_big(data: bytes | str) -> list[dict]:
    size = len(data.encode() if isinstance(data, str) else data)
    return [{"path": "document", "message": f"is {size:,} bytes: a rule document may be at most 1,048,576 bytes"}]


def nested_signal(depth: int) -> str:
    return HEADER + "signals:\n  - id: s\n    when: " + "{not: " * depth + "{aum: {gt: 1}}" + "}" * depth + "\n"


def test_ten_thousand_levels_of_yaml_lists_are_refused(tmp_path):
    assert refusal("x: " + "[" * 10000 + "]" * 10000, tmp_path) == TOO_DEEP


def test_ten_thousand_levels_of_yaml_mappings_are_refused(tmp_path):
    assert refusal("x: " + "{a: " * 10000 + "1" + "}" * 10000, tmp_path) == TOO_DEEP


def test_ten_thousand_levels_of_json_are_refused(tmp_path):
    assert refusal('{"x": ' + "[" * 10000 + "]" * 10000 + "}", tmp_path, "json") == TOO_DEEP


def test_ten_thousand_nested_conditions_are_refused(tmp_path):
    assert refusal(nested_signal(10000), tmp_path) == TOO_DEEP


def test_forty_levels_of_conditions_pass_parsing_and_are_refused_by_the_validator(tmp_path):
    assert refusal(nested_signal(40), tmp_path) == [
        {"path": "signals[0].when" + ".not" * 16, "message": "nested too deeply (at most 16 levels)"}]


def test_a_list_of_two_hundred_thousand_rules_is_refused(tmp_path):
    data = HEADER + "signals:\n" + "".join(f"  - {{id: s{n}}}\n" for n in range(200000))
    assert refusal(data, tmp_path) == too_big(data)


def test_a_compact_list_of_two_hundred_thousand_values_is_refused(tmp_path):
    assert refusal('{"x": [' + ",".join(["1"] * 200000) + "]}", tmp_path, "json") == [
        {"path": "document", "message": "has more than 50,000 values: too large for a rule document"}]


def test_a_ten_megabyte_document_is_refused_before_parsing(tmp_path):
    data = HEADER + "# " + "x" * 10_000_000 + "\n"
    assert refusal(data, tmp_path) == too_big(data)


def test_bytes_that_are_not_utf8_are_refused(tmp_path):
    data = HEADER.encode() + b"program: \xff\xfe\n"
    assert refusal(data, tmp_path) == [
        {"path": "document", "message": f"is not UTF-8 text (byte 0xff at offset {len(HEADER) + 9})"}]


def test_a_yaml_alias_bomb_is_refused(tmp_path):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for n in range(8):
        name, previous = chr(98 + n), chr(97 + n)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    errors = refusal("\n".join(lines) + "\n", tmp_path)
    assert errors[0]["path"] == "document"
    assert errors[0]["message"].startswith("is not valid YAML: aliases (*name) are not allowed")


def test_a_python_object_tag_is_refused(tmp_path):
    errors = refusal('x: !!python/object/apply:os.system ["echo owned"]\n', tmp_path)
    assert errors[0]["path"] == "document"
    assert errors[0]["message"].startswith("is not valid YAML: could not determine a constructor for the tag")


def test_json_nan_is_refused(tmp_path):
    assert refusal('{"x": NaN}', tmp_path, "json") == [
        {"path": "document", "message": "is not valid JSON: NaN is not a number"}]


def test_a_date_where_a_string_is_meant_is_refused_with_a_hint(tmp_path):
    assert refusal(HEADER + "program: 2026-11-23\n", tmp_path) == [
        {"path": "document.program",
         "message": "must be a string, number, true/false, list or mapping (not date); quote dates and times"}]


@pytest.mark.parametrize("pattern", ["(a+)+b", "(x+x+)+y", "(a|aa)+c", "(%w+%s?)+!"])
def test_a_catastrophic_backtracking_pattern_evaluates_in_linear_time(pattern, tmp_path):
    """The engine compiles patterns to a DFA: no backtracking, so a hostile value cannot hang an evaluation."""
    data = HEADER + f'earning:\n  - {{id: hostile, on: transaction, when: {{category: {{matches: "{pattern}"}}}}, ' \
                    f'points: 1}}\n'
    out = in_child("""
        from benefits.rules import compile_program, load_document
        program = compile_program(load_document(DATA))
        for length in (10, 1000, 50000):
            awards = program.earn({}, {"type": "transaction", "category": "a" * length + "x y z"})
            assert awards == [], awards
        print("ok")
    """, data, tmp_path)
    assert out.strip() == "ok"
