"""Alembic environment: the URL comes from the caller (`benefits db upgrade`) or BENEFITS_DATABASE_URL."""
from alembic import context

from benefits.config import Config
from benefits.db import make_engine
from benefits.models import Base

config = context.config
url = config.attributes.get("url") or Config().DATABASE_URL


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
