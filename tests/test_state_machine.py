"""A property-based state machine over the service: random sequences of what its users do.

Customer upserts, events, replays, refunds, reward purchases, holds, confirms,
cancels, lapses (the clock moves), expiry runs and rule activations, through
the HTTP API; after every step: balance == ledger sum, no lot spent beyond its
size, confirmed + held ≤ quota for every entitlement, every points change and
redemption has its audit row, and the audit chain verifies.
"""
import itertools
from datetime import timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, invariant, rule

from conftest import Caller, Clock, check_invariants, make_key
from benefits import create_app
from factories import activate_rules, rules_yaml

_run = itertools.count(1)
CATEGORIES = st.sampled_from(["card_spend", "wealth_product", "fund", "insurance", "deposit"])
ACTIVITIES = st.sampled_from(["course_completed", "quiz_passed", "lecture_attended"])
AUMS = st.sampled_from([50_000, 600_000, 7_000_000])


def machine_for(database_url: str):
    class Service(RuleBasedStateMachine):
        customers = Bundle("customers")
        events = Bundle("events")
        holds = Bundle("holds")

        def __init__(self):
            super().__init__()
            self.clock = Clock()
            self.app = create_app(DATABASE_URL=database_url, RULES_REFRESH_SECONDS=0, CLOCK=self.clock,
                                  TESTING=True)
            client = self.app.test_client()
            self.api = Caller(client, make_key(self.app, "app", "app"))
            self.admin = Caller(client, make_key(self.app, "admin", "admin"))
            self.prefix = f"r{next(_run)}"
            self.ids = itertools.count(1)
            self.bodies = {}
            partner = f"{self.prefix}-desk"
            self.admin.post("/admin/v1/partners", json={"id": partner, "name": "Desk", "kind": "other",
                                                        "benefits": ["airport_lounge", "medical_green_channel"]})
            self.partner = Caller(client, self.admin.post(f"/admin/v1/partners/{partner}/keys", json={})
                                  .get_json()["key"])

        def teardown(self):
            self.app.extensions["benefits"].engine.dispose()

        def new_id(self, kind: str) -> str:
            return f"{self.prefix}-{kind}{next(self.ids)}"

        def ok(self, response, *allowed):
            assert response.status_code < 500, response.get_data(as_text=True)
            assert response.status_code in allowed, (response.status_code, response.get_json())
            return response.get_json()

        @initialize(target=customers, aum=AUMS)
        def first_customer(self, aum):
            return self.upsert_new(aum)

        @rule(target=customers, aum=AUMS)
        def upsert_new(self, aum):
            customer_id = self.new_id("c")
            self.ok(self.api.put(f"/api/v1/customers/{customer_id}", json={"name": "张三", "aum": aum}), 201)
            return customer_id

        @rule(customer_id=customers, aum=AUMS)
        def upsert_again(self, customer_id, aum):
            as_of = self.clock().date().isoformat()
            self.ok(self.api.put(f"/api/v1/customers/{customer_id}", json={"name": "张三", "aum": aum,
                                                                            "as_of": as_of}), 200)

        @rule(target=events, customer_id=customers, category=CATEGORIES,
              amount=st.integers(min_value=1, max_value=2_000_000))
        def transaction(self, customer_id, category, amount):
            body = {"id": self.new_id("e"), "customer_id": customer_id, "type": "transaction",
                    "occurred_at": self.clock().isoformat(), "amount": str(amount), "category": category}
            self.bodies[body["id"]] = (body, self.ok(self.api.post("/api/v1/events", json=body), 201))
            return body["id"]

        @rule(customer_id=customers, activity=ACTIVITIES)
        def learning(self, customer_id, activity):
            body = {"id": self.new_id("l"), "customer_id": customer_id, "type": "learning",
                    "occurred_at": self.clock().isoformat(), "activity": activity}
            self.ok(self.api.post("/api/v1/events", json=body), 201)

        @rule(event_id=events)
        def replay(self, event_id):
            body, first = self.bodies[event_id]
            assert self.ok(self.api.post("/api/v1/events", json=body), 200) == first

        @rule(event_id=events, share=st.sampled_from([None, 0.25, 0.5]))
        def refund(self, event_id, share):
            body, _ = self.bodies[event_id]
            amount = None if share is None else str(max(1, int(int(body["amount"]) * share)))
            self.ok(self.api.post(f"/api/v1/events/{event_id}/reversal",
                                  json={} if amount is None else {"amount": amount}), 201, 422)

        @rule(customer_id=customers, reward=st.sampled_from(["extra-lounge", "advisory-hour", "health-check"]))
        def buy_reward(self, customer_id, reward):
            self.ok(self.api.post(f"/api/v1/customers/{customer_id}/rewards/{reward}/redeem"), 201, 404, 409)

        @rule(target=holds, customer_id=customers, capture=st.booleans(), quantity=st.integers(1, 5),
              benefit=st.sampled_from(["airport_lounge", "medical_green_channel"]))
        def hold(self, customer_id, capture, quantity, benefit):
            code = self.ok(self.api.post(f"/api/v1/customers/{customer_id}/passes", json={}), 201)["code"]
            answer = self.ok(self.partner.post("/partner/v1/redemptions", json={
                "pass_code": code, "benefit": benefit, "quantity": quantity, "capture": capture}), 201, 409)
            return answer.get("id", 0)

        @rule(redemption_id=holds)
        def confirm(self, redemption_id):
            self.ok(self.partner.post(f"/partner/v1/redemptions/{redemption_id}/confirm"), 200, 404, 409)

        @rule(redemption_id=consumes(holds))
        def cancel(self, redemption_id):
            self.ok(self.partner.post(f"/partner/v1/redemptions/{redemption_id}/cancel"), 200, 404, 409)

        @rule(minutes=st.sampled_from([1, 16, 60 * 24 * 8]))
        def time_passes(self, minutes):
            self.clock.advance(minutes=minutes)

        @rule()
        def expiry_run(self):
            self.clock.advance(days=800)
            result = self.app.test_cli_runner().invoke(args=["points", "expire"])
            assert result.exit_code == 0, result.output
            self.app.test_cli_runner().invoke(args=["redemptions", "lapse"])

        @rule(grace=st.sampled_from([0, 30]), pending=st.sampled_from([0, 3]))
        def activate_other_rules(self, grace, pending):
            activate_rules(self.app, rules_yaml(grace, pending), self.clock())

        @invariant()
        def ledger_and_audit_hold(self):
            engine = self.app.extensions["benefits"].engine
            check_invariants(engine)
            with engine.connect() as connection:
                entries = connection.execute(sa.text("SELECT count(*) FROM ledger_entries")).scalar_one()
                audited = connection.execute(sa.text(
                    "SELECT count(*) FROM audit_log WHERE action LIKE 'points.%'")).scalar_one()
                redemptions = connection.execute(sa.text("SELECT count(*) FROM redemptions")).scalar_one()
                held = connection.execute(sa.text(
                    "SELECT count(*) FROM audit_log WHERE action = 'redemption.held'")).scalar_one()
            assert entries == audited
            assert redemptions == held

        @invariant()
        def quotas_hold(self):
            with self.app.extensions["benefits"].engine.connect() as connection:
                ids = connection.execute(sa.text("SELECT id FROM customers WHERE id LIKE :p"),
                                         {"p": f"{self.prefix}-%"}).scalars().all()
            for customer_id in ids:
                for item in self.ok(self.api.get(f"/api/v1/customers/{customer_id}/entitlements"), 200)["items"]:
                    if item["quota"] is not None:
                        assert 0 <= item["used"] + item["held"] <= item["quota"], item

    return Service


def test_random_sequences_of_operations_keep_every_invariant(app, database_url):
    """One shared database per backend; each example works on customers of its own."""
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(machine_for(database_url), settings=settings(
        max_examples=15, stateful_step_count=30, deadline=None, derandomize=True,
        suppress_health_check=list(HealthCheck)))
