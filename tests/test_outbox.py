"""The outbox: every change the bank's other systems hear of writes its message in the transaction of the
change, through every way in (the API, a batch of events, the jobs)."""
from datetime import datetime, timezone

from benefits.models import MessageType
from benefits.services import audit, customers
from benefits.services.profiles import CustomerProfile
from factories import WEALTH, activate_rules, customer, event, pass_code, redeem, rules_yaml
from receivers import Receiver, deliver, outbox, subscribe, valid


def types(app) -> list[str]:
    return [message["type"] for message in outbox(app)]


def test_a_new_customer_s_tier_then_signals_raised_and_cleared_and_a_tier_change_are_told_in_order(app, app_api):
    customer(app_api, "c1", aum=100000, as_of="2026-08-01")
    assert outbox(app)[-1:] == [{"type": "tier.changed", "customer_id": "c1", "data": {
        "customer_id": "c1", "tier": "mass", "previous_tier": None, "as_of": "2026-08-01", "rule_version": 1}}]
    customer(app_api, "c1", aum=150000, as_of="2026-11-20")  # +50% in three months: an advisor should call
    customer(app_api, "c1", aum=700000, as_of="2026-11-22")  # wealth now: no longer a mass customer to cultivate
    told = [(m["type"], m["data"].get("tier"), m["data"].get("previous_tier"), m["data"].get("signal"))
            for m in outbox(app) if m["customer_id"] == "c1"]
    assert told == [("tier.changed", "mass", None, None), ("signal.raised", None, None, "wealth-cultivation"),
                    ("tier.changed", "wealth", "mass", None), ("signal.cleared", None, None, "wealth-cultivation")]


def test_falling_below_a_tier_schedules_its_downgrade_and_coming_back_cancels_it(app, app_api):
    customer(app_api, "c1", aum=900000, as_of="2026-11-01")
    customer(app_api, "c1", aum=100000, as_of="2026-11-10")
    customer(app_api, "c1", aum=900000, as_of="2026-11-20")
    scheduled, cancelled = outbox(app)[-2:]
    assert scheduled == {"type": "tier.downgrade_scheduled", "customer_id": "c1", "data": {
        "customer_id": "c1", "tier": "wealth", "lower_tier": "mass", "effective_on": "2027-02-08",
        "as_of": "2026-11-10", "rule_version": 1}}  # 90 days of grace after 2026-11-10
    assert cancelled["type"] == "tier.downgrade_cancelled"
    assert cancelled["data"] == {"customer_id": "c1", "tier": "wealth", "as_of": "2026-11-20", "rule_version": 1}


def test_a_downgrade_that_takes_effect_is_a_tier_change_and_no_cancellation(app, app_api, clock):
    customer(app_api, "c1", aum=900000, as_of="2026-11-01")
    customer(app_api, "c1", aum=100000, as_of="2026-11-10")
    clock.set(datetime(2027, 2, 8, 2, 0, tzinfo=timezone.utc))
    customer(app_api, "c1", aum=100000, as_of="2027-02-08")
    assert types(app)[-2:] == ["tier.downgrade_scheduled", "tier.changed"]
    assert outbox(app)[-1]["data"] == {"customer_id": "c1", "tier": "mass", "previous_tier": "wealth",
                                            "as_of": "2027-02-08", "rule_version": 1}


def test_a_change_rolled_back_tells_nothing(app, clock):
    with app.extensions["benefits"].sessions() as session:
        with app.extensions["benefits"].programs.active(session) as program:
            customers.upsert(session, program, "c1", CustomerProfile(name="张三", aum=900000), actor=audit.SYSTEM,
                             now=clock())
        session.rollback()
    assert outbox(app, "tier.changed") == []


def test_a_savepoint_rolled_back_takes_its_messages_and_the_transaction_keeps_the_rest(app, clock):
    with app.extensions["benefits"].sessions() as session:
        with app.extensions["benefits"].programs.active(session) as program:
            customers.upsert(session, program, "kept", CustomerProfile(name="张三", aum=900000), actor=audit.SYSTEM,
                             now=clock())
            savepoint = session.begin_nested()
            customers.upsert(session, program, "gone", CustomerProfile(name="李四", aum=900000), actor=audit.SYSTEM,
                             now=clock())
            savepoint.rollback()
        session.commit()
    assert [m["customer_id"] for m in outbox(app, "tier.changed")] == ["kept"]


