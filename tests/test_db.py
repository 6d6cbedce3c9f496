"""The database layer: a pooled connection that died while idle is replaced before it is used."""
import pytest
import sqlalchemy as sa

from benefits import db
from conftest import POSTGRES, POSTGRES_URL


@pytest.mark.skipif(not POSTGRES, reason="PostgreSQL terminates connections; conftest reports it unreachable")
def test_a_connection_killed_while_idle_is_replaced_before_use():
    engine = db.make_engine(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            dead = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as other:  # the pool hands the same connection out again: another one kills it
            assert other.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() == dead
        admin = sa.create_engine(POSTGRES_URL)
        with admin.connect() as connection:
            assert connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": dead}).scalar_one()
        admin.dispose()
        for record in list(engine.pool._pool.queue):
            record.info["used_at"] -= db.PING_AFTER_IDLE + 1  # idle long enough to be checked
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() != dead
    finally:
        engine.dispose()
