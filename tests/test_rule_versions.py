"""Rule versions: drafts, validation, reading and comparing, four eyes, activation, rollback, audit, CLI."""
import json
import threading

import pytest
import sqlalchemy as sa
import yaml

from benefits import create_app
from benefits.rules import load_document
from conftest import DEFAULT_RULES, sessions
from factories import customer

YAML = {"Content-Type": "application/yaml"}
DEFAULT = DEFAULT_RULES.read_text()
WEALTH_AT_1M = DEFAULT.replace("- {aum: {gte: 500000}}", "- {aum: {gte: 1000000}}")

INVALID = """\
schema: benefits/v1
program: vip
timezone: Asia/Shanghai
currency: CNY
catalog:
  airport_lounge: {name: Lounge, category: travel}
tiers:
  - {id: wealth, name: Wealth, when: {aum: {gte: 500000}}}
  - {id: mass, name: Mass, when: {aum: {gte: 0}}}
earning:
  - id: spend
    on: transaction
    when: {channel: {matches: "[a-"}}
    rate: {points: 1, per_amount: 100}
    multiplier: {platinum: 2}
  - id: spend
    on: transaction
    points: 5
    cap: {points: 10, per: fortnight}
benefits:
  - id: hotel
    benefit: hotel_night
    when: {aum: {between: 1}}
    quota: {count: 1, per: year}
  - id: lounge
    benefit: airport_lounge
    when: {nickname: {eq: x}}
    quota: {count: 1, per: year}
    colour: blue
"""


def upload(api, text: str, headers=YAML):
    return api.post("/admin/v1/rule-versions", data=text.encode(), headers=headers)


def draft(api, text: str = WEALTH_AT_1M) -> int:
    response = upload(api, text)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["version"]


def approved(author, approver, text: str = WEALTH_AT_1M) -> int:
    version = draft(author, text)
    response = approver.post(f"/admin/v1/rule-versions/{version}/approve", json={})
    assert response.status_code == 200, response.get_json()
    return version


def activate(api, version: int, expect: int = 200) -> dict:
    response = api.post(f"/admin/v1/rule-versions/{version}/activate", json={})
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def status(api, version: int) -> str:
    return api.get(f"/admin/v1/rule-versions/{version}").get_json()["status"]


# --- drafts and validation ---------------------------------------------------------------------

def test_a_yaml_document_becomes_a_draft_by_its_author(admin_api):
    response = upload(admin_api, WEALTH_AT_1M)
    assert response.status_code == 201
    assert response.get_json() == {"version": 2, "status": "draft", "author": "alice"}


def test_a_json_document_becomes_a_draft(admin_api):
    document = load_document(WEALTH_AT_1M, "yaml")
    response = admin_api.post("/admin/v1/rule-versions", json=document)
    assert response.status_code == 201, response.get_json()
    version = admin_api.get(f"/admin/v1/rule-versions/{response.get_json()['version']}").get_json()
    assert version["source_type"] == "json"
    assert version["document"]["tiers"][1]["when"]["any"][0] == {"aum": {"gte": 1000000}}


def test_an_invalid_document_is_refused_whole_with_every_error_by_path(admin_api):
    response = upload(admin_api, INVALID)
    assert response.status_code == 422
    body = response.get_json()
    assert body["reason"] == "invalid_rule_document"
    paths = {error["path"] for error in body["errors"]}
    assert paths >= {
        "earning[1].cap.per",                 # not a period
        "tiers[1].when",                      # the last tier has a `when`
        "earning[0].multiplier.platinum",     # a tier `tiers` lacks
        "earning[1].id",                      # a duplicate rule id
        "earning[0].when.channel.matches",    # a pattern the engine cannot compile
        "benefits[0].when.aum.between",       # an unknown operator
        "benefits[0].benefit",                # a benefit missing from the catalog
        "benefits[1].when.nickname",          # an unknown field
        "benefits[1].colour",                 # an unknown key
    }
    assert all(error["message"] for error in body["errors"])
    assert [item["version"] for item in admin_api.get("/admin/v1/rule-versions").get_json()["items"]] == [1]