def test_every_message_of_one_change_reaches_an_endpoint_of_its_type_in_the_order_written(app, app_api, admin_api,
                                                                                        allow_private):
    customer(app_api, "c1", aum=100000, as_of="2026-08-01")
    customer(app_api, "c1", aum=150000, as_of="2026-11-20")  # raises wealth-cultivation
    hook = subscribe(admin_api, "http://127.0.0.1:9/never", types=["tier.changed", "signal.cleared"])
    other = subscribe(admin_api, "http://127.0.0.1:9/other", types=["signal.raised"])
    customer(app_api, "c1", aum=700000, as_of="2026-11-22")  # one change: the tier, then the signal cleared
    listed = admin_api.get(f"/admin/v1/webhooks/{hook['id']}/deliveries").get_json()["items"]
    assert [(item["type"], item["customer_id"]) for item in reversed(listed)] == [
        ("tier.changed", "c1"), ("signal.cleared", "c1")]
    assert admin_api.get(f"/admin/v1/webhooks/{other['id']}/deliveries").get_json()["items"] == []


def test_events_of_a_batch_after_an_activation_tell_the_tier_changes_they_cause(app, app_api, clock):
    customer(app_api, "c1", **WEALTH)
    version = activate_rules(app, rules_yaml().replace("6000000", "800000"), clock())  # private from 800,000
    response = app_api.post("/api/v1/events/batch", json={"events": [
        {"id": "e1", "customer_id": "c1", "type": "learning", "occurred_at": "2026-11-23T10:00:00+08:00",
         "activity": "course_completed"}]})
    assert response.status_code == 200 and response.get_json()["results"][0]["status"] == "created"
    assert outbox(app)[-2:] == [
        {"type": "rule_version.activated", "customer_id": None, "data": {"version": version, "previous_version": 1}},
        {"type": "tier.changed", "customer_id": "c1", "data": {
            "customer_id": "c1", "tier": "private", "previous_tier": "wealth", "as_of": "2026-11-23",
            "rule_version": version}}]


def test_confirmed_cancelled_and_lapsed_redemptions_are_told(app, app_api, partner_api, clock):
    customer(app_api, "c1", **WEALTH)
    lounge = partner_api("skyport", ["airport_lounge"])
    captured = redeem(lounge, pass_code(app_api, "c1"), capture=True)
    held = redeem(lounge, pass_code(app_api, "c1"))
    assert lounge.post(f"/partner/v1/redemptions/{held['id']}/cancel", json={}).status_code == 200
    lapsing = redeem(lounge, pass_code(app_api, "c1"))
    clock.advance(minutes=16)
    assert app.test_cli_runner().invoke(args=["redemptions", "lapse"]).exit_code == 0
    told = [(m["type"], m["data"]["redemption_id"], m["data"]["previous_status"]) for m in outbox(app)
            if m["type"].startswith("redemption.")]
    assert told == [("redemption.confirmed", captured["id"], "held"), ("redemption.cancelled", held["id"], "held"),
                    ("redemption.lapsed", lapsing["id"], "held")]
    lapsed = outbox(app, "redemption.lapsed")[0]["data"]
    assert lapsed == {"redemption_id": lapsing["id"], "customer_id": "c1", "partner_id": "skyport",
                      "benefit": "airport_lounge", "quantity": 1, "status": "lapsed", "previous_status": "held",
                      "changed_at": lapsing["hold_expires_at"], "rule": "lounge-wealth",
                      "rule_version": 1}


def test_notify_expiring_announces_each_lot_once_within_the_notice_days(app, app_api, clock):
    customer(app_api, "soon", **WEALTH)
    customer(app_api, "later", **WEALTH)
    soon = event(app_api, "soon", amount="2000.00")  # November 2026: expires at the end of November 2028
    clock.set(datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc))
    event(app_api, "later", amount="2000.00", occurred_at="2026-12-01T10:00:00+08:00")  # the end of December 2028
    clock.set(datetime(2028, 11, 5, 2, 0, tzinfo=timezone.utc))  # 26 days before the first expiry, 57 before the other
    first = app.test_cli_runner().invoke(args=["points", "notify-expiring"])
    again = app.test_cli_runner().invoke(args=["points", "notify-expiring"])
    assert (first.output, again.output) == ("announced 1 lots\n", "announced 0 lots\n")
    [told] = outbox(app, "points.expiring")
    assert told["customer_id"] == "soon" and told["data"]["points"] == soon["points"] > 0
    assert told["data"]["expires_at"] == "2028-11-30T16:00:00+00:00" and told["data"]["expiry_notice_days"] == 30


def test_the_notice_days_come_from_the_active_document(app, app_api, clock):
    customer(app_api, "c1", **WEALTH)
    event(app_api, "c1", amount="2000.00")
    activate_rules(app, rules_yaml().replace("expiry_months: 24", "expiry_months: 24\n  expiry_notice_days: 90"),
                   clock())
    clock.set(datetime(2028, 9, 5, 2, 0, tzinfo=timezone.utc))  # 86 days before the lot expires
    assert app.test_cli_runner().invoke(args=["points", "notify-expiring"]).output == "announced 1 lots\n"


