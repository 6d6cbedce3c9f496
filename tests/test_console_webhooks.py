"""The admin console's Webhooks page: subscribe (the secret shown once), deliveries with status and attempts,
retry and skip, rotate the secret, delete; through the same services as the API."""
import re

import pytest

from conftest import make_key
from factories import WEALTH, customer
from receivers import deliveries, subscribe
from test_console import sign_in, token


@pytest.fixture
def admin_console(app):
    client = app.test_client()
    assert sign_in(client, make_key(app, "admin", "dora")).status_code == 303
    return client


def post(client, path, **form):
    csrf = token(client.get("/console/admin/webhooks").get_data(as_text=True))
    return client.post(path, data={"csrf_token": csrf, **form})


def secrets_shown(html: str) -> list[str]:
    return re.findall(r'<code class="secret">(whsec_[^<]+)</code>', html)


def test_subscribing_shows_the_secret_once_even_when_the_form_is_posted_twice(admin_console, admin_api):
    form = {"url": "https://crm.bank.example/hooks", "types": ["tier.changed", "signal.raised"],
            "description": "CRM", "idempotency_key": "subscribe-1"}
    first = post(admin_console, "/console/admin/webhooks", **form)
    again = post(admin_console, "/console/admin/webhooks", **form)
    assert first.status_code == again.status_code == 200
    assert len(secrets_shown(first.get_data(as_text=True))) == 1 and secrets_shown(again.get_data(as_text=True)) == []
    [listed] = admin_api.get("/admin/v1/webhooks").get_json()["items"]
    assert (listed["types"], listed["description"]) == (["signal.raised", "tier.changed"], "CRM")


def test_a_refused_url_is_a_plain_message(admin_console, admin_api):
    response = post(admin_console, "/console/admin/webhooks", url="http://10.0.0.1/", types=["tier.changed"],
                    idempotency_key="subscribe-2")
    assert "url: must be an https URL" in response.get_data(as_text=True)
    assert admin_api.get("/admin/v1/webhooks").get_json()["items"] == []


def test_deliveries_show_status_and_attempts_and_can_be_skipped(admin_console, app_api, admin_api):
    hook = subscribe(admin_api, "https://crm.bank.example/hooks")
    customer(app_api, "c1", **WEALTH)
    [item] = deliveries(admin_api, hook["id"])
    page = admin_console.get(f"/console/admin/webhooks?webhook={hook['id']}").get_data(as_text=True)
    row = re.search(rf'<tr data-message="{item["message_id"]}">.*?</tr>', page, re.S).group(0)
    assert "tier.changed" in row and "pending" in row and "<td>0</td>" in row and ">Retry<" in row
    response = post(admin_console, f"/console/admin/webhooks/{hook['id']}/deliveries/{item['message_id']}/skip"
                                   f"?webhook={hook['id']}", idempotency_key="skip-1")
    assert f"Message {item['message_id']} is skipped." in response.get_data(as_text=True)
    assert deliveries(admin_api, hook["id"])[0]["status"] == "skipped"


def test_rotating_shows_the_new_secret_and_deleting_removes_the_endpoint(admin_console, admin_api):
    hook = subscribe(admin_api, "https://crm.bank.example/hooks")
    rotated = post(admin_console, f"/console/admin/webhooks/{hook['id']}/rotate", idempotency_key="rotate-1")
    [secret] = secrets_shown(rotated.get_data(as_text=True))
    assert secret != hook["secret"] and "the old secret signs until" in rotated.get_data(as_text=True)
    post(admin_console, f"/console/admin/webhooks/{hook['id']}/delete", idempotency_key="delete-1")
    assert admin_api.get("/admin/v1/webhooks").get_json()["items"] == []
    again = post(admin_console, f"/console/admin/webhooks/{hook['id']}/rotate", idempotency_key="rotate-2")
    assert "This webhook or message no longer exists." in again.get_data(as_text=True)


def test_the_page_speaks_chinese(admin_console):
    page = admin_console.get("/console/admin/webhooks?lang=zh").get_data(as_text=True)
    assert "接收端点" in page and "订阅" in page


def test_a_cursor_beyond_every_id_shows_the_newest_deliveries(admin_console, app_api, admin_api):
    hook = subscribe(admin_api, "https://crm.bank.example/hooks")
    customer(app_api, "c1", **WEALTH)
    response = admin_console.get(f"/console/admin/webhooks?webhook={hook['id']}&cursor=9999999999999999999")
    assert response.status_code == 200 and "tier.changed" in response.get_data(as_text=True)
