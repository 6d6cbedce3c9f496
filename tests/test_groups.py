"""Single events posted at the same moment are recorded in one unit of work (a group commit), each answered
as if it had come alone: its own answer, its own actor in the audit trail, its own Idempotency-Key."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from benefits import db
from benefits.api import context
from benefits.api.app.events import EventOut, record_posted
from benefits.api.context import Posted, _answer_group
from benefits.models import AuditRecord
from benefits.errors import EventConflict, IdempotencyConflict
from benefits.schemas.events import EventIn
from benefits.services import audit
from conftest import Caller, make_key
from factories import WEALTH, activate_rules, customer, rules_yaml

T = "2026-11-23T10:00:00+08:00"


def body(event_id: str, customer_id: str = "c1", amount: str = "1000.00") -> dict:
    return {"id": event_id, "customer_id": customer_id, "type": "transaction", "occurred_at": T, "amount": amount,
            "currency": "CNY", "category": "card_spend"}


def test_a_group_is_done_by_one_caller_in_one_unit_while_the_others_wait_for_the_next(app):
    started, release, units = threading.Event(), threading.Event(), []

    def do(session, items):
        units.append(list(items))
        if len(units) == 1:
            started.set()
            release.wait(5)  # the first group is under way: the others queue behind it
        return [item * 10 if item != 3 else ValueError("three") for item in items]

    group = db.Group(app.extensions["benefits"].sessions, do)
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(group.submit, 0)
        started.wait(5)
        others = [pool.submit(group.submit, n) for n in range(1, 6)]
        while len(group._queue) < 5:
            time.sleep(0.01)
        release.set()
        assert first.result() == 0
        answers = [f.exception() or f.result() for f in others]
    assert units == [[0], [1, 2, 3, 4, 5]]
    assert answers[:2] == [10, 20] and str(answers[2]) == "three" and answers[3:] == [40, 50]



def test_a_group_run_again_after_a_lost_race_does_the_same_items(app):
    calls = []

    def do(session, items):
        calls.append(list(items))
        if len(calls) == 1:
            pool.submit(group.submit, 1)
            while not group._queue:
                time.sleep(0.01)
            raise sa.exc.IntegrityError("INSERT ...", {}, Exception("a concurrent duplicate"))
        return [item * 10 for item in items]

    group = db.Group(app.extensions["benefits"].sessions, do)
    with ThreadPoolExecutor(2) as pool:
        assert group.submit(0) == 0
    assert calls == [[0], [0], [1]]


def recording(units: list):
    """A group's work that notes the items of each unit and answers each item itself."""
    def do(session, items):
        units.append(list(items))
        return list(items)
    return do


def test_under_load_a_group_waits_for_the_requests_under_way_and_begins_once_they_have_joined(app):
    units = []
    group = db.Group(app.extensions["benefits"].sessions, recording(units), under_way=lambda: 3, gather=60, busy=60)
    assert group.submit(0) == 0  # a group has just ended: the process is under load
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(group.submit, 1)
        while not (group._busy or first.done()):  # its caller waits for the others
            time.sleep(0.001)
        others = [pool.submit(group.submit, n) for n in (2, 3)]
        assert [future.result(timeout=30) for future in (first, *others)] == [1, 2, 3]
    assert units == [[0], [1, 2, 3]]


def test_under_load_a_group_waits_until_it_holds_as_many_as_the_last_one(app):
    units, release = [], threading.Event()

    def do(session, items):
        units.append(list(items))
        if len(units) == 1:
            release.wait(30)  # the others queue behind the first group: the second holds three
        return list(items)

    group = db.Group(app.extensions["benefits"].sessions, do, under_way=lambda: 1, gather=60, busy=60)
    with ThreadPoolExecutor(4) as pool:
        submitted = [pool.submit(group.submit, 0)]
        while not units:
            time.sleep(0.001)
        submitted += [pool.submit(group.submit, n) for n in (1, 2, 3)]
        while len(group._queue) < 3:
            time.sleep(0.001)
        release.set()
        assert [future.result(timeout=30) for future in submitted] == [0, 1, 2, 3]
        fourth = pool.submit(group.submit, 4)
        while not (group._busy or fourth.done()):
            time.sleep(0.001)
        others = [pool.submit(group.submit, n) for n in (5, 6)]
        assert [future.result(timeout=30) for future in (fourth, *others)] == [4, 5, 6]
    assert units == [[0], [1, 2, 3], [4, 5, 6]]