def test_no_message_names_a_customer_or_carries_an_aum(app, app_api, admin_api, partner_api, clock):
    """Every type of message, each valid against its JSON Schema, none with a name or an amount of AUM."""
    customer(app_api, "c1", name="王小明", aum=123456.78, as_of="2026-08-01")
    customer(app_api, "c1", name="王小明", aum=234567.89, as_of="2026-11-10")
    customer(app_api, "c1", name="王小明", aum=987654.32, as_of="2026-11-20")
    customer(app_api, "c1", name="王小明", aum=12345.67, as_of="2026-11-21")
    customer(app_api, "c1", name="王小明", aum=987654.32, as_of="2026-11-22")
    lounge = partner_api("skyport", ["airport_lounge"])
    redeem(lounge, pass_code(app_api, "c1"), capture=True)
    held = redeem(lounge, pass_code(app_api, "c1"))
    lounge.post(f"/partner/v1/redemptions/{held['id']}/cancel", json={})
    redeem(lounge, pass_code(app_api, "c1"))
    event(app_api, "c1", amount="5000.00")
    activate_rules(app, rules_yaml(), clock())
    clock.set(datetime(2028, 11, 10, 2, 0, tzinfo=timezone.utc))
    app.test_cli_runner().invoke(args=["redemptions", "lapse"])
    app.test_cli_runner().invoke(args=["points", "notify-expiring"])
    messages = outbox(app)
    assert {m["type"] for m in messages} == set(MessageType)
    for message in messages:
        valid({"id": "msg_" + "0" * 32, "type": message["type"], "occurred_at": "2026-11-23T02:00:00+00:00",
               "data": message["data"]})
        text = str(message["data"])
        assert not {"name", "display_name", "aum", "annual_contribution"} & set(message["data"]), message
        assert "王小明" not in text and not any(aum in text for aum in ("123456", "234567", "987654", "12345.67"))


def test_an_endpoint_hears_only_its_types_and_only_what_is_written_after_it_subscribed(app, app_api, admin_api,
                                                                                      allow_private, clock):
    customer(app_api, "before", **WEALTH)
    hook = subscribe(admin_api, "http://127.0.0.1:9/never", types=["signal.raised", "tier.changed"])
    customer(app_api, "after", **WEALTH)
    activate_rules(app, rules_yaml(), clock())
    listed = admin_api.get(f"/admin/v1/webhooks/{hook['id']}/deliveries").get_json()["items"]
    assert [(item["type"], item["customer_id"], item["status"]) for item in listed] == [
        ("tier.changed", "after", "pending")]


def test_old_messages_are_pruned_once_every_active_endpoint_has_them(app, app_api, admin_api, allow_private, clock):
    receiver = Receiver()
    try:
        kept = subscribe(admin_api, receiver.url, types=["tier.changed"])
        gone = subscribe(admin_api, "http://127.0.0.1:9/gone", types=["tier.changed"])
        customer(app_api, "delivered", **WEALTH)
        customer(app_api, "waiting", **WEALTH)
        assert admin_api.delete(f"/admin/v1/webhooks/{gone['id']}").status_code == 204  # its copies wait for nobody
        receiver.answer(204, 500)
        deliver(app, concurrency=1)
        clock.advance(days=7)
        assert app.test_cli_runner().invoke(args=["outbox", "prune"]).output == "pruned 0 messages\n"  # too young
        clock.advance(seconds=1)
        assert app.test_cli_runner().invoke(args=["outbox", "prune"]).output == "pruned 2 messages\n"
    finally:
        receiver.close()
    assert [(m["type"], m["customer_id"]) for m in outbox(app)] == [("tier.changed", "waiting")]
    assert [item["customer_id"] for item in
            admin_api.get(f"/admin/v1/webhooks/{kept['id']}/deliveries").get_json()["items"]] == ["waiting"]


def test_a_redemption_confirmed_while_its_customer_changes_waits_so_its_message_comes_after(
        app, app_api, partner_api, clock):
    import threading

    customer(app_api, "c1", **WEALTH)
    lounge = partner_api("skyport", ["airport_lounge"])
    held = redeem(lounge, pass_code(app_api, "c1"))
    extension = app.extensions["benefits"]
    changing = extension.sessions()  # another writer: the customer falls below wealth, not yet committed
    with extension.programs.active(changing) as program:
        customers.upsert(changing, program, "c1", CustomerProfile("张三", 100000), actor=audit.SYSTEM, now=clock())
    answers = []
    confirming = threading.Thread(target=lambda: answers.append(
        lounge.post(f"/partner/v1/redemptions/{held['id']}/confirm").status_code))
    confirming.start()
    confirming.join(0.5)
    waited = confirming.is_alive()  # the confirmation waits for the customer's lock
    changing.commit()
    changing.close()
    confirming.join(30)
    assert waited and answers == [200]
    told = [m["type"] for m in outbox(app) if m["customer_id"] == "c1"]
    assert told[-2:] == ["tier.downgrade_scheduled", "redemption.confirmed"]  # in the order committed
