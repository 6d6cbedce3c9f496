"""Currencies: rates kept with their history, conversion at the rate in force at `occurred_at`, refunds at the
event's own rate, exact decimals, and the refusal when no rate is in force."""
import pytest
import sqlalchemy as sa

from factories import activate_rules, customer, event, rules_yaml

USD_TRANSACTION = {"currency": "USD", "category": "card_spend"}


@pytest.fixture
def rules(app, clock):
    return activate_rules(app, rules_yaml(), clock())


def set_rate(admin_api, currency, rate, valid_from, expect=201):
    response = admin_api.put(f"/admin/v1/fx-rates/{currency}", json={"rate": rate, "valid_from": valid_from})
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def rows(app, table: str) -> int:
    with app.extensions["benefits"].engine.connect() as connection:
        return connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


def test_a_transaction_without_a_rate_in_force_is_422_no_fx_rate_and_records_nothing(rules, app, app_api, admin_api):
    customer(app_api, "c1")
    set_rate(admin_api, "USD", "7.00", "2026-12-01")  # in force only from next month
    before = {table: rows(app, table) for table in ("events", "ledger_entries", "lots", "audit_log")}
    response = app_api.post("/api/v1/events", json={
        "id": "usd-1", "customer_id": "c1", "type": "transaction", "occurred_at": "2026-11-23T10:00:00+08:00",
        "amount": "100.00", **USD_TRANSACTION})
    assert response.status_code == 422
    assert response.get_json()["reason"] == "no_fx_rate"
    assert response.get_json()["errors"][0]["path"] == "json.currency"
    assert {table: rows(app, table) for table in before} == before


def test_a_batch_refuses_the_event_without_a_rate_alone(rules, app_api, admin_api):
    customer(app_api, "c1")
    set_rate(admin_api, "USD", "7.00", "2026-11-01")
    common = {"customer_id": "c1", "type": "transaction", "occurred_at": "2026-11-23T10:00:00+08:00",
              "amount": "100.00", "category": "card_spend"}
    response = app_api.post("/api/v1/events/batch", json={"events": [
        {"id": "b1", **common, "currency": "USD"}, {"id": "b2", **common, "currency": "EUR"},
        {"id": "b3", **common, "currency": "CNY"}]})
    results = response.get_json()["results"]
    assert [(item["status"], item["points"]) for item in results] == [("created", 7), ("error", None), ("created", 1)]
    assert results[1]["error"]["reason"] == "no_fx_rate"


def test_the_rate_in_force_changes_at_its_exact_moment(rules, app_api, admin_api):
    customer(app_api, "c1")  # mass: no multiplier; 1 point per CNY 100
    set_rate(admin_api, "USD", "7.00", "2026-11-01")
    set_rate(admin_api, "USD", "7.50", "2026-11-23T09:00:00+08:00")
    before = event(app_api, "c1", occurred_at="2026-11-23T08:59:59+08:00", amount="1000.00", **USD_TRANSACTION)
    after = event(app_api, "c1", occurred_at="2026-11-23T09:00:01+08:00", amount="1000.00", **USD_TRANSACTION)
    assert before["converted"] == {"amount": "7000.00", "currency": "CNY", "rate": "7.00"}
    assert after["converted"] == {"amount": "7500.00", "currency": "CNY", "rate": "7.50"}
    assert (before["points"], after["points"]) == (70, 75)


def test_a_date_means_its_midnight_in_the_programmes_timezone(rules, app_api, admin_api):
    customer(app_api, "c1")
    assert set_rate(admin_api, "USD", "7.00", "2026-11-23")["valid_from"] == "2026-11-22T16:00:00+00:00"
    response = app_api.post("/api/v1/events", json={
        "id": "early", "customer_id": "c1", "type": "transaction", "occurred_at": "2026-11-22T23:59:59+08:00",
        "amount": "10.00", **USD_TRANSACTION})
    assert response.get_json()["reason"] == "no_fx_rate"
    assert event(app_api, "c1", occurred_at="2026-11-23T00:00:00+08:00", amount="10.00",
                 **USD_TRANSACTION)["converted"]["rate"] == "7.00"


def test_conversion_is_exact_and_truncated_to_the_cent(rules, app_api, admin_api):
    customer(app_api, "c1")
    set_rate(admin_api, "JPY", "0.048765432109", "2026-11-01")
    answer = event(app_api, "c1", amount="123456.78", currency="JPY", category="card_spend")
    # 123456.78 × 0.048765432109 = 6020.42... exactly 6020.4257...: truncated, never rounded up
    assert answer["converted"] == {"amount": "6020.42", "currency": "CNY", "rate": "0.048765432109"}
    assert answer["points"] == 60


def test_a_rate_sent_as_a_number_is_read_as_written(rules, admin_api):
    assert set_rate(admin_api, "HKD", 0.91, "2026-11-01")["rate"] == "0.91"
    refused = admin_api.put("/admin/v1/fx-rates/HKD", json={"rate": 0.9123456789012345, "valid_from": "2026-11-01"})
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["path"] == "json.rate"


