"""Database engine, sessions, and the unit of work: the one place where transactions end.

SQLite runs in WAL mode and a writing transaction begins IMMEDIATE, so writers
are serialised by the database itself; a reading one begins deferred and never
waits for writers. The writing units of work of every process of the service
also queue on a file lock beside the database (``WriterQueue``), which wakes
the next writer the moment the last one ends. PostgreSQL relies on the row
locks and unique constraints the services take.

Every transaction of the service (a request, a CLI command, a chunk of an
import) is a ``unit_of_work``: committed when its block ends, rolled back when
it raises. ``run`` runs a function in one and retries it when it lost a race
the database detected (a unique constraint, a deadlock, a serialisation
failure): the retry sees what the winner committed.
"""
import contextvars
import fcntl
import functools
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import TypeVar

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, MetaData, Table, TypeDecorator, create_engine, event, text
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from . import jsontext
from .errors import DomainError

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
RETRIES = 2  # after the first attempt
PING_AFTER_IDLE = 10.0  # seconds

T = TypeVar("T")
_immediate = contextvars.ContextVar("sqlite_immediate", default=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _configure_sqlite(engine)
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            _WRITER_QUEUES[engine] = WriterQueue(parsed.database + "-writers")
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(url, pool_size=10, max_overflow=20, json_deserializer=jsontext.loads)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only when it has been idle a while (a restarted or failed-over
    server leaves idle connections dead); a busy connection costs no ping."""
    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_connection, record, _proxy):
        now = time.monotonic()
        if now - record.info.get("used_at", now) > PING_AFTER_IDLE:
            try:
                dbapi_connection.execute("SELECT 1")
                dbapi_connection.rollback()
            except Exception as error:  # noqa: BLE001 - whatever failed, the pool opens a new connection
                raise DisconnectionError(str(error)) from error
        record.info["used_at"] = now


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _immediate.get() else "BEGIN")


class WriterQueue:
    """SQLite's writers, across the service's processes, taking turns on an ``flock`` of one file.

    SQLite lets one transaction write at a time, and a writer that finds the
    database locked sleeps 1, 2, 5, 10 ... up to 100 ms between tries, however
    soon the lock is free: under load most of a second process's time goes to
    sleeping. A writer waiting here is woken as soon as the lock is released.
    SQLite's own lock still guarantees the serialisation; a writer that does not
    queue (a migration, a script) only waits as before. Re-entrant within a
    thread, so a unit of work opened inside another does not wait for itself.
    """

    def __init__(self, path: str):
        self.path = path
        self._local = threading.local()

    @contextmanager
    def turn(self) -> Iterator[None]:
        local = self._local
        depth = getattr(local, "depth", 0)
        # the outermost turn of a thread opens the file anew: flock excludes other threads' opens too
        fd = None if depth else os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            local.depth = depth + 1
            yield
        finally:
            local.depth = depth
            if fd is not None:
                os.close(fd)  # releases the lock


_WRITER_QUEUES: "weakref.WeakKeyDictionary[Engine, WriterQueue]" = weakref.WeakKeyDictionary()


def reachable(url: str, timeout: int = 3) -> bool:
    """Whether a database answers at ``url`` (PostgreSQL for the tests and benches)."""
    try:
        engine = create_engine(url, connect_args={"connect_timeout": timeout})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means: not reachable
        return False


def is_sqlite(session_or_engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "sqlite"


@functools.cache
def _binders(table: Table) -> dict:
    """The bind functions of the table's columns of our types (``TypeDecorator``), by column name."""
    return {column.name: column.type.process_bind_param for column in table.columns
            if isinstance(column.type, TypeDecorator)}


def json_rows(table: Table, rows: list[dict], dialect) -> str:
    """Rows as one JSON array, each value as its column's type binds it (money in minor units, times in UTC):
    what PostgreSQL's ``json_populate_recordset(NULL::<table>, ...)`` turns back into the table's rows."""
    bind = _binders(table)
    return jsontext.dumps([{name: bind[name](value, dialect) if name in bind else value for name, value in row.items()}
                           for row in rows], default=lambda value: value.isoformat())


class Hot:
    """A statement every event or hold runs: on PostgreSQL, run on psycopg's own cursor, in the unit of work's
    transaction; on SQLite (or as ``on_sqlite``), through SQLAlchemy as any other.

    SQLAlchemy's execution of a statement (its cache key, the binding, the result
    object) costs 60 to 110 µs of CPU, more than psycopg's own 40 to 65 µs, on the
    paths where a request's statements are most of its cost. The statement is
    built with Core as any other and compiled once for psycopg; an expanding
    parameter (``IN :ids``) is rendered once for each length. Our column types
    (``TypeDecorator``: money, times in UTC) bind the parameters they type and
    read the columns a select names; ``rows`` answers psycopg's named tuples.
    psycopg's errors are raised as SQLAlchemy's (a unique violation is an
    ``IntegrityError``, which ``run`` retries). SQLAlchemy's events do not see
    these statements.
    """

    def __init__(self, statement, on_sqlite=None):
        self.on_postgresql, self.on_sqlite = statement, statement if on_sqlite is None else on_sqlite
        self._dialect = psycopg_dialect()
        compiled = statement.compile(dialect=self._dialect)
        self._sql = compiled.string
        self._defaults = {name: bind.value for name, bind in compiled.binds.items()
                          if bind.value is not None and not bind.expanding}
        self._expanding = [name for name, bind in compiled.binds.items() if bind.expanding]
        self._by_lengths: dict[tuple, str] = {}
        self._binds = {name: bind.type.process_bind_param for name, bind in compiled.binds.items()
                       if isinstance(bind.type, TypeDecorator)}
        self._reads = [(i, column.type.process_result_value)
                       for i, column in enumerate(getattr(statement, "selected_columns", ()))
                       if isinstance(column.type, TypeDecorator)]
        self._make_row = None

    def rows(self, connection: Connection, params: dict | None = None) -> list:
        if connection.dialect.name != "postgresql":
            result = connection.execute(self.on_sqlite, params or {})
            return result.all() if result.returns_rows else []
        params = {**self._defaults, **(params or {})}
        sql = self._sql
        if self._expanding:
            values = {name: params.pop(name) for name in self._expanding}
            sql = self._rendered(tuple(len(values[name]) for name in self._expanding))
            for name, listed in values.items():
                bind = self._binds.get(name)
                params.update((f"{name}_{i}", bind(value, self._dialect) if bind else value)
                              for i, value in enumerate(listed, 1))
        for name, bind in self._binds.items():
            if name in params:
                params[name] = bind(params[name], self._dialect)
        with connection.connection.driver_connection.cursor(row_factory=self._row_factory) as cursor:
            try:
                cursor.execute(sql, params)
                return cursor.fetchall() if cursor.pgresult.status == psycopg.pq.ExecStatus.TUPLES_OK else []
            except psycopg.Error as error:  # as SQLAlchemy raises it: a unique violation is an IntegrityError
                lost = connection.dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)
                if lost:
                    connection.invalidate(error)
                raise DBAPIError.instance(sql, params, error, psycopg.Error, connection_invalidated=lost,
                                          dialect=connection.dialect) from error

    def _row_factory(self, cursor):
        """How a row is made, found once: a statement's columns are the same at every run."""
        if self._make_row is None:
            make = namedtuple_row(cursor)

            def read(values):
                values = list(values)
                for i, process in self._reads:
                    values[i] = process(values[i], self._dialect)
                return make(values)
            self._make_row = read if self._reads else make
        return self._make_row

    def _rendered(self, lengths: tuple) -> str:
        if lengths not in self._by_lengths:
            sql = self._sql
            for name, length in zip(self._expanding, lengths):
                listed = ", ".join(f"%({name}_{i})s" for i in range(1, length + 1)) or "NULL"
                sql = sql.replace(f"__[POSTCOMPILE_{name}]", listed)
            self._by_lengths[lengths] = sql
        return self._by_lengths[lengths]


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def unit_of_work(sessions: sessionmaker, *, write: bool = True) -> Iterator[Session]:
    """One transaction on a new session: committed when the block ends, rolled back when it raises.

    A ``DomainError`` whose ``keep_changes`` is set (a failed pass look-up counted,
    a lapsed hold written) commits what was written before it is re-raised. A
    reading unit (``write=False``) commits nothing: it begins deferred on SQLite
    (one snapshot for all its reads), and closing its session ends the
    transaction; what it read stays readable. On PostgreSQL a reading unit runs
    its statements in autocommit: under READ COMMITTED each statement sees what
    was committed when it began either way, and no BEGIN and ROLLBACK go to the
    server.
    """
    queue = _WRITER_QUEUES.get(sessions.kw.get("bind")) if write else None
    with queue.turn() if queue is not None else nullcontext():
        yield from _unit(sessions, write)