def test_a_caller_that_finds_its_process_idle_waits_for_no_one(app):
    units = []
    group = db.Group(app.extensions["benefits"].sessions, recording(units), under_way=lambda: 3, gather=60,
                     busy=0.05)
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(group.submit, 0).result(timeout=30) == 0  # the first group of all
        time.sleep(0.1)
        assert pool.submit(group.submit, 1).result(timeout=30) == 1  # long after the last group ended
    assert units == [[0], [1]]


def test_a_lone_caller_right_after_a_group_of_one_waits_for_no_one(app):
    units = []
    group = db.Group(app.extensions["benefits"].sessions, recording(units), gather=60, busy=60)
    with ThreadPoolExecutor(1) as pool:
        assert [pool.submit(group.submit, n).result(timeout=30) for n in range(3)] == [0, 1, 2]
    assert units == [[0], [1], [2]]


def test_a_group_waits_for_the_others_no_longer_than_its_gather_time(app):
    units = []
    group = db.Group(app.extensions["benefits"].sessions, recording(units), under_way=lambda: 3, gather=0.05,
                     busy=60)
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(group.submit, 0).result(timeout=30) == 0
        assert pool.submit(group.submit, 1).result(timeout=30) == 1  # no one else comes
    assert units == [[0], [1]]


def test_a_failure_while_a_group_gathers_fails_its_items_and_frees_the_group(app):
    units, counts = [], iter([3])
    group = db.Group(app.extensions["benefits"].sessions, recording(units), under_way=lambda: next(counts),
                     gather=60, busy=60)
    assert group.submit(0) == 0
    with ThreadPoolExecutor(2) as pool:
        failed = pool.submit(group.submit, 1)  # gathers: counts 3 under way
        while not (group._busy or failed.done()):
            time.sleep(0.001)
        second = pool.submit(group.submit, 2)  # joins; the count is asked again and fails
        assert isinstance(failed.exception(timeout=30), StopIteration)
        assert isinstance(second.exception(timeout=30), StopIteration)
    assert units == [[0]] and not group._busy


def test_a_request_is_under_way_from_its_start_to_its_end_whatever_its_answer(client, app_api, monkeypatch):
    before, seen, check_key = context.UNDER_WAY.count(), [], context.authenticate

    def counted_then_checked():
        seen.append(context.UNDER_WAY.count())
        check_key()

    monkeypatch.setattr(context, "authenticate", counted_then_checked)
    assert client.get("/api/v1/customers/c1").status_code == 401  # refused by the key's check
    assert app_api.get("/api/v1/customers/nobody").status_code == 404
    assert seen == [before + 1, before + 1]
    assert context.UNDER_WAY.count() == before


def test_events_posted_at_once_are_each_answered_as_alone_with_their_own_actor(app, client, app_api, clock):
    activate_rules(app, rules_yaml(), clock())
    for n in range(4):
        customer(app_api, f"c{n}", **WEALTH)
    callers = [Caller(client, make_key(app, "app", f"caller-{n}")) for n in range(4)]

    def post(n: int):
        return callers[n % 4].post("/api/v1/events", json=body(f"e{n}", f"c{n % 4}"))

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(post, range(40)))
    assert [r.status_code for r in responses] == [201] * 40
    assert {r.get_json()["id"] for r in responses} == {f"e{n}" for n in range(40)}
    for n in range(4):  # each event answers its customer's balance right after it, whatever order they went in
        assert sorted(r.get_json()["balance"] for r in responses[n::4]) == [11 * k for k in range(1, 11)]
    with app.extensions["benefits"].engine.connect() as connection:
        earned_by = {after["event_id"]: actor for after, actor in connection.execute(
            sa.select(AuditRecord.after, AuditRecord.actor_name).where(AuditRecord.action == "points.earned"))}
    assert earned_by == {f"e{n}": f"caller-{n % 4}" for n in range(40)}


def post_alone(app, posted: list[Posted]) -> list:
    extension = app.extensions["benefits"]
    return db.run(extension.sessions, lambda session: _answer_group(extension, record_posted, EventOut().dump,
                                                                     session, posted))


