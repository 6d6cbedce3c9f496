"""Fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL is used when reachable (BENEFITS_TEST_POSTGRES_URL, by default
127.0.0.1:5432, database `test`); each test starts from a freshly migrated
SQLite file or freshly truncated PostgreSQL schema, and ends by checking the
invariants: every balance equals its ledger sum and its lots, every lot's
remainder its movements, and the audit chain verifies.

The app of the `app` fixture is built once per backend (building one costs more
than most tests) and made as new for every test: its database emptied, its
compiled programs released, its key cache emptied, its clock set back.
"""
import os
import shutil
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from benefits import create_app
from benefits.migrate import upgrade
from benefits.db import reachable
from benefits.services import audit, keys, rule_versions
from benefits.services.keys import KeyCache
from benefits.services.programs import Programs

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RULES = ROOT / "rules" / "default.yaml"
POSTGRES_URL = os.environ.get("BENEFITS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
START = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)  # 10:00 in Asia/Shanghai
ENCRYPTION_KEY = "tPAUzN5hN0e8o6jt4sT7iQ0vVvC9y6m3JwqFq3j5Hk8="  # the tests' BENEFITS_ENCRYPTION_KEYS


POSTGRES = reachable(POSTGRES_URL)
BACKENDS = ["sqlite", "postgresql"] if POSTGRES else ["sqlite"]


def pytest_terminal_summary(terminalreporter):
    if not POSTGRES:
        terminalreporter.write_sep("!", "POSTGRESQL WAS NOT REACHABLE: database tests ran on SQLite only",
                                   red=True, bold=True)
    else:
        terminalreporter.write_line("database tests ran on SQLite and PostgreSQL")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "benefits.db"
    upgrade(f"sqlite:///{path}")
    return path


@contextmanager
def new_postgres_schema(prefix: str, revision: str = "head"):
    """The URL of a new PostgreSQL schema migrated to ``revision``; dropped when the block ends."""
    schema = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.engine.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    url = url.render_as_string(hide_password=False)
    try:
        upgrade(url, revision)
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_schema():
    with new_postgres_schema("benefits_test") as url:
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            tables = [name for name in sa.inspect(connection).get_table_names() if name != "alembic_version"]
        yield url, engine, tables
        engine.dispose()


@pytest.fixture(scope="session")
def sqlite_path(tmp_path_factory) -> Path:
    """The SQLite file every test's database is: the template copied over it again for each test."""
    return tmp_path_factory.mktemp("database") / "benefits.db"


@pytest.fixture(params=BACKENDS)
def database_url(request) -> str:
    if request.param == "sqlite":
        path = request.getfixturevalue("sqlite_path")
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url, engine, tables = request.getfixturevalue("postgres_schema")
    with engine.begin() as connection:
        connection.execute(sa.text("SET LOCAL session_replication_role = replica"))
        connection.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        connection.execute(sa.text("INSERT INTO audit_tip (id, seq, hash) VALUES (1, 0, :genesis)"),
                           {"genesis": audit.GENESIS})
    return url


class Clock:
    """A controllable clock: tests move time, the service reads it."""

    def __init__(self, now: datetime = START):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, now: datetime) -> datetime:
        self.now = now
        return self.now


SESSION_CLOCK = Clock()


@pytest.fixture
def clock() -> Clock:
    """The clock of the test's apps, at START when the test begins."""
    SESSION_CLOCK.set(START)
    return SESSION_CLOCK


def check_invariants(engine) -> None:
    with engine.connect() as connection:
        drift = connection.execute(sa.text(
            "SELECT c.id, c.balance, COALESCE(SUM(l.points), 0) FROM customers c "
            "LEFT JOIN ledger_entries l ON l.customer_id = c.id GROUP BY c.id, c.balance "
            "HAVING c.balance <> COALESCE(SUM(l.points), 0)")).all()
        assert drift == [], f"balance differs from the ledger sum: {drift}"
        lots = connection.execute(sa.text(
            "SELECT c.id, c.balance, COALESCE(SUM(t.remaining), 0) FROM customers c "
            "LEFT JOIN lots t ON t.customer_id = c.id GROUP BY c.id, c.balance "
            "HAVING COALESCE(SUM(t.remaining), 0) <> CASE WHEN c.balance > 0 THEN c.balance ELSE 0 END")).all()
        assert lots == [], f"lots' remainders differ from the balance: {lots}"
        unmoved = connection.execute(sa.text(
            "SELECT t.id, t.remaining, COALESCE(SUM(m.points), 0) FROM lots t "
            "LEFT JOIN lot_movements m ON m.lot_id = t.id GROUP BY t.id, t.remaining "
            "HAVING t.remaining <> COALESCE(SUM(m.points), 0)")).all()
        assert unmoved == [], f"lots' remainders differ from their movements: {unmoved}"
        overspent = connection.execute(sa.text(
            "SELECT id FROM lots WHERE remaining < 0 OR remaining > points")).all()
        assert overspent == [], f"lots spent beyond their size: {overspent}"
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        result = audit.verify(session)
    assert result["ok"], f"audit chain broken: {result}"


