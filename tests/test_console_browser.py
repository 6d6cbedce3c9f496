"""The web console in a real browser (Debian's Chromium, headless, driven by Playwright) against a live server.

The whole paths run on PostgreSQL; a smoke path (sign in, look up, hold) runs on SQLite. Every request a
page makes is recorded: none may go to another host, /docs included.
"""
import re
from pathlib import Path

import pytest

from playwright.sync_api import expect

from browser import PHONE, chromium, console
from conftest import BACKENDS

ROOT = Path(__file__).resolve().parent.parent
FULL = "postgresql" if "postgresql" in BACKENDS else "sqlite"
BROKEN = ("schema: benefits/v1\nprogram: vip\ntimezone: Asia/Shanghai\ncurrency: CNY\n"
          "catalog: {lounge: {name: Lounge}}\ntiers:\n  - {id: mass, name: Mass, when: {aum: {gte: 1}}}\n"
          "earning:\n  - {id: e, on: transaction, points: 1, cap: {points: 5, per: decade}}\n")


@pytest.fixture(scope="module")
def browser():
    with chromium() as running:
        yield running


@pytest.fixture(scope="module")
def served(browser, tmp_path_factory):
    """One server on PostgreSQL (SQLite when it is not reachable) for the module's whole paths."""
    with console(FULL, tmp_path_factory.mktemp("console"), browser) as running:
        yield running
    assert running.hosts() == {f"{running.server.address[0]}:{running.server.port}"}, running.hosts()


def pass_code(served, customer: str, benefit: str | None = None) -> str:
    status, issued = served.api("APP_KEY").request("POST", f"/api/v1/customers/{customer}/passes",
                                                   {"benefit": benefit} if benefit else {})
    assert status == 201, issued
    return issued["code"]


def remaining(served, customer: str, benefit: str) -> int:
    status, body = served.api("APP_KEY").request("GET", f"/api/v1/customers/{customer}/entitlements")
    return next(item["remaining"] for item in body["items"] if item["benefit"] == benefit)


def test_an_admin_fixes_a_broken_document_simulates_it_and_a_second_admin_approves_before_activation(served):
    author = served.sign_in("ADMIN_KEY")
    author.get_by_role("link", name="New version").click()
    author.get_by_label("Rule document").fill(BROKEN)
    author.get_by_role("button", name="Save draft").click()
    problems = author.locator("table.problems tbody tr")
    assert problems.count() == 2
    assert "earning[0].cap.per" in problems.nth(0).inner_text() and problems.nth(0).locator("td.line").inner_text() == "9"
    author.get_by_label("Rule document").fill((ROOT / "rules" / "wealth-at-1m.yaml").read_text(encoding="utf-8"))
    author.get_by_role("button", name="Save draft").click()
    assert "is saved as a draft" in author.get_by_role("status").inner_text()
    version = int(re.search(r"Version (\d+) is saved", author.get_by_role("status").inner_text()).group(1))
    assert "wealth" in author.locator("table.diff").inner_text()
    approve = author.get_by_role("button", name="Approve")
    assert approve.is_disabled() and "another admin must approve it" in author.locator("#approve-why").inner_text()
    author.get_by_label("Customers in the sample").fill("50")
    author.get_by_role("button", name="Simulate").click()
    chart = author.locator("svg.chart")
    expect(chart).to_be_visible()
    assert chart.locator("rect").count() >= 2
    assert chart.bounding_box()["width"] > 100

    approver = served.sign_in("ADMIN2_KEY")
    approver.goto(f"{served.base}/console/admin/versions/{version}")
    approver.get_by_role("button", name="Approve").click()
    assert f"Version {version} is approved." in approver.get_by_role("status").inner_text()

    author.goto(f"{served.base}/console/admin/versions/{version}")
    author.get_by_role("button", name="Activate").click()
    assert f"Version {version} is active." in author.get_by_role("status").inner_text()
    status, active = served.api("ADMIN_KEY").request("GET", "/admin/v1/rule-versions/active")
    assert (status, active["version"], active["approver"]) == (200, version, "demo-approver")


def test_a_partner_looks_a_pass_up_holds_and_confirms_and_the_quota_drops_by_one(served):
    before = remaining(served, "demo-wealth-01", "medical_green_channel")
    desk = served.sign_in("HUAXIA_KEY")
    desk.get_by_label("Pass code").fill(pass_code(served, "demo-wealth-01"))
    desk.get_by_role("button", name="Look up").click()
    assert desk.locator(".display-name").inner_text() == "李*"
    row = desk.locator('tr[data-benefit="medical_green_channel"]')
    assert row.locator("td.remaining").inner_text() == str(before)
    row.get_by_role("button", name=re.compile("^Hold Medical green channel")).click()
    assert "the hold lapses at" in desk.get_by_role("status").inner_text()
    held = desk.locator("table.today tbody tr").first
    assert "held" in held.locator("td.status").inner_text() and "lapses at" in held.inner_text()
    held.get_by_role("button", name=re.compile("^Confirm")).click()
    assert "is confirmed" in desk.get_by_role("status").inner_text()
    assert "confirmed" in desk.locator("table.today tbody tr").first.locator("td.status").inner_text()
    assert desk.locator('tr[data-benefit="medical_green_channel"] td.remaining').inner_text() == str(before - 1)
    assert remaining(served, "demo-wealth-01", "medical_green_channel") == before - 1