@pytest.mark.parametrize("text, headers, path", [
    ("tiers: [unclosed", YAML, "document"),
    ('{"schema": ', {"Content-Type": "application/json"}, "document"),
    ("- just\n- a list\n", YAML, "document"),
    ("schema: benefits/v1", {"Content-Type": "text/plain"}, "headers.Content-Type"),
])
def test_a_body_that_is_not_a_rule_document_is_422(admin_api, text, headers, path):
    response = upload(admin_api, text, headers)
    assert response.status_code == 422, response.get_json()
    assert path in {error["path"] for error in response.get_json()["errors"]}


# --- reading -----------------------------------------------------------------------------------

def test_versions_are_listed_newest_first_in_pages(admin_api):
    second, third = draft(admin_api), draft(admin_api)
    first_page = admin_api.get("/admin/v1/rule-versions?limit=2").get_json()
    assert [item["version"] for item in first_page["items"]] == [third, second]
    assert "document" not in first_page["items"][0]
    rest = admin_api.get(f"/admin/v1/rule-versions?limit=2&cursor={first_page['next_cursor']}").get_json()
    assert [item["version"] for item in rest["items"]] == [1]
    assert rest["next_cursor"] is None


def test_a_version_shows_its_document_and_metadata(admin_api, second_admin_api):
    version = approved(admin_api, second_admin_api)
    body = admin_api.get(f"/admin/v1/rule-versions/{version}").get_json()
    assert body["version"] == version
    assert (body["status"], body["author"], body["approver"]) == ("approved", "alice", "bob")
    assert body["created_at"] and body["approved_at"] and body["activated_at"] is None
    assert body["document"]["program"] == "vip"
    assert body["source_type"] == "yaml"


def test_the_active_version_is_served(admin_api):
    body = admin_api.get("/admin/v1/rule-versions/active").get_json()
    assert (body["version"], body["status"], body["author"]) == (1, "active", "system")
    assert body["source"] == DEFAULT


def test_an_unknown_version_is_404(admin_api):
    for path in ("/admin/v1/rule-versions/99", "/admin/v1/rule-versions/1/diff/99"):
        response = admin_api.get(path)
        assert response.status_code == 404
        assert response.get_json()["reason"] == "not_found"
    for step in ("approve", "activate"):
        assert admin_api.post(f"/admin/v1/rule-versions/99/{step}", json={}).status_code == 404


def test_uploaded_yaml_comes_back_byte_for_byte_with_comments(app, admin_api):
    text = ("# 私行客户的新规则 — a comment in Chinese and English\r\n"
            + DEFAULT.replace("program: vip", "program: vip     # trailing spaces and a comment   ")
            + "\n\n# a closing comment, after two blank lines\n")
    version = draft(admin_api, text)
    body = admin_api.get(f"/admin/v1/rule-versions/{version}").get_json()
    assert body["source"].encode() == text.encode()
    result = app.test_cli_runner().invoke(args=["rules", "export", str(version)])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == text.encode()


def test_the_diff_names_rules_added_removed_and_changed_with_their_fields(admin_api):
    changed = (WEALTH_AT_1M
               .replace("quota: {count: 4, per: year}            # a business trip a quarter",
                        "quota: {count: 6, per: year}")
               .replace("  - id: quiz-passed", "  - id: quiz-aced")
               .replace("currency: CNY", "currency: HKD"))
    version = draft(admin_api, changed)
    diff = admin_api.get(f"/admin/v1/rule-versions/1/diff/{version}").get_json()
    assert diff["added"] == ["quiz-aced"]
    assert diff["removed"] == ["quiz-passed"]
    assert {(item["rule"], tuple(item["fields"])) for item in diff["changed"]} == {
        ("wealth", ("when",)), ("lounge-wealth", ("quota",))}
    assert "currency" in diff["settings"]
    back = admin_api.get(f"/admin/v1/rule-versions/{version}/diff/1").get_json()
    assert (back["added"], back["removed"]) == (["quiz-passed"], ["quiz-aced"])


def test_the_rule_language_json_schema_is_served(admin_api):
    schema = admin_api.get("/admin/v1/rule-schema").get_json()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"tiers", "earning", "benefits", "rewards", "signals"} <= set(schema["properties"])