@pytest.fixture(scope="session")
def apps() -> dict:
    """One app per database URL, for the whole session."""
    built: dict = {}
    yield built
    for app in built.values():
        app.extensions["benefits"].programs.release()
        app.extensions["benefits"].engine.dispose()


@pytest.fixture
def app(database_url, clock, apps):
    if database_url not in apps:
        apps[database_url] = create_app(DATABASE_URL=database_url, RULES_REFRESH_SECONDS=0, CLOCK=clock, TESTING=True,
                                        ENCRYPTION_KEYS=(ENCRYPTION_KEY,))
    app = apps[database_url]
    extension = app.extensions["benefits"]
    extension.programs.release()
    extension.programs = Programs(refresh_seconds=0)
    extension.keys = KeyCache(extension.config.KEY_CACHE_SECONDS)
    with app.app_context():
        with sessions(app)() as session:
            rule_versions.bootstrap(session, DEFAULT_RULES.read_bytes(), "yaml", activate_it=True, now=clock())
            session.commit()
    yield app
    check_invariants(extension.engine)
    extension.engine.dispose()


@pytest.fixture
def allow_private(app):
    """Webhooks to plain http and loopback allowed, as BENEFITS_WEBHOOK_ALLOW_PRIVATE=1 does, for one test."""
    config = app.extensions["benefits"].config
    config.WEBHOOK_ALLOW_PRIVATE = True
    yield
    config.WEBHOOK_ALLOW_PRIVATE = False


def sessions(app):
    return app.extensions["benefits"].sessions


@pytest.fixture
def session(app):
    with sessions(app)() as session:
        yield session


class Caller:
    """The test client with one key's Authorization header on every request."""

    def __init__(self, client, key: str | None):
        self.client, self.key = client, key

    def _headers(self, headers):
        merged = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        merged.update(headers or {})
        return merged

    def open(self, method, path, headers=None, **kwargs):
        return self.client.open(path, method=method, headers=self._headers(headers), **kwargs)

    def get(self, path, **kwargs):
        return self.open("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.open("POST", path, **kwargs)

    def put(self, path, **kwargs):
        return self.open("PUT", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.open("DELETE", path, **kwargs)


def make_key(app, role: str, name: str, partner_id: str | None = None) -> str:
    with sessions(app)() as session:
        _, plaintext = keys.create_key(session, role=role, name=name, partner_id=partner_id,
                                       actor=audit.SYSTEM, now=datetime.now(timezone.utc))
        session.commit()
    return plaintext


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def app_api(app, client) -> Caller:
    return Caller(client, make_key(app, "app", "app-backend"))


@pytest.fixture
def admin_api(app, client) -> Caller:
    return Caller(client, make_key(app, "admin", "alice"))


@pytest.fixture
def second_admin_api(app, client) -> Caller:
    return Caller(client, make_key(app, "admin", "bob"))


@pytest.fixture
def partner_api(client, admin_api):
    """A partner registered through the admin API, with a fresh key: ``partner_api("lounge", ["airport_lounge"])``."""
    def make(partner_id: str = "skyport", benefits=("airport_lounge",), kind: str = "lounge") -> Caller:
        response = admin_api.post("/admin/v1/partners", json={"id": partner_id, "name": f"{partner_id} desk",
                                                              "kind": kind, "benefits": list(benefits)})
        assert response.status_code in (201, 409), response.get_json()
        response = admin_api.post(f"/admin/v1/partners/{partner_id}/keys", json={})
        assert response.status_code == 201, response.get_json()
        return Caller(client, response.get_json()["key"])
    return make
