"""Delivery to a real HTTP receiver on loopback: signed, at least once, retried, in order per customer, by
several workers, through a worker killed mid-call, across a rotation of the secret.

The tests' clock is set to the real time: receivers check the signatures' timestamps (the standardwebhooks
library refuses one more than five minutes off). Retries are made due by moving the clock on; the worker
runs once (everything due now) or, where it matters, as a real `benefits outbox run` process.
"""
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from conftest import ENCRYPTION_KEY
from factories import PRIVATE, WEALTH, customer, pass_code, redeem
from receivers import FAST, Receiver, deliver, deliveries, outbox, subscribe, verified, worker, written

ALL = ["tier.changed", "tier.downgrade_scheduled", "tier.downgrade_cancelled", "signal.raised", "signal.cleared",
       "points.expiring", "redemption.confirmed", "redemption.cancelled", "redemption.lapsed",
       "rule_version.activated"]
TIERS = ["tier.changed", "tier.downgrade_scheduled", "tier.downgrade_cancelled"]


@pytest.fixture
def now(clock):
    return clock.set(datetime.now(timezone.utc).replace(microsecond=0))


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def back_and_forth(app_api, customer_id: str, times: int = 2) -> None:
    """A wealth customer who falls below the tier and comes back ``times`` times: 1 + 2 × times messages."""
    customer(app_api, customer_id, aum=900000)
    for _ in range(times):
        customer(app_api, customer_id, aum=100000)
        customer(app_api, customer_id, aum=900000)


def test_every_message_arrives_signed_and_as_its_schema_says(app, app_api, admin_api, partner_api, receiver, now,
                                                             allow_private):
    hook = subscribe(admin_api, receiver.url, types=ALL)
    customer(app_api, "c1", **WEALTH)
    customer(app_api, "c2", **PRIVATE)
    redeem(partner_api("skyport", ["airport_lounge"]), pass_code(app_api, "c2"), capture=True)
    assert deliver(app)["delivered"] == 3
    assert [item["status"] for item in deliveries(admin_api, hook["id"])] == ["delivered"] * 3
    assert hook["secret"].startswith("whsec_")
    messages = [verified(call, hook["secret"]) for call in receiver.calls]
    assert sorted(m["type"] for m in messages) == ["redemption.confirmed", "tier.changed", "tier.changed"]
    assert all(call.headers["Content-Type"] == "application/json" and call.path == "/hooks" for call in receiver.calls)
    assert {m["id"] for m in messages} == {item["message_id"] for item in deliveries(admin_api, hook["id"])}


def test_a_failing_endpoint_gets_the_same_message_id_on_every_attempt_until_it_recovers(
        app, app_api, admin_api, receiver, clock, now, allow_private):
    hook = subscribe(admin_api, receiver.url)
    customer(app_api, "c1", **WEALTH)
    receiver.answer(500, 503, ("sleep", 1.0))  # the third attempt gets no answer within the timeout
    for attempt, (wait, answered) in enumerate(zip(FAST, (500, 503, None)), 1):
        started = time.monotonic()
        deliver(app, timeout=0.3)
        assert time.monotonic() - started < 1.0  # the receiver that sleeps is not waited for
        [item] = deliveries(admin_api, hook["id"])
        assert (item["status"], item["attempts"], item["last_response_code"]) == ("pending", attempt, answered)
        due = datetime.fromisoformat(item["next_attempt_at"]) - clock()
        assert wait <= due.total_seconds() <= wait * 1.1  # the schedule's wait plus 0-10% jitter
        clock.advance(seconds=wait * 1.1)
    assert item["last_error"] == "no answer within 0.3 s"
    assert deliver(app)["delivered"] == 1
    [item] = deliveries(admin_api, hook["id"])
    assert (item["status"], item["attempts"], item["last_response_code"]) == ("delivered", 4, 204)
    assert [call.headers["webhook-id"] for call in receiver.calls] == [item["message_id"]] * 4
    assert all(verified(call, hook["secret"])["id"] == item["message_id"] for call in receiver.calls)


def test_retry_after_is_waited_when_longer_than_the_schedule_and_never_longer_than_a_day(
        app, app_api, admin_api, receiver, clock, now, allow_private):
    hook = subscribe(admin_api, receiver.url)
    customer(app_api, "c1", **WEALTH)
    receiver.answer((503, {"Retry-After": "120"}), (429, {"Retry-After": "999999"}))
    deliver(app)
    [item] = deliveries(admin_api, hook["id"])
    assert datetime.fromisoformat(item["next_attempt_at"]) == clock() + timedelta(seconds=120)
    clock.advance(seconds=120)
    deliver(app)
    [item] = deliveries(admin_api, hook["id"])
    assert datetime.fromisoformat(item["next_attempt_at"]) == clock() + timedelta(hours=24)


