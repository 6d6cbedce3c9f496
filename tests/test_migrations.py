"""Migrations create every table, autogenerate finds nothing the models have that they lack, and data that
existed before a migration is carried into what it adds."""
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from benefits import models
from benefits.db import make_engine
from benefits.migrate import upgrade
from benefits.models import Base
from conftest import BACKENDS, new_postgres_schema


def test_migrations_match_the_models(database_url):
    engine = make_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_upgrade_is_idempotent(app):
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output


@pytest.fixture(params=BACKENDS)
def at_0005(request, tmp_path):
    """A database migrated only to revision 0005, before exchange rates and the finance reports."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/old.db"
        upgrade(url, "0005")
        yield url
        return
    with new_postgres_schema("old", "0005") as url:
        yield url


def test_upgrading_a_database_with_points_carries_them_into_the_reports(at_0005):
    now = datetime.now(timezone.utc)
    earlier = now - timedelta(days=40)
    engine = make_engine(at_0005)
    with engine.begin() as connection:
        connection.execute(sa.insert(models.Customer), [{
            "id": "c1", "name": "张三", "aum": 900000, "annual_contribution": 0, "tags": [], "birthday": None,
            "customer_since": earlier.date(), "last_as_of": now.date(), "tier": "wealth", "tier_version": 1,
            "below_tier_since": None, "aum_growth_3m": None, "signals": [], "balance": 70, "created_at": earlier,
            "updated_at": now}])
        connection.execute(sa.insert(models.TierChange), [
            {"customer_id": "c1", "from_tier": None, "to_tier": "mass", "rule_version": 1, "as_of": earlier.date(),
             "changed_at": earlier},
            {"customer_id": "c1", "from_tier": "mass", "to_tier": "wealth", "rule_version": 1, "as_of": now.date(),
             "changed_at": now - timedelta(days=5)}])
        connection.execute(sa.insert(models.Lot), [{
            "customer_id": "c1", "event_id": None, "rule_id": "r", "rule_version": 1, "points": 100, "remaining": 70,
            "earned_at": earlier, "available_at": earlier, "expires_at": now + timedelta(days=300)}])
        connection.execute(sa.insert(models.LedgerEntry), [
            {"customer_id": "c1", "kind": "earn", "points": 100, "balance_after": 100, "lot_id": 1,
             "created_at": earlier},
            {"customer_id": "c1", "kind": "redeem", "points": -30, "balance_after": 70, "lot_id": None,
             "created_at": earlier}])
        connection.execute(sa.insert(models.Partner), [{"id": "p", "name": "P", "kind": "lounge",
                                                        "benefits": ["airport_lounge"], "created_at": earlier}])
        connection.execute(sa.insert(models.Pass), [{"code_hash": "h", "customer_id": "c1", "benefit": None,
                                                     "created_at": earlier, "expires_at": earlier}])
        connection.execute(sa.insert(models.Redemption), [{
            "partner_id": "p", "customer_id": "c1", "pass_id": 1, "benefit": "airport_lounge", "quantity": 1,
            "status": "confirmed", "source": "rule", "rule_id": "r", "rule_version": 1, "period": "year:2026-01-01",
            "created_at": now - timedelta(days=10), "confirmed_at": now - timedelta(days=10)}])
    engine.dispose()
    upgrade(at_0005)
    engine = make_engine(at_0005)
    with engine.connect() as connection:
        movements = connection.execute(sa.text("SELECT lot_id, kind, points FROM lot_movements")).all()
        tier, price = connection.execute(sa.text("SELECT tier, unit_price FROM redemptions")).one()
        versions = connection.execute(sa.text("SELECT DISTINCT tier_version FROM customers")).scalars().all()
        cutover = connection.execute(sa.select(models.ReportCutover.at)).scalar_one()
    engine.dispose()
    assert [tuple(row) for row in movements] == [(1, "opening", 70)]
    assert (tier, price) == ("mass", None)  # the tier when it was held, by the tier history
    assert versions == [0]  # every customer re-evaluated (its grants kept) on its next touch
    assert abs(cutover - now) < timedelta(minutes=5)
