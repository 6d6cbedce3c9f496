"""The web console's rules, through Flask's test client: sessions, CSRF, one-time forms, headers, languages."""
import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from benefits.console import i18n
from conftest import make_key
from factories import WEALTH, customer, pass_code

TEMPLATES = Path(__file__).resolve().parent.parent / "benefits" / "console" / "templates" / "console"
PY = Path(__file__).resolve().parent.parent / "benefits" / "console"


def token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, key: str):
    page = client.get("/console/")
    return client.post("/console/sign-in", data={"csrf_token": token(page.get_data(as_text=True)), "api_key": key})


@pytest.fixture
def desk(app, partner_api):
    partner = partner_api()
    client = app.test_client()
    assert sign_in(client, partner.key).status_code == 303
    client.partner_key = partner.key
    return client


def csrf_of(client, path="/console/desk") -> str:
    return token(client.get(path).get_data(as_text=True))


def audit_actions(app) -> list[str]:
    with app.extensions["benefits"].engine.connect() as connection:
        return list(connection.execute(sa.text("SELECT action FROM audit_log ORDER BY seq")).scalars())


def test_a_partner_key_opens_the_front_desk_and_an_admin_key_the_admin_console(app, partner_api):
    desk_client, admin_client = app.test_client(), app.test_client()
    assert sign_in(desk_client, partner_api().key).headers["Location"].endswith("/console/desk")
    assert sign_in(admin_client, make_key(app, "admin", "dora")).headers["Location"].endswith("/console/admin")
    assert desk_client.get("/console/admin").status_code == 403
    assert admin_client.get("/console/desk").status_code == 403


def test_an_app_key_is_refused_with_a_message(app):
    response = sign_in(app.test_client(), make_key(app, "app", "mobile"))
    assert response.status_code == 403 and "opens no console" in response.get_data(as_text=True)