def test_a_refund_converts_at_the_events_own_rate(rules, app_api, admin_api):
    customer(app_api, "c1")
    set_rate(admin_api, "USD", "7.00", "2026-11-01")
    event(app_api, "c1", id="usd-tx", amount="1000.00", **USD_TRANSACTION)  # CNY 7,000: 70 points
    set_rate(admin_api, "USD", "8.00", "2026-11-23T09:00:00+08:00")  # later, in force before the refund
    refund = app_api.post("/api/v1/events/usd-tx/reversal", json={"amount": "250.00"}).get_json()
    assert refund == {"points_reversed": 18, "balance": 52,  # keeps floor(70 × 750 / 1000) = 52
                      "converted": {"amount": "1750.00", "currency": "CNY", "rate": "7.00"}}


def test_a_replay_answers_the_conversion_it_was_recorded_with(rules, app_api, admin_api):
    customer(app_api, "c1")
    set_rate(admin_api, "USD", "7.00", "2026-11-01")
    body = {"id": "usd-r", "customer_id": "c1", "type": "transaction", "occurred_at": "2026-11-23T10:00:00+08:00",
            "amount": "100.00", **USD_TRANSACTION}
    first = app_api.post("/api/v1/events", json=body)
    set_rate(admin_api, "USD", "9.00", "2026-11-01")  # a correction set later changes nothing recorded
    replay = app_api.post("/api/v1/events", json=body)
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.get_json() == first.get_json()
    assert replay.get_json()["converted"]["rate"] == "7.00"


def test_an_event_in_the_programmes_currency_has_no_conversion(rules, app_api):
    customer(app_api, "c1")
    assert "converted" not in event(app_api, "c1", currency="CNY")
    assert "converted" not in event(app_api, "c1", currency=None)


def test_rules_see_the_converted_amount_and_the_original_one(app, clock, app_api, admin_api):
    overseas = rules_yaml().replace("""  - id: course
""", """  - id: overseas-double
    on: transaction
    when: {all: [{currency: {ne: CNY}}, {original_amount: {gte: 100}}]}
    rate: {points: 1, per_amount: 100}
  - id: course
""")
    activate_rules(app, overseas, clock())
    customer(app_api, "c1")
    set_rate(admin_api, "USD", "7.00", "2026-11-01")
    awards = event(app_api, "c1", amount="100.00", **USD_TRANSACTION)["awards"]
    assert awards == [{"rule": "card-spend", "points": 7}, {"rule": "overseas-double", "points": 7}]
    small = event(app_api, "c1", amount="99.99", **USD_TRANSACTION)["awards"]  # CNY 699.93, but USD 99.99
    assert small == [{"rule": "card-spend", "points": 6}]


def test_rates_are_listed_newest_first_and_setting_one_is_audited(rules, admin_api):
    set_rate(admin_api, "USD", "7.00", "2026-11-01")
    set_rate(admin_api, "EUR", "7.80", "2026-11-15")
    set_rate(admin_api, "USD", "7.10", "2026-11-20")
    items = admin_api.get("/admin/v1/fx-rates").get_json()["items"]
    assert [(item["currency"], item["rate"], item["set_by"]) for item in items] == [
        ("USD", "7.10", "alice"), ("EUR", "7.80", "alice"), ("USD", "7.00", "alice")]
    assert [item["rate"] for item in admin_api.get("/admin/v1/fx-rates?currency=USD").get_json()["items"]] == [
        "7.10", "7.00"]
    audit = admin_api.get("/admin/v1/audit?action=fx_rate.set").get_json()["items"]
    assert [(row["subject_id"], row["after"]["rate"]) for row in audit] == [("USD", "7.10"), ("EUR", "7.80"),
                                                                            ("USD", "7.00")]


def test_the_programmes_own_currency_and_a_malformed_code_are_refused(rules, admin_api):
    own = admin_api.put("/admin/v1/fx-rates/CNY", json={"rate": "1.5", "valid_from": "2026-11-01"})
    bad = admin_api.put("/admin/v1/fx-rates/usd", json={"rate": "7", "valid_from": "2026-11-01"})
    assert (own.status_code, bad.status_code) == (422, 422)
    assert own.get_json()["errors"][0]["path"] == bad.get_json()["errors"][0]["path"] == "path.currency"


def test_an_imported_file_converts_and_rejects_the_line_without_a_rate(rules, app, app_api, admin_api, tmp_path):
    customer(app_api, "c1")
    set_rate(admin_api, "USD", "7.00", "2026-11-01")
    path = tmp_path / "events.csv"
    path.write_text("id,customer_id,type,occurred_at,amount,currency,category\n"
                    "i1,c1,transaction,2026-11-23T10:00:00+08:00,100.00,USD,card_spend\n"
                    "i2,c1,transaction,2026-11-23T10:00:00+08:00,100.00,EUR,card_spend\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["events", "import", str(path)])
    assert result.exit_code == 1 and result.stdout.strip().splitlines()[-1] == "created 1, duplicate 0, rejected 1"
    assert app_api.get("/api/v1/customers/c1/points").get_json()["balance"] == 7
    assert "no_fx_rate" in (tmp_path / "events.csv.rejected").read_text(encoding="utf-8")
