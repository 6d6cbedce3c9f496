"""Security hygiene: secrets from the environment, headers, keys never logged."""
import logging
import re
from pathlib import Path

import flask
import pytest

from benefits.api import security_headers
from benefits.config import DEFAULT_SECRET_KEY, Config, ConfigurationError

from conftest import ENCRYPTION_KEY
from factories import customer


def test_production_refuses_the_default_secret(monkeypatch):
    monkeypatch.setenv("BENEFITS_ENV", "production")
    monkeypatch.delenv("BENEFITS_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="BENEFITS_SECRET_KEY"):
        Config()


def test_production_accepts_any_other_secret(monkeypatch):
    monkeypatch.setenv("BENEFITS_ENV", "production")
    monkeypatch.setenv("BENEFITS_SECRET_KEY", "s3cret-from-the-vault")
    monkeypatch.setenv("BENEFITS_ENCRYPTION_KEYS", ENCRYPTION_KEY)  # production requires it too (test_webhooks_api)
    assert Config().SECRET_KEY == "s3cret-from-the-vault"
    assert Config().SECRET_KEY != DEFAULT_SECRET_KEY


def test_responses_carry_security_headers(app_api):
    response = app_api.get("/api/v1/customers/none")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_a_security_header_the_view_set_itself_is_kept_whatever_its_case():
    response = security_headers(flask.Response("page", headers={"cache-control": "max-age=60"}))
    assert response.headers.getlist("Cache-Control") == ["max-age=60"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_keys_never_reach_the_logs(app_api, caplog):
    caplog.set_level(logging.DEBUG)
    customer(app_api, "c1")
    app_api.get("/api/v1/nowhere")
    app_api.post("/api/v1/events", data="{broken", content_type="application/json")
    assert caplog.records, "nothing was logged: the test would prove nothing"
    assert all(app_api.key not in record.getMessage() for record in caplog.records)
    assert app_api.key[10:] not in caplog.text


def test_request_id_is_echoed(app_api):
    response = app_api.get("/api/v1/customers/none", headers={"X-Request-ID": "req-42"})
    assert response.headers["X-Request-ID"] == "req-42"


def test_sql_is_built_with_bound_parameters_only():
    """No SQL text is assembled from an f-string anywhere in the service."""
    root = Path(__file__).resolve().parent.parent / "benefits"
    pattern = re.compile(r"""(text|execute|exec_driver_sql)\(\s*f["']""")
    sources = list(root.rglob("*.py"))
    assert len(sources) > 20
    offenders = [f"{path.name}:{number}" for path in sources
                 for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1) if pattern.search(line)]
    assert offenders == []


def test_like_wildcards_in_an_audit_filter_match_only_themselves(admin_api, app_api):
    customer(app_api, "c1")
    assert admin_api.get("/admin/v1/audit?action=%25").get_json()["items"] == []
    assert admin_api.get("/admin/v1/audit?action=customer.").get_json()["items"] != []


def test_hostile_path_values_are_refused_or_not_found(app_api):
    response = app_api.put("/api/v1/customers/x';DROP TABLE customers;--", json={"name": "a", "aum": 1})
    assert response.status_code in (404, 422)
    assert app_api.get("/api/v1/customers/x' OR '1'='1").status_code in (404, 422)


def test_an_unknown_setting_is_refused_not_ignored():
    with pytest.raises(ConfigurationError, match="DATABSE_URL"):
        Config(DATABSE_URL="sqlite://")


def test_a_setting_that_cannot_be_read_names_its_variable(monkeypatch):
    monkeypatch.setenv("BENEFITS_RULES_REFRESH_SECONDS", "soon")
    with pytest.raises(ConfigurationError, match="BENEFITS_RULES_REFRESH_SECONDS"):
        Config()


def test_no_request_opens_flasks_cookie_session(app):
    """The API authenticates by key and the console keeps its sessions in the database: Flask's signed
    cookie session is never read, so no signer is built for a request and no such cookie is ever set."""
    with app.test_request_context("/api/v1/customers/c1", headers={"Cookie": "session=forged"}):
        assert app.session_interface.is_null_session(flask.session)