def idempotent(key: str, digest: str, key_id: int = 1) -> context.Idempotent:
    return context.Idempotent(key_id, "POST /api/v1/events", key, digest)


def test_two_requests_of_one_group_with_one_idempotency_key_answer_alike(app, app_api, clock):
    activate_rules(app, rules_yaml(), clock())
    customer(app_api, "c1", **WEALTH)
    event = EventIn().load(body("e1"))
    outcomes = post_alone(app, [Posted(event, audit.SYSTEM, idempotent("k", "d1")),
                                Posted(event, audit.SYSTEM, idempotent("k", "d1")),
                                Posted(event, audit.SYSTEM, idempotent("k", "d2"))])
    assert outcomes[0][1] == 201
    assert isinstance(outcomes[1], context.Replayed) and (outcomes[1].status, outcomes[1].body) == (
        201, outcomes[0][0])
    assert isinstance(outcomes[2], IdempotencyConflict)
    [again] = post_alone(app, [Posted(event, audit.SYSTEM, idempotent("k", "d1"))])
    assert (again.status, again.body) == (201, outcomes[0][0])


def test_a_conflicting_event_is_refused_alone_and_its_refusal_kept_for_its_idempotency_key(app, app_api, clock):
    activate_rules(app, rules_yaml(), clock())
    customer(app_api, "c1", **WEALTH)
    first, other = EventIn().load(body("e1")), EventIn().load(body("e1", amount="5.00"))
    outcomes = post_alone(app, [Posted(first, audit.SYSTEM, None), Posted(other, audit.SYSTEM, idempotent("k", "d"))])
    assert outcomes[0][1] == 201 and isinstance(outcomes[1], EventConflict)
    [again] = post_alone(app, [Posted(other, audit.SYSTEM, idempotent("k", "d"))])
    assert again.status == 409 and again.body["reason"] == "event_conflict"


def test_an_idempotency_key_replays_a_single_event_s_first_answer_over_http(app, app_api, clock):
    activate_rules(app, rules_yaml(), clock())
    customer(app_api, "c1", **WEALTH)
    headers = {"Idempotency-Key": "retry-1"}
    first = app_api.post("/api/v1/events", json=body("e1"), headers=headers)
    again = app_api.post("/api/v1/events", json=body("e1"), headers=headers)
    assert (first.status_code, again.status_code) == (201, 201) and first.get_json() == again.get_json()
    other = app_api.post("/api/v1/events", json=body("e2"), headers=headers)
    assert other.status_code == 409 and other.get_json()["reason"] == "idempotency_conflict"
    without = app_api.post("/api/v1/events", json=body("e1"))
    assert without.status_code == 200 and without.get_json() == first.get_json()


def test_holds_of_one_group_see_each_other_so_the_last_unit_goes_once(app, app_api, partner_api, clock):
    from benefits.api.partner.redemptions import RESPONSE, hold_posted
    from benefits.services import partners
    from benefits.services.redemptions import HoldRequest
    from factories import pass_code

    activate_rules(app, rules_yaml(), clock())
    customer(app_api, "c1", **WEALTH)
    partner_api("desk", ["airport_lounge"])
    code = pass_code(app_api, "c1")
    extension = app.extensions["benefits"]
    with extension.sessions() as session:
        desk = partners.get(session, "desk")
    wanted = [HoldRequest(code, "airport_lounge", quantity=3, capture=True),
              HoldRequest("NOSUCH-CODE", "airport_lounge"),
              HoldRequest(code, "airport_lounge", quantity=2, capture=True)]  # 4 a year: 3 taken, 1 left
    with app.app_context():  # a redemption's answer names the customer by the partner's pseudonym
        outcomes = db.run(extension.sessions, lambda session: _answer_group(
            extension, hold_posted, RESPONSE.dump, session,
            [Posted((desk, request, 1), audit.SYSTEM, None) for request in wanted]))
    assert outcomes[0][1] == 201 and outcomes[0][0].status == "confirmed"
    assert [type(o).__name__ for o in outcomes[1:]] == ["PassNotFound", "QuotaExhausted"]
    assert app_api.get("/api/v1/customers/c1/entitlements").get_json()["items"][0]["used"] == 3
    with extension.engine.connect() as connection:  # the failed look-up was counted with the group's commit
        assert connection.execute(sa.text("SELECT count(*) FROM failed_attempts")).scalar_one() == 1