def test_after_the_last_attempt_a_message_fails_and_holds_its_stream_while_other_customers_flow(
        app, app_api, admin_api, receiver, clock, now, allow_private):
    hook = subscribe(admin_api, receiver.url, types=TIERS)
    back_and_forth(app_api, "stuck", times=1)
    back_and_forth(app_api, "flowing", times=1)
    broken = threading.Event()
    broken.set()
    receiver.rule = lambda message: 500 if broken.is_set() and message["data"]["customer_id"] == "stuck" else None
    for _ in range(len(FAST) + 1):
        deliver(app)
        clock.advance(seconds=1)
    stuck = [(item["status"], item["attempts"]) for item in reversed(deliveries(admin_api, hook["id"]))
             if item["customer_id"] == "stuck"]
    assert stuck == [("failed", 4), ("pending", 0), ("pending", 0)]
    assert [item["status"] for item in deliveries(admin_api, hook["id"]) if item["customer_id"] == "flowing"] == \
        ["delivered"] * 3
    assert deliver(app)["delivered"] == 0  # a failed message holds its stream until an admin acts
    broken.clear()
    first = [item for item in deliveries(admin_api, hook["id"]) if item["status"] == "failed"][0]
    response = admin_api.post(f"/admin/v1/webhooks/{hook['id']}/deliveries/{first['message_id']}/retry")
    assert response.status_code == 200 and response.get_json()["status"] == "pending"
    assert deliver(app)["delivered"] == 3
    arrived = [call.message for call in receiver.calls if call.message["data"]["customer_id"] == "stuck"]
    written = [m["data"] for m in outbox(app) if m["customer_id"] == "stuck"]
    assert [m["data"] for m in arrived[len(FAST) + 1:]] == written  # in the order written, after the retry


