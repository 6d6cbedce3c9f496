"""The audit trail: a row per change, chained by hash, tampering detected."""
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from sqlalchemy.orm import Session

from benefits.db import is_sqlite
from benefits.models import AuditRecord
from benefits.services import audit

from conftest import BACKENDS
from factories import customer, event


def verify(admin_api):
    response = admin_api.get("/admin/v1/audit/verify")
    assert response.status_code == 200
    return response.get_json()


def tamper(app, statement):
    """Change the audit table behind the service's back (on PostgreSQL the trigger must be bypassed)."""
    engine = app.extensions["benefits"].engine
    with engine.begin() as connection:
        if not is_sqlite(engine):
            connection.execute(sa.text("SET LOCAL session_replication_role = replica"))
        connection.execute(sa.text(statement))


@pytest.fixture
def history(app_api):
    customer(app_api, "c1", aum=700000)
    event(app_api, "c1", id="tx-1", amount="1000")
    event(app_api, "c1", id="tx-2", amount="2000")


def test_every_change_writes_an_audit_row_with_its_actor(history, admin_api):
    rows = admin_api.get("/admin/v1/audit?subject=c1").get_json()["items"]
    assert [r["action"] for r in rows] == [
        "points.earned", "points.earned", "customer.upserted", "tier.changed"]
    assert {r["actor_name"] for r in rows} == {"app-backend"}
    assert all(r["subject_type"] == "customer" and r["request_id"] for r in rows)


def test_rule_bootstrap_is_audited_as_system(app, admin_api):
    rows = admin_api.get("/admin/v1/audit?action=rule_version.").get_json()["items"]
    assert [(r["action"], r["actor_type"]) for r in rows] == [
        ("rule_version.activated", "system"), ("rule_version.approved", "system"),
        ("rule_version.created", "system")]


def test_audit_filters_by_action_prefix_actor_and_time(history, admin_api, clock):
    earned = admin_api.get("/admin/v1/audit?action=points.").get_json()["items"]
    assert len(earned) == 2
    by_actor = admin_api.get("/admin/v1/audit?actor=system").get_json()["items"]
    assert {r["actor_name"] for r in by_actor} == {"system"}
    since = clock().isoformat()
    assert admin_api.get("/admin/v1/audit", query_string={"since": since}).get_json()["items"]
    assert admin_api.get("/admin/v1/audit", query_string={"until": since}).get_json()["items"] == []


def test_audit_is_paged_newest_first(history, admin_api):
    first = admin_api.get("/admin/v1/audit?limit=3").get_json()
    second = admin_api.get(f"/admin/v1/audit?limit=3&cursor={first['next_cursor']}").get_json()
    seqs = [r["seq"] for r in first["items"] + second["items"]]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 6


def test_untouched_chain_verifies(history, admin_api):
    result = verify(admin_api)
    assert result["ok"] is True and result["first_bad"] is None and result["checked"] >= 7


def row(app, seq) -> dict:
    with Session(app.extensions["benefits"].engine) as session:
        record = session.get(AuditRecord, seq)
        return {column.key: getattr(record, column.key) for column in AuditRecord.__table__.columns}


def put_back(app, original: dict):
    """Restore a tampered row as it was, so the after-test chain check holds again."""
    tamper(app, f"DELETE FROM audit_log WHERE seq = {original['seq']}")
    with Session(app.extensions["benefits"].engine) as session:
        session.add(AuditRecord(**original))
        session.commit()


def test_edited_row_is_detected(history, app, admin_api):
    original = row(app, 5)
    tamper(app, "UPDATE audit_log SET actor_name = 'mallory' WHERE seq = 5")
    assert verify(admin_api) | {"checked": None} == {"ok": False, "checked": None, "first_bad": 5}
    put_back(app, original)
    assert verify(admin_api)["ok"] is True


def test_deleted_row_is_detected(history, app, admin_api):
    original = row(app, 4)
    tamper(app, "DELETE FROM audit_log WHERE seq = 4")
    assert (verify(admin_api)["ok"], verify(admin_api)["first_bad"]) == (False, 4)
    put_back(app, original)


def test_deleted_last_row_is_detected(history, app, admin_api):
    with app.extensions["benefits"].engine.connect() as connection:
        last = connection.execute(sa.text("SELECT MAX(seq) FROM audit_log")).scalar_one()
    original = row(app, last)
    tamper(app, f"DELETE FROM audit_log WHERE seq = {last}")
    assert verify(admin_api)["ok"] is False
    put_back(app, original)


def test_cli_verify_exits_3_on_a_broken_chain(history, app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    original = row(app, 3)
    tamper(app, "UPDATE audit_log SET action = 'points.spent' WHERE seq = 3")
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 3 and "first_bad=3" in result.output
    put_back(app, original)


@pytest.mark.parametrize("database_url", [b for b in BACKENDS if b == "postgresql"], indirect=True)
def test_postgresql_refuses_update_and_delete_of_audit_rows(history, app):
    engine = app.extensions["benefits"].engine
    for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with engine.begin() as connection:
                connection.execute(sa.text(statement))


def test_a_batch_audits_each_recorded_event_once_and_a_refused_one_not_at_all(app_api, admin_api):
    customer(app_api, "c1", aum=700000)
    body = {"type": "transaction", "occurred_at": "2026-11-23T10:00:00+08:00", "amount": "1000",
            "category": "card_spend"}
    results = app_api.post("/api/v1/events/batch", json={"events": [
        {**body, "id": "b-1", "customer_id": "c1"}, {**body, "id": "b-2", "customer_id": "nobody"},
        {**body, "id": "b-3", "customer_id": "c1"}]}).get_json()["results"]
    assert [r["status"] for r in results] == ["created", "error", "created"]
    earned = admin_api.get("/admin/v1/audit?action=points.earned").get_json()["items"]
    assert sorted(row["after"]["event_id"] for row in earned) == ["b-1", "b-3"]
    assert verify(admin_api)["ok"] is True


def test_a_row_recorded_at_a_time_in_another_timezone_still_verifies(app, session):
    from benefits.services import audit as audit_service, keys as key_service

    shanghai = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    key_service.create_key(session, role="app", name="east", actor=audit_service.SYSTEM, now=shanghai)
    session.commit()
    assert audit_service.verify(session)["ok"]
