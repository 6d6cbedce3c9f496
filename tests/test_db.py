"""The database layer: a pooled connection that died while idle is replaced before it is used; SQLite's
writers take turns; a hot statement on psycopg's cursor binds, reads and fails as through SQLAlchemy."""
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from decimal import Decimal

import pytest
import sqlalchemy as sa

from benefits import db
from benefits.models import Customer
from conftest import POSTGRES, POSTGRES_URL
from factories import customer


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


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'queue.db'}")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)"))
    yield engine
    engine.dispose()


def _in_thread(work) -> tuple[threading.Thread, threading.Event]:
    done = threading.Event()

    def target():
        work()
        done.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, done


def test_on_sqlite_a_writer_waits_its_turn_behind_another_process_and_a_reader_does_not(sqlite_engine, tmp_path):
    sessions = db.make_session_factory(sqlite_engine)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from benefits import db\n"
         f"with db.WriterQueue({str(tmp_path / 'queue.db') + '-writers'!r}).turn():\n"
         "    print('holding', flush=True); sys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    try:
        assert holder.stdout.readline().strip() == "holding"

        def write():
            with db.unit_of_work(sessions) as session:
                session.execute(sa.text("INSERT INTO notes (text) VALUES ('written')"))

        writer, written = _in_thread(write)
        with db.unit_of_work(sessions, write=False) as session:
            assert session.execute(sa.text("SELECT count(*) FROM notes")).scalar_one() == 0
        assert not written.wait(0.5)
        holder.communicate("go\n", timeout=10)
        assert written.wait(10)
    finally:
        holder.kill()
        holder.wait()
    with sqlite_engine.connect() as connection:
        assert connection.execute(sa.text("SELECT text FROM notes")).scalars().all() == ["written"]


def test_on_sqlite_a_unit_of_work_opened_inside_another_does_not_wait_for_itself(sqlite_engine):
    sessions = db.make_session_factory(sqlite_engine)

    def nested():
        with db.unit_of_work(sessions):
            with db.unit_of_work(sessions) as inner:
                inner.execute(sa.text("INSERT INTO notes (text) VALUES ('inner')"))

    thread, done = _in_thread(nested)
    assert done.wait(10)
    with sqlite_engine.connect() as connection:
        assert connection.execute(sa.text("SELECT text FROM notes")).scalars().all() == ["inner"]


def test_on_sqlite_a_group_takes_what_was_queued_while_it_waited_for_its_turn(sqlite_engine, tmp_path):
    units = []

    def do(session, items):
        session.execute(sa.text("INSERT INTO notes (text) VALUES ('grouped')"))
        units.append(list(items))
        return items

    group = db.Group(db.make_session_factory(sqlite_engine), do)
    pool = ThreadPoolExecutor(4)
    try:
        with db.WriterQueue(str(tmp_path / "queue.db") + "-writers").turn():  # as another process would
            submitted = [pool.submit(group.submit, 0)]
            while not group._busy:
                time.sleep(0.01)
            submitted += [pool.submit(group.submit, n) for n in (1, 2, 3)]
            while len(group._queue) < 4:
                time.sleep(0.01)
            assert units == []
        assert [future.result(timeout=10) for future in submitted] == [0, 1, 2, 3]
    finally:
        pool.shutdown()
    assert units == [[0, 1, 2, 3]]



def test_a_hot_statement_raises_a_unique_violation_as_sqlalchemy_does(app):
    again = db.Hot(sa.text("INSERT INTO audit_tip (id, seq, hash) VALUES (1, 0, :hash)"))  # the tip is row 1
    with pytest.raises(sa.exc.IntegrityError):  # which `db.run` retries
        db.run(app.extensions["benefits"].sessions, lambda s: again.rows(s.connection(), {"hash": "0" * 64}),
               retries=0)


def test_a_hot_statement_binds_and_reads_money_and_times_as_their_columns_do(app, app_api, clock):
    customer(app_api, "c1", aum=1234567.89)
    customer(app_api, "c2", aum=1000)
    table = Customer.__table__
    rich = db.Hot(sa.select(table.c.id, table.c.aum, table.c.created_at)
                  .where(table.c.aum > sa.bindparam("aum"), table.c.created_at <= sa.bindparam("now"),
                         table.c.id.in_(sa.bindparam("ids", expanding=True))))
    rows = db.run(app.extensions["benefits"].sessions, lambda s: rich.rows(
        s.connection(), {"aum": Decimal("2000"), "now": clock(), "ids": ["c1", "c2", "c3"]}), write=False)
    assert [(row.id, row.aum, row.created_at) for row in rows] == [("c1", Decimal("1234567.89"), clock())]
