"""Two-phase redemptions: hold, confirm or cancel; never over quota."""
import multiprocessing
import threading
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from benefits import create_app
from conftest import DEFAULT_RULES
from factories import MASS, PRIVATE, WEALTH, activate_rules, customer, entitlement, pass_code, redeem


def confirm(partner, redemption_id):
    return partner.post(f"/partner/v1/redemptions/{redemption_id}/confirm")


def cancel(partner, redemption_id):
    return partner.post(f"/partner/v1/redemptions/{redemption_id}/cancel", json={})


@pytest.fixture
def lounge(partner_api):
    return partner_api("skyport", ["airport_lounge", "hotel_night"])


def test_a_hold_reserves_quota_until_it_is_confirmed(app_api, lounge, clock):
    customer(app_api, "c1", **WEALTH)
    held = redeem(lounge, pass_code(app_api, "c1"))
    assert held["status"] == "held" and held["quantity"] == 1 and held["rule"] == "lounge-wealth"
    assert datetime.fromisoformat(held["hold_expires_at"]) == clock() + timedelta(minutes=15)
    item = entitlement(app_api, "c1")
    assert (item["used"], item["held"], item["remaining"]) == (0, 1, 3)
    response = confirm(lounge, held["id"])
    assert response.status_code == 200 and response.get_json()["status"] == "confirmed"
    item = entitlement(app_api, "c1")
    assert (item["used"], item["held"], item["remaining"]) == (1, 0, 3)


def test_capture_holds_and_confirms_at_once(app_api, lounge):
    customer(app_api, "c1", **WEALTH)
    captured = redeem(lounge, pass_code(app_api, "c1"), capture=True)
    assert captured["status"] == "confirmed" and captured["hold_expires_at"] is None
    assert entitlement(app_api, "c1")["used"] == 1


def test_a_lapsed_hold_returns_its_quota_and_cannot_be_confirmed(app, app_api, lounge, admin_api, clock):
    customer(app_api, "c1", **WEALTH)
    held = redeem(lounge, pass_code(app_api, "c1"), quantity=4)
    assert entitlement(app_api, "c1")["remaining"] == 0
    clock.advance(minutes=15)
    assert entitlement(app_api, "c1")["remaining"] == 4
    refused = confirm(lounge, held["id"])
    assert refused.status_code == 409 and refused.get_json()["reason"] == "hold_expired"
    listed = lounge.get("/partner/v1/redemptions?status=lapsed").get_json()["items"]
    assert [r["id"] for r in listed] == [held["id"]]
    lapsed = admin_api.get(f"/admin/v1/audit?action=redemption.lapsed&subject={held['id']}").get_json()["items"]
    assert len(lapsed) == 1 and lapsed[0]["actor_name"] == "system"


def test_the_lapse_command_writes_the_state_of_expired_holds(app, app_api, lounge, clock):
    customer(app_api, "c1", **WEALTH)
    held = redeem(lounge, pass_code(app_api, "c1"))
    clock.advance(minutes=16)
    result = app.test_cli_runner().invoke(args=["redemptions", "lapse"])
    assert "lapsed 1 holds" in result.output
    assert lounge.get("/partner/v1/redemptions").get_json()["items"][0]["status"] == "lapsed"
    assert cancel(lounge, held["id"]).get_json()["reason"] == "hold_expired"


def test_cancelling_a_hold_releases_the_quota(app_api, lounge):
    customer(app_api, "c1", **WEALTH)
    held = redeem(lounge, pass_code(app_api, "c1"))
    response = cancel(lounge, held["id"])
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    assert entitlement(app_api, "c1")["remaining"] == 4


def test_cancelling_a_confirmed_redemption_restores_the_quota_and_is_audited(app_api, lounge, admin_api):
    customer(app_api, "c1", **WEALTH)
    captured = redeem(lounge, pass_code(app_api, "c1"), capture=True)
    assert cancel(lounge, captured["id"]).status_code == 200
    assert entitlement(app_api, "c1")["used"] == 0
    rows = admin_api.get(f"/admin/v1/audit?action=redemption.cancelled&subject={captured['id']}").get_json()
    assert rows["items"][0]["before"] == {"status": "confirmed"}


def test_confirming_a_cancelled_redemption_is_409_already_cancelled(app_api, lounge):
    customer(app_api, "c1", **WEALTH)
    held = redeem(lounge, pass_code(app_api, "c1"))
    cancel(lounge, held["id"])
    refused = confirm(lounge, held["id"])
    assert refused.status_code == 409 and refused.get_json()["reason"] == "already_cancelled"


def test_the_last_unit_goes_once_then_quota_exhausted(app_api, lounge):
    customer(app_api, "c1", **WEALTH)
    code = pass_code(app_api, "c1")
    redeem(lounge, code, quantity=3, capture=True)
    redeem(lounge, code, capture=True)
    refused = redeem(lounge, code, expect=(409,))
    assert refused["reason"] == "quota_exhausted"


