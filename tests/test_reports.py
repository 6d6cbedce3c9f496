"""Finance reports: the points roll-forward and the liability reconcile over any history, the IFRS 15 worked
example by hand, partner statements at the month's boundaries, utilisation, the tier matrix, CSV, the CLI."""
import csv
import io
import itertools
import random
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings, strategies as st

from factories import activate_rules, customer, pass_code, redeem

SHANGHAI = ZoneInfo("Asia/Shanghai")
FINANCE_RULES = """\
schema: benefits/v1
program: finance
timezone: Asia/Shanghai
currency: CNY
catalog:
  airport_lounge: {name: Airport lounge, category: travel, settlement_price: 300}
  medical_green_channel: {name: Green channel, category: health}
tiers:
  - {id: private, name: Private banking, when: {aum: {gte: 6000000}}}
  - {id: wealth, name: Wealth, when: {aum: {gte: 500000}}}
  - {id: mass, name: Mass}
points:
  expiry_months: 1
  value: %(value)s
  expected_breakage: %(breakage)s
earning:
  - {id: spend, on: transaction, rate: {points: 1, per_amount: 1}}
benefits:
  - {id: lounge, benefit: airport_lounge, when: {tier: {in: [wealth, private]}}, quota: {count: 12, per: year}}
  - {id: green-channel, benefit: medical_green_channel, when: {tier: {eq: private}}, quota: {unlimited: true}}
rewards:
  - {id: voucher, benefit: medical_green_channel, cost: 300}
signals:
  - id: wealth-cultivation
    when: {all: [{tier: {eq: mass}}, {aum_growth_3m: {gt: 0.2}}]}
"""
_ids = itertools.count(1)


def finance_rules(value="0.10", breakage="0.2") -> str:
    return FINANCE_RULES % {"value": value, "breakage": breakage}


@pytest.fixture
def rules(app, clock):
    return activate_rules(app, finance_rules(), clock())


def at(clock, text: str) -> datetime:
    """Move the clock to a local time in Shanghai (the clock answers UTC, as the service's does)."""
    return clock.set(datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(timezone.utc))


def earn(app_api, clock, customer_id: str, amount: int) -> str:
    event_id = f"tx{next(_ids)}"
    response = app_api.post("/api/v1/events", json={
        "id": event_id, "customer_id": customer_id, "type": "transaction", "amount": str(amount),
        "occurred_at": clock().astimezone(SHANGHAI).isoformat(), "category": "card_spend"})
    assert response.status_code == 201, response.get_json()
    return event_id


def spend(app_api, customer_id: str) -> int:
    return app_api.post(f"/api/v1/customers/{customer_id}/rewards/voucher/redeem", json={}).status_code


def refund(app_api, event_id: str, amount: int | None = None) -> int:
    return app_api.post(f"/api/v1/events/{event_id}/reversal",
                        json={} if amount is None else {"amount": str(amount)}).status_code


def adjust(admin_api, second_admin_api, customer_id: str, points: int) -> None:
    proposed = admin_api.post(f"/admin/v1/customers/{customer_id}/adjustments",
                              json={"points": points, "reason": "correction"}).get_json()
    approved = second_admin_api.post(f"/admin/v1/customers/{customer_id}/adjustments/{proposed['id']}/approve",
                                     json={})
    assert approved.status_code == 200, approved.get_json()


def expire(app) -> None:
    result = app.test_cli_runner().invoke(args=["points", "expire"])
    assert result.exit_code == 0, result.output


def report(admin_api, path: str) -> dict:
    response = admin_api.get(path)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def balances(app) -> int:
    with app.extensions["benefits"].engine.connect() as connection:
        return connection.execute(sa.text("SELECT COALESCE(SUM(balance), 0) FROM customers")).scalar_one()


def debts(app) -> int:
    """The sum of the negative balances (≤ 0)."""
    with app.extensions["benefits"].engine.connect() as connection:
        return connection.execute(sa.text(
            "SELECT COALESCE(SUM(balance), 0) FROM customers WHERE balance < 0")).scalar_one()


