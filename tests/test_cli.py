"""The command line: bootstrap rules, export them."""
from conftest import DEFAULT_RULES


def test_rules_load_activate_is_refused_once_a_version_is_active(app):
    result = app.test_cli_runner().invoke(args=["rules", "load", str(DEFAULT_RULES), "--activate"])
    assert result.exit_code != 0
    assert "already active" in str(result.exception) + result.output


def test_rules_load_without_activate_adds_a_draft(app, admin_api):
    result = app.test_cli_runner().invoke(args=["rules", "load", str(DEFAULT_RULES)])
    assert result.exit_code == 0, result.output
    assert "(draft)" in result.output


def test_rules_export_prints_the_uploaded_source_byte_for_byte(app):
    result = app.test_cli_runner().invoke(args=["rules", "export", "1"])
    assert result.exit_code == 0
    assert result.output == DEFAULT_RULES.read_text()
