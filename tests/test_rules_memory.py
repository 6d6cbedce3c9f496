"""A pattern whose automaton is too large is refused as `pattern_too_complex`, and refusing it costs the
refusing process nothing: the engine compiles patterns only in a short-lived child process.

The engine keeps about 17 MB for every pattern it refuses for size; before this, one document of 200
such patterns grew a worker from 88 MB to 3.5 GB.
"""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benefits.rules import engine

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ("schema: benefits/v1\nprogram: x\ntimezone: Asia/Shanghai\ncurrency: CNY\n"
            "catalog: {spa: {name: Spa}}\ntiers:\n  - {id: mass, name: Mass}\n")


def matching(*patterns: str) -> str:
    """A document with one earning rule a pattern, each matched against the event's category."""
    rules = "".join(f"  - {{id: e{n}, on: transaction, points: 1, when: {{category: {{matches: {json.dumps(p)}}}}}}}\n"
                    for n, p in enumerate(patterns))
    return DOCUMENT + "earning:\n" + rules


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def test_a_too_complex_pattern_is_refused_as_pattern_too_complex_naming_its_path(admin_api):
    response = admin_api.post("/admin/v1/rule-versions", data=matching("(.*a){50}"),
                              content_type="application/yaml")
    assert response.status_code == 422
    body = response.get_json()
    assert body["reason"] == "pattern_too_complex"
    assert body["errors"] == [{"path": "earning[0].when.category.matches", "message": (
        "durable_rules cannot compile this pattern: it needs more automaton states than the engine allows; "
        "simplify it (engine error 503)")}]


def test_a_pattern_the_engine_would_keep_megabytes_for_is_refused_too(admin_api):
    response = admin_api.post("/admin/v1/rule-versions", data=matching("(.*a){5}"),
                              content_type="application/yaml")
    assert response.get_json()["reason"] == "pattern_too_complex"
    assert "MB behind" in response.get_json()["errors"][0]["message"]


def test_a_pattern_the_engine_crashes_on_is_refused_and_the_worker_lives(admin_api):
    crashing = "[一-龥]"  # a class of more than 4,096 characters: the engine overflows and dies
    response = admin_api.post("/admin/v1/rule-versions", data=matching(crashing),
                              content_type="application/yaml")
    assert response.get_json()["reason"] == "pattern_too_complex"
    assert admin_api.get("/admin/v1/rule-versions").status_code == 200


def test_sound_patterns_next_to_refused_ones_are_accepted_on_their_own_merits(admin_api):
    response = admin_api.post("/admin/v1/rule-versions", data=matching(
        "[a-z]+@bank%.com", "(.*a){50}", "fund%d+", "(.*b){40}"), content_type="application/yaml")
    assert [error["path"] for error in response.get_json()["errors"]] == [
        "earning[1].when.category.matches", "earning[3].when.category.matches"]


def test_refusing_documents_leaves_the_worker_as_large_as_it_was(admin_api):
    before = rss_mb()
    for n in range(5):
        response = admin_api.post("/admin/v1/rule-versions", data=matching(f"(.*{'abcde'[n]}){{{30 + n}}}"),
                                  content_type="application/yaml")
        assert response.get_json()["reason"] == "pattern_too_complex"
    assert rss_mb() - before < 3  # each would have kept about 17 MB in the engine


def test_the_verdict_on_a_pattern_is_asked_of_the_engine_once_per_process(monkeypatch):
    asked = []
    real = engine._compile_in_child
    monkeypatch.setattr(engine, "_compile_in_child", lambda patterns, deadline: asked.append(patterns) or real(
        patterns, deadline))
    assert engine.pattern_error("once%d+") is None
    assert engine.pattern_error("once%d+") is None
    assert asked == [["once%d+"]]


MEASURE = """
import json, os, sys
from benefits import create_app
from benefits.migrate import upgrade
from benefits.services import audit, keys, rule_versions
from benefits import db

url = sys.argv[1]
upgrade(url)
app = create_app(DATABASE_URL=url, SECRET_KEY="memory-test")
sessions = app.extensions["benefits"].sessions
db.run(sessions, lambda s: rule_versions.bootstrap(s, rule_versions.DEFAULT_PROGRAMME.read_bytes(), "yaml",
                                                   activate_it=True, now=app.extensions["benefits"].now()))
_, key = db.run(sessions, lambda s: keys.create_key(s, role="admin", name="m", actor=audit.SYSTEM,
                                                    now=app.extensions["benefits"].now()))
client = app.test_client()
DOCUMENT = {document!r}

def status():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

def post(pattern):
    body = DOCUMENT + '  - {{id: e, on: transaction, points: 1, when: {{category: {{matches: "%s"}}}}}}\\n' % pattern
    return client.post("/admin/v1/rule-versions", data=body, content_type="application/yaml",
                       headers={{"Authorization": "Bearer " + key}}).get_json()

assert post("warm%d+")["version"]
rss, peak = status()
reasons = [post("(.*%s){{%d}}" % ("abcdefghij"[n % 10], 20 + n // 10))["reason"] for n in range(200)]
after, after_peak = status()
print(json.dumps({{"before": rss, "peak_before": peak, "after": after, "peak_after": after_peak,
                  "refused": reasons.count("pattern_too_complex")}}))
"""


@pytest.mark.slow
def test_two_hundred_refused_documents_grow_a_worker_neither_at_its_peak_nor_after(database_url, tmp_path):
    script = MEASURE.format(document=DOCUMENT + "earning:\n")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), database_url], cwd=tmp_path,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"200 refused documents: RSS {measured['before']:.1f} -> {measured['after']:.1f} MB, "
          f"peak {measured['peak_before']:.1f} -> {measured['peak_after']:.1f} MB")
    assert measured["refused"] == 200
    assert measured["after"] - measured["before"] < 5
    assert measured["peak_after"] - measured["peak_before"] < 5