# --- four eyes, activation, rollback -----------------------------------------------------------

def test_the_author_cannot_approve_their_own_version(admin_api):
    version = draft(admin_api)
    response = admin_api.post(f"/admin/v1/rule-versions/{version}/approve", json={})
    assert response.status_code == 403
    assert response.get_json()["reason"] == "four_eyes"
    assert status(admin_api, version) == "draft"


def test_another_admin_approves_once(admin_api, second_admin_api):
    version = approved(admin_api, second_admin_api)
    assert status(admin_api, version) == "approved"
    again = second_admin_api.post(f"/admin/v1/rule-versions/{version}/approve", json={})
    assert again.status_code == 409


def test_activating_an_unapproved_version_is_409_not_approved(admin_api, second_admin_api):
    version = draft(admin_api)
    for api in (admin_api, second_admin_api):
        response = api.post(f"/admin/v1/rule-versions/{version}/activate", json={})
        assert response.status_code == 409
        assert response.get_json()["reason"] == "not_approved"
    assert status(admin_api, version) == "draft"
    assert admin_api.get("/admin/v1/rule-versions/active").get_json()["version"] == 1


def test_activation_retires_the_previous_version_and_customers_follow(admin_api, second_admin_api, app_api, clock):
    customer(app_api, "c1", aum=800000)
    assert app_api.get("/api/v1/customers/c1").get_json()["tier"] == "wealth"
    version = approved(admin_api, second_admin_api)
    assert activate(admin_api, version) == {"version": version, "status": "active"}
    assert (status(admin_api, 1), status(admin_api, version)) == ("retired", "active")
    assert admin_api.get("/admin/v1/rule-versions/active").get_json()["version"] == version
    assert admin_api.get(f"/admin/v1/rule-versions/{version}").get_json()["activated_at"]
    assert app_api.get("/api/v1/customers/c1").get_json()["tier"] == "wealth"  # below it since today: grace
    clock.advance(days=98)
    customer(app_api, "c1", aum=800000, as_of="2027-03-01")  # 98 days later: beyond the 90 days of grace
    assert app_api.get("/api/v1/customers/c1").get_json()["tier"] == "mass"


def test_activating_an_older_approved_version_is_the_rollback(admin_api, second_admin_api, app_api):
    customer(app_api, "c1", aum=800000)
    version = approved(admin_api, second_admin_api)
    activate(admin_api, version)
    assert customer(app_api, "c1", aum=5000000)["tier"] == "wealth"
    assert customer(app_api, "c2", aum=800000)["tier"] == "mass"
    activate(second_admin_api, 1)
    assert (status(admin_api, 1), status(admin_api, version)) == ("active", "retired")
    assert admin_api.get("/readyz").get_json()["rule_version"] == 1
    assert app_api.get("/api/v1/customers/c2").get_json()["tier"] == "wealth"
    activate(admin_api, version)  # and forward again
    assert (status(admin_api, 1), status(admin_api, version)) == ("retired", "active")


def test_activating_the_active_version_changes_nothing(admin_api):
    assert activate(admin_api, 1) == {"version": 1, "status": "active"}
    rows = admin_api.get("/admin/v1/audit?action=rule_version.activated").get_json()["items"]
    assert len(rows) == 1  # the bootstrap's


def test_every_step_is_audited_with_its_actor(admin_api, second_admin_api):
    version = approved(admin_api, second_admin_api)
    activate(admin_api, version)
    activate(second_admin_api, 1)
    rows = admin_api.get(f"/admin/v1/audit?action=rule_version.&subject={version}").get_json()["items"]
    assert [(row["action"], row["actor_name"], row["actor_type"]) for row in reversed(rows)] == [
        ("rule_version.created", "alice", "key"),
        ("rule_version.approved", "bob", "key"),
        ("rule_version.activated", "alice", "key")]
    assert rows[0]["before"] == {"active": 1} and rows[0]["after"] == {"active": version}
    rollback = admin_api.get("/admin/v1/audit?action=rule_version.activated&subject=1").get_json()["items"][0]
    assert (rollback["actor_name"], rollback["before"], rollback["after"]) == ("bob", {"active": version},
                                                                              {"active": 1})
    assert admin_api.get("/admin/v1/audit/verify").get_json()["ok"] is True