def test_an_unknown_pass_and_an_exhausted_quota_are_plain_messages(served):
    desk = served.sign_in("SKYPORT_KEY")
    desk.get_by_label("Pass code").fill("WRONG-CODE2")
    desk.get_by_role("button", name="Look up").click()
    assert desk.get_by_role("alert").inner_text().strip() == "No such pass code, or it has expired."
    desk.get_by_label("Pass code").fill(pass_code(served, "demo-wealth-02", "airport_lounge"))
    desk.get_by_role("button", name="Look up").click()
    row = desk.locator('tr[data-benefit="airport_lounge"]')
    for _ in range(int(row.locator("td.remaining").inner_text())):
        row.get_by_role("button", name="Capture Airport VIP lounge visit").click()
        row = desk.locator('tr[data-benefit="airport_lounge"]')
    assert row.locator("td.remaining").inner_text() == "0"
    row.get_by_role("button", name="Hold Airport VIP lounge visit").click()
    assert desk.get_by_role("alert").inner_text().strip() == "No quota is left for this benefit in this period."


def test_a_forged_form_without_the_csrf_token_is_refused_and_changes_nothing(served):
    desk = served.sign_in("SKYPORT_KEY")
    code = pass_code(served, "demo-private-01", "airport_lounge")
    before = remaining(served, "demo-private-01", "airport_lounge")
    answer = desk.request.post(f"{served.base}/console/desk/hold", form={"pass_code": code,
                                                                          "benefit": "airport_lounge"})
    assert answer.status == 403
    assert remaining(served, "demo-private-01", "airport_lounge") == before


def test_a_partner_session_cannot_open_an_admin_page(served):
    desk = served.sign_in("BUND_KEY")
    response = desk.goto(f"{served.base}/console/admin/partners")
    assert response.status == 403 and "not for a partner key" in desk.get_by_role("alert").inner_text()


def test_an_app_key_cannot_sign_in(served):
    page = served.sign_in("APP_KEY")
    assert "app key" in page.get_by_role("alert").inner_text()
    expect(page.get_by_label("API key")).to_be_visible()


def test_switching_the_language_switches_the_labels(served):
    desk = served.sign_in("HUAXIA_KEY")
    expect(desk.get_by_role("button", name="Look up")).to_be_visible()
    desk.get_by_role("link", name="简体中文").click()
    expect(desk.get_by_role("button", name="查询")).to_be_visible()
    expect(desk.get_by_label("凭证码")).to_be_visible()
    desk.get_by_role("link", name="English").click()
    expect(desk.get_by_role("button", name="Look up")).to_be_visible()


def test_the_browser_s_language_is_the_default(served):
    page = served.page(language="zh")
    page.goto(served.base + "/console/")
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    expect(page.get_by_label("API 密钥")).to_be_visible()


def test_the_desk_fits_a_phone(served):
    desk = served.sign_in("HUAXIA_KEY", viewport=PHONE)
    desk.get_by_label("Pass code").fill(pass_code(served, "demo-private-01"))
    desk.get_by_role("button", name="Look up").click()
    desk.locator(".display-name").wait_for()
    assert desk.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    expect(desk.get_by_role("button", name=re.compile("^Hold Medical green channel"))).to_be_visible()


def test_a_partner_opens_its_statement_from_the_desk_and_prints_it_without_the_navigation(served):
    for key, benefit in (("WESTLAKE_KEY", "hotel_night"), ("SKYPORT_KEY", "airport_lounge")):
        status, held = served.api(key).request("POST", "/partner/v1/redemptions", {
            "pass_code": pass_code(served, "demo-private-01"), "benefit": benefit, "capture": True})
        assert status == 201, held
    desk = served.sign_in("SKYPORT_KEY")
    desk.get_by_role("link", name="Monthly statements").click()
    expect(desk.get_by_role("heading", name=re.compile("^Statement of"))).to_be_visible()
    assert desk.locator("table.lines tbody tr").count() >= 1
    assert "Partner hotel night" not in desk.locator("table.lines").inner_text()  # another partner's visit
    desk.emulate_media(media="print")
    expect(desk.locator("header.top")).to_be_hidden()
    expect(desk.get_by_role("button", name="Print")).to_be_hidden()
    expect(desk.locator("table.lines")).to_be_visible()


def test_the_reports_page_draws_its_charts(served):
    admin = served.sign_in("ADMIN_KEY")
    admin.get_by_role("link", name="Reports").click()
    for chart in ("flows", "closings", "usage", "heat"):
        drawn = admin.locator(f"svg.chart.{chart}")
        expect(drawn).to_be_visible()
        assert drawn.bounding_box()["width"] > 200 and drawn.locator("rect").count() >= 1


def test_docs_render_from_the_service_alone(served):
    page = served.page()
    page.goto(served.base + "/docs")
    page.locator(".swagger-ui .info .title").wait_for()
    assert "VIP Benefits" in page.locator(".swagger-ui .info .title").inner_text()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_smoke_on_sqlite_a_double_clicked_hold_holds_once(backend, browser, tmp_path):
    with console(backend, tmp_path, browser) as running:
        before = remaining(running, "demo-private-01", "airport_lounge")
        desk = running.sign_in("SKYPORT_KEY")
        desk.get_by_label("Pass code").fill(pass_code(running, "demo-private-01"))
        desk.get_by_role("button", name="Look up").click()
        desk.get_by_role("button", name="Hold Airport VIP lounge visit").dblclick()
        desk.get_by_role("status").wait_for()
        assert desk.locator("table.today tbody tr[data-redemption]").count() == 1
        assert remaining(running, "demo-private-01", "airport_lounge") == before - 1
        assert running.hosts() == {f"{running.server.address[0]}:{running.server.port}"}
