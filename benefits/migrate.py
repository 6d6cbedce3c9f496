"""The database schema: migrating it with alembic, and telling whether a database has it.

The migrations ship inside the package (``benefits.migrations``, the
repository's ``migrations/``), so an installed service migrates from any
directory.
"""
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from .db import make_engine


def alembic_config(url: str) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(resources.files("benefits.migrations")))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Create (an SQLite file and its folder included) or migrate the database to ``revision``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def schema_problem(url: str) -> str | None:
    """Why the database at ``url`` cannot be used as it is, or None when it has the newest schema.

    An SQLite file that does not exist is reported without being created.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not Path(parsed.database).exists():
        return f"there is no database at {parsed.database}: run `benefits db upgrade` first (or set " \
               "BENEFITS_DATABASE_URL)"
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    if current is None:
        return "the database has no schema: run `benefits db upgrade` first"
    if current != head:
        return f"the database schema is at revision {current}, not {head}: run `benefits db upgrade`"
    return None