def test_two_racing_activations_leave_exactly_one_active_version(app, admin_api, second_admin_api):
    for _ in range(4):
        contenders = [approved(admin_api, second_admin_api) for _ in range(2)]
        barrier, answers = threading.Barrier(2), {}

        def race(version):
            client = app.test_client()  # its own request, its own session
            barrier.wait()
            answers[version] = client.post(f"/admin/v1/rule-versions/{version}/activate", json={},
                                           headers={"Authorization": f"Bearer {admin_api.key}"}).status_code

        threads = [threading.Thread(target=race, args=(version,)) for version in contenders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert answers == {version: 200 for version in contenders}
        with sessions(app)() as session:
            active = session.execute(sa.text("SELECT id FROM rule_versions WHERE status = 'active'")).scalars().all()
        assert len(active) == 1 and active[0] in contenders
        loser = next(version for version in contenders if version != active[0])
        assert status(admin_api, loser) == "retired"


# --- the command line --------------------------------------------------------------------------

def test_rules_load_activate_is_refused_while_a_version_is_active(app, admin_api):
    result = app.test_cli_runner().invoke(args=["rules", "load", str(DEFAULT_RULES), "--activate"])
    assert result.exit_code != 0
    assert "already active" in str(result.exception) + result.output
    assert [item["version"] for item in admin_api.get("/admin/v1/rule-versions").get_json()["items"]] == [1]


def test_the_bootstrap_is_audited_as_system(admin_api):
    rows = admin_api.get("/admin/v1/audit?action=rule_version.&subject=1").get_json()["items"]
    assert [(row["action"], row["actor_type"], row["actor_name"]) for row in reversed(rows)] == [
        ("rule_version.created", "system", "system"),
        ("rule_version.approved", "system", "system"),
        ("rule_version.activated", "system", "system")]


def test_rules_load_bootstraps_an_empty_database_as_system(database_url, clock, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(WEALTH_AT_1M)
    app = create_app(DATABASE_URL=database_url, RULES_REFRESH_SECONDS=0, CLOCK=clock, TESTING=True)
    try:
        runner = app.test_cli_runner()
        result = runner.invoke(args=["rules", "load", str(path), "--activate"])
        assert result.exit_code == 0, result.output
        assert "rule version 1 loaded (active)" in result.output
        with sessions(app)() as session:
            rows = session.execute(sa.text(
                "SELECT action, actor_type, actor_name FROM audit_log ORDER BY seq")).all()
        assert [tuple(row) for row in rows] == [("rule_version.created", "system", "system"),
                                                ("rule_version.approved", "system", "system"),
                                                ("rule_version.activated", "system", "system")]
        again = runner.invoke(args=["rules", "load", str(path), "--activate"])
        assert again.exit_code != 0
        draft_only = runner.invoke(args=["rules", "load", str(path)])
        assert draft_only.exit_code == 0 and "rule version 2 loaded (draft)" in draft_only.output
        exported = runner.invoke(args=["rules", "export", "1"])
        assert exported.exit_code == 0 and exported.output == WEALTH_AT_1M
    finally:
        app.extensions["benefits"].engine.dispose()


def test_rules_export_prints_the_document_and_refuses_an_unknown_version(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["rules", "export", "1"])
    assert result.exit_code == 0 and result.output == DEFAULT
    assert yaml.safe_load(result.output)["program"] == "vip"
    assert runner.invoke(args=["rules", "export", "42"]).exit_code != 0


def test_a_json_upload_exports_as_uploaded(app, admin_api):
    text = json.dumps(load_document(DEFAULT, "yaml"), indent=1, ensure_ascii=False)
    response = admin_api.post("/admin/v1/rule-versions", data=text.encode(),
                              headers={"Content-Type": "application/json"})
    version = response.get_json()["version"]
    result = app.test_cli_runner().invoke(args=["rules", "export", str(version)])
    assert result.output == text