def assert_rolls_forward(items: list[dict]) -> None:
    """Each month's closing follows from its lines, and is the next month's opening."""
    for item in items:
        assert item["closing"] == (item["opening"] + item["earned"] - item["spent"] - item["expired"]
                                   - item["reversed"] + item["adjusted"]), item
    for month, following in zip(items, items[1:]):
        assert month["closing"] == following["opening"], (month, following)


def assert_liability_reconciles(answer: dict) -> None:
    points = answer["rollforward_points"]
    assert points["closing"] == (points["opening"] + points["issued"] - points["redeemed"] - points["expired"]
                                 - points["reversed"] + points["adjusted"]) == answer["outstanding"]
    money = {name: float(value) for name, value in answer["rollforward"].items()
             if name not in ("month", "opening_value", "opening_breakage")}
    assert round(money["opening"] + money["issued"] - money["redeemed"] - money["expired"] - money["reversed"]
                 + money["adjusted"] + money["remeasurement"], 2) == money["closing"]
    assert answer["rollforward"]["closing"] == answer["deferred_revenue"]
    assert sum(line["points"] for line in answer["by_expiry_month"]) == answer["outstanding"]


def month_ends(first: date, last: date):
    day = first
    while day <= last:
        following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        yield min(following - timedelta(days=1), last)
        day = following


# ------------------------------------------------------------------------------------- roll-forward


def test_fourteen_months_of_history_roll_forward_and_agree_with_the_liability(
        rules, app, clock, app_api, admin_api, second_admin_api):
    randomly = random.Random(16)
    people = [customer(app_api, f"h{n}")["id"] for n in range(3)]
    earned: list[str] = []
    for month in range(14):
        at(clock, f"{2026 + (10 + month) // 12}-{(10 + month) % 12 + 1:02d}-01 08:00:00")
        expire(app)
        earned.append(earn(app_api, clock, randomly.choice(people), randomly.randrange(100, 900)))
        while clock().astimezone(SHANGHAI).day < 24:
            who = randomly.choice(people)
            step = randomly.random()
            if step < 0.35:
                earned.append(earn(app_api, clock, who, randomly.randrange(100, 900)))
            elif step < 0.6:
                spend(app_api, who)
            elif step < 0.75:
                refund(app_api, randomly.choice(earned), randomly.choice([None, 10, 50]))
            else:
                adjust(admin_api, second_admin_api, who, randomly.choice([-400, -60, 25, 150]))
            clock.advance(days=randomly.randrange(2, 7))
    items = report(admin_api, "/admin/v1/reports/points?from=2026-11&to=2027-12")["items"]
    assert len(items) == 14 and items[0]["opening"] == 0
    assert_rolls_forward(items)
    assert items[-1]["closing"] == balances(app)
    assert all(item["earned"] for item in items)
    for kind in ("spent", "expired", "reversed", "adjusted"):
        assert sum(abs(item[kind]) for item in items), kind  # every kind of entry happened
    today = clock().astimezone(SHANGHAI).date()
    for item, day in zip(items, month_ends(date(2026, 11, 1), today)):
        answer = report(admin_api, f"/admin/v1/reports/liability?as_of={day}")
        assert_liability_reconciles(answer)
        assert answer["outstanding"] + answer["debt_points"] == item["closing"], (day, answer, item)
        assert answer["rollforward"]["remeasurement"] == "0.00"  # one value, one breakage all along


OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("earn"), st.integers(1, 2000)),
    st.tuples(st.just("spend"), st.just(0)),
    st.tuples(st.just("refund"), st.integers(0, 100)),
    st.tuples(st.just("adjust"), st.integers(-1500, 1500).filter(bool)),
    st.tuples(st.just("wait"), st.integers(1, 20)),
    st.tuples(st.just("expire"), st.just(0)),
), min_size=1, max_size=8)