def test_the_session_cookie_holds_only_a_random_id_and_is_httponly_and_strict(app, partner_api):
    response = sign_in(app.test_client(), partner_api().key)
    cookie = next(value for value in response.headers.getlist("Set-Cookie") if value.startswith("benefits_console="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    with app.extensions["benefits"].engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT id_hash FROM console_sessions")).scalars().all()
    assert len(value) >= 40 and value not in stored and len(stored) == 1


def test_sign_in_and_sign_out_are_audited(app, desk):
    assert "console.signed_in" in audit_actions(app)
    response = desk.post("/console/desk/sign-out", data={"csrf_token": csrf_of(desk)})
    assert response.status_code == 303
    assert audit_actions(app)[-1] == "console.signed_out"
    assert desk.get("/console/desk").status_code == 401  # the session ended


def test_a_session_ends_after_thirty_minutes_idle(desk, clock):
    clock.advance(minutes=29)
    assert desk.get("/console/desk").status_code == 200
    clock.advance(minutes=29)  # 29 minutes after the last request
    assert desk.get("/console/desk").status_code == 200
    clock.advance(minutes=30)
    response = desk.get("/console/desk")
    assert response.status_code == 401 and "Your session has ended" in response.get_data(as_text=True)


def test_a_session_ends_twelve_hours_after_sign_in_however_busy(desk, clock):
    for _ in range(24):  # a request every 29 minutes: never idle
        clock.advance(minutes=29)
        assert desk.get("/console/desk").status_code == 200
    clock.advance(minutes=25)  # 12 hours and 1 minute after sign-in
    assert desk.get("/console/desk").status_code == 401


def test_revoking_the_key_ends_its_sessions(app, desk, admin_api):
    key_id = next(item["id"] for item in admin_api.get("/admin/v1/api-keys").get_json()["items"]
                  if item["role"] == "partner")
    assert admin_api.post(f"/admin/v1/api-keys/{key_id}/revoke").status_code == 200
    assert desk.get("/console/desk").status_code == 401


def test_failed_sign_ins_are_rate_limited_by_address(app):
    client = app.test_client()
    for _ in range(20):
        assert sign_in(client, "vb_partner_wrong").status_code == 401
    refused = sign_in(client, "vb_partner_wrong")
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.get_data(as_text=True)
    assert sign_in(client, make_key(app, "admin", "eve")).status_code == 429  # a right key too: no oracle


def test_a_sign_in_without_its_form_token_is_refused(app, partner_api):
    response = app.test_client().post("/console/sign-in", data={"api_key": partner_api().key})
    assert response.status_code == 403


def test_a_form_posted_without_the_csrf_token_is_refused_and_changes_nothing(app, desk, app_api):
    customer(app_api, "c1", **WEALTH)
    code = pass_code(app_api, "c1")
    before = audit_actions(app)
    response = desk.post("/console/desk/hold", data={"pass_code": code, "benefit": "airport_lounge"})
    assert response.status_code == 403
    response = desk.post("/console/desk/hold", data={"csrf_token": "forged", "pass_code": code,
                                                     "benefit": "airport_lounge"})
    assert response.status_code == 403
    assert audit_actions(app) == before


def test_a_form_posted_twice_with_its_one_time_key_acts_once(app, desk, app_api):
    customer(app_api, "c1", **WEALTH)
    code = pass_code(app_api, "c1")
    form = {"csrf_token": csrf_of(desk), "idempotency_key": "form-1", "pass_code": code, "benefit": "airport_lounge"}
    first, second = desk.post("/console/desk/hold", data=form), desk.post("/console/desk/hold", data=form)
    assert first.status_code == second.status_code == 200
    with app.extensions["benefits"].engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM redemptions")).scalar_one() == 1
    assert app_api.get("/api/v1/customers/c1/entitlements").get_json()["items"][0]["held"] == 1


def test_a_console_action_is_audited_as_the_signed_in_key(app, desk, app_api, admin_api):
    customer(app_api, "c1", **WEALTH)
    desk.post("/console/desk/hold", data={"csrf_token": csrf_of(desk), "idempotency_key": "f",
                                          "pass_code": pass_code(app_api, "c1"), "benefit": "airport_lounge"})
    row = admin_api.get("/admin/v1/audit?action=redemption.held").get_json()["items"][0]
    assert (row["actor_type"], row["actor_name"]) == ("key", "skyport-key")


def test_pages_allow_only_the_service_itself_and_are_never_kept(app, desk):
    for path in ("/console/", "/console/desk", "/docs"):
        response = desk.get(path)
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert response.headers["Cache-Control"] == "no-store"


def test_pages_name_no_other_host(app, desk):
    html = desk.get("/console/desk").get_data(as_text=True) + app.test_client().get("/docs").get_data(as_text=True)
    assert re.findall(r'(?:src|href)="(https?:)?//', html) == []


def test_the_language_follows_the_browser_then_the_switch(app):
    client = app.test_client()
    assert "登录" in client.get("/console/", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert ">Sign in<" in client.get("/console/", headers={"Accept-Language": "en-GB"}).get_data(as_text=True)
    switched = client.get("/console/?lang=zh", headers={"Accept-Language": "en"})
    assert "登录" in switched.get_data(as_text=True)
    assert "登录" in client.get("/console/", headers={"Accept-Language": "en"}).get_data(as_text=True)  # kept


def texts_to_translate() -> set[str]:
    """Every literal given to _() in the console's templates and code."""
    found = set()
    for path in [*TEMPLATES.glob("*.html"), *PY.glob("*.py")]:
        source = path.read_text(encoding="utf-8")
        found |= set(re.findall(r'_\(\s*"((?:[^"\\]|\\.)+)"', source)) | set(re.findall(r"_\(\s*'([^']+)'", source))
        if path.suffix == ".py":
            found |= set(re.findall(r'"message": "([A-Z][^"]+)"', source)) | set(
                re.findall(r'gettext\(\s*"([^"]+)"', source))
    found |= set(i18n.ZH) & {"held", "confirmed", "cancelled", "lapsed", "draft", "approved", "active", "retired"}
    return found


def test_every_text_of_the_console_has_a_chinese_translation():
    texts = texts_to_translate()
    assert len(texts) > 60
    from benefits.console.pages import MESSAGES

    missing = sorted(text for text in texts | set(MESSAGES.values()) if text not in i18n.ZH)
    assert missing == []


def test_a_chinese_translation_keeps_every_placeholder_of_its_text():
    assert [text for text, chinese in i18n.ZH.items()
            if set(re.findall(r"{\w+}", text)) != set(re.findall(r"{\w+}", chinese))] == []


def test_confirming_a_lapsed_hold_is_a_plain_message(app, desk, app_api, clock):
    customer(app_api, "c1", **WEALTH)
    desk.post("/console/desk/hold", data={"csrf_token": csrf_of(desk), "idempotency_key": "h",
                                          "pass_code": pass_code(app_api, "c1"), "benefit": "airport_lounge"})
    clock.advance(minutes=16)
    response = desk.post("/console/desk/redemptions/1/confirm", data={"csrf_token": csrf_of(desk),
                                                                     "idempotency_key": "confirm"})
    assert response.status_code == 200
    assert "The hold lapsed before it was confirmed." in response.get_data(as_text=True)


def test_too_many_failed_look_ups_are_a_plain_message_in_the_desk_s_language(app, desk):
    csrf = csrf_of(desk)
    for n in range(20):
        desk.post("/console/desk/look-up", data={"csrf_token": csrf, "pass_code": f"WRONG-{n:05d}"})
    response = desk.post("/console/desk/look-up?lang=zh", data={"csrf_token": csrf, "pass_code": "WRONG-LAST2"})
    assert response.status_code == 200
    assert re.search(r"查询失败次数过多，请 \d+ 秒后再试。", response.get_data(as_text=True))
