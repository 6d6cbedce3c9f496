"""The command line: bootstrap and export rules, keys, and clean failures with documented exit codes.

Most tests run the installed `benefits` console script in a process of its own, from a directory that is
not the repository's, as an operator would.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import DEFAULT_RULES, make_key
from servers import environment

BENEFITS = str(Path(sys.executable).parent / "benefits")


def benefits(url: str | None, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = environment(url or "")
    if url is None:
        del env["BENEFITS_DATABASE_URL"]
    return subprocess.run([BENEFITS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def refused(done: subprocess.CompletedProcess, code: int, words: str) -> None:
    """The command failed with ``code`` and one line on stderr saying ``words``, with no traceback."""
    assert done.returncode == code, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_rules_load_activate_is_refused_once_a_version_is_active(app):
    result = app.test_cli_runner().invoke(args=["rules", "load", str(DEFAULT_RULES), "--activate"])
    assert result.exit_code == 1
    assert "already active" in result.output


def test_rules_load_without_activate_adds_a_draft(app, admin_api):
    result = app.test_cli_runner().invoke(args=["rules", "load", str(DEFAULT_RULES)])
    assert result.exit_code == 0, result.output
    assert "(draft)" in result.output


def test_rules_load_without_a_path_loads_the_shipped_default_programme(app):
    result = app.test_cli_runner().invoke(args=["rules", "load"])
    assert result.exit_code == 0, result.output
    assert app.test_cli_runner().invoke(args=["rules", "export", "2"]).output == DEFAULT_RULES.read_text()


def test_rules_export_prints_the_uploaded_source_byte_for_byte(app):
    result = app.test_cli_runner().invoke(args=["rules", "export", "1"])
    assert result.exit_code == 0
    assert result.output == DEFAULT_RULES.read_text()


def test_revoking_an_unknown_key_is_one_line_and_exit_1(app, database_url, tmp_path):
    refused(benefits(database_url, "keys", "revoke", "9999", cwd=tmp_path), 1, "no API key 9999")


def test_exporting_an_unknown_version_is_one_line_and_exit_1(app, database_url, tmp_path):
    refused(benefits(database_url, "rules", "export", "99", cwd=tmp_path), 1, "no rule version 99")


def test_loading_an_invalid_document_is_one_line_and_exit_1(app, database_url, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: benefits/v1\nprogram: [\n", encoding="utf-8")
    refused(benefits(database_url, "rules", "load", str(bad), cwd=tmp_path), 1, "is not valid YAML")


def test_a_bad_setting_is_one_line_and_exit_2(app, database_url, tmp_path):
    env = environment(database_url) | {"BENEFITS_RULES_REFRESH_SECONDS": "often"}
    done = subprocess.run([BENEFITS, "rules", "active"], cwd=tmp_path, env=env, capture_output=True, text=True)
    refused(done, 2, "BENEFITS_RULES_REFRESH_SECONDS")


def test_a_command_run_where_there_is_no_database_creates_none_and_exits_2(tmp_path):
    for command in (["audit", "verify"], ["keys", "list"], ["rules", "active"], ["points", "expire"]):
        refused(benefits(None, *command, cwd=tmp_path), 2, "db upgrade")
    assert not (tmp_path / "instance").exists() or not any((tmp_path / "instance").iterdir())


def test_a_database_without_the_schema_is_refused_and_stays_empty(postgres_or_sqlite_empty, tmp_path):
    url, tables = postgres_or_sqlite_empty
    refused(benefits(url, "keys", "create", "--role", "admin", "--name", "x", cwd=tmp_path), 2, "no schema")
    assert tables() == []


@pytest.fixture
def postgres_or_sqlite_empty(database_url, tmp_path):
    """A database that exists but holds no table: an empty SQLite file, or an empty PostgreSQL schema."""
    if database_url.startswith("sqlite"):
        path = tmp_path / "empty.db"
        sa.create_engine(f"sqlite:///{path}").connect().close()
        url = f"sqlite:///{path}"
    else:
        schema = f"empty_{tmp_path.name[-20:]}".replace("-", "_").lower()
        admin = sa.create_engine(database_url.split("?")[0])
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = sa.engine.make_url(database_url).update_query_dict(
            {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    engine = sa.create_engine(url)
    yield url, lambda: sa.inspect(engine).get_table_names()
    engine.dispose()
    if not database_url.startswith("sqlite"):
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_help_shows_the_service_commands_only_each_with_its_whole_summary(tmp_path):
    done = benefits(None, "--help", cwd=tmp_path)
    assert done.returncode == 0
    commands = done.stdout.split("Commands:")[1].strip().split("\n\n")[0]
    names = [line.split()[0] for line in commands.splitlines()]
    assert names == ["audit", "consume", "customers", "db", "demo", "events", "keys", "outbox", "points", "redemptions",
                     "reports", "rules", "serve"]
    assert "..." not in commands and "--app" not in done.stdout and "shell" not in names
    assert "Exit codes" in done.stdout
    keys = benefits(None, "keys", "--help", cwd=tmp_path).stdout
    assert "Every key: id, role, name, partner, created, last used, revoked." in keys


def test_keys_list_shows_every_key_and_never_a_key(app, database_url, admin_api, app_api, tmp_path):
    admin_api.get("/admin/v1/audit")  # alice's key is used once
    done = benefits(database_url, "keys", "list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.strip().splitlines()
    assert header.split() == ["id", "role", "name", "partner", "created", "last_used", "revoked"]
    by_name = {row.split()[2]: row.split() for row in rows}
    assert set(by_name) >= {"alice", "app-backend"}
    assert by_name["alice"][5] != "-" and by_name["alice"][6] == "-"
    assert admin_api.key not in done.stdout and app_api.key not in done.stdout


def test_an_import_with_rejected_lines_exits_1(app, database_url, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"id": "x"}\n', encoding="utf-8")
    done = benefits(database_url, "events", "import", str(path), cwd=tmp_path)
    assert done.returncode == 1
    assert "created 0, duplicate 0, rejected 1" in done.stdout


def test_the_tip_exported_is_held_by_verify_until_the_chain_is_rewritten(app, database_url, admin_api, tmp_path):
    tip = tmp_path / "tip.json"
    done = benefits(database_url, "audit", "export-tip", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    tip.write_text(done.stdout, encoding="utf-8")
    saved = json.loads(done.stdout)
    assert saved["seq"] > 0 and len(saved["hash"]) == 64
    make_key(app, "app", "later")  # the chain grows past the saved tip
    held = benefits(database_url, "audit", "verify", "--tip", str(tip), cwd=tmp_path)
    assert held.returncode == 0 and f"tip seq={saved['seq']} held" in held.stdout
    tip.write_text(json.dumps({**saved, "hash": "f" * 64}), encoding="utf-8")  # a chain rewritten since
    broken = benefits(database_url, "audit", "verify", "--tip", str(tip), cwd=tmp_path)
    assert broken.returncode == 3 and "NOT held" in broken.stdout


def test_the_command_line_builds_the_app_without_its_http_api():
    from benefits import create_app

    served = create_app(DATABASE_URL="sqlite://")
    command_line = create_app(DATABASE_URL="sqlite://", http=False)
    assert any(rule.rule.startswith("/api/v1/") for rule in served.url_map.iter_rules())
    assert not any(rule.rule.startswith(("/api/", "/partner/", "/admin/", "/console"))
                   for rule in command_line.url_map.iter_rules())
    assert "benefits" in command_line.extensions