def test_for_any_sequence_of_ledger_operations_the_roll_forward_reconciles(
        rules, app, clock, app_api, admin_api, second_admin_api):
    at(clock, "2026-11-23 10:00:00")

    @settings(max_examples=12, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(operations=OPERATIONS)
    def reconciles(operations):
        who = customer(app_api, f"p{next(_ids)}")["id"]
        earned = []
        for operation, number in operations:
            if operation == "earn":
                earned.append(earn(app_api, clock, who, number))
            elif operation == "spend":
                spend(app_api, who)
            elif operation == "refund" and earned:
                refund(app_api, earned[number % len(earned)], None if number % 2 else 1)
            elif operation == "adjust":
                adjust(admin_api, second_admin_api, who, number)
            elif operation == "wait":
                clock.advance(days=number)
            elif operation == "expire":
                expire(app)
        now = clock().astimezone(SHANGHAI).date()
        items = report(admin_api, f"/admin/v1/reports/points?from=2026-11&to={now:%Y-%m}")["items"]
        assert items[0]["opening"] == 0  # the history starts in November 2026
        assert_rolls_forward(items)
        assert items[-1]["closing"] == balances(app)
        liability = report(admin_api, f"/admin/v1/reports/liability?as_of={now}")
        assert_liability_reconciles(liability)
        assert liability["outstanding"] + liability["debt_points"] == balances(app)
        assert liability["debt_points"] == debts(app)

    reconciles()


def test_an_entry_counts_in_the_month_it_was_posted_whatever_its_events_date(rules, clock, app_api, admin_api):
    customer(app_api, "c1")
    at(clock, "2026-12-01 00:00:30")
    response = app_api.post("/api/v1/events", json={
        "id": "late", "customer_id": "c1", "type": "transaction", "amount": "70",
        "occurred_at": "2026-11-30T23:59:00+08:00", "category": "card_spend"})
    assert response.status_code == 201
    items = report(admin_api, "/admin/v1/reports/points?from=2026-11&to=2026-12")["items"]
    assert [(item["month"], item["earned"]) for item in items] == [("2026-11", 0), ("2026-12", 70)]


# ------------------------------------------------------------------------------------- IFRS 15


def test_the_ifrs15_worked_example_reconciles_through_a_change_of_the_points_value(
        app, clock, app_api, admin_api, second_admin_api):
    """Version A: a point is worth CNY 0.10, 20% breakage expected: 0.08 of deferred revenue a point.
    Version B (from 20 January): CNY 0.12 and 25%: 0.09 a point. Points earned in a month expire at the
    end of the next. Every figure below is computed by hand."""
    at(clock, "2026-11-23 10:00:00")
    activate_rules(app, finance_rules("0.10", "0.2"), clock())
    customer(app_api, "c1")
    at(clock, "2026-11-25 10:00:00")
    earn(app_api, clock, "c1", 1000)                 # L1 1000, expires at the end of December
    at(clock, "2026-12-05 10:00:00")
    earn(app_api, clock, "c1", 500)                  # L2 500, expires at the end of January
    at(clock, "2026-12-10 10:00:00")
    assert spend(app_api, "c1") == 201               # 300 from L1: L1 700
    # the end of December: 700 + 500 = 1200 points outstanding, × 0.08 = CNY 96.00
    at(clock, "2027-01-02 03:00:00")
    expire(app)                                      # L1's 700 expire
    at(clock, "2027-01-05 10:00:00")
    january = earn(app_api, clock, "c1", 400)        # L3 400, expires at the end of February
    at(clock, "2027-01-08 10:00:00")
    assert spend(app_api, "c1") == 201               # 300 from L2: L2 200
    at(clock, "2027-01-10 10:00:00")
    assert refund(app_api, january, 200) == 201      # half the event: 200 from L3: L3 200
    at(clock, "2027-01-12 10:00:00")
    adjust(admin_api, second_admin_api, "c1", -100)  # from the oldest: L2 100
    at(clock, "2027-01-15 10:00:00")
    adjust(admin_api, second_admin_api, "c1", 50)    # L4 50, expires at the end of February
    at(clock, "2027-01-20 10:00:00")
    activate_rules(app, finance_rules("0.12", "0.25"), clock())
    at(clock, "2027-02-01 10:00:00")
    earn(app_api, clock, "c1", 999)                  # after the day asked for: not in it

    answer = report(admin_api, "/admin/v1/reports/liability?as_of=2027-01-31")
    assert answer["rollforward_points"] == {"opening": 1200, "issued": 400, "redeemed": 300, "expired": 700,
                                            "reversed": 200, "adjusted": -50, "closing": 350}
    assert (answer["outstanding"], answer["debt_points"]) == (350, 0)
    assert answer["by_expiry_month"] == [{"month": "2027-01", "points": 100}, {"month": "2027-02", "points": 250}]
    assert (answer["value"], answer["breakage"], answer["breakage_source"]) == ("0.12", "0.25", "expected")
    assert answer["deferred_revenue"] == "31.50"                     # 350 × 0.09
    assert answer["rollforward"] == {
        "month": "2027-01",
        "opening": "96.00",         # 1200 × 0.08
        "issued": "36.00",          # 400 × 0.09
        "redeemed": "27.00",        # 300 × 0.09
        "expired": "63.00",         # 700 × 0.09
        "reversed": "18.00",        # 200 × 0.09
        "adjusted": "-4.50",        # −50 × 0.09
        "remeasurement": "12.00",   # the opening's 1200 points × (0.09 − 0.08)
        "closing": "31.50",         # 96 + 36 − 27 − 63 − 18 − 4.50 + 12
        "opening_value": "0.1", "opening_breakage": "0.2"}
    december = report(admin_api, "/admin/v1/reports/liability?as_of=2026-12-31")
    assert (december["outstanding"], december["deferred_revenue"]) == (1200, "96.00")


def test_breakage_without_an_expectation_is_what_expired_of_what_left_over_the_last_24_months(
        app, clock, app_api, admin_api):
    at(clock, "2026-11-23 10:00:00")
    activate_rules(app, finance_rules("0.10", "0.2").replace("  expected_breakage: 0.2\n", ""), clock())
    customer(app_api, "c1")
    earn(app_api, clock, "c1", 1000)
    assert spend(app_api, "c1") == 201     # 300 spent
    at(clock, "2027-01-02 10:00:00")
    expire(app)                            # 700 expired
    at(clock, "2027-02-10 10:00:00")
    earn(app_api, clock, "c1", 100)
    answer = report(admin_api, "/admin/v1/reports/liability?as_of=2027-02-10")
    assert (answer["breakage"], answer["breakage_source"]) == ("0.7", "history")  # 700 ÷ (700 + 300)
    assert answer["deferred_revenue"] == "3.00"                                   # 100 × 0.10 × 0.3
    assert report(admin_api, "/admin/v1/reports/liability?as_of=2026-12-15")["breakage"] == "0"


def test_a_liability_for_a_day_to_come_or_before_the_cutover_is_refused(rules, app, clock, admin_api):
    tomorrow = admin_api.get("/admin/v1/reports/liability?as_of=2026-11-24")
    assert tomorrow.status_code == 422 and tomorrow.get_json()["errors"][0]["path"] == "query.as_of"
    with app.extensions["benefits"].engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO report_cutover (id, at) VALUES (1, :at)"),
                           {"at": "2026-11-20 05:00:00" if connection.dialect.name == "sqlite"
                            else datetime(2026, 11, 20, 5, tzinfo=ZoneInfo("UTC"))})
    before = admin_api.get("/admin/v1/reports/liability?as_of=2026-11-19")
    assert before.status_code == 422 and before.get_json()["reason"] == "before_cutover"
    assert admin_api.get("/admin/v1/reports/liability?as_of=2026-11-20").status_code == 200


