"""Schemathesis against a real gunicorn on PostgreSQL: every phase, stateful included, with every check
(`--checks all`), 50 examples per operation, once with each of the three keys on the operations of its prefix.

It must find nothing but the documented refusals: a 422 for a rule the OpenAPI document cannot express
(the table "Refusals the OpenAPI document cannot express" of docs/api.md, read by this test), given to data
that is valid by the document's schema.
"""
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from conftest import POSTGRES
from servers import Client, served

ROOT = Path(__file__).resolve().parent.parent
ST = str(Path(sys.executable).parent / "st")
PREFIXES = {"app": "/api/v1/", "partner": "/partner/v1/", "admin": "/admin/v1/"}


def documented_refusals() -> list[str]:
    """The message fragments of the table of docs/api.md, one a row, each in backticks."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    table = text.split("## Refusals the OpenAPI document cannot express", 1)[1].split("\n## ", 1)[0]
    fragments = [match.group(1) for row in table.splitlines() if row.startswith("| `")
                 for match in [re.match(r"\| `([^`]+)`", row)] if match]
    assert len(fragments) >= 5, "the table of documented refusals is missing"
    return fragments


def findings(report: Path) -> list[tuple[str, str, dict | None]]:
    """(operation, check code, answer body) for every failure of a JUnit report of `st run`."""
    found = []
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        for failure in case:
            text = failure.text or ""
            if failure.tag == "error":  # the run could not test the operation: a finding too
                found.append((case.get("name"), "error", {"message": text.strip().splitlines()[:3]}))
                continue
            for number, chunk in enumerate(re.split(r"\n\d+\. Test Case ID: \S+\n", "\n" + text)[1:] or [text]):
                codes = re.findall(r"^- (ST\d+|[A-Z][\w ]+)", chunk, re.MULTILINE) or [failure.get("message", "?")]
                bodies = re.findall(r"`(\{.*?\})`", chunk, re.DOTALL)
                body = json.loads(bodies[0]) if bodies else None
                found += [(case.get("name"), code, body) for code in codes]
    return found


def is_documented(code: str, body: dict | None, fragments: list[str]) -> bool:
    """A schema-valid request refused with a 422 for a rule the document cannot state, and only that."""
    if code != "ST202" or not body or body.get("code") != 422:
        return False
    if body.get("reason") in ("invalid_rule_document", "pattern_too_complex", "occurred_in_future"):
        return True  # a rule document is validated against GET /admin/v1/rule-schema; an event's date against now
    messages = [error["message"] for error in body.get("errors", [])] or [body.get("message", "")]
    return all(any(fragment in message for fragment in fragments) for message in messages)


@pytest.mark.slow
def test_schemathesis_with_every_check_finds_nothing_but_documented_refusals(tmp_path):
    fragments = documented_refusals()
    with served("postgresql" if POSTGRES else "sqlite", tmp_path) as run:
        admin = Client(run.server.address, run.keys["admin"])
        status, _ = admin.request("POST", "/admin/v1/partners", {"id": "skyport", "name": "SkyPort", "kind": "lounge",
                                                                 "benefits": ["airport_lounge", "hotel_night"]})
        assert status == 201
        status, partner = admin.request("POST", "/admin/v1/partners/skyport/keys", {})
        keys = {**run.keys, "partner": partner["key"]}
        app = Client(run.server.address, keys["app"])
        for n in range(3):
            assert app.request("PUT", f"/api/v1/customers/c{n}", {"name": "张三", "aum": 8_000_000})[0] == 201
        undocumented = {}
        for role, prefix in PREFIXES.items():
            report = tmp_path / f"{role}.xml"
            done = subprocess.run(
                [ST, "run", f"http://{run.server.address[0]}:{run.server.port}/openapi.json", "--checks", "all",
                 "--max-examples", "50", "--seed", "20261201", "--workers", "1", "--no-color",
                 "-H", f"Authorization: Bearer {keys[role]}", "--include-path-regex", f"^{prefix}",
                 "--report", "junit", "--report-junit-path", str(report)],
                cwd=tmp_path, capture_output=True, text=True, timeout=900)
            assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
            undocumented[role] = [(operation, code, body) for operation, code, body in findings(report)
                                  if not is_documented(code, body, fragments)]
            print(f"schemathesis ({role}): exit {done.returncode}; {done.stdout.strip().splitlines()[-1]}")
    assert undocumented == {role: [] for role in PREFIXES}