def test_skipping_a_failed_message_lets_the_rest_of_its_stream_go_on(app, app_api, admin_api, receiver, now,
                                                                      allow_private):
    hook = subscribe(admin_api, receiver.url, types=TIERS)
    back_and_forth(app_api, "c1", times=1)
    receiver.answer(500)
    deliver(app, schedule=())  # no retries: the first failure is the last
    failed = [item for item in deliveries(admin_api, hook["id"]) if item["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["type"] == "tier.changed"
    response = admin_api.post(f"/admin/v1/webhooks/{hook['id']}/deliveries/{failed[0]['message_id']}/skip")
    assert response.status_code == 200 and response.get_json()["status"] == "skipped"
    assert deliver(app)["delivered"] == 2
    assert [call.message["type"] for call in receiver.calls] == ["tier.changed", "tier.downgrade_scheduled",
                                                                 "tier.downgrade_cancelled"]


def test_410_gone_disables_the_endpoint_and_nothing_more_is_sent_to_it(app, app_api, admin_api, receiver, now,
                                                                       allow_private):
    hook = subscribe(admin_api, receiver.url)
    customer(app_api, "c1", **WEALTH)
    receiver.answer(410)
    deliver(app)
    customer(app_api, "c2", **WEALTH)
    deliver(app)
    assert len(receiver.calls) == 1
    [listed] = admin_api.get("/admin/v1/webhooks").get_json()["items"]
    assert listed["status"] == "disabled" and listed["disabled_at"] is not None
    first = deliveries(admin_api, hook["id"])[-1]
    assert (first["status"], first["last_response_code"]) == ("failed", 410)
    audit = admin_api.get(f"/admin/v1/audit?action=webhook.disabled&subject={hook['id']}").get_json()["items"]
    assert len(audit) == 1 and audit[0]["actor_name"] == "system"


def test_a_redirect_is_not_followed(app, app_api, admin_api, receiver, now, allow_private):
    elsewhere = Receiver()
    try:
        hook = subscribe(admin_api, receiver.url)
        customer(app_api, "c1", **WEALTH)
        receiver.answer((307, {"Location": elsewhere.url}))
        deliver(app)
    finally:
        elsewhere.close()
    assert elsewhere.calls == []
    [item] = deliveries(admin_api, hook["id"])
    assert (item["status"], item["last_response_code"]) == ("pending", 307)


def test_two_workers_deliver_each_customer_s_messages_in_the_order_written(app, app_api, admin_api, receiver, now,
                                                                           allow_private):
    subscribe(admin_api, receiver.url, types=TIERS)
    for number in range(4):
        back_and_forth(app_api, f"c{number}", times=2)
    receiver.rule = lambda message: ("sleep", 0.002 * (int(message["id"][-2:], 16) % 10))
    workers = [worker(app, concurrency=3), worker(app, concurrency=3)]
    threads = [threading.Thread(target=w.run, kwargs={"once": True}) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(w.counts["delivered"] for w in workers) == 20
    for number in range(4):
        arrived = [call.message["id"] for call in receiver.calls if call.message["data"]["customer_id"] == f"c{number}"]
        assert list(dict.fromkeys(arrived)) == [m["id"] for m in written(app) if m["customer_id"] == f"c{number}"]


def test_a_worker_killed_mid_call_loses_nothing(app, app_api, admin_api, receiver, database_url, clock, now,
                                                allow_private):
    hook = subscribe(admin_api, receiver.url, types=TIERS)
    back_and_forth(app_api, "c1", times=1)
    held = threading.Event()
    receiver.answer(("hold", held))
    env = {name: value for name, value in os.environ.items() if not name.startswith("BENEFITS_")} | {
        "BENEFITS_DATABASE_URL": database_url, "BENEFITS_ENCRYPTION_KEYS": ENCRYPTION_KEY,
        "BENEFITS_WEBHOOK_ALLOW_PRIVATE": "1", "BENEFITS_WEBHOOK_RETRY_SCHEDULE": "0.2"}
    process = subprocess.Popen([str(Path(sys.executable).parent / "benefits"), "outbox", "run"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        receiver.wait_for(1, timeout=30)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        held.set()
    [first, *_] = reversed(deliveries(admin_api, hook["id"]))
    assert (first["status"], first["attempts"]) == ("pending", 1)  # leased when the worker died
    clock.set(datetime.now(timezone.utc) + timedelta(seconds=61))  # its lease has run out
    assert deliver(app)["delivered"] == 3
    ids = [call.headers["webhook-id"] for call in receiver.calls]
    assert ids[0] == ids[1] == first["message_id"] and len(ids) == 4
    assert [call.message["type"] for call in receiver.calls[1:]] == TIERS


def test_a_rotated_secret_signs_beside_the_new_one_for_24_hours(app, app_api, admin_api, receiver, clock, now,
                                                                allow_private):
    hook = subscribe(admin_api, receiver.url)
    rotated = admin_api.post(f"/admin/v1/webhooks/{hook['id']}/rotate-secret").get_json()
    assert rotated["secret"] != hook["secret"]
    assert datetime.fromisoformat(rotated["previous_secret_expires_at"]) == clock() + timedelta(hours=24)
    customer(app_api, "c1", **WEALTH)
    deliver(app)
    [during] = receiver.calls
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert verified(during, hook["secret"]) == verified(during, rotated["secret"])
    clock.advance(hours=24)
    customer(app_api, "c2", **WEALTH)
    deliver(app)
    after = receiver.calls[1]
    signed_at = datetime.fromtimestamp(int(after.headers["webhook-timestamp"]), timezone.utc)
    signatures = after.headers["webhook-signature"].split(" ")
    assert signatures == [Webhook(rotated["secret"]).sign(after.headers["webhook-id"], signed_at, after.body)]
    assert Webhook(hook["secret"]).sign(after.headers["webhook-id"], signed_at, after.body) not in signatures


def test_a_name_that_resolves_to_loopback_is_refused_when_connecting(app, app_api, admin_api, receiver, now):
    port = receiver.url.split(":")[2].split("/")[0]
    hook = subscribe(admin_api, f"https://127.1:{port}/hooks")  # a name for the URL check, 127.0.0.1 once resolved
    customer(app_api, "c1", **WEALTH)
    deliver(app, allow_private=False)
    assert receiver.calls == []
    [item] = deliveries(admin_api, hook["id"])
    assert item["status"] == "pending" and "127.0.0.1 is loopback" in item["last_error"]


def test_the_worker_command_delivers_what_is_due_and_exits_0_whatever_the_answers(app, app_api, admin_api, receiver,
                                                                                  now, allow_private):
    subscribe(admin_api, receiver.url)
    customer(app_api, "c1", **WEALTH)
    customer(app_api, "c2", **WEALTH)
    receiver.rule = lambda message: 500 if message["data"]["customer_id"] == "c2" else None
    result = app.test_cli_runner().invoke(args=["outbox", "run", "--once"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("delivered 1, retrying 1, failed 0")


def test_an_answer_after_an_admin_retried_the_message_is_not_recorded(app, app_api, admin_api, now):
    from benefits import db
    from benefits.services import webhooks

    hook = subscribe(admin_api, "https://crm.bank.example/hooks")
    customer(app_api, "c1", **WEALTH)
    extension = app.extensions["benefits"]
    [claimed] = db.run(extension.sessions, lambda s: webhooks.claim(s, extension.encryption, now=now, due_by=now,
                                                                      limit=10))
    [item] = deliveries(admin_api, hook["id"])
    assert admin_api.post(f"/admin/v1/webhooks/{hook['id']}/deliveries/{item['message_id']}/retry").status_code == 200
    statuses = db.run(extension.sessions, lambda s: webhooks.settle(s, [(claimed, webhooks.Answer(200))],
                                                                      schedule=FAST, now=now))
    assert statuses == [None]  # the lease was lost: the call's 200 is not taken as delivered
    [after] = deliveries(admin_api, hook["id"])
    assert (after["status"], after["attempts"]) == ("pending", 0)