# ------------------------------------------------------------------------------------- statements


@pytest.fixture
def desks(rules, app_api, partner_api):
    """Partner A (a lounge, CNY 300 a visit) and partner B; c1 a wealth customer."""
    customer(app_api, "c1", aum=900000)
    return partner_api("skyport", ["airport_lounge"]), partner_api("westlake", ["airport_lounge"], "hotel")


def visit(app_api, desk, clock, when: str) -> int:
    at(clock, when)
    return redeem(desk, pass_code(app_api, "c1"), capture=True)["id"]


def test_a_statement_is_the_months_confirmed_redemptions_in_the_programmes_timezone(desks, clock, app_api):
    skyport, _ = desks
    visit(app_api, skyport, clock, "2026-11-01 00:00:00")
    last = visit(app_api, skyport, clock, "2026-11-30 23:59:59")
    first_of_next = visit(app_api, skyport, clock, "2026-12-01 00:00:00")
    at(clock, "2026-12-01 09:00:00")
    held = redeem(skyport, pass_code(app_api, "c1"))["id"]  # held, never confirmed: no line
    november = skyport.get("/partner/v1/statements/2026-11").get_json()
    assert [(item["quantity"], item["unit_price"], item["amount"]) for item in november["items"]] == [
        (1, "300.00", "300.00"), (1, "300.00", "300.00")]
    assert november["items"][-1]["redemption_id"] == last
    assert november["total"] == "600.00"
    december = skyport.get("/partner/v1/statements/2026-12").get_json()
    assert [item["redemption_id"] for item in december["items"]] == [first_of_next]
    assert held not in [item["redemption_id"] for item in december["items"]]