def _unit(sessions: sessionmaker, write: bool) -> Iterator[Session]:
    token = _immediate.set(write)
    session = sessions()
    session.info[READING] = not write
    if not write and not is_sqlite(session):
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    try:
        yield session
        if write:
            session.commit()
    except DomainError as error:
        if write and error.keep_changes:
            session.commit()
        else:
            session.rollback()
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
        _immediate.reset(token)


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """A part of a unit of work that can fail alone: released when the block ends, rolled back when it raises
    (a ``DomainError`` with ``keep_changes`` keeps what it wrote), so the rest of the unit goes on."""
    nested = session.begin_nested()
    try:
        yield
    except DomainError as error:
        if error.keep_changes:
            nested.commit()
        else:
            nested.rollback()
        raise
    except BaseException:
        nested.rollback()
        raise
    nested.commit()


class WriteNeeded(Exception):
    """Work in a reading unit found it must write (``require_write``): ``run`` runs it again in a writing one."""


READING = "reading"


def require_write(session: Session) -> None:
    """Before a write that a reading unit may come to: in a reading unit, start over in a writing one.

    So a read that rarely writes (a customer re-evaluated under a newly active
    version, a failed pass look-up counted) takes no lock and no write
    transaction unless it must.
    """
    if session.info.get(READING):
        raise WriteNeeded()