def test_a_customer_without_the_benefit_is_409_not_eligible(app_api, lounge):
    customer(app_api, "c1", **MASS)
    assert redeem(lounge, pass_code(app_api, "c1"), expect=(409,))["reason"] == "not_eligible"


def test_a_hold_after_an_activation_draws_on_the_tier_the_new_version_gives(app, app_api, partner_api, clock):
    customer(app_api, "c1", **PRIVATE)
    hospital = partner_api("huaxia", ["medical_green_channel"], "hospital")
    code = pass_code(app_api, "c1")
    raised = DEFAULT_RULES.read_text().replace("aum: {gte: 6000000}", "aum: {gte: 9000000}").replace(
        "downgrade_grace_days: 90", "downgrade_grace_days: 0")
    activate_rules(app, raised, clock())  # c1 is wealth from now on, with no grace
    assert redeem(hospital, code, "medical_green_channel", capture=True)["rule"] == "green-channel-wealth"


def test_a_benefit_the_partner_does_not_serve_is_403(app_api, lounge):
    customer(app_api, "c1", **PRIVATE)
    refused = redeem(lounge, pass_code(app_api, "c1"), "medical_green_channel", expect=(403,))
    assert refused["reason"] == "forbidden"


def test_an_unknown_pass_is_404(lounge):
    assert redeem(lounge, "ABCDE-FGHJK", expect=(404,))["reason"] == "not_found"


def test_unlimited_benefits_never_run_out(app_api, partner_api):
    customer(app_api, "c1", **PRIVATE)
    hospital = partner_api("huaxia", ["medical_green_channel"], "hospital")
    code = pass_code(app_api, "c1")
    for _ in range(5):
        redeem(hospital, code, "medical_green_channel", quantity=100, capture=True)
    item = entitlement(app_api, "c1", "medical_green_channel")
    assert (item["quota"], item["used"], item["remaining"]) == (None, 500, None)


def test_a_limited_grant_listed_before_an_unlimited_one_is_drawn_on_until_it_runs_out(app, app_api, partner_api,
                                                                                       clock):
    limited_first = DEFAULT_RULES.read_text().replace(
        "- id: green-channel-wealth\n    benefit: medical_green_channel\n    when: {tier: {eq: wealth}}",
        "- id: green-channel-wealth\n    benefit: medical_green_channel\n    when: {tier: {in: [wealth, private]}}")
    activate_rules(app, limited_first, clock())  # a private client: 2 a year, then unlimited
    customer(app_api, "c1", **PRIVATE)
    hospital = partner_api("huaxia", ["medical_green_channel"], "hospital")
    code = pass_code(app_api, "c1")
    drawn_on = [redeem(hospital, code, "medical_green_channel", capture=True)["rule"] for _ in range(3)]
    assert drawn_on == ["green-channel-wealth", "green-channel-wealth", "green-channel-private"]


def test_another_partners_redemption_is_404_and_not_listed(app_api, lounge, partner_api):
    customer(app_api, "c1", **WEALTH)
    held = redeem(lounge, pass_code(app_api, "c1"))
    other = partner_api("westlake", ["airport_lounge"], "hotel")
    assert confirm(other, held["id"]).status_code == 404
    assert cancel(other, held["id"]).status_code == 404
    assert other.get("/partner/v1/redemptions").get_json()["items"] == []
    assert confirm(lounge, held["id"]).status_code == 200