def test_a_redemption_cancelled_the_month_after_its_confirmation_is_a_negative_line_there(desks, clock, app_api):
    skyport, _ = desks
    undone = visit(app_api, skyport, clock, "2026-11-20 10:00:00")
    same_month = visit(app_api, skyport, clock, "2026-11-21 10:00:00")
    assert skyport.post(f"/partner/v1/redemptions/{same_month}/cancel", json={}).status_code == 200
    at(clock, "2026-12-03 10:00:00")
    assert skyport.post(f"/partner/v1/redemptions/{undone}/cancel", json={}).status_code == 200
    november = skyport.get("/partner/v1/statements/2026-11").get_json()
    assert [(item["redemption_id"], item["quantity"]) for item in november["items"]] == [(undone, 1)]
    december = skyport.get("/partner/v1/statements/2026-12").get_json()
    line = december["items"][0]
    assert (line["redemption_id"], line["quantity"], line["amount"], december["total"]) == (
        undone, -1, "-300.00", "-300.00")
    assert line["cancelled_at"] == "2026-12-03T02:00:00+00:00"


def test_the_unit_price_is_the_one_in_force_at_confirmation(desks, app, clock, app_api):
    skyport, _ = desks
    at(clock, "2026-11-25 10:00:00")
    held = redeem(skyport, pass_code(app_api, "c1"))["id"]
    activate_rules(app, finance_rules().replace("settlement_price: 300", "settlement_price: 320.50"), clock())
    assert skyport.post(f"/partner/v1/redemptions/{held}/confirm", json={}).status_code == 200
    activate_rules(app, finance_rules().replace("settlement_price: 300", "settlement_price: 999"), clock())
    line = skyport.get("/partner/v1/statements/2026-11").get_json()["items"][0]
    assert (line["unit_price"], line["amount"]) == ("320.50", "320.50")


def test_a_partner_reads_only_its_own_statements_and_admins_read_any(desks, clock, app_api, admin_api):
    skyport, westlake = desks
    mine = visit(app_api, skyport, clock, "2026-11-25 10:00:00")
    theirs = visit(app_api, westlake, clock, "2026-11-25 11:00:00")
    assert [i["redemption_id"] for i in skyport.get("/partner/v1/statements/2026-11").get_json()["items"]] == [mine]
    assert [i["redemption_id"] for i in westlake.get("/partner/v1/statements/2026-11").get_json()["items"]] == [
        theirs]
    assert skyport.get("/admin/v1/reports/partners/westlake/statements/2026-11").status_code == 403
    assert app_api.get("/partner/v1/statements/2026-11").status_code == 403
    by_admin = report(admin_api, "/admin/v1/reports/partners/westlake/statements/2026-11")
    assert [item["redemption_id"] for item in by_admin["items"]] == [theirs]
    assert admin_api.get("/admin/v1/reports/partners/nobody/statements/2026-11").status_code == 404
    assert skyport.get("/partner/v1/statements/2026-13").status_code == 422