def run(sessions: sessionmaker, work: Callable[[Session], T], *, write: bool = True, retries: int = RETRIES,
        on_retry: Callable[[], None] | None = None) -> T:
    """``work(session)`` in one unit of work, run again (up to ``retries`` times) when it lost a race, and
    once more in a writing unit when a reading one found it must write."""
    attempt = 0
    while True:
        try:
            with unit_of_work(sessions, write=write) as session:
                return work(session)
        except WriteNeeded:
            if write:
                raise
            write = True
        except (IntegrityError, OperationalError) as error:
            if attempt == retries or not retryable(error):
                raise
            attempt += 1
        if on_retry is not None:
            on_retry()


# ---------------------------------------------------------------- work deferred to the end of a transaction

AFTER_COMMIT = "after_commit"  # the queue of callables run once the outermost transaction has committed
_QUEUES = {AFTER_COMMIT}


def defer(session: Session, queue: str, item) -> None:
    """Keep ``item`` until the transaction ends: gone if the (nested) transaction it was added in rolls back.

    A queue is taken by whoever needs it at commit (the audit chain's seal takes
    its rows); the ``AFTER_COMMIT`` queue's callables run after the commit.
    """
    _QUEUES.add(queue)
    transaction = session.get_nested_transaction() or session.get_transaction() or session.begin()
    session.info.setdefault(queue, []).append((transaction, item))


def take(session: Session, queue: str) -> list:
    """The items of ``queue`` still standing, removed from it."""
    return [item for _, item in session.info.pop(queue, [])]


def take_at_commit(session: Session, queue: str) -> list:
    """What a ``before_commit`` hook writes: the items of ``queue`` at the outermost commit, the session
    flushed first (the changes they describe go before them); none when a savepoint is released, since its
    items wait for the outermost commit (or go with a rollback)."""
    if session.in_nested_transaction():
        return []
    items = take(session, queue)
    if items:
        session.flush()
    return items


def _ancestors(transaction):
    while transaction is not None:
        yield transaction
        transaction = transaction.parent


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction) -> None:
    for queue in _QUEUES:
        if session.info.get(queue):
            session.info[queue] = [entry for entry in session.info[queue]
                                   if previous_transaction not in _ancestors(entry[0])]


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    for callback in take(session, AFTER_COMMIT):
        callback()


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop(AFTER_COMMIT, None)


