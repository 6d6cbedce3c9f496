"""The Reports page of the admin console, the printable statement, and the front desk's own statements."""
import csv
import io
import re

import pytest

from conftest import make_key
from factories import PRIVATE, customer, event, pass_code, redeem
from test_console import sign_in


@pytest.fixture
def visits(app, app_api, partner_api):
    """c1 (private) earned 100 points and visited skyport's lounge; westlake served it too."""
    customer(app_api, "c1", **PRIVATE)
    event(app_api, "c1", amount="5000.00", category="wealth_product")
    skyport, westlake = partner_api("skyport", ["airport_lounge"]), partner_api("westlake", ["airport_lounge"])
    redeem(skyport, pass_code(app_api, "c1"), capture=True)
    redeem(westlake, pass_code(app_api, "c1"), capture=True)
    return skyport, westlake


@pytest.fixture
def admin(app):
    client = app.test_client()
    assert sign_in(client, make_key(app, "admin", "dora")).status_code == 303
    return client


def test_the_reports_page_draws_each_report_and_offers_its_csv(visits, admin):
    page = admin.get("/console/admin/reports")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for chart in ("chart flows", "chart closings", "chart usage", "chart heat"):
        assert f'<svg class="{chart}"' in html
    assert '<dd class="outstanding">100</dd>' in html  # 5,000 of wealth products at 1 per 100, × 2 (private)
    assert "/console/admin/reports/benefits.csv?part=usage" in html
    assert "/console/admin/partners/skyport/statements/2026-11" in html
    download = admin.get("/console/admin/reports/benefits.csv?part=usage&from=2026-11&to=2026-11")
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    assert download.mimetype == "text/csv"
    assert [(row["partner"], row["quantity"]) for row in rows] == [("skyport", "1"), ("westlake", "1")]


def test_a_csv_download_covers_the_period_the_page_shows(visits, admin, admin_api):
    filters = "from=2026-10&to=2026-11&as_of=2026-10-31"  # as_of before the customers came: the page's period holds
    page = admin.get(f"/console/admin/reports?{filters}")
    assert page.status_code == 200
    start, end = re.search(r"Tier migration from (\S+) to (\S+)<", page.get_data(as_text=True)).groups()
    assert (start, end) == ("2026-09-30", "2026-11-30")
    for part in ("matrix", "signals"):
        download = admin.get(f"/console/admin/reports/tiers.csv?part={part}&{filters}")
        same = admin_api.get(f"/admin/v1/reports/tiers?from={start}&to={end}&format=csv&part={part}")
        assert download.status_code == 200 and download.get_data(as_text=True) == same.get_data(as_text=True), part
    matrix = list(csv.DictReader(io.StringIO(admin.get(f"/console/admin/reports/tiers.csv?{filters}").get_data(
        as_text=True))))
    assert matrix == [{"from_tier": "none", "to_tier": "private", "customers": "1"}]  # c1 came on 2026-11-23


def test_a_filter_that_is_no_month_is_said_plainly(visits, admin):
    page = admin.get("/console/admin/reports?from=2026-13")
    assert page.status_code == 422
    assert "query.from: must be a month, YYYY-MM" in page.get_data(as_text=True)


def test_a_partners_statement_is_a_printable_page_with_its_csv(visits, admin):
    page = admin.get("/console/admin/partners/skyport/statements/2026-11").get_data(as_text=True)
    assert "data-print" in page and "300.00" in page and "skyport desk" in page
    assert "westlake" not in page
    download = admin.get("/console/admin/partners/skyport/statements/2026-11.csv")
    assert [row["amount"] for row in csv.DictReader(io.StringIO(download.get_data(as_text=True)))] == ["300.00"]


def test_the_front_desk_links_to_its_own_statements_only(app, visits):
    skyport, _ = visits
    desk = app.test_client()
    sign_in(desk, skyport.key)
    assert 'href="/console/desk/statements"' in desk.get("/console/desk").get_data(as_text=True)
    opened = desk.get("/console/desk/statements")
    assert opened.status_code == 303 and opened.headers["Location"].endswith("/console/desk/statements/2026-11")
    page = desk.get("/console/desk/statements/2026-11").get_data(as_text=True)
    assert "skyport desk" in page and "westlake" not in page
    assert desk.get("/console/admin/reports").status_code == 403
    assert desk.get("/console/admin/partners/westlake/statements/2026-11").status_code == 403
