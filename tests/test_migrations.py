"""Migrations create every table, and autogenerate finds nothing the models have that they lack."""
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from benefits.db import make_engine
from benefits.models import Base


def test_migrations_match_the_models(database_url):
    engine = make_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_upgrade_is_idempotent(app):
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