def retryable(error: Exception) -> bool:
    """A race the database detected: running the transaction again resolves it."""
    if isinstance(error, IntegrityError):
        return True  # a concurrent duplicate: the retry finds what the other transaction committed
    message = str(getattr(error, "orig", error)).lower()
    return "deadlock" in message or "could not serialize" in message or "database is locked" in message


# ---------------------------------------------------------------- a unit of work shared by concurrent callers


GATHER = 0.002  # seconds: the longest a group waits for the other callers
BUSY = 0.010  # seconds: a group that begins within this of the last one's end finds its process under load


class Group:
    """Work handed in at the same moment by several threads of a process, done in one unit of work: a
    group commit.

    ``submit(item)`` queues the item. The caller that finds no group under way
    does the next one: every item queued by the time its unit of work has
    begun (up to ``limit``), after waiting for SQLite's writer queue say, as
    ``run(sessions, lambda session: do(session, items))``; the others wait for
    its commit and take their own outcome. ``do`` answers an outcome per item,
    an exception being that item's refusal. So the fixed cost of a transaction
    (its statements, its commit, the audit chain's tip) is paid once for all
    the items.

    Under load, the caller about to do a group first waits for the others: a
    group that begins within ``busy`` seconds of the last one's end waits, up
    to ``gather`` seconds, until it holds as many items as the last group did,
    or as requests are under way in the process (``under_way``), whichever is
    more. The callers of the last group are then finishing their answers, and
    their clients' next requests are a millisecond or two from joining: the
    time it takes to send an answer, receive a request and parse it while the
    GIL is held. Without the wait most groups held one or two items. A caller
    alone in its process, or that finds it idle, waits for nothing.
    """

    def __init__(self, sessions: sessionmaker, do: Callable[[Session, list], list], *, limit: int = 500,
                 under_way: Callable[[], int] = lambda: 1, gather: float = GATHER, busy: float = BUSY):
        self.sessions, self.do, self.limit, self.under_way = sessions, do, limit, under_way
        self.gather, self.busy = gather, busy
        lock = threading.Lock()
        self._changed, self._joined = threading.Condition(lock), threading.Condition(lock)
        self._queue: list[_Queued] = []
        self._busy = False
        self._ended, self._last = float("-inf"), 0  # when the last group ended (time.monotonic), its size

    def submit(self, item):
        """The item's outcome, once the group it went with has committed (its refusal raised)."""
        mine = _Queued(item)
        with self._changed:
            self._queue.append(mine)
            self._joined.notify()
            while self._busy and not mine.done:
                self._changed.wait()
            lead = not mine.done
            if lead:
                self._busy = True
        if lead:
            self._do()
        if isinstance(mine.outcome, BaseException):
            raise mine.outcome
        return mine.outcome

    def _gather(self) -> None:
        """When the last group ended moments ago (``busy``), wait up to ``gather`` seconds until this one
        holds as many items as the last did, or as requests are under way in the process."""
        if time.monotonic() - self._ended > self.busy:
            return
        deadline = time.monotonic() + self.gather
        while len(self._queue) < min(max(self._last, self.under_way()), self.limit):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._joined.wait(left)

    def _do(self) -> None:
        """Do a group: the items queued when its unit of work has begun, the same ones if it is run again."""
        group: list[_Queued] = []

        def take() -> None:
            if not group:
                with self._changed:
                    group.extend(self._queue[:self.limit])
                    del self._queue[:self.limit]

        def work(session: Session) -> list:
            take()
            return self.do(session, [queued.item for queued in group])

        try:
            with self._joined:
                self._gather()
            outcomes = run(self.sessions, work)
        except BaseException as error:  # noqa: BLE001 - the unit failed: every item of it fails alike
            take()
            outcomes = [error] * len(group)
        with self._changed:
            for queued, outcome in zip(group, outcomes):
                queued.outcome, queued.done = outcome, True
            self._busy = False
            self._ended, self._last = time.monotonic(), len(group)
            self._changed.notify_all()


@dataclass
class _Queued:
    item: object
    outcome: object = None
    done: bool = False
