"""Small factories: a customer, an event, a rule version, in one line each."""
import itertools
from datetime import datetime

from benefits.services import audit, rule_versions

_ids = itertools.count(1)

TEST_RULES = """\
schema: benefits/v1
program: test
timezone: Asia/Shanghai
currency: CNY
catalog:
  airport_lounge: {name: Airport lounge, category: travel}
  medical_green_channel: {name: Green channel, category: health}
tiers:
  - {id: private, name: Private banking, when: {aum: {gte: 6000000}}}
  - id: wealth
    name: Wealth
    when: {any: [{aum: {gte: 500000}}, {annual_contribution: {gte: 200000}}]}
  - {id: mass, name: Mass}
tier_policy:
  downgrade_grace_days: %(grace)s
points:
  expiry_months: 24
  pending_days: %(pending_days)s
earning:
  - id: card-spend
    on: transaction
    when: {category: {eq: card_spend}}
    rate: {points: 1, per_amount: 100}
    multiplier: {private: 2, wealth: 1.15}
    cap: {points: 1000, per: day}
  - id: course
    on: learning
    when: {activity: {eq: course_completed}}
    points: 50
    cap: {points: 100, per: day}
benefits:
  - id: lounge-wealth
    benefit: airport_lounge
    when: {tier: {in: [wealth, private]}}
    quota: {count: 4, per: year}
  - id: green-channel-private
    benefit: medical_green_channel
    when: {tier: {eq: private}}
    quota: {unlimited: true}
rewards:
  - id: extra-lounge
    benefit: airport_lounge
    cost: 3000
signals:
  - id: wealth-cultivation
    when: {all: [{tier: {eq: mass}}, {aum_growth_3m: {gt: 0.2}}]}
"""


def rules_yaml(grace: int = 90, pending_days: int = 0) -> str:
    return TEST_RULES % {"grace": grace, "pending_days": pending_days}


def activate_rules(app, source: str, now: datetime) -> int:
    """Create, approve and activate a version as ``system``; returns its number."""
    with app.extensions["benefits"].sessions() as session:
        version = rule_versions.create(session, source.encode(), "yaml", actor=audit.SYSTEM, now=now)
        rule_versions.approve(session, version.id, actor=audit.SYSTEM, now=now)
        rule_versions.activate(session, version.id, actor=audit.SYSTEM, now=now)
        session.commit()
        return version.id


def customer(api, customer_id=None, *, expect=(200, 201), **fields) -> dict:
    customer_id = customer_id or f"c{next(_ids)}"
    body = {"name": "张三", "aum": 100000, "annual_contribution": 0, "tags": []} | fields
    response = api.put(f"/api/v1/customers/{customer_id}", json=body)
    assert response.status_code in expect, response.get_json()
    return {"id": customer_id, **response.get_json()}


def event(api, customer_id, *, expect=(201,), **fields) -> dict:
    body = {"id": f"e{next(_ids)}", "customer_id": customer_id, "type": "transaction",
            "occurred_at": "2026-11-23T10:00:00+08:00", "amount": "1000.00", "currency": "CNY",
            "category": "card_spend"} | fields
    response = api.post("/api/v1/events", json=body)
    assert response.status_code in expect, response.get_json()
    return response.get_json()


def learning(api, customer_id, **fields) -> dict:
    return event(api, customer_id, **({"type": "learning", "activity": "course_completed", "amount": None,
                                       "category": None, "currency": None} | fields))


PRIVATE = {"aum": 8000000}
WEALTH = {"aum": 900000}
MASS = {"aum": 50000}


def pass_code(api, customer_id, *, expect=201, **fields) -> str:
    response = api.post(f"/api/v1/customers/{customer_id}/passes", json=fields)
    assert response.status_code == expect, response.get_json()
    return response.get_json()["code"]


def redeem(partner, code, benefit="airport_lounge", *, expect=(201,), **fields):
    response = partner.post("/partner/v1/redemptions", json={"pass_code": code, "benefit": benefit} | fields)
    assert response.status_code in expect, response.get_json()
    return response.get_json()


def entitlement(api, customer_id, benefit="airport_lounge", source="rule") -> dict:
    response = api.get(f"/api/v1/customers/{customer_id}/entitlements")
    assert response.status_code == 200, response.get_json()
    return next(item for item in response.get_json()["items"] if item["benefit"] == benefit
                and item["source"] == source)
