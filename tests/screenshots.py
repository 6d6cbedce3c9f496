"""`make screenshots`: every console page at a desk's 1280×800 and a phone's 390×844, in English and 简体中文,
written to docs/screenshots/ (PAGE-LANGUAGE-SIZE.png) from a fresh server with the demo data."""
import http.client
import json
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser import DESK, PHONE, chromium, console  # noqa: E402
from servers import cli  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
BROKEN = ("schema: benefits/v1\nprogram: vip\ntimezone: Asia/Shanghai\ncurrency: CNY\n"
          "catalog: {lounge: {name: Lounge}}\ntiers:\n  - {id: mass, name: Mass, when: {aum: {gte: 1}}}\n")


def local_now() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).isoformat(timespec="seconds")


def prepare(served) -> dict:
    """A draft version, redemptions, a foreign-currency event, an adjustment, and a webhook that the bank's
    CRM has not answered yet, so that the pages have something to show."""
    app, admin = served.api("APP_KEY"), served.api("ADMIN_KEY")
    webhook = admin.request("POST", "/admin/v1/webhooks", {
        "url": "https://crm.bank.example/benefits", "description": "CRM: tiers, signals and redemptions",
        "types": ["tier.changed", "tier.downgrade_scheduled", "signal.raised", "redemption.confirmed"]})[1]["id"]
    code = app.request("POST", "/api/v1/customers/demo-private-01/passes", {})[1]["code"]
    desk = served.api("SKYPORT_KEY")
    desk.request("POST", "/partner/v1/redemptions", {"pass_code": code, "benefit": "airport_lounge", "capture": True})
    for customer in ("demo-private-01", "demo-wealth-01"):  # a month's visits, for the reports and statements
        visit = app.request("POST", f"/api/v1/customers/{customer}/passes", {})[1]["code"]
        desk.request("POST", "/partner/v1/redemptions", {"pass_code": visit, "benefit": "airport_lounge",
                                                         "capture": True})
    admin, approver = served.api("ADMIN_KEY"), served.api("ADMIN2_KEY")
    admin.request("PUT", "/admin/v1/fx-rates/USD", {"rate": "7.1234", "valid_from": "2020-01-01"})
    app.request("POST", "/api/v1/events", {"id": "shot-usd", "customer_id": "demo-wealth-02", "type": "transaction",
                                           "occurred_at": local_now(), "amount": "3000.00", "currency": "USD",
                                           "category": "card_spend"})
    adjustment = admin.request("POST", "/admin/v1/customers/demo-mass-01/adjustments",
                               {"points": 500, "reason": "welcome bonus"})[1]
    approver.request("POST", f"/admin/v1/customers/demo-mass-01/adjustments/{adjustment['id']}/approve", {})
    connection = http.client.HTTPConnection(*served.server.address)
    connection.request("POST", "/admin/v1/rule-versions", body=(ROOT / "rules" / "wealth-at-1m.yaml").read_bytes(),
                       headers={"Authorization": f"Bearer {served.keys['ADMIN_KEY']}",
                                "Content-Type": "application/yaml"})
    version = json.loads(connection.getresponse().read())["version"]
    connection.close()
    for number, aum in enumerate((650000, 7200000, 80000), 1):
        app.request("PUT", f"/api/v1/customers/demo-new-{number:02d}", {"name": "陈静", "aum": aum})
    cli(served.server.url, "outbox", "run", "--once")  # crm.bank.example does not resolve: every attempt fails
    first = admin.request("GET", f"/admin/v1/webhooks/{webhook}/deliveries")[1]["items"][-1]["message_id"]
    admin.request("POST", f"/admin/v1/webhooks/{webhook}/deliveries/{first}/skip", {})
    return {"code": code, "version": version, "webhook": webhook, "month": local_now()[:7]}


def shoot(page, name: str, language: str, size: str, whole: bool = False) -> None:
    """The page as the viewport shows it (``whole``: the whole page, for a long report)."""
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(OUT / f"{name}-{language}-{size}.png"), full_page=whole)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as directory, chromium() as browser, \
            console("sqlite", Path(directory), browser) as served:
        made = prepare(served)
        for language in ("en", "zh"):
            for size, viewport in (("desk", DESK), ("phone", PHONE)):
                page = served.page(viewport=viewport, language=language)
                page.goto(served.base + "/console/")
                shoot(page, "sign-in", language, size)

                desk = served.sign_in("SKYPORT_KEY", viewport=viewport, language=language)
                desk.locator("#pass_code").fill(made["code"])
                desk.locator("form.row button").click()
                desk.locator("tr[data-benefit='airport_lounge'] form").first.locator("button").click()
                shoot(desk, "front-desk", language, size)

                admin = served.sign_in("ADMIN2_KEY", viewport=viewport, language=language)
                shoot(admin, "rule-versions", language, size)
                admin.goto(f"{served.base}/console/admin/versions/{made['version']}")
                shoot(admin, "rule-version", language, size)
                admin.locator("form[action$='/simulate'] button").click()
                shoot(admin, "simulation", language, size)
                admin.goto(f"{served.base}/console/admin/versions/new")
                admin.locator("#document").fill(BROKEN + "earning:\n  - {id: e, on: gift, points: 1}\n")
                admin.locator("form.editor button").click()
                shoot(admin, "new-version-errors", language, size)
                admin.goto(f"{served.base}/console/admin/audit?verify=1")
                shoot(admin, "audit-trail", language, size)
                admin.goto(f"{served.base}/console/admin/partners")
                shoot(admin, "partners-and-keys", language, size)
                admin.goto(f"{served.base}/console/admin/webhooks?webhook={made['webhook']}")
                shoot(admin, "webhooks", language, size, whole=True)  # its deliveries are below the fold
                admin.goto(f"{served.base}/console/admin/reports")
                shoot(admin, "reports", language, size, whole=True)
                admin.goto(f"{served.base}/console/admin/partners/skyport-lounges/statements/{made['month']}")
                shoot(admin, "partner-statement", language, size)
                desk.goto(f"{served.base}/console/desk/statements")
                shoot(desk, "desk-statement", language, size)
                admin.goto(f"{served.base}/docs")
                admin.locator(".swagger-ui .info .title").wait_for()
                shoot(admin, "api-docs", language, size)
                for opened in (page, desk, admin):
                    opened.context.close()
    print(f"screenshots written to {OUT.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
