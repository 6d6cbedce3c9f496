"""Webhook endpoints through the admin API: secrets shown once and stored encrypted, the URL rules, audit,
deliveries listed, retried and skipped; the encryption keys; the backlog on /metrics."""
import base64
import os
import stat

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from benefits.config import Config, ConfigurationError
from benefits.encryption import Encryption
from conftest import ENCRYPTION_KEY
from factories import WEALTH, customer
from receivers import deliveries, subscribe


def stored_endpoints(app) -> list:
    with app.extensions["benefits"].engine.connect() as connection:
        return connection.execute(sa.text("SELECT id, secret, previous_secret FROM webhook_endpoints")).all()


def test_a_new_endpoint_s_secret_is_shown_once_and_stored_encrypted(app, admin_api):
    created = subscribe(admin_api, "https://crm.bank.example/hooks", types=["tier.changed", "signal.raised"],
                        description="CRM")
    assert created["secret"].startswith("whsec_") and len(base64.b64decode(created["secret"][6:])) == 32
    assert (created["status"], created["types"], created["description"]) == ("active", ["signal.raised",
                                                                                      "tier.changed"], "CRM")
    listed = admin_api.get("/admin/v1/webhooks").get_json()
    assert listed["next_cursor"] is None and "secret" not in listed["items"][0]
    [(_, token, _)] = stored_endpoints(app)
    assert created["secret"] not in token
    assert Fernet(ENCRYPTION_KEY).decrypt(token.encode()).decode() == created["secret"]


def test_subscribing_rotating_and_deleting_are_audited_without_a_secret(app, admin_api):
    created = subscribe(admin_api, "https://crm.bank.example/hooks")
    rotated = admin_api.post(f"/admin/v1/webhooks/{created['id']}/rotate-secret").get_json()
    assert admin_api.delete(f"/admin/v1/webhooks/{created['id']}").status_code == 204
    rows = admin_api.get("/admin/v1/audit?action=webhook.").get_json()["items"]
    assert [(row["action"], row["actor_name"], row["subject_id"]) for row in rows] == [
        ("webhook.deleted", "alice", str(created["id"])), ("webhook.secret_rotated", "alice", str(created["id"])),
        ("webhook.created", "alice", str(created["id"]))]
    assert not any(secret in str(rows) for secret in (created["secret"], rotated["secret"]))
    assert admin_api.get("/admin/v1/webhooks").get_json()["items"] == []
    assert admin_api.post(f"/admin/v1/webhooks/{created['id']}/rotate-secret").status_code == 404


@pytest.mark.parametrize("url, message", [
    ("http://crm.bank.example/hooks", "must be an https URL"),
    ("https://10.1.2.3/hooks", "10.1.2.3 is private: webhooks may not reach it"),
])
def test_an_endpoint_that_would_reach_inside_the_bank_is_refused_with_its_path(admin_api, url, message):
    """(Every rule of the URL is in tests/unit/test_destinations.py.)"""
    response = admin_api.post("/admin/v1/webhooks", json={"url": url, "types": ["tier.changed"]})
    assert response.status_code == 422
    assert response.get_json()["errors"] == [{"path": "json.url", "message": message}]


def test_private_addresses_and_http_are_allowed_where_the_setting_says(admin_api, allow_private):
    assert subscribe(admin_api, "http://127.0.0.1:8080/hooks")["url"] == "http://127.0.0.1:8080/hooks"


def test_an_unknown_message_type_is_refused_with_its_path(admin_api):
    response = admin_api.post("/admin/v1/webhooks", json={"url": "https://crm.bank.example/", "types": ["tier.gone"]})
    assert response.status_code == 422 and response.get_json()["errors"][0]["path"] == "json.types[0]"


def test_deliveries_are_listed_newest_first_by_page_and_by_status(app, app_api, admin_api):
    hook = subscribe(admin_api, "https://crm.bank.example/hooks")
    for number in range(3):
        customer(app_api, f"c{number}", **WEALTH)
    first = admin_api.get(f"/admin/v1/webhooks/{hook['id']}/deliveries?limit=2").get_json()
    second = admin_api.get(f"/admin/v1/webhooks/{hook['id']}/deliveries?limit=2&cursor={first['next_cursor']}")
    assert [item["customer_id"] for item in first["items"] + second.get_json()["items"]] == ["c2", "c1", "c0"]
    assert first["items"][0] | {"message_id": None, "occurred_at": None} == {
        "message_id": None, "type": "tier.changed", "customer_id": "c2", "occurred_at": None, "status": "pending",
        "attempts": 0, "last_response_code": None, "last_error": None,
        "next_attempt_at": "2026-11-23T02:00:00+00:00", "delivered_at": None}
    skipped = first["items"][0]["message_id"]
    admin_api.post(f"/admin/v1/webhooks/{hook['id']}/deliveries/{skipped}/skip")
    assert [item["message_id"] for item in deliveries(admin_api, hook["id"], status="skipped")] == [skipped]


