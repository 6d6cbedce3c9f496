"""Manual adjustments: proposed by one admin, approved by another (four eyes), then an `adjust` entry."""
import pytest

from conftest import Caller, make_key
from factories import activate_rules, customer, event, rules_yaml


@pytest.fixture
def rules(app, clock):
    return activate_rules(app, rules_yaml(), clock())


def propose(admin_api, points, customer_id="c1", reason="goodwill after a branch complaint"):
    response = admin_api.post(f"/admin/v1/customers/{customer_id}/adjustments", json={"points": points,
                                                                                      "reason": reason})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def approve(admin_api, adjustment, customer_id="c1"):
    return admin_api.post(f"/admin/v1/customers/{customer_id}/adjustments/{adjustment['id']}/approve", json={})


def balance(app_api, customer_id="c1") -> int:
    return app_api.get(f"/api/v1/customers/{customer_id}/points").get_json()["balance"]


def test_a_proposed_adjustment_changes_nothing_until_another_admin_approves_it(rules, app_api, admin_api,
                                                                               second_admin_api):
    customer(app_api, "c1")
    proposed = propose(admin_api, 500)
    assert (proposed["status"], proposed["author"], balance(app_api)) == ("pending", "alice", 0)
    approved = approve(second_admin_api, proposed)
    assert approved.status_code == 200
    assert (approved.get_json()["status"], approved.get_json()["approver"]) == ("approved", "bob")
    assert balance(app_api) == 500
    entry = app_api.get("/api/v1/customers/c1/ledger").get_json()["items"][0]
    assert (entry["kind"], entry["points"], entry["reference"]) == ("adjust", 500, f"adjustment:{proposed['id']}")


def test_the_author_cannot_approve_their_own_adjustment(rules, app_api, admin_api):
    customer(app_api, "c1")
    refused = approve(admin_api, propose(admin_api, 500))
    assert refused.status_code == 403 and refused.get_json()["reason"] == "four_eyes"
    assert balance(app_api) == 0


def test_another_key_of_the_authors_name_cannot_approve_the_adjustment(rules, app, client, app_api, admin_api):
    customer(app_api, "c1")
    proposed = propose(admin_api, 500)
    same_admin = Caller(client, make_key(app, "admin", "alice"))  # a second key of alice's: the same four eyes
    refused = approve(same_admin, proposed)
    assert refused.status_code == 403 and refused.get_json()["reason"] == "four_eyes"
    assert balance(app_api) == 0


def test_an_adjustment_is_approved_once(rules, app_api, admin_api, second_admin_api):
    customer(app_api, "c1")
    proposed = propose(admin_api, 500)
    assert approve(second_admin_api, proposed).status_code == 200
    assert approve(second_admin_api, proposed).status_code == 409
    assert balance(app_api) == 500


def test_proposal_approval_and_the_points_are_audited(rules, app_api, admin_api, second_admin_api):
    customer(app_api, "c1")
    approve(second_admin_api, propose(admin_api, -20))
    rows = admin_api.get("/admin/v1/audit").get_json()["items"]
    actions = [(row["action"], row["actor_name"]) for row in rows[:3]]
    assert actions == [("points.adjusted", "bob"), ("adjustment.approved", "bob"), ("adjustment.created", "alice")]
    assert rows[0]["after"]["points"] == -20 and rows[0]["after"]["reason"] == "goodwill after a branch complaint"


def test_a_negative_adjustment_beyond_the_balance_leaves_a_debt_that_earned_points_pay_first(
        rules, app_api, admin_api, second_admin_api):
    customer(app_api, "c1")
    event(app_api, "c1", amount="3000")  # 30 points
    approve(second_admin_api, propose(admin_api, -50))
    assert balance(app_api) == -20
    assert event(app_api, "c1", amount="5000")["balance"] == 30  # 50 earned: 20 pay the debt
    points = app_api.get("/api/v1/customers/c1/points").get_json()
    assert points["expiring"] == [{"points": 30, "expires_at": "2028-11-30T16:00:00+00:00"}]


def test_a_positive_adjustment_is_spendable_at_once_and_expires_like_points_earned_that_day(
        app, clock, app_api, admin_api, second_admin_api):
    activate_rules(app, rules_yaml(pending_days=7), clock())
    customer(app_api, "c1")
    approve(second_admin_api, propose(admin_api, 3000))
    points = app_api.get("/api/v1/customers/c1/points").get_json()
    assert (points["pending"], points["spendable"]) == (0, 3000)
    assert points["expiring"] == [{"points": 3000, "expires_at": "2028-11-30T16:00:00+00:00"}]
    assert app_api.post("/api/v1/customers/c1/rewards/extra-lounge/redeem", json={}).status_code == 201


def test_pending_adjustments_are_listed_for_the_approver(rules, app_api, admin_api, second_admin_api):
    customer(app_api, "c1")
    customer(app_api, "c2")
    first, second = propose(admin_api, 10), propose(admin_api, 20, "c2")
    approve(second_admin_api, first)
    pending = admin_api.get("/admin/v1/adjustments?status=pending").get_json()
    assert [item["id"] for item in pending["items"]] == [second["id"]]
    assert [item["id"] for item in admin_api.get("/admin/v1/adjustments?customer_id=c1").get_json()["items"]] == [
        first["id"]]


@pytest.mark.parametrize("body, path", [({"points": 0, "reason": "x"}, "json.points"),
                                        ({"points": 1.5, "reason": "x"}, "json.points"),
                                        ({"points": 10, "reason": ""}, "json.reason")])
def test_an_adjustment_of_no_points_or_without_a_reason_is_422(rules, app_api, admin_api, body, path):
    customer(app_api, "c1")
    response = admin_api.post("/admin/v1/customers/c1/adjustments", json=body)
    assert response.status_code == 422 and response.get_json()["errors"][0]["path"] == path


def test_an_adjustment_of_an_unknown_customer_or_of_another_customer_is_404(rules, app_api, admin_api,
                                                                            second_admin_api):
    customer(app_api, "c1")
    customer(app_api, "c2")
    assert admin_api.post("/admin/v1/customers/nobody/adjustments",
                          json={"points": 5, "reason": "x"}).status_code == 404
    assert approve(second_admin_api, propose(admin_api, 5), customer_id="c2").status_code == 404