def test_a_retry_with_the_same_idempotency_key_answers_the_first_201(app_api, lounge):
    customer(app_api, "c1", **WEALTH)
    body = {"pass_code": pass_code(app_api, "c1"), "benefit": "airport_lounge"}
    first = lounge.post("/partner/v1/redemptions", json=body, headers={"Idempotency-Key": "desk-7-0001"})
    again = lounge.post("/partner/v1/redemptions", json=body, headers={"Idempotency-Key": "desk-7-0001"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.get_json() == again.get_json()
    assert entitlement(app_api, "c1")["held"] == 1
    other = lounge.post("/partner/v1/redemptions", json=body | {"quantity": 2},
                        headers={"Idempotency-Key": "desk-7-0001"})
    assert other.status_code == 409 and other.get_json()["reason"] == "idempotency_conflict"


def test_the_reconciliation_list_filters_by_status_and_time_and_pages(app_api, lounge, clock):
    customer(app_api, "c1", **PRIVATE)
    code = pass_code(app_api, "c1", ttl_seconds=7200)
    ids = []
    for _ in range(5):
        ids.append(redeem(lounge, code, capture=True)["id"])
        clock.advance(minutes=1)
    held = redeem(lounge, code)["id"]
    assert [r["id"] for r in lounge.get("/partner/v1/redemptions?status=held").get_json()["items"]] == [held]
    since = (clock() - timedelta(minutes=2, seconds=30)).isoformat()
    recent = lounge.get("/partner/v1/redemptions", query_string={"since": since}).get_json()["items"]
    assert [r["id"] for r in recent] == [held, ids[4], ids[3]]
    first = lounge.get("/partner/v1/redemptions?limit=4").get_json()
    second = lounge.get(f"/partner/v1/redemptions?limit=4&cursor={first['next_cursor']}").get_json()
    assert [r["id"] for r in first["items"] + second["items"]] == [held, *reversed(ids)]
    assert second["next_cursor"] is None
    assert all(r["customer_ref"].startswith("cr_") for r in first["items"])


def test_a_redemption_draws_on_rule_grants_before_reward_units(app, app_api, lounge, clock):
    customer(app_api, "c1", **WEALTH)
    app_api.post("/api/v1/events", json={"id": "e1", "customer_id": "c1", "type": "transaction",
                                         "occurred_at": clock().isoformat(), "amount": "300000",
                                         "category": "wealth_product"})
    clock.advance(days=8)
    assert app_api.post("/api/v1/customers/c1/rewards/extra-lounge/redeem").status_code == 201
    code = pass_code(app_api, "c1")
    sources = [redeem(lounge, code, capture=True)["rule"] for _ in range(5)]
    assert sources == ["lounge-wealth"] * 4 + ["extra-lounge"]
    assert redeem(lounge, code, expect=(409,))["reason"] == "quota_exhausted"


def test_the_yearly_quota_rolls_over_at_local_midnight_on_31_december(app_api, lounge, clock):
    clock.set(datetime(2026, 12, 31, 15, 59, tzinfo=timezone.utc))  # 23:59 in Asia/Shanghai
    customer(app_api, "c1", **WEALTH)
    code = pass_code(app_api, "c1", ttl_seconds=3600)
    redeem(lounge, code, quantity=4, capture=True)
    assert redeem(lounge, code, expect=(409,))["reason"] == "quota_exhausted"
    item = entitlement(app_api, "c1")
    assert (item["period_start"], item["period_end"]) == ("2026-01-01T00:00:00+08:00", "2027-01-01T00:00:00+08:00")
    clock.advance(minutes=2)  # 00:01 on 1 January, local time
    item = entitlement(app_api, "c1")
    assert (item["used"], item["remaining"], item["period_start"]) == (0, 4, "2027-01-01T00:00:00+08:00")
    assert redeem(lounge, code, capture=True)["status"] == "confirmed"


def test_a_hold_counts_in_the_period_in_which_it_was_held(app_api, lounge, clock):
    clock.set(datetime(2026, 12, 31, 15, 55, tzinfo=timezone.utc))
    customer(app_api, "c1", **WEALTH)
    held = redeem(lounge, pass_code(app_api, "c1"), quantity=4)
    clock.advance(minutes=10)
    assert confirm(lounge, held["id"]).status_code == 200
    assert entitlement(app_api, "c1")["remaining"] == 4


def test_twenty_threads_racing_for_the_last_unit_get_one_201(app, app_api, lounge):
    customer(app_api, "c1", **WEALTH)
    code = pass_code(app_api, "c1")
    redeem(lounge, code, quantity=3, capture=True)
    statuses, start = [], threading.Barrier(20)

    def desk():
        client = type(lounge)(app.test_client(), lounge.key)
        start.wait()
        response = client.post("/partner/v1/redemptions",
                               json={"pass_code": code, "benefit": "airport_lounge", "capture": True})
        statuses.append((response.status_code, response.get_json().get("reason")))

    threads = [threading.Thread(target=desk) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses, key=str) == [(201, None)] + [(409, "quota_exhausted")] * 19
    item = entitlement(app_api, "c1")
    assert (item["used"], item["remaining"]) == (4, 0)


def _capture_in_a_process(database_url, key, code, start, results):
    app = create_app(DATABASE_URL=database_url, RULES_REFRESH_SECONDS=0, TESTING=True,
                     CLOCK=lambda: datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc))
    client = app.test_client()
    start.wait()
    response = client.post("/partner/v1/redemptions", headers={"Authorization": f"Bearer {key}"},
                           json={"pass_code": code, "benefit": "airport_lounge", "capture": True})
    results.put(response.status_code)


def test_four_processes_racing_for_the_last_unit_get_one_201(app, app_api, lounge, database_url):
    customer(app_api, "c1", **WEALTH)
    code = pass_code(app_api, "c1")
    redeem(lounge, code, quantity=3, capture=True)
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(4), context.Queue()
    processes = [context.Process(target=_capture_in_a_process, args=(database_url, lounge.key, code, start, results))
                 for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert sorted(results.get(timeout=5) for _ in processes) == [201, 409, 409, 409]
    assert entitlement(app_api, "c1")["remaining"] == 0
