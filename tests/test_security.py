"""Security hygiene: secrets from the environment, headers, keys never logged."""
import logging

import pytest

from benefits.config import DEFAULT_SECRET_KEY, Config, ConfigurationError

from factories import customer


def test_production_refuses_the_default_secret(monkeypatch):
    monkeypatch.setenv("BENEFITS_ENV", "production")
    monkeypatch.delenv("BENEFITS_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="BENEFITS_SECRET_KEY"):
        Config()


def test_production_accepts_any_other_secret(monkeypatch):
    monkeypatch.setenv("BENEFITS_ENV", "production")
    monkeypatch.setenv("BENEFITS_SECRET_KEY", "s3cret-from-the-vault")
    assert Config().SECRET_KEY == "s3cret-from-the-vault"
    assert Config().SECRET_KEY != DEFAULT_SECRET_KEY


def test_responses_carry_security_headers(app_api):
    response = app_api.get("/api/v1/customers/none")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


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