@pytest.mark.parametrize("path", ["/admin/v1/reports/points", "/admin/v1/reports/liability",
                                  "/admin/v1/reports/benefits", "/admin/v1/reports/tiers"])
def test_only_admins_read_the_reports(rules, app_api, partner_api, path):
    assert app_api.get(path).status_code == 403
    assert partner_api().get(path).status_code == 403


# ------------------------------------------------------------------------------------- benefits and tiers


def test_utilisation_counts_confirmed_quantities_by_the_tier_at_the_hold(desks, clock, app_api, admin_api):
    skyport, westlake = desks
    visit(app_api, skyport, clock, "2026-11-25 10:00:00")
    visit(app_api, westlake, clock, "2026-11-26 10:00:00")
    at(clock, "2026-11-27 10:00:00")
    redeem(skyport, pass_code(app_api, "c1"), quantity=2, capture=True)
    redeem(skyport, pass_code(app_api, "c1"))  # only held
    customer(app_api, "c1", aum=8000000)  # private from now on
    visit(app_api, skyport, clock, "2026-12-02 10:00:00")
    answer = report(admin_api, "/admin/v1/reports/benefits?from=2026-11&to=2026-12")
    assert answer["usage"] == [
        {"month": "2026-11", "benefit": "airport_lounge", "partner": "skyport", "tier": "wealth", "quantity": 3},
        {"month": "2026-11", "benefit": "airport_lounge", "partner": "westlake", "tier": "wealth", "quantity": 1},
        {"month": "2026-12", "benefit": "airport_lounge", "partner": "skyport", "tier": "private", "quantity": 1}]


def test_customers_entitled_now_follow_each_customers_last_evaluation(rules, app, clock, app_api, admin_api):
    customer(app_api, "c1", aum=900000)
    customer(app_api, "c2", aum=8000000)
    customer(app_api, "c3", aum=8000000)
    customer(app_api, "c4", aum=1000)
    entitled = report(admin_api, "/admin/v1/reports/benefits")["entitled"]
    assert entitled == [
        {"benefit": "airport_lounge", "tier": "private", "per": "year", "customers": 2, "quota": 24},
        {"benefit": "airport_lounge", "tier": "wealth", "per": "year", "customers": 1, "quota": 12},
        {"benefit": "medical_green_channel", "tier": "private", "per": None, "customers": 2, "quota": None}]
    activate_rules(app, finance_rules().replace("count: 12", "count: 6"), clock())
    assert report(admin_api, "/admin/v1/reports/benefits")["customers_not_reevaluated"] == 4
    result = app.test_cli_runner().invoke(args=["customers", "reevaluate"])
    assert result.exit_code == 0 and "re-evaluated 4 customers" in result.output
    answer = report(admin_api, "/admin/v1/reports/benefits")
    assert answer["customers_not_reevaluated"] == 0
    assert [line["quota"] for line in answer["entitled"]] == [12, 6, None]


def test_the_tier_matrix_compares_two_days_by_the_tier_history(rules, clock, app_api, admin_api):
    at(clock, "2026-10-01 10:00:00")
    customer(app_api, "up", aum=100000, as_of="2026-10-01")
    customer(app_api, "stays", aum=900000, as_of="2026-10-01")
    at(clock, "2026-11-01 09:00:00")
    customer(app_api, "up", aum=7000000, as_of="2026-11-01")
    at(clock, "2026-11-10 09:00:00")
    customer(app_api, "new", aum=100000, as_of="2026-11-10")
    answer = report(admin_api, "/admin/v1/reports/tiers?from=2026-10-31&to=2026-11-10")
    assert answer["matrix"] == [{"from_tier": "none", "to_tier": "mass", "customers": 1},
                                {"from_tier": "wealth", "to_tier": "wealth", "customers": 1},
                                {"from_tier": "mass", "to_tier": "private", "customers": 1}]
    assert answer["tiers"] == ["private", "wealth", "mass"]