def test_a_delivery_that_was_skipped_cannot_be_retried_or_skipped_again(app_api, admin_api):
    hook = subscribe(admin_api, "https://crm.bank.example/hooks")
    customer(app_api, "c1", **WEALTH)
    [item] = deliveries(admin_api, hook["id"])
    path = f"/admin/v1/webhooks/{hook['id']}/deliveries/{item['message_id']}"
    assert admin_api.post(path + "/skip").status_code == 200
    for action in ("retry", "skip"):
        response = admin_api.post(f"{path}/{action}")
        assert response.status_code == 409 and response.get_json()["reason"] == "conflict"


def test_another_endpoint_s_message_is_not_found(app_api, admin_api):
    mine = subscribe(admin_api, "https://crm.bank.example/hooks")
    other = subscribe(admin_api, "https://advisors.bank.example/hooks", types=["signal.raised"])
    customer(app_api, "c1", **WEALTH)
    [item] = deliveries(admin_api, mine["id"])
    assert admin_api.delete(f"/admin/v1/webhooks/{mine['id']}").status_code == 204
    for webhook in (mine["id"], other["id"]):
        response = admin_api.post(f"/admin/v1/webhooks/{webhook}/deliveries/{item['message_id']}/retry")
        assert response.status_code == 404 and response.get_json()["reason"] == "not_found"


def test_the_backlog_is_a_metric(app_api, admin_api):
    subscribe(admin_api, "https://crm.bank.example/hooks")
    customer(app_api, "c1", **WEALTH)
    customer(app_api, "c2", **WEALTH)
    text = admin_api.get("/metrics").get_data(as_text=True)
    assert 'benefits_outbox_backlog{status="pending"} 2.0' in text
    assert 'benefits_outbox_backlog{status="failed"} 0.0' in text
    assert "benefits_outbox_oldest_pending_seconds 0.0" in text


def test_production_refuses_to_start_without_encryption_keys():
    with pytest.raises(ConfigurationError, match="BENEFITS_ENCRYPTION_KEYS must be set in production"):
        Config(environ={"BENEFITS_ENV": "production", "BENEFITS_SECRET_KEY": "s3cret"})
    configured = Config(environ={"BENEFITS_ENV": "production", "BENEFITS_SECRET_KEY": "s3cret",
                                 "BENEFITS_ENCRYPTION_KEYS": f"{Fernet.generate_key().decode()}, {ENCRYPTION_KEY}"})
    assert len(configured.ENCRYPTION_KEYS) == 2


def test_an_encryption_key_that_is_no_fernet_key_is_refused_with_its_variable():
    with pytest.raises(ConfigurationError, match="BENEFITS_ENCRYPTION_KEYS: key 2 is not the URL-safe base64 of 32"):
        Config(environ={"BENEFITS_ENCRYPTION_KEYS": f"{ENCRYPTION_KEY},short"})


def test_in_development_a_key_is_made_once_readable_by_its_owner_only(tmp_path):
    first, second = Encryption((), tmp_path), Encryption((), tmp_path)
    token = first.encrypt("whsec_abc")
    assert second.decrypt(token) == "whsec_abc"
    assert stat.S_IMODE(os.stat(tmp_path / "encryption.key").st_mode) == 0o600


def test_keys_rotate_by_putting_a_new_one_first_and_reencrypting(app, admin_api, monkeypatch):
    created = subscribe(admin_api, "https://crm.bank.example/hooks")
    new = Fernet.generate_key().decode()
    extension = app.extensions["benefits"]
    monkeypatch.setattr(extension, "encryption", Encryption((new, ENCRYPTION_KEY)))
    assert app.test_cli_runner().invoke(args=["outbox", "reencrypt"]).output == "re-encrypted the secrets of 1 webhooks\n"
    [(_, token, _)] = stored_endpoints(app)
    assert Encryption((new,)).decrypt(token) == created["secret"]