def test_signals_raised_and_cleared_are_counted_by_month(rules, clock, app_api, admin_api):
    at(clock, "2026-08-01 10:00:00")
    customer(app_api, "grows", aum=100000, as_of="2026-08-01")
    at(clock, "2026-11-05 10:00:00")
    customer(app_api, "grows", aum=130000, as_of="2026-11-05")   # +30% over three months: raised
    at(clock, "2026-12-02 10:00:00")
    customer(app_api, "grows", aum=100000, as_of="2026-12-02")   # back: cleared
    answer = report(admin_api, "/admin/v1/reports/tiers?from=2026-10-31&to=2026-12-31")
    assert answer["signals"] == [
        {"month": "2026-11", "signal": "wealth-cultivation", "raised": 1, "cleared": 0},
        {"month": "2026-12", "signal": "wealth-cultivation", "raised": 0, "cleared": 1}]


# ------------------------------------------------------------------------------------- CSV and the CLI


def parsed(response) -> list[dict]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_every_report_parses_back_from_its_csv_with_the_right_columns(desks, clock, app_api, admin_api):
    skyport, _ = desks
    visit(app_api, skyport, clock, "2026-11-25 10:00:00")
    earn(app_api, clock, "c1", 1234)
    cases = [("/admin/v1/reports/points?from=2026-10&to=2026-11", None, "items", 8),
             ("/admin/v1/reports/liability?as_of=2026-11-25", "summary", None, 15),
             ("/admin/v1/reports/liability?as_of=2026-11-25", "by_expiry_month", "by_expiry_month", 2),
             ("/admin/v1/reports/benefits?from=2026-11&to=2026-11", "usage", "usage", 5),
             ("/admin/v1/reports/benefits?from=2026-11&to=2026-11", "entitled", "entitled", 5),
             ("/admin/v1/reports/partners/skyport/statements/2026-11", None, "items", 8),
             ("/admin/v1/reports/tiers?from=2026-11-01&to=2026-11-25", "matrix", "matrix", 3),
             ("/admin/v1/reports/tiers?from=2026-11-01&to=2026-11-25", "signals", "signals", 4)]
    for path, part, key, width in cases:
        answer = report(admin_api, path)
        rows = parsed(admin_api.get(f"{path}&format=csv" + (f"&part={part}" if part else "")
                                    if "?" in path else f"{path}?format=csv"))
        items = [answer | answer["rollforward"]] if key is None else answer[key]
        assert len(rows) == len(items) and len(rows[0] if rows else {}) in (width, 0), (path, part, rows)
        for row, item in zip(rows, items):
            assert {name: value for name, value in row.items()} == {
                name: "" if item.get(name) is None else str(item[name]) for name in row}, (path, part)
    own = parsed(skyport.get("/partner/v1/statements/2026-11?format=csv"))
    assert [row["amount"] for row in own] == ["300.00"]


def test_an_unknown_part_of_a_report_is_422(rules, admin_api):
    response = admin_api.get("/admin/v1/reports/points?format=csv&part=summary")
    assert response.status_code == 422 and response.get_json()["errors"][0]["path"] == "query.part"


def test_month_end_jobs_get_the_same_reports_from_the_command_line(desks, app, clock, app_api, admin_api):
    skyport, _ = desks
    visit(app_api, skyport, clock, "2026-11-25 10:00:00")
    runner = app.test_cli_runner()
    statement = runner.invoke(args=["reports", "statement", "skyport", "2026-11", "--format", "csv"])
    assert statement.exit_code == 0, statement.output
    assert statement.output.splitlines() == skyport.get("/partner/v1/statements/2026-11?format=csv").get_data(
        as_text=True).splitlines()
    points = runner.invoke(args=["reports", "points", "--from", "2026-11", "--to", "2026-11", "--format", "csv"])
    assert list(csv.DictReader(io.StringIO(points.output))) == [
        {"month": "2026-11", "opening": "0", "earned": "0", "spent": "0", "expired": "0", "reversed": "0",
         "adjusted": "0", "closing": "0"}]
    liability = runner.invoke(args=["reports", "liability", "--as-of", "2026-11-25", "--part", "by_expiry_month",
                                    "--format", "csv"])
    assert liability.exit_code == 0 and liability.output.splitlines() == ["month,points"]
